"""signalfd: blocking and non-blocking reads, batches, close, context manager,
selectors, signals from another process, fork."""

from __future__ import annotations

import os
import selectors
import signal

import pytest

import fastsig
from support import RT1, in_child

pytestmark = pytest.mark.skipif(not hasattr(fastsig, "signalfd"), reason="no signalfd here")


@in_child(timeout=20)
def test_a_blocking_read_returns_the_pending_batch_with_values() -> None:
    me = os.getpid()
    with fastsig.blocked({RT1}), fastsig.signalfd({RT1}) as sfd:
        fastsig.sigqueue_many(me, RT1, [5, -5, 1 << 62])
        batch = sfd.read()
        assert [(i.si_signo, i.code, i.si_pid, i.si_value) for i in batch] == [
            (RT1, fastsig.SiCode.SI_QUEUE, me, v) for v in (5, -5, 1 << 62)]
        assert fastsig.sigpending() == set()  # read() took them


@in_child(timeout=20)
def test_one_read_takes_a_whole_burst_and_max_limits_it() -> None:
    me = os.getpid()
    with fastsig.blocked({RT1}), fastsig.signalfd({RT1}, nonblocking=True, max=512) as sfd:
        fastsig.sigqueue_many(me, RT1, range(300))
        assert sfd.read_values(max=10) == list(range(10))
        assert sfd.read_values() == list(range(10, 300))  # one read() syscall
        assert sfd.read() == []
        # Any positive max, past the one given at creation too.
        fastsig.sigqueue_many(me, RT1, range(600))
        assert sfd.read_values(max=2000) == list(range(600))
        for bad in (0, -1, fastsig._args.MAX_BATCH + 1):
            with pytest.raises(ValueError, match="max"):
                sfd.read(bad)
        with pytest.raises(TypeError, match="max"):
            sfd.read(1.5)  # type: ignore[arg-type]


@in_child(timeout=20)
def test_non_blocking_mode_returns_nothing_when_nothing_is_pending() -> None:
    with fastsig.blocked({RT1}), fastsig.signalfd({RT1}, nonblocking=True) as sfd:
        assert sfd.read() == [] and sfd.read_values() == []


@in_child(timeout=20)
def test_a_selector_wakes_for_a_signal_from_another_process() -> None:
    with fastsig.blocked({RT1, "USR1"}), fastsig.signalfd({RT1, "USR1"}, nonblocking=True) as sfd:
        sel = selectors.DefaultSelector()
        sel.register(sfd, selectors.EVENT_READ)
        assert sel.select(timeout=0) == []
        me = os.getpid()
        pid = os.fork()
        if pid == 0:
            fastsig.sigqueue(me, RT1, 9)
            os.kill(me, signal.SIGUSR1)
            os._exit(0)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        assert [key.fileobj for key, _ in sel.select(timeout=10)] == [sfd]
        got = sfd.read()
        assert sorted((i.si_signo, i.si_value, i.si_pid) for i in got) == sorted(
            [(RT1, 9, pid), (signal.SIGUSR1, 0, pid)])
        sel.close()


@in_child(timeout=20)
def test_close_context_manager_and_use_after_close() -> None:
    with fastsig.blocked({RT1}):
        sfd = fastsig.signalfd(RT1)
        fd = sfd.fileno()
        assert "fd=" in repr(sfd)
        sfd.close()
        sfd.close()  # twice is fine
        assert sfd.closed and "closed" in repr(sfd)
        with pytest.raises(OSError):
            os.fstat(fd)  # really closed
        for use in (sfd.read, sfd.fileno, lambda: sfd.set_signals({RT1})):
            with pytest.raises(ValueError, match="closed"):
                use()
        with fastsig.SignalFD({RT1}) as inner:
            fd = inner.fileno()
        assert inner.closed
        with pytest.raises(OSError):
            os.fstat(fd)


@in_child(timeout=20)
def test_set_signals_changes_what_the_fd_reports() -> None:
    me = os.getpid()
    with fastsig.blocked({RT1, "USR2"}), fastsig.signalfd({RT1}, nonblocking=True) as sfd:
        os.kill(me, signal.SIGUSR2)
        assert sfd.read() == []
        sfd.set_signals({"USR2"})
        assert [i.si_signo for i in sfd.read()] == [signal.SIGUSR2]


@in_child(timeout=20)
def test_a_forked_child_reads_its_own_signals_from_an_inherited_fd() -> None:
    with fastsig.blocked({RT1}), fastsig.signalfd({RT1}, nonblocking=True) as sfd:
        fastsig.sigqueue(os.getpid(), RT1, 1)  # pending in the parent only
        pid = os.fork()
        if pid == 0:
            ok = sfd.read() == []
            fastsig.sigqueue(os.getpid(), RT1, 2)
            ok = ok and sfd.read_values() == [2]
            os._exit(0 if ok else 1)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        assert sfd.read_values() == [1]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="SIGKILL"):
        fastsig.signalfd({"KILL"})
    with pytest.raises(ValueError, match="empty"):
        fastsig.signalfd(set())
    for size in (0, 2**40):
        with pytest.raises(ValueError, match="max"):
            fastsig.signalfd({RT1}, max=size)
    with pytest.raises(TypeError):
        fastsig.signalfd({RT1}, max="1")  # type: ignore[arg-type]
