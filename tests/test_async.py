"""Every event loop: asyncio (its default loop and uvloop), trio, and anyio on
both its backends, each receiving real signals from another process.

The waits themselves are the same code under each (Listener.wait_async through
fastsig._eventloop); cancellation and closing differ per library, so every test
runs under each. The tests spawn tasks and cancel with anyio's primitives,
which work inside a plain asyncio or trio run as well as under anyio.run.
Every test installs handlers, so each runs in a forked child (@in_child).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Awaitable, Callable, List, Tuple, TypeVar

import pytest

import fastsig
from support import RT1, RT2, exit_code, fork_sender, forked, in_child

anyio = pytest.importorskip("anyio")
trio = pytest.importorskip("trio")

T = TypeVar("T")

try:
    import uvloop
except ImportError:  # uvloop has no wheels for PyPy or Windows
    uvloop = None

RUNNERS = [
    "asyncio",
    pytest.param("uvloop", marks=pytest.mark.skipif(uvloop is None, reason="needs uvloop")),
    "trio",
    "anyio-asyncio",
    "anyio-trio",
]


def run(runner: str, main: Callable[[], Awaitable[T]]) -> T:
    """main() to completion under runner (one of RUNNERS)."""
    if runner == "asyncio":
        return asyncio.run(main())  # type: ignore[arg-type]
    if runner == "uvloop":
        loop = uvloop.new_event_loop()
        try:
            return loop.run_until_complete(main())
        finally:
            loop.close()
    if runner == "trio":
        return trio.run(main)  # type: ignore[no-any-return]
    return anyio.run(main, backend=runner.split("-")[1])  # type: ignore[no-any-return]


def _in_thread(fn: Callable[[], T]) -> T:
    """fn() in a new thread: its result, or its exception raised here."""
    out: List[Any] = []

    def body() -> None:
        try:
            out.append(fn())
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller
            out.append(exc)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(60)
    assert out, "the thread did not finish within 60 s"
    if isinstance(out[0], BaseException):
        raise out[0]
    return out[0]  # type: ignore[no-any-return]


N = 10_000


@pytest.mark.parametrize("runner", RUNNERS)
@in_child(timeout=120)
def test_ten_thousand_values_arrive_in_order_through_async_for(runner: str) -> None:
    async def main() -> List[int]:
        with fastsig.Listener([RT1]) as listener:
            sender = fork_sender(os.getpid(), RT1, range(N))
            values: List[int] = []
            async for info in listener:
                values.append(info.si_value)
                if len(values) == N:
                    break
            assert exit_code(sender) == 0
            assert listener.stats()[RT1] == fastsig.Stats(delivered=N, dropped=0, read=N)
            return values

    assert run(runner, main) == list(range(N))


@pytest.mark.parametrize("runner", RUNNERS)
@in_child(timeout=120)
def test_a_cancelled_wait_loses_no_record(runner: str) -> None:
    # Waits cancelled at every stage (before they park, while parked, as the
    # records arrive) under bursts: every value still arrives, in order, so
    # no cancelled wait took a record with it. A wait that finds records
    # returns them without yielding, so a flood the reader never catches up
    # with would cancel nothing: the pauses between bursts let it run dry.
    async def main() -> tuple[List[int], int]:
        with fastsig.Listener([RT1]) as listener:
            sender = fork_sender(os.getpid(), RT1, range(N), burst=100)
            values: List[int] = []
            cancelled = 0
            while len(values) < N:
                with anyio.move_on_after((0, 0.0001, 0.001)[cancelled % 3]) as scope:
                    values.extend(i.si_value for i in await listener.wait_async(max=64))
                cancelled += scope.cancelled_caught
            assert exit_code(sender) == 0
            return values, cancelled

    values, cancelled = run(runner, main)
    assert values == list(range(N))
    assert cancelled > 0, "no wait was cancelled: the test tested nothing"


@pytest.mark.parametrize("runner", RUNNERS)
@in_child(timeout=60)
def test_after_a_cancelled_wait_the_next_read_returns_the_record(runner: str) -> None:
    async def main() -> List[int]:
        with fastsig.Listener([RT1]) as listener:
            with anyio.move_on_after(0.05) as scope:
                await listener.wait_async()
            assert scope.cancelled_caught
            assert exit_code(fork_sender(os.getpid(), RT1, [7])) == 0
            with anyio.fail_after(10):
                return [i.si_value for i in await listener.wait_async()]

    assert run(runner, main) == [7]


@pytest.mark.parametrize("runner", RUNNERS)
@in_child(timeout=60)
def test_tasks_of_one_loop_wait_on_one_listener_together(runner: str) -> None:
    # trio lets one task at a time wait to read an fd: the waiters of one run
    # must share a reader, as they share add_reader under asyncio.
    async def main() -> List[int]:
        got: List[int] = []
        with fastsig.Listener([RT1]) as listener:

            async def one() -> None:
                got.extend(i.si_value for i in await listener.wait_async(max=1))

            with anyio.fail_after(10):
                async with anyio.create_task_group() as tasks:
                    for _ in range(3):
                        tasks.start_soon(one)
                    await anyio.sleep(0.1)
                    assert exit_code(fork_sender(os.getpid(), RT1, [1, 2, 3])) == 0
        return got

    assert sorted(run(runner, main)) == [1, 2, 3]


@pytest.mark.parametrize("closer", ["task", "thread"])
@pytest.mark.parametrize("runner", RUNNERS)
@in_child(timeout=60)
def test_close_ends_every_wait_and_frees_the_ring(runner: str, closer: str) -> None:
    async def main() -> List[str]:
        listener = fastsig.Listener([RT1])
        ended: List[str] = []

        async def iterate() -> None:
            async for _ in listener:
                pass
            ended.append("async for")

        async def wait() -> None:
            try:
                await listener.wait_async()
            except StopAsyncIteration:
                ended.append("wait_async")

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(iterate)
                tasks.start_soon(wait)
                await anyio.sleep(0.1)
                if closer == "task":
                    listener.close()
                else:
                    thread = threading.Thread(target=listener.close)
                    thread.start()
                    await anyio.to_thread.run_sync(thread.join)
        assert listener._ring is None, "the ring outlived its last waiter"
        return sorted(ended)

    assert run(runner, main) == ["async for", "wait_async"]


@in_child(timeout=60)
def test_loops_in_two_threads_each_hear_their_own_signal() -> None:
    # Each signal is left unblocked only in its loop's thread, so its handler
    # runs there alone and the values stay in order (across threads they
    # would be in order per thread only).
    n = 1_000
    heard: dict[str, List[int]] = {}
    ready = threading.Barrier(3)

    async def receive(name: str, sig: int) -> None:
        with fastsig.Listener([sig]) as listener:
            await anyio.to_thread.run_sync(ready.wait)
            # After starting the worker thread, which inherits our mask.
            fastsig.pthread_sigmask(fastsig.SIG_UNBLOCK, [sig])
            values: List[int] = []
            async for info in listener:
                values.append(info.si_value)
                if len(values) == n:
                    break
            heard[name] = values

    threads = [
        threading.Thread(target=lambda: asyncio.run(receive("asyncio", RT1))),
        threading.Thread(target=lambda: trio.run(receive, "trio", RT2)),
    ]
    fastsig.pthread_sigmask(fastsig.SIG_BLOCK, [RT1, RT2])
    for thread in threads:
        thread.start()
    ready.wait()
    senders = [fork_sender(os.getpid(), RT1, range(n)), fork_sender(os.getpid(), RT2, range(n, 2 * n))]
    assert [exit_code(pid) for pid in senders] == [0, 0]
    for thread in threads:
        thread.join(30)
    assert heard == {"asyncio": list(range(n)), "trio": list(range(n, 2 * n))}


def test_fastsig_imports_neither_trio_nor_anyio() -> None:
    code = (
        "import asyncio, os, sys, fastsig\n"
        "async def main():\n"
        "    with fastsig.Listener([fastsig.rt(1)]) as listener:\n"
        "        fastsig.sigqueue(os.getpid(), fastsig.rt(1), 3)\n"
        "        assert [i.si_value for i in await listener.wait_async()] == [3]\n"
        "asyncio.run(main())\n"
        "assert not {'trio', 'anyio', 'sniffio'} & set(sys.modules), sys.modules.keys()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ---- cancel_on ---------------------------------------------------------------------


def _kill_later(sig: int, delay: float = 0.1) -> int:
    """A separate process that sends sig to us (kill, so SI_USER) after delay."""
    target = os.getpid()
    return forked(lambda: (time.sleep(delay), os.kill(target, sig)))


@pytest.mark.parametrize("runner", RUNNERS)
@in_child(timeout=60)
def test_cancel_on_cancels_sleeping_tasks_and_keeps_the_siginfo(runner: str) -> None:
    # SIGTERM's action is to terminate: the process living on shows that the
    # signal was consumed, and nothing is left pending for later.
    async def main() -> tuple[fastsig.CancelOn, int, float]:
        start = time.monotonic()
        async with fastsig.cancel_on([signal.SIGTERM, signal.SIGHUP]) as scope:
            sender = _kill_later(signal.SIGTERM)
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(anyio.sleep, 30)
                await anyio.sleep(30)
        took = time.monotonic() - start
        assert exit_code(sender) == 0
        return scope, sender, took

    scope, sender, took = run(runner, main)
    assert took < 10
    assert scope.cancelled_caught
    info = scope.info
    assert info is not None
    assert (info.si_signo, info.code, info.si_pid) == (signal.SIGTERM, fastsig.SiCode.SI_USER, sender)
    assert signal.SIGTERM not in signal.sigpending()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


@pytest.mark.parametrize("runner", RUNNERS)
@in_child(timeout=60)
def test_cancel_on_keeps_the_first_record_of_a_flood(runner: str) -> None:
    async def main() -> fastsig.CancelOn:
        async with fastsig.cancel_on(RT1) as scope:
            assert exit_code(fork_sender(os.getpid(), RT1, range(100, 200))) == 0
            await anyio.sleep(30)
        return scope

    scope = run(runner, main)
    assert scope.cancelled_caught and scope.info is not None and scope.info.si_value == 100
    assert RT1 not in signal.sigpending()


@pytest.mark.parametrize("runner", RUNNERS)
@in_child(timeout=60)
def test_a_block_that_ends_first_is_not_cancelled_and_restores_the_action(runner: str) -> None:
    heard: List[int] = []
    signal.signal(signal.SIGUSR1, lambda sig, frame: heard.append(sig))

    async def main() -> fastsig.CancelOn:
        async with fastsig.cancel_on([signal.SIGUSR1]) as scope:
            await anyio.sleep(0.05)
        await anyio.sleep(0.05)  # a cancellation left behind would land here
        return scope

    scope = run(runner, main)
    assert (scope.info, scope.cancelled_caught) == (None, False)
    assert exit_code(_kill_later(signal.SIGUSR1, 0)) == 0
    deadline = time.monotonic() + 10
    while not heard and time.monotonic() < deadline:
        time.sleep(0.01)
    assert heard == [signal.SIGUSR1], "the previous Python handler should be back"


@pytest.mark.parametrize("runner", RUNNERS)
@in_child(timeout=60)
def test_cancel_on_leaves_an_outer_cancellation_alone(runner: str) -> None:
    async def main() -> tuple[bool, fastsig.CancelOn]:
        with anyio.move_on_after(0.1) as outer:
            async with fastsig.cancel_on([RT1]) as scope:
                await anyio.sleep(30)
            raise AssertionError("the outer timeout should have ended the block")
        return outer.cancelled_caught, scope

    caught, scope = run(runner, main)
    assert caught and (scope.info, scope.cancelled_caught) == (None, False)


# ---- add_signal_handler ------------------------------------------------------------


@pytest.mark.parametrize("runner", ["asyncio", RUNNERS[1]])
@in_child(timeout=60)
def test_add_signal_handler_calls_back_once_per_delivery_in_a_threads_loop(runner: str) -> None:
    n = 1_000
    calls: List[tuple[int, str, int]] = []

    async def main() -> None:
        done = asyncio.Event()

        def callback(info: fastsig.SigInfo, tag: str) -> None:
            calls.append((info.si_value, tag, threading.get_ident()))
            if len(calls) == n:
                done.set()

        fastsig.add_signal_handler(RT1, callback, "tag")
        fastsig.pthread_sigmask(fastsig.SIG_UNBLOCK, [RT1])
        assert exit_code(fork_sender(os.getpid(), RT1, range(n))) == 0
        await asyncio.wait_for(done.wait(), 30)
        assert fastsig.remove_signal_handler(RT1)
        assert not fastsig.remove_signal_handler(RT1)

    def loop_thread() -> int:
        run(runner, main)
        return threading.get_ident()

    # Not the main thread: asyncio's own add_signal_handler refuses that. The
    # handler runs in the loop's thread alone, so the values stay in order.
    fastsig.pthread_sigmask(fastsig.SIG_BLOCK, [RT1])
    tid = _in_thread(loop_thread)
    assert [value for value, _, _ in calls] == list(range(n))
    assert {(tag, t) for _, tag, t in calls} == {("tag", tid)}
    assert signal.getsignal(RT1) == signal.SIG_DFL


@in_child(timeout=60)
def test_handlers_on_several_loops_and_replacing_one() -> None:
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    got: List[object] = []
    other: List[object] = []
    fastsig.add_signal_handler(RT1, got.append, loop=first)
    fastsig.add_signal_handler(RT1, lambda info: other.append(info.si_value), loop=second)
    # On the same loop, a second add replaces the callback.
    fastsig.add_signal_handler(RT1, lambda info: got.append(info.si_value), loop=first)
    assert exit_code(fork_sender(os.getpid(), RT1, [5, 6])) == 0
    first.run_until_complete(asyncio.sleep(0.2))
    second.run_until_complete(asyncio.sleep(0.2))
    assert got == [5, 6] and other == [5, 6]
    assert fastsig.remove_signal_handler(RT1, loop=first)
    assert not fastsig.remove_signal_handler(RT1, loop=first)
    assert fastsig.remove_signal_handler(RT1, loop=second)
    assert signal.getsignal(RT1) == signal.SIG_DFL
    with pytest.raises(TypeError, match="coroutines"):
        fastsig.add_signal_handler(RT1, asyncio.sleep, loop=first)
    with pytest.raises(ValueError, match="SIGKILL"):
        fastsig.add_signal_handler(signal.SIGKILL, got.append, loop=first)
    with pytest.raises(RuntimeError):
        fastsig.add_signal_handler(RT1, got.append)  # no running loop
    first.close()
    second.close()


@in_child(timeout=60)
def test_loops_in_three_threads_all_hear_sigterm() -> None:
    """Two asyncio loops with a handler each, and a trio loop iterating a
    Listener of its own."""
    heard: List[Tuple[str, int]] = []
    ready = threading.Barrier(4)

    def run_asyncio(name: str) -> None:
        async def main() -> None:
            done = asyncio.get_running_loop().create_future()
            fastsig.add_signal_handler(
                signal.SIGTERM, lambda info: (heard.append((name, info.si_value)), done.set_result(None)))
            ready.wait()
            await asyncio.wait_for(done, 20)
            assert fastsig.remove_signal_handler(signal.SIGTERM)

        asyncio.run(main())

    def run_trio() -> None:
        async def main() -> None:
            with fastsig.Listener(signal.SIGTERM) as listener, trio.fail_after(20):
                ready.wait()
                async for info in listener:
                    heard.append(("trio", info.si_value))
                    break

        trio.run(main)

    threads = [threading.Thread(target=run_asyncio, args=(name,)) for name in ("a", "b")]
    threads.append(threading.Thread(target=run_trio))
    for thread in threads:
        thread.start()
    ready.wait()
    sender = forked(lambda: fastsig.sigqueue(os.getppid(), signal.SIGTERM, 15))
    assert exit_code(sender) == 0
    for thread in threads:
        thread.join()
    assert sorted(heard) == [("a", 15), ("b", 15), ("trio", 15)]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
