"""Kernel signal sources and supervisor tools: POSIX timers, fd readiness,
pidfd_open with scopes, the parent-death signal. Real timers, fds, processes
and threads; every test that installs a handler or a mask runs in a child."""

from __future__ import annotations

import errno
import os
import select
import threading
import time
from typing import List

import pytest

import fastsig
from fastsig import _core
from support import exit_code, forked, in_child, run_in_child

RT = fastsig.rt(2)
MS = 1_000_000

needs_timer = pytest.mark.skipif(not hasattr(fastsig, "Timer"), reason="no POSIX timers")


def _collect(listener: fastsig.Listener, seconds: float) -> List[fastsig.SigInfo]:
    records: List[fastsig.SigInfo] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        records += listener.wait(timeout=max(0.0, deadline - time.monotonic()))
    return records


def _spin_until(predicate: object, seconds: float) -> None:
    """Burn CPU (for the CPU-time clocks) until predicate() or the time is up."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not predicate():  # type: ignore[operator]
        sum(range(1000))


# ---- POSIX timers ---------------------------------------------------------------

@needs_timer
@in_child(timeout=60)
def test_a_1ms_periodic_timer_accounts_for_every_expiry_through_a_listener() -> None:
    with fastsig.Listener([RT]) as listener, fastsig.Timer(RT, value=77) as timer:
        before = time.monotonic_ns()
        timer.start(MS, MS)  # ints are ns
        after = time.monotonic_ns()
        records = _collect(listener, 1.0)
        timer.stop()
        timerid = timer.timerid
    assert len(records) > 10
    assert {(r.code, r.si_timerid, r.si_value) for r in records} == {(fastsig.SiCode.SI_TIMER, timerid, 77)}
    # Every expiry up to the last delivery is a record or counted in one's
    # si_overrun (the kernel folds expiries into a signal still pending).
    total = len(records) + sum(r.si_overrun for r in records)
    last = records[-1].time_ns
    low, high = (last - after) // MS, (last - before) // MS
    assert low - 3 <= total <= high + 3, (len(records), total, low, high)


@needs_timer
@in_child(timeout=30)
def test_expiries_while_the_reader_stalls_are_reported_as_overrun() -> None:
    with fastsig.blocked([RT]), fastsig.Timer(RT, value=-5) as timer:
        timer.start(0.001, 0.001)
        time.sleep(0.1)  # the signal stays pending: later expiries fold into it
        info = fastsig.sigwaitinfo([RT])
        assert (info.code, info.si_value, info.si_timerid) == (fastsig.SiCode.SI_TIMER, -5, timer.timerid)
        assert info.si_overrun >= 95
        assert timer.overrun == info.si_overrun
        assert 0 < timer.remaining() <= 0.001 and timer.interval == 0.001


@needs_timer
@in_child(timeout=30)
def test_a_thread_directed_timer_lands_on_that_thread_only() -> None:
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        with fastsig.Listener([RT]) as listener, fastsig.Timer(RT, thread=worker) as timer:
            timer.start(0.002, 0.002)
            records = _collect(listener, 0.3)
    finally:
        stop.set()
        worker.join()
    assert len(records) >= 5
    assert {r.tid for r in records} == {worker.native_id}
    # A thread of another process is refused by the kernel.
    with pytest.raises(OSError, match="timer_create"):
        fastsig.Timer(RT, thread=os.getppid())


@needs_timer
@pytest.mark.parametrize("clock", ["monotonic", "realtime", "boottime", "process", "thread"])
@in_child(timeout=30)
def test_every_clock_arms_counts_down_and_fires(clock: str) -> None:
    with fastsig.Timer(RT, clock=clock) as timer:
        assert timer.remaining() == 0.0  # created disarmed
        timer.start(10.0)
        assert 9.0 < timer.remaining() <= 10.0
        timer.stop()
        assert timer.remaining() == 0.0
    with fastsig.Listener([RT]) as listener, fastsig.Timer(RT, clock=clock, value=3) as timer:
        timer.start(0.02)
        got: List[fastsig.SigInfo] = []
        # The CPU-time clocks advance only while this thread computes.
        _spin_until(lambda: got.extend(listener.drain()) or got, 10.0)
        assert [(r.code, r.si_value, r.si_timerid) for r in got] == [
            (fastsig.SiCode.SI_TIMER, 3, timer.timerid)]


@needs_timer
@in_child(timeout=30)
def test_a_cpu_time_timer_does_not_fire_while_the_process_sleeps() -> None:
    with fastsig.Listener([RT]) as listener, fastsig.Timer(RT, clock="process") as timer:
        timer.start(0.05)
        assert listener.wait(timeout=0.3) == []  # asleep: no CPU time passes
        got: List[fastsig.SigInfo] = []
        _spin_until(lambda: got.extend(listener.drain()) or got, 10.0)
        assert len(got) == 1


@needs_timer
@in_child(timeout=30)
def test_timer_bad_input_fails_before_any_harm_and_closed_timers_refuse() -> None:
    with pytest.raises(ValueError, match="clock"):
        fastsig.Timer(RT, clock="sundial")
    with pytest.raises(ValueError):
        fastsig.Timer(0)
    with pytest.raises(OverflowError):
        fastsig.Timer(RT, value=1 << 64)
    with pytest.raises(ValueError, match="native"):
        fastsig.Timer(RT, thread=threading.Thread(target=lambda: None))
    with fastsig.Timer(RT) as timer:
        with pytest.raises(ValueError, match="initial"):
            timer.start(0)
        with pytest.raises(ValueError):
            timer.start(-0.5)
        with pytest.raises(ValueError):
            timer.start(float("nan"))
        with pytest.raises(TypeError):
            timer.start("1")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            timer.start(True)
        assert timer.remaining() == 0.0  # none of that armed it
        # A forked child has no such timer: the object says so.
        assert run_in_child(_use_in_child, timer) == "refused"
    timer.close()  # idempotent
    assert timer.closed
    with pytest.raises(ValueError, match="closed"):
        timer.start(1.0)
    with pytest.raises(ValueError, match="closed"):
        _ = timer.overrun


def _use_in_child(timer: fastsig.Timer) -> str:
    try:
        timer.start(0.001)
    except ValueError as exc:
        assert "forked child" in str(exc)
        return "refused"
    return "armed"


# ---- pidfd -----------------------------------------------------------------------

needs_pidfd = pytest.mark.skipif(not hasattr(fastsig, "pidfd_open"), reason="no pidfd_open")
needs_thread_pidfd = pytest.mark.skipif(
    not _core.HAVE_PIDFD_OPEN or _core.pidfd_open_errno(os.getpid(), True) != 0,
    reason="the kernel has no PIDFD_THREAD (Linux 6.9+)")
needs_scopes = pytest.mark.skipif(
    not _core.HAVE_PIDFD or _core.pidfd_send_signal_errno(-1, 0, 1) != errno.EBADF,
    reason="the kernel has no PIDFD_SIGNAL_* scopes (Linux 6.9+)")


def _report(fd: int, records: List[fastsig.SigInfo]) -> None:
    os.write(fd, repr([(r.tid, r.si_value, int(r.si_code), r.si_pid) for r in records]).encode() + b"\n")


def _read_line(fd: int, timeout: float = 20.0, lines: int = 1) -> str:
    """What fd delivers up to its lines-th newline (several writers may share it)."""
    data = b""
    deadline = time.monotonic() + timeout
    while data.count(b"\n") < lines:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, "no report from the child"
        chunk = os.read(fd, 4096)
        assert chunk, "the child died without reporting"
        data += chunk
    return data.decode()


def _receive(listener: fastsig.Listener, n: int, seconds: float = 20.0) -> List[fastsig.SigInfo]:
    got: List[fastsig.SigInfo] = []
    deadline = time.monotonic() + seconds
    while len(got) < n and time.monotonic() < deadline:
        got += listener.wait(timeout=0.1)
    return got


@needs_thread_pidfd
@needs_scopes
@in_child(timeout=60)
def test_a_thread_pidfd_with_a_value_reaches_one_thread_of_another_process() -> None:
    report_r, report_w = os.pipe()

    def target() -> None:
        stop = threading.Event()
        worker = threading.Thread(target=stop.wait)
        worker.start()
        with fastsig.Listener([RT]) as listener:
            os.write(report_w, f"{worker.native_id}\n".encode())
            records = _receive(listener, 3)
        stop.set()
        worker.join()
        _report(report_w, sorted(records, key=lambda r: r.si_value))

    pid = forked(target)
    worker_tid = int(_read_line(report_r))
    thread_fd = fastsig.pidfd_open(worker_tid, thread=True)
    process_fd = fastsig.pidfd_open(pid)
    try:
        fastsig.pidfd_send_signal(thread_fd, RT, 1)  # the worker only
        fastsig.pidfd_send_signal(process_fd, RT, 2, scope="thread")  # the main thread only
        fastsig.pidfd_send_signal(thread_fd, RT, 3, scope="process")  # any thread
        records = eval(_read_line(report_r))
        assert exit_code(pid) == 0
    finally:
        os.close(thread_fd)
        os.close(process_fd)
    queue = int(fastsig.SiCode.SI_QUEUE)
    me = os.getpid()
    assert records[:2] == [(worker_tid, 1, queue, me), (pid, 2, queue, me)]
    assert records[2][1:] == (3, queue, me) and records[2][0] in (pid, worker_tid)


@needs_pidfd
@needs_scopes
@in_child(timeout=60)
def test_scope_group_signals_every_process_of_the_pidfds_process_group() -> None:
    report_r, report_w = os.pipe()

    def leader() -> None:
        os.setpgid(0, 0)
        with fastsig.Listener([RT]) as listener:
            member = forked(lambda: _report(report_w, _receive(listener, 1)))
            os.write(report_w, b"ready\n")
            _report(report_w, _receive(listener, 1))
        assert exit_code(member) == 0

    pid = forked(leader)
    assert _read_line(report_r) == "ready\n"
    fd = fastsig.pidfd_open(pid)
    try:
        fastsig.pidfd_send_signal(fd, RT, 9, scope="group")
        reports = [eval(line) for line in _read_line(report_r, lines=2).splitlines()]
        assert exit_code(pid) == 0
    finally:
        os.close(fd)
    pids = sorted(r[0][0] for r in reports)
    assert pid in pids and len(set(pids)) == 2
    assert [r[0][1:] for r in reports] == [(9, int(fastsig.SiCode.SI_QUEUE), os.getpid())] * 2


@needs_pidfd
def test_pidfd_open_checks_its_input_and_names_its_errors() -> None:
    with pytest.raises(ValueError):
        fastsig.pidfd_open(0)
    with pytest.raises(TypeError):
        fastsig.pidfd_open("1")  # type: ignore[arg-type]
    pid = forked(lambda: None)
    assert exit_code(pid) == 0
    with pytest.raises(ProcessLookupError, match="pidfd_open"):
        fastsig.pidfd_open(pid)  # reaped: no such process
    with pytest.raises(ValueError, match="scope"):
        fastsig.pidfd_send_signal(0, RT, scope="galaxy")
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        with pytest.raises(OSError, match="not a process") as info:
            fastsig.pidfd_open(worker.native_id)  # type: ignore[arg-type]
        assert info.value.errno in (errno.EINVAL, errno.ENOENT)
    finally:
        stop.set()
        worker.join()
    fd = fastsig.pidfd_open(os.getpid())
    try:
        assert os.get_inheritable(fd) is False
    finally:
        os.close(fd)


# ---- fd readiness ----------------------------------------------------------------

needs_setsig = pytest.mark.skipif(not hasattr(fastsig, "notify_fd"), reason="no F_SETSIG")


@needs_setsig
@in_child(timeout=30)
def test_fd_readiness_arrives_as_one_record_per_event_with_fd_and_band() -> None:
    sig = fastsig.rt(3)
    r, w = os.pipe()

    def write() -> None:
        for _ in range(20):
            os.write(w, b"x")
            time.sleep(0.01)

    with fastsig.Listener([sig]) as listener:
        fastsig.notify_fd(r, sig)
        writer = forked(write)
        os.close(w)
        assert exit_code(writer) == 0
        records = _receive(listener, 21, seconds=1.0)  # 20 writes and the writers' close
    # The last writer's close is an event too: the pipe reads as end-of-file.
    assert len(records) == 21
    assert {(info.code, info.si_fd) for info in records} == {(fastsig.PollCode.POLL_IN, r)}
    assert all(info.si_band & select.POLLIN for info in records)
    assert os.read(r, 100) == b"x" * 20 and os.read(r, 100) == b""
    assert repr(records[0]).startswith(f"SigInfo(SIGRTMIN+3 POLL_IN fd={r} band=")


@needs_setsig
@in_child(timeout=30)
def test_a_writable_pipe_end_signals_pollout_once_the_reader_makes_room() -> None:
    sig = fastsig.rt(3)
    r, w = os.pipe()
    os.set_blocking(w, False)
    with fastsig.Listener([sig]) as listener:
        fastsig.notify_fd(w, sig)
        with pytest.raises(BlockingIOError):
            while True:
                os.write(w, b"z" * 4096)
        assert listener.wait(timeout=0.1) == []  # full: nothing to report
        os.read(r, 1 << 20)
        records = listener.wait(timeout=5)
    assert [(i.code, i.si_fd) for i in records] == [(fastsig.PollCode.POLL_OUT, w)]
    assert records[0].si_band & select.POLLOUT


@needs_setsig
@in_child(timeout=30)
def test_notify_fd_to_a_thread_and_stop_notify() -> None:
    sig = fastsig.rt(3)
    a, b = __import__("socket").socketpair()
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        with fastsig.Listener([sig]) as listener:
            fastsig.notify_fd(a, sig, thread=worker)  # an object with fileno() works too
            for _ in range(3):
                b.send(b"ping")
                time.sleep(0.01)
            records = _receive(listener, 3, seconds=1.0)
            assert [(i.code, i.si_fd, i.tid) for i in records] == [
                (fastsig.PollCode.POLL_IN, a.fileno(), worker.native_id)] * 3
            fastsig.stop_notify(a)
            b.send(b"pong")
            assert listener.wait(timeout=0.2) == []
            assert a.recv(100) == b"ping" * 3 + b"pong"
    finally:
        stop.set()
        worker.join()
    fd = a.fileno()
    a.close()
    b.close()
    with pytest.raises(OSError, match="F_SETSIG"):
        fastsig.notify_fd(fd, sig)  # closed
    with pytest.raises(ValueError):
        fastsig.notify_fd(-1, sig)
    with pytest.raises(ValueError):
        fastsig.notify_fd(0, "SIGNOPE")


# ---- the parent-death signal -------------------------------------------------------

needs_pdeathsig = pytest.mark.skipif(not hasattr(fastsig, "set_pdeathsig"), reason="no PR_SET_PDEATHSIG")


@needs_pdeathsig
@in_child(timeout=60)
def test_the_parent_death_signal_arrives_when_the_parent_dies() -> None:
    report_r, report_w = os.pipe()
    ready_r, ready_w = os.pipe()

    def grandchild() -> None:
        with fastsig.Listener([RT]) as listener:
            fastsig.set_pdeathsig(RT)
            got = [fastsig.get_pdeathsig()]
            os.write(ready_w, b"r")
            records = _receive(listener, 1)
        os.write(report_w, repr((got, [(int(r.si_code), r.si_pid) for r in records])).encode() + b"\n")

    def middle() -> None:
        forked(grandchild)
        assert os.read(ready_r, 1) == b"r"  # then die, leaving it behind

    middle_pid = forked(middle)
    assert exit_code(middle_pid) == 0
    got, records = eval(_read_line(report_r))
    assert got == [RT]
    assert records == [(int(fastsig.SiCode.SI_USER), middle_pid)]  # as if the parent had sent it


@needs_pdeathsig
@in_child(timeout=60)
def test_set_pdeathsig_raises_when_the_parent_died_before_the_call() -> None:
    report_r, report_w = os.pipe()

    def orphan(middle_pid: int) -> None:
        deadline = time.monotonic() + 20
        while os.getppid() == middle_pid and time.monotonic() < deadline:
            time.sleep(0.005)
        outcome = []
        for parent in (None, middle_pid):
            try:
                fastsig.set_pdeathsig(RT, parent=parent)
                outcome.append("set")
            except ProcessLookupError as exc:
                outcome.append(str(exc))
        fastsig.set_pdeathsig(RT, parent=os.getppid())  # the adopter is alive
        outcome.append(int(fastsig.get_pdeathsig()))
        os.write(report_w, repr(outcome).encode() + b"\n")

    def middle() -> None:
        me = os.getpid()
        forked(lambda: orphan(me))  # and die at once: the orphan has not even looked yet

    middle_pid = forked(middle)
    assert exit_code(middle_pid) == 0
    outcome = eval(_read_line(report_r))
    assert len(outcome) == 3 and outcome[2] == RT
    for text in outcome[:2]:
        assert f"the parent (pid {middle_pid}) already died" in text and "set_pdeathsig" in text


@needs_pdeathsig
@in_child(timeout=30)
def test_get_and_clear_pdeathsig_and_a_fork_clears_it() -> None:
    assert fastsig.get_pdeathsig() == 0
    fastsig.set_pdeathsig("SIGTERM")
    assert fastsig.get_pdeathsig() is __import__("signal").SIGTERM
    assert run_in_child(lambda: int(fastsig.get_pdeathsig())) == 0  # the kernel clears it in a child
    fastsig.set_pdeathsig(0)
    assert fastsig.get_pdeathsig() == 0
    with pytest.raises(ValueError):
        fastsig.set_pdeathsig(99)
    with pytest.raises(ValueError):
        fastsig.set_pdeathsig(RT, parent=0)
