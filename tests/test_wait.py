"""Waiting: sigwait, sigwaitinfo, sigtimedwait, sigwaitinfo_many, Waiter,
Exchange; PEP 475 behaviour when a Python handler interrupts a wait."""

from __future__ import annotations

import os
import signal
import time
from typing import Callable, List

import pytest

import fastsig
from support import RT1, exit_code, forked, in_child, queue_own_pid

USR1, USR2 = signal.SIGUSR1, signal.SIGUSR2




def until_asleep(pid: int, timeout: float = 10.0) -> None:
    """Return once pid's main thread sleeps in the kernel (here: in the wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "S":
                return
        time.sleep(0.001)
    raise AssertionError(f"process {pid} never went to sleep")


def interrupt(pid: int) -> None:
    """Send USR2 to pid once it is blocked in its wait."""
    until_asleep(pid)
    os.kill(pid, USR2)


@in_child(timeout=20)
def test_sigwaitinfo_many_takes_a_whole_burst_in_one_call() -> None:
    me = os.getpid()
    with fastsig.blocked({RT1}):
        fastsig.sigqueue_many(me, RT1, range(50))
        batch = fastsig.sigwaitinfo_many({RT1}, max=256, timeout=5)
        assert [i.si_value for i in batch] == list(range(50))  # all 50, one call
        fastsig.sigqueue_many(me, RT1, range(25))
        assert [i.si_value for i in fastsig.sigwaitinfo_many(RT1, max=10)] == list(range(10))
        assert [i.si_value for i in fastsig.sigwaitinfo_many(RT1, max=100)] == list(range(10, 25))
        assert fastsig.sigwaitinfo_many({RT1}, timeout=0) == []


@in_child(timeout=20)
def test_sigwaitinfo_many_takes_several_signals_and_leaves_the_rest() -> None:
    me = os.getpid()
    with fastsig.blocked({RT1, USR1, USR2}):
        fastsig.sigqueue(me, RT1, 1)
        os.kill(me, USR1)
        os.kill(me, USR2)
        batch = fastsig.sigwaitinfo_many({USR1, RT1}, timeout=1)
        assert sorted(i.si_signo for i in batch) == sorted([USR1, RT1])
        assert fastsig.sigpending() == {USR2}
        assert fastsig.sigwait([USR2]) == USR2


@in_child(timeout=20)
def test_timeouts_return_none_or_nothing() -> None:
    with fastsig.blocked({RT1}):
        assert fastsig.sigtimedwait({RT1}, 0) is None
        assert fastsig.sigtimedwait({RT1}, 0.02) is None
        assert fastsig.sigwaitinfo_many({RT1}, timeout=0.02) == []
        assert fastsig.sigtimedwait(set(), 0) is None  # an empty set is a sleep, as in the stdlib
        assert fastsig.Waiter({RT1}).wait(timeout=0) == []


@in_child(timeout=20)
def test_waits_return_what_the_stdlib_does_plus_fields() -> None:
    me = os.getpid()
    with fastsig.blocked({USR1, RT1}):
        os.kill(me, USR1)
        got = fastsig.sigwait({"USR1"})
        assert got == USR1 and isinstance(got, signal.Signals)
        os.kill(me, USR1)
        info = fastsig.sigwaitinfo({USR1})
        assert isinstance(info, fastsig.SigInfo)
        assert (info.si_signo, info.code, info.si_pid, info.si_uid, info.si_value) == (
            USR1, fastsig.SiCode.SI_USER, me, os.getuid(), 0)
        fastsig.sigqueue(me, RT1, -3)
        timed = fastsig.sigtimedwait([RT1], 5)
        assert timed is not None and (timed.si_value, timed.si_int) == (-3, -3)


@in_child(timeout=30)
def test_each_wait_gives_a_record_its_own_sender() -> None:
    # Records made outside a Listener share their sender's int with the last
    # call's: a record must still show its own. The sender alternates between
    # this process and a new child, through every way of waiting for one.
    me = os.getpid()
    sfd = fastsig.SignalFD({RT1})
    waits: List[Callable[[], List[fastsig.SigInfo]]] = [
        lambda: [fastsig.sigwaitinfo({RT1})],
        lambda: [info for info in [fastsig.sigtimedwait({RT1}, 10)] if info is not None],
        lambda: fastsig.sigwaitinfo_many({RT1}, 1),
        fastsig.Waiter({RT1}, max=1).wait,
        lambda: sfd.read(1),
    ]
    with fastsig.blocked({RT1}), sfd:
        for round_ in range(4 * len(waits)):
            sender = queue_own_pid(me, RT1, from_child=round_ % 2 == 1)
            got = waits[round_ // 2 % len(waits)]()
            assert [(i.si_pid, i.si_value, i.si_uid) for i in got] == [(sender, sender, os.getuid())]


def test_bad_waits_fail_before_blocking() -> None:
    with pytest.raises(ValueError, match="empty"):
        fastsig.sigwait(set())
    with pytest.raises(ValueError, match="empty"):
        fastsig.sigwaitinfo([])
    for sig in ("KILL", signal.SIGSTOP):
        with pytest.raises(ValueError, match=r"SIG(KILL|STOP)"):
            fastsig.sigtimedwait({USR1, sig}, 0)
    with pytest.raises(ValueError, match="non-negative"):
        fastsig.sigtimedwait({USR1}, -1)
    with pytest.raises(ValueError, match="non-negative"):
        fastsig.sigwaitinfo_many({USR1}, timeout=float("nan"))
    with pytest.raises(TypeError):
        fastsig.sigtimedwait({USR1}, "1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fastsig.sigtimedwait({USR1}, None)  # type: ignore[arg-type]
    for size in (0, -1, 2**40):  # batches are allocated up front: bounded
        with pytest.raises(ValueError, match="max"):
            fastsig.sigwaitinfo_many({USR1}, max=size, timeout=0)
        with pytest.raises(ValueError, match="max"):
            fastsig.Waiter({USR1}, max=size)
    with pytest.raises(ValueError, match="signal"):
        fastsig.sigwaitinfo({0})
    with pytest.raises(TypeError):
        fastsig.sigwait(1.5)  # type: ignore[arg-type]


@in_child(timeout=30)
def test_a_python_handler_runs_during_a_wait_and_the_wait_goes_on() -> None:
    """PEP 475: EINTR runs the handler, then the wait resumes."""
    me = os.getpid()
    ran_r, ran_w = os.pipe()
    calls: List[int] = []

    def handler(signum: int, frame: object) -> None:
        calls.append(signum)
        os.write(ran_w, b"h")

    def sender() -> None:
        until_asleep(me)
        os.kill(me, USR2)  # not waited for, not blocked: interrupts the wait
        os.read(ran_r, 1)  # the handler ran...
        until_asleep(me)  # ...and the process is back in the wait
        fastsig.sigqueue(me, RT1, 77)

    signal.signal(USR2, handler)
    with fastsig.blocked({RT1}):
        pid = forked(sender)
        info = fastsig.sigtimedwait({RT1}, 20)
        assert exit_code(pid) == 0
    assert calls == [USR2]
    assert info is not None and info.si_value == 77


@pytest.mark.parametrize("wait", [
    lambda: fastsig.sigtimedwait({RT1}, 0.3),
    lambda: fastsig.sigwaitinfo_many({RT1}, timeout=0.3),
    lambda: fastsig.Waiter({RT1}).wait_values(timeout=0.3),
], ids=["sigtimedwait", "sigwaitinfo_many", "Waiter"])
@in_child(timeout=30)
def test_an_interrupted_timed_wait_still_waits_its_whole_timeout(wait: Callable[[], object]) -> None:
    me = os.getpid()
    calls: List[int] = []
    signal.signal(USR2, lambda signum, frame: calls.append(signum))
    with fastsig.blocked({RT1}):
        pid = forked(lambda: interrupt(me))
        start = time.monotonic()
        result = wait()
        elapsed = time.monotonic() - start
        assert exit_code(pid) == 0
    assert calls == [USR2]
    assert result in (None, [])
    assert elapsed >= 0.3  # a wait that gave up at EINTR would return early


@in_child(timeout=30)
def test_an_exception_from_the_handler_ends_the_wait() -> None:
    me = os.getpid()

    def handler(signum: int, frame: object) -> None:
        raise RuntimeError("from the handler")

    signal.signal(USR2, handler)
    with fastsig.blocked({RT1}):
        pid = forked(lambda: interrupt(me))
        with pytest.raises(RuntimeError, match="from the handler"):
            fastsig.sigwaitinfo({RT1})
        assert exit_code(pid) == 0


@in_child(timeout=20)
def test_waiter_reuses_its_buffer_and_returns_values() -> None:
    me = os.getpid()
    waiter = fastsig.Waiter({RT1}, max=8)
    with fastsig.blocked({RT1}):
        fastsig.sigqueue_many(me, RT1, range(12))
        assert waiter.wait_values(timeout=1) == list(range(8))
        assert [i.si_value for i in waiter.wait(timeout=1)] == list(range(8, 12))


@in_child(timeout=20)
def test_waiter_of_the_last_signal_waits_for_it() -> None:
    # Signal 64 is the top bit of a 64-bit mask, the sign bit of an int64.
    me, last = os.getpid(), fastsig.SIGRTMAX
    waiter = fastsig.Waiter({RT1, last})
    with fastsig.blocked({RT1, last}):
        fastsig.sigqueue(me, last, 7)
        [info] = waiter.wait(timeout=1)
        assert (info.si_signo, info.si_value) == (last, 7)
        assert waiter.wait_values(timeout=0) == []


@in_child(timeout=30)
def test_exchange_plays_ping_pong_with_another_process() -> None:
    me, rounds = os.getpid(), 50
    fastsig.pthread_sigmask(fastsig.SIG_BLOCK, {RT1, USR1})

    def echo() -> None:
        waiter = fastsig.Waiter({USR1}, max=1)
        for _ in range(rounds):
            value = waiter.wait_values(timeout=10)[0]
            fastsig.sigqueue(me, RT1, value * 2)

    pid = forked(echo)
    exchange = fastsig.Exchange(pid, USR1, {RT1}, timeout=10)
    replies = [exchange.send_wait_value(i) for i in range(rounds - 1)]
    last = exchange.send_wait(rounds - 1)
    assert exit_code(pid) == 0
    assert replies == [2 * i for i in range(rounds - 1)]
    assert last is not None and (last.si_value, last.si_pid) == (2 * (rounds - 1), pid)
