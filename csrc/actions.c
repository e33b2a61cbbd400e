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
    if (sig <= 0 || sig >= FS_NSIG) {
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
