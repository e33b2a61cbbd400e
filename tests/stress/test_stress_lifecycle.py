"""A Listener's whole life, explored: a hypothesis state machine over creating,
flooding, reading from several threads, blocked() sections, waits, forks,
every way of closing, and a second Listener of the same signals that comes,
changes its signals and goes, and a timed soak of random lifecycle operations under a
continuous flood from another process.

The invariants, checked after every step:
- no thread's mask holds a signal fastsig blocked once nothing is held back,
  and nothing is left pending in the kernel after close();
- exact accounting: every signal sent while the Listener is open is delivered
  (none lost in the kernel), ``read`` is what the test read, and
  ``delivered == read + dropped + pending``;
- no wait outlives its timeout by more than a scheduling slice;
- close() always completes and restores the previous action.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import os
import random
import signal
import threading
import time
from typing import Callable, Counter, Dict, List, Optional

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import fastsig
from fastsig import _core
from support import (
    RT1,
    RT2,
    SOAK_SECONDS,
    exit_code,
    fd_count,
    forked,
    in_child,
    isolate_sigpending,
    rss_kib,
    scaled,
)

SIGS = (RT1, RT2)
# How far past its timeout a wait may return on a loaded 2-core machine.
SLICE = 0.5


def _held_here() -> set[int]:
    return set(SIGS) & set(signal.pthread_sigmask(signal.SIG_BLOCK, []))


def _pending_here() -> set[int]:
    return set(SIGS) & set(signal.sigpending())


def _previous_actions() -> None:
    """What close() must give back: RT1 ignored, RT2 to a Python handler (so a
    chained Listener calls CPython's handler); neither kills the process if a
    stray signal arrives between two Listeners."""
    signal.signal(RT1, signal.SIG_IGN)
    signal.signal(RT2, lambda *_: None)


def _drain_all(listener: fastsig.Listener) -> List[fastsig.SigInfo]:
    """Read until the ring is empty and nothing is held back here any more."""
    got: List[fastsig.SigInfo] = []
    while True:
        batch = listener.drain()
        got.extend(batch)
        if not batch and not _held_here():
            return got


def _read_until_closed(listener: fastsig.Listener) -> List[fastsig.SigInfo]:
    """What a reading loop gets while another thread or a handler closes the
    Listener; the close must end it within a few seconds."""
    got: List[fastsig.SigInfo] = []
    deadline = time.monotonic() + 5
    while not listener.closed:
        assert time.monotonic() < deadline, "close() did not end the reading loop"
        try:
            got += listener.wait(timeout=2.0)
        except ValueError:  # closed between the check and the wait
            break
    return got


class ListenerLife(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.listener: Optional[fastsig.Listener] = None
        self.sibling: Optional[fastsig.Listener] = None  # a second Listener of SIGS
        self.sent: Counter[int] = collections.Counter()
        self.read: Counter[int] = collections.Counter()

    # -- life ----------------------------------------------------------------

    @precondition(lambda self: self.listener is None)
    @rule(capacity=st.sampled_from([16, 64, 4096]), chain=st.booleans())
    def create(self, capacity: int, chain: bool) -> None:
        self.listener = fastsig.Listener(SIGS, capacity=capacity, chain=chain)
        self.sent.clear()
        self.read.clear()

    def _closed(self, listener: fastsig.Listener) -> None:
        assert listener.closed
        # Signals the second Listener holds back on this thread (past half
        # full) wait in the kernel's queue, and when let in meet the Listeners
        # open then: the second alone, if the first closed meanwhile.
        held_by_sibling = self.sibling is not None
        if self.sibling is not None:
            # It outlived the first: it still hears what it listens to.
            for sig in self.sibling.signals:
                assert _core.handler_installed(sig) or self._sibling_fired(sig)
            self._close_sibling()
        for sig in SIGS:
            assert not _core.handler_installed(sig), f"{sig}: fastsig's handler left installed"
        assert not _held_here(), "close() left a signal blocked"
        assert not _pending_here(), "close() left a signal pending"
        stats = listener.stats()
        for sig in SIGS:
            if held_by_sibling:
                assert stats[sig].delivered <= self.sent[sig], (sig, stats[sig], self.sent[sig])
            else:
                assert stats[sig].delivered == self.sent[sig], (sig, stats[sig], self.sent[sig])
            assert stats[sig].read == self.read[sig], (sig, stats[sig], self.read[sig])
            assert stats[sig].pending >= 0
        self.listener = None

    def _took(self, records: List[fastsig.SigInfo]) -> None:
        for info in records:
            self.read[info.si_signo] += 1

    # -- sending -------------------------------------------------------------

    @precondition(lambda self: self.listener is not None)
    @rule(sig=st.sampled_from(SIGS), n=st.integers(1, 200))
    def send_here(self, sig: int, n: int) -> None:
        fastsig.sigqueue_many(os.getpid(), sig, range(n), timeout=None)
        self.sent[sig] += n

    @precondition(lambda self: self.listener is not None)
    @rule(sig=st.sampled_from(SIGS), n=st.integers(1, 200))
    def send_from_a_thread(self, sig: int, n: int) -> None:
        sender = threading.Thread(target=fastsig.sigqueue_many, args=(os.getpid(), sig, range(n)),
                                  kwargs={"timeout": None})
        sender.start()
        sender.join(10)
        self.sent[sig] += n

    @precondition(lambda self: self.listener is not None)
    @rule(n=st.integers(1, 500))
    def send_from_another_process(self, n: int) -> None:
        me = os.getpid()
        assert exit_code(forked(lambda: fastsig.sigqueue_many(me, RT1, range(n), timeout=None))) == 0
        self.sent[RT1] += n

    # -- reading -------------------------------------------------------------

    @precondition(lambda self: self.listener is not None)
    @rule()
    def drain(self) -> None:
        assert self.listener is not None
        self._took(self.listener.drain())

    @precondition(lambda self: self.listener is not None)
    @rule(timeout=st.sampled_from([0.0, 0.01, 0.05]))
    def wait(self, timeout: float) -> None:
        assert self.listener is not None
        start = time.monotonic()
        records = self.listener.wait(timeout=timeout)
        elapsed = time.monotonic() - start
        assert elapsed <= timeout + SLICE, f"wait({timeout}) took {elapsed:.3f} s"
        self._took(records)

    @precondition(lambda self: self.listener is not None)
    @rule()
    def drain_in_a_blocked_section(self) -> None:
        assert self.listener is not None
        with fastsig.blocked([signal.SIGUSR2]):
            self._took(self.listener.drain())
        assert signal.SIGUSR2 not in signal.pthread_sigmask(signal.SIG_BLOCK, [])

    @precondition(lambda self: self.listener is not None)
    @rule(n=st.integers(0, 100))
    def reader_thread_floods_itself(self, n: int) -> None:
        """Another thread becomes the reader, is flooded by signals aimed at it
        (held back past half full), and reads until nothing is held back."""
        listener = self.listener
        assert listener is not None
        # A thread inherits its creator's mask, holds included: read first,
        # as the docs advise, so that the new thread starts with none.
        self._took(_drain_all(listener))
        result: Dict[str, object] = {}

        def reader() -> None:
            try:
                got = listener.drain()
                me = threading.get_ident()
                for value in range(n):
                    fastsig.pthread_sigqueue(me, RT1, value)
                got += _drain_all(listener)
                result["got"] = got
                result["held"] = _held_here()
            except BaseException as exc:  # noqa: BLE001 - reported below
                result["error"] = exc

        thread = threading.Thread(target=reader)
        thread.start()
        thread.join(20)
        assert "error" not in result, result
        assert result["held"] == set(), result
        self.sent[RT1] += n
        self._took(result["got"])  # type: ignore[arg-type]

    @precondition(lambda self: self.listener is not None)
    @rule()
    def fork(self) -> None:
        """The child closes the inherited Listener (readers of the parent do
        not exist there), and a new one works; the parent goes on."""
        listener = self.listener
        assert listener is not None

        def child() -> None:
            listener.close()
            assert not _held_here()
            with fastsig.Listener([RT1]) as fresh:
                fastsig.sigqueue(os.getpid(), RT1, 7)
                assert [i.si_value for i in fresh.drain()] == [7]

        assert exit_code(forked(child), timeout=20) == 0

    # -- closing -------------------------------------------------------------

    @precondition(lambda self: self.listener is not None)
    @rule()
    def close_here(self) -> None:
        listener = self.listener
        assert listener is not None
        listener.close()
        self._closed(listener)

    @precondition(lambda self: self.listener is not None)
    @rule()
    def close_from_another_thread_while_waiting(self) -> None:
        listener = self.listener
        assert listener is not None
        closer = threading.Timer(0.02, listener.close)
        closer.start()
        start = time.monotonic()
        self._took(_read_until_closed(listener))
        closer.join(5)
        assert time.monotonic() - start < 5
        self._closed(listener)

    @precondition(lambda self: self.listener is not None)
    @rule()
    def close_from_a_signal_handler_while_waiting(self) -> None:
        listener = self.listener
        assert listener is not None
        previous = signal.signal(signal.SIGUSR1, lambda *_: listener.close())
        try:
            threading.Timer(0.02, signal.pthread_kill, (threading.get_ident(), signal.SIGUSR1)).start()
            self._took(_read_until_closed(listener))
        finally:
            signal.signal(signal.SIGUSR1, previous)
        self._closed(listener)

    @precondition(lambda self: self.listener is not None)
    @rule()
    def close_from_an_async_task(self) -> None:
        listener = self.listener
        assert listener is not None
        took: List[fastsig.SigInfo] = []

        async def main() -> None:
            async def consume() -> None:
                async for info in listener:
                    took.append(info)

            consumer = asyncio.ensure_future(consume())
            await asyncio.sleep(0.01)
            listener.close()
            await asyncio.wait_for(consumer, 5)

        asyncio.run(main())
        self._took(took)
        self._took(list(listener._pending))  # read, not yet handed out
        self._closed(listener)

    # -- a second Listener of the same signals --------------------------------

    @precondition(lambda self: self.listener is not None and self.sibling is None)
    @rule(capacity=st.sampled_from([16, 4096]), oneshot=st.booleans(), reads=st.booleans())
    def open_sibling(self, capacity: int, oneshot: bool, reads: bool) -> None:
        self.sibling = fastsig.Listener(SIGS, capacity=capacity, oneshot=oneshot)
        if reads:  # its reader is this thread from now on: it may hold signals back here
            self.sibling.drain()

    def _sibling_fired(self, sig: int) -> bool:
        assert self.sibling is not None
        return bool(self.sibling._options & _core.ONESHOT) and self.sibling.stats()[sig].delivered > 0

    @precondition(lambda self: self.sibling is not None)
    @rule(sig=st.sampled_from(SIGS))
    def sibling_adds_or_removes(self, sig: int) -> None:
        sibling = self.sibling
        assert sibling is not None
        if sig in sibling.signals:
            sibling.remove(sig)
        else:
            sibling.add(sig)
        # The first Listener hears on, whatever the second does.
        assert self.listener is not None
        for mine in self.listener.signals:
            assert _core.handler_installed(mine)

    @precondition(lambda self: self.sibling is not None)
    @rule()
    def sibling_reads(self) -> None:
        assert self.sibling is not None
        self.sibling.drain()

    @precondition(lambda self: self.sibling is not None)
    @rule()
    def close_sibling(self) -> None:
        self._close_sibling()
        assert self.listener is not None
        for sig in self.listener.signals:
            assert _core.handler_installed(sig), f"{sig}: closing the second Listener unhooked the first"

    def _close_sibling(self) -> None:
        sibling = self.sibling
        assert sibling is not None
        sibling.close()
        for sig, stats in sibling.stats().items():
            assert stats.delivered == stats.read + stats.dropped + stats.pending
            assert stats.delivered <= self.sent[sig]
        self.sibling = None

    # -- invariants ----------------------------------------------------------

    @invariant()
    def accounting_is_exact(self) -> None:
        listener = self.listener
        if listener is None:
            assert not _held_here()
            return
        for sig, stats in listener.stats().items():
            assert stats.read == self.read[sig], (sig, stats, self.read[sig])
            assert stats.delivered == stats.read + stats.dropped + stats.pending
            assert stats.delivered <= self.sent[sig]
            assert stats.pending >= 0

    def teardown(self) -> None:
        if self.sibling is not None:
            self._close_sibling()
        if self.listener is not None:
            listener = self.listener
            _drain_all(listener)
            listener.close()
            assert not _held_here() and not _pending_here()


def _run_machine(examples: int, steps: int) -> None:
    isolate_sigpending()
    _previous_actions()
    run_state_machine_as_test(ListenerLife, settings=settings(
        max_examples=examples, stateful_step_count=steps, deadline=None, database=None,
        suppress_health_check=list(HealthCheck)))


@pytest.mark.timeout(660)
@in_child(timeout=600)
def test_listener_lifecycle_state_machine() -> None:
    _run_machine(examples=max(5, scaled(40)), steps=25)


@pytest.mark.timeout(360)
@in_child(timeout=300)
def test_a_thousand_lives_leak_no_fd_and_no_memory() -> None:
    isolate_sigpending()
    _previous_actions()
    me = os.getpid()

    def life(k: int) -> None:
        with fastsig.Listener(SIGS, capacity=64, chain=bool(k & 1)) as listener:
            fastsig.sigqueue_many(me, RT1, range(40), timeout=None)  # held back past 32
            got = _drain_all(listener)
            assert [i.si_value for i in got] == list(range(40))
        assert not _held_here() and not _pending_here()

    for k in range(20):  # warm up allocator pools and caches
        life(k)
    gc.collect()
    fds, rss0 = fd_count(), rss_kib()
    for k in range(max(100, scaled(1000))):
        life(k)
    gc.collect()
    assert fd_count() == fds
    assert rss_kib() - rss0 < 4096, f"RSS grew by {rss_kib() - rss0} KiB"


# -- the soak -----------------------------------------------------------------

def _flood_forever(target: int, stop_fd: int, other_end: int) -> None:
    """A sender process: bursts of RT1 with increasing values until stop_fd is
    readable, at a rate that leaves the receiver's threads time to run (a
    thread that is not the reader is never held back, so an unbounded flood
    aimed at it would starve it). While no Listener is open RT1 is ignored."""
    os.close(other_end)
    os.set_blocking(stop_fd, False)
    value = 0
    while True:
        try:
            if os.read(stop_fd, 1) == b"":
                return
        except BlockingIOError:
            pass
        try:
            fastsig.sigqueue_many(target, RT1, range(value, value + 200), timeout=0.01)
        except fastsig.QueueFull as full:
            value += full.sent
            continue
        value += 200
        time.sleep(0.002)


def _soak_life(rng: random.Random, counts: Counter[str]) -> None:
    """One Listener life with random operations; checks order per receiving
    thread, exact accounting and a clean close."""
    listener = fastsig.Listener(SIGS, capacity=rng.choice([64, 1024, 8192]), chain=rng.random() < 0.3)
    by_tid: Dict[int, List[int]] = collections.defaultdict(list)
    read = 0

    def took(records: List[fastsig.SigInfo]) -> None:
        nonlocal read
        read += len(records)
        for info in records:
            if info.si_signo == RT1 and info.si_code == fastsig.SiCode.SI_QUEUE:
                by_tid[info.tid].append(info.si_value)

    ops: List[Callable[[], None]] = []

    def drain() -> None:
        took(listener.drain())

    def wait() -> None:
        timeout = rng.choice([0.0, 0.001, 0.02])
        start = time.monotonic()
        took(listener.wait(timeout=timeout))
        assert time.monotonic() - start <= timeout + SLICE

    def blocked_drain() -> None:
        with fastsig.blocked([signal.SIGUSR2]):
            took(listener.drain())

    def thread_reads() -> None:
        """A few reads from a new thread, which may leave it held back: its
        signals go to other threads once it has exited."""
        box: List[fastsig.SigInfo] = []
        thread = threading.Thread(target=lambda: [box.extend(listener.drain()) for _ in range(5)])
        thread.start()
        thread.join(20)
        took(box)

    def fork() -> None:
        def child() -> None:
            listener.close()
            assert not _held_here()

        assert exit_code(forked(child), timeout=20) == 0

    def sibling() -> None:
        """A second Listener of RT1 for a while, changing its signals, under
        the flood; the first hears on throughout."""
        with fastsig.Listener(RT1, capacity=rng.choice([64, 4096])) as other:
            for _ in range(rng.randint(1, 5)):
                other.add(RT2)
                took(listener.drain())
                other.remove(RT1)
                other.drain()
                other.add(RT1)
            for stats in other.stats().values():
                assert stats.delivered == stats.read + stats.dropped + stats.pending
        assert _core.handler_installed(RT1)

    ops = [drain, wait, blocked_drain, thread_reads, fork, sibling]
    for _ in range(rng.randint(1, 20)):
        op = rng.choice(ops)
        op()
        counts[op.__name__] += 1
    how = rng.choice(["here", "thread", "handler"])
    if how == "here":
        listener.close()
    elif how == "thread":
        closer = threading.Timer(0.01, listener.close)
        closer.start()
        took(_read_until_closed(listener))
        closer.join(10)
    else:
        previous = signal.signal(signal.SIGUSR1, lambda *_: listener.close())
        threading.Timer(0.01, signal.pthread_kill, (threading.get_ident(), signal.SIGUSR1)).start()
        took(_read_until_closed(listener))
        signal.signal(signal.SIGUSR1, previous)
    counts[f"close_{how}"] += 1
    assert not _core.handler_installed(RT1), f"close_{how} left the handler installed"
    assert not _held_here(), f"close_{how} left {_held_here()} blocked after {dict(counts)}"
    stats = listener.stats()
    for sig in SIGS:
        assert stats[sig].delivered == stats[sig].read + stats[sig].dropped + stats[sig].pending
    assert sum(s.read for s in stats.values()) == read
    for tid, values in by_tid.items():
        assert values == sorted(values), f"out of order on thread {tid}"
        counts["signals checked"] += len(values)


@pytest.mark.timeout(SOAK_SECONDS * 3 + 180)
@in_child(timeout=SOAK_SECONDS * 3 + 120)
def test_soak_random_lifecycles_under_a_flood() -> None:
    """Three times the other soaks' time (60 s by default)."""
    isolate_sigpending()
    _previous_actions()
    fds = fd_count()
    stop_read, stop_write = os.pipe()
    me = os.getpid()
    sender = forked(lambda: _flood_forever(me, stop_read, stop_write))
    os.close(stop_read)
    rng = random.Random(int(os.environ.get("FASTSIG_SOAK_SEED", "0")) or None)
    counts: Counter[str] = collections.Counter()
    deadline = time.monotonic() + 3 * SOAK_SECONDS
    try:
        while time.monotonic() < deadline:
            _soak_life(rng, counts)
            counts["lives"] += 1
    finally:
        os.close(stop_write)
        assert exit_code(sender, timeout=30) == 0
    assert fd_count() == fds
    print(f"soak: {dict(counts)}")
    assert counts["lives"] > 0 and counts["signals checked"] > 0
