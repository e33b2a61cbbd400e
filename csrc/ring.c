/*
 * The asynchronous path: a sigaction(SA_SIGINFO) handler that records every
 * delivery into a lock-free ring, and the reader's side of that ring.
 *
 * The ring is a bounded multi-producer multi-consumer queue (D. Vyukov's
 * design): each slot carries a sequence number saying whose turn it is. A
 * producer claims a slot with one CAS on the tail, writes the record, then
 * publishes it by storing the slot's sequence. This is safe against the same
 * handler running on several threads and against a signal interrupting a
 * handler half-way through a push: the interrupted producer still owns its
 * claimed slot and publishes it when it resumes; readers simply stop at an
 * unpublished slot. A full ring drops a real-time record and counts it; it
 * never blocks and never overwrites. A standard signal is never dropped: the
 * latest one that found the ring full waits beside it (struct parked) and is
 * returned with the next read.
 *
 * Taking what is pending: every delivery costs the kernel a signal frame and
 * a sigreturn, far more than the record. So the handler, after recording its
 * own delivery, takes the further pending signals of its ring with
 * rt_sigtimedwait and a zero timeout, recording each, while the ring has room,
 * at most FS_TAKE_MAX per entry; the kernel delivers the rest as usual. Every
 * signal of a ring is installed with the ring's other signals in its sa_mask,
 * so none of them nests into a handler of the ring: what a handler takes is
 * exactly what the kernel would deliver to that thread next, in the kernel's
 * order. Records of one entry share one gettid() and one clock read.
 *
 * Handler rules: atomics, clock_gettime, write, sigaction and rt_sigtimedwait
 * only; errno saved and restored; no locks, no allocation, no Python.
 */
#include "internal.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <fcntl.h>
#ifdef __linux__
#include <ucontext.h>
#define FS_HAVE_THROTTLE 1
#if defined(SYS_rt_sigtimedwait)
#define FS_HAVE_TAKE_PENDING 1
#endif
#endif

/* Signals below the kernel's SIGRTMIN coalesce while pending: standard ones. */
#define FS_NSTD 32
/* Most pending signals one handler entry takes: enough to pay for its frame
 * many times over, few enough that no thread is held in a handler for long. */
#define FS_TAKE_MAX 256
#ifdef FS_HAVE_EVENTFD_H
#include <sys/eventfd.h>
#endif

struct slot {
    _Atomic uint64_t seq;
    fs_info info;
};

/* The latest record of one standard signal that found the ring full: a triple
 * buffer, so the handler writing it and a reader taking it never wait for each
 * other (either may interrupt the other on one thread). `state` names the
 * published buffer (mid), the reader's (front), and the writer's is the third;
 * a writer publishes by making its buffer mid, a reader takes by swapping mid
 * and front. pos is the ring's tail when the record found it full: it is
 * returned once the reader is past every record claimed before it. */
#define PARK_MID(s) ((s) & 3u)
#define PARK_FRONT(s) (((s) >> 2) & 3u)
#define PARK_FRESH 16u     /* mid holds a record not yet read */
#define PARK_WRITING 32u   /* a handler is filling the third buffer */
#define PARK_READING 64u   /* a reader is copying front */
#define PARK_INITIAL (0u | 1u << 2)

struct parked {
    _Atomic uint32_t state;
    struct {
        _Atomic uint64_t pos;
        fs_info info;
    } buf[3];
};

struct fs_ring {
    uint64_t mask;               /* capacity - 1 */
    int wake_read_fd;            /* what the reader polls; fileno() */
    int wake_write_fd;           /* the same eventfd, or a pipe's write end */
    _Atomic uint64_t tail;       /* next slot producers claim */
    _Atomic uint64_t head;       /* next slot readers take */
    _Atomic int armed;           /* a reader may be asleep: wake it */
    _Atomic int closing;         /* fs_ring_shutdown() ran: hold nothing back */
    _Atomic uint64_t attached;   /* mask of signals routed here */
    _Atomic uint64_t takeable;   /* of those, what a handler may take pending */
    _Atomic uint32_t parked_any; /* bit n: standard signal n may be parked */
    _Atomic int32_t reader_tid;  /* the thread that read last */
    _Atomic uint64_t delivered[FS_NSIG];
    _Atomic uint64_t dropped[FS_NSIG];
    _Atomic uint64_t taken[FS_NSIG];
    struct fs_ring *next;        /* all live rings, for fork; under rings_lock */
    struct parked parked[FS_NSTD];
    struct slot slots[];
};

/* Per signal: which ring receives it, how many handlers are inside right now
 * (so a ring is never freed under a running handler), the action we replaced
 * and whether to chain to it. */
static _Atomic(fs_ring *) owner[FS_NSIG];
static _Atomic int active[FS_NSIG];
static _Atomic int chain_flags[FS_NSIG];
static struct sigaction previous[FS_NSIG];

/* What the handler held back, per thread. It blocks a signal in the mask the
 * interrupted thread returns to, and only that thread can unblock it again,
 * so each thread keeps its own record (tid 0: a free entry). The records are
 * process-wide, not per ring: a thread may still hold a signal back after its
 * ring is gone (closed from another thread), until it next calls into
 * fastsig (fs_release_held). */
#define FS_HOLDERS 64
static struct holder {
    _Atomic int32_t tid;
    _Atomic uint64_t sigs;
} holders[FS_HOLDERS];
static _Atomic int holders_in_use;  /* entries with a tid: 0 is the fast path */

/* Every live ring, so a forked child can give each an empty ring and a wake fd
 * of its own. Only touched outside handlers. */
static pthread_mutex_t rings_lock = PTHREAD_MUTEX_INITIALIZER;
static fs_ring *all_rings;

static int is_fault_signal(int sig)
{
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE;
}

static int is_cpu_fault(int sig, const siginfo_t *si)
{
    return is_fault_signal(sig) && si->si_code > 0;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void write_wake_fd(fs_ring *ring)
{
#ifdef FS_HAVE_EVENTFD_H
    uint64_t one = 1;
    ssize_t ignored = write(ring->wake_write_fd, &one, sizeof one);
#else
    char one = 1;
    ssize_t ignored = write(ring->wake_write_fd, &one, 1);
#endif
    /* A failed write (fd closed behind our back) loses only the wake-up, never
     * the record; the reader reports the bad fd when it polls. */
    (void)ignored;
}

static void wake(fs_ring *ring)
{
    /* Store first, then wake (the caller published already). The fence pairs
     * with the one in fs_ring_drain(): either we see armed, or the reader sees
     * the slot. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&ring->armed, memory_order_relaxed)
        && atomic_exchange(&ring->armed, 0))
        write_wake_fd(ring);
}

/* Wake every reader blocked in fs_ring_wait(), e.g. to let it see a close. */
void fs_ring_interrupt(fs_ring *ring)
{
    write_wake_fd(ring);
}

/* The first step of a close: hold nothing back from now on, and wake the
 * readers, whose next drain lets in what their thread held back while our
 * handler is still there to record it. */
void fs_ring_shutdown(fs_ring *ring)
{
    atomic_store(&ring->closing, 1);
    atomic_store(&ring->reader_tid, 0);
    write_wake_fd(ring);
}

static uint64_t fill_of(const fs_ring *ring)
{
    return atomic_load(&ring->tail) - atomic_load(&ring->head);
}

/* One handler entry: its ring, thread, and the clock read at its first
 * record, shared by every record it makes. */
struct entry {
    fs_ring *ring;
    int32_t tid;
    int64_t time_ns;   /* 0 until the first record is stamped */
    void *context;
};

static void stamp(struct entry *e, fs_info *info)
{
    if (!e->time_ns)
        e->time_ns = now_ns();
    info->tid = e->tid;
    info->time_ns = e->time_ns;
}

/* Keep a standard signal that found the ring full (the ring's tail was pos).
 * A record of the same signal not read yet is replaced, and so is this one if
 * another thread parks the same signal at this instant: the kernel coalesces
 * standard signals the same way, so neither counts as delivered twice. */
static void park(struct entry *e, int sig, const siginfo_t *si, uint64_t pos)
{
    fs_ring *ring = e->ring;
    struct parked *p = &ring->parked[sig];
    uint32_t s = atomic_load(&p->state);
    do {
        if (s & PARK_WRITING) {
            atomic_fetch_sub_explicit(&ring->delivered[sig], 1, memory_order_relaxed);
            return;
        }
    } while (!atomic_compare_exchange_weak(&p->state, &s, s | PARK_WRITING));
    /* A reader swaps mid and front meanwhile, never the third buffer. */
    unsigned back = 3u - PARK_MID(s) - PARK_FRONT(s);
    fs_info_from_siginfo(si, &p->buf[back].info);
    stamp(e, &p->buf[back].info);
    atomic_store_explicit(&p->buf[back].pos, pos, memory_order_relaxed);
    s |= PARK_WRITING;
    while (!atomic_compare_exchange_weak(&p->state, &s,
                                         (s & ~(3u | PARK_WRITING)) | back | PARK_FRESH)) {
    }
    if (s & PARK_FRESH)
        atomic_fetch_sub_explicit(&ring->delivered[sig], 1, memory_order_relaxed);
    atomic_fetch_or(&ring->parked_any, (uint32_t)1 << sig);
}

static void push(struct entry *e, int sig, const siginfo_t *si)
{
    fs_ring *ring = e->ring;
    atomic_fetch_add_explicit(&ring->delivered[sig], 1, memory_order_relaxed);
    uint64_t pos = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    struct slot *slot;
    for (;;) {
        slot = &ring->slots[pos & ring->mask];
        uint64_t seq = atomic_load_explicit(&slot->seq, memory_order_acquire);
        int64_t lag = (int64_t)(seq - pos);
        if (lag == 0) {
            if (atomic_compare_exchange_weak_explicit(&ring->tail, &pos, pos + 1,
                                                      memory_order_relaxed,
                                                      memory_order_relaxed))
                break;
        } else if (lag < 0) {
            if (sig < FS_NSTD)
                park(e, sig, si, pos);
            else
                atomic_fetch_add_explicit(&ring->dropped[sig], 1, memory_order_relaxed);
            return;
        } else {
            pos = atomic_load_explicit(&ring->tail, memory_order_relaxed);
        }
    }
    fs_info_from_siginfo(si, &slot->info);
    stamp(e, &slot->info);
    atomic_store_explicit(&slot->seq, pos + 1, memory_order_release);
}

/* Backpressure instead of loss when the reader's own thread is the one being
 * flooded: the kernel delivers every pending signal before that thread runs
 * one more instruction, so it could never drain. Past half full, the handler
 * blocks the signal in the mask its thread returns to (uc_sigmask); further
 * signals wait in the kernel's queue (senders see EAGAIN) until the reader
 * has drained and unblocks them. Other threads' deliveries are not held back. */
#ifdef FS_HAVE_THROTTLE
static int thread_is_gone(int32_t tid)
{
    return syscall(SYS_tgkill, getpid(), tid, 0) < 0 && errno == ESRCH;
}
#endif

static void throttle(struct entry *e, int sig)
{
#ifdef FS_HAVE_THROTTLE
    fs_ring *ring = e->ring;
    int32_t tid = e->tid;
    if (tid != atomic_load(&ring->reader_tid) || fill_of(ring) <= ring->mask / 2
        || atomic_load(&ring->closing) || !e->context)
        return;
    /* This thread's entry, or a free one, or one of a thread that has exited
     * (the kernel dropped its mask and its pending signals with it). A nested
     * handler on the same thread may claim a second entry; the release visits
     * every entry of the thread. No entry left: deliver as usual (a full ring
     * then counts drops). */
    struct holder *mine = NULL;
    for (int i = 0; i < FS_HOLDERS && !mine; i++)
        if (atomic_load(&holders[i].tid) == tid)
            mine = &holders[i];
    for (int i = 0; i < FS_HOLDERS && !mine; i++) {
        int32_t other = atomic_load(&holders[i].tid);
        if ((other == 0 || thread_is_gone(other))
            && atomic_compare_exchange_strong(&holders[i].tid, &other, tid)) {
            mine = &holders[i];
            atomic_store(&mine->sigs, 0);
            if (other == 0)
                atomic_fetch_add(&holders_in_use, 1);
        }
    }
    if (!mine)
        return;
    atomic_fetch_or(&mine->sigs, (uint64_t)1 << (sig - 1));
    sigaddset(&((ucontext_t *)e->context)->uc_sigmask, sig);
#else
    (void)e; (void)sig;
#endif
}

static void record(struct entry *e, int sig, const siginfo_t *si)
{
    push(e, sig, si);
    throttle(e, sig);
}

/* Take the further signals of the ring that are pending for this thread or
 * the process, as the kernel would deliver them once the handler returns:
 * the same order, and none that the interrupted code blocks (which includes
 * what throttle() holds back). Stops when nothing is pending, at FS_TAKE_MAX,
 * when the ring is full, and on the reader's own thread once the ring is past
 * half full, holding that signal back as throttle() does for any delivery. */
static void take_pending(struct entry *e)
{
#ifdef FS_HAVE_TAKE_PENDING
    fs_ring *ring = e->ring;
    if (!e->context)
        return;
    uint64_t sigs = atomic_load_explicit(&ring->takeable, memory_order_relaxed)
                    & ~fs_sigset_to_mask(&((ucontext_t *)e->context)->uc_sigmask);
    if (!sigs)
        return;
    sigset_t set;
    fs_mask_to_sigset(sigs, &set);
    /* All zeros: read the same whatever width the kernel gives time_t here. */
    struct timespec zero;
    memset(&zero, 0, sizeof zero);
    int32_t reader = atomic_load(&ring->reader_tid);
    for (int i = 0; i < FS_TAKE_MAX; i++) {
        uint64_t fill = fill_of(ring);
        if (fill > ring->mask
            || (e->tid == reader && fill > ring->mask / 2 && !atomic_load(&ring->closing)))
            return;
        siginfo_t more;
        int sig = (int)syscall(SYS_rt_sigtimedwait, &set, &more, &zero, (size_t)(_NSIG - 1) / 8);
        if (sig <= 0 || sig >= FS_NSIG)
            return;
        record(e, sig, &more);
    }
#else
    (void)e;
#endif
}

static void on_signal(int sig, siginfo_t *si, void *context);

static int chains_to_a_handler(int sig)
{
    const struct sigaction *prev = &previous[sig];
    if (prev->sa_flags & SA_SIGINFO)
        return prev->sa_sigaction != on_signal;
    return prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN;
}

static void chain(int sig, siginfo_t *si, void *context)
{
    const struct sigaction *prev = &previous[sig];
    if (!chains_to_a_handler(sig))
        return;
    if (prev->sa_flags & SA_SIGINFO)
        prev->sa_sigaction(sig, si, context);
    else
        prev->sa_handler(sig);
}

/* A CPU fault that a chained handler returned from, repeating on one thread at
 * one address this many times in a row, is a loop, not a repaired fault (the
 * handler only noted it, as CPython's does). */
#define FS_FAULT_LOOP 64
static _Atomic int32_t fault_tid[FS_NSIG];
static _Atomic uint64_t fault_addr[FS_NSIG];
static _Atomic int fault_count[FS_NSIG];

static int fault_repeats(int sig, const siginfo_t *si)
{
    int32_t tid = FS_GETTID();
    uint64_t addr = (uint64_t)(uintptr_t)si->si_addr;
    if (atomic_load(&fault_tid[sig]) == tid && atomic_load(&fault_addr[sig]) == addr)
        return atomic_fetch_add(&fault_count[sig], 1) + 1;
    atomic_store(&fault_tid[sig], tid);
    atomic_store(&fault_addr[sig], addr);
    atomic_store(&fault_count[sig], 1);
    return 1;
}

static void on_signal(int sig, siginfo_t *si, void *context)
{
    int saved_errno = errno;
    if (sig > 0 && sig < FS_NSIG) {
        atomic_fetch_add(&active[sig], 1);
        fs_ring *ring = atomic_load(&owner[sig]);
        if (ring) {
            struct entry e = {ring, FS_GETTID(), 0, context};
            record(&e, sig, si);
            /* A CPU fault is handled alone: its handler must get to it. */
            if (!is_cpu_fault(sig, si))
                take_pending(&e);
            wake(ring);
        }
        /* Leave before chaining: the previous handler may never return here
         * (siglongjmp), and it does not touch the ring. */
        atomic_fetch_sub(&active[sig], 1);
        int chained = atomic_load_explicit(&chain_flags[sig], memory_order_relaxed) & FS_CHAIN;
        if (chained)
            chain(sig, si, context);
        if (is_cpu_fault(sig, si)
            && (!(chained && chains_to_a_handler(sig)) || fault_repeats(sig, si) >= FS_FAULT_LOOP)) {
            /* Returning would re-run the faulting instruction forever: let the
             * default action end the process with this signal instead. A
             * chained handler that returned may have repaired the fault (guard
             * pages, garbage collectors): the instruction runs again, and only
             * if it keeps faulting at the same address did the handler not. */
            struct sigaction dfl;
            memset(&dfl, 0, sizeof dfl);
            dfl.sa_handler = SIG_DFL;
            sigemptyset(&dfl.sa_mask);
            sigaction(sig, &dfl, NULL);
        }
    }
    errno = saved_errno;
}

/* ---- the reader's thread ------------------------------------------------ */

/* Readers run outside handlers, so thread-local storage is fine here. */
static __thread int32_t this_thread_tid;

static int32_t reader_tid(void)
{
    if (!this_thread_tid)
        this_thread_tid = FS_GETTID();
    return this_thread_tid;
}

/* Unblock what throttle() blocked in this thread, for the signals in sigs.
 * Every signal stays blocked while the records change, so no handler on this
 * thread can hold a signal back between our reading its entry and unblocking. */
void fs_release_held(uint64_t sigs)
{
    if (!atomic_load(&holders_in_use))
        return;
    int32_t tid = reader_tid();
    int holds = 0;
    for (int i = 0; i < FS_HOLDERS && !holds; i++)
        holds = atomic_load(&holders[i].tid) == tid && (atomic_load(&holders[i].sigs) & sigs);
    if (!holds)
        return;
    sigset_t all, mask;
    sigfillset(&all);
    if (pthread_sigmask(SIG_BLOCK, &all, &mask) != 0)
        return;
    uint64_t held = 0;
    for (int i = 0; i < FS_HOLDERS; i++) {
        struct holder *h = &holders[i];
        if (atomic_load(&h->tid) != tid)
            continue;
        held |= atomic_fetch_and(&h->sigs, ~sigs) & sigs;
        if (!atomic_load(&h->sigs)) {
            atomic_store(&h->tid, 0);
            atomic_fetch_sub(&holders_in_use, 1);
        }
    }
    for (int sig = 1; sig < FS_NSIG; sig++)
        if ((held >> (sig - 1)) & 1u)
            sigdelset(&mask, sig);
    pthread_sigmask(SIG_SETMASK, &mask, NULL);
}

/* ---- ring lifetime ------------------------------------------------------ */

static void reset_slots(fs_ring *ring)
{
    for (uint64_t i = 0; i <= ring->mask; i++)
        atomic_store_explicit(&ring->slots[i].seq, i, memory_order_relaxed);
    atomic_store(&ring->tail, 0);
    atomic_store(&ring->head, 0);
    atomic_store(&ring->armed, 0);
    atomic_store(&ring->closing, 0);
    atomic_store(&ring->reader_tid, 0);
    for (int sig = 0; sig < FS_NSIG; sig++) {
        atomic_store(&ring->delivered[sig], 0);
        atomic_store(&ring->dropped[sig], 0);
        atomic_store(&ring->taken[sig], 0);
    }
    for (int sig = 0; sig < FS_NSTD; sig++)
        atomic_store(&ring->parked[sig].state, PARK_INITIAL);
    atomic_store(&ring->parked_any, 0);
}

static int open_wake_fds(int fds[2])
{
#ifdef FS_HAVE_EVENTFD_H
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    fds[0] = fds[1] = fd;
    return fd < 0 ? -1 : 0;
#else
    if (pipe(fds) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
        fcntl(fds[i], F_SETFL, O_NONBLOCK);
    }
    return 0;
#endif
}

fs_ring *fs_ring_new(uint32_t capacity)
{
    if (capacity < 2 || (capacity & (capacity - 1)) != 0) {
        errno = EINVAL;
        return NULL;
    }
    fs_ring *ring = calloc(1, sizeof *ring + (size_t)capacity * sizeof(struct slot));
    if (!ring)
        return NULL;
    int fds[2];
    if (open_wake_fds(fds) < 0) {
        int saved = errno;
        free(ring);
        errno = saved;
        return NULL;
    }
    ring->mask = capacity - 1;
    ring->wake_read_fd = fds[0];
    ring->wake_write_fd = fds[1];
    reset_slots(ring);
    pthread_mutex_lock(&rings_lock);
    ring->next = all_rings;
    all_rings = ring;
    pthread_mutex_unlock(&rings_lock);
    return ring;
}

static void wait_for_handlers(uint64_t sigs)
{
    for (int sig = 1; sig < FS_NSIG; sig++) {
        if ((sigs >> (sig - 1)) & 1u) {
            while (atomic_load(&active[sig]) > 0)
                sched_yield();
        }
    }
}

void fs_ring_free(fs_ring *ring)
{
    if (!ring)
        return;
    uint64_t attached = atomic_load(&ring->attached);
    for (int sig = 1; sig < FS_NSIG; sig++) {
        if ((attached >> (sig - 1)) & 1u)
            fs_ring_detach(ring, sig);
    }
    wait_for_handlers(attached);
    pthread_mutex_lock(&rings_lock);
    for (fs_ring **link = &all_rings; *link; link = &(*link)->next) {
        if (*link == ring) {
            *link = ring->next;
            break;
        }
    }
    pthread_mutex_unlock(&rings_lock);
    close(ring->wake_read_fd);
    if (ring->wake_write_fd != ring->wake_read_fd)
        close(ring->wake_write_fd);
    free(ring);
}

int fs_ring_fd(const fs_ring *ring)
{
    return ring->wake_read_fd;
}

/* ---- attaching signals -------------------------------------------------- */

int fs_handler_installed(int sig)
{
    struct sigaction current;
    if (sig <= 0 || sig >= FS_NSIG || sigaction(sig, NULL, &current) < 0)
        return 0;
    return (current.sa_flags & SA_SIGINFO) && current.sa_sigaction == on_signal;
}

/* Our action for sig, for a ring of the signals in ring_sigs. SA_RESTART: a
 * flood must not turn every slow syscall of the process into EINTR; nothing
 * here needs the interruption, since no Python runs. A chained handler keeps
 * its own choice (CPython omits SA_RESTART so that a blocking call returns
 * EINTR and Ctrl-C is raised at once), its SIGCHLD flags and the mask it runs
 * under. The ring's signals are added to that mask (see the top of the file),
 * but never a CPU fault's: one raised while blocked kills the process, and a
 * chained handler may rely on catching it. */
static int install(int sig, uint64_t ring_sigs)
{
    struct sigaction ours;
    memset(&ours, 0, sizeof ours);
    ours.sa_sigaction = on_signal;
    ours.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&ours.sa_mask);
    if (atomic_load(&chain_flags[sig]) & FS_CHAIN) {
        ours.sa_flags = SA_SIGINFO | SA_ONSTACK
                        | (previous[sig].sa_flags & (SA_RESTART | SA_NOCLDSTOP | SA_NOCLDWAIT));
        ours.sa_mask = previous[sig].sa_mask;
    }
    for (int other = 1; other < FS_NSIG; other++)
        if (((ring_sigs >> (other - 1)) & 1u) && !is_fault_signal(other))
            sigaddset(&ours.sa_mask, other);
    return sigaction(sig, &ours, NULL);
}

int fs_ring_attach(fs_ring *ring, int sig, int flags)
{
    if (sig <= 0 || sig >= FS_NSIG || sig == SIGKILL || sig == SIGSTOP) {
        errno = EINVAL;
        return -1;
    }
    fs_ring *expected = NULL;
    if (!atomic_compare_exchange_strong(&owner[sig], &expected, ring)) {
        errno = EBUSY;
        return -1;
    }
    /* Read the old action before installing ours, so a handler that runs the
     * moment ours is in place never chains to a half-written one. */
    if (sigaction(sig, NULL, &previous[sig]) < 0)
        goto undo;
    atomic_store(&chain_flags[sig], flags);
    uint64_t bit = (uint64_t)1 << (sig - 1);
    uint64_t sigs = atomic_load(&ring->attached) | bit;
    if (install(sig, sigs) < 0)
        goto undo;
    atomic_fetch_or(&ring->attached, bit);
    /* Taken in batches unless chained (the previous handler runs once per
     * delivery, and a taken signal is no delivery) or a fault. */
    if (!(flags & FS_CHAIN) && !is_fault_signal(sig))
        atomic_fetch_or(&ring->takeable, bit);
    /* The ring's other handlers block this signal too from now on. */
    for (int other = 1; other < FS_NSIG; other++)
        if (other != sig && ((sigs >> (other - 1)) & 1u) && fs_handler_installed(other))
            install(other, sigs);
    return 0;
undo:;
    int saved = errno;
    atomic_store(&owner[sig], NULL);
    errno = saved;
    return -1;
}

int fs_ring_detach(fs_ring *ring, int sig)
{
    if (sig <= 0 || sig >= FS_NSIG || atomic_load(&owner[sig]) != ring) {
        errno = ENOENT;
        return -1;
    }
    /* A handler of the ring's other signals that is taking pending signals
     * right now may still take this one after its action is restored: it is
     * recorded and counted like any delivery, the ring being still alive. */
    atomic_fetch_and(&ring->takeable, ~((uint64_t)1 << (sig - 1)));
    /* Signals the throttle holds back in this thread meet our handler, not
     * the previous action (SIG_DFL ends the process for a real-time signal):
     * stop throttling, then let them in; each is recorded or counted dropped. */
    atomic_store(&ring->reader_tid, 0);
    fs_release_held((uint64_t)1 << (sig - 1));
    /* Restore exactly what was there, unless someone (signal.signal(), say)
     * replaced our handler meanwhile: theirs stays. */
    int rc = 0;
    if (fs_handler_installed(sig))
        rc = sigaction(sig, &previous[sig], NULL);
    int saved = errno;
    atomic_store(&owner[sig], NULL);
    atomic_store(&chain_flags[sig], 0);
    atomic_fetch_and(&ring->attached, ~((uint64_t)1 << (sig - 1)));
    wait_for_handlers((uint64_t)1 << (sig - 1));
    errno = saved;
    return rc;
}

/* ---- reading ------------------------------------------------------------ */

/* Reset the wake fd's readability, whatever wrote it (a producer, an
 * interrupt, or someone else entirely): a stale wake-up must never leave
 * fileno() readable, or every event-loop turn would spin. */
static void clear_wake(fs_ring *ring)
{
    char buf[64];
    while (read(ring->wake_read_fd, buf, sizeof buf) > 0) {
    }
}

static int take(fs_ring *ring, fs_info *out)
{
    uint64_t pos = atomic_load_explicit(&ring->head, memory_order_relaxed);
    for (;;) {
        struct slot *slot = &ring->slots[pos & ring->mask];
        uint64_t seq = atomic_load_explicit(&slot->seq, memory_order_acquire);
        int64_t lag = (int64_t)(seq - (pos + 1));
        if (lag < 0)
            return 0;
        if (lag == 0) {
            if (atomic_compare_exchange_weak_explicit(&ring->head, &pos, pos + 1,
                                                      memory_order_relaxed,
                                                      memory_order_relaxed)) {
                *out = slot->info;
                atomic_store_explicit(&slot->seq, pos + ring->mask + 1,
                                      memory_order_release);
                if (out->signo > 0 && out->signo < FS_NSIG)
                    atomic_fetch_add_explicit(&ring->taken[out->signo], 1,
                                              memory_order_relaxed);
                return 1;
            }
        } else {
            pos = atomic_load_explicit(&ring->head, memory_order_relaxed);
        }
    }
}

/* The parked record of standard signal sig, once the reader is past every
 * record claimed before it. The hint bit is cleared before looking and set
 * again if the record must wait: a handler sets it after publishing, so a
 * fresh record never goes unhinted. */
static int unpark(fs_ring *ring, int sig, fs_info *out)
{
    struct parked *p = &ring->parked[sig];
    uint32_t bit = (uint32_t)1 << sig;
    atomic_fetch_and(&ring->parked_any, ~bit);
    uint32_t s = atomic_load(&p->state);
    do {
        if (!(s & PARK_FRESH))
            return 0;
        if ((s & PARK_READING)
            || atomic_load_explicit(&p->buf[PARK_MID(s)].pos, memory_order_relaxed)
                   > atomic_load(&ring->head)) {
            atomic_fetch_or(&ring->parked_any, bit);
            return 0;
        }
    } while (!atomic_compare_exchange_weak(
        &p->state, &s,
        (s & ~(15u | PARK_FRESH)) | PARK_FRONT(s) | PARK_MID(s) << 2 | PARK_READING));
    *out = p->buf[PARK_MID(s)].info;  /* the front buffer now: no handler writes it */
    atomic_fetch_add_explicit(&ring->taken[sig], 1, memory_order_relaxed);
    atomic_fetch_and(&p->state, ~PARK_READING);
    return 1;
}

static int take_parked(fs_ring *ring, fs_info *out)
{
    for (uint32_t any = atomic_load_explicit(&ring->parked_any, memory_order_relaxed); any;
         any &= any - 1)
        if (unpark(ring, __builtin_ctz(any), out))
            return 1;
    return 0;
}

/* Take up to max records. When the ring runs dry, clear the wake fd and arm
 * the wake-up so the next producer writes it: a reader that keeps up costs
 * producers nothing, a sleeping reader is woken exactly once. */
int fs_ring_drain(fs_ring *ring, fs_info *out, int max)
{
    if (!atomic_load(&ring->closing))
        atomic_store(&ring->reader_tid, reader_tid());
    int n = 0;
    for (;;) {
        while (n < max && (take_parked(ring, &out[n]) || take(ring, &out[n])))
            n++;
        /* Down to a quarter, or closing: let held-back signals in again. */
        if (fill_of(ring) <= ring->mask / 4 || atomic_load(&ring->closing))
            fs_release_held(atomic_load(&ring->attached));
        if (n == max)
            return n;
        /* Clear before arming: a producer writes only once armed, and the
         * re-check below sees any record published (or parked) before we
         * armed. */
        clear_wake(ring);
        atomic_store(&ring->armed, 1);
        atomic_thread_fence(memory_order_seq_cst);
        uint64_t pos = atomic_load(&ring->head);
        if (atomic_load_explicit(&ring->slots[pos & ring->mask].seq,
                                 memory_order_acquire) == pos + 1)
            continue;
        if (!take_parked(ring, &out[n]))
            return n;
        n++;
    }
}

int fs_ring_wait(fs_ring *ring, fs_info *out, int max, int64_t timeout_ns)
{
    int n = fs_ring_drain(ring, out, max);
    if (n > 0 || atomic_load(&ring->closing))
        return n;
    struct pollfd pfd = {ring->wake_read_fd, POLLIN, 0};
    /* Sleep at most a second at a time: the caller loops, and so notices a
     * close() even if the wake fd was closed behind our back (poll() on an fd
     * closed meanwhile never wakes; the next poll() reports POLLNVAL). */
    int timeout_ms = timeout_ns < 0 || timeout_ns > 1000000000
                         ? 1000 : (int)((timeout_ns + 999999) / 1000000);
    int ready = poll(&pfd, 1, timeout_ms);
    /* poll() is never restarted, so our own handler interrupting it is the
     * common case under load: not an error, just look at the ring. The caller
     * returns to Python between waits, where CPython's handlers get to run. */
    if (ready < 0 && errno != EINTR)
        return -1;
    if (ready > 0 && (pfd.revents & POLLNVAL)) {
        errno = EBADF;
        return -1;
    }
    return fs_ring_drain(ring, out, max);
}

void fs_ring_counts(const fs_ring *ring, int sig, uint64_t *delivered,
                    uint64_t *dropped, uint64_t *taken)
{
    if (sig <= 0 || sig >= FS_NSIG) {
        *delivered = *dropped = *taken = 0;
        return;
    }
    *delivered = atomic_load(&ring->delivered[sig]);
    *dropped = atomic_load(&ring->dropped[sig]);
    *taken = atomic_load(&ring->taken[sig]);
}

/* ---- fork --------------------------------------------------------------- */

/* Block every signal across fork(), so no handler runs in the child before its
 * rings are reset; a forking thread has its own saved mask. */
static __thread sigset_t mask_before_fork;
static __thread int32_t tid_before_fork;

static void before_fork(void)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &mask_before_fork);
    tid_before_fork = FS_GETTID();
    pthread_mutex_lock(&rings_lock);
}

static void after_fork_parent(void)
{
    pthread_mutex_unlock(&rings_lock);
    pthread_sigmask(SIG_SETMASK, &mask_before_fork, NULL);
}

static void replace_fd(int fresh, int target)
{
    dup2(fresh, target);
    fcntl(target, F_SETFD, FD_CLOEXEC);
}

/* The child inherits the handlers and the ring memory: it starts with empty
 * rings, zero counters and a wake fd of its own (at the same fd number), so
 * nothing it receives ever shows up in its parent's ring, or the reverse.
 * Handlers that were running on other threads at fork do not exist here. */
static void after_fork_child(void)
{
    for (int sig = 0; sig < FS_NSIG; sig++)
        atomic_store(&active[sig], 0);
    /* What the forking thread held back: the child's empty rings have no
     * reason to hold it back; the other threads do not exist here. */
    for (int i = 0; i < FS_HOLDERS; i++) {
        uint64_t held = atomic_load(&holders[i].sigs);
        if (atomic_load(&holders[i].tid) == tid_before_fork)
            for (int sig = 1; sig < FS_NSIG; sig++)
                if ((held >> (sig - 1)) & 1u)
                    sigdelset(&mask_before_fork, sig);
        atomic_store(&holders[i].tid, 0);
        atomic_store(&holders[i].sigs, 0);
    }
    atomic_store(&holders_in_use, 0);
    for (fs_ring *ring = all_rings; ring; ring = ring->next) {
        reset_slots(ring);
        int fds[2];
        if (open_wake_fds(fds) == 0) {
            replace_fd(fds[0], ring->wake_read_fd);
            if (ring->wake_write_fd != ring->wake_read_fd)
                replace_fd(fds[1], ring->wake_write_fd);
            close(fds[0]);
            if (fds[1] != fds[0])
                close(fds[1]);
        }
    }
    this_thread_tid = 0;
    pthread_mutex_unlock(&rings_lock);
    pthread_sigmask(SIG_SETMASK, &mask_before_fork, NULL);
}

__attribute__((constructor)) static void ring_init(void)
{
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}
