"""Load: floods of real signals from real processes, many threads, a stalled
reader and a bounded soak. Every test runs in a forked child with a timeout;
counts scale with FASTSIG_STRESS_SCALE (see tests/support.py)."""

from __future__ import annotations

import collections
import gc
import os
import threading
import time

import fastsig
from support import (
    RT1,
    RT2,
    SOAK_SECONDS,
    HandlerThread,
    collect,
    exit_code,
    fd_count,
    fork_sender,
    in_child,
    isolate_sigpending,
    rss_kib,
    scaled,
    tag,
    untag,
)

MILLION = scaled(1_000_000)


@in_child(timeout=120 * max(1.0, MILLION / 1e6))
def test_million_signals_through_the_ring_in_order() -> None:
    # The reader's own thread takes the handlers: the ring holds signals back in
    # the kernel's queue rather than drop them, so a small ring loses nothing
    # however slow the reader is next to the sender.
    isolate_sigpending()
    with fastsig.Listener([RT1], capacity=1 << 12) as listener:
        assert listener.drain() == []  # this thread is now the reader
        sender = fork_sender(os.getpid(), RT1, range(MILLION))
        got = collect(lambda: listener.wait_values(timeout=0.5, max=1 << 16), MILLION)
        assert exit_code(sender) == 0
        assert len(got) == MILLION and got == list(range(MILLION))
        assert listener.stats()[RT1] == fastsig.Stats(delivered=MILLION, dropped=0, read=MILLION)


@in_child(timeout=120 * max(1.0, MILLION / 1e6))
def test_million_signals_through_sigwaitinfo_many_in_order() -> None:
    isolate_sigpending()
    with fastsig.blocked([RT1]):
        waiter = fastsig.Waiter([RT1], max=4096)
        sender = fork_sender(os.getpid(), RT1, range(MILLION))
        got = collect(lambda: waiter.wait_values(timeout=0.5), MILLION)
        assert exit_code(sender) == 0
        assert got == list(range(MILLION))
        assert fastsig.sigtimedwait([RT1], 0) is None  # nothing extra


@in_child(timeout=120 * max(1.0, MILLION / 1e6))
def test_four_senders_at_once_each_in_order() -> None:
    isolate_sigpending()
    per_sender = MILLION // 4
    with fastsig.Listener([RT1], capacity=1 << 12) as listener:
        assert listener.drain() == []  # this thread is now the reader
        senders = [fork_sender(os.getpid(), RT1, range(k << 40, (k << 40) + per_sender))
                   for k in range(4)]
        # Values only (the sender is in the value's high bits): the fastest reader.
        got = collect(lambda: listener.wait_values(timeout=0.5, max=1 << 14), 4 * per_sender)
        assert [exit_code(pid) for pid in senders] == [0] * 4
        stats = listener.stats()[RT1]
    by_sender: dict[int, list[int]] = collections.defaultdict(list)
    for value in got:
        by_sender[value >> 40].append(value & ((1 << 40) - 1))
    assert (stats.delivered, stats.dropped) == (4 * per_sender, 0)
    in_order = {k: seqs == list(range(per_sender)) for k, seqs in by_sender.items()}
    assert in_order == dict.fromkeys(range(4), True)


@in_child(timeout=90)
def test_eight_threads_queueing_to_themselves_no_torn_or_lost_record() -> None:
    """Thread-directed: the handler runs on all eight threads at once, each
    pushing into the same ring while a ninth thread drains it."""
    isolate_sigpending()
    per_thread = scaled(4000)
    threads_n = 8
    with fastsig.Listener([RT1], capacity=1 << 16) as listener:
        fastsig.pthread_sigmask(fastsig.SIG_BLOCK, [RT1])  # the reader never runs the handler
        start = threading.Barrier(threads_n + 1)
        tids: dict[int, int] = {}

        def produce(k: int) -> None:
            tids[k] = threading.get_native_id()
            fastsig.pthread_sigmask(fastsig.SIG_UNBLOCK, [RT1])
            me = threading.get_ident()
            start.wait()
            for seq in range(per_thread):
                fastsig.pthread_sigqueue(me, RT1, tag(k, seq))

        workers = [threading.Thread(target=produce, args=(k,)) for k in range(threads_n)]
        for worker in workers:
            worker.start()
        start.wait()
        records = collect(lambda: listener.wait(timeout=0.5), threads_n * per_thread)
        for worker in workers:
            worker.join()
        records.extend(listener.drain())
        stats = listener.stats()[RT1]
    seqs: dict[int, list[int]] = collections.defaultdict(list)
    for info in records:
        k, seq = untag(info.si_value)
        assert info.tid == tids[k], f"record of thread {k} carries tid {info.tid}"
        assert (info.si_signo, info.si_code, info.si_pid) == (RT1, fastsig.SiCode.SI_QUEUE, os.getpid())
        seqs[k].append(seq)
    assert stats == fastsig.Stats(threads_n * per_thread, 0, threads_n * per_thread)
    assert {k: s == list(range(per_thread)) for k, s in seqs.items()} == dict.fromkeys(range(threads_n), True)


@in_child(timeout=120)
def test_two_signals_flooding_eight_threads_nested_handlers_lose_nothing() -> None:
    """Process-directed floods of two signals land on eight handler threads;
    one signal interrupts the other's handler half-way through a push. Each
    thread takes a signal's queue in kernel order, so per receiving thread
    the values of each signal rise; across threads every value arrives once."""
    isolate_sigpending()
    # Every delivery wakes a sleeping thread: on a loaded machine this path
    # runs ~10x slower than a flood to one thread, so keep the count modest.
    n = scaled(50_000)
    with fastsig.Listener([RT1, RT2], capacity=1 << 17) as listener, \
            HandlerThread([RT1, RT2], count=8) as handlers:
        senders = [fork_sender(os.getpid(), RT1, range(n)), fork_sender(os.getpid(), RT2, range(n))]
        records = collect(lambda: listener.wait(timeout=0.5, max=1 << 14), 2 * n, timeout=90)
        assert [exit_code(pid) for pid in senders] == [0, 0]
        stats = listener.stats()
        handler_tids = set(handlers.native_ids)
    assert stats == {RT1: fastsig.Stats(n, 0, n), RT2: fastsig.Stats(n, 0, n)}
    last: dict[tuple[int, int], int] = {}
    interrupted = 0
    previous = None
    for info in records:
        assert info.tid in handler_tids
        key = (info.tid, info.si_signo)
        assert info.si_value > last.get(key, -1), f"out of order on {key}"
        last[key] = info.si_value
        # A handler interrupted between claiming its slot and stamping it is
        # stamped after the nested handler that took the next slot.
        if previous is not None and previous.tid == info.tid and previous.time_ns > info.time_ns:
            interrupted += 1
        previous = info
    for sig in (RT1, RT2):
        values = sorted(i.si_value for i in records if i.si_signo == sig)
        assert values == list(range(n))
    print(f"{len({i.tid for i in records})} threads took handlers; "
          f"{interrupted} pushes seen interrupted by a nested handler")


@in_child(timeout=90)
def test_stalled_reader_counts_drops_exactly_then_recovers() -> None:
    isolate_sigpending()
    capacity = 1024
    n = max(scaled(50_000), 4 * capacity)
    with fastsig.Listener([RT1], capacity=capacity) as listener, HandlerThread([RT1]):
        # The reader does not read while the flood runs on the handler thread.
        sender = fork_sender(os.getpid(), RT1, range(n))
        assert exit_code(sender) == 0
        # The sender is done; wait until the kernel's queue has been delivered.
        deadline = time.monotonic() + 30
        while listener.stats()[RT1].delivered < n and time.monotonic() < deadline:
            time.sleep(0.01)
        assert listener.stats()[RT1] == fastsig.Stats(delivered=n, dropped=n - capacity, read=0)
        assert listener.drain_values(max=capacity * 2) == list(range(capacity))
        after = listener.stats()[RT1]
        assert after.delivered == after.read + after.dropped and after.pending == 0
        # Recovery: the same ring takes a second burst whole.
        more = capacity - 1
        sender = fork_sender(os.getpid(), RT1, range(n, n + more))
        assert exit_code(sender) == 0
        assert listener.drain_values(max=capacity) == list(range(n, n + more))
        assert listener.stats()[RT1] == fastsig.Stats(n + more, n - capacity, capacity + more)


@in_child(timeout=SOAK_SECONDS * 3 + 60)
def test_soak_mixed_traffic_memory_flat_no_fd_leak() -> None:
    """Listeners opened and closed, Dispatchers, signalfd, sigwaitinfo_many and
    an external sender, round after round, for a bounded time."""
    isolate_sigpending()
    burst = 2000

    def one_round(k: int) -> None:
        with fastsig.Listener([RT1, "USR1"], capacity=4096) as listener, HandlerThread([RT1]):
            sender = fork_sender(os.getpid(), RT1, range(burst))
            got = collect(lambda: listener.wait_values(timeout=0.2), burst, timeout=30)
            assert exit_code(sender) == 0 and got == list(range(burst))
        seen = []
        with fastsig.on([RT2], lambda info: seen.append(info.si_value)):
            fastsig.sigqueue_many(os.getpid(), RT2, range(100))
            deadline = time.monotonic() + 10
            while len(seen) < 100 and time.monotonic() < deadline:
                time.sleep(0.001)
        assert seen == list(range(100))
        with fastsig.blocked([RT2]):
            # Aimed at this thread: join() returns before the dispatcher's OS
            # thread is gone, and a process-directed RT2 could still land there,
            # on the default action restored by close(), and kill the process.
            me = threading.get_ident()
            for value in range(k, k + 50):
                fastsig.pthread_sigqueue(me, RT2, value)
            with fastsig.signalfd([RT2], nonblocking=True) as sfd:
                assert sfd.read_values(max=25) == list(range(k, k + 25))
            assert [i.si_value for i in fastsig.sigwaitinfo_many([RT2], max=100, timeout=0)] == \
                list(range(k + 25, k + 50))

    for k in range(3):  # warm up caches, thread stacks and allocator pools
        one_round(k)
    gc.collect()
    fds, rss0 = fd_count(), rss_kib()
    rounds = 0
    deadline = time.monotonic() + SOAK_SECONDS
    while time.monotonic() < deadline:
        one_round(rounds)
        rounds += 1
    gc.collect()
    growth = rss_kib() - rss0
    print(f"soak: {rounds} rounds in {SOAK_SECONDS:.0f} s, RSS {rss0} KiB -> +{growth} KiB")
    assert fd_count() == fds
    # Listener rings alone are ~350 KiB each: a leak of one per round shows.
    assert growth < 8 * 1024, f"RSS grew {growth} KiB over {rounds} rounds"
