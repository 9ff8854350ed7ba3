/* The benchmark's workload: a tight syscall loop, held until a line arrives on
 * stdin so a tracer can attach to this pid first (the dynamic loader's own
 * syscalls happen before the hold, outside the measurement).
 *
 *   syscall_loop getppid N   N getppid() calls          (1 syscall per iteration)
 *   syscall_loop open N      N open()+close() of /dev/null (2 syscalls per iteration)
 *   syscall_loop missing N   N open() of a path that does not exist (1 syscall: the
 *                            lookup fails at once, so two cores can issue >1 M/s)
 *
 * Prints "ready" once held, then "<nanoseconds per iteration> <iterations> <CPU
 * nanoseconds per iteration>": the CPU time is this thread's own, kernel time
 * (the tracer's programs) included and time waiting for a busy CPU left out. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s getppid|open|missing ITERATIONS\n", argv[0]);
        return 2;
    }
    long iterations = atol(argv[2]);
    int use_open = strcmp(argv[1], "open") == 0;
    int use_missing = strcmp(argv[1], "missing") == 0;
    char go[16];
    /* "ready": the loader's syscalls are over; the tracer may attach now */
    printf("ready\n");
    fflush(stdout);
    if (!fgets(go, sizeof(go), stdin))
        return 3;
    double start = now_ns(CLOCK_MONOTONIC), cpu_start = now_ns(CLOCK_THREAD_CPUTIME_ID);
    for (long i = 0; i < iterations; i++) {
        if (use_open) {
            int fd = open("/dev/null", O_RDONLY);
            close(fd);
        } else if (use_missing) {
            open("/nonexistent/syscall-gate-flood", O_RDONLY);
        } else {
            syscall(SYS_getppid); /* not the libc wrapper: never cached */
        }
    }
    double cpu = now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
    double elapsed = now_ns(CLOCK_MONOTONIC) - start;
    printf("%.2f %ld %.2f\n", elapsed / iterations, iterations, cpu / iterations);
    return 0;
}
