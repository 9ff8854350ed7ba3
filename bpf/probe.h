/* Shared between bpf/probe.bpf.c and host_probe (which reads the layouts from
 * bcc's tables, so this header is the only place they are written down), in the
 * manner of libbpf-tools/opensnoop.h. The enums' Python mirrors are in
 * host_probe/kernel_contract.py; tests/probe/test_kernel_contract.py keeps them equal. */
#ifndef SYSCALL_GATE_PROBE_H
#define SYSCALL_GATE_PROBE_H

#define DETAIL_PATH_LEN 256
/* words hashed of a path: DETAIL_PATH_LEN / 8 */
#define PATH_WORDS 32
#define ARGV0_LEN 128
/* syscall_counts slots per workload; numbers at or above the last slot (x32, bad nr) land in it. */
#define SYSCALL_SLOTS 512

enum detail_kind {
    KIND_FILE = 1, /* reserved: file opens are counted in file_counts */
    KIND_EXEC = 2,
    KIND_CONNECT = 3,
    KIND_BIND = 4,
    KIND_LISTEN = 5,
    KIND_SOCKET = 6,
};

/* file access intent, from the open flags (O_ACCMODE) */
enum open_mode { MODE_READ = 1, MODE_WRITE = 2, MODE_READ_WRITE = 3 };

/* loss_counts slots (per workload): every drop is counted under one of these */
enum loss_reason {
    LOSS_MAP_FULL = 0,             /* a detail map, or the workload's budget of keys, was full */
    LOSS_RINGBUF_RESERVE_FAILED = 1,
    LOSS_RATE_LIMITED = 2,
    LOSS_SAMPLED_OUT = 3,
    LOSS_UNREADABLE = 4,           /* a path or address not readable from user memory (not paged in) */
    LOSS_PID_BEYOND_TABLE = 5,     /* a child's pid above the pid_max read at load: not followed */
    LOSS_PATH_TRUNCATED = 6,       /* a path longer than DETAIL_PATH_LEN - 1 bytes: keyed cut, and marked so */
    LOSS_REASONS = 7,
};

/* The LRU maps, whose evictions the drain counts (lru_changes: per workload,
 * per map, entries added and removed; added - removed - present were evicted) */
enum lru_map {
    LRU_BOUND_SOCKETS = 0,
    LRU_CLONE_FLAGS = 1,
    LRU_ARGV0 = 2,
    LRU_MAPS = 3,
};

/* LRU_ENTRY_: the kernel's own <linux/list_lru.h> (pulled in by the fentry hook's <linux/fs.h>) has an LRU_REMOVED */
enum lru_change { LRU_ENTRY_ADDED = 0, LRU_ENTRY_REMOVED = 1, LRU_CHANGES = 2 };

/* detail_key.mode of a bind or listen key: where its port came from. A port the
 * workload asked for is its own, even inside ip_local_port_range; only one the
 * kernel chose (a requested 0, an autobind, a socket bound before the recording)
 * is normalised as <ephemeral>. */
enum port_origin { PORT_UNKNOWN = 0, PORT_ASKED = 1 };

/* process_counts slots (per workload) */
enum process_change {
    PROCESS_FORK = 0,
    PROCESS_THREAD = 1,
    PROCESS_EXIT = 2,
    PROCESS_EXEC = 3,
    PROCESS_CHANGES = 4,
};

enum event_type { EVENT_FORK = 1, EVENT_EXEC = 2, EVENT_EXIT = 3 };

/* One deduplicated detail, counted in kernel (detail_counts). `generation`
 * lets userspace drain one generation while the kernel fills the other;
 * `slot` is the workload it belongs to. */
struct detail_key {
    u32 generation;
    u8 kind;
    u8 mode;
    u16 family;
    u16 port;      /* host byte order */
    u16 sock_type;
    u16 slot;
    u16 image;     /* the program (exec image id) of the process that made it; 0: not known */
    u8 addr[16];
    char path[DETAIL_PATH_LEN];
};

/* One deduplicated file open, counted in kernel (file_counts). Opens are the hot
 * detail: keyed by a seeded 64-bit hash of the path instead of the path itself,
 * so the kernel hashes 16 bytes instead of a 290-byte detail_key. The path is
 * written to file_paths (keyed by slot and hash, generation and mode 0) at a
 * key's first open in a generation. A path whose meaning depends on its opener (a
 * relative one, /proc/self/..., /proc/thread-self/...) has the opener's tgid and
 * dirfd mixed into its hash, so the same text opened from two directories is two
 * keys; userspace resolves every path once, in the opener's view
 * (host_probe/canonical.py). */
struct file_key {
    u16 generation;
    u16 image;     /* as detail_key.image; 0 in file_paths' keys */
    u16 mode;
    u16 slot;
    u64 path_hash;
};

/* path_text.flags */
enum path_flag {
    PATH_TRUNCATED = 1, /* longer than the buffer: `path` is its first DETAIL_PATH_LEN - 1 bytes */
    PATH_RESOLVED = 2,  /* the kernel's own path of the opened file (bpf_d_path): canonical already */
};

/* openat's "relative to the working directory" (include/uapi/linux/fcntl.h) */
#define SG_AT_FDCWD -100

/* A file key's path and who opened it, for userspace to resolve. Aligned so the
 * path hash may read it as u64 words (map values are 8-aligned). */
struct path_text {
    char path[DETAIL_PATH_LEN];
    u32 tgid;   /* the key's first opener in its generation */
    s32 dirfd;  /* openat's dirfd; SG_AT_FDCWD for open and creat */
    u32 flags;  /* enum path_flag */
    u32 pad;
} __attribute__((aligned(8)));

/* Socket ABI constants, fixed across kernels and architectures, written out
 * because the headers that define them (<linux/socket.h>, <linux/in.h>,
 * <linux/un.h>) pull in enough of the kernel to cost bcc's compiler ~17 MB at
 * every start. tests/probe/test_kernel_contract.py checks them against Python's socket module. */
#define SG_AF_UNIX 1
#define SG_AF_INET 2
#define SG_AF_INET6 10
#define SG_TCP_LISTEN 10 /* include/net/tcp_states.h; the "0A" of /proc/net/tcp */
#define SG_TCP_SYN_SENT 2 /* include/net/tcp_states.h: an outbound connection's first state */

struct sg_sockaddr_in {
    u16 family;
    u16 port_be;
    u8 addr[4];
    u8 zero[8];
};

struct sg_sockaddr_in6 {
    u16 family;
    u16 port_be;
    u32 flowinfo;
    u8 addr[16];
    u32 scope_id;
};

/* Lineage: which program did what. A process's exec image id is a seeded 16-bit
 * hash of the path its last exec ran (exec_image_id; host_probe/keys/images.py
 * computes the same from an exec key's path). Syscalls are marked as bits per
 * workload and image bucket, a number the first exec of an image in a workload
 * takes in turn (image_buckets; bucket 0: processes the probe has not seen exec,
 * attached while running). A workload's images share a bucket only past
 * IMAGE_BUCKETS - 1 programs, and the drain then attributes none of its syscalls.
 * workload_of_tgid's entry holds slot (bits 0-31), image (32-47) and bucket (48-63),
 * so the hot path reads all three in one lookup; a child inherits them at fork.
 * The bits are double-buffered by detail_generation like the detail keys. */
#define IMAGE_BUCKETS 32
#define SYSCALL_WORDS (SYSCALL_SLOTS / 64)
#define IMAGE_PATH_BYTES 256

struct image_ref {
    u32 slot;
    u32 image;
};

/* Process-tree changes, the only thing a count cannot carry: sent through the
 * ring buffer behind sampling and a token bucket. */
struct process_event {
    u64 timestamp_ns;
    u32 type;
    u32 pid;
    u32 parent_pid;
    u32 slot;
    char comm[16];
    char filename[DETAIL_PATH_LEN];
    char argv0[ARGV0_LEN];
};

#endif
