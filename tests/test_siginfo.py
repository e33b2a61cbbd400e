"""SigInfo: fields valid per si_code, the si_int view, code enums, repr."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import pytest

import fastsig
from fastsig import CldCode, SiCode, SigInfo
from support import RT1, exit_code, forked, in_child


@in_child(timeout=20)
def test_sigchld_from_a_real_child_exit_carries_its_status() -> None:
    with fastsig.blocked({"CHLD"}):
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        info = fastsig.sigwaitinfo({"CHLD"})
        os.waitpid(pid, 0)
    assert (info.si_signo, info.code, info.si_pid, info.si_uid, info.si_status) == (
        signal.SIGCHLD, CldCode.CLD_EXITED, pid, os.getuid(), 7)
    assert info.si_value == info.si_addr == info.si_band == 0
    assert info.sender_is_kernel_verified
    assert repr(info) == f"SigInfo(SIGCHLD CLD_EXITED from pid {pid} uid {os.getuid()} status=7)"


@in_child(timeout=20)
def test_sigchld_from_a_killed_child_says_which_signal() -> None:
    with fastsig.blocked({"CHLD"}):
        pid = os.fork()
        if pid == 0:
            signal.pause()
            os._exit(0)
        os.kill(pid, signal.SIGTERM)
        info = fastsig.sigwaitinfo({"CHLD"})
        os.waitpid(pid, 0)
    assert (info.code, info.si_status, info.si_pid) == (CldCode.CLD_KILLED, signal.SIGTERM, pid)


@in_child(timeout=20)
def test_si_user_from_os_kill_has_the_sender_and_no_value() -> None:
    with fastsig.blocked({"USR1"}):
        sender = os.fork()
        if sender == 0:
            os.kill(os.getppid(), signal.SIGUSR1)
            os._exit(0)
        info = fastsig.sigwaitinfo({"USR1"})
        os.waitpid(sender, 0)
    assert (info.code, info.si_pid, info.si_uid, info.si_value, info.si_status) == (
        SiCode.SI_USER, sender, os.getuid(), 0, 0)
    assert info.sender_is_kernel_verified
    assert repr(info) == f"SigInfo(SIGUSR1 SI_USER from pid {sender} uid {os.getuid()})"


@in_child(timeout=20)
def test_si_queue_carries_the_value_and_a_sender_that_could_be_forged() -> None:
    with fastsig.blocked({RT1}):
        fastsig.sigqueue(os.getpid(), RT1, 0)
        zero = fastsig.sigwaitinfo({RT1})
        fastsig.sigqueue(os.getpid(), RT1, -(1 << 40) - 5)
        big = fastsig.sigwaitinfo({RT1})
    assert zero.code is SiCode.SI_QUEUE and not zero.sender_is_kernel_verified
    me = os.getpid()
    assert repr(zero) == f"SigInfo(SIGRTMIN+1 SI_QUEUE from pid {me} uid {os.getuid()} value=0)"
    assert big.si_value == -(1 << 40) - 5 and big.si_int == -5


def _from_two_senders(me: int) -> int:
    """Queue 1 and 3 from here, 2 from a forked process, then a kill(): the
    forked sender's pid."""
    fastsig.sigqueue(me, RT1, 1)
    other = forked(lambda: fastsig.sigqueue(me, RT1, 2))
    assert exit_code(other) == 0
    fastsig.sigqueue(me, RT1, 3)
    os.kill(me, RT1)
    return other


@in_child(timeout=20)
def test_records_of_one_batch_keep_each_senders_fields() -> None:
    """The records of a batch share equal ints (sender, thread, time): a
    record from another sender, between two of ours, keeps its own."""
    me = os.getpid()
    with fastsig.blocked({RT1}):
        other = _from_two_senders(me)
        batches = [(other, fastsig.sigwaitinfo_many({RT1}, max=8))]
        with fastsig.SignalFD({RT1}, nonblocking=True) as sfd:
            other = _from_two_senders(me)
            batches.append((other, sfd.read()))
    for other, batch in batches:
        assert [(i.si_pid, i.si_value, i.code) for i in batch] == [
            (me, 1, SiCode.SI_QUEUE), (other, 2, SiCode.SI_QUEUE), (me, 3, SiCode.SI_QUEUE),
            (me, 0, SiCode.SI_USER)]
        assert [i.si_uid for i in batch] == [os.getuid()] * 4


@in_child(timeout=20)
def test_pthread_kill_and_raise_are_thread_directed_with_the_sender() -> None:
    with fastsig.blocked({"USR2"}):
        fastsig.pthread_kill(threading.get_ident(), "USR2")
        info = fastsig.sigwaitinfo({"USR2"})
    # SI_TKILL on most kernels; this one (6.18) reports tgkill as SI_USER.
    assert info.code in (SiCode.SI_TKILL, SiCode.SI_USER)
    assert (info.si_pid, info.si_uid) == (os.getpid(), os.getuid())


def test_the_first_seven_fields_are_struct_siginfos() -> None:
    names = [name for name in dir(signal.struct_siginfo) if name.startswith("si_")]
    assert sorted(SigInfo._fields[:7]) == sorted(names)
    info = SigInfo(10, 0, 0, 42, 1000, 0, 0)
    assert info[:7] == (10, 0, 0, 42, 1000, 0, 0)
    assert info.si_value == info.si_addr == info.tid == info.time_ns == 0
    assert info.signal is signal.SIGUSR1


@pytest.mark.parametrize("value, as_int", [
    (0, 0), (5, 5), (-1, -1), (0x7FFFFFFF, 0x7FFFFFFF), (0x80000000, -0x80000000),
    (0x1_0000_0007, 7), (-(1 << 63), 0),
])
def test_si_int_is_the_signed_32_bit_view(value: int, as_int: int) -> None:
    assert SigInfo(RT1, SiCode.SI_QUEUE, 0, 1, 0, 0, 0, value).si_int == as_int


def test_code_is_the_right_enum_for_the_signal() -> None:
    def code(signo: int, code: int) -> object:
        return SigInfo(signo, code, 0, 0, 0, 0, 0).code

    assert code(signal.SIGUSR1, -1) is SiCode.SI_QUEUE
    assert code(signal.SIGCHLD, 1) is CldCode.CLD_EXITED
    assert code(signal.SIGSEGV, 1) is fastsig.SegvCode.SEGV_MAPERR
    assert code(signal.SIGFPE, 1) is fastsig.FpeCode.FPE_INTDIV
    assert code(signal.SIGBUS, 2) is fastsig.BusCode.BUS_ADRERR
    assert code(signal.SIGILL, 1) is fastsig.IllCode.ILL_ILLOPC
    assert code(signal.SIGIO, 1) is fastsig.PollCode.POLL_IN
    # The kernel gives any other signal a positive code only for an fd's F_SETSIG.
    assert code(signal.SIGUSR1, 1) is fastsig.PollCode.POLL_IN
    assert code(signal.SIGUSR1, 99) == 99 and type(code(signal.SIGUSR1, 99)) is int
    assert code(signal.SIGTRAP, 1) == 1 and type(code(signal.SIGTRAP, 1)) is int
    assert code(signal.SIGUSR1, -99) == -99
    assert code(signal.SIGSEGV, 0x80) is SiCode.SI_KERNEL
    assert fastsig.code_name(signal.SIGCHLD, 3) == "CLD_DUMPED"
    assert fastsig.code_name(signal.SIGUSR1, -60) == "-60"


def test_repr_shows_what_the_code_defines() -> None:
    segv = SigInfo(signal.SIGSEGV, 1, 0, 0, 0, 0, 0, 0, 0xDEAD)
    assert repr(segv) == "SigInfo(SIGSEGV SEGV_MAPERR addr=0xdead)"
    timer = SigInfo(RT1, SiCode.SI_TIMER, 0, 0, 0, 0, 0, 9, 0, 0, 3, 1)
    assert repr(timer) == "SigInfo(SIGRTMIN+1 SI_TIMER value=9 timer=3 overrun=1)"
    ring = SigInfo(RT1, SiCode.SI_QUEUE, 0, 4242, 1000, 0, 0, 7, tid=99)
    assert repr(ring) == "SigInfo(SIGRTMIN+1 SI_QUEUE from pid 4242 uid 1000 value=7 tid=99)"


@in_child(timeout=30)
def test_records_free_their_items_and_their_hold_on_the_class() -> None:
    """Records made in C (every reader) and in Python (the NamedTuple's
    constructor, _replace, a subclass) release what they hold when freed:
    the class's count of references comes back, and a weak reference to an
    item dies with the last record that held it."""
    import gc
    import sys
    import weakref

    class Sub(SigInfo):
        pass

    class Item:
        pass

    item: Any = Item()  # any object: a record is a tuple
    dead = weakref.ref(item)
    before = sys.getrefcount(SigInfo), sys.getrefcount(Sub)
    with fastsig.blocked({RT1}):
        for i in range(1000):
            fastsig.sigqueue(os.getpid(), RT1, i)
        taken = fastsig.sigwaitinfo_many({RT1}, 1000)
        fastsig.sigqueue(os.getpid(), RT1, 5)
        one = fastsig.sigwaitinfo({RT1})
    made = [SigInfo(10, 0, 0, 1, 2, 3, 4, item), Sub(10, 0, 0, 1, 2, 3, 4), one._replace(si_errno=item)]
    assert [info.si_value for info in taken] == list(range(1000)) and one.si_value == 5
    assert all(type(info) is SigInfo for info in [*taken, one, made[0], made[2]])
    assert type(made[1]) is Sub and isinstance(made[1], SigInfo)
    assert gc.is_tracked(one) and SigInfo in gc.get_referents(one)
    del taken, one, made, item
    gc.collect()
    assert (sys.getrefcount(SigInfo), sys.getrefcount(Sub)) == before
    assert dead() is None


def test_record_type_refuses_a_class_that_is_more_than_a_tuple() -> None:
    from fastsig import _fast

    class WithDict(tuple):  # type: ignore[type-arg]
        pass

    with pytest.raises(TypeError, match="differs from tuple"):
        _fast.record_type(WithDict)
    with pytest.raises(TypeError, match="tuple subclass"):
        _fast.record_type(list)
    with pytest.raises(TypeError, match="tuple subclass"):
        _fast.record_type(())  # type: ignore[arg-type]
