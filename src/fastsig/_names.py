"""Signal numbers, names and sets: everything that turns user input into ints.

A signal may be given as an int, a ``signal.Signals`` member, or a name as
kill(1) takes it: "SIGUSR1", "USR1", "usr1", "SIGRTMIN+3", "RTMAX-1", "10".
SIGRTMIN and SIGRTMAX are read from the C library at run time (glibc reserves
two real-time signals for itself, musl three), never hard-coded.
"""

from __future__ import annotations

import operator
import re
import signal
import warnings
from typing import Dict, Iterable, Iterator, List, Optional, Set, Union

from . import _core

SIGRTMIN = _core.SIGRTMIN
SIGRTMAX = _core.SIGRTMAX

SignalLike = Union[int, str, signal.Signals]
SignalSet = Union[SignalLike, Iterable[SignalLike]]

_STANDARD = range(1, 32)
_REALTIME = range(SIGRTMIN, SIGRTMAX + 1) if SIGRTMIN else range(0)
VALID = frozenset(_STANDARD) | frozenset(_REALTIME)
UNCATCHABLE = frozenset({int(signal.SIGKILL), int(signal.SIGSTOP)})
# Numbers a sigset_t can hold but the C library keeps for itself (32, 33 on
# glibc): the stdlib accepts them in a set with a RuntimeWarning and skips them.
_RESERVED = frozenset(range(1, _core.NSIG)) - VALID

_BIT = {sig: 1 << (sig - 1) for sig in VALID}
_CATCHABLE_BIT = {sig: bit for sig, bit in _BIT.items() if sig not in UNCATCHABLE}
_AS_SIGNAL: dict[int, Union[signal.Signals, int]] = {
    member.value: member for member in signal.Signals  # canonical members, no aliases
}

_RT_NAME = re.compile(r"^(?:SIG)?RT(MIN|MAX)(?:([+-])(\d+))?$")


# Names already parsed (well-formed ones only), also read by the C sigqueue
# fast path. Bounded: a program uses a handful of names, not thousands.
NAME_CACHE: Dict[str, int] = {}
_NAME_CACHE_MAX = 512


def _by_name(name: str) -> int:
    number = NAME_CACHE.get(name)
    if number is None:
        number = _parse_name(name)
        if len(NAME_CACHE) < _NAME_CACHE_MAX:
            NAME_CACHE[name] = number
    return number


def _parse_name(name: str) -> int:
    upper = name.strip().upper()
    if upper.isdigit():
        return int(upper)
    match = _RT_NAME.match(upper)
    if match:
        base, op, offset = match.groups()
        if not _REALTIME:
            raise ValueError(f"invalid signal {name!r}: no real-time signals here")
        start = SIGRTMIN if base == "MIN" else SIGRTMAX
        sig = start + int(offset or 0) * (-1 if op == "-" else 1)
        if sig not in _REALTIME:
            raise ValueError(
                f"invalid signal {name!r}: outside SIGRTMIN..SIGRTMAX ({SIGRTMIN}..{SIGRTMAX})"
            )
        return sig
    member = signal.Signals.__members__.get(upper if upper.startswith("SIG") else "SIG" + upper)
    if member is None:
        raise ValueError(f"invalid signal {name!r}: unknown signal name")
    return int(member)


def _number(sig: object) -> int:
    """An int from a name, an int or an __index__ object; no range check."""
    if isinstance(sig, str):
        return _by_name(sig)
    if not isinstance(sig, bool):
        try:
            return operator.index(sig)  # type: ignore[arg-type]
        except TypeError:
            pass
    raise TypeError(
        f"a signal must be an int, a signal.Signals or a name, not {type(sig).__name__}"
    )


def signum(sig: SignalLike) -> int:
    """The number of a signal given as int, Signals or name; ValueError if invalid."""
    if type(sig) is int and sig in VALID:  # the common case, checked once
        return sig
    number = _number(sig)
    if number not in VALID:
        raise ValueError(
            f"invalid signal {sig!r}: valid signals are 1..31 and "
            f"SIGRTMIN..SIGRTMAX ({SIGRTMIN}..{SIGRTMAX})"
        )
    return number


def signum_or_probe(sig: SignalLike) -> int:
    """signum(), also accepting the int 0 (kill(2)'s "may I signal it?" probe)."""
    return 0 if type(sig) is int and sig == 0 else signum(sig)


def catchable(sig: SignalLike, action: str) -> int:
    """signum(), refusing SIGKILL and SIGSTOP, which no process can catch or block."""
    number = signum(sig)
    if number in UNCATCHABLE:
        raise ValueError(
            f"cannot {action} {signame(number)}: the kernel never lets it be caught or blocked"
        )
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
    return _AS_SIGNAL.get(sig, sig)


def _items(sigs: SignalSet) -> Iterator[SignalLike]:
    """One signal or an iterable of them, as an iterator."""
    if isinstance(sigs, (str, int)):
        return iter((sigs,))
    try:
        return iter(sigs)
    except TypeError:
        raise TypeError(
            f"expected a signal or an iterable of signals, not {type(sigs).__name__}"
        ) from None


def catchable_list(sigs: SignalSet, action: str) -> List[int]:
    """The numbers of one signal or an iterable of them, sorted, each once;
    SIGKILL and SIGSTOP refused as catchable() does."""
    return sorted({catchable(sig, action) for sig in _items(sigs)})


def mask_of(sigs: SignalSet, *, allow_uncatchable: bool = True) -> int:
    """A 64-bit mask from one signal or an iterable of them.

    As in the stdlib, a number the C library reserves for itself (32, 33 on
    glibc) is skipped with a RuntimeWarning, so ``range(1, NSIG)`` still works.
    """
    items = _items(sigs)
    bits = _BIT if allow_uncatchable else _CATCHABLE_BIT
    mask = 0
    for item in items:
        # Ints and Signals members by one lookup; float and bool hash like ints,
        # so the type is checked first.
        if isinstance(item, int) and type(item) is not bool:
            bit = bits.get(item)
            if bit is not None:
                mask |= bit
                continue
        if type(item) is int and item in _RESERVED:
            warnings.warn(f"invalid signal number {item}, please use valid_signals()",
                          RuntimeWarning, stacklevel=3)
            continue
        number = signum(item) if allow_uncatchable else catchable(item, "wait for")
        mask |= 1 << (number - 1)
    return mask


def set_of(mask: int) -> Set[Union[signal.Signals, int]]:
    """The stdlib's view of a mask: a set of Signals members (ints for unnamed ones)."""
    return {as_signal(sig) for sig in range(1, _core.NSIG) if mask >> (sig - 1) & 1}


def valid_signals() -> Set[Union[signal.Signals, int]]:
    """Every valid signal number, as signal.valid_signals() reports them."""
    return {as_signal(sig) for sig in sorted(VALID)}


def strsignal(signalnum: SignalLike) -> Optional[str]:
    """The C library's description of a signal, like signal.strsignal(): None
    for a number it reserves (32, 33 on glibc) or cannot describe."""
    number = _number(signalnum)
    if number in _RESERVED:
        return None
    text = _core.strsignal(signum(number))
    return None if text is None or text.startswith("Unknown signal") else text
