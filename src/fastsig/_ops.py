"""The synchronous operations: send, mask, wait, signalfd.

Functions that share a name with the stdlib ``signal`` module take the same
arguments, raise the same exception types and return the same types; their
results only add fields. Arguments are checked before any syscall.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from typing import Iterable, Iterator, List, Optional, Sequence, Set, Union

from . import _core
from ._errors import QueueFull
from ._names import SignalLike, SignalSet, mask_of, set_of, signum
from ._siginfo import SigInfo, first, from_batch

_VALUE_BITS = 8 * _core.ffi.sizeof("void *")
_VALUE_MIN = -(1 << (_VALUE_BITS - 1))
_VALUE_MAX = (1 << (_VALUE_BITS - 1)) - 1
_PID_MAX = (1 << 31) - 1
# An unbounded retry waits in slices this long, so Ctrl-C still gets through.
_SLICE_NS = 100_000_000


def _int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return int(value)


def _pid(pid: object, *, positive: bool = False) -> int:
    number = _int("pid", pid)
    low = 1 if positive else -_PID_MAX
    if not low <= number <= _PID_MAX:
        raise ValueError(f"pid {number} out of range" + (" (must be > 0)" if positive else ""))
    return number


def _value(value: object) -> int:
    number = _int("value", value)
    if not _VALUE_MIN <= number <= _VALUE_MAX:
        raise OverflowError(
            f"value {number} does not fit in a {_VALUE_BITS}-bit sigval ({_VALUE_MIN}..{_VALUE_MAX})"
        )
    return number


def timeout_ns(timeout: Optional[float]) -> int:
    """Seconds (None: forever) as the C core's ns, -1 meaning forever."""
    if timeout is None:
        return -1
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, not {type(timeout).__name__}")
    if math.isnan(timeout) or timeout < 0:
        raise ValueError(f"timeout must be non-negative, not {timeout!r}")
    if math.isinf(timeout):
        return -1
    return int(timeout * 1e9)


def _remaining(deadline: Optional[int]) -> int:
    return -1 if deadline is None else max(0, deadline - time.monotonic_ns())


def _deadline(ns: int) -> Optional[int]:
    return None if ns < 0 else time.monotonic_ns() + ns


# ---- sending ---------------------------------------------------------------

def kill(pid: int, sig: SignalLike) -> None:
    """kill(2): pid > 0 one process, 0 my process group, -1 every process I may
    signal, < -1 the process group -pid. ``sig`` may be 0 to probe."""
    number = 0 if sig == 0 else signum(sig)
    _core.kill(_pid(pid), number)


def killpg(pgid: int, sig: SignalLike) -> None:
    """Signal every process in process group pgid (0: my own group)."""
    number = _pid(pgid)
    if number < 0:
        raise ValueError(f"process group {number} must be >= 0")
    _core.kill(-number if number else 0, 0 if sig == 0 else signum(sig))


def raise_signal(signalnum: SignalLike) -> None:
    """Send a signal to the calling thread, like signal.raise_signal()."""
    _core.raise_signal(signum(signalnum))


def sigqueue(pid: int, sig: SignalLike, value: int = 0) -> None:
    """Queue a signal with an integer payload to process pid (one syscall).

    Real-time signals queue in order, lowest number first; standard signals
    (1-31) coalesce in the kernel while pending, payload included. A full queue
    raises QueueFull (a BlockingIOError): nothing is dropped silently.
    """
    _core.sigqueue(_pid(pid, positive=True), signum(sig), _value(value))


def sigqueue_many(
    pid: int,
    sig: SignalLike,
    values: Union[Sequence[int], Iterable[int]],
    *,
    timeout: Optional[float] = 0.0,
) -> int:
    """Queue one signal per value, in order, in a single C call; returns the count.

    When the receiver's queue is full (EAGAIN): ``timeout=0`` raises QueueFull at
    once (its ``sent`` says how many went); ``timeout > 0`` retries with backoff
    for up to that many seconds, then raises QueueFull; ``timeout=None`` retries
    until everything is sent. A ``range`` with step 1 is sent without building
    an array.
    """
    target, number = _pid(pid, positive=True), signum(sig)
    budget = timeout_ns(timeout)
    if isinstance(values, range) and values.step == 1 and len(values):
        _value(values.start), _value(values.stop - 1)
        send = lambda done, ns: sender.send_range(  # noqa: E731
            target, number, values.start + done, len(values) - done, ns)
        total = len(values)
    else:
        items = [_value(v) for v in values]
        send = lambda done, ns: sender.send_values(target, number, items[done:], ns)  # noqa: E731
        total = len(items)
    sender = _core.Sender()
    if budget >= 0:
        return send(0, budget)
    done = 0
    while True:  # retry forever, but come back to Python between slices
        try:
            return done + send(done, _SLICE_NS)
        except QueueFull as full:
            done += full.sent
            if done >= total:
                return done


def pthread_kill(thread_id: int, signalnum: SignalLike) -> None:
    """Send a signal to a thread of this process, like signal.pthread_kill().

    Unlike the stdlib, an id that is not a live Python thread raises
    ProcessLookupError instead of crashing the interpreter.
    """
    _core.pthread_kill(_thread(thread_id), 0 if signalnum == 0 else signum(signalnum))


def pthread_sigqueue(thread_id: int, sig: SignalLike, value: int = 0) -> None:
    """Queue a signal with a payload to one thread of this process (glibc)."""
    _core.pthread_sigqueue(_thread(thread_id), signum(sig), _value(value))


def _thread(thread_id: object) -> int:
    ident = _int("thread_id", thread_id)
    # pthread_kill() on an id that is not a live thread is undefined behaviour
    # (the stdlib segfaults); only hand the C library ids we know are alive.
    if ident not in sys._current_frames():
        raise ProcessLookupError(3, f"pthread_kill: no live Python thread with id {ident}")
    return ident


def pidfd_send_signal(pidfd: int, sig: SignalLike, value: Optional[int] = None) -> None:
    """Signal the process behind a pidfd (race-free against pid reuse).

    With a value, the signal carries SI_QUEUE siginfo, as sigqueue() would.
    """
    fd = _int("pidfd", pidfd)
    if fd < 0:
        raise ValueError(f"pidfd must be >= 0, not {fd}")
    _core.pidfd_send_signal(fd, signum(sig), None if value is None else _value(value))


# ---- masks -----------------------------------------------------------------

_HOWS = (_core.SIG_BLOCK, _core.SIG_UNBLOCK, _core.SIG_SETMASK)


def _how(how: object) -> int:
    number = _int("how", how)
    if number not in _HOWS:
        raise ValueError(f"how must be SIG_BLOCK, SIG_UNBLOCK or SIG_SETMASK, not {number}")
    return number


def pthread_sigmask(how: int, mask: SignalSet) -> Set[object]:
    """Change the calling thread's mask; returns the previous one as a set.

    SIGKILL and SIGSTOP are accepted and silently left unblocked, as the kernel does.
    """
    return set_of(_core.pthread_sigmask(_how(how), mask_of(mask)))  # type: ignore[arg-type]


def sigprocmask(how: int, mask: SignalSet) -> Set[object]:
    """sigprocmask(2); in a threaded process the same as pthread_sigmask()."""
    return set_of(_core.sigprocmask(_how(how), mask_of(mask)))  # type: ignore[arg-type]


def sigpending() -> Set[object]:
    """The signals pending for the calling thread or the process."""
    return set_of(_core.sigpending())  # type: ignore[arg-type]


@contextlib.contextmanager
def blocked(sigs: SignalSet) -> Iterator[None]:
    """Block sigs in the calling thread for the with-block, then restore the
    previous mask exactly, on an exception too."""
    old = _core.pthread_sigmask(_core.SIG_BLOCK, mask_of(sigs))
    try:
        yield
    finally:
        _core.pthread_sigmask(_core.SIG_SETMASK, old)


# ---- waiting ---------------------------------------------------------------

def _wait_mask(sigs: SignalSet) -> int:
    mask = mask_of(sigs, allow_uncatchable=False)
    if not mask:
        raise ValueError("cannot wait for an empty set of signals: it would block forever")
    return mask


def _wait_into(batch: _core.Batch, mask: int, max_records: int, ns: int) -> int:
    """sigtimedwait with PEP 475: on EINTR let Python handlers run, then retry
    with the time that is left."""
    deadline = _deadline(ns)
    while True:
        try:
            return _core.sigwaitinfo_many(mask, batch, max_records, _remaining(deadline))
        except InterruptedError:
            continue


def sigwait(sigset: SignalSet) -> int:
    """Wait for one of sigset (blocked in the calling thread); returns its number."""
    batch = _core.Batch(1)
    _wait_into(batch, _wait_mask(sigset), 1, -1)
    return first(batch).si_signo  # type: ignore[union-attr]


def sigwaitinfo(sigset: SignalSet) -> SigInfo:
    """Wait for one of sigset; returns its SigInfo (a superset of struct_siginfo)."""
    batch = _core.Batch(1)
    _wait_into(batch, _wait_mask(sigset), 1, -1)
    return first(batch)  # type: ignore[return-value]


def sigtimedwait(sigset: SignalSet, timeout: float) -> Optional[SigInfo]:
    """Like sigwaitinfo() with a timeout in seconds; None when it runs out."""
    batch = _core.Batch(1)
    if _wait_into(batch, _wait_mask(sigset), 1, timeout_ns(timeout)) == 0:
        return None
    return first(batch)


def sigwaitinfo_many(
    sigset: SignalSet, max: int = 256, timeout: Optional[float] = None
) -> List[SigInfo]:
    """Block for the first signal of sigset, then take every one already pending,
    up to max, in the same C call: the high-rate receive path. [] on timeout."""
    limit = _int("max", max)
    if limit < 1:
        raise ValueError(f"max must be >= 1, not {limit}")
    batch = _core.Batch(limit)
    n = _wait_into(batch, _wait_mask(sigset), limit, timeout_ns(timeout))
    return from_batch(batch, n)


class Waiter:
    """A reusable sigwaitinfo_many(): the buffer is allocated once.

    ``wait()`` returns SigInfo records; ``wait_values()`` returns only the
    si_value of each, without building records, for the fastest loops.
    """

    def __init__(self, sigset: SignalSet, max: int = 256) -> None:
        self._mask = _wait_mask(sigset)
        self._max = _int("max", max)
        if self._max < 1:
            raise ValueError(f"max must be >= 1, not {self._max}")
        self._batch = _core.Batch(self._max)

    def wait(self, timeout: Optional[float] = None) -> List[SigInfo]:
        return from_batch(self._batch, _wait_into(self._batch, self._mask, self._max, timeout_ns(timeout)))

    def wait_values(self, timeout: Optional[float] = None) -> List[int]:
        return self._batch.values(_wait_into(self._batch, self._mask, self._max, timeout_ns(timeout)))


class Exchange:
    """A ping-pong endpoint: send a value to pid, then wait for the reply, in
    one C call with preallocated arguments (the fastest round trip)."""

    def __init__(self, pid: int, sig: SignalLike, reply_sigs: SignalSet,
                 timeout: Optional[float] = None) -> None:
        self._ns = timeout_ns(timeout)
        self._mask = _wait_mask(reply_sigs)
        self._core = _core.Exchange(_pid(pid, positive=True), signum(sig), self._mask, self._ns)

    def send_wait(self, value: int = 0) -> Optional[SigInfo]:
        """Send value, wait for one reply; None if the timeout ran out."""
        if self._exchange(value) == 0:
            return None
        return first(self._core.batch)

    def send_wait_value(self, value: int = 0) -> Optional[int]:
        """Like send_wait(), returning only the reply's si_value."""
        if self._exchange(value) == 0:
            return None
        return self._core.batch.values(1)[0]

    def _exchange(self, value: int) -> int:
        try:
            return self._core.once(value)
        except InterruptedError:
            # The send went out; only the wait was interrupted: finish it.
            return _wait_into(self._core.batch, self._mask, 1, self._ns)


# ---- signalfd --------------------------------------------------------------

class SignalFD:
    """A signalfd(2): signals as records read from a file descriptor.

    The signals must be blocked (in every thread, or they may be delivered
    normally instead): see blocked() and pthread_sigmask(). One read() returns
    up to ``max`` records in one syscall. ``fileno()`` suits selectors and
    asyncio's add_reader. A forked child reading an inherited signalfd sees the
    child's own pending signals.
    """

    def __init__(self, sigs: SignalSet, *, nonblocking: bool = False, max: int = 256) -> None:
        if not _core.HAVE_SIGNALFD:
            raise NotImplementedError("signalfd is not available on this platform")
        self._max = _int("max", max)
        if self._max < 1:
            raise ValueError(f"max must be >= 1, not {self._max}")
        self._nonblocking = bool(nonblocking)
        self._reader = _core.SignalfdReader(self._max)
        self._fd = _core.signalfd(-1, _wait_mask(sigs), self._nonblocking)

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

    def read(self, max: Optional[int] = None) -> List[SigInfo]:
        """Up to max records. Blocking mode waits for at least one; non-blocking
        mode returns [] when none is pending."""
        return from_batch(self._reader.batch, self._read(max))

    def read_values(self, max: Optional[int] = None) -> List[int]:
        """Like read(), returning only each record's si_value."""
        return self._reader.batch.values(self._read(max))

    def _read(self, max: Optional[int]) -> int:
        self._check_open()
        limit = self._max if max is None else _int("max", max)
        if not 1 <= limit <= self._max:
            raise ValueError(f"max must be in 1..{self._max}, not {limit}")
        while True:
            try:
                return self._reader.read(self._fd, limit)
            except InterruptedError:
                continue

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)

    def _check_open(self) -> None:
        if self._fd < 0:
            raise ValueError("I/O operation on closed SignalFD")

    def __enter__(self) -> "SignalFD":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._fd < 0 else f"fd={self._fd}"
        return f"<SignalFD {state}>"


def signalfd(sigs: SignalSet, *, nonblocking: bool = False, max: int = 256) -> SignalFD:
    """Open a SignalFD for sigs (which the caller must block)."""
    return SignalFD(sigs, nonblocking=nonblocking, max=max)

