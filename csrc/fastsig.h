/*
 * fastsig's C core: everything Python may call.
 *
 * The region between the cdef markers is read verbatim by src/fastsig/_build.py as
 * the cffi cdef, so it must stay plain C that cffi's parser accepts: no #include,
 * no #if, fixed-width integer types only. Signal sets cross the boundary as a
 * 64-bit mask (bit n-1 is signal n), which covers every signal Linux has.
 *
 * Conventions: a function returns -1 and leaves errno set on failure; the Python
 * layer turns that into the matching OSError naming the syscall.
 */
#ifndef FASTSIG_H
#define FASTSIG_H

#include <stddef.h>
#include <stdint.h>

/* cdef-begin */

/* What this build of the core supports (fs_features() returns a mask of these). */
enum {
    FS_HAVE_SIGNALFD = 1,
    FS_HAVE_PIDFD = 2,
    FS_HAVE_PTHREAD_SIGQUEUE = 4
};

/* One received signal. Fields the si_code does not define are zero. The
 * first seven fields are signal.struct_siginfo's, in its order. */
typedef struct fs_info {
    int32_t signo;
    int32_t code;
    int32_t err;
    int32_t pid;
    uint32_t uid;
    int32_t status;
    int64_t band;
    int64_t value;     /* si_value.sival_ptr, pointer width, sign-extended */
    uint64_t addr;
    int32_t fd;
    int32_t timerid;
    int32_t overrun;
    int32_t tid;       /* receiving thread (ring only) */
    int64_t time_ns;   /* CLOCK_MONOTONIC at delivery (ring only) */
} fs_info;

/* Arguments of one send-then-wait round trip, preallocated by the caller. */
typedef struct fs_exchange {
    int32_t pid;
    int32_t sig;
    int64_t value;
    uint64_t wait_set;
    int64_t timeout_ns;   /* < 0: wait forever */
} fs_exchange;

unsigned fs_features(void);
int fs_sigrtmin(void);
int fs_sigrtmax(void);
const char *fs_strsignal(int sig);

/* Sending (ops.c). */
int fs_kill(int32_t pid, int sig);
int fs_sigqueue(int32_t pid, int sig, int64_t value);
int fs_sigqueue_many(int32_t pid, int sig, const int64_t *values, size_t n,
                     int64_t timeout_ns, size_t *sent);
int fs_sigqueue_range(int32_t pid, int sig, int64_t first, size_t n,
                      int64_t timeout_ns, size_t *sent);
int fs_pthread_kill(unsigned long thread, int sig);
int fs_pthread_sigqueue(unsigned long thread, int sig, int64_t value);
int fs_pidfd_send_signal(int pidfd, int sig, int with_value, int64_t value,
                         unsigned flags);
int fs_raise(int sig);
/* The address of the fs_api table below, for the extension fastsig._fast. */
uintptr_t fs_api_address(void);

/* Masks (ops.c). */
int fs_pthread_sigmask(int how, uint64_t set, uint64_t *old);
int fs_sigprocmask(int how, uint64_t set, uint64_t *old);
int fs_sigpending(uint64_t *set);

/* Waiting (ops.c). Return the number of records, 0 on timeout, -1 on error. */
int fs_sigwaitinfo_many(uint64_t set, fs_info *out, int max, int64_t timeout_ns);
int fs_exchange_once(const fs_exchange *x, fs_info *out);
int fs_signalfd(int fd, uint64_t set, int nonblock);
int fs_signalfd_read(int fd, void *scratch, size_t scratch_len, fs_info *out);
size_t fs_signalfd_record_size(void);

/* The asynchronous path: handlers writing into a ring (ring.c). */
typedef struct fs_ring fs_ring;
/* attach options: pass every delivery on to the previous action too; record
 * only the first delivery, then give the previous action back. sa_flags:
 * FS_FLAGS_AUTO, or any of SA_NOCLDSTOP, SA_NOCLDWAIT, SA_NODEFER, SA_ONSTACK
 * and SA_RESTART (EINVAL otherwise; EBUSY if another ring of the signal asked
 * for different ones). */
enum { FS_CHAIN = 1, FS_ONESHOT = 2, FS_FLAGS_AUTO = -1 };
fs_ring *fs_ring_new(uint32_t capacity);
void fs_ring_free(fs_ring *ring);
int fs_ring_fd(fs_ring *ring);
int fs_ring_attach(fs_ring *ring, int sig, int options, int sa_flags);
int fs_ring_detach(fs_ring *ring, int sig);
int fs_handler_installed(int sig);
void fs_release_held(uint64_t sigs);
int fs_ring_drain(fs_ring *ring, fs_info *out, int max);
int fs_ring_wait(fs_ring *ring, fs_info *out, int max, int64_t timeout_ns);
int fs_ring_take(fs_ring *ring, fs_info *out, int max);
int fs_ring_closing(const fs_ring *ring);
/* A read in progress, counted in from fs_ring_enter() to fs_ring_leave() on
 * one thread, so that close() can wait for the reads of other threads alone. */
typedef struct fs_reading {
    fs_ring *ring;
    struct fs_reading *next;
} fs_reading;
int fs_ring_enter(fs_ring *ring, fs_reading *reading);
void fs_ring_leave(fs_reading *reading);
int fs_ring_readers_elsewhere(const fs_ring *ring);
void fs_ring_interrupt(fs_ring *ring);
void fs_ring_shutdown(fs_ring *ring);
void fs_ring_counts(const fs_ring *ring, int sig, uint64_t *delivered,
                    uint64_t *dropped, uint64_t *read);
int fs_redeliver(const fs_info *records, int n);

/* ---- kernel signal sources and supervisor tools (sources.c) ----------------
 * Feature bits of their own, so fs_features() can report them; the kernel
 * constants are the Linux ABI's (include/uapi), checked against the C
 * library's headers in sources.c where those name them. */
enum {
    FS_HAVE_TIMER = 0x100,
    FS_HAVE_SETSIG = 0x200,
    FS_HAVE_PIDFD_OPEN = 0x400,
    FS_HAVE_PDEATHSIG = 0x800
};
enum {
    FS_PIDFD_SIGNAL_THREAD = 1,
    FS_PIDFD_SIGNAL_THREAD_GROUP = 2,
    FS_PIDFD_SIGNAL_PROCESS_GROUP = 4
};
enum {
    FS_CLOCK_REALTIME = 0,
    FS_CLOCK_MONOTONIC = 1,
    FS_CLOCK_PROCESS_CPUTIME = 2,
    FS_CLOCK_THREAD_CPUTIME = 3,
    FS_CLOCK_BOOTTIME = 7
};
/* POSIX timers by their kernel id (what si_timerid reports). tid 0: the
 * signal goes to the process; else to that thread of this process. */
int fs_timer_create(int clock, int sig, int64_t value, int32_t tid, int32_t *timerid);
int fs_timer_settime(int32_t timerid, int64_t initial_ns, int64_t interval_ns);
int fs_timer_gettime(int32_t timerid, int64_t *remaining_ns, int64_t *interval_ns);
int fs_timer_getoverrun(int32_t timerid);
int fs_timer_delete(int32_t timerid);
/* fd readiness as signal sig (F_SETSIG), to the process or thread tid. */
int fs_notify_fd(int fd, int sig, int32_t tid);
int fs_stop_notify(int fd);
int fs_pidfd_open(int32_t pid, int thread);
int fs_set_pdeathsig(int sig);
int fs_get_pdeathsig(int *sig);

/* ---- dispositions: default actions, reading and restoring them (actions.c) ----
 * The default action of every signal, as the kernel takes it (signal(7)). */
enum {
    FS_DFL_TERM = 1,   /* terminate the process, with the signal as its status */
    FS_DFL_CORE = 2,   /* the same, dumping core where RLIMIT_CORE allows */
    FS_DFL_STOP = 3,   /* stop every thread until SIGCONT */
    FS_DFL_CONT = 4,   /* continue if stopped: nothing for a running process */
    FS_DFL_IGN = 5     /* nothing */
};
/* Both async-signal-safe, callable from a handler. fs_default_action returns
 * an FS_DFL_* value. fs_emulate_default does sig's default action now, from
 * any thread: it returns 0 where the process goes on (nothing, or stopped and
 * continued) and never returns where the action ends the process. Both
 * return -1 with EINVAL for a number that is not a signal or that the C
 * library keeps for itself (32 and 33 on glibc). */
int fs_default_action(int sig);
int fs_emulate_default(int sig);

/* A signal's current action as the kernel has it. */
enum {
    FS_ACTION_DEFAULT = 0,   /* SIG_DFL */
    FS_ACTION_IGNORE = 1,    /* SIG_IGN */
    FS_ACTION_FASTSIG = 2,   /* fastsig's own handler (ring.c) */
    FS_ACTION_HANDLER = 3    /* any other handler, at address handler */
};
typedef struct fs_action {
    int32_t kind;      /* FS_ACTION_* */
    uint32_t flags;    /* sa_flags, the SA_* bits POSIX names only */
    uint64_t handler;  /* the handler's address; 0 for SIG_DFL and SIG_IGN */
    uint64_t mask;     /* sa_mask */
} fs_action;
int fs_getaction(int sig, fs_action *out);
/* A signal's whole struct sigaction, saved as opaque bytes in a caller's
 * buffer of fs_action_size() bytes, and put back exactly. fs_action_decode
 * reads saved bytes as fs_getaction would (never FS_ACTION_FASTSIG). */
size_t fs_action_size(void);
int fs_action_save(int sig, void *saved);
int fs_action_restore(int sig, const void *saved);
void fs_action_decode(const void *saved, fs_action *out);
/* Set sig to SIG_DFL (kind FS_ACTION_DEFAULT) or SIG_IGN (FS_ACTION_IGNORE),
 * with no flags and an empty mask. */
int fs_set_disposition(int sig, int kind);
/* 1 if addr lies in the loaded object that holds CPython's C API (the python
 * executable or libpython), 0 if not or unknown. */
int fs_in_python_image(uintptr_t addr);

/* cdef-end */

/* The core as the CPython extension fastsig._fast (csrc/python/_fast.c) sees
 * it: the functions of its per-call hot paths. The Python layer hands the
 * extension this table's address at import, so the core is compiled once, into
 * the cffi module, and both modules share its state (the identity cache). */
typedef struct fs_api {
    size_t size;  /* sizeof(fs_api) where the table was filled */
    int (*sigqueue)(int32_t pid, int sig, int64_t value);
    int (*kill)(int32_t pid, int sig);
    int (*raise_signal)(int sig);
    int (*pthread_kill)(unsigned long thread, int sig);
    int (*pthread_sigqueue)(unsigned long thread, int sig, int64_t value);
    int (*tgsigqueue)(int32_t tid, int sig, int64_t value);  /* by kernel thread id */
    int (*pthread_sigmask)(int how, uint64_t set, uint64_t *old);
    int (*sigpending)(uint64_t *set);
    int (*sigwaitinfo_many)(uint64_t set, fs_info *out, int max, int64_t timeout_ns);
    int (*exchange_once)(const fs_exchange *x, fs_info *out);
    int (*signalfd_read)(int fd, void *scratch, size_t scratch_len, fs_info *out);
    size_t (*signalfd_record_size)(void);
    int (*ring_drain)(fs_ring *ring, fs_info *out, int max);
    int (*ring_wait)(fs_ring *ring, fs_info *out, int max, int64_t timeout_ns);
    int (*ring_closing)(const fs_ring *ring);
    int (*ring_enter)(fs_ring *ring, fs_reading *reading);
    void (*ring_leave)(fs_reading *reading);
    int (*ring_take)(fs_ring *ring, fs_info *out, int max);
} fs_api;

int fs_tgsigqueue(int32_t tid, int sig, int64_t value);

/* bench: the pure-C references of the benchmark, built into the same module. */
#include "refbench.h"

#endif
