"""A Listener's states, not its throughput: holding back and releasing across
threads and masks, closing from a handler, another thread, an async task or a
forked child, chaining to CPython's handler.

Every test installs handlers or changes masks, so each runs in a forked child
with a timeout (@in_child); a hang fails the test instead of the suite.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest

import fastsig
from fastsig import _core
from support import RT1, exit_code, forked, in_child, proc_status

CAPACITY = 16  # held back past half full, released at a quarter


def _blocked_here(sig: int) -> bool:
    return sig in signal.pthread_sigmask(signal.SIG_BLOCK, [])


def _held_in(native_id: int, sig: int) -> bool:
    """Whether thread native_id blocks sig (its own mask, from /proc)."""
    return bool(int(proc_status(f"self/task/{native_id}")["SigBlk"], 16) >> (sig - 1) & 1)


def _until(condition: object, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def _hold_back(listener: fastsig.Listener, send: object) -> None:
    """Make the calling thread the reader, then fill the ring past half from
    `send()` until the handler holds RT1 back in this thread."""
    assert listener.drain() == []
    for _ in range(CAPACITY):
        send()  # type: ignore[operator]
    assert _blocked_here(RT1), "the flooded reader should be held back"
    assert RT1 in signal.sigpending()


@in_child(timeout=30)
def test_blocked_section_around_a_read_keeps_the_release() -> None:
    # blocked() saved a mask with RT1 held back; restoring all of it would
    # block RT1 again behind the ring's back and leave the Listener deaf.
    me = os.getpid()
    with fastsig.Listener([RT1], capacity=CAPACITY) as listener:
        _hold_back(listener, lambda: fastsig.sigqueue(me, RT1, 1))
        with fastsig.blocked([signal.SIGUSR2]):
            got = listener.drain()
        assert len(got) == CAPACITY
        assert not _blocked_here(RT1)
        assert not _blocked_here(signal.SIGUSR2)
        fastsig.sigqueue(me, RT1, 2)
        assert [i.si_value for i in listener.drain()] == [2]
        assert listener.stats()[RT1] == fastsig.Stats(CAPACITY + 1, 0, CAPACITY + 1)
    assert not _blocked_here(RT1)
    assert RT1 not in signal.sigpending()


@in_child(timeout=30)
def test_blocked_restores_only_what_it_changed() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
    with fastsig.blocked([signal.SIGUSR1, signal.SIGUSR2]):
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGWINCH])  # the body's own change stays
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert signal.SIGUSR1 in mask  # blocked before: stays blocked
    assert signal.SIGUSR2 not in mask  # blocked by blocked(): unblocked
    assert signal.SIGWINCH in mask


@in_child(timeout=30)
def test_two_reader_threads_each_release_their_own_hold() -> None:
    results: dict[str, object] = {}
    step = {name: threading.Event() for name in ("a_held", "b_go", "b_held", "b_done", "a_go")}

    def reader(name: str, wait_for: str, then: str) -> None:
        listener.drain()  # this thread is the reader now
        results[name + "_tid"] = threading.get_ident()
        results[name + "_native"] = threading.get_native_id()
        step[then].set()
        step[wait_for].wait(10)
        results[name + "_held"] = _blocked_here(RT1)
        got = listener.drain()
        results[name + "_read"] = len(got)
        results[name + "_blocked_after"] = _blocked_here(RT1)

    def flood(name: str) -> None:
        for i in range(CAPACITY):
            fastsig.pthread_sigqueue(results[name + "_tid"], RT1, i)  # type: ignore[arg-type]
        # Its handler runs when that thread gets a CPU: wait until it held
        # the signal back, before another thread becomes the reader.
        assert _until(lambda: _held_in(results[name + "_native"], RT1)), name  # type: ignore[arg-type]

    with fastsig.Listener([RT1], capacity=CAPACITY) as listener:
        a = threading.Thread(target=reader, args=("a", "a_go", "a_held"))
        a.start()
        step["a_held"].wait(10)
        flood("a")
        b = threading.Thread(target=reader, args=("b", "b_go", "b_held"))
        b.start()  # b's first drain takes what a's flood left in the ring
        step["b_held"].wait(10)
        flood("b")
        step["b_go"].set()
        b.join(10)
        step["a_go"].set()
        a.join(10)
        assert results["a_held"] and results["b_held"], results
        assert not results["b_blocked_after"], results
        assert not results["a_blocked_after"], "a's hold was orphaned by b's release"
        stats = listener.stats()[RT1]
        assert stats.delivered == 2 * CAPACITY and stats.pending == 0, stats
    assert RT1 not in signal.sigpending()


@in_child(timeout=30)
def test_close_from_a_signal_handler_while_iterating() -> None:
    main = threading.get_ident()
    listener = fastsig.Listener([RT1])
    signal.signal(signal.SIGUSR1, lambda *_: listener.close())
    threading.Timer(0.3, signal.pthread_kill, (main, signal.SIGUSR1)).start()
    start = time.monotonic()
    assert list(listener) == []
    assert time.monotonic() - start < 5
    assert listener.closed
    assert not fastsig.Listener([RT1]).closed  # nothing left behind


class _ClosingPolicy(fastsig.SenderPolicy):
    """Raises SIGUSR1 at itself while the reader is inside its read, with the
    ring in use by that frame; the Python handler closes the Listener."""

    __slots__ = ()

    def accepts(self, info: fastsig.SigInfo) -> bool:
        signal.raise_signal(signal.SIGUSR1)
        return True


@in_child(timeout=30)
def test_close_from_a_signal_handler_inside_a_read() -> None:
    me = os.getpid()
    listener = fastsig.Listener([RT1], accept=_ClosingPolicy(kernel_verified=False))
    signal.signal(signal.SIGUSR1, lambda *_: listener.close())
    fastsig.sigqueue(me, RT1, 1)
    assert [i.si_value for i in listener.drain()] == [1]  # read before the close
    assert listener.closed
    assert not _core.handler_installed(RT1)
    with fastsig.Listener([RT1]) as again:
        fastsig.sigqueue(me, RT1, 7)
        assert [i.si_value for i in again.drain()] == [7]


class _SlowPolicy(fastsig.SenderPolicy):
    """Keeps a reader inside its read for a while (a slow accept= policy)."""

    __slots__ = ()

    def accepts(self, info: fastsig.SigInfo) -> bool:
        time.sleep(1.0)
        return True


@in_child(timeout=30)
def test_interrupted_close_can_be_retried_and_leaves_no_handler() -> None:
    me = os.getpid()
    main = threading.get_ident()
    listener = fastsig.Listener([RT1], accept=_SlowPolicy(kernel_verified=False))
    reader = threading.Thread(target=listener.wait, kwargs={"timeout": 5})
    reader.start()
    time.sleep(0.1)
    fastsig.sigqueue(me, RT1, 1)  # the reader is now in the slow policy
    time.sleep(0.1)
    threading.Timer(0.2, signal.pthread_kill, (main, signal.SIGINT)).start()
    try:
        listener.close()  # waits for the reader; Ctrl-C arrives meanwhile
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("close() should have been interrupted")
    listener.close()  # the retry finishes the job
    reader.join(5)
    assert listener.closed
    assert not _core.handler_installed(RT1)
    with fastsig.Listener([RT1]) as again:
        fastsig.sigqueue(me, RT1, 2)
        assert [i.si_value for i in again.drain()] == [2]


@in_child(timeout=30)
def test_close_from_another_task_ends_async_iteration() -> None:
    async def main() -> list[int]:
        listener = fastsig.Listener([RT1])
        got: list[int] = []

        async def consume() -> None:
            async for info in listener:
                got.append(info.si_value)

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.1)
        fastsig.sigqueue(os.getpid(), RT1, 5)
        await asyncio.sleep(0.1)
        listener.close()
        await asyncio.wait_for(task, 3)
        return got

    assert asyncio.run(main()) == [5]


@in_child(timeout=30)
def test_close_from_another_thread_ends_async_iteration() -> None:
    async def main() -> None:
        listener = fastsig.Listener([RT1])
        threading.Timer(0.2, listener.close).start()
        await asyncio.wait_for(listener.wait_async(), 3)

    try:
        asyncio.run(main())
    except StopAsyncIteration:
        pass
    else:
        raise AssertionError("the awaiting task should see the end of iteration")


@in_child(timeout=30)
def test_two_tasks_waiting_on_one_listener_both_hear() -> None:
    async def main() -> list[list[int]]:
        with fastsig.Listener([RT1]) as listener:

            async def one() -> list[int]:
                return [i.si_value for i in await listener.wait_async()]

            tasks = [asyncio.ensure_future(one()) for _ in range(2)]
            await asyncio.sleep(0.1)
            for value in (1, 2):
                fastsig.sigqueue(os.getpid(), RT1, value)
                await asyncio.sleep(0.1)
            return list(await asyncio.wait_for(asyncio.gather(*tasks), 3))

    assert sorted(v for batch in asyncio.run(main()) for v in batch) == [1, 2]


@in_child(timeout=30)
def test_fork_while_a_thread_reads_then_close_in_the_child() -> None:
    listener = fastsig.Listener([RT1])
    reader = threading.Thread(target=listener.wait, kwargs={"timeout": 3})
    reader.start()
    time.sleep(0.2)  # the reader is inside wait()

    def child() -> None:
        with listener:
            fastsig.sigqueue(os.getpid(), RT1, 9)
            assert [i.si_value for i in listener.drain()] == [9]
        assert listener.closed

    assert exit_code(forked(child), timeout=10) == 0
    listener.close()
    reader.join(5)
    assert not reader.is_alive()


@in_child(timeout=30)
def test_chaining_to_cpythons_handler_keeps_ctrl_c_prompt() -> None:
    # CPython installs SIGINT without SA_RESTART so that a blocking read is
    # interrupted and KeyboardInterrupt raised at once.
    read_end, write_end = os.pipe()
    late_writer = forked(lambda: (time.sleep(2.0), os.write(write_end, b"x")))
    main = threading.get_ident()
    with fastsig.Listener([signal.SIGINT], chain=True) as listener:
        threading.Timer(0.2, signal.pthread_kill, (main, signal.SIGINT)).start()
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            os.read(read_end, 1)
        elapsed = time.monotonic() - start
        assert [i.si_signo for i in listener.drain()] == [signal.SIGINT]
    assert elapsed < 1.5, f"KeyboardInterrupt came only after {elapsed:.2f} s"
    exit_code(late_writer)
