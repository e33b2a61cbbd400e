"""SigInfo: one received signal, with everything the kernel said about it.

Which fields are meaningful follows ``si_code`` (fields it does not define are 0):

=====================  ==========================================================
si_code                 valid fields besides si_signo, si_code, si_errno
=====================  ==========================================================
SI_USER, SI_TKILL       si_pid, si_uid (filled in by the kernel: trustworthy)
SI_QUEUE, SI_MESGQ      si_pid, si_uid (filled in by the sender: can be forged),
                        si_value
SI_TIMER                si_timerid, si_overrun, si_value
SI_ASYNCIO              si_value
SI_SIGIO                si_band, si_fd
CLD_* (SIGCHLD)         si_pid, si_uid, si_status (kernel-filled)
> 0 for SIGSEGV, SIGBUS,
SIGILL, SIGFPE, SIGTRAP si_addr (the fault came from the CPU)
POLL_* (SIGIO)          si_band, si_fd
SI_KERNEL               nothing more
=====================  ==========================================================

``SigInfo.code`` gives si_code as an enum: SiCode for the codes every signal
shares, CldCode/SegvCode/BusCode/FpeCode/IllCode/PollCode for the positive
ones, whose meaning depends on the signal. tgkill() (pthread_kill, raise)
reports SI_TKILL on most kernels and SI_USER on some (Linux 6.18 here).
``si_value`` is the pointer-width sival_ptr as sent; ``si_int`` is its
sival_int view.

``tid`` (the thread whose handler ran) and ``time_ns`` (CLOCK_MONOTONIC at
delivery) are set only by the handler ring; other paths leave them 0.
"""

from __future__ import annotations

import enum
import signal
import sys
from typing import TYPE_CHECKING, Dict, NamedTuple, Type, Union

from . import _core, _fast
from ._names import as_signal, signame

_SI = _core.SI_CODES
_BY_SIGNAL = _core.SIGNAL_CODES


class SiCode(enum.IntEnum):
    """The si_code values every signal shares (<= 0: sent by a process)."""

    SI_USER = _SI["SI_USER"]
    SI_KERNEL = _SI["SI_KERNEL"]
    SI_QUEUE = _SI["SI_QUEUE"]
    SI_TIMER = _SI["SI_TIMER"]
    SI_MESGQ = _SI["SI_MESGQ"]
    SI_ASYNCIO = _SI["SI_ASYNCIO"]
    SI_SIGIO = _SI["SI_SIGIO"]
    SI_TKILL = _SI["SI_TKILL"]


# Positive si_code values mean something only together with the signal.
class CldCode(enum.IntEnum):
    """si_code of a SIGCHLD the kernel sent: what happened to the child."""

    CLD_EXITED = _BY_SIGNAL["CLD"]["CLD_EXITED"]
    CLD_KILLED = _BY_SIGNAL["CLD"]["CLD_KILLED"]
    CLD_DUMPED = _BY_SIGNAL["CLD"]["CLD_DUMPED"]
    CLD_TRAPPED = _BY_SIGNAL["CLD"]["CLD_TRAPPED"]
    CLD_STOPPED = _BY_SIGNAL["CLD"]["CLD_STOPPED"]
    CLD_CONTINUED = _BY_SIGNAL["CLD"]["CLD_CONTINUED"]


class SegvCode(enum.IntEnum):
    SEGV_MAPERR = _BY_SIGNAL["SEGV"]["SEGV_MAPERR"]
    SEGV_ACCERR = _BY_SIGNAL["SEGV"]["SEGV_ACCERR"]


class BusCode(enum.IntEnum):
    BUS_ADRALN = _BY_SIGNAL["BUS"]["BUS_ADRALN"]
    BUS_ADRERR = _BY_SIGNAL["BUS"]["BUS_ADRERR"]
    BUS_OBJERR = _BY_SIGNAL["BUS"]["BUS_OBJERR"]


class FpeCode(enum.IntEnum):
    FPE_INTDIV = _BY_SIGNAL["FPE"]["FPE_INTDIV"]
    FPE_INTOVF = _BY_SIGNAL["FPE"]["FPE_INTOVF"]
    FPE_FLTDIV = _BY_SIGNAL["FPE"]["FPE_FLTDIV"]
    FPE_FLTOVF = _BY_SIGNAL["FPE"]["FPE_FLTOVF"]
    FPE_FLTUND = _BY_SIGNAL["FPE"]["FPE_FLTUND"]
    FPE_FLTRES = _BY_SIGNAL["FPE"]["FPE_FLTRES"]
    FPE_FLTINV = _BY_SIGNAL["FPE"]["FPE_FLTINV"]
    FPE_FLTSUB = _BY_SIGNAL["FPE"]["FPE_FLTSUB"]


class IllCode(enum.IntEnum):
    ILL_ILLOPC = _BY_SIGNAL["ILL"]["ILL_ILLOPC"]
    ILL_ILLOPN = _BY_SIGNAL["ILL"]["ILL_ILLOPN"]
    ILL_ILLADR = _BY_SIGNAL["ILL"]["ILL_ILLADR"]
    ILL_ILLTRP = _BY_SIGNAL["ILL"]["ILL_ILLTRP"]
    ILL_PRVOPC = _BY_SIGNAL["ILL"]["ILL_PRVOPC"]
    ILL_PRVREG = _BY_SIGNAL["ILL"]["ILL_PRVREG"]
    ILL_COPROC = _BY_SIGNAL["ILL"]["ILL_COPROC"]
    ILL_BADSTK = _BY_SIGNAL["ILL"]["ILL_BADSTK"]


class PollCode(enum.IntEnum):
    """si_code of a SIGIO/SIGPOLL about an fd."""

    POLL_IN = _BY_SIGNAL["POLL"]["POLL_IN"]
    POLL_OUT = _BY_SIGNAL["POLL"]["POLL_OUT"]
    POLL_MSG = _BY_SIGNAL["POLL"]["POLL_MSG"]
    POLL_ERR = _BY_SIGNAL["POLL"]["POLL_ERR"]
    POLL_PRI = _BY_SIGNAL["POLL"]["POLL_PRI"]
    POLL_HUP = _BY_SIGNAL["POLL"]["POLL_HUP"]


_SIGNAL_CODE_ENUMS: Dict[int, Type[enum.IntEnum]] = {
    int(signal.SIGCHLD): CldCode,
    int(signal.SIGSEGV): SegvCode,
    int(signal.SIGBUS): BusCode,
    int(signal.SIGFPE): FpeCode,
    int(signal.SIGILL): IllCode,
    int(signal.SIGIO): PollCode,
}

_SENDER_CODES = frozenset({SiCode.SI_USER, SiCode.SI_TKILL, SiCode.SI_QUEUE, SiCode.SI_MESGQ})
_VALUE_CODES = frozenset({SiCode.SI_QUEUE, SiCode.SI_TIMER, SiCode.SI_MESGQ, SiCode.SI_ASYNCIO})
# sival_int shares its bytes with sival_ptr: the low half on little-endian
# machines, the high half on 64-bit big-endian ones.
_INT_SHIFT = 32 if sys.byteorder == "big" and _core.POINTER_BITS == 64 else 0


# An fd's F_SETSIG (notify_fd) makes any other signal carry fd readiness,
# with the POLL_* codes; SIGTRAP and SIGSYS have codes of their own.
_OWN_CODES = frozenset(int(s) for s in (signal.SIGTRAP, getattr(signal, "SIGSYS", signal.SIGTRAP)))


def code_enum(signo: int, code: int) -> Union[enum.IntEnum, int]:
    """si_code as its enum member (SiCode, CldCode, SegvCode, ...), else the int."""
    try:
        if code <= 0 or code == SiCode.SI_KERNEL:
            return SiCode(code)
        if signo in _OWN_CODES:
            return code
        return _SIGNAL_CODE_ENUMS.get(signo, PollCode)(code)
    except (KeyError, ValueError):
        return code


def code_name(signo: int, code: int) -> str:
    """'SI_QUEUE', 'CLD_EXITED', 'SEGV_MAPERR', ... or the number if unknown."""
    member = code_enum(signo, code)
    return member.name if isinstance(member, enum.IntEnum) else str(code)


class SigInfo(NamedTuple):
    """A superset of signal.struct_siginfo: its seven fields first, same order."""

    si_signo: int
    si_code: int
    si_errno: int
    si_pid: int
    si_uid: int
    si_status: int
    si_band: int
    si_value: int = 0
    """sigval as the sender passed it, pointer width (sival_ptr); see si_int."""
    si_addr: int = 0
    si_fd: int = 0
    si_timerid: int = 0
    si_overrun: int = 0
    tid: int = 0
    time_ns: int = 0

    @property
    def signal(self) -> Union[signal.Signals, int]:
        """si_signo as a signal.Signals member where one exists."""
        return as_signal(self.si_signo)

    @property
    def code(self) -> Union[enum.IntEnum, int]:
        """si_code as an enum member: SiCode for the codes every signal shares
        (SI_USER, SI_QUEUE, ...), CldCode, SegvCode, BusCode, FpeCode, IllCode
        or PollCode for the signal-specific positive ones; the int if unknown."""
        return code_enum(self.si_signo, self.si_code)

    @property
    def si_int(self) -> int:
        """si_value's sival_int view (what a sender's sival_int reads as), signed."""
        word = (self.si_value >> _INT_SHIFT) & 0xFFFFFFFF
        return word - (1 << 32) if word >= 1 << 31 else word

    @property
    def sender_is_kernel_verified(self) -> bool:
        """True when the kernel, not the sender, filled si_pid and si_uid: the
        record names a sender and its si_code could not be forged.

        SI_USER (kill) and SI_TKILL (tgkill) senders cannot lie about who they
        are; SI_QUEUE senders write si_pid/si_uid themselves (rt_sigqueueinfo).
        fastsig._trust's docs say what else a receiver can trust.
        """
        return has_sender(self) and origin_is_kernel_verified(self)

    def __repr__(self) -> str:
        parts = [signame(self.si_signo), code_name(self.si_signo, self.si_code)]
        if self.si_pid or self.si_uid:
            parts.append(f"from pid {self.si_pid} uid {self.si_uid}")
        if self.si_signo == signal.SIGCHLD and self.si_code > 0:
            parts.append(f"status={self.si_status}")
        if self.si_value or self.si_code in _VALUE_CODES:
            parts.append(f"value={self.si_value}")
        if self.si_addr:
            parts.append(f"addr={self.si_addr:#x}")
        if self.si_fd or self.si_band:
            parts.append(f"fd={self.si_fd} band={self.si_band:#x}")
        if self.si_timerid or self.si_overrun:
            parts.append(f"timer={self.si_timerid} overrun={self.si_overrun}")
        if self.si_errno:
            parts.append(f"errno={self.si_errno}")
        if self.tid:
            parts.append(f"tid={self.tid}")
        return f"SigInfo({' '.join(parts)})"


if not TYPE_CHECKING:
    # The class records are: a C subclass of the NamedTuple above, which
    # keeps its fields and methods and frees a record in a few instructions
    # (fastsig._fast.record_type). Type checkers see the NamedTuple.
    SigInfo = _fast.record_type(SigInfo)
    SigInfo.__doc__ = SigInfo.__base__.__doc__


def origin_is_kernel_verified(info: SigInfo) -> bool:
    """True when no other process could have chosen this record's si_code:
    SI_USER, SI_TKILL, or a positive code the kernel generated."""
    return info.si_code >= 0 or info.si_code == SiCode.SI_TKILL


def has_sender(info: SigInfo) -> bool:
    """True when the record names a sending process (verified or not)."""
    if info.si_code in _SENDER_CODES:
        return True
    return info.si_signo == signal.SIGCHLD and info.si_code > 0


def from_batch(batch: _core.Batch, n: int) -> list[SigInfo]:
    """The first n records of a batch as SigInfo, built in C."""
    return _fast.records(batch.address(), n)


def first(batch: _core.Batch) -> SigInfo:
    """The first record of a batch that holds at least one."""
    return _fast.records(batch.address(), 1)[0]
