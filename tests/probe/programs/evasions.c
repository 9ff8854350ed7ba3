/* Routes around the probe (issue 24): each does one forbidden thing a different
 * way, every round, next to the benign work both versions do.
 *
 *   evasions WORKDIR SECONDS LISTEN_PORT ROUTE[,ROUTE...]   (ROUTE "benign": none)
 *
 * WORKDIR holds app.conf (the benign read), app.link (a link to it), secrets/<route>
 * (one secret per route, so each route's key tells which route it was) and
 * pages/<name> (files whose pages this program maps but never touches).
 * tests/probe/test_evasions.py runs it and lists what each route must produce. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

static const char *workdir;
static int listen_port;
static char path_buf[4096];

static const char *in_work(const char *name)
{
    snprintf(path_buf, sizeof(path_buf), "%s/%s", workdir, name);
    return path_buf;
}

static void read_and_close(int fd)
{
    char buf[64];
    if (fd >= 0) {
        if (read(fd, buf, sizeof(buf)) < 0)
            perror("read");
        close(fd);
    }
}

static struct sockaddr_in loopback(const char *host, int port)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &to.sin_addr);
    return to;
}

/* A read-only mapping of WORKDIR/pages/NAME that this process never touches: BPF
 * cannot read it (no page is mapped until a fault, and BPF may not fault). */
static void *untouched(const char *name, size_t *size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/pages/%s", workdir, name);
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        perror(path);
        exit(2);
    }
    void *page = mmap(0, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (page == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    *size = st.st_size;
    return page;
}

/* --- io_uring, with raw syscalls (no liburing here) ------------------------ */
struct ring {
    int fd;
    unsigned *sq_tail, *sq_mask, *sq_array, *sq_flags, *cq_head, *cq_tail, *cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
};

static int ring_open(struct ring *ring, unsigned flags)
{
    struct io_uring_params params = {.flags = flags, .sq_thread_idle = 50};
    ring->fd = syscall(__NR_io_uring_setup, 4, &params);
    if (ring->fd < 0)
        return -1;
    size_t sq_size = params.sq_off.array + params.sq_entries * sizeof(unsigned);
    size_t cq_size = params.cq_off.cqes + params.cq_entries * sizeof(struct io_uring_cqe);
    if (cq_size > sq_size)
        sq_size = cq_size;
    char *sq = mmap(0, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring->fd, IORING_OFF_SQ_RING);
    char *cq = sq; /* IORING_FEAT_SINGLE_MMAP: every kernel since 5.4 */
    ring->sqes = mmap(0, params.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_POPULATE, ring->fd, IORING_OFF_SQES);
    if (sq == MAP_FAILED || ring->sqes == MAP_FAILED)
        return -1;
    ring->sq_tail = (unsigned *)(sq + params.sq_off.tail);
    ring->sq_mask = (unsigned *)(sq + params.sq_off.ring_mask);
    ring->sq_array = (unsigned *)(sq + params.sq_off.array);
    ring->sq_flags = (unsigned *)(sq + params.sq_off.flags);
    ring->cq_head = (unsigned *)(cq + params.cq_off.head);
    ring->cq_tail = (unsigned *)(cq + params.cq_off.tail);
    ring->cq_mask = (unsigned *)(cq + params.cq_off.ring_mask);
    ring->cqes = (struct io_uring_cqe *)(cq + params.cq_off.cqes);
    return 0;
}

/* Submit one operation and wait for its result. Under SQPOLL the kernel's poller
 * thread takes it: this process makes no syscall for it but the wake-up. */
static int ring_run(struct ring *ring, const struct io_uring_sqe *sqe, int sqpoll)
{
    unsigned tail = *ring->sq_tail, index = tail & *ring->sq_mask;
    ring->sqes[index] = *sqe;
    ring->sq_array[index] = index;
    __atomic_store_n(ring->sq_tail, tail + 1, __ATOMIC_RELEASE);
    unsigned enter_flags = IORING_ENTER_GETEVENTS;
    if (sqpoll && (__atomic_load_n(ring->sq_flags, __ATOMIC_ACQUIRE) & IORING_SQ_NEED_WAKEUP))
        enter_flags |= IORING_ENTER_SQ_WAKEUP;
    syscall(__NR_io_uring_enter, ring->fd, sqpoll ? 0 : 1, 1, enter_flags, NULL, 0);
    unsigned head = *ring->cq_head;
    while (head == __atomic_load_n(ring->cq_tail, __ATOMIC_ACQUIRE))
        usleep(100);
    int result = ring->cqes[head & *ring->cq_mask].res;
    __atomic_store_n(ring->cq_head, head + 1, __ATOMIC_RELEASE);
    return result;
}

static void ring_close(struct ring *ring)
{
    close(ring->fd); /* the mappings go with the process; a few per round */
}

static void uring_open_and_read(const char *secret, unsigned flags)
{
    struct ring ring;
    if (ring_open(&ring, flags)) {
        perror("io_uring_setup");
        return;
    }
    static char buf[64];
    struct io_uring_sqe open_sqe = {.opcode = IORING_OP_OPENAT, .fd = AT_FDCWD,
                                    .addr = (uintptr_t)secret, .open_flags = O_RDONLY};
    int fd = ring_run(&ring, &open_sqe, flags & IORING_SETUP_SQPOLL);
    if (fd >= 0) {
        struct io_uring_sqe read_sqe = {.opcode = IORING_OP_READ, .fd = fd, .addr = (uintptr_t)buf,
                                        .len = sizeof(buf)};
        ring_run(&ring, &read_sqe, flags & IORING_SETUP_SQPOLL);
        close(fd);
    }
    ring_close(&ring);
}

static void route_uring_read(void)
{
    uring_open_and_read(strdup(in_work("secrets/uring_read")), 0);
}

static void route_sqpoll(void)
{
    uring_open_and_read(strdup(in_work("secrets/sqpoll")), IORING_SETUP_SQPOLL);
}

static void route_uring_connect(void)
{
    struct ring ring;
    if (ring_open(&ring, 0)) {
        perror("io_uring_setup");
        return;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = loopback("127.0.0.7", 7006);
    struct io_uring_sqe sqe = {.opcode = IORING_OP_CONNECT, .fd = fd, .addr = (uintptr_t)&to,
                               .off = sizeof(to)};
    ring_run(&ring, &sqe, 0);
    close(fd);
    ring_close(&ring);
}

/* --- datagrams without connect, Fast Open ---------------------------------- */
static void route_sendto(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = loopback("127.0.0.2", 7001);
    sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof(to));
    close(fd);
}

static void route_sendmsg(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = loopback("127.0.0.3", 7002);
    struct iovec data = {.iov_base = "x", .iov_len = 1};
    struct msghdr message = {.msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = &data, .msg_iovlen = 1};
    sendmsg(fd, &message, 0);
    close(fd);
}

static void route_sendmmsg(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in first = loopback("127.0.0.1", 7000), second = loopback("127.0.0.4", 7003);
    struct iovec data = {.iov_base = "x", .iov_len = 1};
    struct mmsghdr messages[2] = {
        {.msg_hdr = {.msg_name = &first, .msg_namelen = sizeof(first), .msg_iov = &data, .msg_iovlen = 1}},
        {.msg_hdr = {.msg_name = &second, .msg_namelen = sizeof(second), .msg_iov = &data, .msg_iovlen = 1}},
    };
    sendmmsg(fd, messages, 2, 0);
    close(fd);
}

static int udp_socket_kept = -1;

/* one socket for every send, kept open across rounds */
static void route_sendto_kept_socket(void)
{
    if (udp_socket_kept < 0)
        udp_socket_kept = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = loopback("127.0.0.5", 7004);
    sendto(udp_socket_kept, "x", 1, 0, (struct sockaddr *)&to, sizeof(to));
}

static void route_fastopen(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = loopback("127.0.0.6", 7005);
    sendto(fd, "x", 1, MSG_FASTOPEN, (struct sockaddr *)&to, sizeof(to));
    close(fd);
}

/* --- files by other names -------------------------------------------------- */
static void route_handle(void)
{
    struct {
        struct file_handle handle;
        unsigned char bytes[MAX_HANDLE_SZ];
    } found = {.handle = {.handle_bytes = MAX_HANDLE_SZ}};
    int mount_id;
    if (syscall(__NR_name_to_handle_at, AT_FDCWD, in_work("secrets/handle"), &found.handle, &mount_id, 0)) {
        perror("name_to_handle_at");
        return;
    }
    int mount_fd = open(workdir, O_RDONLY | O_DIRECTORY);
    read_and_close(syscall(__NR_open_by_handle_at, mount_fd, &found.handle, O_RDONLY));
    close(mount_fd);
}

static void route_symlink(void)
{
    char link_path[4096];
    snprintf(link_path, sizeof(link_path), "%s/tmp/cache.lnk", workdir);
    unlink(link_path);
    if (symlink(in_work("secrets/symlink"), link_path))
        perror("symlink");
    read_and_close(open(link_path, O_RDONLY));
    unlink(link_path);
}

static int rounds;

/* app.link points at app.conf in both versions; the canary re-points it at the
 * secret once its first windows are past */
static void route_relink(void)
{
    if (rounds == 10) {
        char link_path[4096];
        snprintf(link_path, sizeof(link_path), "%s/app.link", workdir);
        unlink(link_path);
        if (symlink(in_work("secrets/relink"), link_path))
            perror("symlink");
    }
}

/* chdir into the secret's directory, open it by its bare name, and exit: the
 * opener is gone before the drain could read its working directory */
static void route_chdir(void)
{
    pid_t child = fork();
    if (child == 0) {
        if (chdir("/etc") == 0)
            read_and_close(open("shadow", O_RDONLY));
        _exit(0);
    }
    waitpid(child, NULL, 0);
}

/* the same, but the opener lives on, back in its own directory */
static void route_chdir_back(void)
{
    int here = open(".", O_RDONLY | O_DIRECTORY);
    if (chdir(in_work("secrets")) == 0)
        read_and_close(open("chdir_back", O_RDONLY));
    if (fchdir(here))
        perror("fchdir");
    close(here);
}

static void route_hardlink(void)
{
    char link_path[4096];
    snprintf(link_path, sizeof(link_path), "%s/tmp/cache.db", workdir);
    if (access(link_path, F_OK) && link(in_work("secrets/hardlink"), link_path))
        perror("link");
    read_and_close(open(link_path, O_RDONLY));
}

static void route_sendfile(void)
{
    int secret = open(in_work("secrets/sendfile"), O_RDONLY);
    int sink = open("/dev/null", O_WRONLY);
    if (secret >= 0 && sink >= 0)
        sendfile(sink, secret, NULL, 64);
    close(secret);
    close(sink);
}

static void route_proc_root(void)
{
    char path[4096];
    snprintf(path, sizeof(path), "/proc/%d/root%s/secrets/proc_root", getppid(), workdir);
    read_and_close(open(path, O_RDONLY));
}

/* --- children the probe must follow ---------------------------------------- */
/* a daemonized grandchild opens a path held on a page it never touched */
static void route_grandchild(void)
{
    pid_t child = fork();
    if (child == 0) {
        setsid();
        if (fork() == 0) {
            size_t size;
            const char *path = untouched("grandchild_path", &size);
            read_and_close(open(path, O_RDONLY));
            _exit(0);
        }
        _exit(0);
    }
    waitpid(child, NULL, 0);
    usleep(20000);
}

/* clone3 with its arguments on an untouched page: the child reads a secret and
 * runs a program */
static void route_clone3(void)
{
    size_t size;
    struct clone_args *args = untouched("clone3_args", &size);
    long child = syscall(__NR_clone3, args, sizeof(struct clone_args));
    if (child == 0) {
        read_and_close(open(in_work("secrets/clone3"), O_RDONLY));
        execl("/usr/bin/true", "true", (char *)NULL);
        _exit(127);
    }
    if (child > 0)
        waitpid(child, NULL, 0);
    else
        perror("clone3");
    munmap(args, size);
}

/* --- listeners, other processes, raw frames -------------------------------- */
static void route_listener(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in at = loopback("127.0.0.1", listen_port);
    if (bind(fd, (struct sockaddr *)&at, sizeof(at)) || listen(fd, 1))
        perror("listener");
    close(fd);
}

static void route_process_vm_readv(void)
{
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    static char here[8], there[8] = "secret";
    struct iovec local = {.iov_base = here, .iov_len = sizeof(here)};
    struct iovec remote = {.iov_base = there, .iov_len = sizeof(there)};
    syscall(__NR_process_vm_readv, child, &local, 1, &remote, 1, 0);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
}

static void route_packet(void)
{
    int fd = socket(AF_PACKET, SOCK_RAW, 0);
    if (fd < 0)
        perror("AF_PACKET");
    close(fd);
}

static void route_memfd(void)
{
    close(syscall(__NR_memfd_create, "x", 0));
}

struct route {
    const char *name;
    void (*run)(void);
};

static const struct route ROUTES[] = {
    {"uring_read", route_uring_read},     {"sqpoll", route_sqpoll},
    {"uring_connect", route_uring_connect}, {"sendto", route_sendto},
    {"sendmsg", route_sendmsg},           {"sendmmsg", route_sendmmsg},
    {"sendto_kept_socket", route_sendto_kept_socket}, {"fastopen", route_fastopen},
    {"handle", route_handle},             {"symlink", route_symlink},
    {"relink", route_relink},             {"chdir", route_chdir},
    {"chdir_back", route_chdir_back},     {"hardlink", route_hardlink},
    {"sendfile", route_sendfile},         {"proc_root", route_proc_root},
    {"grandchild", route_grandchild},     {"clone3", route_clone3},
    {"listener", route_listener},         {"process_vm_readv", route_process_vm_readv},
    {"packet", route_packet},             {"memfd", route_memfd},
};
#define ROUTE_COUNT (sizeof(ROUTES) / sizeof(ROUTES[0]))

/* what both versions do every round: read the config through its link, send a
 * datagram to and connect to the one known peer */
static void benign(void)
{
    read_and_close(open(in_work("app.link"), O_RDONLY));
    read_and_close(open(in_work("app.conf"), O_RDONLY));
    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in peer = loopback("127.0.0.1", 7000);
    sendto(udp, "x", 1, 0, (struct sockaddr *)&peer, sizeof(peer));
    close(udp);
    int tcp = socket(AF_INET, SOCK_STREAM, 0);
    connect(tcp, (struct sockaddr *)&peer, sizeof(peer));
    close(tcp);
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s WORKDIR SECONDS LISTEN_PORT ROUTE[,ROUTE...]\n", argv[0]);
        return 2;
    }
    workdir = argv[1];
    double seconds = atof(argv[2]);
    listen_port = atoi(argv[3]);
    int chosen[ROUTE_COUNT] = {0};
    for (char *name = strtok(argv[4], ","); name; name = strtok(NULL, ",")) {
        int known = !strcmp(name, "benign");
        for (size_t i = 0; i < ROUTE_COUNT; i++)
            if (!strcmp(name, ROUTES[i].name))
                chosen[i] = known = 1;
        if (!known) {
            fprintf(stderr, "unknown route %s\n", name);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        benign();
        for (size_t i = 0; i < ROUTE_COUNT; i++)
            if (chosen[i])
                ROUTES[i].run();
        rounds++;
        usleep(100000);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec - start.tv_sec + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
    return 0;
}
