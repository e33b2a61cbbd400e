"""Trust: a forged SI_QUEUE sender is rejected by SenderPolicy; a real kill()
from an allowed pid passes; the kernel refuses to let anyone forge SI_USER."""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import signal
import struct

import pytest

import fastsig
from fastsig import SenderPolicy, SigInfo
from fastsig._trust import has_sender, origin_is_kernel_verified
from support import RT1, collect, exit_code, forked, in_child, isolate_sigpending

SI_USER, SI_QUEUE, SI_TKILL = (int(getattr(fastsig.SiCode, n)) for n in ("SI_USER", "SI_QUEUE", "SI_TKILL"))

# rt_sigqueueinfo(2) by architecture (the generic table serves aarch64, riscv64, loongarch64).
_SYS_RT_SIGQUEUEINFO = {"x86_64": 129, "aarch64": 138, "riscv64": 138, "loongarch64": 138,
                        "i686": 178, "i386": 178, "armv7l": 178, "ppc64le": 177, "s390x": 178}.get(
    platform.machine())
needs_rt_sigqueueinfo = pytest.mark.skipif(_SYS_RT_SIGQUEUEINFO is None,
                                           reason="rt_sigqueueinfo number unknown here")


def _record(code: int, pid: int = 0, uid: int = 0, signo: int = RT1) -> SigInfo:
    return SigInfo(signo, code, 0, pid, uid, 0, 0)


def _forge(target: int, sig: int, code: int, pid: int, uid: int, value: int) -> int:
    """rt_sigqueueinfo with a siginfo we fill ourselves; 0 or the errno."""
    libc = ctypes.CDLL(None, use_errno=True)
    info = ctypes.create_string_buffer(128)
    struct.pack_into("iii", info, 0, sig, 0, code)  # si_signo, si_errno, si_code
    union = 16 if ctypes.sizeof(ctypes.c_void_p) == 8 else 12
    struct.pack_into("iIq" if union == 16 else "iIi", info, union, pid, uid, value)
    rc = libc.syscall(_SYS_RT_SIGQUEUEINFO, target, sig, info)
    return 0 if rc == 0 else ctypes.get_errno()


@needs_rt_sigqueueinfo
@in_child(timeout=30)
def test_forged_si_queue_sender_is_rejected_and_real_kill_passes() -> None:
    isolate_sigpending()
    receiver = os.getpid()
    results_r, results_w = os.pipe()
    with fastsig.Listener([RT1, "USR1", "CHLD"]) as listener:
        def forge() -> None:
            codes = [
                _forge(receiver, RT1, SI_QUEUE, 1, 0, 666),      # "from init, as root"
                _forge(receiver, RT1, SI_USER, 1, 0, 667),       # the kernel must refuse
                _forge(receiver, RT1, SI_TKILL, 1, 0, 668),      # this too
            ]
            os.kill(receiver, signal.SIGUSR1)                    # the real thing
            os.write(results_w, struct.pack("3i", *codes))

        forger = forked(forge)
        os.close(results_w)
        forge_errors = struct.unpack("3i", os.read(results_r, 12))
        assert exit_code(forger) == 0
        records = collect(lambda: listener.wait(timeout=0.5), 3, timeout=10)
    assert forge_errors == (0, errno.EPERM, errno.EPERM)
    by_signal = {int(r.si_signo): r for r in records}
    forged, real, child = by_signal[RT1], by_signal[signal.SIGUSR1], by_signal[signal.SIGCHLD]
    assert (forged.si_code, forged.si_pid, forged.si_uid, forged.si_value) == (SI_QUEUE, 1, 0, 666)
    assert (real.si_code, real.si_pid) == (SI_USER, forger)
    assert (child.si_code, child.si_pid) == (os.CLD_EXITED, forger)

    trusting = SenderPolicy(pids={1}, kernel_verified=False)
    assert trusting.accepts(forged)  # the forgery is convincing on its face...
    assert not SenderPolicy(pids={1}).accepts(forged)  # ...and rejected by the policy
    policy = SenderPolicy(pids={forger}, uids={os.getuid()})
    assert policy.filter(records) == ([r for r in records if r is not forged], [forged])
    assert not SenderPolicy(pids={forger + 1}).accepts(real)
    assert not SenderPolicy(uids={os.getuid() + 1}).accepts(real)


@needs_rt_sigqueueinfo
@in_child(timeout=30)
def test_listener_with_a_policy_never_returns_the_forgery_and_counts_it() -> None:
    isolate_sigpending()
    receiver = os.getpid()
    go_r, go_w = os.pipe()

    def forge() -> None:
        os.read(go_r, 1)  # wait until the receiver listens
        _forge(receiver, RT1, SI_QUEUE, os.getpid(), os.getuid(), 666)  # its own, truthfully
        _forge(receiver, RT1, SI_QUEUE, 1, 0, 667)
        os.kill(receiver, signal.SIGUSR1)  # (a standard signal: once, it could coalesce)

    forger = forked(forge)
    policy = SenderPolicy(pids={forger})
    with fastsig.Listener([RT1, "USR1"], accept=policy) as listener:
        os.write(go_w, b"x")
        got = collect(lambda: listener.wait(timeout=0.2), 1, timeout=10)
        assert exit_code(forger) == 0
        got.extend(listener.drain())
        stats = listener.stats()
    # Even an SI_QUEUE record whose claim is true is refused: nothing vouches for it.
    assert [(int(i.si_signo), i.si_code, i.si_pid) for i in got] == [(signal.SIGUSR1, SI_USER, forger)]
    assert stats[RT1].rejected == 2 and stats[RT1].read == 2
    assert stats[signal.SIGUSR1].rejected == 0


@in_child(timeout=30)
def test_genuine_sigqueue_is_not_kernel_verified_but_can_be_allowed_explicitly() -> None:
    isolate_sigpending()
    with fastsig.Listener([RT1]) as listener:
        fastsig.sigqueue(os.getpid(), RT1, 5)
        (info,) = listener.drain()
    assert info.si_pid == os.getpid()
    assert not SenderPolicy(pids={os.getpid()}).accepts(info)
    assert SenderPolicy(pids={os.getpid()}, kernel_verified=False).accepts(info)


def test_policy_rules_on_every_kind_of_code() -> None:
    kernel_made = _record(int(fastsig.SiCode.SI_KERNEL))  # no sender
    fault = _record(int(fastsig.SegvCode.SEGV_MAPERR), signo=signal.SIGSEGV)
    timer = _record(int(fastsig.SiCode.SI_TIMER))
    tkill = _record(SI_TKILL, pid=10, uid=1000)
    everyone = SenderPolicy()
    assert [everyone.accepts(r) for r in (kernel_made, fault, timer, tkill)] == [True, True, False, True]
    only_10 = SenderPolicy(pids=[10])
    assert [only_10.accepts(r) for r in (kernel_made, fault, tkill)] == [False, False, True]
    # uid 0 does not match records that name no sender (their si_uid is just 0).
    assert not SenderPolicy(uids=[0]).accepts(kernel_made)
    assert SenderPolicy(kernel_verified=False).accepts(timer)


def test_policy_agrees_with_siginfo_on_sender_codes() -> None:
    for code in (SI_USER, SI_TKILL, SI_QUEUE, int(fastsig.SiCode.SI_MESGQ)):
        record = _record(code, pid=3)
        assert has_sender(record)
        assert origin_is_kernel_verified(record) == record.sender_is_kernel_verified
    chld = _record(os.CLD_EXITED, pid=3, signo=signal.SIGCHLD)
    assert has_sender(chld) and chld.sender_is_kernel_verified and origin_is_kernel_verified(chld)


@pytest.mark.parametrize("kwargs, exc", [
    ({"pids": 5}, TypeError), ({"pids": "12"}, TypeError), ({"pids": [1.5]}, TypeError),
    ({"pids": [True]}, TypeError), ({"pids": [0]}, ValueError), ({"pids": [-3]}, ValueError),
    ({"uids": [-1]}, ValueError), ({"uids": [2**32]}, ValueError), ({"uids": object()}, TypeError),
    ({"kernel_verified": 1}, TypeError),
])
def test_policy_rejects_bad_arguments(kwargs: dict[str, object], exc: type[Exception]) -> None:
    with pytest.raises(exc):
        SenderPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_repr_and_filter_order() -> None:
    policy = SenderPolicy(pids=(3, 2))
    assert repr(policy) == "SenderPolicy(pids=[2, 3], uids=None, kernel_verified=True)"
    records = [_record(SI_USER, pid=p) for p in (1, 2, 3, 2)]
    assert policy.filter(records) == (records[1:], records[:1])
