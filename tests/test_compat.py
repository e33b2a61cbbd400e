"""Drop-in compatibility: the functions named like the stdlib ``signal`` module's
take the same arguments, raise the same exception types and return the same
types, compared side by side with the stdlib in the same process."""

from __future__ import annotations

import os
import signal
import threading
import warnings
from typing import Any, Callable, List, Tuple

import pytest

import fastsig
from support import RT1, in_child

USR1, USR2 = signal.SIGUSR1, signal.SIGUSR2
NAMES = ["pthread_sigmask", "sigpending", "sigwait", "sigwaitinfo", "sigtimedwait",
         "pthread_kill", "raise_signal", "valid_signals", "strsignal"]


def outcome(call: Callable[[], Any]) -> Tuple[str, Any]:
    """('ok', result type) or ('raises', exception type), RuntimeWarnings muted."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            return "ok", type(call())
        except Exception as exc:  # noqa: BLE001 - the type is what is compared
            return "raises", type(exc)


def same(name: str, *args: Any) -> None:
    ours = outcome(lambda: getattr(fastsig, name)(*args))
    theirs = outcome(lambda: getattr(signal, name)(*args))
    # OSError subclasses compare as the subclass the errno maps to.
    assert ours == theirs, f"{name}{args}: fastsig {ours} != signal {theirs}"


def test_every_shared_name_exists_with_the_same_parameters() -> None:
    import inspect

    for name in NAMES:
        ours = inspect.signature(getattr(fastsig, name))
        try:
            theirs = inspect.signature(getattr(signal, name))
        except ValueError:  # a builtin without a text signature
            continue
        assert [p.name for p in ours.parameters.values()] == [
            p.name for p in theirs.parameters.values()], name


def typed(sigs: Any) -> List[Tuple[int, type]]:
    return sorted((s, type(s)) for s in sigs)


@in_child(timeout=30)
def test_masks_and_pending_side_by_side() -> None:
    start = {USR2, RT1}
    masks: List[Callable[[], Any]] = [
        lambda: [], lambda: {USR1}, lambda: [USR1, USR2], lambda: (RT1,),
        lambda: range(1, signal.NSIG), signal.valid_signals, lambda: iter([USR2, USR1]),
    ]
    for how in (signal.SIG_BLOCK, signal.SIG_UNBLOCK, signal.SIG_SETMASK):
        for mask in masks:
            seen = []
            for module in (fastsig, signal):
                signal.pthread_sigmask(signal.SIG_SETMASK, start)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    old = module.pthread_sigmask(how, mask())
                seen.append((type(old), typed(old), typed(signal.pthread_sigmask(how, []))))
            assert seen[0] == seen[1], (how, mask())
    fastsig.pthread_sigmask(fastsig.SIG_SETMASK, {USR1})
    os.kill(os.getpid(), USR1)
    assert fastsig.sigpending() == signal.sigpending() == {USR1}
    assert type(next(iter(fastsig.sigpending()))) is signal.Signals
    for args in [(99, {USR1}), ("x", {USR1}), (signal.SIG_BLOCK, {0}), (signal.SIG_BLOCK, {65}),
                 (signal.SIG_BLOCK, {1.5}), (signal.SIG_BLOCK, 5.0), (signal.SIG_BLOCK,),
                 (signal.SIG_BLOCK, {32})]:
        same("pthread_sigmask", *args)
    same("sigpending")
    signal.sigwait({USR1})


@in_child(timeout=30)
def test_waits_side_by_side() -> None:
    me = os.getpid()
    fastsig.pthread_sigmask(fastsig.SIG_BLOCK, {USR1, RT1})
    results: List[Any] = []
    for wait in (signal.sigwait, fastsig.sigwait):
        os.kill(me, USR1)
        results.append(wait({USR1}))
    assert results[0] == results[1] == USR1 and type(results[0]) is type(results[1])
    infos: List[Any] = []
    for waitinfo in (signal.sigwaitinfo, fastsig.sigwaitinfo,
                     lambda s: signal.sigtimedwait(s, 5), lambda s: fastsig.sigtimedwait(s, 5)):
        os.kill(me, USR1)
        infos.append(waitinfo({USR1}))
    for stdlib_info, ours in ((infos[0], infos[1]), (infos[2], infos[3])):
        # The fields SI_USER defines match; si_band is a union member the stdlib
        # reads regardless of si_code (it shows the pid here), fastsig zeroes it.
        for field in ("si_signo", "si_code", "si_errno", "si_pid", "si_uid", "si_status"):
            assert getattr(ours, field) == getattr(stdlib_info, field), field
        assert tuple(ours)[:7] == (*tuple(stdlib_info)[:6], 0)
    assert signal.sigtimedwait({USR1}, 0) is None and fastsig.sigtimedwait({USR1}, 0) is None
    for args in [({USR1}, -1), ({USR1}, "1"), ({USR1}, None), ({USR1}, float("nan")),
                 ({0}, 0), ({65}, 0), ({1.5}, 0), (5.0, 0), (set(), 0), ({USR1}, 0)]:
        same("sigtimedwait", *args)
    for arg in [{0}, {65}, {1.5}, 5.0, None]:
        same("sigwait", arg)
        same("sigwaitinfo", arg)


@in_child(timeout=30)
def test_senders_side_by_side() -> None:
    fastsig.pthread_sigmask(fastsig.SIG_BLOCK, {USR1})
    me = threading.get_ident()
    for args in [(me, 0), (me, USR1), ("1", 0), (1.0, 0), (me,), (me, 1.5)]:
        same("pthread_kill", *args)
    for args in [(USR1,), (1.5,), ()]:
        same("raise_signal", *args)
    assert fastsig.sigpending() == {USR1}
    signal.sigwait({USR1})


def test_names_side_by_side() -> None:
    same("valid_signals")
    assert fastsig.valid_signals() == signal.valid_signals()
    for sig in [*range(-1, 67), USR1, 1.5]:
        same("strsignal", sig)
        if isinstance(sig, int) and 0 < sig < signal.NSIG:
            assert fastsig.strsignal(sig) == signal.strsignal(sig)


@in_child(timeout=30)
def test_documented_deviations_are_stricter_not_looser() -> None:
    """Where the stdlib hands an invalid signal to the kernel (and gets EINVAL)
    or accepts a wait that can never end, fastsig refuses before the call.
    It accepts more: names, and one signal where a set is expected."""
    me = threading.get_ident()
    with pytest.raises(TypeError):
        signal.sigtimedwait(USR1, 0)  # type: ignore[arg-type]
    assert fastsig.sigtimedwait(USR1, 0) is None
    assert fastsig.sigtimedwait("USR1", 0) is None
    with pytest.raises(OSError):
        signal.pthread_kill(me, 99)
    with pytest.raises(ValueError):
        fastsig.pthread_kill(me, 99)
    with pytest.raises(OSError):
        signal.raise_signal(99)
    with pytest.raises(ValueError):
        fastsig.raise_signal(99)
    assert signal.sigtimedwait({signal.SIGKILL}, 0) is None
    with pytest.raises(ValueError, match="SIGKILL"):
        fastsig.sigtimedwait({signal.SIGKILL}, 0)
    # Names are accepted wherever a signal is: an unknown one is a bad value.
    with pytest.raises(TypeError):
        signal.sigtimedwait({"NOPE"}, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NOPE"):
        fastsig.sigtimedwait({"NOPE"}, 0)
    # The stdlib segfaults on an id that is not a live thread; fastsig raises.
    with pytest.raises(ProcessLookupError):
        fastsig.pthread_kill(12345, 0)
