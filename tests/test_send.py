"""Sending: sigqueue, sigqueue_many, kill, killpg, raise_signal, pthread_*,
pidfd_send_signal. Real signals between real processes and threads."""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from typing import Callable, List, Optional

import pytest

import fastsig
from fastsig import _args, _ops
from support import ROOT, RT1, exit_code, forked, in_child, isolate_sigpending, proc_status, python_child

VALUE_MAX = _args.VALUE_MAX
VALUE_MIN = _args.VALUE_MIN
EXTREMES = [0, 1, -1, 7, 0x7FFFFFFF, -0x80000000, 0x1_0000_0001, VALUE_MAX, VALUE_MIN,
            VALUE_MAX - 1, VALUE_MIN + 1]
# tgkill() reports SI_TKILL on most kernels, SI_USER on some (6.18 here).
TKILL_CODES = {fastsig.SiCode.SI_TKILL, fastsig.SiCode.SI_USER}
# Both implementations of sigqueue: the C builtin and the checked Python path.
SIGQUEUES = [fastsig.sigqueue, _ops._sigqueue_checked]




def receive(sig: int, n: int, timeout: float = 10.0) -> List[fastsig.SigInfo]:
    """Exactly n signals (sig blocked by the caller), or fail."""
    got: List[fastsig.SigInfo] = []
    deadline = time.monotonic() + timeout
    while len(got) < n:
        left = deadline - time.monotonic()
        assert left > 0, f"received {len(got)} of {n} signals"
        got += fastsig.sigwaitinfo_many({sig}, max=n - len(got), timeout=left)
    return got


def drain(sig: int) -> List[int]:
    """The values of every sig pending right now."""
    got: List[int] = []
    while True:
        batch = fastsig.sigwaitinfo_many({sig}, timeout=0)
        if not batch:
            return got
        got += [i.si_value for i in batch]


def dead_pid() -> int:
    """A pid that no process has right now (a reaped child's)."""
    pid = forked(lambda: None)
    os.waitpid(pid, 0)
    return pid


# ---- values arrive intact ------------------------------------------------------

@pytest.mark.parametrize("send", SIGQUEUES, ids=["builtin", "checked"])
@in_child(timeout=30)
def test_values_sent_by_a_forked_process_arrive_intact_with_its_pid(send: Callable[..., None]) -> None:
    receiver = os.getpid()
    with fastsig.blocked({RT1}):
        def send_all() -> None:
            for value in EXTREMES:
                send(receiver, RT1, value)

        sender = forked(send_all)
        infos = receive(RT1, len(EXTREMES))
        assert exit_code(sender) == 0
    assert [i.si_value for i in infos] == EXTREMES  # real-time: queued in order
    for info in infos:
        assert (info.si_signo, info.code) == (RT1, fastsig.SiCode.SI_QUEUE)
        # The identity cache was refreshed in the fork: the child's pid, not ours.
        assert (info.si_pid, info.si_uid) == (sender, os.getuid())


@in_child(timeout=60)
def test_values_from_a_separate_python_process_arrive_in_order() -> None:
    values = [*range(-50, 50), VALUE_MAX, VALUE_MIN]
    code = ("import sys, fastsig\n"
            "pid = int(sys.argv[1])\n"
            "for v in map(int, sys.argv[2:]): fastsig.sigqueue(pid, 'SIGRTMIN+1', v)\n")
    with fastsig.blocked({RT1}):
        proc = python_child(code, str(os.getpid()), *map(str, values))
        infos = receive(RT1, len(values), timeout=45)
        assert proc.wait(timeout=30) == 0
    assert [i.si_value for i in infos] == values
    assert {i.si_pid for i in infos} == {proc.pid}


@in_child(timeout=30)
def test_identity_cache_follows_every_fork() -> None:
    receiver = os.getpid()

    def child_then_grandchild() -> None:
        fastsig.sigqueue(receiver, RT1, 1)
        grandchild = forked(lambda: fastsig.sigqueue(receiver, RT1, 2))
        assert exit_code(grandchild) == 0
        fastsig.sigqueue(receiver, RT1, 3)

    with fastsig.blocked({RT1}):
        fastsig.sigqueue(receiver, RT1, 0)
        child = forked(child_then_grandchild)
        infos = receive(RT1, 4)
        assert exit_code(child) == 0
    by_value = {i.si_value: i.si_pid for i in infos}
    assert by_value[0] == receiver
    assert by_value[1] == by_value[3] == child
    assert by_value[2] not in (receiver, child, 0)


def test_sigqueue_is_the_c_builtin_with_the_checked_path_behind_it() -> None:
    assert type(fastsig.sigqueue).__name__ == "builtin_function_or_method"
    assert fastsig.sigqueue.__text_signature__ == "(pid, sig, value=0)"  # type: ignore[attr-defined]


@in_child(timeout=30)
def test_sigqueue_accepts_names_signals_members_and_keywords() -> None:
    me = os.getpid()
    with fastsig.blocked({RT1, signal.SIGUSR1}):
        fastsig.sigqueue(me, "SIGRTMIN+1", 1)  # parsed by Python, cached for C
        fastsig.sigqueue(me, "SIGRTMIN+1", 1)  # the cached name: no Python at all
        fastsig.sigqueue(me, "rtmin+1", value=2)
        fastsig.sigqueue(pid=me, sig=RT1, value=3)
        fastsig.sigqueue(me, RT1)
        fastsig.sigqueue(me, signal.SIGUSR1, 5)
        assert [i.si_value for i in receive(RT1, 5)] == [1, 1, 2, 3, 0]
        assert receive(signal.SIGUSR1, 1)[0].si_value == 5


@in_child(timeout=20)
def test_a_python_handler_for_a_signal_sent_to_self_runs_before_sigqueue_returns() -> None:
    send = fastsig.sigqueue  # the builtin checks for signals as os.kill() does
    calls: List[int] = []

    def handler(signum: int, frame: object) -> None:
        calls.append(signum)
        if len(calls) == 2:
            raise RuntimeError("from the handler")

    signal.signal(signal.SIGUSR2, handler)
    send(os.getpid(), signal.SIGUSR2, 1)
    assert calls == [signal.SIGUSR2]  # as after os.kill(): not at some later bytecode
    with pytest.raises(RuntimeError, match="from the handler"):
        send(os.getpid(), signal.SIGUSR2, 2)


# ---- bad arguments fail before any syscall --------------------------------------

BAD_SENDS = [
    ((0,), ValueError), ((-1,), ValueError), ((65,), ValueError), ((32,), ValueError),
    ((fastsig.SIGRTMAX + 1,), ValueError), (("NOPE",), ValueError), (("RTMIN+99",), ValueError),
    (("99",), ValueError), (("0",), ValueError),
    ((1.5,), TypeError), ((None,), TypeError), ((True,), TypeError),
]


@pytest.mark.parametrize("send", SIGQUEUES, ids=["builtin", "checked"])
def test_bad_arguments_raise_before_any_syscall(send: Callable[..., None]) -> None:
    # Sent to a pid that does not exist: had a syscall happened, it would
    # have raised ProcessLookupError instead.
    pid = dead_pid()
    for (sig,), exc in BAD_SENDS * 2:  # twice: what the first call cached changes nothing
        with pytest.raises(exc, match="signal"):
            send(pid, sig, 1)
    for bad_pid, exc in [(0, ValueError), (-5, ValueError), (1 << 31, ValueError),
                         ("1", TypeError), (1.0, TypeError), (None, TypeError)]:
        with pytest.raises(exc, match="pid"):
            send(bad_pid, RT1, 1)
    for value, exc in [(VALUE_MAX + 1, OverflowError), (VALUE_MIN - 1, OverflowError),
                       (1 << 100, OverflowError), ("1", TypeError), (1.0, TypeError),
                       (True, TypeError)]:
        with pytest.raises(exc, match="value"):
            send(pid, RT1, value)
    with pytest.raises(TypeError):
        send(pid)
    with pytest.raises(TypeError):
        send(pid, RT1, 1, 2)
    with pytest.raises(ProcessLookupError):
        send(pid, RT1, VALUE_MAX)  # the good case does reach the kernel


@pytest.mark.parametrize("send", SIGQUEUES, ids=["builtin", "checked"])
def test_a_failing_send_raises_the_matching_oserror_naming_the_syscall(
        send: Callable[..., None]) -> None:
    with pytest.raises(ProcessLookupError) as info:
        send(dead_pid(), RT1, 1)
    assert info.value.errno == errno.ESRCH
    assert "sigqueue" in str(info.value)


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to drop to another uid")
@in_child(timeout=30)
def test_sending_to_another_users_process_is_a_permission_error() -> None:
    target = os.getpid()

    def as_nobody() -> None:
        os.setuid(65534)
        for send in SIGQUEUES:
            try:
                send(target, RT1, 1)
            except PermissionError as exc:
                assert exc.errno == errno.EPERM and "sigqueue" in str(exc)
            else:
                raise AssertionError("sent to root's process as nobody")
        try:
            fastsig.kill(target, RT1)
        except PermissionError as exc:
            assert "kill" in str(exc)
        else:
            raise AssertionError("killed root's process as nobody")

    with fastsig.blocked({RT1}):
        assert exit_code(forked(as_nobody)) == 0
        assert RT1 not in fastsig.sigpending()


# ---- sigqueue_many -------------------------------------------------------------

@in_child(timeout=30)
def test_sigqueue_many_sends_a_range_and_a_list_in_order() -> None:
    me = os.getpid()
    with fastsig.blocked({RT1}):
        assert fastsig.sigqueue_many(me, RT1, range(-5, 95)) == 100
        assert [i.si_value for i in receive(RT1, 100)] == list(range(-5, 95))
        values = [VALUE_MAX, VALUE_MIN, 0, -1, 42] * 10
        assert fastsig.sigqueue_many(me, "SIGRTMIN+1", values) == 50
        assert [i.si_value for i in receive(RT1, 50)] == values
        assert fastsig.sigqueue_many(me, RT1, (v * 3 for v in range(20))) == 20
        assert [i.si_value for i in receive(RT1, 20)] == [v * 3 for v in range(20)]
        assert fastsig.sigqueue_many(me, RT1, range(10, 0, -2)) == 5
        assert [i.si_value for i in receive(RT1, 5)] == [10, 8, 6, 4, 2]
        assert fastsig.sigqueue_many(me, RT1, []) == 0
        assert fastsig.sigqueue_many(me, RT1, range(0)) == 0
        assert RT1 not in fastsig.sigpending()


def test_sigqueue_many_checks_every_value_before_sending() -> None:
    pid = dead_pid()
    with pytest.raises(OverflowError, match=str(VALUE_MAX + 1)):
        fastsig.sigqueue_many(pid, RT1, [1, 2, VALUE_MAX + 1])
    with pytest.raises(OverflowError):
        fastsig.sigqueue_many(pid, RT1, range(VALUE_MAX - 1, VALUE_MAX + 2))
    with pytest.raises(TypeError, match="float"):
        fastsig.sigqueue_many(pid, RT1, [1, 2.0])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="timeout"):
        fastsig.sigqueue_many(pid, RT1, [1], timeout=-1)
    with pytest.raises(ValueError, match="signal"):
        fastsig.sigqueue_many(pid, 0, [1])
    with pytest.raises(ProcessLookupError) as info:
        fastsig.sigqueue_many(pid, RT1, [1, 2])
    assert info.value.sent == 0  # type: ignore[attr-defined]


def _limit_pending(extra: int) -> bool:
    """Lower RLIMIT_SIGPENDING so this process can queue only `extra` more signals.

    The kernel counts pending signals per real uid, across every process of
    that uid. As root, isolate_sigpending() gives this process a uid of its
    own, so that other processes' signals cannot change the count during the
    test; otherwise start from what the uid has queued right now. True when
    the limit is exact.
    """
    isolated = isolate_sigpending()
    queued = 0 if isolated else int(proc_status()["SigQ"].split("/")[0])
    _, hard = resource.getrlimit(resource.RLIMIT_SIGPENDING)
    resource.setrlimit(resource.RLIMIT_SIGPENDING, (queued + extra, hard))
    return isolated


@in_child(timeout=30)
def test_a_full_queue_raises_queuefull_saying_how_many_went() -> None:
    me = os.getpid()
    exact = _limit_pending(40)
    with fastsig.blocked({RT1}):
        with pytest.raises(fastsig.QueueFull) as info:
            fastsig.sigqueue_many(me, RT1, range(10_000))
        full = info.value
        assert isinstance(full, BlockingIOError) and full.errno == errno.EAGAIN
        assert 0 <= full.sent < 10_000 and str(full.sent) in str(full)
        if exact:
            assert full.sent == 40
        # Exactly the signals it says were sent are queued: none lost, none extra.
        assert drain(RT1) == list(range(full.sent))
        # A single sigqueue meets the same backpressure.
        fastsig.sigqueue_many(me, RT1, range(full.sent))
        for send in SIGQUEUES:
            with pytest.raises(fastsig.QueueFull) as single:
                send(me, RT1, 1)
            assert single.value.sent == 0
        assert len(drain(RT1)) == full.sent
        # With a timeout and nobody draining: retries for that long, then the same.
        start = time.monotonic()
        with pytest.raises(fastsig.QueueFull) as late:
            fastsig.sigqueue_many(me, RT1, [5] * 10_000, timeout=0.2)
        assert time.monotonic() - start >= 0.2
        assert drain(RT1) == [5] * late.value.sent


@pytest.mark.parametrize("budget", [20.0, None], ids=["timeout", "forever"])
@in_child(timeout=60)
def test_sigqueue_many_retries_until_a_slow_receiver_drains(budget: Optional[float]) -> None:
    receiver, n = os.getpid(), 300
    _limit_pending(20)  # checked against the receiver's limit: this process
    values = list(range(n))
    with fastsig.blocked({RT1}):
        sender = forked(lambda: fastsig.sigqueue_many(receiver, RT1, values, timeout=budget))
        got: List[int] = []
        while len(got) < n:
            batch = fastsig.sigwaitinfo_many({RT1}, max=7, timeout=20)
            assert batch, f"stalled after {len(got)}"
            got += [i.si_value for i in batch]
        assert exit_code(sender) == 0
    assert got == values


# ---- kill, killpg, raise_signal ------------------------------------------------

@in_child(timeout=30)
def test_kill_zero_signals_my_process_group_and_nobody_else() -> None:
    os.setpgid(0, 0)
    sig = signal.SIGUSR1
    go_r, go_w = os.pipe()
    ready_r, ready_w = os.pipe()

    def member(own_group: bool) -> None:
        if own_group:
            os.setpgid(0, 0)
        os.write(ready_w, b"r")
        os.read(go_r, 1)  # the group was signalled
        pending = sig in fastsig.sigpending()
        assert pending != own_group, f"own_group={own_group} pending={pending}"

    fastsig.pthread_sigmask(fastsig.SIG_BLOCK, {sig})
    inside, outside = forked(lambda: member(False)), forked(lambda: member(True))
    os.read(ready_r, 1), os.read(ready_r, 1)
    fastsig.kill(0, "USR1")  # kill(2) returns once every member has it pending
    os.write(go_w, b"gg")
    assert exit_code(inside) == 0 and exit_code(outside) == 0
    info = fastsig.sigwaitinfo({sig})
    assert (info.code, info.si_pid) == (fastsig.SiCode.SI_USER, os.getpid())


@in_child(timeout=30)
def test_kill_negative_pid_and_killpg_signal_a_whole_group() -> None:
    sig = RT1  # queued: both sends count even if they land before the first wait
    fastsig.pthread_sigmask(fastsig.SIG_BLOCK, {sig})
    ready_r, ready_w = os.pipe()

    def leader() -> None:
        os.setpgid(0, 0)
        os.write(ready_w, b"r")
        for _ in range(2):
            assert fastsig.sigtimedwait({sig}, 10) is not None

    group = forked(leader)
    os.read(ready_r, 1)
    fastsig.kill(-group, sig)
    fastsig.killpg(group, "SIGRTMIN+1")
    assert exit_code(group) == 0
    assert sig not in fastsig.sigpending()
    with pytest.raises(ValueError):
        fastsig.killpg(-1, sig)
    with pytest.raises(ProcessLookupError, match="kill"):
        fastsig.kill(-dead_pid(), sig)


@in_child(timeout=30)
def test_kill_with_signal_zero_probes() -> None:
    fastsig.kill(os.getpid(), 0)
    with pytest.raises(ProcessLookupError):
        fastsig.kill(dead_pid(), 0)
    with pytest.raises(TypeError):
        fastsig.kill(os.getpid(), False)


@in_child(timeout=30)
def test_raise_signal_reaches_the_calling_thread() -> None:
    with fastsig.blocked({"USR1"}):
        fastsig.raise_signal("usr1")
        info = fastsig.sigwaitinfo({"USR1"})
    assert (info.si_signo, info.si_pid) == (signal.SIGUSR1, os.getpid())
    assert info.code in TKILL_CODES
    with pytest.raises(ValueError):
        fastsig.raise_signal(0)


@in_child(timeout=30)
def test_a_signal_to_the_calling_thread_reaches_a_forked_child_itself() -> None:
    """raise_signal and pthread_kill of oneself use the pid and thread id
    fastsig keeps: a forked child's must be its own, never its parent's."""
    parent = os.getpid()
    with fastsig.blocked({"USR1", "USR2"}):
        fastsig.raise_signal("USR1")  # the parent's ids are in use before the fork
        assert fastsig.sigwaitinfo({"USR1"}).si_pid == parent

        def child() -> None:
            me = os.getpid()
            fastsig.raise_signal("USR1")
            fastsig.pthread_kill(threading.get_ident(), "USR2")
            assert fastsig.sigpending() == {signal.SIGUSR1, signal.SIGUSR2}
            assert fastsig.sigwaitinfo({"USR1"}).si_pid == me
            assert fastsig.sigwaitinfo({"USR2"}).si_pid == me

        assert exit_code(forked(child)) == 0
        # Nothing went to the parent meanwhile.
        assert fastsig.sigtimedwait({"USR1", "USR2"}, 0) is None


# ---- thread-directed -----------------------------------------------------------

def _thread_receiver(sig: int, n: int) -> tuple[threading.Thread, List[fastsig.SigInfo], threading.Event]:
    got: List[fastsig.SigInfo] = []
    ready = threading.Event()

    def run() -> None:
        fastsig.pthread_sigmask(fastsig.SIG_BLOCK, {sig})
        ready.set()
        got.extend(receive(sig, n))

    thread = threading.Thread(target=run)
    thread.start()
    ready.wait(10)
    return thread, got, ready


@in_child(timeout=30)
def test_pthread_sigqueue_and_pthread_kill_reach_only_that_thread() -> None:
    # Blocked here too: had a send been process-directed, it would be pending here.
    fastsig.pthread_sigmask(fastsig.SIG_BLOCK, {RT1})
    thread, got, _ = _thread_receiver(RT1, 3)
    fastsig.pthread_sigqueue(thread.ident, RT1, VALUE_MIN)  # type: ignore[arg-type]
    fastsig.pthread_sigqueue(thread.ident, "SIGRTMIN+1", 7)  # type: ignore[arg-type]
    fastsig.pthread_kill(thread.ident, RT1)  # type: ignore[arg-type]
    thread.join(10)
    assert not thread.is_alive()
    assert [(i.code, i.si_value) for i in got[:2]] == [
        (fastsig.SiCode.SI_QUEUE, VALUE_MIN), (fastsig.SiCode.SI_QUEUE, 7)]
    assert (got[2].code, got[2].si_value) in {(code, 0) for code in TKILL_CODES}
    assert {i.si_pid for i in got} == {os.getpid()}
    assert RT1 not in fastsig.sigpending()


@in_child(timeout=30)
def test_pthread_kill_on_a_dead_or_bogus_thread_id_does_not_crash() -> None:
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()
    for ident in (thread.ident, 12345, 0, (1 << 64) - 1):
        with pytest.raises(ProcessLookupError) as info:
            fastsig.pthread_kill(ident, 0)  # type: ignore[arg-type]
        assert info.value.errno == errno.ESRCH and "pthread_kill" in str(info.value)
        with pytest.raises(ProcessLookupError, match="pthread_sigqueue"):
            fastsig.pthread_sigqueue(ident, RT1, 1)  # type: ignore[arg-type]
    for bad, exc in [(-1, OverflowError), (1 << 64, OverflowError), ("1", TypeError),
                     (1.0, TypeError)]:
        with pytest.raises(exc):
            fastsig.pthread_kill(bad, 0)  # type: ignore[arg-type]
    fastsig.pthread_kill(threading.get_ident(), 0)  # a live thread: the probe works


# ---- pidfd -----------------------------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "pidfd_open") or not fastsig._core.HAVE_PIDFD,
                    reason="needs pidfd_open")
@in_child(timeout=30)
def test_pidfd_send_signal_with_and_without_a_value() -> None:
    ready_r, ready_w = os.pipe()

    def target() -> None:
        os.write(ready_w, b"r")
        first = fastsig.sigwaitinfo({RT1})
        second = fastsig.sigwaitinfo({RT1})
        assert (first.code, first.si_value, first.si_pid) == (
            fastsig.SiCode.SI_USER, 0, os.getppid())
        assert (second.code, second.si_value, second.si_pid) == (
            fastsig.SiCode.SI_QUEUE, -99, os.getppid())

    with fastsig.blocked({RT1}):
        pid = forked(target)
        pidfd = os.pidfd_open(pid)
        try:
            os.read(ready_r, 1)
            fastsig.pidfd_send_signal(pidfd, RT1)
            fastsig.pidfd_send_signal(pidfd, "SIGRTMIN+1", value=-99)
            assert exit_code(pid) == 0
            # The process is gone and reaped: the pidfd cannot hit a new one.
            with pytest.raises(ProcessLookupError, match="pidfd_send_signal"):
                fastsig.pidfd_send_signal(pidfd, RT1, 1)
        finally:
            os.close(pidfd)
    with pytest.raises(ValueError):
        fastsig.pidfd_send_signal(-1, RT1)
    with pytest.raises(OverflowError):
        fastsig.pidfd_send_signal(0, RT1, VALUE_MAX + 1)


# ---- the example ---------------------------------------------------------------

def test_the_send_values_example_runs_and_checks_its_values() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "send_values.py"),
                             "--count", "2000"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "received 2000 of 2000 values in order" in result.stdout
