"""Dispositions: what the kernel does with a signal, and changing or restoring it.

Two views of one signal's disposition live in a CPython process. The kernel's
is the struct sigaction that decides what happens on delivery; CPython's is the
table ``signal.getsignal()`` reads, which ``signal.signal()`` writes together
with the kernel's. A handler that C code installed (a library, faulthandler,
fastsig's own) changes only the kernel's view: ``signal.getsignal()`` keeps
what CPython last set (SIG_DFL, or a Python function that no longer runs), or
says None for a handler already there when CPython started. ``getaction()``
reads the kernel's view, and says whose handler it is.

CPython's own handler is a static C function with no name to look up. A
kernel handler is a candidate when ``signal.getsignal()`` returns a Python
callable for its signal, it lies in the loaded object that holds CPython's C
API (the python executable or libpython; dladdr() tells), and it takes no
siginfo and does not set SA_NODEFER, as CPython's handler never does. Other
handlers inside CPython can pass that (``faulthandler.register()``), but all
of CPython's signals share one handler: so the candidate address that most
signals share is CPython's (on a tie, the lowest signal's, usually SIGINT's),
and a handler there is kind "python". Any other handler is kind "c", with its
address.

``ignore()``, ``default()`` and ``saved_actions()`` keep CPython's view in step
when they run in the main thread, the only one that may call
``signal.signal()``.
"""

from __future__ import annotations

import collections
import contextlib
import signal
import threading
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Counter, FrozenSet, Iterator, List, Optional, Tuple, Union

from . import _core
from ._names import UNCATCHABLE, VALID, SignalLike, SignalSet, as_signal, catchable_list, signame, signum

SA_NOCLDSTOP = _core.SA_NOCLDSTOP
SA_NOCLDWAIT = _core.SA_NOCLDWAIT
SA_NODEFER = _core.SA_NODEFER
SA_ONSTACK = _core.SA_ONSTACK
SA_RESTART = _core.SA_RESTART

_FLAG_NAMES = (
    ("SA_NOCLDSTOP", _core.SA_NOCLDSTOP), ("SA_NOCLDWAIT", _core.SA_NOCLDWAIT),
    ("SA_SIGINFO", _core.SA_SIGINFO), ("SA_ONSTACK", _core.SA_ONSTACK),
    ("SA_RESTART", _core.SA_RESTART), ("SA_NODEFER", _core.SA_NODEFER),
    ("SA_RESETHAND", _core.SA_RESETHAND),
)

# What signal.getsignal() returns: a callable, SIG_DFL, SIG_IGN or None.
PythonHandler = Union[Callable[[int, Any], Any], int, signal.Handlers, None]


@dataclass(frozen=True)
class Action:
    """A signal's current action, as the kernel has it.

    ``kind`` is "default" (SIG_DFL), "ignore" (SIG_IGN), "fastsig" (a
    Listener's handler), "python" (CPython's handler, running ``handler``, the
    callable ``signal.getsignal()`` returns) or "c" (any other handler).
    ``address`` is the kernel's handler address (0 for "default" and
    "ignore"); ``flags`` the SA_* flags POSIX names; ``mask`` the signals
    blocked while the handler runs.
    """

    sig: int
    kind: str
    flags: int
    mask: FrozenSet[Union[signal.Signals, int]]
    handler: Optional[Callable[[int, Any], Any]] = None
    address: int = 0

    def __repr__(self) -> str:
        parts = [signame(self.sig), repr(self.kind)]
        if self.handler is not None:
            parts.append(f"handler={self.handler!r}")
        if self.address:
            parts.append(f"address={self.address:#x}")
        if self.flags:
            parts.append("flags=" + "|".join(name for name, bit in _FLAG_NAMES if self.flags & bit))
        if self.mask:
            parts.append("mask={" + ", ".join(signame(int(s)) for s in sorted(self.mask)) + "}")
        return f"Action({', '.join(parts)})"


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _candidate(sig: int, kernel: _core.KernelAction) -> bool:
    """Whether sig's kernel handler may be CPython's (see the module's docs)."""
    kind, flags, address, _ = kernel
    return (kind == "c" and not flags & (_core.SA_SIGINFO | _core.SA_NODEFER)
            and callable(signal.getsignal(sig)) and _core.in_python_image(address))


def _cpython_handler() -> int:
    """The candidate handler address most signals share, ties to the lowest."""
    votes: Counter[int] = collections.Counter()
    for sig in sorted(VALID - UNCATCHABLE):
        kernel = _core.getaction(sig)
        if _candidate(sig, kernel):
            votes[kernel[2]] += 1
    return max(votes, key=votes.__getitem__, default=0)


def _action(sig: int, kernel: _core.KernelAction) -> Action:
    kind, flags, address, mask = kernel
    view = signal.getsignal(sig)
    handler = None
    if callable(view) and _candidate(sig, kernel) and address == _cpython_handler():
        kind, handler = "python", view
    members = frozenset(as_signal(s) for s in range(1, _core.NSIG) if mask >> (s - 1) & 1)
    return Action(sig, kind, flags, members, handler, address)


def getaction(sig: SignalLike) -> Action:
    """The action the kernel takes for sig now (see Action).

    Unlike ``signal.getsignal()``, it sees handlers that C code installed.
    SIGKILL and SIGSTOP always read "default".
    """
    number = signum(sig)
    return _action(number, _core.getaction(number))


def default_action(sig: SignalLike) -> str:
    """What SIG_DFL does with sig: "terminate", "core" (terminate, dumping
    core where RLIMIT_CORE allows), "stop", "continue" or "ignore"."""
    return _core.default_action(signum(sig))


def _set(sigs: SignalSet, ignore: bool) -> None:
    numbers = catchable_list(sigs, "ignore" if ignore else "reset")
    view = signal.SIG_IGN if ignore else signal.SIG_DFL
    main = _in_main_thread()
    for sig in numbers:
        if main:
            signal.signal(sig, view)
        # Also from the main thread: signal.signal() adds SA_ONSTACK, and the
        # kernel's action should not depend on the calling thread.
        _core.set_disposition(sig, ignore)


def ignore(sigs: SignalSet) -> None:
    """Make the kernel discard sigs (SIG_IGN): one signal or an iterable.

    From the main thread CPython's view follows (``signal.getsignal()``
    returns SIG_IGN). From another thread only the kernel's action changes,
    since only the main thread may call ``signal.signal()``: CPython keeps its
    old view until the main thread sets one. A Listener's handler replaced so
    stops receiving those signals (``Listener.replaced()`` names them).
    Every signal is checked before any changes; SIGKILL and SIGSTOP are a
    ValueError.
    """
    _set(sigs, ignore=True)


def default(sigs: SignalSet) -> None:
    """Give sigs their default action back (SIG_DFL): see default_action().

    The same rules as ignore(): CPython's view follows from the main thread
    only, and every signal is checked before any changes.
    """
    _set(sigs, ignore=False)


# One signal's disposition as saved_actions() keeps it.
_Saved = Tuple[int, bytes, PythonHandler]


def _restore(saved: List[_Saved]) -> None:
    main = _in_main_thread()
    failure: Optional[Exception] = None
    for sig, kernel, view in saved:
        try:
            view_changed = signal.getsignal(sig) is not view
            now = _core.save_action(sig)
            if not view_changed and _core.decode_action(now) == _core.decode_action(kernel):
                continue
            if view_changed and main:
                # None is CPython's word for a handler it did not install, and
                # signal.signal() cannot write it; SIG_DFL is the view that
                # makes CPython leave the kernel's action alone at exit.
                signal.signal(sig, signal.SIG_DFL if view is None else view)
            _core.restore_action(sig, kernel)
        except (OSError, ValueError) as exc:  # keep restoring the others, then report
            failure = failure or exc
    if failure is not None:
        raise failure


def saved_actions(sigs: Optional[SignalSet] = None) -> ContextManager[None]:
    """Restore, on exit, every disposition of sigs changed inside the block.

    ``sigs`` is one signal or an iterable; None means every signal a process
    may change (all but SIGKILL and SIGSTOP). On entry each signal's exact
    struct sigaction is saved, with CPython's view (``signal.getsignal()``).
    On exit, an exception included, each signal whose kernel action or
    CPython view changed gets CPython's view back first (``signal.signal()``,
    main thread only), then the kernel's exact action, handler address, flags
    and mask alike. Where CPython's view was None (a handler already there
    when CPython started) it reads SIG_DFL afterwards, if it changed:
    ``signal.signal()`` cannot write None.

    A Listener opened inside the block should be closed inside it: the exit
    puts the earlier action back under it.
    """
    numbers = sorted(VALID - UNCATCHABLE) if sigs is None else catchable_list(sigs, "save the action of")
    return _saving(numbers)


@contextlib.contextmanager
def _saving(numbers: List[int]) -> Iterator[None]:
    saved = [(sig, _core.save_action(sig), signal.getsignal(sig)) for sig in numbers]
    try:
        yield
    finally:
        _restore(saved)


def emulate_default(sig: SignalLike) -> None:
    """Carry out sig's default action now, whatever its disposition is.

    From any thread: "terminate" and "core" end the process with sig as its
    status (the kernel's own death by that signal, core file included where
    RLIMIT_CORE allows; nothing is flushed, as with the real signal), "stop"
    stops the process with SIGSTOP until a SIGCONT and returns, "continue"
    and "ignore" return at once. To end the process, sig's disposition is
    reset to SIG_DFL and sig unblocked in the calling thread first; should the
    process survive that (a tracer), it exits with status 128 + sig.
    """
    _core.emulate_default(signum(sig))
