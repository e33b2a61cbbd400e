/*
 * Kernel signal sources and the supervisor's tools: POSIX timers, fd readiness
 * (F_SETSIG), pidfd_open and the parent-death signal. Each is a thin layer
 * over its syscall, called from Python with the GIL released; none runs in a
 * signal handler.
 *
 * Timers are created with the raw syscalls rather than the C library's
 * timer_create(): the kernel's timer id is then the handle itself (the number
 * that si_timerid reports), SIGEV_THREAD_ID needs no C-library field names
 * (glibc and musl spell them differently), and nothing needs librt (glibc
 * before 2.34 keeps timer_create() there).
 */
#include "internal.h"

/* Linux 6.9's thread pidfds (uapi/linux/pidfd.h): PIDFD_THREAD is O_EXCL. */
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

/* The constants fastsig.h states are the kernel's, where the headers know them. */
#ifdef __linux__
_Static_assert(FS_CLOCK_REALTIME == CLOCK_REALTIME, "clock ids");
_Static_assert(FS_CLOCK_MONOTONIC == CLOCK_MONOTONIC, "clock ids");
_Static_assert(FS_CLOCK_PROCESS_CPUTIME == CLOCK_PROCESS_CPUTIME_ID, "clock ids");
_Static_assert(FS_CLOCK_THREAD_CPUTIME == CLOCK_THREAD_CPUTIME_ID, "clock ids");
#ifdef CLOCK_BOOTTIME
_Static_assert(FS_CLOCK_BOOTTIME == CLOCK_BOOTTIME, "clock ids");
#endif
#endif
#ifdef PIDFD_SIGNAL_THREAD
_Static_assert(FS_PIDFD_SIGNAL_THREAD == PIDFD_SIGNAL_THREAD, "pidfd scopes");
_Static_assert(FS_PIDFD_SIGNAL_THREAD_GROUP == PIDFD_SIGNAL_THREAD_GROUP, "pidfd scopes");
_Static_assert(FS_PIDFD_SIGNAL_PROCESS_GROUP == PIDFD_SIGNAL_PROCESS_GROUP, "pidfd scopes");
#endif

static inline int unsupported(void)
{
    errno = ENOSYS;
    return -1;
}

/* ---- POSIX timers -------------------------------------------------------- */

#ifdef FS_HAVE_TIMER_SYSCALLS
#ifndef SIGEV_THREAD_ID
#define SIGEV_THREAD_ID 4
#endif

/* The kernel's struct sigevent (uapi/asm-generic/siginfo.h): 64 bytes, the
 * thread id right after the value, signal number and notify kind. */
struct kernel_sigevent {
    union sigval value;
    int signo;
    int notify;
    union {
        int pad[(64 - 2 * sizeof(int) - sizeof(union sigval)) / sizeof(int)];
        int tid;
    } un;
};
_Static_assert(sizeof(struct kernel_sigevent) == 64, "the kernel's sigevent is 64 bytes");

/* The timespec and itimerspec of these syscalls, with a long for the seconds
 * whatever the C library's time_t is (a 32-bit system with a 64-bit time_t
 * would need the *_time64 syscalls for its own struct). Durations are
 * relative here, so a long of seconds is plenty. */
struct kernel_timespec {
    long sec;
    long nsec;
};
struct kernel_itimerspec {
    struct kernel_timespec interval;
    struct kernel_timespec value;
};

static struct kernel_timespec ts_of(int64_t ns)
{
    struct kernel_timespec ts;
    ts.sec = (long)(ns / 1000000000);
    ts.nsec = (long)(ns % 1000000000);
    return ts;
}

static int64_t ns_of(const struct kernel_timespec *ts)
{
    return (int64_t)ts->sec * 1000000000 + ts->nsec;
}

int fs_timer_create(int clock, int sig, int64_t value, int32_t tid, int32_t *timerid)
{
    struct kernel_sigevent ev;
    int id = -1;
    memset(&ev, 0, sizeof ev);
    ev.value.sival_ptr = (void *)(intptr_t)value;
    ev.signo = sig;
    ev.notify = tid ? SIGEV_SIGNAL | SIGEV_THREAD_ID : SIGEV_SIGNAL;
    ev.un.tid = tid;
    if (syscall(SYS_timer_create, (clockid_t)clock, &ev, &id) < 0)
        return -1;
    *timerid = id;
    return 0;
}

int fs_timer_settime(int32_t timerid, int64_t initial_ns, int64_t interval_ns)
{
    struct kernel_itimerspec spec;
    spec.value = ts_of(initial_ns);
    spec.interval = ts_of(interval_ns);
    return (int)syscall(SYS_timer_settime, timerid, 0, &spec, NULL);
}

int fs_timer_gettime(int32_t timerid, int64_t *remaining_ns, int64_t *interval_ns)
{
    struct kernel_itimerspec spec;
    if (syscall(SYS_timer_gettime, timerid, &spec) < 0)
        return -1;
    *remaining_ns = ns_of(&spec.value);
    *interval_ns = ns_of(&spec.interval);
    return 0;
}

int fs_timer_getoverrun(int32_t timerid)
{
    return (int)syscall(SYS_timer_getoverrun, timerid);
}

int fs_timer_delete(int32_t timerid)
{
    return (int)syscall(SYS_timer_delete, timerid);
}
#else
int fs_timer_create(int clock, int sig, int64_t value, int32_t tid, int32_t *timerid)
{
    (void)clock; (void)sig; (void)value; (void)tid; (void)timerid;
    return unsupported();
}

int fs_timer_settime(int32_t timerid, int64_t initial_ns, int64_t interval_ns)
{
    (void)timerid; (void)initial_ns; (void)interval_ns;
    return unsupported();
}

int fs_timer_gettime(int32_t timerid, int64_t *remaining_ns, int64_t *interval_ns)
{
    (void)timerid; (void)remaining_ns; (void)interval_ns;
    return unsupported();
}

int fs_timer_getoverrun(int32_t timerid)
{
    (void)timerid;
    return unsupported();
}

int fs_timer_delete(int32_t timerid)
{
    (void)timerid;
    return unsupported();
}
#endif

/* ---- fd readiness: F_SETSIG ---------------------------------------------- */

/* Owner and signal first, O_ASYNC last, so no plain SIGIO slips out between. */
int fs_notify_fd(int fd, int sig, int32_t tid)
{
#ifdef FS_HAVE_F_SETSIG
    struct f_owner_ex owner;
    owner.type = tid ? F_OWNER_TID : F_OWNER_PID;
    owner.pid = tid ? (pid_t)tid : getpid();
    if (fcntl(fd, F_SETOWN_EX, &owner) < 0 || fcntl(fd, F_SETSIG, sig) < 0)
        return -1;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_ASYNC) < 0 ? -1 : 0;
#else
    (void)fd; (void)sig; (void)tid;
    return unsupported();
#endif
}

int fs_stop_notify(int fd)
{
#ifdef FS_HAVE_F_SETSIG
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_ASYNC) < 0)
        return -1;
    return fcntl(fd, F_SETSIG, 0) < 0 ? -1 : 0;
#else
    (void)fd;
    return unsupported();
#endif
}

/* ---- pidfd_open ----------------------------------------------------------- */

int fs_pidfd_open(int32_t pid, int thread)
{
#ifdef FS_HAVE_PIDFD_OPEN_SYSCALL
    return (int)syscall(SYS_pidfd_open, (pid_t)pid, thread ? (unsigned)PIDFD_THREAD : 0u);
#else
    (void)pid; (void)thread;
    return unsupported();
#endif
}

/* ---- the parent-death signal ---------------------------------------------- */

int fs_set_pdeathsig(int sig)
{
#ifdef FS_HAVE_PR_PDEATHSIG
    return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0UL, 0UL, 0UL);
#else
    (void)sig;
    return unsupported();
#endif
}

int fs_get_pdeathsig(int *sig)
{
#ifdef FS_HAVE_PR_PDEATHSIG
    return prctl(PR_GET_PDEATHSIG, sig, 0UL, 0UL, 0UL);
#else
    *sig = 0;
    return unsupported();
#endif
}
