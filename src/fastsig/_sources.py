"""Kernel signal sources and the supervisor's tools.

* ``Timer``: a POSIX timer (timer_create) whose expiries arrive as signals
  with si_code SI_TIMER, si_timerid, si_overrun and the timer's si_value, to
  the process or to one thread of it.
* ``notify_fd()`` / ``stop_notify()``: readiness of a pipe, socket or tty as
  signals (O_ASYNC + F_SETOWN_EX + F_SETSIG) carrying si_fd and si_band, one
  per event; with a real-time signal none is lost.
* ``pidfd_open()``: a pidfd for a process, or (Linux 6.9+) for one thread of
  one, to use with pidfd_send_signal().
* ``set_pdeathsig()`` / ``get_pdeathsig()``: the signal this process gets when
  its parent dies, set without the classic race.

Every delivery lands in whatever receiver the program uses (a Listener,
sigwaitinfo, signalfd): these functions only create the source. Start the
receiver first: a signal with no handler installed, not blocked, takes its
default action, which for most signals ends the process.
"""

from __future__ import annotations

import errno
import math
import os
import signal
import threading
from typing import Optional, Union

from . import _args, _core
from ._names import SignalLike, as_signal, signame, signum

ThreadLike = Union[int, threading.Thread, None]
Duration = Union[int, float]

_NS_MAX = (1 << 63) - 1


def _native_tid(thread: ThreadLike) -> int:
    """A thread of this process as its kernel id (0: the whole process)."""
    if thread is None:
        return 0
    if isinstance(thread, threading.Thread):
        if thread.native_id is None:
            raise ValueError(f"{thread.name} has not started: it has no native id yet")
        return int(thread.native_id)
    tid = _args.integer("thread", thread)
    if tid <= 0:
        raise ValueError(f"thread must be a native thread id > 0 (threading.get_native_id()), not {tid}")
    return tid


def _duration_ns(name: str, duration: object) -> int:
    """An int is ns, a float is seconds; never negative."""
    if isinstance(duration, bool) or not isinstance(duration, (int, float)):
        raise TypeError(f"{name} must be seconds (float) or ns (int), not {type(duration).__name__}")
    ns = int(duration) if isinstance(duration, int) else None
    if ns is None:
        if math.isnan(duration) or math.isinf(duration):
            raise ValueError(f"{name} must be a finite number, not {duration!r}")
        ns = round(duration * 1e9)
    if not 0 <= ns <= _NS_MAX:
        raise ValueError(f"{name} must be non-negative and fit in 64-bit ns, not {duration!r}")
    return ns


# ---- POSIX timers ----------------------------------------------------------

class Timer:
    """A POSIX timer that sends ``sig`` (with ``value`` as si_value) on expiry.

    ``Timer(sig, *, value=0, clock="monotonic", thread=None)``; clock is one
    of "monotonic", "realtime", "boottime" (counts suspend), "process" (this
    process's CPU time) or "thread" (the creating thread's CPU time).
    ``thread`` (a native id or a started threading.Thread of this process)
    sends every expiry to that thread only (SIGEV_THREAD_ID); None sends to
    the process. Durations are seconds as a float or ns as an int.

    While a signal from the timer is still pending, later expiries are not
    queued but counted: the record's si_overrun (and ``overrun`` after it is
    received) says how many were folded into it. The timer is created
    disarmed; start() arms it. close() (or the end of a with-block) deletes
    it. A forked child does not inherit it (the kernel's rule), so the object
    refuses to work there.
    """

    _id = -1

    def __init__(self, sig: SignalLike, *, value: int = 0, clock: str = "monotonic",
                 thread: ThreadLike = None) -> None:
        if not _core.HAVE_TIMER:
            raise NotImplementedError("POSIX timers (timer_create) are not available on this platform")
        number = signum(sig)
        checked = _args.sigval(value)
        clock_id = _core.CLOCKS.get(clock) if isinstance(clock, str) else None
        if clock_id is None:
            raise ValueError(f"clock must be one of {', '.join(_core.CLOCKS)}, not {clock!r}")
        tid = _native_tid(thread)
        self.signal, self.value, self.clock, self.tid = number, checked, clock, tid
        self._pid = os.getpid()
        self._id = _core.timer_create(clock_id, number, checked, tid)

    @property
    def timerid(self) -> int:
        """The kernel's id of this timer: the si_timerid of its signals."""
        self._check()
        return self._id

    @property
    def closed(self) -> bool:
        return self._id < 0

    def start(self, initial: Duration, interval: Optional[Duration] = None) -> None:
        """Arm the timer: first expiry after ``initial``, then every
        ``interval`` (None or 0: once). Re-arming replaces the old setting."""
        first = _duration_ns("initial", initial)
        if first == 0:
            raise ValueError("initial must be > 0 (stop() disarms the timer)")
        every = 0 if interval is None else _duration_ns("interval", interval)
        self._check()
        _core.timer_settime(self._id, first, every)

    def stop(self) -> None:
        """Disarm the timer. A signal it sent that no thread has taken yet is
        discarded by Linux 6.13+ (the kernel drops the pending signal of a
        timer re-armed, disarmed or deleted before delivery; sigpending()
        still lists it until then); older kernels deliver it."""
        self._check()
        _core.timer_settime(self._id, 0, 0)

    def remaining(self) -> float:
        """Seconds until the next expiry; 0.0 when disarmed."""
        self._check()
        return _core.timer_gettime(self._id)[0] / 1e9

    @property
    def interval(self) -> float:
        """The period in seconds; 0.0 for a one-shot or disarmed timer."""
        self._check()
        return _core.timer_gettime(self._id)[1] / 1e9

    @property
    def overrun(self) -> int:
        """Expiries folded into the last signal received from this timer
        (timer_getoverrun), as its si_overrun reported."""
        self._check()
        return _core.timer_getoverrun(self._id)

    def close(self) -> None:
        """Delete the timer (idempotent); its pending signal goes as for stop()."""
        timerid, self._id = self._id, -1
        if timerid >= 0 and os.getpid() == self._pid:
            _core.timer_delete(timerid)

    def _check(self) -> None:
        if self._id < 0:
            raise ValueError("operation on a closed Timer")
        if os.getpid() != self._pid:
            raise ValueError(f"this Timer belongs to process {self._pid}: "
                             "a forked child does not inherit POSIX timers")

    def __enter__(self) -> Timer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if self._id >= 0:
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self._id < 0 else f"id={self._id}"
        target = f" thread={self.tid}" if getattr(self, "tid", 0) else ""
        return f"<Timer {signame(self.signal)} {self.clock}{target} {state}>"


# ---- fd readiness ----------------------------------------------------------

def _fd(fd: object) -> int:
    if not isinstance(fd, int) and hasattr(fd, "fileno"):
        fd = fd.fileno()
    number = _args.integer("fd", fd)
    if number < 0:
        raise ValueError(f"fd must be >= 0, not {number}")
    return number


def notify_fd(fd: object, sig: SignalLike, *, thread: ThreadLike = None) -> None:
    """Send ``sig`` whenever fd becomes ready (O_ASYNC + F_SETOWN_EX + F_SETSIG).

    Each record carries si_fd (which fd) and si_band (POLLIN, POLLOUT, ...
    bits), with si_code a PollCode (POLL_IN, POLL_OUT, POLL_HUP, ...). With a
    real-time signal every event is queued, none lost; with a standard one
    they coalesce. ``thread`` sends them to that thread of this process only.
    Works for pipes, sockets, ttys and other fds whose driver supports
    O_ASYNC; fd may also be an object with fileno().
    """
    if not _core.HAVE_SETSIG:
        raise NotImplementedError("F_SETSIG is not available on this platform")
    _core.notify_fd(_fd(fd), signum(sig), _native_tid(thread))


def stop_notify(fd: object) -> None:
    """Undo notify_fd(): clear O_ASYNC and the fd's F_SETSIG signal."""
    if not _core.HAVE_SETSIG:
        raise NotImplementedError("F_SETSIG is not available on this platform")
    _core.stop_notify(_fd(fd))


# ---- pidfd -----------------------------------------------------------------

def pidfd_open(pid: int, *, thread: bool = False) -> int:
    """A pidfd (close-on-exec) for process ``pid``, or with ``thread=True`` for
    the thread whose native id is ``pid`` (Linux 6.9+, PIDFD_THREAD).

    A thread pidfd makes pidfd_send_signal() reach that thread only: with a
    value, the race-free way to send a payload to one thread of another
    process. The caller owns the fd (os.close() it).
    """
    number = _args.pid(pid, positive=True)
    try:
        return _core.pidfd_open(number, bool(thread))
    except OSError as exc:
        if thread and exc.errno == errno.EINVAL and \
                _core.pidfd_open_errno(os.getpid(), True) == errno.EINVAL:
            raise NotImplementedError("pidfd_open: thread=True needs PIDFD_THREAD (Linux 6.9+), "
                                      "which this kernel lacks") from None
        # A thread that leads no process: EINVAL before Linux 6.9, ENOENT since.
        if not thread and exc.errno in (errno.EINVAL, errno.ENOENT):
            raise OSError(exc.errno, f"pidfd_open: {number} is not a process (a thread-group "
                          "leader); use thread=True for a thread") from None
        raise


# ---- the parent-death signal -------------------------------------------------

# The pid that forked this process, recorded in the parent just before the
# fork: by the time the child runs, its parent may already be gone, and
# getppid() would then name the reaper that adopted it.
_forker = {"parent": 0, "self": 0}


def _before_fork() -> None:
    _forker["self"] = os.getpid()


def _after_fork_in_child() -> None:
    _forker["parent"] = _forker["self"]


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def set_pdeathsig(sig: SignalLike, *, parent: Optional[int] = None) -> None:
    """Ask for ``sig`` when the parent dies (prctl PR_SET_PDEATHSIG); 0 clears it.

    Then check that the parent is still alive: if it died before the call,
    the signal would never come (this process was already adopted), so this
    raises ProcessLookupError (the setting stays, aimed at the adopter).
    ``parent`` is the pid expected; by default the process that forked this
    one (recorded at os.fork(), so a parent that died right after the fork
    is caught), else the parent at the time of the call. A program started
    by exec should be told its parent's pid (in argv or the environment).

    The kernel sends it when the parent *thread* that created this process
    exits, and clears it in a forked child and across a set-user-id exec.
    """
    number = 0 if type(sig) is int and sig == 0 else signum(sig)
    expected = _args.pid(parent, positive=True) if parent is not None else (
        _forker["parent"] or os.getppid())
    if not _core.HAVE_PDEATHSIG:
        raise NotImplementedError("PR_SET_PDEATHSIG is not available on this platform")
    _core.set_pdeathsig(number)
    now = os.getppid()
    if number and now != expected:
        raise ProcessLookupError(
            errno.ESRCH, f"set_pdeathsig: the parent (pid {expected}) already died; "
            f"this process now belongs to pid {now}, which will not send {signame(number)} for it")


def get_pdeathsig() -> Union[signal.Signals, int]:
    """The parent-death signal set for this process; 0 if none."""
    if not _core.HAVE_PDEATHSIG:
        raise NotImplementedError("PR_GET_PDEATHSIG is not available on this platform")
    return as_signal(_core.get_pdeathsig())
