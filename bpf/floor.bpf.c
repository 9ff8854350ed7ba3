/* The benchmark's floor: the cheapest program a sys_enter hook can run. What
 * the probe adds on top of this is the cost of its own work. */
RAW_TRACEPOINT_PROBE(sys_enter)
{
    return 0;
}
