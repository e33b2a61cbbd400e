/*
 * Shared by the C files of the core, never seen by Python: platform feature
 * macros and the one place that turns a kernel siginfo into an fs_info.
 *
 * Linux (glibc and musl) is the reference platform. Everything Linux-only sits
 * behind an FS_HAVE_* macro defined here, so another POSIX system builds the
 * core with those functions reporting ENOSYS and fs_features() saying so.
 */
#ifndef FASTSIG_INTERNAL_H
#define FASTSIG_INTERNAL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "fastsig.h"

/* Signals 1..64: what a 64-bit mask can carry, and all Linux has (_NSIG - 1). */
#define FS_NSIG 65

#ifdef __linux__
#define FS_HAVE_SIGNALFD_H 1
#define FS_HAVE_EVENTFD_H 1
#endif
#if defined(SYS_rt_sigqueueinfo)
#define FS_HAVE_RT_SIGQUEUEINFO 1
#endif
/* Build images with an old C library (manylinux_2_28 has glibc 2.28) may not
 * name this syscall although the kernels the wheel runs on have it. Since
 * Linux 5.1 it is 424 on every architecture but alpha; an older kernel
 * answers ENOSYS, which reaches the caller as an OSError. */
#if defined(__linux__) && !defined(SYS_pidfd_send_signal) && !defined(__alpha__)
#define SYS_pidfd_send_signal 424
#endif
#if defined(SYS_pidfd_send_signal)
#define FS_HAVE_PIDFD_SEND_SIGNAL 1
#endif
#if defined(__GLIBC__)
#define FS_HAVE_PTHREAD_SIGQUEUE_FN 1
#endif
#if defined(SYS_gettid)
#define FS_GETTID() ((int32_t)syscall(SYS_gettid))
#else
#define FS_GETTID() 0
#endif

/* Kernel signal sources and supervisor tools (sources.c). */
#include <fcntl.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#if defined(__linux__) && defined(SYS_timer_create) && defined(SYS_timer_settime) && \
    defined(SYS_timer_gettime) && defined(SYS_timer_getoverrun) && defined(SYS_timer_delete)
#define FS_HAVE_TIMER_SYSCALLS 1
#endif
#if defined(F_SETSIG) && defined(F_SETOWN_EX) && defined(O_ASYNC)
#define FS_HAVE_F_SETSIG 1
#endif
/* As with pidfd_send_signal above: 434 on every architecture but
 * alpha since Linux 5.3; an older kernel answers ENOSYS. */
#if defined(__linux__) && !defined(SYS_pidfd_open) && !defined(__alpha__)
#define SYS_pidfd_open 434
#endif
#if defined(SYS_pidfd_open)
#define FS_HAVE_PIDFD_OPEN_SYSCALL 1
#endif
#if defined(PR_SET_PDEATHSIG) && defined(PR_GET_PDEATHSIG)
#define FS_HAVE_PR_PDEATHSIG 1
#endif

/* Dispositions (actions.c): dladdr() and RTLD_DEFAULT, which glibc, musl,
 * macOS and the BSDs have, tell which loaded object holds a handler. */
#include <dlfcn.h>
#if defined(RTLD_DEFAULT)
#define FS_HAVE_DLADDR 1
#endif

/* Keep only the fields that si_code defines (see SigInfo's docs); zero the rest,
 * since the kernel's union leaves stale bytes in them. */
static inline void fs_info_keep_valid(fs_info *info)
{
    int has_sender = 0, has_value = 0, has_status = 0, has_addr = 0;
    int has_poll = 0, has_timer = 0;

    switch (info->code) {
    case SI_USER:
    case SI_TKILL:
        has_sender = 1;
        break;
    case SI_QUEUE:
    case SI_MESGQ:
        has_sender = has_value = 1;
        break;
    case SI_TIMER:
        has_timer = has_value = 1;
        break;
    case SI_ASYNCIO:
        has_value = 1;
        break;
    case SI_SIGIO:
        has_poll = 1;
        break;
    default:
        if (info->code > 0 && info->code != SI_KERNEL) {
            switch (info->signo) {
            case SIGCHLD:
                has_sender = has_status = 1;
                break;
            case SIGILL:
            case SIGFPE:
            case SIGSEGV:
            case SIGBUS:
            case SIGTRAP:
#ifdef SIGSYS
            case SIGSYS:
#endif
                has_addr = 1;
                break;
            default:
                /* fd readiness (POLL_IN, ...): SIGIO, or any signal an fd's
                 * F_SETSIG chose (notify_fd). */
                has_poll = 1;
                break;
            }
        }
    }
    if (!has_sender) { info->pid = 0; info->uid = 0; }
    if (!has_value) info->value = 0;
    if (!has_status) info->status = 0;
    if (!has_addr) info->addr = 0;
    if (!has_poll) { info->band = 0; info->fd = 0; }
    if (!has_timer) { info->timerid = 0; info->overrun = 0; }
}

/* Async-signal-safe: plain loads and stores only. */
static inline void fs_info_from_siginfo(const siginfo_t *si, fs_info *info)
{
    info->signo = si->si_signo;
    info->code = si->si_code;
    info->err = si->si_errno;
    info->pid = (int32_t)si->si_pid;
    info->uid = (uint32_t)si->si_uid;
    info->status = si->si_status;
    info->value = (int64_t)(intptr_t)si->si_value.sival_ptr;
    info->addr = (uint64_t)(uintptr_t)si->si_addr;
    info->band = (int64_t)si->si_band;
#ifdef si_fd
    info->fd = si->si_fd;
#else
    info->fd = 0;
#endif
#if defined(si_timerid) && defined(si_overrun)
    info->timerid = si->si_timerid;
    info->overrun = si->si_overrun;
#else
    info->timerid = 0;
    info->overrun = 0;
#endif
    info->tid = 0;
    info->time_ns = 0;
    fs_info_keep_valid(info);
}

/* A clock in ns (fs_monotonic_ns: CLOCK_MONOTONIC). Async-signal-safe
 * (clock_gettime is). */
static inline int64_t fs_clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t fs_monotonic_ns(void)
{
    return fs_clock_ns(CLOCK_MONOTONIC);
}

int fs_mask_to_sigset(uint64_t mask, sigset_t *set);
uint64_t fs_sigset_to_mask(const sigset_t *set);

#endif
