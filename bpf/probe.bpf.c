/* syscall-gate host probe: counts one service's syscalls and the details behind
 * them (files, execs, connects, binds, listens, sockets, process tree) in kernel
 * maps. Loaded by host_probe/loader.py with bcc, which defines these constants
 * before compiling (so the hot path tests a constant, as bcc's tools do):
 *   TARGET_CGROUP_ID   cgroup v2 id to scope to; 0 = scope by tracked_tgids
 *   SAMPLE_EVERY       ring-buffer events: keep 1 in N (1 = all)
 *   RATE_PER_CPU       ring-buffer events per second per CPU (0 = unlimited)
 *   RINGBUF_PAGES      ring buffer size in pages (power of two)
 *   DETAIL_MAX_KEYS    capacity of detail_counts, file_counts and file_paths
 *   TRACKED_WORDS      capacity of tracked_tgids
 *   NR_<name>          syscall numbers from bcc's table (-1 when absent)
 *   HAVE_GROUP_DEAD    sched_process_exit carries group_dead (kernel >= 6.16)
 *   PATH_HASH_SEED     random per load, so a path cannot be chosen to collide
 *
 * Only UAPI layouts (pt_regs, the sockaddr_* ABI in probe.h) and
 * tracefs-described tracepoint fields are read: no kernel-internal struct, so
 * a mismatch between the kernel and the headers bcc compiles against cannot
 * produce wrong offsets.
 *
 * One file, a little over our usual size: bcc rewrites map calls (.lookup,
 * .ringbuf_reserve...) only in the main source, not in included headers. */
#include <uapi/linux/ptrace.h>
#include <uapi/linux/sched.h>
#include "probe.h"

#define ONE_SECOND_NS 1000000000ULL

struct socket_ref {
    u32 tgid;
    u32 fd;
};

struct argv0_buf {
    char text[ARGV0_LEN];
};

struct token_bucket {
    u64 nano_tokens; /* tokens x 1e9, so refill needs no division */
    u64 last_ns;
};

/* One bit per tgid (TRACKED_WORDS = pid_max / 64 + 1). Every syscall on the host
 * pays this test; an array lookup is inlined by the verifier into address
 * arithmetic, where a hash lookup is a helper call plus hashing. */
BPF_ARRAY(tracked_tgids, u64, TRACKED_WORDS);
BPF_PERCPU_ARRAY(syscall_counts, u64, SYSCALL_SLOTS);
BPF_PERCPU_ARRAY(process_counts, u64, PROCESS_CHANGES);
BPF_PERCPU_ARRAY(loss_counts, u64, LOSS_REASONS);
BPF_PERCPU_ARRAY(event_counts, u64, EVENT_STATS);
BPF_HASH(detail_counts, struct detail_key, u64, DETAIL_MAX_KEYS);
BPF_HASH(file_counts, struct file_key, u64, DETAIL_MAX_KEYS);
/* (generation, path_hash) -> path, keyed by file_key with mode 0: written when
 * a path's first count of a generation is inserted, drained with it. */
BPF_HASH(file_paths, struct file_key, struct path_text, DETAIL_MAX_KEYS);
BPF_PERCPU_ARRAY(path_scratch, struct path_text, 1);
/* [0]: generation new detail keys are written under; flipped by the drain */
BPF_ARRAY(detail_generation, u32, 1);
BPF_PERCPU_ARRAY(detail_scratch, struct detail_key, 1);
BPF_PERCPU_ARRAY(argv0_scratch, struct argv0_buf, 1);
BPF_PERCPU_ARRAY(token_buckets, struct token_bucket, 1);
/* listen(fd) carries no address: remember what each (tgid, fd) was bound to */
BPF_TABLE("lru_hash", struct socket_ref, struct detail_key, bound_sockets, 4096);
/* clone flags between sys_enter and sched_process_fork, to tell threads apart */
BPF_TABLE("lru_hash", u32, u64, clone_flags_by_tid, 4096);
BPF_TABLE("lru_hash", u32, struct argv0_buf, pending_argv0, 1024);
BPF_RINGBUF_OUTPUT(events, RINGBUF_PAGES);
/* never written: exposes struct process_event's layout to userspace */
BPF_ARRAY(event_layout, struct process_event, 1);

static __always_inline int is_tracked(u32 tgid)
{
    u32 word = tgid / 64;
    u64 *bits = tracked_tgids.lookup(&word);
    return bits && (*bits & (1ULL << (tgid & 63)));
}

static __always_inline int in_scope(void)
{
#if TARGET_CGROUP_ID
    return bpf_get_current_cgroup_id() == TARGET_CGROUP_ID;
#else
    return is_tracked(bpf_get_current_pid_tgid() >> 32);
#endif
}

/* One small function per counter map: bcc resolves maps by name at compile
 * time, so a map cannot be passed as an argument. Per-CPU slots have no other
 * writer on this CPU, so a plain increment is enough. */
static __always_inline void count_syscall(u32 slot)
{
    u64 *count = syscall_counts.lookup(&slot);
    if (count)
        (*count)++;
}

static __always_inline void count_process(u32 change)
{
    u64 *count = process_counts.lookup(&change);
    if (count)
        (*count)++;
}

static __always_inline void count_loss(u32 reason)
{
    u64 *count = loss_counts.lookup(&reason);
    if (count)
        (*count)++;
}

static __always_inline void count_offered(void)
{
    u32 slot = EVENTS_OFFERED;
    u64 *count = event_counts.lookup(&slot);
    if (count)
        (*count)++;
}

static __always_inline u32 current_generation(void)
{
    u32 zero = 0;
    u32 *generation = detail_generation.lookup(&zero);
    return generation ? *generation : 0;
}

/* After a key's first count failed to insert: a racing insert of the same key
 * on another CPU (EEXIST) leaves it to be added to; a full map is a counted
 * loss. Two callers, not one function over both maps: bcc binds a map by name
 * at compile time, inside a macro not at all. */
static __always_inline int raced(int insert_error)
{
    if (insert_error && insert_error != -EEXIST)
        count_loss(LOSS_MAP_FULL);
    return insert_error == -EEXIST;
}

static __always_inline void count_detail(struct detail_key *key)
{
    key->generation = current_generation();
    u64 *count = detail_counts.lookup(key);
    if (!count) {
        u64 one = 1;
        if (!raced(detail_counts.insert(key, &one)))
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
        hash = (hash ^ word) * 0x9e3779b97f4a7c15ULL;
        hash ^= hash >> 31;
    }
    return hash;
}

static __always_inline struct detail_key *blank_key(u8 kind)
{
    u32 zero = 0;
    struct detail_key *key = detail_scratch.lookup(&zero);
    if (!key)
        return 0;
    __builtin_memset(key, 0, sizeof(*key));
    key->kind = kind;
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
static __always_inline struct process_event *reserve_event(u32 type)
{
    count_offered();
#if SAMPLE_EVERY > 1
    if (bpf_get_prandom_u32() % SAMPLE_EVERY) {
        count_loss(LOSS_SAMPLED_OUT);
        return 0;
    }
#endif
    if (!take_token()) {
        count_loss(LOSS_RATE_LIMITED);
        return 0;
    }
    struct process_event *event = events.ringbuf_reserve(sizeof(struct process_event));
    if (!event) {
        count_loss(LOSS_RINGBUF_RESERVE_FAILED);
        return 0;
    }
    u64 pid_tgid = bpf_get_current_pid_tgid();
    event->timestamp_ns = bpf_ktime_get_ns();
    event->type = type;
    event->pid = pid_tgid >> 32;
    event->parent_pid = 0;
    event->group_dead = 0;
    event->filename[0] = 0;
    event->argv0[0] = 0;
    bpf_get_current_comm(&event->comm, sizeof(event->comm));
    return event;
}

static __always_inline int read_sockaddr(struct detail_key *key, const void *uaddr, u64 addrlen)
{
    u16 family = 0;
    if (!uaddr || bpf_probe_read_user(&family, sizeof(family), uaddr)) {
        count_loss(LOSS_UNREADABLE);
        return -1;
    }
    key->family = family;
    if (family == SG_AF_INET) {
        struct sg_sockaddr_in sin = {};
        bpf_probe_read_user(&sin, sizeof(sin), uaddr);
        key->port = __builtin_bswap16(sin.port_be);
        __builtin_memcpy(key->addr, sin.addr, 4);
    } else if (family == SG_AF_INET6) {
        struct sg_sockaddr_in6 sin6 = {};
        bpf_probe_read_user(&sin6, sizeof(sin6), uaddr);
        key->port = __builtin_bswap16(sin6.port_be);
        __builtin_memcpy(key->addr, sin6.addr, 16);
    } else if (family == SG_AF_UNIX) {
        const char *sun_path = (const char *)uaddr + 2;
        char first = 0;
        bpf_probe_read_user(&first, 1, sun_path);
        if (first == 0 && addrlen > 3) {
            /* abstract name: length-delimited, not NUL-terminated */
            u64 len = addrlen - 3;
            /* keep the mask: the verifier needs the bound it proves */
            asm volatile("" : "+r"(len));
            len &= 0x7f; /* sun_path holds at most 107 bytes */
            key->path[0] = '@';
            bpf_probe_read_user(&key->path[1], len, sun_path + 1);
        } else if (first != 0) {
            bpf_probe_read_user_str(key->path, sizeof(key->path), sun_path);
        }
    }
    return 0;
}

static __always_inline u8 open_mode(u64 flags)
{
    u64 access = flags & 3; /* O_ACCMODE */
    return access == 0 ? MODE_READ : access == 1 ? MODE_WRITE : MODE_READ_WRITE;
}

/* The hot detail: no memset (the hash masks what the read did not write) */
static __always_inline void record_open(const char *upath, u8 mode)
{
    u32 zero = 0;
    struct path_text *text = path_scratch.lookup(&zero);
    if (!text)
        return;
    int len = bpf_probe_read_user_str(text->path, sizeof(text->path), upath);
    if (len <= 0) {
        count_loss(LOSS_UNREADABLE);
        return;
    }
    struct file_key key = {.generation = current_generation(), .mode = mode, .path_hash = hash_path(text, len)};
    u64 *count = file_counts.lookup(&key);
    if (!count) {
        u64 one = 1;
        int err = file_counts.insert(&key, &one);
        if (!err) {
            /* the drain reads this generation only after a grace period longer
             * than this program runs, so the path is there when it looks */
            struct file_key path_key = {.generation = key.generation, .path_hash = key.path_hash};
            file_paths.update(&path_key, text);
            return;
        }
        if (!raced(err))
            return;
        count = file_counts.lookup(&key);
    }
    if (count)
        __sync_fetch_and_add(count, 1);
}

static __always_inline void record_address(u8 kind, u64 fd, const void *uaddr, u64 addrlen)
{
    struct detail_key *key = blank_key(kind);
    if (!key || read_sockaddr(key, uaddr, addrlen))
        return;
    count_detail(key);
    if (kind == KIND_BIND) {
        struct socket_ref ref = {.tgid = bpf_get_current_pid_tgid() >> 32, .fd = fd};
        bound_sockets.update(&ref, key);
    }
}

/* listen(fd) on a unix socket, keyed by the path its bind gave. TCP listens
 * are counted from sock:inet_sock_set_state instead, which carries the local
 * address even when the bind happened before the recording or in another
 * process. A unix socket bound outside the recording is not keyed (its listen
 * syscall is still counted). */
static __always_inline void record_listen(u64 fd)
{
    struct socket_ref ref = {.tgid = bpf_get_current_pid_tgid() >> 32, .fd = fd};
    struct detail_key *bound = bound_sockets.lookup(&ref);
    if (!bound || bound->family != SG_AF_UNIX)
        return;
    struct detail_key *key = blank_key(KIND_LISTEN);
    if (!key)
        return;
    bpf_probe_read_kernel(key, sizeof(*key), bound);
    key->kind = KIND_LISTEN;
    count_detail(key);
}

static __always_inline void remember_argv0(const char *const *uargv)
{
    u32 zero = 0;
    const char *arg0 = 0;
    struct argv0_buf *buf = argv0_scratch.lookup(&zero);
    if (!buf || !uargv || bpf_probe_read_user(&arg0, sizeof(arg0), uargv) || !arg0)
        return;
    if (bpf_probe_read_user_str(buf->text, sizeof(buf->text), arg0) <= 0)
        return;
    u32 tid = bpf_get_current_pid_tgid();
    pending_argv0.update(&tid, buf);
}

static __always_inline void remember_clone_flags(u64 flags)
{
    u32 tid = bpf_get_current_pid_tgid();
    clone_flags_by_tid.update(&tid, &flags);
}

static __always_inline void record_detail(struct pt_regs *ctx_regs, long nr)
{
#if defined(__x86_64__)
    /* dx, si, di are adjacent in pt_regs: one 24-byte read instead of 168 */
    _Static_assert(offsetof(struct pt_regs, di) == offsetof(struct pt_regs, dx) + 16, "pt_regs layout");
    u64 three[3] = {};
    bpf_probe_read_kernel(three, sizeof(three), &ctx_regs->dx);
    u64 a0 = three[2], a1 = three[1], a2 = three[0];
#elif defined(__aarch64__)
    struct pt_regs regs = {};
    bpf_probe_read_kernel(&regs, sizeof(regs), ctx_regs);
    u64 a0 = regs.orig_x0, a1 = regs.regs[1], a2 = regs.regs[2];
#else
#error "syscall argument registers are only mapped for x86_64 and arm64"
#endif
    if (nr == NR_openat) {
        record_open((const char *)a1, open_mode(a2));
    } else if (nr == NR_openat2) {
        u64 flags = 0;
        bpf_probe_read_user(&flags, sizeof(flags), (void *)a2); /* struct open_how.flags */
        record_open((const char *)a1, open_mode(flags));
    } else if (nr == NR_open) {
        record_open((const char *)a0, open_mode(a1));
    } else if (nr == NR_creat) {
        record_open((const char *)a0, MODE_WRITE);
    } else if (nr == NR_connect) {
        record_address(KIND_CONNECT, a0, (const void *)a1, a2);
    } else if (nr == NR_bind) {
        record_address(KIND_BIND, a0, (const void *)a1, a2);
    } else if (nr == NR_listen) {
        record_listen(a0);
    } else if (nr == NR_socket) {
        struct detail_key *key = blank_key(KIND_SOCKET);
        if (key) {
            key->family = a0;
            key->sock_type = a1 & 0xf; /* strip SOCK_NONBLOCK / SOCK_CLOEXEC */
            count_detail(key);
        }
    } else if (nr == NR_execve) {
        remember_argv0((const char *const *)a1);
    } else if (nr == NR_execveat) {
        remember_argv0((const char *const *)a2);
    } else if (nr == NR_clone) {
        remember_clone_flags(a0);
    } else if (nr == NR_clone3) {
        u64 flags = 0;
        bpf_probe_read_user(&flags, sizeof(flags), (void *)a0); /* struct clone_args.flags */
        remember_clone_flags(flags);
    }
}

/* The hot path: every syscall on the host passes here. A raw tracepoint is the
 * cheapest hook (no tracefs argument marshalling), and out-of-scope tasks leave
 * after one test. */
RAW_TRACEPOINT_PROBE(sys_enter)
{
    if (!in_scope())
        return 0;
    long nr = ctx->args[1];
    u32 slot = (u64)nr < SYSCALL_SLOTS - 1 ? (u32)nr : SYSCALL_SLOTS - 1;
    count_syscall(slot);
    if (nr == NR_openat || nr == NR_openat2 || nr == NR_open || nr == NR_creat ||
        nr == NR_connect || nr == NR_bind || nr == NR_listen || nr == NR_socket ||
        nr == NR_execve || nr == NR_execveat || nr == NR_clone || nr == NR_clone3)
        record_detail((struct pt_regs *)ctx->args[0], nr);
    return 0;
}

TRACEPOINT_PROBE(sched, sched_process_fork)
{
    /* runs in the parent */
    if (!in_scope())
        return 0;
    u32 parent_tid = bpf_get_current_pid_tgid();
    u64 *flags = clone_flags_by_tid.lookup(&parent_tid);
    int is_thread = flags && (*flags & CLONE_THREAD);
    if (flags)
        clone_flags_by_tid.delete(&parent_tid);
    if (is_thread) {
        count_process(PROCESS_THREAD);
        return 0;
    }
    count_process(PROCESS_FORK);
#if !TARGET_CGROUP_ID
    u32 child = args->child_pid;
    u32 word = child / 64;
    u64 *bits = tracked_tgids.lookup(&word);
    if (bits)
        __sync_fetch_and_or(bits, 1ULL << (child & 63));
    else
        count_loss(LOSS_MAP_FULL); /* a pid above the pid_max read at load */
#endif
    struct process_event *event = reserve_event(EVENT_FORK);
    if (event) {
        event->parent_pid = event->pid;
        event->pid = args->child_pid;
        events.ringbuf_submit(event, 0);
    }
    return 0;
}

TRACEPOINT_PROBE(sched, sched_process_exec)
{
    if (!in_scope())
        return 0;
    count_process(PROCESS_EXEC);
    /* the exec key comes from here, not sys_enter_execve, so only programs that
     * really ran count (execvp's PATH probing would add failed attempts) */
    struct detail_key *key = blank_key(KIND_EXEC);
    if (key) {
        TP_DATA_LOC_READ_STR(key->path, filename, sizeof(key->path));
        count_detail(key);
    }
    u32 old_tid = args->old_pid;
    struct argv0_buf *argv0 = pending_argv0.lookup(&old_tid);
    struct process_event *event = reserve_event(EVENT_EXEC);
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

/* TCP listen, from the state change to LISTEN (in the listening task). */
TRACEPOINT_PROBE(sock, inet_sock_set_state)
{
    if (args->newstate != SG_TCP_LISTEN || !in_scope())
        return 0;
    struct detail_key *key = blank_key(KIND_LISTEN);
    if (!key)
        return 0;
    key->family = args->family;
    key->port = args->sport;
    if (args->family == SG_AF_INET6)
        __builtin_memcpy(key->addr, args->saddr_v6, 16);
    else
        __builtin_memcpy(key->addr, args->saddr, 4);
    count_detail(key);
    return 0;
}

TRACEPOINT_PROBE(sched, sched_process_exit)
{
    if (!in_scope())
        return 0;
    u64 pid_tgid = bpf_get_current_pid_tgid();
#if HAVE_GROUP_DEAD
    int group_dead = args->group_dead;
#else
    int group_dead = (u32)pid_tgid == (u32)(pid_tgid >> 32);
#endif
    if (!group_dead)
        return 0;
    count_process(PROCESS_EXIT);
#if !TARGET_CGROUP_ID
    u32 tgid = pid_tgid >> 32;
    u32 word = tgid / 64;
    u64 *bits = tracked_tgids.lookup(&word);
    if (bits)
        __sync_fetch_and_and(bits, ~(1ULL << (tgid & 63)));
#endif
    struct process_event *event = reserve_event(EVENT_EXIT);
    if (event) {
        event->group_dead = 1;
        events.ringbuf_submit(event, 0);
    }
    return 0;
}
