"""Signal numbers, names and sets: everything that turns user input into ints.

A signal may be given as an int, a ``signal.Signals`` member, or a name as
kill(1) takes it: "SIGUSR1", "USR1", "usr1", "SIGRTMIN+3", "RTMAX-1", "10".
SIGRTMIN and SIGRTMAX are read from the C library at run time (glibc reserves
two real-time signals for itself, musl three), never hard-coded.
"""

from __future__ import annotations

import re
import signal
from typing import Iterable, Optional, Set, Union

from . import _core

SIGRTMIN = _core.SIGRTMIN
SIGRTMAX = _core.SIGRTMAX

SignalLike = Union[int, str, signal.Signals]
SignalSet = Union[SignalLike, Iterable[SignalLike]]

_STANDARD = range(1, 32)
_REALTIME = range(SIGRTMIN, SIGRTMAX + 1) if SIGRTMIN else range(0)
VALID = frozenset(_STANDARD) | frozenset(_REALTIME)
UNCATCHABLE = frozenset({signal.SIGKILL, signal.SIGSTOP})

_RT_NAME = re.compile(r"^(?:SIG)?RT(MIN|MAX)(?:([+-])(\d+))?$")


def _by_name(name: str) -> int:
    upper = name.strip().upper()
    if upper.isdigit():
        return int(upper)
    match = _RT_NAME.match(upper)
    if match:
        base, op, offset = match.groups()
        if not _REALTIME:
            raise ValueError(f"invalid signal {name!r}: no real-time signals here")
        start = SIGRTMIN if base == "MIN" else SIGRTMAX
        n = int(offset or 0) * (-1 if op == "-" else 1)
        sig = start + n
        if sig not in _REALTIME:
            raise ValueError(
                f"invalid signal {name!r}: outside SIGRTMIN..SIGRTMAX ({SIGRTMIN}..{SIGRTMAX})"
            )
        return sig
    member = signal.Signals.__members__.get(upper if upper.startswith("SIG") else "SIG" + upper)
    if member is None:
        raise ValueError(f"invalid signal {name!r}: unknown signal name")
    return int(member)


def signum(sig: SignalLike) -> int:
    """The number of a signal given as int, Signals or name; ValueError if invalid."""
    if isinstance(sig, str):
        number = _by_name(sig)
    elif isinstance(sig, int) and not isinstance(sig, bool):
        number = int(sig)
    else:
        raise TypeError(f"a signal must be an int, a signal.Signals or a name, not {type(sig).__name__}")
    if number not in VALID:
        raise ValueError(
            f"invalid signal {sig!r}: valid signals are 1..31 and "
            f"SIGRTMIN..SIGRTMAX ({SIGRTMIN}..{SIGRTMAX})"
        )
    return number


def catchable(sig: SignalLike, action: str) -> int:
    """signum(), refusing SIGKILL and SIGSTOP, which no process can catch or block."""
    number = signum(sig)
    if number in UNCATCHABLE:
        raise ValueError(f"cannot {action} {signame(number)}: the kernel never lets it be caught or blocked")
    return number


def rt(n: int) -> int:
    """SIGRTMIN + n, checked against SIGRTMAX."""
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"rt() takes an int offset, not {type(n).__name__}")
    if not 0 <= n <= SIGRTMAX - SIGRTMIN:
        raise ValueError(f"rt({n}): offset must be in 0..{SIGRTMAX - SIGRTMIN} (SIGRTMIN..SIGRTMAX)")
    return SIGRTMIN + n


def signame(sig: int) -> str:
    """The name of a signal number: 'SIGUSR1', 'SIGRTMIN+3', 'SIGRTMAX'."""
    if sig in _REALTIME:
        if sig == SIGRTMAX:
            return "SIGRTMAX"
        return "SIGRTMIN" if sig == SIGRTMIN else f"SIGRTMIN+{sig - SIGRTMIN}"
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def as_signal(sig: int) -> Union[signal.Signals, int]:
    """What the stdlib returns for a signal number: a Signals member where one exists."""
    try:
        return signal.Signals(sig)
    except ValueError:
        return sig


def mask_of(sigs: SignalSet, *, allow_uncatchable: bool = True) -> int:
    """A 64-bit mask from one signal or an iterable of them."""
    if isinstance(sigs, (str, int)):
        sigs = (sigs,)
    try:
        items = iter(sigs)
    except TypeError:
        raise TypeError(f"expected a signal or an iterable of signals, not {type(sigs).__name__}") from None
    mask = 0
    for item in items:
        number = signum(item) if allow_uncatchable else catchable(item, "wait for")
        mask |= 1 << (number - 1)
    return mask


def set_of(mask: int) -> Set[Union[signal.Signals, int]]:
    """The stdlib's view of a mask: a set of Signals members (ints for unnamed ones)."""
    return {as_signal(sig) for sig in range(1, _core.NSIG) if mask >> (sig - 1) & 1}


def valid_signals() -> Set[Union[signal.Signals, int]]:
    """Every valid signal number, as signal.valid_signals() reports them."""
    return {as_signal(sig) for sig in sorted(VALID)}


def strsignal(sig: SignalLike) -> Optional[str]:
    """The C library's description of a signal, like signal.strsignal()."""
    return _core.strsignal(signum(sig))


