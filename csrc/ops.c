/*
 * The synchronous operations: send, mask, wait, signalfd. Each is one thin
 * layer over its syscall; the GIL is released around every call by cffi.
 */
#include "internal.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#ifdef FS_HAVE_SIGNALFD_H
#include <sys/signalfd.h>
#endif

/* glibc's sigqueue() spends a getpid() and a getuid() per call to fill the
 * sender fields; we keep them here and refresh them in every forked child so a
 * child never sends with its parent's pid (os.fork() runs atfork handlers).
 * A process that changes its real uid later (setuid) keeps sending its old uid
 * until its next fork: SI_QUEUE sender fields are the sender's own word anyway,
 * and the kernel checks permission against the real credentials. */
static _Atomic int32_t self_pid;
static _Atomic uint32_t self_uid;
/* The calling thread's kernel id, 0 until a send to the calling thread needs
 * it; the thread that forks gets a new one in the child, where this runs. */
static _Thread_local int32_t self_tid;

static void refresh_identity(void)
{
    atomic_store(&self_pid, (int32_t)getpid());
    atomic_store(&self_uid, (uint32_t)getuid());
    self_tid = 0;
}

__attribute__((constructor)) static void ops_init(void)
{
    refresh_identity();
    pthread_atfork(NULL, NULL, refresh_identity);
}

unsigned fs_features(void)
{
    unsigned features = 0;
#ifdef FS_HAVE_SIGNALFD_H
    features |= FS_HAVE_SIGNALFD;
#endif
#ifdef FS_HAVE_PIDFD_SEND_SIGNAL
    features |= FS_HAVE_PIDFD;
#endif
#ifdef FS_HAVE_PTHREAD_SIGQUEUE_FN
    features |= FS_HAVE_PTHREAD_SIGQUEUE;
#endif
#ifdef FS_HAVE_TIMER_SYSCALLS
    features |= FS_HAVE_TIMER;
#endif
#ifdef FS_HAVE_F_SETSIG
    features |= FS_HAVE_SETSIG;
#endif
#ifdef FS_HAVE_PIDFD_OPEN_SYSCALL
    features |= FS_HAVE_PIDFD_OPEN;
#endif
#ifdef FS_HAVE_PR_PDEATHSIG
    features |= FS_HAVE_PDEATHSIG;
#endif
    return features;
}

int fs_sigrtmin(void)
{
#ifdef SIGRTMIN
    return SIGRTMIN;
#else
    return 0;
#endif
}

int fs_sigrtmax(void)
{
#ifdef SIGRTMAX
    return SIGRTMAX;
#else
    return 0;
#endif
}

const char *fs_strsignal(int sig)
{
    return strsignal(sig);
}

/* On little-endian Linux the first 64 bits of a sigset_t are exactly our mask
 * (bit n-1 is signal n, in 64- or 32-bit words), so a copy replaces 64 calls of
 * sigaddset/sigismember on every mask and wait. Elsewhere, the portable loop. */
#if defined(__linux__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FS_SIGSET_IS_MASK 1
#endif

int fs_mask_to_sigset(uint64_t mask, sigset_t *set)
{
    sigemptyset(set);
#ifdef FS_SIGSET_IS_MASK
    _Static_assert(sizeof(sigset_t) >= sizeof mask, "sigset_t holds 64 signals");
    memcpy(set, &mask, sizeof mask);
#else
    for (int sig = 1; sig < FS_NSIG; sig++) {
        if ((mask >> (sig - 1)) & 1u) {
            if (sigaddset(set, sig) < 0)
                return -1;
        }
    }
#endif
    return 0;
}

uint64_t fs_sigset_to_mask(const sigset_t *set)
{
    uint64_t mask = 0;
#ifdef FS_SIGSET_IS_MASK
    memcpy(&mask, set, sizeof mask);
#else
    for (int sig = 1; sig < FS_NSIG; sig++) {
        if (sigismember(set, sig) == 1)
            mask |= (uint64_t)1 << (sig - 1);
    }
#endif
    return mask;
}

static struct timespec timespec_from_ns(int64_t ns)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ts;
}

/* pthread functions return the error instead of setting errno. */
static int from_pthread(int rc)
{
    if (rc == 0)
        return 0;
    errno = rc;
    return -1;
}

/* ---- sending ------------------------------------------------------------ */

int fs_kill(int32_t pid, int sig)
{
    return kill((pid_t)pid, sig);
}

/* A signal to the calling thread in one tgkill: glibc's raise() and
 * pthread_kill(pthread_self()) ask the kernel for the pid and the tid first
 * (two more syscalls), which the cache above holds. The signal is delivered
 * before the syscall returns, as with raise(). */
static int kill_self_thread(int sig)
{
#if defined(SYS_tgkill) && defined(SYS_gettid)
    if (self_tid == 0)
        self_tid = FS_GETTID();
    return (int)syscall(SYS_tgkill, (pid_t)atomic_load_explicit(&self_pid, memory_order_relaxed),
                        (pid_t)self_tid, sig);
#else
    return raise(sig) == 0 ? 0 : -1;
#endif
}

int fs_raise(int sig)
{
    return kill_self_thread(sig);
}

#ifdef FS_HAVE_RT_SIGQUEUEINFO
static void queued_siginfo(siginfo_t *si, int sig, int64_t value)
{
    memset(si, 0, sizeof *si);
    si->si_signo = sig;
    si->si_code = SI_QUEUE;
    si->si_pid = (pid_t)atomic_load_explicit(&self_pid, memory_order_relaxed);
    si->si_uid = (uid_t)atomic_load_explicit(&self_uid, memory_order_relaxed);
    si->si_value.sival_ptr = (void *)(intptr_t)value;
}
#endif

int fs_sigqueue(int32_t pid, int sig, int64_t value)
{
#ifdef FS_HAVE_RT_SIGQUEUEINFO
    siginfo_t si;
    queued_siginfo(&si, sig, value);
    return (int)syscall(SYS_rt_sigqueueinfo, (pid_t)pid, sig, &si);
#else
    union sigval v;
    v.sival_ptr = (void *)(intptr_t)value;
    return sigqueue((pid_t)pid, sig, v);
#endif
}

/* Backoff while the receiver's queue is full (EAGAIN at RLIMIT_SIGPENDING):
 * yield first, then sleep, doubling up to 1 ms, never past the deadline. */
struct backoff {
    int64_t deadline_ns; /* < 0: none */
    int64_t sleep_ns;
};

static int backoff_wait(struct backoff *b)
{
    int64_t now = fs_monotonic_ns();
    if (b->deadline_ns >= 0 && now >= b->deadline_ns)
        return -1;
    if (b->sleep_ns == 0) {
        sched_yield();
        b->sleep_ns = 1000;
        return 0;
    }
    int64_t nap = b->sleep_ns;
    if (b->deadline_ns >= 0 && nap > b->deadline_ns - now)
        nap = b->deadline_ns - now;
    struct timespec ts = timespec_from_ns(nap);
    nanosleep(&ts, NULL);
    if (b->sleep_ns < 1000000)
        b->sleep_ns *= 2;
    return 0;
}

/* values == NULL sends first, first+1, ... */
static int queue_many(int32_t pid, int sig, const int64_t *values, int64_t first,
                      size_t n, int64_t timeout_ns, size_t *sent)
{
    struct backoff b = {timeout_ns < 0 ? -1 : fs_monotonic_ns() + timeout_ns, 0};
    size_t i = 0;
    int rc = 0;
    while (i < n) {
        int64_t value = values ? values[i] : first + (int64_t)i;
        if (fs_sigqueue(pid, sig, value) == 0) {
            i++;
            b.sleep_ns = 0;
            continue;
        }
        if (errno != EAGAIN) {
            rc = -1;
            break;
        }
        if (timeout_ns == 0 || backoff_wait(&b) < 0) {
            errno = EAGAIN;
            rc = -1;
            break;
        }
    }
    *sent = i;
    return rc;
}

int fs_sigqueue_many(int32_t pid, int sig, const int64_t *values, size_t n,
                     int64_t timeout_ns, size_t *sent)
{
    return queue_many(pid, sig, values, 0, n, timeout_ns, sent);
}

int fs_sigqueue_range(int32_t pid, int sig, int64_t first, size_t n,
                      int64_t timeout_ns, size_t *sent)
{
    return queue_many(pid, sig, NULL, first, n, timeout_ns, sent);
}

int fs_pthread_kill(unsigned long thread, int sig)
{
    if (pthread_equal((pthread_t)thread, pthread_self()))
        return kill_self_thread(sig);
    return from_pthread(pthread_kill((pthread_t)thread, sig));
}

int fs_pthread_sigqueue(unsigned long thread, int sig, int64_t value)
{
#ifdef FS_HAVE_PTHREAD_SIGQUEUE_FN
    union sigval v;
    v.sival_ptr = (void *)(intptr_t)value;
    return from_pthread(pthread_sigqueue((pthread_t)thread, sig, v));
#else
    (void)thread; (void)sig; (void)value;
    errno = ENOSYS;
    return -1;
#endif
}

/* pthread_sigqueue() by the thread's kernel id (0: the calling thread): glibc's
 * own spends a getpid() and a getuid() per call on the sender fields, which the
 * cache above holds. */
int fs_tgsigqueue(int32_t tid, int sig, int64_t value)
{
#if defined(FS_HAVE_RT_SIGQUEUEINFO) && defined(SYS_rt_tgsigqueueinfo)
    siginfo_t si;
    if (tid == 0) {
        if (self_tid == 0)
            self_tid = FS_GETTID();
        tid = self_tid;
    }
    queued_siginfo(&si, sig, value);
    return (int)syscall(SYS_rt_tgsigqueueinfo, (pid_t)atomic_load(&self_pid), (pid_t)tid, sig, &si);
#else
    (void)tid; (void)sig; (void)value;
    errno = ENOSYS;
    return -1;
#endif
}

/* flags: 0 or one FS_PIDFD_SIGNAL_* scope (Linux 6.9+; older kernels: EINVAL). */
int fs_pidfd_send_signal(int pidfd, int sig, int with_value, int64_t value, unsigned flags)
{
#ifdef FS_HAVE_PIDFD_SEND_SIGNAL
    siginfo_t si;
    if (with_value)
        queued_siginfo(&si, sig, value);
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, with_value ? &si : NULL, flags);
#else
    (void)pidfd; (void)sig; (void)with_value; (void)value; (void)flags;
    errno = ENOSYS;
    return -1;
#endif
}

/* ---- masks -------------------------------------------------------------- */

int fs_pthread_sigmask(int how, uint64_t set, uint64_t *old)
{
    sigset_t new_set, old_set;
    if (fs_mask_to_sigset(set, &new_set) < 0)
        return -1;
    if (from_pthread(pthread_sigmask(how, &new_set, &old_set)) < 0)
        return -1;
    *old = fs_sigset_to_mask(&old_set);
    return 0;
}

int fs_sigprocmask(int how, uint64_t set, uint64_t *old)
{
    sigset_t new_set, old_set;
    if (fs_mask_to_sigset(set, &new_set) < 0)
        return -1;
    if (sigprocmask(how, &new_set, &old_set) < 0)
        return -1;
    *old = fs_sigset_to_mask(&old_set);
    return 0;
}

int fs_sigpending(uint64_t *set)
{
    sigset_t pending;
    if (sigpending(&pending) < 0)
        return -1;
    *set = fs_sigset_to_mask(&pending);
    return 0;
}

/* ---- waiting ------------------------------------------------------------ */

static int wait_one(const sigset_t *set, siginfo_t *si, int64_t timeout_ns)
{
    if (timeout_ns < 0)
        return sigwaitinfo(set, si);
    struct timespec ts = timespec_from_ns(timeout_ns);
    return sigtimedwait(set, si, &ts);
}

/* Block for the first signal, then take what is already pending, up to max,
 * without blocking again: one crossing from Python for a whole burst. */
int fs_sigwaitinfo_many(uint64_t set, fs_info *out, int max, int64_t timeout_ns)
{
    sigset_t wait_set;
    siginfo_t si;
    if (max < 1 || fs_mask_to_sigset(set, &wait_set) < 0) {
        errno = EINVAL;
        return -1;
    }
    if (wait_one(&wait_set, &si, timeout_ns) < 0)
        return errno == EAGAIN ? 0 : -1;
    fs_info_from_siginfo(&si, &out[0]);
    int n = 1;
    while (n < max && wait_one(&wait_set, &si, 0) > 0)
        fs_info_from_siginfo(&si, &out[n++]);
    return n;
}

/* One round trip of a ping-pong in one crossing. -1: the send failed,
 * -2: the wait failed; errno says why. */
int fs_exchange_once(const fs_exchange *x, fs_info *out)
{
    if (fs_sigqueue(x->pid, x->sig, x->value) < 0)
        return -1;
    int n = fs_sigwaitinfo_many(x->wait_set, out, 1, x->timeout_ns);
    return n < 0 ? -2 : n;
}

/* ---- signalfd ----------------------------------------------------------- */

#ifdef FS_HAVE_SIGNALFD_H
int fs_signalfd(int fd, uint64_t set, int nonblock)
{
    sigset_t sigs;
    if (fs_mask_to_sigset(set, &sigs) < 0)
        return -1;
    return signalfd(fd, &sigs, SFD_CLOEXEC | (nonblock ? SFD_NONBLOCK : 0));
}

size_t fs_signalfd_record_size(void)
{
    return sizeof(struct signalfd_siginfo);
}

static void fs_info_from_signalfd(const struct signalfd_siginfo *s, fs_info *info)
{
    info->signo = (int32_t)s->ssi_signo;
    info->code = s->ssi_code;
    info->err = s->ssi_errno;
    info->pid = (int32_t)s->ssi_pid;
    info->uid = s->ssi_uid;
    info->status = s->ssi_status;
    info->fd = s->ssi_fd;
    info->tid = 0;
    info->timerid = (int32_t)s->ssi_tid;
    info->overrun = (int32_t)s->ssi_overrun;
    info->band = (int64_t)s->ssi_band;
    info->value = (int64_t)s->ssi_ptr;
    info->addr = s->ssi_addr;
    info->time_ns = 0;
    fs_info_keep_valid(info);
}

/* One read(): the kernel hands over as many records as fit in scratch. */
int fs_signalfd_read(int fd, void *scratch, size_t scratch_len, fs_info *out)
{
    ssize_t got = read(fd, scratch, scratch_len);
    if (got < 0)
        return errno == EAGAIN ? 0 : -1;
    const struct signalfd_siginfo *records = scratch;
    int n = (int)((size_t)got / sizeof *records);
    for (int i = 0; i < n; i++)
        fs_info_from_signalfd(&records[i], &out[i]);
    return n;
}
#else
int fs_signalfd(int fd, uint64_t set, int nonblock)
{
    (void)fd; (void)set; (void)nonblock;
    errno = ENOSYS;
    return -1;
}

size_t fs_signalfd_record_size(void)
{
    return 0;
}

int fs_signalfd_read(int fd, void *scratch, size_t scratch_len, fs_info *out)
{
    (void)fd; (void)scratch; (void)scratch_len; (void)out;
    errno = ENOSYS;
    return -1;
}
#endif

/* ---- the table for fastsig._fast ---------------------------------------- */

static const fs_api api = {
    sizeof(fs_api),
    fs_sigqueue,
    fs_kill,
    fs_raise,
    fs_pthread_kill,
    fs_pthread_sigqueue,
    fs_tgsigqueue,
    fs_pthread_sigmask,
    fs_sigpending,
    fs_sigwaitinfo_many,
    fs_exchange_once,
    fs_signalfd_read,
    fs_signalfd_record_size,
    fs_ring_drain,
    fs_ring_wait,
    fs_ring_closing,
    fs_ring_enter,
    fs_ring_leave,
    fs_ring_take,
};

uintptr_t fs_api_address(void)
{
    return (uintptr_t)&api;
}
