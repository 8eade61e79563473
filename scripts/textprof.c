// Profiler for scripts/hot-text.sh (LD_PRELOAD; Linux): which 4 KiB pages of the executable's
// code one run executes, exactly. The kernel maps a binary's code 64 KiB around each page
// touched (fault-around) and reads ahead, so the process's resident pages say little about
// what ran. Before the executable's own code runs, this library copies its r-x mapping aside,
// replaces it by an anonymous mapping of the same size and serves that page by page through
// userfaultfd: each page is filled on its first execution and its file page number is appended
// to $TEXTPROF_OUT (without that variable the library does nothing). Needs the right to use
// userfaultfd (root, or vm.unprivileged_userfaultfd=1). Not part of tonearm.
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static int uffd = -1, logfd = -1;
static unsigned long base, len, file_off;
static char *copy;

static void *serve(void *arg) {
    (void)arg;
    struct uffd_msg msg;
    char line[32];
    for (;;) {
        if (read(uffd, &msg, sizeof msg) != sizeof msg || msg.event != UFFD_EVENT_PAGEFAULT)
            continue;
        unsigned long addr = msg.arg.pagefault.address & ~4095UL;
        struct uffdio_copy c = {
            .dst = addr, .src = (unsigned long)(copy + (addr - base)), .len = 4096, .mode = 0};
        ioctl(uffd, UFFDIO_COPY, &c);
        int n = snprintf(line, sizeof line, "%lu\n", (addr - base + file_off) / 4096);
        if (write(logfd, line, n) != n)
            continue;
    }
    return NULL;
}

static void fail(const char *what) {
    perror(what);
    exit(111);
}

__attribute__((constructor)) static void textprof(void) {
    const char *out = getenv("TEXTPROF_OUT");
    if (!out)
        return;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        fail("textprof: /proc/self/exe");
    exe[n] = 0;
    FILE *maps = fopen("/proc/self/maps", "r");
    if (!maps)
        fail("textprof: /proc/self/maps");
    char line[8192];
    while (fgets(line, sizeof line, maps)) {
        unsigned long a, b, off;
        char perm[8], path[4096] = "";
        if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %4095s", &a, &b, perm, &off, path) >= 4 &&
            strcmp(path, exe) == 0 && perm[2] == 'x') {
            base = a;
            len = b - a;
            file_off = off;
        }
    }
    fclose(maps);
    if (!len)
        fail("textprof: no executable mapping");
    logfd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    copy = malloc(len);
    int fd = open(exe, O_RDONLY | O_CLOEXEC);
    if (logfd < 0 || !copy || fd < 0 || pread(fd, copy, len, file_off) != (ssize_t)len)
        fail("textprof: copying the code");
    close(fd);
    struct uffdio_api api = {.api = UFFD_API, .features = 0};
    uffd = syscall(SYS_userfaultfd, O_CLOEXEC);
    if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api))
        fail("textprof: userfaultfd");
    if (mmap((void *)base, len, PROT_READ | PROT_EXEC, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0) == MAP_FAILED)
        fail("textprof: mmap");
    struct uffdio_register reg = {.range = {.start = base, .len = len},
                                  .mode = UFFDIO_REGISTER_MODE_MISSING};
    if (ioctl(uffd, UFFDIO_REGISTER, &reg))
        fail("textprof: UFFDIO_REGISTER");
    pthread_t t;
    if (pthread_create(&t, NULL, serve, NULL))
        fail("textprof: thread");
    // Children (none expected) must not inherit the profiler.
    unsetenv("LD_PRELOAD");
}
