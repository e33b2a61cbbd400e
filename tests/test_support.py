"""The test helpers themselves (tests/support.py): a helper that cannot fail
would let every test built on it pass whatever happens."""

from __future__ import annotations

import ctypes
import faulthandler
import os
import signal
import threading
import time
from typing import Callable, Tuple

import pytest

import fastsig
from support import (
    RT1,
    ChildFailed,
    HandlerThread,
    collect,
    exit_code,
    fd_count,
    fork_sender,
    forked,
    in_child,
    isolate_sigpending,
    proc_status,
    python_child,
    readable_by_anyone,
    rss_kib,
    run_in_child,
    tag,
    untag,
)

# ---- run_in_child and in_child -------------------------------------------------


def _segfault() -> None:
    faulthandler.disable()  # pytest's dump would go to the terminal, uncaptured
    ctypes.string_at(0)


def _change_signal_state() -> int:
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, [RT1])
    return os.getpid()


def test_run_in_child_returns_the_result_and_leaves_the_parent_alone() -> None:
    before = signal.getsignal(signal.SIGUSR1), signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert run_in_child(_change_signal_state) != os.getpid()
    assert (signal.getsignal(signal.SIGUSR1), signal.pthread_sigmask(signal.SIG_BLOCK, [])) == before


def _raise() -> None:
    raise ValueError("raised in the child")


def test_run_in_child_reports_the_childs_exception_with_its_traceback() -> None:
    with pytest.raises(ChildFailed, match="in child: ValueError: raised in the child") as failure:
        run_in_child(_raise)
    assert "Traceback" in str(failure.value) and "in _raise" in str(failure.value)


@pytest.mark.parametrize("die, sig", [
    (lambda: os.kill(os.getpid(), signal.SIGKILL), signal.SIGKILL),
    (_segfault, signal.SIGSEGV),
], ids=["SIGKILL", "SIGSEGV"])
def test_run_in_child_reports_a_child_killed_by_a_signal(die: Callable[[], object], sig: int) -> None:
    with pytest.raises(ChildFailed, match=f"died without reporting .*signal {int(sig)}\\)"):
        run_in_child(die)


def test_run_in_child_reports_a_child_that_exits_without_a_result() -> None:
    with pytest.raises(ChildFailed, match=r"died without reporting \(wait status 0x300\)"):
        run_in_child(os._exit, 3)


def test_run_in_child_reports_an_unpicklable_result() -> None:
    with pytest.raises(ChildFailed, match="unpicklable result"):
        run_in_child(threading.Lock)


@in_child(timeout=30)
def test_run_in_child_fails_a_hang_then_kills_and_reaps_it() -> None:
    start = time.monotonic()
    with pytest.raises(ChildFailed, match=r"timed out after 0\.5 s"):
        run_in_child(time.sleep, 60, timeout=0.5)
    assert time.monotonic() - start < 10
    with pytest.raises(ChildProcessError):  # no child left, not even a zombie
        os.waitpid(-1, os.WNOHANG)


@in_child(timeout=10)
def _pid_and(value: int) -> Tuple[int, int]:
    return os.getpid(), value


def test_in_child_runs_the_decorated_function_in_a_child() -> None:
    assert _pid_and.__name__ == "_pid_and"
    pid, value = _pid_and(7)
    assert pid != os.getpid() and value == 7


# ---- forked, exit_code, fork_sender, python_child -----------------------------


@pytest.mark.parametrize("body, code", [
    (lambda: None, 0),
    (_raise, 1),
    (lambda: os._exit(3), 3),
    (lambda: os.kill(os.getpid(), signal.SIGKILL), -signal.SIGKILL),
], ids=["returns", "raises", "exits", "killed"])
def test_forked_and_exit_code(body: Callable[[], object], code: int,
                              capfd: pytest.CaptureFixture[str]) -> None:
    assert exit_code(forked(body)) == code
    # A body that raised prints why, for the failing test's report.
    assert ("ValueError: raised in the child" in capfd.readouterr().err) == (body is _raise)


def test_exit_code_kills_and_reaps_a_process_that_hangs() -> None:
    pid = forked(lambda: time.sleep(60))
    with pytest.raises(AssertionError, match=r"did not finish within 0\.2 s"):
        exit_code(pid, timeout=0.2)
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


@in_child(timeout=30)
def test_fork_sender_queues_every_value_in_order_from_its_own_process() -> None:
    with fastsig.blocked([RT1]):
        sender = fork_sender(os.getpid(), RT1, range(1000))
        infos = collect(lambda: fastsig.sigwaitinfo_many([RT1], timeout=0.5), 1000, timeout=20)
        assert exit_code(sender) == 0
    assert [i.si_value for i in infos] == list(range(1000))
    assert {i.si_pid for i in infos} == {sender}


def test_python_child_runs_code_with_arguments() -> None:
    proc = python_child("import sys; sys.exit(int(sys.argv[1]))", "7")
    assert proc.wait(timeout=30) == 7


# ---- collect ---------------------------------------------------------------------


def test_collect_reads_until_enough_or_the_timeout() -> None:
    batches = iter([[1, 2], [], [3], [4]])
    assert collect(lambda: next(batches), 3) == [1, 2, 3]
    start = time.monotonic()
    assert collect(list, 1, timeout=0.2) == []
    assert time.monotonic() - start >= 0.2


# ---- stress ----------------------------------------------------------------------


@in_child(timeout=30)
def test_handler_thread_takes_process_directed_signals() -> None:
    with fastsig.Listener([RT1]) as listener, HandlerThread([RT1], count=2) as handlers:
        assert RT1 in signal.pthread_sigmask(signal.SIG_BLOCK, [])
        os.kill(os.getpid(), RT1)
        (info,) = collect(lambda: listener.wait(timeout=0.5), 1, timeout=10)
        assert info.tid in handlers.native_ids
    assert RT1 not in signal.pthread_sigmask(signal.SIG_BLOCK, [])


@in_child(timeout=30)
def test_isolate_sigpending_gives_root_a_pending_quota_of_its_own() -> None:
    # Only root switches, and only where the new uid can still read the code.
    expected = os.getuid() == 0 and readable_by_anyone()
    isolated = isolate_sigpending()
    assert isolated == expected and (os.getuid() != 0) == expected
    assert fd_count() > 0  # /proc/self/fd stays readable
    if isolated:  # SigQ counts what this uid has queued: ours alone
        with fastsig.blocked([RT1]):
            assert proc_status()["SigQ"].startswith("0/")
            fastsig.sigqueue_many(os.getpid(), RT1, range(5))
            assert proc_status()["SigQ"].startswith("5/")
            assert len(fastsig.sigwaitinfo_many([RT1], timeout=0)) == 5


def test_tagged_values_round_trip_and_a_torn_one_fails() -> None:
    assert [untag(tag(source, seq)) for source, seq in [(0, 0), (7, 5), (255, (1 << 32) - 1)]] == [
        (0, 0), (7, 5), (255, (1 << 32) - 1)]
    torn = (tag(1, 5) & ~0xFF) | (tag(2, 5) & 0xFF)  # one's body, the other's checksum
    with pytest.raises(AssertionError, match="corrupt value"):
        untag(torn)


def test_proc_readers() -> None:
    assert proc_status()["Pid"] == str(os.getpid())
    assert proc_status(os.getppid())["Pid"] == str(os.getppid())
    assert rss_kib() > 1000
    before = fd_count()
    read_fd, write_fd = os.pipe()
    try:
        assert fd_count() == before + 2
    finally:
        os.close(read_fd)
        os.close(write_fd)
