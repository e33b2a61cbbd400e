/*
 * The pure-C yardsticks of the benchmark (see refbench.h). Independent of the
 * rest of the core on purpose: a reference that shared fastsig's code could not
 * tell fastsig's overhead from its own.
 */
#include "internal.h"
#include "refbench.h"

#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#ifdef FS_HAVE_SIGNALFD_H
#include <sys/signalfd.h>
#endif

/* Records read per signalfd read(); the same batch the Python paths use. */
#define REF_BATCH 256

static int64_t ref_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timespec ref_timespec(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    return ts;
}

/* ---- sending ------------------------------------------------------------ */

/* What the best C sender does: fill a SI_QUEUE siginfo once and issue one
 * rt_sigqueueinfo per value. glibc's sigqueue() adds getpid() and getuid(). */
struct ref_sender {
    int32_t pid;
    int glibc;
    int kill;
#ifdef FS_HAVE_RT_SIGQUEUEINFO
    siginfo_t si;
#endif
};

static void sender_init(struct ref_sender *s, int32_t pid, int flags)
{
    memset(s, 0, sizeof *s);
    s->pid = pid;
    s->glibc = (flags & FS_REF_GLIBC) != 0;
    s->kill = (flags & FS_REF_KILL) != 0;
#ifdef FS_HAVE_RT_SIGQUEUEINFO
    s->si.si_code = SI_QUEUE;
    s->si.si_pid = getpid();
    s->si.si_uid = getuid();
#else
    s->glibc = 1;
#endif
}

static int send_one(struct ref_sender *s, int sig, int64_t value)
{
    if (s->kill)
        return kill((pid_t)s->pid, sig);
#ifdef FS_HAVE_RT_SIGQUEUEINFO
    if (!s->glibc) {
        s->si.si_signo = sig;
        s->si.si_value.sival_ptr = (void *)(intptr_t)value;
        return (int)syscall(SYS_rt_sigqueueinfo, (pid_t)s->pid, sig, &s->si);
    }
#endif
    union sigval v;
    v.sival_ptr = (void *)(intptr_t)value;
    return sigqueue((pid_t)s->pid, sig, v);
}

/* A full queue (EAGAIN at RLIMIT_SIGPENDING) is backpressure. Retrying at
 * once would hammer the receiver's signal lock while it dequeues (measured:
 * the receiver then runs several times slower); a queue that full holds
 * milliseconds of work, so nap instead, 10 us doubling to 1 ms. */
static int send_retrying(struct ref_sender *s, int sig, int64_t value, uint64_t *eagain)
{
    int64_t nap_ns = 10000;
    for (;;) {
        if (send_one(s, sig, value) == 0)
            return 0;
        if (errno != EAGAIN)
            return -1;
        (*eagain)++;
        struct timespec nap = ref_timespec(nap_ns);
        nanosleep(&nap, NULL);
        if (nap_ns < 1000000)
            nap_ns *= 2;
    }
}

int fs_ref_flood(int32_t pid, int sig, uint64_t n, int end_sig, int flags,
                 fs_ref_sent *out)
{
    struct ref_sender s;
    sender_init(&s, pid, flags);
    memset(out, 0, sizeof *out);
    out->start_ns = ref_now();
    for (uint64_t i = 0; i < n; i++) {
        if (send_retrying(&s, sig, (int64_t)i, &out->eagain) < 0) {
            out->end_ns = ref_now();
            return -1;
        }
        out->sent++;
    }
    out->end_ns = ref_now();
    if (end_sig > 0 && send_retrying(&s, end_sig, -1, &out->eagain) < 0)
        return -1;
    return 0;
}

/* ---- receiving ---------------------------------------------------------- */

/* Accounting shared by every receiver. Atomics because the handler receiver
 * updates it from signal context; relaxed order suffices (one writer at a
 * time, read after the flood ends) and costs plain moves on x86. */
struct tally {
    uint64_t n;
    _Atomic uint64_t *seen;     /* bitmap of values 0..n-1 */
    _Atomic int64_t expected;   /* previous value + 1 */
    _Atomic uint64_t received, unique, out_of_order, duplicates, foreign;
    _Atomic int64_t first_ns, last_ns, end_ns;
    int64_t start_ns;
    int sig, end_sig;
};

static int tally_init(struct tally *t, int sig, int end_sig, uint64_t n)
{
    memset(t, 0, sizeof *t);
    t->n = n;
    t->sig = sig;
    t->end_sig = end_sig;
    t->seen = calloc(n / 64 + 1, sizeof *t->seen);
    return t->seen ? 0 : -1;
}

/* Async-signal-safe: atomics and clock_gettime only. Returns 1 at the end. */
static int tally_add(struct tally *t, int sig, int64_t value)
{
    int64_t now = ref_now();
    if (sig == t->end_sig && value == -1) {
        atomic_store_explicit(&t->end_ns, now, memory_order_relaxed);
        return 1;
    }
    if (sig != t->sig)
        return 0;
    if (atomic_fetch_add_explicit(&t->received, 1, memory_order_relaxed) == 0)
        atomic_store_explicit(&t->first_ns, now, memory_order_relaxed);
    atomic_store_explicit(&t->last_ns, now, memory_order_relaxed);
    if (atomic_exchange_explicit(&t->expected, value + 1, memory_order_relaxed) != value)
        atomic_fetch_add_explicit(&t->out_of_order, 1, memory_order_relaxed);
    if (value < 0 || (uint64_t)value >= t->n) {
        atomic_fetch_add_explicit(&t->foreign, 1, memory_order_relaxed);
        return 0;
    }
    uint64_t bit = (uint64_t)1 << (value % 64);
    if (atomic_fetch_or_explicit(&t->seen[value / 64], bit, memory_order_relaxed) & bit)
        atomic_fetch_add_explicit(&t->duplicates, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&t->unique, 1, memory_order_relaxed);
    return 0;
}

static void tally_finish(struct tally *t, fs_ref_recv *out)
{
    out->received = atomic_load(&t->received);
    out->unique = atomic_load(&t->unique);
    out->out_of_order = atomic_load(&t->out_of_order);
    out->duplicates = atomic_load(&t->duplicates);
    out->foreign = atomic_load(&t->foreign);
    out->first_ns = atomic_load(&t->first_ns);
    out->last_ns = atomic_load(&t->last_ns);
    out->end_ns = atomic_load(&t->end_ns);
    out->start_ns = t->start_ns;
    free(t->seen);
    t->seen = NULL;
}

static void say_ready(int ready_fd)
{
    if (ready_fd >= 0) {
        char byte = 'r';
        ssize_t ignored = write(ready_fd, &byte, 1);
        (void)ignored;
    }
}

static int block_both(const struct tally *t, sigset_t *set, sigset_t *old)
{
    sigemptyset(set);
    sigaddset(set, t->sig);
    sigaddset(set, t->end_sig);
    return sigprocmask(SIG_BLOCK, set, old);
}

static int receive_sigwaitinfo(struct tally *t, int64_t idle_ns, int ready_fd)
{
    sigset_t set, old;
    if (block_both(t, &set, &old) < 0)
        return -1;
    say_ready(ready_fd);
    struct timespec idle = ref_timespec(idle_ns);
    siginfo_t si;
    int rc = 0;
    t->start_ns = ref_now();
    for (;;) {
        int sig = sigtimedwait(&set, &si, &idle);
        if (sig < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                rc = -1;
            break;
        }
        if (tally_add(t, sig, (int64_t)(intptr_t)si.si_value.sival_ptr))
            break;
    }
    int saved = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return rc;
}

#ifdef FS_HAVE_SIGNALFD_H
static int receive_signalfd(struct tally *t, int64_t idle_ns, int ready_fd)
{
    sigset_t set, old;
    if (block_both(t, &set, &old) < 0)
        return -1;
    int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0)
        return -1;
    say_ready(ready_fd);
    struct signalfd_siginfo records[REF_BATCH];
    int rc = 0, done = 0;
    t->start_ns = ref_now();
    while (!done) {
        ssize_t got = read(fd, records, sizeof records);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN) {
                rc = -1;
                break;
            }
            /* Poll only when the queue ran dry: a flood costs one read() per batch. */
            struct pollfd pfd = {fd, POLLIN, 0};
            int ready = poll(&pfd, 1, (int)(idle_ns / 1000000));
            if (ready == 0)
                break;
            if (ready < 0 && errno != EINTR) {
                rc = -1;
                break;
            }
            continue;
        }
        size_t count = (size_t)got / sizeof records[0];
        for (size_t i = 0; i < count && !done; i++)
            done = tally_add(t, (int)records[i].ssi_signo, (int64_t)records[i].ssi_ptr);
    }
    int saved = errno;
    close(fd);
    sigprocmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return rc;
}
#endif

/* The handler receiver's tally: a handler has no argument to find it by. Only
 * one handler receive runs at a time in a process (ref_busy guards it). */
static _Atomic(struct tally *) ref_active;
static _Atomic int ref_busy;

static void ref_on_signal(int sig, siginfo_t *si, void *context)
{
    (void)context;
    int saved_errno = errno;
    struct tally *t = atomic_load(&ref_active);
    if (t)
        tally_add(t, sig, (int64_t)(intptr_t)si->si_value.sival_ptr);
    errno = saved_errno;
}

/* The best handler C can have: after its own delivery, it takes every further
 * pending signal of its set with a zero timeout, while both are blocked (its
 * sa_mask), so the kernel hands them over without a signal frame each. */
static sigset_t ref_take_set;

static void ref_on_signal_take(int sig, siginfo_t *si, void *context)
{
    (void)context;
    int saved_errno = errno;
    struct tally *t = atomic_load(&ref_active);
    if (t) {
        tally_add(t, sig, (int64_t)(intptr_t)si->si_value.sival_ptr);
        struct timespec zero = {0, 0};
        siginfo_t more;
        for (;;) {
#ifdef SYS_rt_sigtimedwait
            int got = (int)syscall(SYS_rt_sigtimedwait, &ref_take_set, &more, &zero,
                                   (size_t)(_NSIG - 1) / 8);
#else
            int got = sigtimedwait(&ref_take_set, &more, &zero);
#endif
            if (got <= 0)
                break;
            tally_add(t, got, (int64_t)(intptr_t)more.si_value.sival_ptr);
        }
    }
    errno = saved_errno;
}

static int receive_handler(struct tally *t, int64_t idle_ns, int ready_fd, int take)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&ref_busy, &expected, 1)) {
        errno = EBUSY;
        return -1;
    }
    struct sigaction sa, old_sig, old_end;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = take ? ref_on_signal_take : ref_on_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    /* Both blocked while either handler runs: the end marker cannot overtake
     * a pending value by nesting, so it is counted last. */
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, t->sig);
    sigaddset(&sa.sa_mask, t->end_sig);
    ref_take_set = sa.sa_mask;
    sigset_t set, old_mask;
    int rc = -1;
    atomic_store(&ref_active, t);
    if (sigaction(t->sig, &sa, &old_sig) < 0)
        goto out;
    if (sigaction(t->end_sig, &sa, &old_end) < 0)
        goto restore_sig;
    sigemptyset(&set);
    sigaddset(&set, t->sig);
    sigaddset(&set, t->end_sig);
    t->start_ns = ref_now();
    if (sigprocmask(SIG_UNBLOCK, &set, &old_mask) < 0)
        goto restore_end;
    say_ready(ready_fd);
    /* Nap and look: the handler does all the work, interrupting the nap. */
    int64_t last_seen = ref_now();
    uint64_t last_count = 0;
    struct timespec nap = ref_timespec(1000000);
    while (atomic_load_explicit(&t->end_ns, memory_order_relaxed) == 0) {
        nanosleep(&nap, NULL);
        uint64_t count = atomic_load_explicit(&t->received, memory_order_relaxed);
        int64_t now = ref_now();
        if (count != last_count) {
            last_count = count;
            last_seen = now;
        } else if (now - last_seen > idle_ns) {
            break;
        }
    }
    sigprocmask(SIG_BLOCK, &set, NULL);
    rc = 0;
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
restore_end:
    sigaction(t->end_sig, &old_end, NULL);
restore_sig:
    sigaction(t->sig, &old_sig, NULL);
out:;
    int saved = errno;
    atomic_store(&ref_active, NULL);
    atomic_store(&ref_busy, 0);
    errno = saved;
    return rc;
}

int fs_ref_receive(int kind, int sig, int end_sig, uint64_t n,
                   int64_t idle_timeout_ns, int ready_fd, fs_ref_recv *out)
{
    struct tally t;
    memset(out, 0, sizeof *out);
    if (sig <= 0 || end_sig <= 0 || sig == end_sig || idle_timeout_ns < 0) {
        errno = EINVAL;
        return -1;
    }
    if (tally_init(&t, sig, end_sig, n) < 0)
        return -1;
    int rc;
    switch (kind) {
    case FS_REF_SIGWAITINFO:
        rc = receive_sigwaitinfo(&t, idle_timeout_ns, ready_fd);
        break;
#ifdef FS_HAVE_SIGNALFD_H
    case FS_REF_SIGNALFD:
        rc = receive_signalfd(&t, idle_timeout_ns, ready_fd);
        break;
#endif
    case FS_REF_HANDLER:
    case FS_REF_TAKE:
        rc = receive_handler(&t, idle_timeout_ns, ready_fd, kind == FS_REF_TAKE);
        break;
    default:
        errno = kind == FS_REF_SIGNALFD ? ENOSYS : EINVAL;
        rc = -1;
    }
    int saved = errno;
    tally_finish(&t, out);
    errno = saved;
    return rc;
}

/* ---- ping-pong ---------------------------------------------------------- */

int64_t fs_ref_pingpong(int32_t peer, int send_sig, int wait_sig, uint64_t rounds,
                        int64_t timeout_ns, int64_t *rtt_ns)
{
    struct ref_sender s;
    sender_init(&s, peer, 0);
    sigset_t set;
    sigemptyset(&set);
    if (sigaddset(&set, wait_sig) < 0)
        return -1;
    struct timespec timeout = ref_timespec(timeout_ns < 0 ? 0 : timeout_ns);
    const struct timespec *limit = timeout_ns < 0 ? NULL : &timeout;
    siginfo_t si;
    uint64_t done = 0;
    while (rounds == 0 || done < rounds) {
        int64_t start = 0;
        if (rtt_ns) {
            start = ref_now();
            if (send_one(&s, send_sig, (int64_t)done) < 0)
                return -1;
        }
        int got;
        do
            got = sigtimedwait(&set, &si, limit);
        while (got < 0 && errno == EINTR);
        if (got < 0)
            return errno == EAGAIN ? (int64_t)done : -1;
        if (rtt_ns)
            rtt_ns[done] = ref_now() - start;
        else if (send_one(&s, send_sig, (int64_t)(intptr_t)si.si_value.sival_ptr) < 0)
            return -1;
        done++;
    }
    return (int64_t)done;
}
