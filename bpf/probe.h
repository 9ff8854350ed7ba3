/* Shared between bpf/probe.bpf.c and host_probe (which reads the layouts from
 * bcc's tables, so this header is the only place they are written down), in the
 * manner of libbpf-tools/opensnoop.h. */
#ifndef SYSCALL_GATE_PROBE_H
#define SYSCALL_GATE_PROBE_H

#define DETAIL_PATH_LEN 256
#define ARGV0_LEN 128
/* syscall_counts slots; numbers at or above the last slot (x32, bad nr) land in it. */
#define SYSCALL_SLOTS 512

enum detail_kind {
    KIND_FILE = 1,
    KIND_EXEC = 2,
    KIND_CONNECT = 3,
    KIND_BIND = 4,
    KIND_LISTEN = 5,
    KIND_SOCKET = 6,
};

/* file access intent, from the open flags (O_ACCMODE) */
enum open_mode { MODE_READ = 1, MODE_WRITE = 2, MODE_READ_WRITE = 3 };

/* loss_counts slots: every drop is counted under one of these */
enum loss_reason {
    LOSS_MAP_FULL = 0,
    LOSS_RINGBUF_RESERVE_FAILED = 1,
    LOSS_RATE_LIMITED = 2,
    LOSS_SAMPLED_OUT = 3,
    LOSS_REASONS = 4,
};

/* process_counts slots */
enum process_change {
    PROCESS_FORK = 0,
    PROCESS_THREAD = 1,
    PROCESS_EXIT = 2,
    PROCESS_EXEC = 3,
    PROCESS_CHANGES = 4,
};

/* event_counts slots: offered = sent + every loss of the ring-buffer path */
enum event_stat { EVENTS_OFFERED = 0, EVENT_STATS = 1 };

enum event_type { EVENT_FORK = 1, EVENT_EXEC = 2, EVENT_EXIT = 3 };

/* One deduplicated detail, counted in kernel (detail_counts). `generation`
 * lets userspace drain one generation while the kernel fills the other. */
struct detail_key {
    u32 generation;
    u8 kind;
    u8 mode;
    u16 family;
    u16 port;      /* host byte order */
    u16 sock_type;
    u8 addr[16];
    char path[DETAIL_PATH_LEN];
};

/* Process-tree changes, the only thing a count cannot carry: sent through the
 * ring buffer behind sampling and a token bucket. */
struct process_event {
    u64 timestamp_ns;
    u32 type;
    u32 pid;
    u32 parent_pid;
    u32 group_dead;
    char comm[16];
    char filename[DETAIL_PATH_LEN];
    char argv0[ARGV0_LEN];
};

#endif
