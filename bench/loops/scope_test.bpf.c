/* The agent's test for a process outside every workload, alone: the floor plus
 * the one lookup of the calling tgid's slot (bpf/probe.bpf.c's current_slot()).
 * Against the floor it is the least any per-tgid scope test can cost; against
 * the agent it says whether the agent adds anything to it. */
BPF_ARRAY(workload_of_tgid, u64, TRACKED_TGIDS);

RAW_TRACEPOINT_PROBE(sys_enter)
{
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    u64 *slot = workload_of_tgid.lookup(&tgid);
    if (slot && *slot)
        return 1;
    return 0;
}
