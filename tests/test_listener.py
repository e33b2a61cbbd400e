"""The asynchronous path: handlers recording into the ring, read by a Listener.

Every test installs handlers, so each runs in a forked child (@in_child).
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable

import pytest

import fastsig
from support import RT1, RT2, HandlerThread, collect, exit_code, fork_sender, forked, in_child, queue_own_pid


def _read_100_held_back(listener: fastsig.Listener) -> None:
    """Reads until values 0..99 of RT1 arrived, in order, all counted, and
    nothing is held back in this thread any more."""
    values: list[int] = []
    while len(values) < 100:
        values.extend(listener.drain_values())
    assert values == list(range(100))
    assert listener.stats()[RT1] == fastsig.Stats(delivered=100, dropped=0, read=100)
    assert RT1 not in fastsig.pthread_sigmask(fastsig.SIG_BLOCK, [])


@in_child(timeout=60)
def test_flood_from_another_process_arrives_in_order_with_values() -> None:
    n = 50_000
    with fastsig.Listener([RT1], capacity=1 << 17) as listener:
        sender = fork_sender(os.getpid(), RT1, range(n))
        got = collect(lambda: listener.wait(timeout=0.5), n, timeout=20)
        assert exit_code(sender) == 0
        assert [i.si_value for i in got] == list(range(n))
        assert {i.si_pid for i in got} == {sender}
        assert all(i.si_code == fastsig.SiCode.SI_QUEUE for i in got)
        assert listener.stats()[RT1] == fastsig.Stats(delivered=n, dropped=0, read=n)


@in_child(timeout=60)
def test_flood_into_a_small_ring_read_by_the_flooded_thread_loses_nothing() -> None:
    # The reader's own thread takes every delivery; the handler holds further
    # signals back in the kernel's queue (sender sees EAGAIN) instead of dropping.
    n = 100_000
    with fastsig.Listener([RT1], capacity=256) as listener:
        assert listener.drain() == []  # this thread is now the reader
        sender = fork_sender(os.getpid(), RT1, range(n))
        values: list[int] = []
        while len(values) < n:
            batch = listener.wait_values(timeout=10)
            assert batch, f"flood stalled: {listener.stats()}"
            values.extend(batch)
        assert exit_code(sender) == 0
        assert values == list(range(n))
        assert listener.stats()[RT1] == fastsig.Stats(delivered=n, dropped=0, read=n)
    # Nothing stays blocked in this thread after close.
    assert RT1 not in fastsig.pthread_sigmask(fastsig.SIG_BLOCK, [])


@in_child(timeout=30)
def test_full_ring_drops_and_counts_exactly() -> None:
    with fastsig.Listener([RT1], capacity=16) as listener:
        # Delivered on a thread that is not the reader: never held back, so the
        # ring fills and the rest is dropped and counted.
        def send_to_myself() -> None:
            me = threading.get_ident()
            for value in range(100):
                fastsig.pthread_sigqueue(me, RT1, value)  # runs the handler at once

        thread = threading.Thread(target=send_to_myself)
        thread.start()
        thread.join()
        stats = listener.stats()[RT1]
        assert stats == fastsig.Stats(delivered=100, dropped=84, read=0)
        assert listener.drain_values() == list(range(16))  # the oldest kept, never overwritten
        assert listener.dropped == {RT1: 84}
        stats = listener.stats()[RT1]
        assert stats.delivered == stats.read + stats.dropped and stats.pending == 0


@in_child(timeout=30)
def test_reader_thread_flooded_holds_signals_in_the_kernel_queue() -> None:
    with fastsig.Listener([RT1], capacity=16) as listener:
        assert listener.drain() == []  # this thread is now the reader
        for value in range(100):
            fastsig.sigqueue(os.getpid(), RT1, value)  # this (reader) thread takes them
        stats = listener.stats()[RT1]
        assert stats.dropped == 0 and 8 <= stats.delivered <= 16
        assert RT1 in fastsig.sigpending()  # the rest waits in the kernel, in order
        _read_100_held_back(listener)


@in_child(timeout=30)
def test_what_is_pending_is_taken_by_one_handler_entry_in_the_kernels_order() -> None:
    # The first delivery finds the ring empty and is recorded alone (no
    # backlog: asking the kernel for more would cost a syscall in the common
    # case of one signal at a time). The second, behind a record, takes the
    # rest (lowest signal first, as the kernel delivers), and the records of
    # one entry share tid and time_ns. Nothing nests: the ring's signals are
    # blocked while its handler runs.
    with fastsig.Listener([RT1, RT2, signal.SIGUSR1]) as listener:
        with fastsig.blocked([RT1, RT2, signal.SIGUSR1]):
            fastsig.sigqueue_many(os.getpid(), RT2, range(100, 150))
            fastsig.sigqueue_many(os.getpid(), RT1, range(50))
            os.kill(os.getpid(), signal.SIGUSR1)
        got = listener.drain()
        assert [(i.signal, i.si_value) for i in got] == [(signal.SIGUSR1, 0)] + \
            [(RT1, v) for v in range(50)] + [(RT2, v) for v in range(100, 150)]
        me = threading.get_native_id()
        assert got[0].tid == me
        assert {(i.tid, i.time_ns) for i in got[1:]} == {(me, got[1].time_ns)}
        assert listener.stats()[RT2] == fastsig.Stats(delivered=50, dropped=0, read=50)


@in_child(timeout=60)
def test_each_read_gives_a_record_its_own_sender_and_thread() -> None:
    # A Listener's reads share the ints a record has in common with the last
    # read's (sender, uid, thread): a record must still show its own. The
    # sender alternates between this process and a new child each round, and
    # the thread that receives between this one and a helper.
    me, main_tid = os.getpid(), threading.get_native_id()
    with fastsig.Listener([RT1]) as listener:
        with HandlerThread([RT1]) as helper:
            for round_ in range(40):
                sender = queue_own_pid(me, RT1, from_child=round_ % 2 == 1)
                got = listener.wait(timeout=10, max=1)
                assert [(i.si_pid, i.si_value, i.si_uid) for i in got] == [(sender, sender, os.getuid())]
                # The helper is the only thread with RT1 unblocked.
                assert got[0].tid == helper.native_ids[0] != main_tid
        fastsig.pthread_sigqueue(threading.get_ident(), RT1, 1)
        got = listener.wait(timeout=10)
        assert [(i.si_pid, i.si_value, i.tid) for i in got] == [(me, 1, main_tid)]


@in_child(timeout=30)
def test_a_chained_signal_is_never_taken_in_a_batch() -> None:
    # The previous handler runs once per delivery, so each is a handler entry.
    calls: list[int] = []
    signal.signal(RT1, lambda s, f: calls.append(s))
    with fastsig.Listener([RT1, RT2], chain=True) as listener:
        with fastsig.blocked([RT1, RT2]):
            fastsig.sigqueue_many(os.getpid(), RT1, range(20))
        got = listener.drain()
        assert [i.si_value for i in got] == list(range(20))
        assert len({i.time_ns for i in got}) == 20
        assert calls  # CPython's own handler ran (it coalesces what it runs in Python)


@in_child(timeout=30)
def test_taking_on_the_reader_thread_stops_half_full_and_holds_the_rest_back() -> None:
    with fastsig.Listener([RT1], capacity=16) as listener:
        assert listener.drain() == []  # this thread is now the reader
        with fastsig.blocked([RT1]):
            fastsig.sigqueue_many(os.getpid(), RT1, range(100))
        # Unblocked: the handler took what fits in half the ring, then held
        # the signal back in this thread; the rest waits in the kernel's queue.
        assert listener.stats()[RT1] == fastsig.Stats(delivered=8, dropped=0, read=0)
        assert RT1 in fastsig.pthread_sigmask(fastsig.SIG_BLOCK, [])
        _read_100_held_back(listener)


@in_child(timeout=30)
def test_a_burst_is_held_back_on_the_reader_thread_until_its_next_read() -> None:
    # A handler entry that takes 64 pending signals or more holds its signal
    # back on the reader's thread, however little the ring holds: what follows
    # waits in the kernel's queue rather than interrupt the reader once per
    # signal, and the next read lets it in. The Listener's signals numbered
    # above it are held with it, so none overtakes the held ones (the kernel
    # delivers the lowest first). A smaller burst holds nothing back.
    me = os.getpid()
    with fastsig.Listener([RT1, RT2]) as listener:
        assert listener.drain() == []  # this thread is now the reader
        with fastsig.blocked([RT1]):
            fastsig.sigqueue_many(me, RT1, range(100))
        assert {RT1, RT2} <= fastsig.pthread_sigmask(fastsig.SIG_BLOCK, [])
        assert listener.stats()[RT1].delivered == 100
        fastsig.sigqueue_many(me, RT1, range(100, 150))
        fastsig.sigqueue(me, RT2, -1)
        assert {RT1, RT2} <= fastsig.sigpending()
        assert listener.stats()[RT1].delivered == 100 and listener.stats()[RT2].delivered == 0
        got = listener.drain() + listener.drain()
        assert [(i.signal, i.si_value) for i in got] == [(RT1, v) for v in range(150)] + [(RT2, -1)]
        assert not {RT1, RT2} & fastsig.pthread_sigmask(fastsig.SIG_BLOCK, [])
        assert listener.stats()[RT1] == fastsig.Stats(delivered=150, dropped=0, read=150)


@in_child(timeout=60)
def test_a_standard_signal_is_never_dropped_behind_a_flood() -> None:
    # Threads that are not the reader's flood a small ring with real-time
    # signals: it fills, and the rest is dropped and counted. A SIGTERM in the
    # middle of the flood finds the ring full too: it is kept, and read after
    # the records that were in the ring before it.
    n, n_threads = 500, 4
    with fastsig.Listener([RT1, signal.SIGTERM], capacity=16) as listener:
        assert listener.drain() == []
        start = threading.Barrier(n_threads)

        def flood(index: int) -> None:
            me = threading.get_ident()
            start.wait()
            for value in range(n):
                fastsig.pthread_sigqueue(me, RT1, value)  # runs the handler at once
                if index == 0 and value == n // 2:
                    fastsig.pthread_kill(me, signal.SIGTERM)

        threads = [threading.Thread(target=flood, args=(i,)) for i in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        got = listener.drain(max=100)
        assert [i.signal for i in got] == [RT1] * 16 + [signal.SIGTERM]
        assert got[-1].code == fastsig.SiCode.SI_TKILL and got[-1].si_pid == os.getpid()
        stats = listener.stats()
        assert stats[signal.SIGTERM] == fastsig.Stats(delivered=1, dropped=0, read=1)
        assert stats[RT1].delivered == n * n_threads == stats[RT1].read + stats[RT1].dropped
        assert stats[RT1].dropped > 0


@in_child(timeout=30)
def test_records_carry_thread_time_and_sender() -> None:
    with fastsig.Listener(["USR1", RT1]) as listener:
        before = time.monotonic_ns()
        os.kill(os.getpid(), signal.SIGUSR1)
        fastsig.sigqueue(os.getpid(), RT1, -7)
        usr1, rt1 = listener.drain()
        assert usr1.signal == signal.SIGUSR1 and usr1.code == fastsig.SiCode.SI_USER
        assert usr1.si_pid == os.getpid() and usr1.si_uid == os.getuid() and usr1.si_value == 0
        assert rt1.si_value == -7 and rt1.si_int == -7
        assert usr1.tid == threading.get_native_id()
        assert before <= usr1.time_ns <= rt1.time_ns <= time.monotonic_ns()
        assert "SIGUSR1 SI_USER from pid" in repr(usr1)


@in_child(timeout=60)
def test_process_directed_signals_landing_on_many_threads_all_reach_the_ring() -> None:
    per_thread, n_threads = 2_000, 8
    with fastsig.Listener([RT1], capacity=1 << 15) as listener:
        start = threading.Barrier(n_threads)
        # Each thread sends to itself: delivery is on that thread, concurrently.
        def send(base: int) -> None:
            start.wait()
            me = threading.get_ident()
            for value in range(base, base + per_thread):
                fastsig.pthread_sigqueue(me, RT1, value)

        threads = [threading.Thread(target=send, args=(i * per_thread,)) for i in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        got = listener.drain(max=n_threads * per_thread + 1)
        assert sorted(i.si_value for i in got) == list(range(n_threads * per_thread))
        assert len({i.tid for i in got}) == n_threads
        # Per thread, its own signals stay in order.
        by_tid: dict[int, list[int]] = {}
        for info in got:
            by_tid.setdefault(info.tid, []).append(info.si_value)
        assert all(v == sorted(v) for v in by_tid.values())
        assert listener.stats()[RT1].dropped == 0


@in_child(timeout=30)
def test_blocking_wait_in_another_thread_and_close_wakes_it() -> None:
    listener = fastsig.Listener([RT1])
    results: list[object] = []

    def reader() -> None:
        results.append(listener.wait())  # no timeout: only a signal or close ends it
        results.append(list(listener))  # iteration ends when the listener closes

    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.1)
    fastsig.sigqueue(os.getpid(), RT1, 5)
    time.sleep(0.1)
    listener.close()
    thread.join(5)
    assert not thread.is_alive()
    assert [i.si_value for i in results[0]] == [5]  # type: ignore[attr-defined]
    assert results[1] == []
    with pytest.raises(ValueError, match="closed"):
        listener.drain()
    assert listener.stats()[RT1].read == 1


@in_child(timeout=30)
def test_wait_times_out_empty() -> None:
    with fastsig.Listener([RT1]) as listener:
        start = time.monotonic()
        assert listener.wait(timeout=0.2) == []
        assert 0.15 <= time.monotonic() - start < 5


@in_child(timeout=30)
def test_fileno_becomes_readable_after_drain_finds_ring_empty() -> None:
    with fastsig.Listener([RT1]) as listener:
        assert listener.drain() == []  # arms the wake-up
        assert select.select([listener], [], [], 0)[0] == []
        fastsig.sigqueue(os.getpid(), RT1, 1)
        assert select.select([listener], [], [], 1)[0] == [listener]
        assert listener.drain_values() == [1]
        assert select.select([listener], [], [], 0)[0] == []  # drained: not readable


@in_child(timeout=30)
def test_previous_handlers_restored_exactly_including_cpython_sigint() -> None:
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    with fastsig.Listener([signal.SIGINT, signal.SIGUSR2]) as listener:
        os.kill(os.getpid(), signal.SIGINT)  # recorded, not a KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGUSR2)
        assert [i.signal for i in listener.drain()] == [signal.SIGINT, signal.SIGUSR2]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGUSR2) is signal.SIG_IGN
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)
    os.kill(os.getpid(), signal.SIGUSR2)  # ignored again: we are still alive


@in_child(timeout=30)
def test_chain_calls_the_previous_handler_too() -> None:
    with fastsig.Listener([signal.SIGINT], chain=True) as listener:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        assert [i.signal for i in listener.drain()] == [signal.SIGINT]


@in_child(timeout=30)
def test_signal_signal_replacing_ours_is_detected_and_theirs_survives_close() -> None:
    seen: list[int] = []
    listener = fastsig.Listener([signal.SIGUSR1])
    assert listener.replaced() == frozenset()
    signal.signal(signal.SIGUSR1, lambda s, f: seen.append(s))
    assert listener.replaced() == {signal.SIGUSR1}
    listener.close()
    os.kill(os.getpid(), signal.SIGUSR1)
    time.sleep(0.01)
    assert seen == [signal.SIGUSR1]


@in_child(timeout=30)
def test_independent_listeners_and_a_signal_free_again_after_close() -> None:
    a = fastsig.Listener([RT1])
    b = fastsig.Listener([RT2])
    fastsig.sigqueue(os.getpid(), RT1, 1)
    fastsig.sigqueue(os.getpid(), RT2, 2)
    assert a.drain_values() == [1] and b.drain_values() == [2]
    a.close()
    c = fastsig.Listener([RT1])  # free again after close
    c.close()
    b.close()


@in_child(timeout=30)
def test_bad_arguments_fail_before_installing_anything() -> None:
    for sigs, error in [
        ([signal.SIGKILL], ValueError), (["SIGSTOP"], ValueError), ([0], ValueError),
        (["NOPE"], ValueError), ([], ValueError), ([1.5], TypeError), (None, TypeError),
    ]:
        with pytest.raises(error):
            fastsig.Listener(sigs)  # type: ignore[arg-type]
    for capacity in (0, 1, 3, 1000, 1 << 40):
        with pytest.raises(ValueError, match="capacity"):
            fastsig.Listener([RT1], capacity=capacity)
    assert signal.getsignal(RT1) == signal.SIG_DFL


@in_child(timeout=30)
def test_reads_take_their_arguments_by_position_or_name_and_refuse_others() -> None:
    with fastsig.Listener([RT1], batch=2) as listener:
        for value in range(6):
            fastsig.sigqueue(os.getpid(), RT1, value)
        assert [i.si_value for i in listener.drain()] == [0, 1]  # batch= is the default max
        assert listener.drain_values(max=1) == [2]
        assert listener.wait_values(0, 1) == [3]
        assert [i.si_value for i in listener.wait(max=1, timeout=None)] == [4]
        assert listener.wait_values(timeout=0.0) == [5]
        untyped: Any = listener  # calls its signatures refuse
        call: Callable[[], object]
        for call in [lambda: untyped.wait(0, 1, 2), lambda: untyped.drain(1, max=1),
                     lambda: untyped.wait(maximum=1), lambda: untyped.drain_values(timeout=1)]:
            with pytest.raises(TypeError, match=r"\(\) takes (one|two) optional argument"):
                call()
        for bad_max, error in [(0, ValueError), (1.0, TypeError), (True, TypeError)]:
            with pytest.raises(error, match="max"):
                untyped.drain(bad_max)
        with pytest.raises(ValueError, match="timeout"):
            listener.wait(-1)
    with pytest.raises(ValueError, match="closed Listener"):
        listener.wait_values(0)


@in_child(timeout=30)
def test_forked_child_starts_empty_with_its_own_wake_fd() -> None:
    with fastsig.Listener([RT1]) as listener:
        fastsig.sigqueue(os.getpid(), RT1, 1)

        def child() -> None:
            assert listener.drain() == []
            assert listener.stats()[RT1].delivered == 0
            fastsig.sigqueue(os.getpid(), RT1, 2)
            # Recorded on the child's own thread, whose id the handler asks
            # afresh: the parent's, cached before the fork, is not the child's.
            [record] = listener.drain()
            assert (record.si_value, record.tid) == (2, threading.get_native_id())

        assert exit_code(forked(child)) == 0
        # The child's signal neither woke nor reached the parent's ring.
        assert listener.drain_values() == [1]
        assert select.select([listener], [], [], 0.05)[0] == []
        assert listener.stats()[RT1].delivered == 1


@in_child(timeout=30)
def test_kill_sent_sigfpe_is_recorded_and_the_process_lives_on() -> None:
    with fastsig.Listener([signal.SIGFPE, signal.SIGSEGV]) as listener:
        os.kill(os.getpid(), signal.SIGFPE)
        fastsig.sigqueue(os.getpid(), signal.SIGSEGV, 3)
        got = listener.drain()
        assert [(i.signal, i.si_code <= 0) for i in got] == [
            (signal.SIGFPE, True), (signal.SIGSEGV, True)]


def test_cpu_raised_segv_kills_instead_of_looping() -> None:
    code = (
        "import ctypes, fastsig, signal\n"
        "l = fastsig.Listener([signal.SIGSEGV])\n"
        "ctypes.string_at(0)\n"
    )
    proc = subprocess.run([sys.executable, "-X", "faulthandler=0", "-c", code], timeout=30,
                          capture_output=True)
    assert proc.returncode == -signal.SIGSEGV


@in_child(timeout=30)
def test_dispatcher_calls_back_for_every_delivery_off_the_main_thread() -> None:
    got: list[tuple[int, str]] = []
    done = threading.Event()
    n = 500

    def callback(info: fastsig.SigInfo) -> None:
        got.append((info.si_value, threading.current_thread().name))
        if info.si_value == 13:
            raise RuntimeError("a failing callback does not stop dispatching")
        if len(got) == n:
            done.set()

    errors: list[BaseException] = []
    with fastsig.on([RT1], callback, on_error=lambda exc, info: errors.append(exc)):
        fastsig.sigqueue_many(os.getpid(), RT1, range(n))
        assert done.wait(10)
    assert [v for v, _ in got] == list(range(n))
    assert {name for _, name in got} == {"fastsig-dispatch"}
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError)



@in_child(timeout=60)
def test_a_closed_dispatchers_thread_takes_no_more_signals() -> None:
    # join() returns before the OS thread is gone: a process-directed signal
    # sent right after close() must not land in the dying thread, where the
    # restored default action would kill the process.
    for value in range(500):
        fastsig.on([RT1], lambda info: None, capacity=16).close()
        with fastsig.blocked([RT1]):
            fastsig.sigqueue(os.getpid(), RT1, value)
            info = fastsig.sigtimedwait([RT1], 0)
            assert info is not None and info.si_value == value

async def _async_receive(n: int) -> list[int]:
    with fastsig.Listener([RT1]) as listener:
        sender = fork_sender(os.getpid(), RT1, range(n))
        values: list[int] = []
        async for info in listener:
            values.append(info.si_value)
            if len(values) == n:
                break
        assert exit_code(sender) == 0
        return values


@in_child(timeout=60)
def test_asyncio_default_loop() -> None:
    assert asyncio.run(_async_receive(5_000)) == list(range(5_000))


@in_child(timeout=60)
def test_asyncio_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")
    loop = uvloop.new_event_loop()
    try:
        assert loop.run_until_complete(_async_receive(5_000)) == list(range(5_000))
    finally:
        loop.close()


@in_child(timeout=30)
def test_accept_policy_returns_only_kernel_verified_senders_and_counts_the_rest() -> None:
    policy = fastsig.SenderPolicy(pids=[os.getpid()], kernel_verified=True)
    with fastsig.Listener([RT1], accept=policy) as listener:
        fastsig.sigqueue(os.getpid(), RT1, 1)  # SI_QUEUE: the sender wrote its own pid
        os.kill(os.getpid(), RT1)  # SI_USER: the kernel vouches for the pid
        got = listener.wait(timeout=1)
        assert [(i.code, i.si_pid) for i in got] == [(fastsig.SiCode.SI_USER, os.getpid())]
        assert listener.stats()[RT1] == fastsig.Stats(delivered=2, dropped=0, read=2, rejected=1)
        assert listener.drain_values() == []
    with pytest.raises(TypeError, match="SenderPolicy"):
        fastsig.Listener([RT1], accept=lambda info: True)  # type: ignore[arg-type]
