"""Lossless asynchronous delivery: a Listener routes signals into the C ring.

fastsig's C handler (csrc/ring.c) records every delivery, with its siginfo, the
moment it happens, on whatever thread it lands; Python reads the records in
batches from any thread, a blocking wait, an event loop, or a dispatcher
thread that calls a function per delivery. Python never runs in the handler.

Rules worth knowing:

* Any number of Listeners may listen to one signal: each gets every
  delivery, with its own ring, capacity, accept= policy, counters and
  backpressure. The previous action comes back when the last one closes.
  add() and remove() change a live Listener's signals.
* The first Listener of a signal sets the sigaction flags its handler is
  installed with (flags=); a later one asking for different flags raises
  SignalBusy, one asking for none joins.
* oneshot=True: the first delivery of each signal is recorded and the
  previous action is back at once, in the handler, so a second Ctrl-C raises
  KeyboardInterrupt and a second SIGTERM terminates (with other Listeners of
  that signal, it goes to them instead).
* Standard signals (1-31) coalesce in the kernel while pending; real-time
  signals queue. ``delivered == read + dropped + pending`` exactly (see
  stats()).
* One handler entry records many deliveries: after its own, if the ring held
  a record not yet read (its reader is behind), the handler takes the further
  signals of the Listener pending for its thread or the process
  (rt_sigtimedwait, zero timeout, the kernel's order, at most 256, while the
  ring has room), which saves the kernel a signal frame for each. Records
  taken in one entry share its ``tid`` and ``time_ns``. The Listener's
  signals are blocked while its handler runs. With chain=True, and for
  SIGSEGV/SIGBUS/SIGILL/SIGFPE, every delivery is an entry of its own.
* A full ring drops a new real-time record and counts it in ``dropped``; it
  never blocks a handler and never overwrites an unread record. A standard
  signal is never dropped: the latest one of each that found the ring full is
  kept and returned with the next read, after the records that were in the
  ring before it (a second one before that read replaces it, counted once).
* Backpressure instead of loss on the reader's own thread: the kernel runs
  every pending handler before the interrupted thread executes another
  instruction, so a flooded reader could never drain. When the handler runs on
  the thread that last read the ring (none until the first read: read once,
  e.g. drain(), before a flood starts) and finds it over half full, it blocks
  that signal in the mask the thread returns to, with the Listener's signals
  numbered above it (which the kernel delivers after it, so none overtakes
  it); later signals wait in the kernel's queue (sigqueue senders get EAGAIN,
  i.e. QueueFull) and the next drain() unblocks them once the ring is down to
  a quarter (and no other Listener of the signal read on that thread within
  the last 100 ms is over half full). A handler entry that took a burst (64
  pending signals or more) holds back the same way however little the ring
  holds, until the next read: the rest of the burst then queues in the kernel
  rather than interrupt the reader once per signal. Deliveries on other
  threads are never held back, so they can still fill the ring.
* The handler is installed with SA_SIGINFO | SA_RESTART | SA_ONSTACK unless
  flags= says otherwise: slow syscalls elsewhere in the process are restarted
  rather than failing with EINTR, since no Python needs to run.
* close() restores the previous action of each signal exactly, unless someone
  (signal.signal(), say) replaced fastsig's handler meanwhile: then theirs
  stays. replaced() tells which signals that happened to. Records not read
  before close() are discarded and counted (stats() still works after close),
  or with unread="redeliver" handed, in order, to the action that comes back
  (queued again to the closing thread with their values: its handler runs,
  or its default action happens). Signals still held back in the kernel's
  queue (see backpressure above) were never delivered to fastsig: after
  close() they meet what is installed when they are let in (the restored
  action, or the other Listeners of the signal still open).
* chain=True also does what the action that was installed before would have
  done: calls its handler (CPython's own, for example, so Ctrl-C still raises
  KeyboardInterrupt while recorded), or carries out the default action
  (SIG_DFL: a chained SIGTERM is recorded, then terminates the process), or
  nothing (SIG_IGN). With several Listeners, the signal chains if one asks.
* fork: the child keeps the handlers installed and the Listener usable, with
  an empty ring, zero counters and a wake-up fd of its own; a Dispatcher's
  thread does not exist in the child.
* A SIGSEGV/SIGBUS/SIGILL/SIGFPE sent with kill()/sigqueue() is recorded like
  any other; one raised by the CPU is recorded, then the default action is
  restored so the process dies of it instead of re-running the fault forever.
"""

from __future__ import annotations

import collections
import errno
import logging
import os
import signal
import threading
import weakref
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Counter,
    Deque,
    Dict,
    FrozenSet,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Set,
)

from . import _args, _core, _fast
from ._errors import QueueFull, SignalBusy
from ._eventloop import Future, Loop, running_loop
from ._names import SignalSet, catchable_list, signame, valid_signals
from ._ops import pthread_sigmask
from ._siginfo import SigInfo
from ._trust import SenderPolicy

log = logging.getLogger("fastsig")
_ring_read = _fast.ring_read

DEFAULT_CAPACITY = 1 << 16
MAX_CAPACITY = 1 << 22  # 4 Mi records, ~330 MiB: beyond that, read faster
DEFAULT_BATCH = 1024


class Stats(NamedTuple):
    """Per-signal counters. delivered = read + dropped + pending; ``rejected``
    counts the records read but refused by the Listener's accept policy."""

    delivered: int
    dropped: int
    read: int
    rejected: int = 0

    @property
    def pending(self) -> int:
        return self.delivered - self.dropped - self.read


class Listener(_fast.ListenerCore):
    """Route signals into a lock-free ring and read them in batches.

    ``Listener(sigs, capacity=65536, chain=False, accept=None, flags=None,
    oneshot=False, unread="count")`` installs fastsig's handler for each
    signal at once. Use it as a context manager, or call close(). With
    ``accept=SenderPolicy(...)`` records from senders the policy refuses are
    never returned; they are counted in stats().rejected. ``flags`` is any of
    SA_NOCLDSTOP, SA_NOCLDWAIT (SIGCHLD only), SA_NODEFER, SA_ONSTACK and
    SA_RESTART, or'ed: the handler's sigaction flags instead of SA_RESTART |
    SA_ONSTACK. See the module's docstring for chain, oneshot and unread.
    """

    def __init__(
        self,
        sigs: SignalSet,
        *,
        capacity: int = DEFAULT_CAPACITY,
        chain: bool = False,
        batch: int = DEFAULT_BATCH,
        accept: Optional[SenderPolicy] = None,
        flags: Optional[int] = None,
        oneshot: bool = False,
        unread: str = "count",
    ) -> None:
        self._ring: Optional[_core.Ring] = None
        self._closing = False  # close() began: no new reads
        self._detached = False  # the previous actions are back
        if accept is not None and not isinstance(accept, SenderPolicy):
            raise TypeError(f"accept must be a SenderPolicy or None, not {type(accept).__name__}")
        if unread not in ("count", "redeliver"):
            raise ValueError(f"unread must be 'count' or 'redeliver', not {unread!r}")
        self._policy = accept
        self._redeliver = unread == "redeliver"
        self._rejected: Counter[int] = collections.Counter()
        numbers = catchable_list(sigs, "listen to")
        if not numbers:
            raise ValueError("a Listener needs at least one signal")
        self._sa_flags = _sa_flags(flags, numbers)
        self._options = (_core.CHAIN if chain else 0) | (_core.ONESHOT if oneshot else 0)
        capacity = _args.integer("capacity", capacity)
        if not 2 <= capacity <= MAX_CAPACITY or capacity & (capacity - 1):
            raise ValueError(f"capacity must be a power of two in 2..{MAX_CAPACITY}, not {capacity}")
        self._batch_size = _args.batch_size(batch)
        self._signals: FrozenSet[int] = frozenset()
        self._mask = 0
        self._cond = threading.Condition()
        # Event loops with waiters (wait_async), which have the ring's fd
        # registered: the ring is dropped only once none has. Reads in
        # progress are counted in C (the ring's readers), and each holds the
        # ring itself while it reads.
        self._loops: Dict[Loop, Set[Future]] = {}
        self._final: Dict[int, Stats] = {}
        self._pending: Deque[SigInfo] = collections.deque()
        ring = _core.Ring(capacity)
        try:
            self._attach(ring, numbers)
        except BaseException:
            ring.free()  # detaches what was attached: nothing is left half-installed
            raise
        self._ring = ring
        if accept is None:
            self._set_reader(ring, ring.address, self._batch_size)
        _live.add(self)

    def _attach(self, ring: _core.Ring, numbers: List[int]) -> None:
        """Subscribe ring to each of numbers, all or none."""
        done: List[int] = []
        try:
            for sig in numbers:
                try:
                    ring.attach(sig, self._options, self._sa_flags)
                except OSError as exc:
                    if exc.errno == errno.EBUSY:
                        raise SignalBusy(
                            f"{signame(sig)} already has fastsig's handler with other flags: "
                            "every Listener of a signal asks for the same flags, or none"
                        ) from None
                    raise
                done.append(sig)
        except BaseException:
            for sig in done:
                ring.detach(sig)
            raise
        self._set_signals(self._signals | set(numbers))

    def _set_signals(self, signals: FrozenSet[int]) -> None:
        self._signals = signals
        self._mask = sum(1 << (sig - 1) for sig in signals)

    def add(self, sigs: SignalSet) -> None:
        """Listen to sigs as well, from now on; those already listened to are
        left as they are."""
        numbers = catchable_list(sigs, "listen to")
        _sa_flags(None if self._sa_flags == _core.FLAGS_AUTO else self._sa_flags, numbers)
        with self._cond:
            if self._ring is None or self._closing:
                raise ValueError("operation on a closed Listener")
            self._attach(self._ring, [s for s in numbers if s not in self._signals])

    def remove(self, sigs: SignalSet) -> None:
        """Stop listening to sigs: their previous action is back unless
        another Listener has them. Their records already in the ring are
        still read; stats() no longer lists them."""
        numbers = catchable_list(sigs, "listen to")
        with self._cond:
            if self._ring is None or self._closing:
                raise ValueError("operation on a closed Listener")
            unknown = [signame(s) for s in numbers if s not in self._signals]
            if unknown:
                raise ValueError(f"not listening to {', '.join(unknown)}")
            for sig in numbers:
                self._ring.detach(sig)
            self._set_signals(self._signals - set(numbers))

    # -- reading -----------------------------------------------------------

    @property
    def signals(self) -> FrozenSet[int]:
        return self._signals

    @property
    def closed(self) -> bool:
        if self._closing:
            self._release_held()
        return self._closing

    def _release_held(self) -> None:
        # A thread held back while it was not reading, when another thread
        # closed us, still blocks the signal: only it can unblock it, and it
        # does so here, the next time it looks at the Listener.
        _core.release_held(self._mask)

    def fileno(self) -> int:
        """An fd that becomes readable when records arrive after drain() or
        wait() found the ring empty. Poll it, then call drain()."""
        ring = self._ring
        if ring is None or self._closing:
            raise ValueError("operation on a closed Listener")
        return ring.fd

    # drain(), drain_values(), wait() and wait_values() are ListenerCore's C
    # methods: one call from the arguments to the list, for a Listener without
    # an accept= policy. Everything else they hand to _read().

    def _read(self, max: Optional[int], timeout: Optional[float], block: bool,
              values: bool) -> List[Any]:
        ring = self._ring  # held: its memory stays while this read uses it
        if ring is None or self._closing:
            self._release_held()
            raise ValueError("operation on a closed Listener")
        limit = self._batch_size if max is None else _args.batch_size(max)
        if self._policy is None:  # one C call reads, waits, builds the list
            return _ring_read(ring.address, limit, timeout, block, values)
        with ring.reading() as entered:  # a slow policy is part of the read
            return self._read_accepted(ring, limit, timeout, block, values) if entered else []

    def _read_accepted(self, ring: _core.Ring, limit: int, timeout: Optional[float], block: bool,
                       values: bool) -> List[Any]:
        """_read() with an accept= policy: the records read, without those it
        refuses; while it refuses all of them, read on for the time left."""
        deadline = _args.deadline(_args.timeout_ns(timeout)) if block else None
        while True:
            left = _args.remaining(deadline)
            records = _ring_read(ring.address, limit, None if left < 0 else left / 1e9, block, False)
            out = self._accepted(records)
            ran_out = left == 0 if block else len(records) < limit  # timed out / ran dry
            if out or ran_out or self._closing:
                return [info.si_value for info in out] if values else out

    def _accepted(self, records: List[SigInfo]) -> List[SigInfo]:
        """records without those the accept= policy refuses."""
        assert self._policy is not None
        accepted, rejected = self._policy.filter(records)
        if rejected:
            with self._cond:
                for info in rejected:
                    self._rejected[info.si_signo] += 1
        return accepted

    def __iter__(self) -> Iterator[SigInfo]:
        """Every record, blocking between batches, until the Listener closes."""
        while True:
            try:
                records = self.wait()
            except ValueError:
                return
            if not records and self.closed:
                return
            yield from records

    # -- asyncio, trio, anyio -------------------------------------------------

    async def wait_async(self, max: Optional[int] = None) -> List[SigInfo]:
        """The next batch, awaited through the event loop's add_reader on
        fileno(): works under asyncio (its default loop and uvloop), trio and
        anyio (either backend), from any number of tasks at once. A cancelled
        wait takes no record: the next read returns it. Raises
        StopAsyncIteration once the Listener is closed (by another task or
        thread, too)."""
        loop = running_loop()
        while True:
            if self.closed:
                raise StopAsyncIteration
            records = self.drain(max)
            if records:
                return records
            ready = loop.create_future()
            self._add_waiter(loop, ready)
            try:
                await ready
            finally:
                self._remove_waiter(loop, ready)

    # One add_reader per loop, shared by every task of that loop that waits:
    # a second add_reader on the same fd would replace the first's callback.

    def _add_waiter(self, loop: Loop, ready: Future) -> None:
        with self._cond:
            if self._closing or self._ring is None:
                ready.set_result(None)
                return
            waiters = self._loops.get(loop)
            if waiters is None:
                waiters = self._loops[loop] = set()
                loop.add_reader(self._ring.fd, self._on_readable, loop)
            waiters.add(ready)

    def _on_readable(self, loop: Loop) -> None:
        with self._cond:
            for ready in self._loops.get(loop, ()):
                _set_done(ready)

    def _remove_waiter(self, loop: Loop, ready: Future) -> None:
        with self._cond:
            waiters = self._loops.get(loop)
            if waiters is None:
                return
            waiters.discard(ready)
            if not waiters:
                del self._loops[loop]
                if self._ring is not None:
                    loop.remove_reader(self._ring.fd)
            self._free_if_unused()

    def _wake_async_waiters(self) -> None:
        """Under _cond: finish every pending wait_async(), in its own loop."""
        for loop, waiters in list(self._loops.items()):
            for ready in waiters:
                try:
                    loop.call_soon_threadsafe(_set_done, ready)
                except RuntimeError:  # that loop is closed: nobody will wait
                    self._loops.pop(loop, None)
                    break

    def __aiter__(self) -> AsyncIterator[SigInfo]:
        return self

    async def __anext__(self) -> SigInfo:
        if not self._pending:
            if self.closed:
                raise StopAsyncIteration
            self._pending.extend(await self.wait_async())
        return self._pending.popleft()

    # -- accounting --------------------------------------------------------

    def stats(self) -> Dict[int, Stats]:
        """Counters per signal; after close(), the final ones."""
        with self._cond:
            ring = self._ring
            if ring is None or self._detached:
                return dict(self._final)
            return self._counts(ring)

    def _counts(self, ring: _core.Ring) -> Dict[int, Stats]:
        return {sig: Stats(*ring.counts(sig), self._rejected[sig]) for sig in sorted(self._signals)}

    @property
    def dropped(self) -> Dict[int, int]:
        """Records lost to a full ring, per signal."""
        return {sig: s.dropped for sig, s in self.stats().items()}

    def replaced(self) -> FrozenSet[int]:
        """Signals whose handler is no longer fastsig's (signal.signal() ran)."""
        if self.closed:
            return frozenset()
        return frozenset(s for s in self._signals if not _core.handler_installed(s))

    # -- lifetime ----------------------------------------------------------

    def close(self) -> None:
        """Restore the previous actions, wake every waiter, free the ring.

        Works from any thread, a signal handler, a callback or an async task.
        Readers in other threads leave first, letting in what their threads
        held back while fastsig's handler can still record it; a read that
        this close() interrupted in the calling thread (a handler runs inside
        one) finishes on a ring that is freed as it leaves. If close() itself
        is interrupted (Ctrl-C while it waits), call it again to finish."""
        with self._cond:
            ring = self._ring
            if ring is None:
                return
            if not self._closing:
                # The ring first: a thread that sees _closing and lets its
                # held-back signals in must find the handler past holding
                # them back again.
                ring.shutdown()
                self._closing = True
                self._set_reader(None, 0, 1)
                self._wake_async_waiters()
            while ring.readers_elsewhere():  # woken, they leave at once
                ring.interrupt()
                self._cond.wait(0.001)
            sent = lost = 0
            if not self._detached:
                for sig in self._signals:
                    ring.detach(sig)
                if self._redeliver:
                    sent, lost = self._hand_on(ring)
                self._final = self._counts(ring)
                self._detached = True
            self._free_if_unused()
        self._release_held()
        if lost:  # counted as read: they left the ring, but not to the action
            raise QueueFull("sigqueue", sent)

    def _hand_on(self, ring: _core.Ring) -> tuple[int, int]:
        """Under _cond, detached: the records still in the ring, to the
        actions now in place. How many were queued, and how many the kernel's
        queue had no room for."""
        batch = _core.Batch(self._batch_size)
        sent = lost = 0
        while True:
            n = ring.drain(batch, self._batch_size)
            if n == 0:
                return sent, lost
            queued = _core.redeliver(batch, n)
            sent += queued
            lost += n - queued

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_ring", None) is not None:
            self.close()

    def __repr__(self) -> str:
        names = ", ".join(signame(s) for s in sorted(self._signals))
        return f"<Listener [{names}] {'closed' if self.closed else 'open'}>"

    # -- internals ---------------------------------------------------------

    def _free_if_unused(self) -> None:
        """Under _cond: let a detached ring go once no event loop polls its
        fd; it is freed with the last reference (a read still running in
        this thread, which close() interrupted, holds one)."""
        if self._detached and not self._loops:
            self._ring = None

    def _after_fork_in_child(self) -> None:
        # The threads that were reading or holding _cond do not exist here.
        self._cond = threading.Condition()
        self._loops.clear()


def _sa_flags(flags: Optional[int], numbers: List[int]) -> int:
    """The C core's sa_flags for a Listener's flags= on numbers."""
    if flags is None:
        return int(_core.FLAGS_AUTO)
    flags = _args.integer("flags", flags)
    allowed = _core.LISTENER_FLAGS
    unknown = flags & ~sum(allowed.values())
    if flags < 0 or unknown:
        raise ValueError(f"flags: {unknown if flags >= 0 else flags:#x} is not one of "
                         f"{', '.join(allowed)} (SA_SIGINFO is always set; for SA_RESETHAND "
                         "use oneshot=True)")
    child_flags = [name for name in ("SA_NOCLDSTOP", "SA_NOCLDWAIT") if flags & allowed[name]]
    others = [signame(s) for s in numbers if s != signal.SIGCHLD]
    if child_flags and others:
        raise ValueError(f"{' and '.join(child_flags)} apply to SIGCHLD only, not to {', '.join(others)}")
    return flags


def _set_done(ready: Future) -> None:
    if not ready.done():
        ready.set_result(None)


_live: weakref.WeakSet[Listener] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for listener in list(_live):
        listener._after_fork_in_child()


os.register_at_fork(after_in_child=_reset_after_fork)


class Dispatcher:
    """Call ``callback(info)`` for every delivery, in a thread of its own.

    Not confined to the main thread, never coalesced. An exception from the
    callback goes to ``on_error(exc, info)`` (default: logged on the "fastsig"
    logger) and dispatching goes on. close() stops the thread and the Listener.
    """

    def __init__(
        self,
        sigs: SignalSet,
        callback: Callable[[SigInfo], object],
        *,
        on_error: Optional[Callable[[BaseException, SigInfo], object]] = None,
        **listener_options: Any,
    ) -> None:
        self.listener = Listener(sigs, **listener_options)
        self._callback = callback
        self._on_error = on_error
        self._thread = threading.Thread(target=self._run, name="fastsig-dispatch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for info in self.listener:
                try:
                    self._callback(info)
                except Exception as exc:
                    if self._on_error is not None:
                        self._on_error(exc, info)
                    else:
                        log.exception("fastsig: callback failed for %r", info)
        finally:
            # join() returns while the OS thread still exists, and until it is
            # gone the kernel may pick it for a process-directed signal, whose
            # action close() has just restored (often: terminate the process).
            pthread_sigmask(_core.SIG_BLOCK, valid_signals())

    def close(self) -> None:
        self.listener.close()
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def listen(sigs: SignalSet, **options: Any) -> Listener:
    """Start a Listener for sigs; see Listener."""
    return Listener(sigs, **options)


def on(sigs: SignalSet, callback: Callable[[SigInfo], object], **options: Any) -> Dispatcher:
    """Call callback(info) for every delivery of sigs, from a dispatcher thread."""
    return Dispatcher(sigs, callback, **options)
