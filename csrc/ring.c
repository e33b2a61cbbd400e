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
 * Several rings may subscribe to one signal: the handler records each
 * delivery in every one of them (struct subscribers), each with its own
 * capacity, counters and backpressure.
 *
 * Taking what is pending: every delivery costs the kernel a signal frame and
 * a sigreturn, far more than the record. So the handler, after recording its
 * own delivery to a ring that already held an unread record (its reader is
 * behind: backlog()), takes the further pending signals of its group (the
 * signals of every ring subscribed to it) with rt_sigtimedwait and a zero
 * timeout, recording each in its own subscribers, while they have room, at
 * most FS_TAKE_MAX per entry; the kernel delivers the rest as usual. Every
 * signal is installed with its group in its sa_mask, so none of them nests
 * into its handler: what a handler takes is exactly what the kernel would
 * deliver to that thread next, in the kernel's order. Records of one entry
 * share one thread id and one clock read. An entry that took a burst holds
 * its signal back on the reader's own thread until the next read
 * (hold_burst()), so that the kernel queues the rest rather than interrupt
 * the reader for each.
 *
 * Handler rules: atomics, clock_gettime, write, sigaction, rt_sigtimedwait
 * and fs_emulate_default() only; errno saved and restored; no locks, no
 * allocation, no Python.
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

/* The calling thread's kernel id, asked once per thread. glibc sets aside
 * static TLS for a loaded module's initial-exec variables, which makes the
 * cache a plain load, fit for a handler; elsewhere the handler asks the
 * kernel each entry (a dynamic TLS block may be allocated on first use). A
 * forked child's thread starts afresh (after_fork_child). */
#if defined(__GLIBC__) && defined(__linux__)
#define FS_HANDLER_TID_CACHE 1
#define FS_STATIC_TLS __attribute__((tls_model("initial-exec")))
#else
#define FS_STATIC_TLS
#endif
static __thread int32_t this_thread_tid FS_STATIC_TLS;

static int32_t thread_tid(void)
{
    if (!this_thread_tid)
        this_thread_tid = FS_GETTID();
    return this_thread_tid;
}

static int32_t handler_tid(void)
{
#ifdef FS_HANDLER_TID_CACHE
    return thread_tid();
#else
    return FS_GETTID();
#endif
}

/* Signals below the kernel's SIGRTMIN coalesce while pending: standard ones. */
#define FS_NSTD 32
/* Most pending signals one handler entry takes: enough to pay for its frame
 * many times over, few enough that no thread is held in a handler for long. */
#define FS_TAKE_MAX 256
/* Pending signals one entry takes that make it a burst (see hold_burst). */
#define FS_BURST 64
/* The sigaction flags a subscriber may ask for: the rest would break the ring
 * (SA_RESETHAND: use FS_ONESHOT) or are always set (SA_SIGINFO). */
#define FS_FLAGS_ALLOWED (SA_NOCLDSTOP | SA_NOCLDWAIT | SA_NODEFER | SA_ONSTACK | SA_RESTART)
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
    _Atomic int polled;          /* fs_ring_fd() ran: someone may poll the fd */
    _Atomic int readers;         /* reads in progress (fs_ring_enter) */
    _Atomic int closing;         /* fs_ring_shutdown() ran: hold nothing back */
    _Atomic uint64_t attached;   /* mask of signals routed here */
    _Atomic uint64_t chain;      /* of those, the ones passed on to the previous action too */
    _Atomic uint64_t oneshot;    /* of those, the ones recorded once only */
    _Atomic uint64_t unfired;    /* of the oneshot ones, those not delivered yet */
    _Atomic uint32_t parked_any; /* bit n: standard signal n may be parked */
    _Atomic int32_t reader_tid;  /* the thread that read last */
    _Atomic int64_t read_ns;     /* when it read last (releasable()) */
    _Atomic uint64_t delivered[FS_NSIG];
    _Atomic uint64_t dropped[FS_NSIG];
    _Atomic uint64_t read[FS_NSIG];
    struct fs_ring *next;        /* all live rings, for fork; under rings_lock */
    struct parked parked[FS_NSTD];
    struct slot slots[];
};

/* Per signal: the rings subscribed to it, as one immutable table that a
 * writer replaces whole (read-copy-update): it builds the new table under
 * actions_lock, publishes it, waits until no handler is inside for that
 * signal (active[]), and only then frees the old one. A handler counts itself
 * in active[] before it loads the table, so either the writer sees it there,
 * or it loads the new table: no handler ever sees a half-built table or a
 * freed one, and a ring is freed only once no table holds it. */
struct subscribers {
    int count;
    fs_ring *rings[];
};
static _Atomic(struct subscribers *) subscribers[FS_NSIG];
static _Atomic int active[FS_NSIG];

/* What the handler needs per signal, written under actions_lock whenever the
 * table changes:
 *   chained:   some subscriber passes every delivery on to the previous action;
 *   listening: subscribers still taking deliveries (a oneshot one that fired
 *              no longer does: at 0 the previous action comes back);
 *   group:     the signals of every subscribed ring, blocked while the handler
 *              runs, and so what it may take pending (see the top);
 *   takeable:  signals that may be taken pending at all (none that is chained,
 *              oneshot, or a fault: each of those must be a delivery of its own).
 * previous[] and action_flags[] are written only while fastsig's handler is
 * not the installed action. */
static _Atomic int chained[FS_NSIG];
static _Atomic int listening[FS_NSIG];
static _Atomic uint64_t group[FS_NSIG];
static _Atomic uint64_t takeable;
static struct sigaction previous[FS_NSIG];
static int action_flags[FS_NSIG];  /* sa_flags asked for, or FS_FLAGS_AUTO */
static pthread_mutex_t actions_lock = PTHREAD_MUTEX_INITIALIZER;

#define BIT(sig) ((uint64_t)1 << ((sig) - 1))

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
     * with the one in drain(): either we see armed, or the reader sees
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
    uint64_t held;     /* what hold() held back in this entry */
    int taken;         /* pending signals take_pending() took */
};

static void stamp(struct entry *e, fs_info *info)
{
    if (!e->time_ns)
        e->time_ns = fs_monotonic_ns();
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

/* Holding a signal back on the reader's own thread: the handler blocks it in
 * the mask the thread returns to (uc_sigmask); further signals wait in the
 * kernel's queue (senders see EAGAIN once it is full) until the reader's next
 * drain unblocks them (fs_release_held). Other threads' deliveries are never
 * held back. Two reasons to hold: backpressure instead of loss past half full
 * (record()), and a burst (hold_burst()). */
#ifdef FS_HAVE_THROTTLE
static int thread_is_gone(int32_t tid)
{
    return syscall(SYS_tgkill, getpid(), tid, 0) < 0 && errno == ESRCH;
}
#endif

/* Hold sig back if this thread reads e->ring and it holds more than
 * fill_over records; and with it the ring's signals numbered above sig, which
 * the kernel delivers after a pending sig: none overtakes what is held. Only
 * what the interrupted code left unblocked, so a release never unblocks what
 * it blocked itself. */
static void hold(struct entry *e, int sig, uint64_t fill_over)
{
#ifdef FS_HAVE_THROTTLE
    fs_ring *ring = e->ring;
    int32_t tid = e->tid;
    if (tid != atomic_load(&ring->reader_tid) || fill_of(ring) <= fill_over
        || atomic_load(&ring->closing) || !e->context)
        return;
    sigset_t *mask = &((ucontext_t *)e->context)->uc_sigmask;
    uint64_t sigs = (BIT(sig) | (atomic_load(&ring->attached) & ~((BIT(sig) << 1) - 1)))
                    & ~fs_sigset_to_mask(mask);
    if (!sigs)
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
    atomic_fetch_or(&mine->sigs, sigs);
    e->held |= sigs;
    for (uint64_t left = sigs; left; left &= left - 1)
        sigaddset(mask, __builtin_ctzll(left) + 1);
#else
    (void)e; (void)sig; (void)fill_over;
#endif
}

/* Past half full, the reader's own thread is held back: the kernel delivers
 * every pending signal before that thread runs one more instruction, so
 * otherwise it could never drain. */
static void record(struct entry *e, int sig, const siginfo_t *si)
{
    push(e, sig, si);
    hold(e, sig, e->ring->mask / 2);
}

/* Give the previous action back, from the handler: the last oneshot
 * subscriber of sig has fired. sigaction() is async-signal-safe. */
static void restore_previous(int sig)
{
    sigaction(sig, &previous[sig], NULL);
}

static int in_table(const struct subscribers *subs, const fs_ring *ring)
{
    for (int i = 0; subs && i < subs->count; i++)
        if (subs->rings[i] == ring)
            return 1;
    return 0;
}

/* Record one delivery of sig in every subscriber's ring, and wake those not
 * in woken_later (the entry's own subscribers, woken once as it ends).
 * Returns how many rings recorded it: 0 means that no subscriber takes it any
 * more (every one is oneshot and has fired), so it belongs to the previous
 * action. The caller is counted in active[sig]. */
static int record_all(struct entry *e, const struct subscribers *subs, int sig,
                      const siginfo_t *si, const struct subscribers *woken_later)
{
    int recorded = 0;
    for (int i = 0; subs && i < subs->count; i++) {
        fs_ring *ring = subs->rings[i];
        if (atomic_load_explicit(&ring->oneshot, memory_order_relaxed) & BIT(sig)) {
            if (!(atomic_fetch_and(&ring->unfired, ~BIT(sig)) & BIT(sig)))
                continue;
            if (atomic_fetch_sub(&listening[sig], 1) == 1)
                restore_previous(sig);
        }
        e->ring = ring;
        record(e, sig, si);
        if (!in_table(woken_later, ring))
            wake(ring);
        recorded++;
    }
    return recorded;
}

static void pass_on(int sig, siginfo_t *si, void *context);

/* Room to take one more pending signal: no subscriber of the entry's signal
 * full, and none past half full whose reader runs on this thread (that one
 * is held back instead, see record()). */
static int room_to_take(const struct entry *e, const struct subscribers *subs)
{
    for (int i = 0; i < subs->count; i++) {
        fs_ring *ring = subs->rings[i];
        uint64_t fill = fill_of(ring);
        if (fill > ring->mask
            || (e->tid == atomic_load_explicit(&ring->reader_tid, memory_order_relaxed)
                && fill > ring->mask / 2 && !atomic_load(&ring->closing)))
            return 0;
    }
    return 1;
}

/* Take the further signals of the entry's group that are pending for this
 * thread or the process, as the kernel would deliver them once the handler
 * returns: the same order, and none that the interrupted code blocks (which
 * includes what hold() holds back). Each is recorded by all of its own
 * subscribers. Stops when nothing is pending, at FS_TAKE_MAX, and when a
 * subscriber of the entry's signal has no room. */
static void take_pending(struct entry *e, int sig, const struct subscribers *subs)
{
#ifdef FS_HAVE_TAKE_PENDING
    if (!e->context)
        return;
    uint64_t sigs = atomic_load_explicit(&group[sig], memory_order_relaxed)
                    & atomic_load_explicit(&takeable, memory_order_relaxed)
                    & ~fs_sigset_to_mask(&((ucontext_t *)e->context)->uc_sigmask);
    /* All zeros: read the same whatever width the kernel gives time_t here. */
    struct timespec zero;
    memset(&zero, 0, sizeof zero);
    sigset_t set;
    uint64_t in_set = 0;
    for (int i = 0; i < FS_TAKE_MAX; i++) {
        sigs &= ~e->held;
        if (!sigs || !room_to_take(e, subs))
            return;
        if (sigs != in_set) {
            in_set = sigs;
            fs_mask_to_sigset(sigs, &set);
        }
        siginfo_t more;
        int taken = (int)syscall(SYS_rt_sigtimedwait, &set, &more, &zero, (size_t)(_NSIG - 1) / 8);
        if (taken <= 0 || taken >= FS_NSIG)
            return;
        /* The entry's own signal: it is counted in active[] already. Its
         * table is read again all the same, to include who joined since. */
        if (taken != sig)
            atomic_fetch_add(&active[taken], 1);
        e->taken++;
        int recorded = record_all(e, atomic_load(&subscribers[taken]), taken, &more, subs);
        if (taken != sig)
            atomic_fetch_sub(&active[taken], 1);
        /* Unsubscribed meanwhile: the action now in place gets it. */
        if (!recorded)
            pass_on(taken, &more, e->context);
    }
#else
    (void)e; (void)sig; (void)subs;
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

/* Do what the previous action would have done: call its handler, ignore the
 * signal, or carry out the default action (see fs_emulate_default). A CPU
 * fault's default action is left to on_signal(), which lets the fault recur. */
static void pass_on(int sig, siginfo_t *si, void *context)
{
    const struct sigaction *prev = &previous[sig];
    if (chains_to_a_handler(sig)) {
        if (prev->sa_flags & SA_SIGINFO)
            prev->sa_sigaction(sig, si, context);
        else
            prev->sa_handler(sig);
    } else if (!(prev->sa_flags & SA_SIGINFO) && prev->sa_handler == SIG_DFL
               && !is_cpu_fault(sig, si)) {
        fs_emulate_default(sig);
    }
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
    int32_t tid = handler_tid();
    uint64_t addr = (uint64_t)(uintptr_t)si->si_addr;
    if (atomic_load(&fault_tid[sig]) == tid && atomic_load(&fault_addr[sig]) == addr)
        return atomic_fetch_add(&fault_count[sig], 1) + 1;
    atomic_store(&fault_tid[sig], tid);
    atomic_store(&fault_addr[sig], addr);
    atomic_store(&fault_count[sig], 1);
    return 1;
}

/* A subscriber holds a record besides the one just made: its reader is behind,
 * so more may well be pending, and taking them is worth a syscall. A delivery
 * to rings read up to date (a reader that keeps up, one signal at a time)
 * costs no rt_sigtimedwait that would find nothing. */
static int backlog(const struct subscribers *subs)
{
    for (int i = 0; subs && i < subs->count; i++)
        if (fill_of(subs->rings[i]) > 1)
            return 1;
    return 0;
}

/* A burst is on: the entry took FS_BURST pending signals or more. Its signal
 * is held back on the reader's own thread until the next read, which lets in
 * what queued meanwhile, FS_TAKE_MAX an entry. While the reader works through
 * its records with the signal unblocked, the kernel interrupts its CPU once
 * for every signal sent from another (an inter-processor interrupt each: on
 * a VM, the dearest part of a flood); held, they queue without a word. */
static void hold_burst(struct entry *e, int sig, const struct subscribers *subs)
{
    if (e->taken < FS_BURST)
        return;
    for (int i = 0; i < subs->count; i++) {
        e->ring = subs->rings[i];
        hold(e, sig, 0);
    }
}

static void on_signal(int sig, siginfo_t *si, void *context)
{
    int saved_errno = errno;
    if (sig > 0 && sig < FS_NSIG) {
        struct entry e = {NULL, handler_tid(), 0, context, 0, 0};
        atomic_fetch_add(&active[sig], 1);
        struct subscribers *subs = atomic_load(&subscribers[sig]);
        int recorded = record_all(&e, subs, sig, si, subs);
        /* A CPU fault is handled alone: its handler must get to it. */
        if (recorded && !is_cpu_fault(sig, si) && backlog(subs)) {
            take_pending(&e, sig, subs);
            hold_burst(&e, sig, subs);
        }
        for (int i = 0; subs && i < subs->count; i++)
            wake(subs->rings[i]);
        /* Leave before passing on: the previous handler may never return
         * here (siglongjmp), and it does not touch the rings. */
        atomic_fetch_sub(&active[sig], 1);
        int passed = atomic_load_explicit(&chained[sig], memory_order_relaxed)
                     || (subs && !recorded);
        if (passed)
            pass_on(sig, si, context);
        if (is_cpu_fault(sig, si)
            && (!(passed && chains_to_a_handler(sig)) || fault_repeats(sig, si) >= FS_FAULT_LOOP)) {
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

/* This thread's reads in progress, innermost first: a read may run inside
 * another, in a signal handler (Python's) that the outer read let run. */
static __thread fs_reading *reading_here FS_STATIC_TLS;  /* a plain load, as above */

static int reads_here(const fs_ring *ring)
{
    int n = 0;
    for (const fs_reading *r = reading_here; r; r = r->next)
        n += r->ring == ring;
    return n;
}

/* Count a read in, unless the ring is closing (-1): close() waits for the
 * reads of other threads to leave, which lets in what their threads held back
 * while the handler is still there to record it. */
int fs_ring_enter(fs_ring *ring, fs_reading *reading)
{
    atomic_fetch_add(&ring->readers, 1);
    if (atomic_load(&ring->closing)) {
        atomic_fetch_sub(&ring->readers, 1);
        return -1;
    }
    reading->ring = ring;
    reading->next = reading_here;
    reading_here = reading;
    return 0;
}

void fs_ring_leave(fs_reading *reading)
{
    fs_reading **link = &reading_here;
    while (*link && *link != reading)
        link = &(*link)->next;
    if (*link)
        *link = reading->next;
    atomic_fetch_sub(&reading->ring->readers, 1);
}

/* Reads in progress on other threads than the caller's. */
int fs_ring_readers_elsewhere(const fs_ring *ring)
{
    return atomic_load(&ring->readers) - reads_here(ring);
}

/* Unblock what hold() blocked in this thread, for the signals in sigs.
 * Every signal stays blocked while the records change, so no handler on this
 * thread can hold a signal back between our reading its entry and unblocking. */
void fs_release_held(uint64_t sigs)
{
    if (!atomic_load(&holders_in_use))
        return;
    int32_t tid = thread_tid();
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
        atomic_store(&ring->read[sig], 0);
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

void fs_ring_free(fs_ring *ring)
{
    if (!ring)
        return;
    uint64_t attached = atomic_load(&ring->attached);
    for (int sig = 1; sig < FS_NSIG; sig++) {
        if ((attached >> (sig - 1)) & 1u)
            fs_ring_detach(ring, sig);
    }
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

/* ---- attaching signals -------------------------------------------------- */

int fs_handler_installed(int sig)
{
    struct sigaction current;
    if (sig <= 0 || sig >= FS_NSIG || sigaction(sig, NULL, &current) < 0)
        return 0;
    return (current.sa_flags & SA_SIGINFO) && current.sa_sigaction == on_signal;
}

/* Our action for sig, as its subscribers and the previous action ask.
 * SA_RESTART unless asked otherwise: a flood must not turn every slow syscall
 * of the process into EINTR; nothing here needs the interruption, since no
 * Python runs. Chained without flags of its own, it keeps the previous
 * action's choice (CPython omits SA_RESTART so that a blocking call returns
 * EINTR and Ctrl-C is raised at once), its SIGCHLD flags and the mask it runs
 * under. The group's signals are added to that mask (see the top of the
 * file), but never a CPU fault's: one raised while blocked kills the process,
 * and a chained handler may rely on catching it. */
static int install(int sig)
{
    struct sigaction ours;
    memset(&ours, 0, sizeof ours);
    ours.sa_sigaction = on_signal;
    sigemptyset(&ours.sa_mask);
    int flags = action_flags[sig];
    if (flags == FS_FLAGS_AUTO) {
        flags = SA_RESTART | SA_ONSTACK;
        if (atomic_load(&chained[sig])) {
            flags = SA_ONSTACK | (previous[sig].sa_flags & (SA_RESTART | SA_NOCLDSTOP | SA_NOCLDWAIT));
            ours.sa_mask = previous[sig].sa_mask;
        }
    }
    ours.sa_flags = SA_SIGINFO | flags;
    uint64_t blocked = atomic_load(&group[sig]);
    if (flags & SA_NODEFER)
        blocked &= ~BIT(sig);
    for (int other = 1; other < FS_NSIG; other++)
        if ((blocked & BIT(other)) && !is_fault_signal(other))
            sigaddset(&ours.sa_mask, other);
    return sigaction(sig, &ours, NULL);
}

/* Under actions_lock: replace sig's table, and free the old one once no
 * handler can still be reading it. */
static void publish(int sig, struct subscribers *table)
{
    struct subscribers *old = atomic_exchange(&subscribers[sig], table);
    while (atomic_load(&active[sig]) > 0)
        sched_yield();
    free(old);
}

/* Under actions_lock: sig's table without `leaving`, plus `joining` (either
 * may be NULL). NULL with errno ENOMEM, or NULL for an empty table. */
static struct subscribers *new_table(int sig, const fs_ring *leaving, fs_ring *joining, int *empty)
{
    const struct subscribers *old = atomic_load(&subscribers[sig]);
    int count = old ? old->count : 0;
    struct subscribers *table = malloc(sizeof *table + (size_t)(count + 1) * sizeof(fs_ring *));
    if (!table)
        return NULL;
    table->count = 0;
    for (int i = 0; i < count; i++)
        if (old->rings[i] != leaving)
            table->rings[table->count++] = old->rings[i];
    if (joining)
        table->rings[table->count++] = joining;
    *empty = table->count == 0;
    if (*empty) {
        free(table);
        return NULL;
    }
    return table;
}

/* Under actions_lock: what the handler needs for sig, from its table. */
static void update(int sig)
{
    const struct subscribers *subs = atomic_load(&subscribers[sig]);
    uint64_t signals = 0, chain = 0, oneshot = 0;
    for (int i = 0; subs && i < subs->count; i++) {
        signals |= atomic_load(&subs->rings[i]->attached);
        chain |= atomic_load(&subs->rings[i]->chain);
        oneshot |= atomic_load(&subs->rings[i]->oneshot);
    }
    atomic_store(&chained[sig], (chain & BIT(sig)) != 0);
    atomic_store(&group[sig], signals);
    if (subs && !((chain | oneshot) & BIT(sig)) && !is_fault_signal(sig))
        atomic_fetch_or(&takeable, BIT(sig));
    else
        atomic_fetch_and(&takeable, ~BIT(sig));
}

/* Under actions_lock: update(), then our action again where it is still the
 * installed one (its mask or flags may have changed). */
static void refresh(int sig)
{
    update(sig);
    if (atomic_load(&subscribers[sig]) && fs_handler_installed(sig))
        install(sig);
}

/* Under actions_lock: refresh every other signal of the ring, whose group
 * (and so whose mask) has just changed. */
static void refresh_others(const fs_ring *ring, int sig)
{
    uint64_t signals = atomic_load(&ring->attached) & ~BIT(sig);
    for (int other = 1; other < FS_NSIG; other++)
        if (signals & BIT(other))
            refresh(other);
}

int fs_ring_attach(fs_ring *ring, int sig, int options, int sa_flags)
{
    if (sig <= 0 || sig >= FS_NSIG || sig == SIGKILL || sig == SIGSTOP
        || (sa_flags != FS_FLAGS_AUTO && (sa_flags & ~FS_FLAGS_ALLOWED))) {
        errno = EINVAL;
        return -1;
    }
    if (atomic_load(&ring->attached) & BIT(sig)) {
        errno = EEXIST;
        return -1;
    }
    pthread_mutex_lock(&actions_lock);
    int rc = -1, empty;
    /* Read the old action before installing ours, so a handler that runs the
     * moment ours is in place never passes on to a half-written one. Ours
     * already in place: the first subscriber chose the flags. */
    int fresh = !fs_handler_installed(sig);
    if (!fresh && sa_flags != FS_FLAGS_AUTO && sa_flags != action_flags[sig]) {
        errno = EBUSY;
        goto out;
    }
    struct sigaction before;
    if (fresh && sigaction(sig, NULL, &before) < 0)
        goto out;
    struct subscribers *table = new_table(sig, NULL, ring, &empty);
    if (!table) {
        errno = ENOMEM;
        goto out;
    }
    if (fresh) {
        previous[sig] = before;
        action_flags[sig] = sa_flags;
    }
    if (options & FS_CHAIN)
        atomic_fetch_or(&ring->chain, BIT(sig));
    if (options & FS_ONESHOT) {
        atomic_fetch_or(&ring->oneshot, BIT(sig));
        atomic_fetch_or(&ring->unfired, BIT(sig));
    }
    atomic_fetch_add(&listening[sig], 1);
    atomic_fetch_or(&ring->attached, BIT(sig));
    publish(sig, table);
    update(sig);
    if (install(sig) < 0) {
        int saved = errno;
        pthread_mutex_unlock(&actions_lock);
        fs_ring_detach(ring, sig);
        errno = saved;
        return -1;
    }
    /* The ring's other handlers block this signal too from now on. */
    refresh_others(ring, sig);
    rc = 0;
out:
    pthread_mutex_unlock(&actions_lock);
    return rc;
}

int fs_ring_detach(fs_ring *ring, int sig)
{
    if (sig <= 0 || sig >= FS_NSIG || !(atomic_load(&ring->attached) & BIT(sig))) {
        errno = ENOENT;
        return -1;
    }
    pthread_mutex_lock(&actions_lock);
    int empty;
    struct subscribers *table = new_table(sig, ring, NULL, &empty);
    if (!table && !empty) {
        pthread_mutex_unlock(&actions_lock);
        errno = ENOMEM;
        return -1;
    }
    /* A handler of the group that is taking pending signals right now may
     * still take this one: it is recorded and counted like any delivery,
     * the ring being still alive. */
    if (empty)
        atomic_fetch_and(&takeable, ~BIT(sig));
    /* Signals hold() holds back in this thread meet our handler, not
     * the previous action (SIG_DFL ends the process for a real-time signal):
     * hold nothing more, then let them in; each is recorded or counted dropped. */
    atomic_store(&ring->reader_tid, 0);
    fs_release_held(BIT(sig));
    /* The last subscriber restores exactly what was there, unless someone
     * (signal.signal(), say) replaced our handler meanwhile, or a oneshot
     * subscriber gave it back already: theirs stays. */
    int rc = 0;
    if (empty && fs_handler_installed(sig))
        rc = sigaction(sig, &previous[sig], NULL);
    int saved = errno;
    if (!(atomic_load(&ring->oneshot) & BIT(sig))
        || (atomic_fetch_and(&ring->unfired, ~BIT(sig)) & BIT(sig)))
        atomic_fetch_sub(&listening[sig], 1);
    atomic_fetch_and(&ring->chain, ~BIT(sig));
    atomic_fetch_and(&ring->oneshot, ~BIT(sig));
    publish(sig, table);
    atomic_fetch_and(&ring->attached, ~BIT(sig));
    if (empty)
        action_flags[sig] = FS_FLAGS_AUTO;
    refresh(sig);
    refresh_others(ring, sig);
    pthread_mutex_unlock(&actions_lock);
    errno = saved;
    return rc;
}

/* Hand records to the action that is in place now, in order, by queueing
 * each to the calling thread again with its value; they are delivered as the
 * thread's mask allows. Returns how many were queued:
 * the kernel's queue may be full (EAGAIN). */
int fs_redeliver(const fs_info *records, int n)
{
    int32_t tid = thread_tid();
    int i = 0;
    for (; i < n; i++)
        if (fs_tgsigqueue(tid, records[i].signo, records[i].value) < 0)
            break;
    return i;
}

/* ---- reading ------------------------------------------------------------ */

/* Reset the wake fd's readability, whatever wrote it (a producer, an
 * interrupt, or someone else entirely): a stale wake-up must never leave
 * fileno() readable, or every event-loop turn would spin. */
static void clear_wake(fs_ring *ring)
{
#ifdef FS_HAVE_EVENTFD_H
    /* One read takes an eventfd's whole count: a second would only fail. */
    uint64_t count;
    ssize_t ignored = read(ring->wake_read_fd, &count, sizeof count);
    (void)ignored;
#else
    char buf[64];
    while (read(ring->wake_read_fd, buf, sizeof buf) > 0) {
    }
#endif
}

/* Clear the fd, then arm the wake-up, so the next producer writes it; the
 * fence pairs with the one in wake(): a record published before this is
 * seen by the caller's next look, one published after it writes the fd. */
static void arm_wake(fs_ring *ring)
{
    clear_wake(ring);
    atomic_store(&ring->armed, 1);
    atomic_thread_fence(memory_order_seq_cst);
}

/* Whoever asks for the fd may poll it: from now on every drain that runs dry
 * arms the wake-up (see drain()). The last drain may have run dry without
 * arming, so the first time the fd is armed here as a drain would, and made
 * readable at once if the ring holds a record. */
int fs_ring_fd(fs_ring *ring)
{
    if (!atomic_exchange(&ring->polled, 1)) {
        arm_wake(ring);
        if (fill_of(ring) > 0 || atomic_load(&ring->parked_any))
            wake(ring);
    }
    return ring->wake_read_fd;
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
                    atomic_fetch_add_explicit(&ring->read[out->signo], 1,
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
    atomic_fetch_add_explicit(&ring->read[sig], 1, memory_order_relaxed);
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

/* Of sigs, those that no other ring of theirs, read on this thread, would
 * hold back again at once (past half full): releasing one of those would let
 * in a single delivery, held again behind it, and that ring would drop the
 * rest of a flood while this one is drained. So a thread reading several
 * Listeners of a signal is held back until it has drained each below half,
 * as long as it keeps reading them: a ring not read for FS_READ_RECENT_NS
 * holds back no other (it drops what it has no room for, counted). */
#define FS_READ_RECENT_NS 100000000

/* When a read happened, for the judgement above: a clock tick (a few ms) is
 * precision enough, and the coarse clock is read without the TSC. */
static int64_t read_clock_ns(void)
{
#ifdef CLOCK_MONOTONIC_COARSE
    return fs_clock_ns(CLOCK_MONOTONIC_COARSE);
#else
    return fs_monotonic_ns();
#endif
}

static uint64_t releasable(const fs_ring *ring, uint64_t sigs)
{
    int32_t me = thread_tid();
    int64_t recent = read_clock_ns() - FS_READ_RECENT_NS;
    uint64_t out = 0;
    for (int sig = 1; sig < FS_NSIG; sig++) {
        if (!(sigs & BIT(sig)))
            continue;
        atomic_fetch_add(&active[sig], 1);  /* the table stays while we read it */
        const struct subscribers *subs = atomic_load(&subscribers[sig]);
        int held_by_another = 0;
        for (int i = 0; subs && i < subs->count && !held_by_another; i++) {
            const fs_ring *other = subs->rings[i];
            held_by_another = other != ring && atomic_load(&other->reader_tid) == me
                              && fill_of(other) > other->mask / 2 && !atomic_load(&other->closing)
                              && atomic_load(&other->read_ns) > recent;
        }
        atomic_fetch_sub(&active[sig], 1);
        if (!held_by_another)
            out |= BIT(sig);
    }
    return out;
}

/* Take up to max records. When the ring runs dry and arm is set, clear the
 * wake fd and arm the wake-up so the next producer writes it: a sleeping
 * reader is woken exactly once. Arming is for readers about to sleep, and for
 * every drain once the fd is out (an event loop polls it after a drain): a
 * reader that keeps up, and never sleeps, costs producers no write and itself
 * no read of the fd. */
static int drain(fs_ring *ring, fs_info *out, int max, int arm)
{
    /* Stored only when it changes: a store of the same value would still
     * cost a locked write per read. */
    int32_t me = thread_tid();
    if (atomic_load_explicit(&ring->reader_tid, memory_order_relaxed) != me
        && !atomic_load(&ring->closing))
        atomic_store(&ring->reader_tid, me);
    atomic_store_explicit(&ring->read_ns, read_clock_ns(), memory_order_relaxed);
    int n = 0, armed = 0;
    for (;;) {
        while (n < max && (take_parked(ring, &out[n]) || take(ring, &out[n])))
            n++;
        /* Down to a quarter, or closing: let held-back signals in again. */
        if (atomic_load(&holders_in_use)
            && (fill_of(ring) <= ring->mask / 4 || atomic_load(&ring->closing)))
            fs_release_held(releasable(ring, atomic_load(&ring->attached)));
        if (n == max) {
            /* Armed, then filled up with records that the release let in
             * before it: the fd was cleared with records left to read. Make
             * it readable again, or a poller would sleep until a new signal. */
            if (armed)
                wake(ring);
            return n;
        }
        /* Clear before arming: a producer writes only once armed, and the
         * re-check below sees any record published (or parked) before we
         * armed, or let in by the release above. */
        if (arm) {
            arm_wake(ring);
            armed = 1;
        }
        uint64_t pos = atomic_load(&ring->head);
        if (atomic_load_explicit(&ring->slots[pos & ring->mask].seq,
                                 memory_order_acquire) == pos + 1)
            continue;
        if (!take_parked(ring, &out[n]))
            return n;
        n++;
    }
}

int fs_ring_drain(fs_ring *ring, fs_info *out, int max)
{
    return drain(ring, out, max, atomic_load(&ring->polled));
}

/* What is there now, arming nothing: a look before a wait, which arms. */
int fs_ring_take(fs_ring *ring, fs_info *out, int max)
{
    return drain(ring, out, max, 0);
}

int fs_ring_wait(fs_ring *ring, fs_info *out, int max, int64_t timeout_ns)
{
    int n = drain(ring, out, max, 1);  /* about to sleep unless it finds some: arm */
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

/* shutdown() ran: a wait that returned nothing will never return more. */
int fs_ring_closing(const fs_ring *ring)
{
    return atomic_load(&ring->closing);
}

void fs_ring_counts(const fs_ring *ring, int sig, uint64_t *delivered,
                    uint64_t *dropped, uint64_t *read)
{
    if (sig <= 0 || sig >= FS_NSIG) {
        *delivered = *dropped = *read = 0;
        return;
    }
    *delivered = atomic_load(&ring->delivered[sig]);
    *dropped = atomic_load(&ring->dropped[sig]);
    *read = atomic_load(&ring->read[sig]);
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
    pthread_mutex_lock(&actions_lock);
    pthread_mutex_lock(&rings_lock);
}

static void after_fork_parent(void)
{
    pthread_mutex_unlock(&rings_lock);
    pthread_mutex_unlock(&actions_lock);
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
    for (fs_ring *ring = all_rings; ring; ring = ring->next)
        atomic_store(&ring->readers, reads_here(ring));  /* the others' threads are gone */
    this_thread_tid = 0;
    pthread_mutex_unlock(&rings_lock);
    pthread_mutex_unlock(&actions_lock);
    pthread_sigmask(SIG_SETMASK, &mask_before_fork, NULL);
}

__attribute__((constructor)) static void ring_init(void)
{
    for (int sig = 0; sig < FS_NSIG; sig++)
        action_flags[sig] = FS_FLAGS_AUTO;
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}
