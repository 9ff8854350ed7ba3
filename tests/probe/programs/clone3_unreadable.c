/* Start threads with clone3 whose struct clone_args lies in a page the probe
 * cannot read at sys_enter: a fresh file-backed mapping not yet touched, so not
 * yet in the page tables (bpf_probe_read_user does not fault; the kernel's own
 * copy in clone3 does). Prints how many threads it started.
 *
 * Usage: clone3_unreadable COUNT SCRATCH_FILE */
#define _GNU_SOURCE
#include <linux/sched.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <fcntl.h>

#define STACK_SIZE (64 * 1024)

/* The new thread starts on its own stack at the syscall's return and exits at
 * once, touching nothing (no libc, no stack of the parent). */
static long raw_clone3(struct clone_args *args, size_t size)
{
    long ret;
    register long r10 __asm__("r10") = 0;
    __asm__ volatile(
        "syscall\n\t"
        "test %%rax, %%rax\n\t"
        "jnz 1f\n\t"
        "mov $60, %%eax\n\t" /* exit(0): this thread only */
        "xor %%edi, %%edi\n\t"
        "syscall\n\t"
        "1:\n\t"
        : "=a"(ret)
        : "a"((long)SYS_clone3), "D"(args), "S"(size), "r"(r10)
        : "rcx", "r11", "memory");
    return ret;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    int count = atoi(argv[1]);
    int started = 0;
    long page = sysconf(_SC_PAGESIZE);
    for (int i = 0; i < count; i++) {
        char *stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        struct clone_args args;
        memset(&args, 0, sizeof(args));
        args.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
        args.stack = (uint64_t)(uintptr_t)stack;
        args.stack_size = STACK_SIZE;
        int fd = open(argv[2], O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, &args, sizeof(args)) != sizeof(args) || ftruncate(fd, page))
            return 3;
        /* a new mapping of the file: no page-table entry until first touched */
        struct clone_args *unread = mmap(NULL, page, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (unread == MAP_FAILED)
            return 4;
        if (raw_clone3(unread, sizeof(args)) > 0)
            started++;
        usleep(20000); /* the thread has exited long before its stack goes */
        munmap(unread, page);
        munmap(stack, STACK_SIZE);
    }
    printf("%d\n", started);
    return started == count ? 0 : 1;
}
