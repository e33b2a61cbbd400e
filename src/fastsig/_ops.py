"""The synchronous operations: send, mask, wait, signalfd.

Functions that share a name with the stdlib ``signal`` module take the same
arguments, raise the same exception types and return the same types; their
results only add fields. Arguments are checked before any syscall.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
import time
from array import array
from typing import Any, Callable, Iterable, Iterator, List, Optional, Set, Union

from . import _args, _core, _fast
from ._errors import QueueFull, os_error, send_error
from ._names import (
    NAME_CACHE,
    UNCATCHABLE,
    VALID,
    SignalLike,
    SignalSet,
    as_signal,
    mask_of,
    set_of,
    signum,
    signum_or_probe,
)
from ._names import strsignal as _strsignal_checked
from ._siginfo import SigInfo, first, from_batch

# An unbounded retry waits in slices this long, so Ctrl-C still gets through.
_SLICE_NS = 100_000_000


# ---- sending ---------------------------------------------------------------

def _kill_checked(pid: int, sig: SignalLike) -> None:
    """kill(2): pid > 0 one process, 0 my process group, -1 every process I may
    signal, < -1 the process group -pid. ``sig`` may be 0 to probe."""
    _core.kill(_args.pid(pid), signum_or_probe(sig))


def _killpg_checked(pgid: int, sig: SignalLike) -> None:
    """Signal every process in process group pgid (0: my own group)."""
    number = _args.pid(pgid)
    if number < 0:
        raise ValueError(f"process group {number} must be >= 0")
    _core.kill(-number if number else 0, signum_or_probe(sig))


def _raise_signal_checked(signalnum: SignalLike) -> None:
    """Send a signal to the calling thread, like signal.raise_signal()."""
    _core.raise_signal(signum(signalnum))


def _sigqueue_checked(pid: int, sig: SignalLike, value: int = 0) -> None:
    """sigqueue() with every argument checked; the C fast path's fallback."""
    _core.sigqueue(_args.pid(pid, positive=True), signum(sig), _args.sigval(value))


def _raise_send_error(err: int, syscall: str) -> None:
    """Called by the C fast paths when a send failed."""
    raise send_error(err, syscall)


def _raise_os_error(err: int, syscall: str) -> None:
    """Called by the C fast paths when any other call failed."""
    raise os_error(err, syscall)


def _values_array(values: Iterable[int]) -> array[int]:
    """values as an int64 array, converted at C speed; a bad value raises the
    same error sigqueue() would, naming it."""
    seq = values if isinstance(values, (list, tuple)) else list(values)
    try:
        arr = array("q", seq)
    except (TypeError, OverflowError):
        arr = None
    narrow = _args.VALUE_BITS < 64 and arr and not _args.VALUE_MIN <= min(arr) <= max(arr) <= _args.VALUE_MAX
    if arr is None or narrow:
        for value in seq:
            _args.sigval(value)
        raise TypeError(f"values must be ints, not {values!r}")  # pragma: no cover
    return arr


def sigqueue_many(
    pid: int,
    sig: SignalLike,
    values: Iterable[int],
    *,
    timeout: Optional[float] = 0.0,
) -> int:
    """Queue one signal per value, in order, in a single C call; returns the count.

    When the receiver's queue is full (EAGAIN): ``timeout=0`` raises QueueFull at
    once (its ``sent`` says how many went); ``timeout > 0`` retries with backoff
    for up to that many seconds, then raises QueueFull; ``timeout=None`` retries
    until everything is sent; while it retries, Python signal handlers still
    run. Any other failure raises the matching OSError,
    whose ``sent`` also counts what went before it. A ``range`` with step 1 is
    sent without building an array.
    """
    target, number = _args.pid(pid, positive=True), signum(sig)
    budget = _args.timeout_ns(timeout)
    sender = _core.BulkSender()
    send: Callable[[int, int], int]
    if isinstance(values, range) and values.step == 1:
        if values:
            _args.sigval(values[0]), _args.sigval(values[-1])
        start, total = values.start, len(values)

        def send(done: int, ns: int) -> int:
            return sender.send_range(target, number, start + done, total - done, ns)
    else:
        arr = _values_array(values)

        def send(done: int, ns: int) -> int:
            return sender.send_values(target, number, arr, done, ns)

    if budget == 0:
        return send(0, 0)
    # Retry in slices, back in Python between them so that handlers run
    # (PEP 475), then go on with the time left.
    deadline = _args.deadline(budget)
    done = 0
    while True:
        left = _args.remaining(deadline)
        try:
            return done + send(done, _SLICE_NS if left < 0 else min(left, _SLICE_NS))
        except QueueFull as full:
            done += full.sent
            if 0 <= left <= _SLICE_NS:  # that was the last slice
                raise QueueFull(full.syscall, done) from None
        except OSError as exc:
            exc.sent = done + getattr(exc, "sent", 0)  # type: ignore[attr-defined]
            raise


def _thread(thread_id: object, syscall: str) -> int:
    ident = _args.integer("thread_id", thread_id)
    if not 0 <= ident <= _args.THREAD_MAX:
        raise OverflowError(f"thread_id {ident} does not fit in a pthread_t")
    # pthread_kill() on an id that is not a live thread is undefined behaviour
    # (the stdlib segfaults); only hand the C library ids of live Python threads.
    if ident not in sys._current_frames():
        raise ProcessLookupError(errno.ESRCH, f"{syscall}: no live Python thread with id {ident}")
    return ident


def _pthread_kill_checked(thread_id: int, signalnum: SignalLike) -> None:
    """Send a signal to a thread of this process, like signal.pthread_kill().

    Unlike the stdlib, an id that is not a live Python thread raises
    ProcessLookupError instead of crashing the interpreter (a thread that
    exits between that check and the call is still the C library's business).
    """
    _core.pthread_kill(_thread(thread_id, "pthread_kill"), signum_or_probe(signalnum))


def _pthread_sigqueue_checked(thread_id: int, sig: SignalLike, value: int = 0) -> None:
    """Queue a signal with a payload to one thread of this process (glibc):
    si_code SI_QUEUE, delivered to that thread only."""
    _core.pthread_sigqueue(_thread(thread_id, "pthread_sigqueue"), signum(sig), _args.sigval(value))


def pidfd_send_signal(pidfd: int, sig: SignalLike, value: Optional[int] = None, *,
                      scope: Optional[str] = None) -> None:
    """Signal the process behind a pidfd (race-free against pid reuse).

    Without a value the signal arrives as from kill() (SI_USER); with one it
    carries SI_QUEUE info and the value, as from sigqueue(). ``scope`` (Linux
    6.9+) picks who gets it: "thread" the pidfd's thread only, "process" its
    whole process, "group" its process group; None follows the pidfd (a
    thread pidfd from pidfd_open(..., thread=True) signals that thread). A
    kernel without scopes raises NotImplementedError saying so.
    """
    fd = _args.integer("pidfd", pidfd)
    if fd < 0:
        raise ValueError(f"pidfd must be >= 0, not {fd}")
    flags = 0
    if scope is not None:
        flags = _core.PIDFD_SCOPES.get(scope, 0) if isinstance(scope, str) else 0
        if not flags:
            raise ValueError(f"scope must be None, 'thread', 'process' or 'group', not {scope!r}")
    number = signum_or_probe(sig)
    checked = None if value is None else _args.sigval(value)
    try:
        _core.pidfd_send_signal(fd, number, checked, flags)
    except OSError as exc:
        # Unknown flags are the kernel's first EINVAL, before it looks at the
        # fd: a bad fd then tells whether the scopes exist at all.
        if flags and exc.errno == errno.EINVAL and \
                _core.pidfd_send_signal_errno(-1, 0, flags) == errno.EINVAL:
            raise NotImplementedError(
                f"pidfd_send_signal: scope={scope!r} needs PIDFD_SIGNAL_* scopes (Linux 6.9+), "
                "which this kernel lacks") from None
        raise


# ---- masks -----------------------------------------------------------------

_HOWS = (_core.SIG_BLOCK, _core.SIG_UNBLOCK, _core.SIG_SETMASK)


def _how(how: object, syscall: str) -> int:
    number = _args.integer("how", how)
    if number not in _HOWS:
        # The stdlib passes it on and gets EINVAL; same type, but before the call.
        raise OSError(errno.EINVAL, f"{syscall}: how must be SIG_BLOCK, SIG_UNBLOCK "
                      f"or SIG_SETMASK, not {number}")
    return number


def _pthread_sigmask_checked(how: int, mask: SignalSet) -> Set[Union[signal.Signals, int]]:
    """Change the calling thread's mask; returns the previous one as a set.

    SIGKILL and SIGSTOP are accepted and silently left unblocked, as the kernel
    does, so blocking ``valid_signals()`` works.
    """
    return set_of(_core.pthread_sigmask(_how(how, "pthread_sigmask"), mask_of(mask)))


def sigprocmask(how: int, mask: SignalSet) -> Set[Union[signal.Signals, int]]:
    """sigprocmask(2); in a threaded process the same as pthread_sigmask()."""
    return set_of(_core.sigprocmask(_how(how, "sigprocmask"), mask_of(mask)))


@contextlib.contextmanager
def blocked(sigs: SignalSet) -> Iterator[None]:
    """Block sigs in the calling thread for the with-block, then unblock the
    ones it blocked, on an exception too. Only those: what was blocked before
    stays blocked, and every other change made inside (fastsig's own release
    of held-back signals, say) stays as it is."""
    mask = mask_of(sigs)
    old = _core.pthread_sigmask(_core.SIG_BLOCK, mask)
    try:
        yield
    finally:
        if mask & ~old:
            _core.pthread_sigmask(_core.SIG_UNBLOCK, mask & ~old)


# ---- waiting ---------------------------------------------------------------

def _wait_mask(sigs: SignalSet, *, forever: bool = True) -> int:
    mask = mask_of(sigs, allow_uncatchable=False)
    if not mask and forever:
        raise ValueError("cannot wait for an empty set of signals with no timeout: "
                         "it would block forever")
    return mask


def _wait_into(batch: _core.Batch, mask: int, max_records: int, ns: int) -> int:
    """sigtimedwait with PEP 475: on EINTR let Python handlers run (the loop's
    jump back gives the interpreter its chance), then retry with the time left."""
    deadline = _args.deadline(ns)
    while True:
        try:
            return _core.sigwaitinfo_many(mask, batch, max_records, ns)
        except InterruptedError:
            ns = _args.remaining(deadline)


# Single-record landing zones for sigwait/sigwaitinfo/sigtimedwait, reused. A
# stack, not one per thread: a Python handler that runs between a wait and the
# read of its result may wait itself, and must not get the same buffer.
_spare_batches: List[_core.Batch] = []


def _wait_one(sigset: SignalSet, ns: int) -> Optional[SigInfo]:
    mask = _wait_mask(sigset, forever=ns < 0)
    try:
        batch = _spare_batches.pop()
    except IndexError:
        batch = _core.Batch(1)
    try:
        return first(batch) if _wait_into(batch, mask, 1, ns) else None
    finally:
        _spare_batches.append(batch)


def _sigwait_checked(sigset: SignalSet) -> Union[signal.Signals, int]:
    """Wait for one of sigset (blocked in the calling thread); returns its
    number as a signal.Signals member, like signal.sigwait()."""
    return as_signal(_sigwaitinfo_checked(sigset).si_signo)


def _sigwaitinfo_checked(sigset: SignalSet) -> SigInfo:
    """Wait for one of sigset; returns its SigInfo (a superset of struct_siginfo)."""
    return _wait_one(sigset, -1)  # type: ignore[return-value]  # never None without a timeout


def _sigtimedwait_checked(sigset: SignalSet, timeout: float) -> Optional[SigInfo]:
    """Like sigwaitinfo() with a timeout in seconds; None when it runs out."""
    if timeout is None:
        raise TypeError("sigtimedwait() needs a timeout in seconds; use sigwaitinfo() to wait forever")
    return _wait_one(sigset, _args.timeout_ns(timeout))


def _sigwaitinfo_many_checked(
    sigset: SignalSet, max: int = 256, timeout: Optional[float] = None
) -> List[SigInfo]:
    """Block for the first signal of sigset, then take every one already pending,
    up to max, in the same C call: the high-rate receive path. [] on timeout."""
    limit = _args.batch_size(max)
    ns = _args.timeout_ns(timeout)
    mask = _wait_mask(sigset, forever=ns < 0)
    batch = _core.Batch(limit)
    return from_batch(batch, _wait_into(batch, mask, limit, ns))


class Waiter:
    """A reusable sigwaitinfo_many(): the buffer is allocated once.

    ``wait()`` returns SigInfo records; ``wait_values()`` returns only the
    si_value of each, without building records, for the fastest loops.
    """

    def __init__(self, sigset: SignalSet, max: int = 256) -> None:
        mask = _wait_mask(sigset)
        # As the C path takes it, an int64: SIGRTMAX (64) is its sign bit.
        self._mask = mask - (1 << 64) if mask >> 63 else mask
        self._max = _args.batch_size(max)
        self._batch = _core.Batch(self._max)
        self._address = self._batch.address()

    def wait(self, timeout: Optional[float] = None) -> List[SigInfo]:
        return _fast.wait_into(self._address, self._mask, self._max, timeout, False)  # type: ignore[return-value]

    def wait_values(self, timeout: Optional[float] = None) -> List[int]:
        return _fast.wait_into(self._address, self._mask, self._max, timeout, True)  # type: ignore[return-value]


def _wait_into_checked(address: int, mask: int, max: int, timeout: Optional[float],
                       values_only: bool) -> Union[List[SigInfo], List[int]]:
    """Waiter's wait with a timeout of an unusual type: checked, then waited
    for by the C path with the timeout as a float."""
    ns = _args.timeout_ns(timeout)
    return _fast.wait_into(address, mask, max, None if ns < 0 else ns / 1e9, values_only)


_NOT_TAKEN = -3  # EXCHANGE_NOT_INT in csrc/python/_fast.c: _slow() sends value itself


class Exchange(_fast.ExchangeCore):
    """A ping-pong endpoint: send a value to pid, then wait for the reply, in
    one C call with preallocated arguments (the fastest round trip).

    ``send_wait_value(value=0)`` (a C method) does the round trip and returns
    only the reply's si_value, or None if the timeout ran out.
    """

    def __init__(self, pid: int, sig: SignalLike, reply_sigs: SignalSet,
                 timeout: Optional[float] = None) -> None:
        self._ns = _args.timeout_ns(timeout)
        self._mask = _wait_mask(reply_sigs)
        self._core = _core.RoundTrip(_args.pid(pid, positive=True), signum(sig), self._mask, self._ns)
        self._attach(self._core.address(), self._core)

    def _slow(self, value: object, n: int, err: int, start: int) -> Optional[int]:
        """send_wait_value() for everything but a completed round trip with an
        int value: n is what the C call returned (or _NOT_TAKEN), err its
        errno, start time.monotonic_ns() when the round trip began."""
        core = self._core
        n = _round_trip(core, self._mask, self._ns, start, lambda: (
            core.once(_args.sigval(value)) if n == _NOT_TAKEN else core.result(n, err)))
        return first(core.batch).si_value if n else None

    def send_wait(self, value: int = 0) -> Optional[SigInfo]:
        """Send value, wait for one reply; None if the timeout ran out."""
        if self._exchange(value) == 0:
            return None
        return first(self._core.batch)

    def _exchange(self, value: int) -> int:
        return _round_trip(self._core, self._mask, self._ns, time.monotonic_ns(),
                           lambda: self._core.once(value))


def _round_trip(core: _core.RoundTrip, mask: int, ns: int, start: int,
                attempt: Callable[[], int]) -> int:
    """attempt() is one send-then-wait C call begun at monotonic time start;
    when only its wait was interrupted (the send went out), finish the wait
    here with the time left, with PEP 475's retries."""
    try:
        return attempt()
    except InterruptedError:
        return _wait_into(core.batch, mask, 1, _args.remaining(None if ns < 0 else start + ns))


# ---- signalfd --------------------------------------------------------------

class SignalFD(_fast.SignalFDCore):
    """A signalfd(2): signals as records read from a file descriptor.

    The signals must be blocked (in every thread, or they may be delivered
    normally instead): see blocked() and pthread_sigmask(). One read() returns
    up to ``max`` records in one syscall. ``fileno()`` suits selectors and
    asyncio's add_reader. A forked child reading an inherited signalfd sees the
    child's own pending signals.

    ``read(max=None)`` and ``read_values(max=None)`` are C methods: up to max
    records (default: the max given here; any size up to _args.MAX_BATCH), or only
    their si_value. Blocking mode waits for at least one; non-blocking mode
    returns [] when none is pending.
    """

    _fd = -1  # until the fd exists, so that __del__ of a failed __init__ is quiet

    def __init__(self, sigs: SignalSet, *, nonblocking: bool = False, max: int = 256) -> None:
        if not _core.HAVE_SIGNALFD:
            raise NotImplementedError("signalfd is not available on this platform")
        self._max = _args.batch_size(max)
        self._nonblocking = bool(nonblocking)
        self._fd = _core.signalfd(-1, _wait_mask(sigs), self._nonblocking)
        self._set_fd(self._fd, self._max)

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def fileno(self) -> int:
        self._check_open()
        return self._fd

    def set_signals(self, sigs: SignalSet) -> None:
        """Replace the set of signals this fd reports."""
        self._check_open()
        _core.signalfd(self._fd, _wait_mask(sigs), self._nonblocking)

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            self._set_fd(-1, self._max)
            os.close(fd)

    def _check_open(self) -> None:
        if self._fd < 0:
            raise ValueError("I/O operation on closed SignalFD")

    def __enter__(self) -> SignalFD:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._fd < 0 else f"fd={self._fd}"
        return f"<SignalFD {state}>"


def _ring_read_checked(address: int, max: int, timeout: Optional[float], block: bool,
                       values_only: bool) -> List[Any]:
    """A Listener's read with a timeout of an unusual type: checked, then read
    by the C path with the timeout as a float."""
    ns = _args.timeout_ns(timeout) if block else 0
    if not address:
        raise ValueError("ring_read: no ring")
    return _fast.ring_read(address, _args.batch_size(max), None if ns < 0 else ns / 1e9, block,
                           values_only)


def _signalfd_read_checked(fd: int, max: int, values_only: bool) -> Union[List[SigInfo], List[int]]:
    """SignalFD.read() with an unusual max: checked, then read by the C path."""
    return _fast.signalfd_read(fd, _args.batch_size(max), values_only)


def signalfd(sigs: SignalSet, *, nonblocking: bool = False, max: int = 256) -> SignalFD:
    """Open a SignalFD for sigs (which the caller must block)."""
    return SignalFD(sigs, nonblocking=nonblocking, max=max)


# ---- the C fast paths --------------------------------------------------------
#
# The functions named like the stdlib's, and sigqueue/kill/killpg/
# pthread_sigqueue/sigwaitinfo_many, are builtins of fastsig._fast
# (csrc/python/_fast.c): the stdlib's cost per call or less, where a Python
# wrapper over cffi costs 1.3-6x that. They take the common arguments (ints,
# signal.Signals, names already parsed, sets/frozensets/lists/tuples of them)
# themselves and hand every other call to the checked function above, and
# every failure to _raise_os_error/_raise_send_error, so all errors come from
# one place.

_fast.setup(
    _core.API_ADDRESS,
    SigInfo,
    tuple(as_signal(number) for number in range(_core.NSIG)),
    sum(1 << (number - 1) for number in VALID),
    sum(1 << (number - 1) for number in VALID - UNCATCHABLE),
    NAME_CACHE,
    # Ids of the threads threading knows alive: pthread_kill's fast check.
    # Any other id goes to the checked path, which asks sys._current_frames().
    getattr(threading, "_active", {}),
    {
        "sigqueue": _sigqueue_checked, "kill": _kill_checked, "killpg": _killpg_checked,
        "raise_signal": _raise_signal_checked, "pthread_kill": _pthread_kill_checked,
        "pthread_sigqueue": _pthread_sigqueue_checked, "pthread_sigmask": _pthread_sigmask_checked,
        "sigwait": _sigwait_checked, "sigwaitinfo": _sigwaitinfo_checked,
        "sigtimedwait": _sigtimedwait_checked, "sigwaitinfo_many": _sigwaitinfo_many_checked,
        "strsignal": _strsignal_checked, "wait_into": _wait_into_checked,
        "signalfd_read": _signalfd_read_checked, "ring_read": _ring_read_checked,
    },
    _raise_os_error,
    _raise_send_error,
    _args.MAX_BATCH,
)

sigqueue = _fast.sigqueue
kill = _fast.kill
killpg = _fast.killpg
raise_signal = _fast.raise_signal
pthread_kill = _fast.pthread_kill
pthread_sigqueue = _fast.pthread_sigqueue
pthread_sigmask = _fast.pthread_sigmask
sigpending = _fast.sigpending
sigwait = _fast.sigwait
sigwaitinfo = _fast.sigwaitinfo
sigtimedwait = _fast.sigtimedwait
sigwaitinfo_many = _fast.sigwaitinfo_many
strsignal = _fast.strsignal
valid_signals = _fast.valid_signals
