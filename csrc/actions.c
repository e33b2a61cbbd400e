/*
 * Dispositions: what the kernel does with a signal, the default actions, and
 * carrying one of those out on demand.
 *
 * fs_emulate_default() exists for a process whose handler decided the signal
 * should, after all, do what it would have done without a handler: a handler
 * chaining onto a previous SIG_DFL, a second Ctrl-C, a redelivered SIGTERM.
 * It is async-signal-safe (sigaction, pthread_sigmask, raise, kill, getpid,
 * _exit), so a handler may call it.
 */
#include "internal.h"

#include <pthread.h>

/* The one table of default actions. Linux's rule (kernel/signal.c,
 * SIG_KERNEL_*_MASK): four signals stop, SIGCONT continues, three are
 * ignored, ten dump core, and every other one terminates, the real-time
 * signals, SIGIO and SIGPWR included. */
int fs_default_action(int sig)
{
    /* Below SIGRTMIN and above the standard signals: the C library's own
     * (glibc's thread cancellation and set*id broadcast), never to be raised
     * here. SIGRTMIN reads a variable: async-signal-safe. */
    int reserved = 0;
#ifdef SIGRTMIN
    reserved = sig >= 32 && sig < SIGRTMIN;
#endif
    if (sig <= 0 || sig >= FS_NSIG || reserved) {
        errno = EINVAL;
        return -1;
    }
    switch (sig) {
    case SIGSTOP:
    case SIGTSTP:
    case SIGTTIN:
    case SIGTTOU:
        return FS_DFL_STOP;
    case SIGCONT:
        return FS_DFL_CONT;
    case SIGCHLD:
    case SIGURG:
    case SIGWINCH:
        return FS_DFL_IGN;
    case SIGQUIT:
    case SIGILL:
    case SIGTRAP:
    case SIGABRT:
    case SIGBUS:
    case SIGFPE:
    case SIGSEGV:
    case SIGXCPU:
    case SIGXFSZ:
#ifdef SIGSYS
    case SIGSYS:
#endif
        return FS_DFL_CORE;
    default:
        return FS_DFL_TERM;
    }
}

/* Let the kernel end the process with sig: its default action back, sig
 * unblocked in this thread, then sig sent to this thread (raise() is
 * thread-directed), so the kernel delivers it before raise() returns. Only
 * if something still stands in the way (another thread installed a handler
 * in between, a tracer swallowed it) does the process end by _exit() with
 * the shell's status for a signal death. */
static void terminate(int sig)
{
    struct sigaction dfl;
    sigset_t just_sig;

    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);  /* fails for SIGKILL only, which needs none */
    sigemptyset(&just_sig);
    sigaddset(&just_sig, sig);
    pthread_sigmask(SIG_UNBLOCK, &just_sig, NULL);
    raise(sig);
    _exit(128 + sig);
}

int fs_emulate_default(int sig)
{
    int saved_errno = errno;
    switch (fs_default_action(sig)) {
    case FS_DFL_TERM:
    case FS_DFL_CORE:
        terminate(sig);
        break;  /* not reached */
    case FS_DFL_STOP:
        /* SIGSTOP whatever the stop signal: it cannot be caught, blocked or
         * ignored, so the stop happens even where sig has a handler (ours).
         * The kernel stops this thread on its way out of kill() and lets it
         * go on when SIGCONT arrives. Unlike the kernel, this stops an
         * orphaned process group too, where a SIGTSTP would be discarded. */
        kill(getpid(), SIGSTOP);
        break;
    case FS_DFL_CONT:
    case FS_DFL_IGN:
        break;
    default:
        return -1;  /* EINVAL, from fs_default_action */
    }
    errno = saved_errno;
    return 0;
}

/* ---- reading, saving and setting actions ------------------------------- */

/* The flags POSIX names. Others are the C library's plumbing (Linux's
 * SA_RESTORER, set on every action glibc installs) and mean nothing to a
 * caller. */
static const int named_flags = SA_NOCLDSTOP | SA_NOCLDWAIT | SA_SIGINFO | SA_ONSTACK
                               | SA_RESTART | SA_NODEFER | SA_RESETHAND;

static void decode(const struct sigaction *sa, fs_action *out)
{
    uintptr_t handler = (sa->sa_flags & SA_SIGINFO) ? (uintptr_t)sa->sa_sigaction
                                                     : (uintptr_t)sa->sa_handler;
    out->flags = (uint32_t)(sa->sa_flags & named_flags);
    out->mask = fs_sigset_to_mask(&sa->sa_mask);
    if (!(sa->sa_flags & SA_SIGINFO) && sa->sa_handler == SIG_DFL) {
        out->kind = FS_ACTION_DEFAULT;
        out->handler = 0;
    } else if (!(sa->sa_flags & SA_SIGINFO) && sa->sa_handler == SIG_IGN) {
        out->kind = FS_ACTION_IGNORE;
        out->handler = 0;
    } else {
        out->kind = FS_ACTION_HANDLER;
        out->handler = handler;
    }
}

/* Zeroed first, so no field the C library leaves alone holds stale bytes.
 * Saved actions still compare through decode(), never byte for byte: glibc
 * copies a whole sigset_t of which the kernel filled the first 64 bits. */
static int read_action(int sig, struct sigaction *sa)
{
    memset(sa, 0, sizeof *sa);
    if (sig <= 0 || sig >= FS_NSIG) {
        errno = EINVAL;
        return -1;
    }
    return sigaction(sig, NULL, sa);
}

int fs_getaction(int sig, fs_action *out)
{
    struct sigaction sa;
    if (read_action(sig, &sa) < 0)
        return -1;
    decode(&sa, out);
    if (out->kind == FS_ACTION_HANDLER && fs_handler_installed(sig))
        out->kind = FS_ACTION_FASTSIG;
    return 0;
}

size_t fs_action_size(void)
{
    return sizeof(struct sigaction);
}

/* The buffer may be unaligned (it is bytes): copied, never cast. */
int fs_action_save(int sig, void *saved)
{
    struct sigaction sa;
    if (read_action(sig, &sa) < 0)
        return -1;
    memcpy(saved, &sa, sizeof sa);
    return 0;
}

int fs_action_restore(int sig, const void *saved)
{
    struct sigaction sa;
    memcpy(&sa, saved, sizeof sa);
    return sigaction(sig, &sa, NULL);
}

void fs_action_decode(const void *saved, fs_action *out)
{
    struct sigaction sa;
    memcpy(&sa, saved, sizeof sa);
    decode(&sa, out);
}

int fs_set_disposition(int sig, int kind)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    if (kind == FS_ACTION_DEFAULT) {
        sa.sa_handler = SIG_DFL;
    } else if (kind == FS_ACTION_IGNORE) {
        sa.sa_handler = SIG_IGN;
    } else {
        errno = EINVAL;
        return -1;
    }
    return sigaction(sig, &sa, NULL);
}

/* CPython's signal handler is a static function, so it has no name to look
 * up; what can be checked is that an address lies in the same loaded object
 * as a function of CPython's C API. Python runs inside that object, so the
 * symbol is always there when this module is loaded by CPython. */
int fs_in_python_image(uintptr_t addr)
{
#ifdef FS_HAVE_DLADDR
    Dl_info python, candidate;
    void *api = dlsym(RTLD_DEFAULT, "PyOS_setsig");
    if (api == NULL || addr == 0)
        return 0;
    if (!dladdr(api, &python) || !dladdr((void *)addr, &candidate))
        return 0;
    return python.dli_fbase == candidate.dli_fbase;
#else
    (void)addr;
    return 0;
#endif
}
