/* syscall-gate host probe: counts the syscalls of every watched workload on the
 * host and the details behind them (files, execs, connects, binds, listens,
 * sockets, process tree) in kernel maps, each count under its workload's slot.
 * One load serves every workload: host_probe/workloads.py writes which process
 * (tgid) and which cgroup belongs to which slot at run time, so adding or
 * removing a workload never recompiles or reattaches.
 *
 * Loaded by host_probe/loader.py with bcc, which defines these constants
 * before compiling (so the hot path tests a constant, as bcc's tools do):
 *   MAX_WORKLOADS      slots 1..MAX_WORKLOADS (slot 0 = not watched)
 *   SAMPLE_EVERY       ring-buffer events: keep 1 in N (1 = all)
 *   RATE_PER_CPU       ring-buffer events per second per CPU (0 = unlimited)
 *   RINGBUF_PAGES      ring buffer size in pages (power of two)
 *   DETAIL_MAX_KEYS    capacity of detail_counts, file_counts and file_paths
 *   DETAIL_BUDGET      detail keys one workload may hold per generation
 *   TRACKED_TGIDS      capacity of workload_of_tgid (pid_max + 1)
 *   MAX_CGROUPS        capacity of workload_cgroups
 *   EXPECTED_CGROUP_PATH  longest path of an expected cgroup (below the v2 root, with its NUL)
 *   MAX_EXPECTED_CGROUPS  capacity of expected_cgroups
 *   MAX_CGROUP_PARENTS capacity of cgroup_parents and made_children
 *   MAX_SPARE_SLOTS    capacity of spare_slots
 *   NR_<name>          syscall numbers from bcc's table (-1 when absent)
 *   HAVE_GROUP_DEAD    sched_process_exit carries group_dead (kernel >= 6.16)
 *   PATH_HASH_SEED     random per load, so a path cannot be chosen to collide
 *   FILE_HOOK_FENTRY   1: file opens come from fentry on security_file_open (the
 *                      opened file's path, resolved by the kernel); 0: from sys_enter
 *   SENSITIVE_INODES   capacity of sensitive_inodes (FILE_HOOK_FENTRY only)
 *   RETRY_UNREADABLE   1: an open whose path was not readable at sys_enter is read
 *                      again at its sys_exit (sys_enter file hook only; a second
 *                      hook on every syscall of the host: off by default, its cost
 *                      measured in docs/benchmarks.md)
 *
 * Read from the kernel: the syscall's argument registers (struct pt_regs as
 * the kernel headers bcc compiles against lay it out: on x86_64 the UAPI
 * layout; on arm64 the kernel's own struct, so there the headers must match
 * the running kernel's), the sockaddr_* ABI in probe.h, and tracefs-described
 * tracepoint fields. No other kernel-internal struct is read, but for the
 * FILE_HOOK_FENTRY programs (struct file, struct open_how), which the loader
 * compiles only against the running kernel's own headers.
 *
 * One file, a little over our usual size: bcc rewrites map calls (.lookup,
 * .ringbuf_reserve...) only in the main source, not in included headers. */
#include <uapi/linux/ptrace.h>
#include <uapi/linux/sched.h>
#include "probe.h"
#if FILE_HOOK_FENTRY
#include <linux/fs.h>
#endif

#define ONE_SECOND_NS 1000000000ULL
#define SLOTS (MAX_WORKLOADS + 1)

struct socket_ref {
    u32 tgid;
    u32 fd;
};

struct argv0_buf {
    char text[ARGV0_LEN];
    u32 slot; /* the workload it was added for (lru_changes) */
};

/* clone flags between task_newtask and sched_process_fork */
struct pending_clone {
    u64 flags;
    u32 slot; /* the workload it was added for (lru_changes) */
    u32 pad;
};

struct token_bucket {
    u64 nano_tokens; /* tokens x 1e9, so refill needs no division */
    u64 last_ns;
};

/* @brief tgid -> workload slot (0 = not watched). Every syscall on the host
 * pays this one test: an array lookup is inlined by the verifier into address
 * arithmetic, where a hash lookup (by cgroup id, say) is a helper call plus
 * hashing. One entry per tgid, so userspace and the kernel never share a word. */
BPF_ARRAY(workload_of_tgid, u64, TRACKED_TGIDS);
/* @brief cgroup v2 id -> slot: read only at exec and cgroup migration, to give
 * a process that enters a watched cgroup its slot in workload_of_tgid. */
BPF_HASH(workload_cgroups, u64, u64, MAX_CGROUPS);
/* @brief per generation, workload and image bucket: the syscall numbers made, as
 * bits (probe.h, "Lineage"); the drain reads and zeroes the old generation */
BPF_PERCPU_ARRAY(image_syscalls, u64, 2 * SLOTS * IMAGE_BUCKETS * SYSCALL_WORDS);
/* @brief [0]: the seed of exec image ids, written by the drain before any workload */
BPF_ARRAY(image_seed, u32, 1);
/* @brief (slot, image id) -> its syscall bits' bucket, taken at its first exec in the workload */
BPF_TABLE("lru_hash", struct image_ref, u32, image_buckets, 4096);
/* @brief per workload: buckets handed out (the next is 1 + this % (IMAGE_BUCKETS - 1)) */
BPF_ARRAY(image_buckets_taken, u32, SLOTS);
/* @brief per workload, per syscall number: calls (monotonic; drained as deltas) */
BPF_PERCPU_ARRAY(syscall_counts, u64, SLOTS * SYSCALL_SLOTS);
/* @brief per workload: fork / thread / exit / exec (monotonic) */
BPF_PERCPU_ARRAY(process_counts, u64, SLOTS * PROCESS_CHANGES);
/* @brief per workload: every drop, by enum loss_reason (monotonic) */
BPF_PERCPU_ARRAY(loss_counts, u64, SLOTS * LOSS_REASONS);
/* @brief deduplicated details (exec, connect, bind, listen, socket) -> count */
BPF_HASH(detail_counts, struct detail_key, u64, DETAIL_MAX_KEYS);
/* @brief deduplicated file opens (path hash, mode) -> count */
BPF_HASH(file_counts, struct file_key, u64, DETAIL_MAX_KEYS);
/* @brief (slot, path_hash) -> path, written at a path's first count of a
 * generation. Not drained: the drain looks up only paths it has not seen, and a
 * path still in use is rewritten (so kept) every window, so the least recently
 * used one is the one to drop when the table is full (an LRU hash) */
BPF_TABLE("lru_hash", struct file_key, struct path_text, file_paths, DETAIL_MAX_KEYS);
/* @brief per workload and generation: detail keys it inserted (its budget) */
BPF_ARRAY(detail_keys_used, u64, SLOTS * 2);
/* @brief [0]: generation new detail keys are written under; flipped by the drain */
BPF_ARRAY(detail_generation, u32, 1);
BPF_PERCPU_ARRAY(path_scratch, struct path_text, 1);
BPF_PERCPU_ARRAY(detail_scratch, struct detail_key, 1);
BPF_PERCPU_ARRAY(argv0_scratch, struct argv0_buf, 1);
BPF_PERCPU_ARRAY(token_buckets, struct token_bucket, 1);
/* @brief listen(fd) carries no address: what each (tgid, fd) was bound to */
BPF_TABLE("lru_hash", struct socket_ref, struct detail_key, bound_sockets, 4096);
/* @brief clone flags between task_newtask and sched_process_fork, to tell threads apart */
BPF_TABLE("lru_hash", u32, struct pending_clone, clone_flags_by_tid, 4096);
/* @brief a thread's listen(2) on a socket whose bind asked for this port: read by
 * the LISTEN state change the same syscall makes, so that port is the workload's own */
BPF_TABLE("lru_hash", u32, u16, listen_asked_port, 1024);
/* @brief the inet destination a thread's connect or Fast Open send just keyed at sys_enter:
 * the SYN_SENT that syscall makes is then not keyed again (one key per connection) */
struct keyed_destination {
    u8 addr[16];
    u16 port;
    u16 pad[3];
};
BPF_TABLE("lru_hash", u32, struct keyed_destination, destination_keyed, 1024);
/* @brief argv[0] between sys_enter_execve and sched_process_exec, for -v */
BPF_TABLE("lru_hash", u32, struct argv0_buf, pending_argv0, 1024);
/* @brief per workload, per LRU map (enum lru_map): entries added and removed
 * (enum lru_change, monotonic). An LRU map evicts silently, unseen by BPF; the
 * drain counts the entries present and calls the rest evicted. */
BPF_PERCPU_ARRAY(lru_changes, u64, SLOTS * LRU_MAPS * LRU_CHANGES);
/* @brief process-tree events, for -v */
BPF_RINGBUF_OUTPUT(events, RINGBUF_PAGES);
/* never written: exposes struct process_event's layout to userspace */
BPF_ARRAY(event_layout, struct process_event, 1);

/* workload_of_tgid's entry: the slot in its low 32 bits; the high 32 are lineage's
 * (the exec image id and its syscall bucket: sched_process_exec) */
#define SLOT_MASK 0xffffffffULL

static __always_inline u32 slot_of(u32 tgid)
{
    u64 *slot = workload_of_tgid.lookup(&tgid);
    return slot ? (u32)(*slot & SLOT_MASK) : 0;
}

static __always_inline u32 current_slot(void)
{
    return slot_of(bpf_get_current_pid_tgid() >> 32);
}

/* The slot (low 32 bits) and exec image id (high 32 bits) of a tgid */
static __always_inline u64 entry_of(u32 tgid)
{
    u64 *entry = workload_of_tgid.lookup(&tgid);
    return entry ? *entry : 0;
}

static __always_inline u16 current_image(void)
{
    return entry_of(bpf_get_current_pid_tgid() >> 32) >> 32 & 0xffff;
}

/* One small function per counter map: bcc resolves maps by name at compile
 * time, so a map cannot be passed as an argument. Per-CPU slots have no other
 * writer on this CPU, so a plain increment is enough. */
static __always_inline void count_syscall(u32 slot, u32 nr_slot)
{
    u32 index = slot * SYSCALL_SLOTS + nr_slot;
    u64 *count = syscall_counts.lookup(&index);
    if (count)
        (*count)++;
}

static __always_inline void count_process(u32 slot, u32 change)
{
    u32 index = slot * PROCESS_CHANGES + change;
    u64 *count = process_counts.lookup(&index);
    if (count)
        (*count)++;
}

/* Added: counted after the entry is in; removed: counted before it goes. So
 * the drain, which also reads "added" before it counts the entries and
 * "removed" after, can only undercount evictions for a moment, never invent one. */
static __always_inline void count_lru(u32 slot, u32 map, u32 change)
{
    u32 index = (slot * LRU_MAPS + map) * LRU_CHANGES + change;
    u64 *count = lru_changes.lookup(&index);
    if (count)
        (*count)++;
}

static __always_inline void count_loss(u32 slot, u32 reason)
{
    u32 index = slot * LOSS_REASONS + reason;
    u64 *count = loss_counts.lookup(&index);
    if (count)
        (*count)++;
}

/* A child inherits its parent's slot; an exited process gives its slot back.
 * Each tgid has its own entry, written by the events of that tgid alone. */
static __always_inline int set_slot(u32 tgid, u64 slot)
{
    u64 *entry = workload_of_tgid.lookup(&tgid);
    if (!entry)
        return -1;
    *entry = slot;
    return 0;
}

static __always_inline u32 current_generation(void)
{
    u32 zero = 0;
    u32 *generation = detail_generation.lookup(&zero);
    return generation ? *generation : 0;
}

/* The syscall's bit under its workload and image bucket, in the current generation */
static __always_inline void mark_image_syscall(u32 slot, u32 bucket, u32 nr_slot)
{
    bucket &= IMAGE_BUCKETS - 1;
    u32 index = ((current_generation() & 1) * SLOTS + slot) * IMAGE_BUCKETS + bucket;
    index = index * SYSCALL_WORDS + nr_slot / 64;
    u64 *bits = image_syscalls.lookup(&index);
    if (bits)
        *bits |= 1ULL << (nr_slot % 64);
}

/* Room for one more key of this workload in this generation? Over its budget,
 * the key is its own map_full loss, so a noisy workload cannot fill the maps
 * for the others. The budget may overshoot by the CPUs racing past the test. */
static __always_inline u64 *budget_left(u32 slot, u32 generation)
{
    u32 index = slot * 2 + (generation & 1);
    u64 *used = detail_keys_used.lookup(&index);
    if (!used || *used >= DETAIL_BUDGET) {
        count_loss(slot, LOSS_MAP_FULL);
        return 0;
    }
    return used;
}

/* After a key's first count failed to insert: a racing insert of the same key
 * on another CPU (EEXIST) leaves a key to add to; anything else (a full map)
 * is a counted loss. Returns whether to look the key up again. */
static __always_inline int insert_raced(u32 slot, int insert_error)
{
    if (insert_error == -EEXIST)
        return 1;
    count_loss(slot, LOSS_MAP_FULL);
    return 0;
}

static __always_inline void count_detail(struct detail_key *key)
{
    key->generation = current_generation();
    u64 *count = detail_counts.lookup(key);
    if (!count) {
        u64 *used = budget_left(key->slot, key->generation);
        if (!used)
            return;
        u64 one = 1;
        int err = detail_counts.insert(key, &one);
        if (!err) {
            __sync_fetch_and_add(used, 1);
            return;
        }
        if (!insert_raced(key->slot, err))
            return;
        count = detail_counts.lookup(key);
    }
    if (count)
        __sync_fetch_and_add(count, 1);
}

/* Seeded word-at-a-time hash of the `len` bytes (with the NUL) that
 * bpf_probe_read_user_str wrote: bytes past them are stale scratch, masked out.
 * Each step is a bijection of the state (xor a word, multiply by an odd
 * constant, xor-shift), so two paths of one length that differ in one word
 * only never collide; a final mixer would be a bijection too and could not
 * remove a collision, so there is none (it cost 30-70 ns per open here). The
 * map's own hash spreads the key over buckets. */
static __always_inline u64 hash_step(u64 hash, u64 word)
{
    hash = (hash ^ word) * 0x9e3779b97f4a7c15ULL;
    return hash ^ (hash >> 31);
}

static __always_inline u64 hash_path(const struct path_text *text, int len)
{
    u64 hash = PATH_HASH_SEED ^ (u64)len;
    /* whole-word loads: through the char array, clang assumed byte alignment
     * and built each word from 8 byte loads and 14 shifts and ors */
    const u64 *words = (const u64 *)text;
    for (int i = 0; i < PATH_WORDS; i++) {
        int left = len - i * 8;
        if (left <= 0)
            break;
        u64 word = words[i];
        if (left < 8)
            word &= (1ULL << (left * 8)) - 1;
        hash = hash_step(hash, word);
    }
    return hash;
}

static __always_inline struct detail_key *blank_key(u8 kind, u32 slot)
{
    u32 zero = 0;
    struct detail_key *key = detail_scratch.lookup(&zero);
    if (!key)
        return 0;
    __builtin_memset(key, 0, sizeof(*key));
    key->kind = kind;
    key->slot = slot;
    key->image = current_image();
    return key;
}

/* Token bucket, one per CPU so the hot path takes no lock; the loader divides
 * the configured rate among CPUs. Burst = one second of tokens. */
static __always_inline int take_token(void)
{
#if RATE_PER_CPU
    u32 zero = 0;
    struct token_bucket *bucket = token_buckets.lookup(&zero);
    if (!bucket)
        return 0;
    u64 now = bpf_ktime_get_ns();
    u64 elapsed = now - bucket->last_ns;
    if (elapsed > ONE_SECOND_NS)
        elapsed = ONE_SECOND_NS;
    u64 tokens = bucket->nano_tokens + elapsed * RATE_PER_CPU;
    if (tokens > RATE_PER_CPU * ONE_SECOND_NS)
        tokens = RATE_PER_CPU * ONE_SECOND_NS;
    bucket->last_ns = now;
    if (tokens < ONE_SECOND_NS) {
        bucket->nano_tokens = tokens;
        return 0;
    }
    bucket->nano_tokens = tokens - ONE_SECOND_NS;
#endif
    return 1;
}

/* Every ring-buffer event passes sampling, then the bucket, then the reserve;
 * each refusal is counted under its own reason. */
static __always_inline struct process_event *reserve_event(u32 slot, u32 type)
{
#if SAMPLE_EVERY > 1
    if (bpf_get_prandom_u32() % SAMPLE_EVERY) {
        count_loss(slot, LOSS_SAMPLED_OUT);
        return 0;
    }
#endif
    if (!take_token()) {
        count_loss(slot, LOSS_RATE_LIMITED);
        return 0;
    }
    struct process_event *event = events.ringbuf_reserve(sizeof(struct process_event));
    if (!event) {
        count_loss(slot, LOSS_RINGBUF_RESERVE_FAILED);
        return 0;
    }
    u64 pid_tgid = bpf_get_current_pid_tgid();
    event->timestamp_ns = bpf_ktime_get_ns();
    event->type = type;
    event->pid = pid_tgid >> 32;
    event->parent_pid = 0;
    event->slot = slot;
    event->filename[0] = 0;
    event->argv0[0] = 0;
    bpf_get_current_comm(&event->comm, sizeof(event->comm));
    return event;
}

/* An address that cannot be read is an `unreadable` loss, never a key: a
 * zeroed sockaddr would read as a connect to inet:0.0.0.0:0, a "new destination". */
static __always_inline int read_sockaddr(struct detail_key *key, const void *uaddr, u64 addrlen)
{
    u16 family = 0;
    if (!uaddr || bpf_probe_read_user(&family, sizeof(family), uaddr))
        goto unreadable;
    key->family = family;
    if (family == SG_AF_INET) {
        struct sg_sockaddr_in sin = {};
        if (bpf_probe_read_user(&sin, sizeof(sin), uaddr))
            goto unreadable;
        key->port = __builtin_bswap16(sin.port_be);
        __builtin_memcpy(key->addr, sin.addr, 4);
    } else if (family == SG_AF_INET6) {
        struct sg_sockaddr_in6 sin6 = {};
        if (bpf_probe_read_user(&sin6, sizeof(sin6), uaddr))
            goto unreadable;
        key->port = __builtin_bswap16(sin6.port_be);
        __builtin_memcpy(key->addr, sin6.addr, 16);
    } else if (family == SG_AF_UNIX) {
        const char *sun_path = (const char *)uaddr + 2;
        char first = 0;
        if (addrlen > 2 && bpf_probe_read_user(&first, 1, sun_path))
            goto unreadable;
        if (first == 0 && addrlen > 3) {
            /* abstract name: length-delimited, not NUL-terminated */
            u64 len = addrlen - 3;
            /* keep the mask: the verifier needs the bound it proves */
            asm volatile("" : "+r"(len));
            len &= 0x7f; /* sun_path holds at most 107 bytes */
            key->path[0] = '@';
            if (bpf_probe_read_user(&key->path[1], len, sun_path + 1))
                goto unreadable;
        } else if (first != 0) {
            if (bpf_probe_read_user_str(key->path, sizeof(key->path), sun_path) <= 0)
                goto unreadable;
        }
    }
    return 0;
unreadable:
    count_loss(key->slot, LOSS_UNREADABLE);
    return -1;
}

static __always_inline u8 open_mode(u64 flags)
{
    u64 access = flags & 3; /* O_ACCMODE */
    return access == 0 ? MODE_READ : access == 1 ? MODE_WRITE : MODE_READ_WRITE;
}

/* The first 8 bytes of "/proc/self" and "/proc/thread-self", as the u64 word
 * hash_path loads (little-endian: the first byte is the lowest) */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "path words are read little-endian");
#define PATH_WORD(a, b, c, d, e, f, g, h)                                                     \
    ((u64)(a) | (u64)(b) << 8 | (u64)(c) << 16 | (u64)(d) << 24 | (u64)(e) << 32 |          \
     (u64)(f) << 40 | (u64)(g) << 48 | (u64)(h) << 56)
#define PROC_SE PATH_WORD('/', 'p', 'r', 'o', 'c', '/', 's', 'e')
#define PROC_TH PATH_WORD('/', 'p', 'r', 'o', 'c', '/', 't', 'h')

/* Does the path name a different file for another opener? A relative path
 * (against the working directory or dirfd) and /proc/self/..., /proc/thread-self/...
 * do. Every other spelling (`//`, `.`, `..`, symlinks) is resolved in userspace
 * the same for every opener of a workload, so a clean absolute path pays one
 * byte test and one word compare here, no scan. */
static __always_inline int opener_dependent(const struct path_text *text, int len)
{
    if (text->path[0] != '/')
        return 1;
    if (len <= 8)
        return 0;
    u64 first = *(const u64 *)text;
    return first == PROC_SE || first == PROC_TH;
}

/* Count one open of the file key of `text` (its first `len` bytes, with the
 * NUL). A path whose meaning depends on its opener has the opener mixed into its
 * hash; `flags` (enum path_flag) travel with the path to the drain. */
static __always_inline void count_file_open(u32 slot, struct path_text *text, int len, u8 mode, int dirfd,
                                            u32 flags)
{
    u32 tgid = 0;
    struct file_key key = {.generation = current_generation(), .image = current_image(), .mode = mode,
                           .slot = slot, .path_hash = hash_path(text, len)};
    int dependent = !(flags & PATH_RESOLVED) && opener_dependent(text, len);
    if (dependent) {
        tgid = bpf_get_current_pid_tgid() >> 32;
        key.path_hash = hash_step(key.path_hash, (u64)tgid << 32 | (u32)dirfd);
    }
    if (flags & PATH_TRUNCATED)
        key.path_hash = hash_step(key.path_hash, ~(u64)flags);
    u64 *count = file_counts.lookup(&key);
    if (!count) {
        u64 *used = budget_left(slot, key.generation);
        if (!used)
            return;
        u64 one = 1;
        int err = file_counts.insert(&key, &one);
        if (!err) {
            __sync_fetch_and_add(used, 1);
            /* the drain reads a generation only after every program that could
             * still write it has returned (an RCU grace period), so the path is
             * there when it looks */
            text->tgid = dependent ? tgid : bpf_get_current_pid_tgid() >> 32;
            text->dirfd = dirfd;
            text->flags = flags;
            text->pad = 0;
            struct file_key path_key = {.slot = slot, .path_hash = key.path_hash};
            file_paths.update(&path_key, text);
            return;
        }
        if (!insert_raced(slot, err))
            return;
        count = file_counts.lookup(&key);
    }
    if (count)
        __sync_fetch_and_add(count, 1);
}

#if RETRY_UNREADABLE && !FILE_HOOK_FENTRY
/* An open whose path sat on a page not yet faulted in: the kernel's own copy of it
 * (getname) faults it in, so at the syscall's exit it is there to read. */
struct unread_open {
    u64 upath;
    s32 dirfd;
    u32 mode;
};
/* @brief thread id -> its open waiting for the sys_exit retry */
BPF_TABLE("lru_hash", u32, struct unread_open, unread_opens, 1024);

static __always_inline int retry_at_exit(u32 slot, const char *upath, u8 mode, int dirfd)
{
    u32 tid = bpf_get_current_pid_tgid();
    struct unread_open unread = {.upath = (u64)upath, .dirfd = dirfd, .mode = mode};
    return unread_opens.update(&tid, &unread) == 0;
}
#else
static __always_inline int retry_at_exit(u32 slot, const char *upath, u8 mode, int dirfd)
{
    return 0;
}
#endif

/* An open as the process spelled it (sys_enter; with FILE_HOOK_FENTRY, an open
 * that never reached a file). The hot detail: no memset (the hash masks what the
 * read did not write). */
static __always_inline void record_open(u32 slot, const char *upath, u8 mode, int dirfd)
{
    u32 zero = 0;
    struct path_text *text = path_scratch.lookup(&zero);
    if (!text)
        return;
    int len = bpf_probe_read_user_str(text->path, sizeof(text->path), upath);
    if (len <= 0) {
        if (retry_at_exit(slot, upath, mode, dirfd))
            return;
        count_loss(slot, LOSS_UNREADABLE);
        return;
    }
    u32 flags = 0;
    if (len == DETAIL_PATH_LEN) {
        /* a full buffer is a path of exactly DETAIL_PATH_LEN - 1 bytes, or a longer
         * one cut: the byte after it tells (unreadable: taken as cut) */
        char next = 0;
        if (bpf_probe_read_user(&next, 1, upath + DETAIL_PATH_LEN - 1) || next) {
            flags = PATH_TRUNCATED;
            count_loss(slot, LOSS_PATH_TRUNCATED);
        }
    }
    count_file_open(slot, text, len, mode, dirfd, flags);
}

/* `connection`: the syscall may start a TCP connection (connect, a Fast Open send),
 * whose SYN_SENT is then not keyed again. A plain datagram send leaves no mark, so
 * a busy UDP sender pays no map update per send. */
static __always_inline void record_address(u32 slot, u8 kind, u64 fd, const void *uaddr, u64 addrlen,
                                           int connection)
{
    struct detail_key *key = blank_key(kind, slot);
    if (!key || read_sockaddr(key, uaddr, addrlen))
        return;
    if (kind == KIND_BIND)
        key->mode = PORT_ASKED;
    count_detail(key);
    if (connection && (key->family == SG_AF_INET || key->family == SG_AF_INET6)) {
        u32 tid = bpf_get_current_pid_tgid();
        struct keyed_destination keyed = {.port = key->port};
        __builtin_memcpy(keyed.addr, key->addr, 16);
        destination_keyed.update(&tid, &keyed);
    }
    if (kind == KIND_BIND) {
        struct socket_ref ref = {.tgid = bpf_get_current_pid_tgid() >> 32, .fd = fd};
        struct detail_key *replaced = bound_sockets.lookup(&ref);
        if (replaced)
            count_lru(replaced->slot, LRU_BOUND_SOCKETS, LRU_ENTRY_REMOVED);
        if (!bound_sockets.update(&ref, key))
            count_lru(slot, LRU_BOUND_SOCKETS, LRU_ENTRY_ADDED);
    }
}

/* listen(fd) on a unix socket, keyed by the path its bind gave. TCP listens
 * are counted from sock:inet_sock_set_state instead, which carries the local
 * address even when the bind happened before the recording or in another
 * process. A unix socket bound outside the recording is not keyed (its listen
 * syscall is still counted). */
static __always_inline void record_listen(u32 slot, u64 fd)
{
    struct socket_ref ref = {.tgid = bpf_get_current_pid_tgid() >> 32, .fd = fd};
    struct detail_key *bound = bound_sockets.lookup(&ref);
    if (!bound)
        return;
    if (bound->family != SG_AF_UNIX) {
        if (bound->port) {
            u32 tid = bpf_get_current_pid_tgid();
            u16 port = bound->port;
            listen_asked_port.update(&tid, &port);
        }
        return;
    }
    struct detail_key *key = blank_key(KIND_LISTEN, slot);
    if (!key)
        return;
    bpf_probe_read_kernel(key, sizeof(*key), bound);
    key->kind = KIND_LISTEN;
    key->slot = slot;
    count_detail(key);
}

static __always_inline void remember_argv0(u32 slot, const char *const *uargv)
{
    u32 zero = 0;
    const char *arg0 = 0;
    struct argv0_buf *buf = argv0_scratch.lookup(&zero);
    if (!buf || !uargv || bpf_probe_read_user(&arg0, sizeof(arg0), uargv) || !arg0)
        return;
    if (bpf_probe_read_user_str(buf->text, sizeof(buf->text), arg0) <= 0)
        return;
    u32 tid = bpf_get_current_pid_tgid();
    buf->slot = slot;
    struct argv0_buf *replaced = pending_argv0.lookup(&tid);
    if (replaced)
        count_lru(replaced->slot, LRU_ARGV0, LRU_ENTRY_REMOVED);
    if (!pending_argv0.update(&tid, buf))
        count_lru(slot, LRU_ARGV0, LRU_ENTRY_ADDED);
}

static __always_inline void remember_clone_flags(u32 slot, u64 flags)
{
    u32 tid = bpf_get_current_pid_tgid();
    struct pending_clone pending = {.flags = flags, .slot = slot};
    struct pending_clone *replaced = clone_flags_by_tid.lookup(&tid);
    if (replaced)
        count_lru(replaced->slot, LRU_CLONE_FLAGS, LRU_ENTRY_REMOVED);
    if (!clone_flags_by_tid.update(&tid, &pending))
        count_lru(slot, LRU_CLONE_FLAGS, LRU_ENTRY_ADDED);
}

struct syscall_args {
    u64 a0, a1, a2;
};

static __always_inline struct syscall_args read_args(struct pt_regs *regs)
{
    struct syscall_args args = {};
#if defined(__x86_64__)
    /* dx, si, di are adjacent in pt_regs: one 24-byte read instead of 168 */
    _Static_assert(offsetof(struct pt_regs, di) == offsetof(struct pt_regs, dx) + 16, "pt_regs layout");
    u64 three[3] = {};
    bpf_probe_read_kernel(three, sizeof(three), &regs->dx);
    args.a0 = three[2];
    args.a1 = three[1];
    args.a2 = three[0];
#elif defined(__aarch64__)
    struct pt_regs copy = {};
    bpf_probe_read_kernel(&copy, sizeof(copy), regs);
    args.a0 = copy.orig_x0;
    args.a1 = copy.regs[1];
    args.a2 = copy.regs[2];
#else
#error "syscall argument registers are only mapped for x86_64 and arm64"
#endif
    return args;
}

/* Arguments 3 to 5 (sendto's flags, dest_addr and addrlen), read only by sendto. */
static __always_inline void read_args_3_5(struct pt_regs *regs, u64 *a3, u64 *a4, u64 *a5)
{
#if defined(__x86_64__)
    /* r10, r9, r8 are adjacent in pt_regs */
    _Static_assert(offsetof(struct pt_regs, r8) == offsetof(struct pt_regs, r10) + 16, "pt_regs layout");
    u64 three[3] = {};
    bpf_probe_read_kernel(three, sizeof(three), &regs->r10);
    *a3 = three[0];
    *a4 = three[2];
    *a5 = three[1];
#elif defined(__aarch64__)
    u64 three[3] = {};
    bpf_probe_read_kernel(three, sizeof(three), &regs->regs[3]);
    *a3 = three[0];
    *a4 = three[1];
    *a5 = three[2];
#endif
}

/* include/linux/socket.h: a send that opens a TCP connection with its data */
#define SG_MSG_FASTOPEN 0x20000000

/* struct msghdr's first two fields (include/linux/socket.h, the same on every
 * 64-bit ABI): where a datagram goes when the socket is not connected */
struct sg_msghdr_name {
    u64 name;
    u32 namelen;
    u32 pad;
};
/* sizeof(struct mmsghdr) on 64-bit: a msghdr (56) and msg_len, padded */
#define SG_MMSGHDR_SIZE 64
/* messages of one sendmmsg whose destinations are keyed; past them, the rest
 * are counted as map_full losses (a batch to many new hosts is still seen).
 * Two covers glibc's resolver (an A and an AAAA query in one call); eight made
 * raw_tracepoint__sys_enter too long a branch sequence for 6.1's verifier
 * ("The sequence of 8193 jumps is too complex"), refused in the VM tier. */
#define SENDMMSG_KEYED 2

/* A send with a destination of its own (sendto, sendmsg, sendmmsg on an
 * unconnected socket, or TCP Fast Open's sendto(MSG_FASTOPEN)) is keyed as a
 * connect to that destination: the same key a connect(2) would have made, so a
 * new host reached without connect is as new as one reached with it. A send with
 * no destination goes where its socket's connect (already keyed) pointed. */
static __always_inline void record_send(u32 slot, u64 uaddr, u64 addrlen, u64 flags)
{
    if (uaddr)
        record_address(slot, KIND_CONNECT, 0, (const void *)uaddr, addrlen, (flags & SG_MSG_FASTOPEN) != 0);
}

static __always_inline void record_msghdr(u32 slot, u64 umsg, u64 flags)
{
    struct sg_msghdr_name head = {};
    if (bpf_probe_read_user(&head, sizeof(head), (void *)umsg)) {
        count_loss(slot, LOSS_UNREADABLE);
        return;
    }
    record_send(slot, head.name, head.namelen, flags);
}

/* The one list of detail syscalls: host_probe/loader.py reads the NR_ names
 * from the `#if NR_x >= 0` guards below to define their numbers, and a syscall
 * this architecture lacks (-1) compiles out instead of matching syscall(-1). */
static __always_inline void record_detail(u32 slot, struct pt_regs *regs, long nr)
{
    struct syscall_args a;
#if !FILE_HOOK_FENTRY /* else opens are keyed by the FILE_HOOK_FENTRY programs below */
#if NR_openat >= 0
    if (nr == NR_openat) {
        a = read_args(regs);
        record_open(slot, (const char *)a.a1, open_mode(a.a2), (int)a.a0);
        return;
    }
#endif
#if NR_openat2 >= 0
    if (nr == NR_openat2) {
        a = read_args(regs);
        u64 flags = 0; /* struct open_how.flags */
        if (bpf_probe_read_user(&flags, sizeof(flags), (void *)a.a2)) {
            count_loss(slot, LOSS_UNREADABLE);
            return;
        }
        record_open(slot, (const char *)a.a1, open_mode(flags), (int)a.a0);
        return;
    }
#endif
#if NR_open >= 0
    if (nr == NR_open) {
        a = read_args(regs);
        record_open(slot, (const char *)a.a0, open_mode(a.a1), SG_AT_FDCWD);
        return;
    }
#endif
#if NR_creat >= 0
    if (nr == NR_creat) {
        a = read_args(regs);
        record_open(slot, (const char *)a.a0, MODE_WRITE, SG_AT_FDCWD);
        return;
    }
#endif
#endif /* !FILE_HOOK_FENTRY */
#if NR_connect >= 0
    if (nr == NR_connect) {
        a = read_args(regs);
        record_address(slot, KIND_CONNECT, a.a0, (const void *)a.a1, a.a2, 1);
        return;
    }
#endif
#if NR_bind >= 0
    if (nr == NR_bind) {
        a = read_args(regs);
        record_address(slot, KIND_BIND, a.a0, (const void *)a.a1, a.a2, 0);
        return;
    }
#endif
#if NR_listen >= 0
    if (nr == NR_listen) {
        a = read_args(regs);
        record_listen(slot, a.a0);
        return;
    }
#endif
#if NR_socket >= 0
    if (nr == NR_socket) {
        a = read_args(regs);
        struct detail_key *key = blank_key(KIND_SOCKET, slot);
        if (key) {
            key->family = a.a0;
            key->sock_type = a.a1 & 0xf; /* strip SOCK_NONBLOCK / SOCK_CLOEXEC */
            count_detail(key);
        }
        return;
    }
#endif
#if NR_sendto >= 0
    if (nr == NR_sendto) {
        u64 flags = 0, dest = 0, destlen = 0;
        read_args_3_5(regs, &flags, &dest, &destlen);
        record_send(slot, dest, destlen, flags);
        return;
    }
#endif
#if NR_sendmsg >= 0
    if (nr == NR_sendmsg) {
        a = read_args(regs);
        record_msghdr(slot, a.a1, a.a2);
        return;
    }
#endif
#if NR_sendmmsg >= 0
    if (nr == NR_sendmmsg) {
        a = read_args(regs);
        u64 messages = a.a2 < SENDMMSG_KEYED ? a.a2 : SENDMMSG_KEYED;
        for (int i = 0; i < SENDMMSG_KEYED; i++) {
            if (i >= messages)
                break;
            record_msghdr(slot, a.a1 + i * SG_MMSGHDR_SIZE, 0);
        }
        if (a.a2 > SENDMMSG_KEYED)
            count_loss(slot, LOSS_MAP_FULL);
        return;
    }
#endif
#if NR_execve >= 0
    if (nr == NR_execve) {
        a = read_args(regs);
        remember_argv0(slot, (const char *const *)a.a1);
        return;
    }
#endif
#if NR_execveat >= 0
    if (nr == NR_execveat) {
        a = read_args(regs);
        remember_argv0(slot, (const char *const *)a.a2);
        return;
    }
#endif
}

/* The hot path: every syscall on the host passes here. A raw tracepoint is the
 * cheapest hook (no tracefs argument marshalling), and a process outside every
 * workload leaves after one array lookup. */
RAW_TRACEPOINT_PROBE(sys_enter)
{
    u64 entry = entry_of(bpf_get_current_pid_tgid() >> 32);
    u32 slot = (u32)entry;
    if (!slot)
        return 0;
    long nr = ctx->args[1];
    u32 nr_slot = (u64)nr < SYSCALL_SLOTS - 1 ? (u32)nr : SYSCALL_SLOTS - 1;
    count_syscall(slot, nr_slot);
    mark_image_syscall(slot, entry >> 48, nr_slot);
    record_detail(slot, (struct pt_regs *)ctx->args[0], nr);
    return 0;
}

#if RETRY_UNREADABLE && !FILE_HOOK_FENTRY
/* The retry's side: every process pays the tgid lookup; a watched one a lookup of its
 * thread in unread_opens (the entry's high half is lineage's: no room for a count of
 * waiting opens there, so a watched process pays that hash lookup on every exit). */
RAW_TRACEPOINT_PROBE(sys_exit)
{
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    u64 *entry = workload_of_tgid.lookup(&tgid);
    if (!entry || !(*entry & SLOT_MASK))
        return 0;
    u32 slot = (u32)(*entry & SLOT_MASK);
    u32 tid = bpf_get_current_pid_tgid();
    struct unread_open *unread = unread_opens.lookup(&tid);
    if (!unread)
        return 0; /* another thread's */
    struct unread_open copy = *unread;
    unread_opens.delete(&tid);
    u32 zero = 0;
    struct path_text *text = path_scratch.lookup(&zero);
    if (!text || !slot)
        return 0;
    int len = bpf_probe_read_user_str(text->path, sizeof(text->path), (const char *)copy.upath);
    if (len <= 0) {
        count_loss(slot, LOSS_UNREADABLE);
        return 0;
    }
    u32 flags = 0;
    if (len == DETAIL_PATH_LEN) {
        flags = PATH_TRUNCATED;
        count_loss(slot, LOSS_PATH_TRUNCATED);
    }
    count_file_open(slot, text, len, copy.mode, copy.dirfd, flags);
    return 0;
}
#endif

#if FILE_HOOK_FENTRY
/* File opens where the kernel allows fentry: the key is the path of the file the
 * kernel opened, read with bpf_d_path at security_file_open, so every spelling
 * (a symlink, a dirfd-relative name, "..", /proc/self/root) is the real path in
 * the opener's root, with no canonicalisation in userspace. Every open of a
 * watched process passes there, whatever led to it: open(2) and its family, an
 * io_uring OPENAT (from the ring's worker or its SQPOLL thread, threads of the
 * process), open_by_handle_at, a /proc fd link reopened.
 *
 * A file that is one of the configured sensitive files by its inode (device and
 * inode number, sensitive_inodes, written by userspace at start) is keyed by the
 * configured path, whatever name reached it: a hard link or a bind mount of a
 * secret is the secret.
 *
 * security_file_open runs in do_dentry_open, after the path walk and its
 * permission checks: an open refused before it (ENOENT, EACCES at may_open,
 * ELOOP, O_PATH, which never opens the file) reaches no file. Such an attempt
 * still matters (a refused read of /etc/shadow is judged sensitive), so each
 * open-family syscall of a watched thread is tracked from do_sys_openat2's
 * entry to its exit: the first file it opens is keyed by its real path; an open
 * that opened none, or whose path bpf_d_path could not write (longer than the
 * buffer), is keyed at the exit by the text it asked for, as the sys_enter hook
 * keys it, and resolved in userspace. Exactly one key per open either way.
 *
 * Only the first file of an open(2) counts: overlayfs (a container's root) opens
 * the real file underneath with a security_file_open of its own, whose path is
 * the layer's, not the one the process named. Exec's opens of its binary and
 * interpreter (__FMODE_EXEC) are not file keys (the exec key is). */
enum open_state { OPEN_WAITING = 0, OPEN_KEYED = 1, OPEN_UNRESOLVED = 2 };

struct open_in_flight {
    struct path_text text; /* bpf_d_path's buffer: the thread's own, so no other program shares it */
    u32 state;             /* enum open_state */
    u32 pad;
} __attribute__((aligned(8)));

/* the kernel's own (device, inode) of a file: i_sb->s_dev as MKDEV (major << 20 | minor) */
struct inode_id {
    u64 dev;
    u64 ino;
};

/* @brief thread id -> its open-family syscall between do_sys_openat2's entry and
 * exit. LRU: an entry whose exit never ran for the probe (its workload removed
 * mid-open) ages out instead of filling the map. */
BPF_TABLE("lru_hash", u32, struct open_in_flight, opens_in_flight, 10240);
/* @brief never written: the zeroed entry an open starts from */
BPF_ARRAY(open_blank, struct open_in_flight, 1);
/* @brief an open that did not come through do_sys_openat2 (io_uring, handles): its buffer */
BPF_PERCPU_ARRAY(open_scratch, struct open_in_flight, 1);
/* @brief (device, inode) of each configured sensitive file -> the configured path
 * (host_probe/keys/sensitive_inodes.py fills it before any workload is added) */
BPF_HASH(sensitive_inodes, struct inode_id, struct path_text, SENSITIVE_INODES);

KFUNC_PROBE(do_sys_openat2, int dfd, const char *filename, struct open_how *how)
{
    u32 slot = current_slot();
    if (!slot)
        return 0;
    u32 zero = 0;
    struct open_in_flight *blank = open_blank.lookup(&zero);
    u32 tid = bpf_get_current_pid_tgid();
    if (blank && opens_in_flight.update(&tid, blank))
        count_loss(slot, LOSS_MAP_FULL);
    return 0;
}

/* The path the key is made of, written to `text`: the configured path of a
 * sensitive inode, else the opened file's own path; its length with the NUL, or
 * <= 0 when bpf_d_path could not write it. */
static __always_inline int opened_path(struct file *file, struct path_text *text)
{
    struct inode *inode = file->f_inode;
    struct inode_id id = {.dev = inode->i_sb->s_dev, .ino = inode->i_ino};
    struct path_text *named = sensitive_inodes.lookup(&id);
    if (named)
        return bpf_probe_read_kernel_str(text->path, sizeof(text->path), named->path);
    return bpf_d_path(&file->f_path, text->path, sizeof(text->path));
}

KFUNC_PROBE(security_file_open, struct file *file)
{
    u32 slot = current_slot();
    if (!slot)
        return 0;
    if (file->f_flags & __FMODE_EXEC)
        return 0; /* an exec's binary or interpreter: the exec key says it */
    u32 tid = bpf_get_current_pid_tgid();
    struct open_in_flight *in_flight = opens_in_flight.lookup(&tid);
    if (in_flight && in_flight->state != OPEN_WAITING)
        return 0; /* not the open(2)'s first file (overlayfs underneath) */
    if (!in_flight) {
        u32 zero = 0;
        struct open_in_flight *other = open_scratch.lookup(&zero); /* io_uring, a handle, ... */
        if (!other)
            return 0;
        int len = opened_path(file, &other->text);
        if (len > 0 && len <= DETAIL_PATH_LEN)
            count_file_open(slot, &other->text, len, open_mode(file->f_flags), SG_AT_FDCWD, PATH_RESOLVED);
        else
            count_loss(slot, LOSS_UNREADABLE);
        return 0;
    }
    int len = opened_path(file, &in_flight->text);
    if (len <= 0 || len > DETAIL_PATH_LEN) {
        in_flight->state = OPEN_UNRESOLVED;
        return 0;
    }
    in_flight->state = OPEN_KEYED;
    count_file_open(slot, &in_flight->text, len, open_mode(file->f_flags), SG_AT_FDCWD, PATH_RESOLVED);
    return 0;
}

KRETFUNC_PROBE(do_sys_openat2, int dfd, const char *filename, struct open_how *how, long ret)
{
    u32 slot = current_slot();
    if (!slot)
        return 0;
    u32 tid = bpf_get_current_pid_tgid();
    struct open_in_flight *in_flight = opens_in_flight.lookup(&tid);
    if (!in_flight)
        return 0;
    if (in_flight->state != OPEN_KEYED)
        record_open(slot, filename, open_mode(how->flags), dfd);
    opens_in_flight.delete(&tid);
    return 0;
}
#endif

/* The clone flags as the kernel copied them (fork, vfork, clone, clone3 and
 * io_uring's workers alike), read in the parent at the end of copy_process, past
 * its last failure: never the syscall's arguments, which a clone3 can leave on a
 * page BPF cannot read. */
TRACEPOINT_PROBE(task, task_newtask)
{
    u32 slot = current_slot();
    if (slot)
        remember_clone_flags(slot, args->clone_flags);
    return 0;
}

TRACEPOINT_PROBE(sched, sched_process_fork)
{
    /* runs in the parent */
    u32 slot = current_slot();
    if (!slot)
        return 0;
    u32 parent_tid = bpf_get_current_pid_tgid();
    struct pending_clone *pending = clone_flags_by_tid.lookup(&parent_tid);
    /* No flags (their entry evicted, an lru_evicted loss): followed as a process,
     * since a child dropped is a child unseen; a thread taken for one leaves an
     * entry that its exit does not clear (group_dead is false). */
    int is_thread = pending && (pending->flags & CLONE_THREAD);
    if (pending) {
        count_lru(pending->slot, LRU_CLONE_FLAGS, LRU_ENTRY_REMOVED);
        clone_flags_by_tid.delete(&parent_tid);
    }
    if (is_thread) {
        count_process(slot, PROCESS_THREAD);
        return 0;
    }
    count_process(slot, PROCESS_FORK);
    u32 child = args->child_pid;
    /* the child runs its parent's program (and image) until it execs */
    if (set_slot(child, entry_of(bpf_get_current_pid_tgid() >> 32)))
        count_loss(slot, LOSS_PID_BEYOND_TABLE);
    struct process_event *event = reserve_event(slot, EVENT_FORK);
    if (event) {
        event->parent_pid = event->pid;
        event->pid = child;
        events.ringbuf_submit(event, 0);
    }
    return 0;
}

/* A process that execs inside a watched cgroup takes that workload's slot: every
 * container's and service's main program starts with an exec, after its
 * runtime has placed it in its cgroup. */
static __always_inline u32 slot_from_cgroup(u32 tgid)
{
    u64 cgroup_id = bpf_get_current_cgroup_id();
    u64 *slot = workload_cgroups.lookup(&cgroup_id);
    if (!slot)
        return slot_of(tgid);
    set_slot(tgid, *slot);
    return (u32)*slot;
}

/* Seeded FNV-1a of an exec's path, folded to 16 bits, never 0 (keep in sync with
 * host_probe/keys/images.py: image_id). Exec is rare: a byte loop is cheap enough. */
static __always_inline u16 exec_image_id(const char *path)
{
    u32 zero = 0;
    u32 *seed = image_seed.lookup(&zero);
    u32 hash = 2166136261U ^ (seed ? *seed : 0);
    for (int i = 0; i < IMAGE_PATH_BYTES; i++) {
        u8 byte = path[i];
        if (!byte)
            break;
        hash = (hash ^ byte) * 16777619U;
    }
    u16 image = (hash >> 16) ^ (hash & 0xffff);
    return image ? image : 1;
}

/* The image's bucket in this workload: its own since its first exec here. Two CPUs
 * taking one for the same image at once: the first insert wins, both use it. */
static __always_inline u64 image_bucket(u32 slot, u16 image)
{
    struct image_ref ref = {.slot = slot, .image = image};
    u32 *found = image_buckets.lookup(&ref);
    if (found)
        return *found;
    u32 *taken = image_buckets_taken.lookup(&slot);
    if (!taken)
        return 0;
    /* not atomic (bcc's target has no fetch-and-add value): two execs racing here may
     * take one bucket, which the drain then sees shared and attributes to neither */
    u32 bucket = 1 + *taken % (IMAGE_BUCKETS - 1);
    *taken += 1;
    if (image_buckets.insert(&ref, &bucket)) {
        found = image_buckets.lookup(&ref);
        return found ? *found : 0;
    }
    return bucket;
}

TRACEPOINT_PROBE(sched, sched_process_exec)
{
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    u64 before = entry_of(tgid);
    u32 slot = slot_from_cgroup(tgid);
    if (!slot)
        return 0;
    count_process(slot, PROCESS_EXEC);
    /* the exec key comes from here, not sys_enter_execve, so only programs that
     * really ran count (execvp's PATH probing would add failed attempts). It is
     * the exec'ing program's (its image); the process runs the new one after. */
    struct detail_key *key = blank_key(KIND_EXEC, slot);
    if (key) {
        key->image = (u32)before == slot ? before >> 32 : 0;
        TP_DATA_LOC_READ_STR(key->path, filename, sizeof(key->path));
        count_detail(key);
        u16 image = exec_image_id(key->path);
        set_slot(tgid, image_bucket(slot, image) << 48 | (u64)image << 32 | slot);
    }
    u32 old_tid = args->old_pid;
    struct argv0_buf *argv0 = pending_argv0.lookup(&old_tid);
    if (argv0)
        count_lru(argv0->slot, LRU_ARGV0, LRU_ENTRY_REMOVED);
    struct process_event *event = reserve_event(slot, EVENT_EXEC);
    if (event) {
        TP_DATA_LOC_READ_STR(event->filename, filename, sizeof(event->filename));
        if (argv0)
            bpf_probe_read_kernel_str(event->argv0, sizeof(event->argv0), argv0->text);
        events.ringbuf_submit(event, 0);
    }
    if (argv0)
        pending_argv0.delete(&old_tid);
    return 0;
}

/* A process moved into a watched cgroup (`echo $pid > cgroup.procs`, a runtime
 * placing a process it already started) takes its slot. Only the cgroup v2
 * hierarchy (id 0) is looked at: v1 hierarchies number their cgroups apart. A
 * process moved out keeps its slot: it still belongs to what started it. */
TRACEPOINT_PROBE(cgroup, cgroup_attach_task)
{
    if (args->dst_root != 0)
        return 0;
    u64 cgroup_id = args->dst_id;
    u64 *slot = workload_cgroups.lookup(&cgroup_id);
    if (slot)
        set_slot(args->pid, *slot);
    return 0;
}

/* A cgroup the agent expects (a configured cgroup that does not exist yet: a unit
 * about to start, a rolling update's new cgroup) takes its workload's slot as it is
 * made, so the process placed in it is counted from its move or exec, not from the
 * agent's next poll. Keyed by the path below the cgroup v2 root, as the tracepoint
 * names it; the agent fills the map and learns of a take from the entry's value.
 * mkdir is rare: nothing is added to a hot path. */
struct cgroup_path {
    char text[EXPECTED_CGROUP_PATH];
};
struct expected_cgroup {
    u64 slot;
    u64 cgroup_id;  /* 0 until made */
};
BPF_HASH(expected_cgroups, struct cgroup_path, struct expected_cgroup, MAX_EXPECTED_CGROUPS);

/* Cgroups whose children the agent cannot name beforehand: a Kubernetes pod's
 * containers are made under the pod's directory with the runtime's container id in
 * their name, known only once made. A directory under a PARENT_OF_PODS rule (a
 * kubelet QoS level) is registered as made, as PARENT_OF_CONTAINERS, whoever it
 * belongs to; a directory made under a PARENT_OF_CONTAINERS (a pod) takes a slot
 * the agent set aside in spare_slots, and is named in made_children. The agent
 * then hands that slot to the container's workload once its source lists it (its
 * counts held till then), or takes it back (a pod's sandbox, a pod not watched).
 * So a pod's start is counted from its first process, whenever the kubelet or the
 * API server says it runs. */
#define PARENT_OF_PODS 1
#define PARENT_OF_CONTAINERS 2
struct parent_rule {
    u32 rule;
    u32 unused;
    u64 made_ns;  /* bpf_ktime_get_ns() when the kernel registered it; 0: the agent did */
};
BPF_HASH(cgroup_parents, struct cgroup_path, struct parent_rule, MAX_CGROUP_PARENTS);
BPF_QUEUE(spare_slots, u32, MAX_SPARE_SLOTS);
struct made_child {
    u32 slot;   /* 0: none was left in spare_slots (counted from the agent's next poll) */
    u32 unused;
    u64 made_ns;
};
BPF_HASH(made_children, u64, struct made_child, MAX_CGROUP_PARENTS);
/* [0] the made cgroup's path, [1] its parent's: two keys too large for the stack together */
BPF_PERCPU_ARRAY(mkdir_scratch, struct cgroup_path, 2);

TRACEPOINT_PROBE(cgroup, cgroup_mkdir)
{
    if (args->root != 0)
        return 0;
    u32 here = 0, above = 1;
    struct cgroup_path *path = mkdir_scratch.lookup(&here);
    struct cgroup_path *parent = mkdir_scratch.lookup(&above);
    if (!path || !parent)
        return 0;
    __builtin_memset(path, 0, sizeof(*path));
    TP_DATA_LOC_READ_STR(path->text, path, sizeof(path->text));
    u64 cgroup_id = args->id;
    struct expected_cgroup *expected = expected_cgroups.lookup(path);
    if (expected) {
        u64 slot = expected->slot;
        workload_cgroups.update(&cgroup_id, &slot);
        expected->cgroup_id = cgroup_id;
        return 0;
    }
    /* the parent's path: this one cut at its last "/", from the end (one state per step) */
    __builtin_memcpy(parent, path, sizeof(*parent));
    for (int i = EXPECTED_CGROUP_PATH - 1; i > 0; i--) {
        char c = parent->text[i];
        parent->text[i] = 0;
        if (c == '/')
            break;
    }
    struct parent_rule *rule = cgroup_parents.lookup(parent);
    if (!rule)
        return 0;
    if (rule->rule == PARENT_OF_PODS) {
        struct parent_rule pod = {.rule = PARENT_OF_CONTAINERS, .made_ns = bpf_ktime_get_ns()};
        cgroup_parents.insert(path, &pod);  /* never over a rule the agent wrote */
        return 0;
    }
    if (rule->rule != PARENT_OF_CONTAINERS)
        return 0;
    struct made_child child = {.made_ns = bpf_ktime_get_ns()};
    if (spare_slots.pop(&child.slot) == 0) {
        u64 slot = child.slot;
        workload_cgroups.update(&cgroup_id, &slot);
    } else {
        child.slot = 0;
    }
    made_children.update(&cgroup_id, &child);
    return 0;
}

static __always_inline int same_address(const u8 *a, const u8 *b)
{
    u64 a_words[2], b_words[2];
    __builtin_memcpy(a_words, a, 16);
    __builtin_memcpy(b_words, b, 16);
    return a_words[0] == b_words[0] && a_words[1] == b_words[1];
}

/* TCP listen, from the state change to LISTEN, and every outbound TCP
 * connection, from the change to SYN_SENT: both in the task that made them, so
 * a connect through io_uring (its worker is a thread of the process) or a Fast
 * Open sendto lands on the same key as connect(2), counted once. */
TRACEPOINT_PROBE(sock, inet_sock_set_state)
{
    int listening = args->newstate == SG_TCP_LISTEN;
    if (!listening && args->newstate != SG_TCP_SYN_SENT)
        return 0;
    u32 slot = current_slot();
    if (!slot)
        return 0;
    struct detail_key *key = blank_key(listening ? KIND_LISTEN : KIND_CONNECT, slot);
    if (!key)
        return 0;
    key->family = args->family;
    if (listening) {
        key->port = args->sport;
        if (args->family == SG_AF_INET6)
            __builtin_memcpy(key->addr, args->saddr_v6, 16);
        else
            __builtin_memcpy(key->addr, args->saddr, 4);
        u32 tid = bpf_get_current_pid_tgid();
        u16 *asked = listen_asked_port.lookup(&tid);
        if (asked) {
            if (*asked == key->port)
                key->mode = PORT_ASKED;
            listen_asked_port.delete(&tid);
        }
    } else {
        key->port = args->dport;
        if (args->family == SG_AF_INET6)
            __builtin_memcpy(key->addr, args->daddr_v6, 16);
        else
            __builtin_memcpy(key->addr, args->daddr, 4);
        /* a connect(2) or Fast Open sendto keyed at sys_enter: already counted. A
         * stale entry (a UDP connect makes no SYN_SENT) names the same key, so
         * skipping a later connection to that destination hides nothing new. */
        u32 tid = bpf_get_current_pid_tgid();
        struct keyed_destination *keyed = destination_keyed.lookup(&tid);
        if (keyed && keyed->port == key->port && same_address(keyed->addr, key->addr)) {
            destination_keyed.delete(&tid);
            return 0;
        }
    }
    count_detail(key);
    return 0;
}

/* A thread that exits with a clone or exec still pending (the syscall failed)
 * leaves its entry: gone now, so an LRU map evicts only entries still waiting. */
static __always_inline void forget_pending(u32 tid)
{
    struct pending_clone *clone = clone_flags_by_tid.lookup(&tid);
    if (clone) {
        count_lru(clone->slot, LRU_CLONE_FLAGS, LRU_ENTRY_REMOVED);
        clone_flags_by_tid.delete(&tid);
    }
    struct argv0_buf *argv0 = pending_argv0.lookup(&tid);
    if (argv0) {
        count_lru(argv0->slot, LRU_ARGV0, LRU_ENTRY_REMOVED);
        pending_argv0.delete(&tid);
    }
}

TRACEPOINT_PROBE(sched, sched_process_exit)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    u32 tgid = pid_tgid >> 32;
    u32 slot = slot_of(tgid);
    if (!slot)
        return 0;
    forget_pending((u32)pid_tgid);
#if HAVE_GROUP_DEAD
    int group_dead = args->group_dead;
#else
    int group_dead = (u32)pid_tgid == tgid;
#endif
    if (!group_dead)
        return 0;
    count_process(slot, PROCESS_EXIT);
    set_slot(tgid, 0);
    struct process_event *event = reserve_event(slot, EVENT_EXIT);
    if (event)
        events.ringbuf_submit(event, 0);
    return 0;
}
