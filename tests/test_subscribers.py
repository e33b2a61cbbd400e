"""Several Listeners per signal, add/remove, flags, oneshot, chaining onto the
default action, and handing unread records on at close. Each test runs in a
forked child: they install handlers and send real signals."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import List

import pytest

import fastsig
from support import RT1, RT2, collect, exit_code, fork_sender, forked, in_child


@in_child(timeout=60)
def test_two_listeners_on_one_signal_each_get_every_delivery() -> None:
    n = 10_000
    with fastsig.Listener(RT1, capacity=1 << 15) as a, fastsig.Listener(RT1, capacity=1 << 15) as b:
        sender = fork_sender(os.getpid(), RT1, range(n))
        got_a: List[int] = []
        got_b: List[int] = []
        deadline = time.monotonic() + 30
        while (len(got_a) < n or len(got_b) < n) and time.monotonic() < deadline:
            got_a += a.wait_values(timeout=0.1)
            got_b += b.drain_values()
        assert exit_code(sender) == 0
        assert got_a == list(range(n)) and got_b == list(range(n))
        for listener in (a, b):
            assert listener.stats()[RT1] == fastsig.Stats(delivered=n, dropped=0, read=n)
        a.close()
        # Closing one leaves the other listening; the previous action comes
        # back only with the last.
        fastsig.sigqueue(os.getpid(), RT1, 7)
        assert b.drain_values() == [7]
    assert signal.getsignal(RT1) == signal.SIG_DFL


@in_child(timeout=60)
def test_threads_each_with_a_listener_all_hear_sigterm() -> None:
    heard: List[int] = []
    ready = threading.Barrier(5)

    def listen() -> None:
        with fastsig.Listener(signal.SIGTERM) as listener:
            ready.wait()
            records = collect(lambda: listener.wait(timeout=0.5), 1, timeout=20)
            heard.append(records[0].si_value)

    threads = [threading.Thread(target=listen) for _ in range(4)]
    for thread in threads:
        thread.start()
    ready.wait()
    fastsig.sigqueue(os.getpid(), signal.SIGTERM, 15)
    for thread in threads:
        thread.join()
    assert heard == [15] * 4
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


@in_child(timeout=120)
def test_add_and_remove_under_a_flood_lose_nothing() -> None:
    n = 20_000
    steady = fastsig.Listener(RT1, capacity=1 << 16)
    coming_and_going = fastsig.Listener(RT2, capacity=1 << 16)
    sender = fork_sender(os.getpid(), RT1, range(n))
    got: List[int] = []
    cycles = 0
    deadline = time.monotonic() + 60
    while len(got) < n and time.monotonic() < deadline:
        coming_and_going.add(RT1)
        got += steady.drain_values()
        coming_and_going.remove(RT1)
        cycles += 1
        got += steady.wait_values(timeout=0.01)
    assert exit_code(sender) == 0
    assert got == list(range(n)), f"{len(got)} of {n} after {cycles} add/remove cycles"
    assert steady.stats()[RT1] == fastsig.Stats(delivered=n, dropped=0, read=n)
    # What the other one recorded while subscribed came in order, untorn.
    extra = coming_and_going.drain_values()
    assert extra == sorted(extra) and set(extra) <= set(range(n))
    assert coming_and_going.signals == {RT2}
    coming_and_going.close()
    steady.close()


@in_child(timeout=30)
def test_add_and_remove_change_what_a_live_listener_hears() -> None:
    signal.signal(RT2, signal.SIG_IGN)
    with fastsig.Listener(RT1) as listener:
        listener.add([RT2, RT1])
        assert listener.signals == {RT1, RT2}
        fastsig.sigqueue(os.getpid(), RT2, 2)
        assert listener.drain_values() == [2]
        listener.remove(RT2)
        assert signal.getsignal(RT2) == signal.SIG_IGN  # the previous action is back
        fastsig.sigqueue(os.getpid(), RT2, 3)  # ignored now
        fastsig.sigqueue(os.getpid(), RT1, 1)
        assert listener.drain_values() == [1]
        assert set(listener.stats()) == {RT1}
        with pytest.raises(ValueError, match="not listening to SIGRTMIN\\+2"):
            listener.remove(RT2)
        with pytest.raises(ValueError):
            listener.add("SIGKILL")
        assert listener.signals == {RT1}
    with pytest.raises(ValueError, match="closed"):
        listener.add(RT2)


@in_child(timeout=30)
def test_flags() -> None:
    with pytest.raises(ValueError, match="SA_RESETHAND"):
        fastsig.Listener(RT1, flags=0x80000000)
    with pytest.raises(ValueError, match="SIGCHLD only"):
        fastsig.Listener(RT1, flags=fastsig.SA_NOCLDSTOP)
    with pytest.raises(TypeError):
        fastsig.Listener(RT1, flags="SA_RESTART")  # type: ignore[arg-type]
    assert signal.getsignal(RT1) == signal.SIG_DFL
    # SA_NOCLDSTOP: a child that stops sends no SIGCHLD, one that exits does.
    with fastsig.Listener(signal.SIGCHLD, flags=fastsig.SA_NOCLDSTOP | fastsig.SA_RESTART) as children:
        with pytest.raises(fastsig.SignalBusy, match="other flags"):
            fastsig.Listener(signal.SIGCHLD, flags=fastsig.SA_RESTART)
        with fastsig.Listener(signal.SIGCHLD) as joined:  # no flags: joins
            pid = forked(lambda: os.kill(os.getpid(), signal.SIGSTOP))
            _, status = os.waitpid(pid, os.WUNTRACED)
            assert os.WIFSTOPPED(status)
            time.sleep(0.1)
            assert children.drain() == [] and joined.drain() == []
            os.kill(pid, signal.SIGCONT)
            assert exit_code(pid) == 0
            for listener in (children, joined):
                codes = [r.si_code for r in collect(listener.drain, 1, timeout=10)]
                assert codes == [os.CLD_EXITED]  # neither the stop nor the continue


@in_child(timeout=30)
def test_conflicting_flags_leave_nothing_half_installed() -> None:
    with fastsig.Listener(RT2, flags=fastsig.SA_NODEFER):
        with pytest.raises(fastsig.SignalBusy, match="SIGRTMIN\\+2"):
            fastsig.Listener([RT1, RT2, RT2 + 1], flags=fastsig.SA_RESTART)
        assert signal.getsignal(RT1) == signal.SIG_DFL
        assert signal.getsignal(RT2 + 1) == signal.SIG_DFL


def test_oneshot_sigterm_second_one_terminates() -> None:
    def body() -> None:
        with fastsig.Listener(signal.SIGTERM, oneshot=True) as listener:
            os.kill(os.getpid(), signal.SIGTERM)
            first = listener.drain()
            assert [r.si_signo for r in first] == [signal.SIGTERM]
            os.kill(os.getpid(), signal.SIGTERM)  # the default action is back
            time.sleep(5)
        os._exit(3)

    assert exit_code(forked(body)) == -signal.SIGTERM


@in_child(timeout=30)
def test_oneshot_second_ctrl_c_raises_keyboard_interrupt() -> None:
    with fastsig.Listener(signal.SIGINT, oneshot=True) as listener:
        os.kill(os.getpid(), signal.SIGINT)
        assert [r.si_signo for r in listener.drain()] == [signal.SIGINT]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        assert listener.drain() == []
        assert listener.stats()[signal.SIGINT] == fastsig.Stats(delivered=1, dropped=0, read=1)


def test_chain_onto_the_default_action_carries_it_out() -> None:
    def body() -> None:
        with fastsig.Listener(signal.SIGTERM, chain=True):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        os._exit(3)

    assert exit_code(forked(body)) == -signal.SIGTERM


@in_child(timeout=30)
def test_chain_onto_ignore_and_onto_a_default_that_ignores_does_nothing() -> None:
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    with fastsig.Listener([signal.SIGUSR1, signal.SIGWINCH], chain=True) as listener:
        os.kill(os.getpid(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGWINCH)
        assert sorted(r.si_signo for r in listener.drain()) == [signal.SIGUSR1, signal.SIGWINCH]
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_IGN


@in_child(timeout=30)
def test_unread_records_are_handed_on_in_order_at_close() -> None:
    closing = fastsig.Listener(RT1, unread="redeliver")
    for value in range(5):
        fastsig.sigqueue(os.getpid(), RT1, value)
    assert closing.drain_values(max=2) == [0, 1]
    later = fastsig.Listener(RT1)  # from here on it hears RT1 too
    fastsig.sigqueue(os.getpid(), RT1, 5)
    later.drain_values()  # 5 only
    closing.close()
    # The action in place after close is later's handler: it gets 2, 3, 4, 5
    # (5 was unread in closing as well), values and order kept.
    assert later.drain_values() == [2, 3, 4, 5]
    assert closing.stats()[RT1].pending == 0
    later.close()


def test_unread_sigterm_is_not_swallowed_at_close() -> None:
    def body() -> None:
        listener = fastsig.Listener(signal.SIGTERM, unread="redeliver")
        os.kill(os.getpid(), signal.SIGTERM)
        listener.close()  # the default action is back, and gets it
        time.sleep(5)
        os._exit(3)

    def counted() -> None:
        listener = fastsig.Listener(signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
        listener.close()
        os._exit(0 if listener.stats()[signal.SIGTERM].pending == 1 else 4)

    assert exit_code(forked(body)) == -signal.SIGTERM
    assert exit_code(forked(counted)) == 0
    with pytest.raises(ValueError, match="unread"):
        fastsig.Listener(RT1, unread="drop")


@in_child(timeout=30)
def test_getaction_and_saved_actions_see_listeners() -> None:
    with fastsig.saved_actions([RT1, signal.SIGINT]):
        with fastsig.Listener(RT1, flags=fastsig.SA_NODEFER) as listener:
            action = fastsig.getaction(RT1)
            assert action.kind == "fastsig"
            assert action.flags & fastsig.SA_NODEFER and not action.flags & fastsig.SA_RESTART
            assert RT1 not in action.mask  # SA_NODEFER: the signal may nest
            with fastsig.Listener(RT2) as other:
                other.add(RT1)
                assert RT2 in fastsig.getaction(RT1).mask  # the group's signals block each other
            assert RT2 not in fastsig.getaction(RT1).mask
            listener.close()
        assert fastsig.getaction(RT1).kind == "default"
        with fastsig.Listener(signal.SIGINT, oneshot=True) as once:
            assert fastsig.getaction(signal.SIGINT).kind == "fastsig"
            os.kill(os.getpid(), signal.SIGINT)
            assert once.drain()[0].si_signo == signal.SIGINT
            assert fastsig.getaction(signal.SIGINT).kind == "python"  # given back in the handler
        # A Listener left open at the end of saved_actions loses its handler:
        # the block restores what it found, and the Listener says so.
        left_open = fastsig.Listener(RT1)
    assert fastsig.getaction(RT1).kind == "default"
    assert left_open.replaced() == {RT1}
    left_open.close()
    assert fastsig.getaction(RT1).kind == "default"
