/* Storage faults at the OS boundary, for tests: an LD_PRELOAD shim over write(2),
 * pwrite(2), writev(2), fsync(2) and fdatasync(2).
 *
 * Only file descriptors whose path starts with `prefix` are touched. The control file
 * named by $SMSPROBE_FSFAULT_CTL is re-read whenever it is replaced (write a new file and
 * rename it over the old one), so a test changes the faults of a running process:
 *
 *     prefix=/tmp/pytest-.../agent
 *     fsync_delay_ms=250      every fsync/fdatasync first sleeps this long
 *     fsync_errno=5           ...then fails with this errno (0: succeeds)
 *     write_errno=28          every write fails with this errno (28 ENOSPC, 30 EROFS, 5 EIO)
 *
 * Built by tests/faults/__init__.py with the system C compiler.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char prefix[1024];
static long fsync_delay_ms;
static int fsync_errno;
static int write_errno;
static ino_t ctl_ino;
static struct timespec ctl_mtime;

static void reload(void) {
    const char *ctl = getenv("SMSPROBE_FSFAULT_CTL");
    struct stat st;
    if (ctl == NULL || stat(ctl, &st) != 0) return;
    pthread_mutex_lock(&mu);
    if (st.st_ino != ctl_ino || st.st_mtim.tv_sec != ctl_mtime.tv_sec ||
        st.st_mtim.tv_nsec != ctl_mtime.tv_nsec) {
        FILE *f = fopen(ctl, "r");
        if (f != NULL) {
            char line[1200];
            prefix[0] = 0;
            fsync_delay_ms = 0;
            fsync_errno = 0;
            write_errno = 0;
            while (fgets(line, sizeof line, f) != NULL) {
                line[strcspn(line, "\r\n")] = 0;
                if (strncmp(line, "prefix=", 7) == 0) {
                    snprintf(prefix, sizeof prefix, "%s", line + 7);
                } else if (strncmp(line, "fsync_delay_ms=", 15) == 0) {
                    fsync_delay_ms = atol(line + 15);
                } else if (strncmp(line, "fsync_errno=", 12) == 0) {
                    fsync_errno = atoi(line + 12);
                } else if (strncmp(line, "write_errno=", 12) == 0) {
                    write_errno = atoi(line + 12);
                }
            }
            fclose(f);
            ctl_ino = st.st_ino;
            ctl_mtime = st.st_mtim;
        }
    }
    pthread_mutex_unlock(&mu);
}

static int targeted(int fd) {
    char link[64], path[1024];
    ssize_t n;
    size_t len = strlen(prefix);
    if (len == 0) return 0;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return 0;
    path[n] = 0;
    return strncmp(path, prefix, len) == 0;
}

static int write_fault(int fd) {
    reload();
    if (write_errno != 0 && targeted(fd)) {
        errno = write_errno;
        return 1;
    }
    return 0;
}

static int sync_fault(int fd) {
    reload();
    if (!targeted(fd)) return 0;
    if (fsync_delay_ms > 0) {
        struct timespec ts = {fsync_delay_ms / 1000, (fsync_delay_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
    if (fsync_errno != 0) {
        errno = fsync_errno;
        return 1;
    }
    return 0;
}

#define REAL(name) static __typeof__(name) *real; if (real == NULL) real = dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void *buf, size_t n) {
    REAL(write);
    if (write_fault(fd)) return -1;
    return real(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
    REAL(pwrite);
    if (write_fault(fd)) return -1;
    return real(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off) {
    REAL(pwrite64);
    if (write_fault(fd)) return -1;
    return real(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
    REAL(writev);
    if (write_fault(fd)) return -1;
    return real(fd, iov, cnt);
}

int fsync(int fd) {
    REAL(fsync);
    if (sync_fault(fd)) return -1;
    return real(fd);
}

int fdatasync(int fd) {
    REAL(fdatasync);
    if (sync_fault(fd)) return -1;
    return real(fd);
}
