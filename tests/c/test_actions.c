/*
 * fs_emulate_default() where it is meant to run: inside a signal handler,
 * with the signal it handles blocked by the kernel for the handler's length,
 * on the main thread or another one. Each case runs in a forked child whose
 * handler for sig calls fs_emulate_default(sig); the parent checks how the
 * child ended: killed by sig, stopped then continued, or returned. Built
 * plain and with ASan+UBSan by the Makefile beside this file; exits non-zero
 * on any failure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fastsig.h"

static int failures;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            failures++;                                                    \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                    \
            printf(__VA_ARGS__);                                           \
            printf("\n");                                                  \
        }                                                                  \
    } while (0)

/* The handler's outcome, for the child's exit status: 0 returned with errno
 * intact, 2 returned -1, 3 clobbered errno. */
static volatile sig_atomic_t outcome = -1;

static void emulating_handler(int sig, siginfo_t *si, void *context)
{
    (void)si;
    (void)context;
    errno = ERANGE;
    int rc = fs_emulate_default(sig);
    outcome = rc != 0 ? 2 : errno != ERANGE ? 3 : 0;
}

static void *raise_in_thread(void *arg)
{
    raise(*(int *)arg);
    return NULL;
}

/* The child: a handler for sig that emulates the default, then sig. */
static void child(int sig, int in_thread)
{
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);  /* a core action, without a core file */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = emulating_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) < 0)
        _exit(4);
    if (in_thread) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, raise_in_thread, &sig) != 0)
            _exit(5);
        pthread_join(thread, NULL);
    } else {
        raise(sig);
    }
    _exit(outcome < 0 ? 6 : outcome);
}

enum expect { KILLED, STOPPED, RETURNED };

static void run(int sig, enum expect expect, int in_thread)
{
    int status;
    pid_t pid = fork();
    if (pid == 0)
        child(sig, in_thread);
    CHECK(pid > 0, "fork: %s", strerror(errno));
    if (pid <= 0)
        return;
    waitpid(pid, &status, WUNTRACED);
    if (expect == STOPPED) {
        CHECK(WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP,
              "signal %d (thread %d): not stopped by SIGSTOP (status %#x)", sig, in_thread, status);
        if (WIFSTOPPED(status)) {
            kill(pid, SIGCONT);
            waitpid(pid, &status, 0);
        }
        expect = RETURNED;
    }
    if (expect == KILLED)
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == sig,
              "signal %d (thread %d): not killed by it (status %#x)", sig, in_thread, status);
    else
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "signal %d (thread %d): handler did not return cleanly (status %#x)",
              sig, in_thread, status);
}

int main(void)
{
    const struct { int sig; enum expect expect; } cases[] = {
        {SIGTERM, KILLED}, {SIGINT, KILLED}, {SIGUSR1, KILLED}, {SIGQUIT, KILLED},
        {SIGABRT, KILLED}, {SIGTSTP, STOPPED}, {SIGTTIN, STOPPED}, {SIGCHLD, RETURNED},
        {SIGCONT, RETURNED}, {SIGWINCH, RETURNED}, {SIGURG, RETURNED},
    };
    int ncases = (int)(sizeof cases / sizeof cases[0]);
    for (int in_thread = 0; in_thread < 2; in_thread++) {
        for (int i = 0; i < ncases; i++)
            run(cases[i].sig, cases[i].expect, in_thread);
        run(SIGRTMIN + 1, KILLED, in_thread);
        run(SIGRTMAX, KILLED, in_thread);
    }

    errno = 0;
    CHECK(fs_emulate_default(0) == -1 && errno == EINVAL, "signal 0 accepted");
    errno = 0;
    CHECK(fs_emulate_default(65) == -1 && errno == EINVAL, "signal 65 accepted");
    for (int sig = 32; sig < SIGRTMIN; sig++) {
        errno = 0;
        CHECK(fs_emulate_default(sig) == -1 && errno == EINVAL, "reserved signal %d accepted", sig);
    }
    CHECK(fs_default_action(SIGKILL) == FS_DFL_TERM, "SIGKILL does not terminate");
    CHECK(fs_default_action(SIGSTOP) == FS_DFL_STOP, "SIGSTOP does not stop");
    CHECK(fs_default_action(SIGSEGV) == FS_DFL_CORE, "SIGSEGV dumps no core");

    printf("test_actions: %d failed\n", failures);
    return failures != 0;
}
