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

``tid`` (the thread whose handler ran) and ``time_ns`` (CLOCK_MONOTONIC at
delivery) are set only by the handler ring; other paths leave them 0.
"""

from __future__ import annotations

import enum
import signal
from typing import NamedTuple, Optional, Union

from . import _core
from ._names import as_signal, signame

SiCode = enum.IntEnum("SiCode", _core.SI_CODES)  # type: ignore[misc]
SiCode.__doc__ = "The si_code values every signal shares (negative: sent by a process)."

_KERNEL_SENDER_CODES = frozenset({_core.SI_CODES["SI_USER"], _core.SI_CODES["SI_TKILL"]})

_CODE_NAMES = {
    signal.SIGCHLD: _core.SIGNAL_CODES["CLD"],
    signal.SIGSEGV: _core.SIGNAL_CODES["SEGV"],
    signal.SIGBUS: _core.SIGNAL_CODES["BUS"],
    signal.SIGFPE: _core.SIGNAL_CODES["FPE"],
    signal.SIGILL: _core.SIGNAL_CODES["ILL"],
    signal.SIGIO: _core.SIGNAL_CODES["POLL"],
}
_CODE_NAMES_BY_VALUE = {
    sig: {value: name for name, value in names.items()} for sig, names in _CODE_NAMES.items()
}


def code_name(signo: int, code: int) -> str:
    """'SI_QUEUE', 'CLD_EXITED', 'SEGV_MAPERR', ... or the number if unknown."""
    if code <= 0 or code == _core.SI_CODES["SI_KERNEL"]:
        try:
            return SiCode(code).name
        except ValueError:
            return str(code)
    return _CODE_NAMES_BY_VALUE.get(signo, {}).get(code, str(code))


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
    def code(self) -> Union[SiCode, int]:
        """si_code as a SiCode member where it is one of the shared codes."""
        try:
            return SiCode(self.si_code)
        except ValueError:
            return self.si_code

    @property
    def si_int(self) -> int:
        """si_value's sival_int view: the low 32 bits, signed."""
        low = self.si_value & 0xFFFFFFFF
        return low - (1 << 32) if low >= 1 << 31 else low

    @property
    def sender_is_kernel_verified(self) -> bool:
        """True when the kernel, not the sender, filled si_pid and si_uid.

        SI_USER (kill) and SI_TKILL (tgkill) senders cannot lie about who they
        are; SI_QUEUE senders write si_pid/si_uid themselves (rt_sigqueueinfo).
        """
        if self.si_code in _KERNEL_SENDER_CODES:
            return True
        return self.si_signo == signal.SIGCHLD and self.si_code > 0

    def __repr__(self) -> str:
        parts = [signame(self.si_signo), code_name(self.si_signo, self.si_code)]
        if self.si_pid or self.si_uid:
            parts.append(f"from pid {self.si_pid} uid {self.si_uid}")
        if self.si_signo == signal.SIGCHLD and self.si_code > 0:
            parts.append(f"status={self.si_status}")
        if self.si_value:
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


_make = tuple.__new__


def from_batch(batch: _core.Batch, n: int) -> list[SigInfo]:
    """The first n records of a batch as SigInfo, unpacked in one pass."""
    return [_make(SigInfo, record) for record in batch.records(n)]


def first(batch: _core.Batch) -> Optional[SigInfo]:
    return from_batch(batch, 1)[0]
