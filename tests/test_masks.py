"""Masks: pthread_sigmask, sigprocmask, sigpending, blocked(). Every test
changes its process's mask, so each runs in a forked child."""

from __future__ import annotations

import errno
import os
import signal
import threading
import warnings

import pytest

import fastsig
from support import RT2, in_child

USR1, USR2 = signal.SIGUSR1, signal.SIGUSR2


def current_mask() -> set:  # type: ignore[type-arg]
    return fastsig.pthread_sigmask(fastsig.SIG_BLOCK, [])


@in_child(timeout=20)
def test_a_blocked_signal_stays_pending_until_taken() -> None:
    with fastsig.blocked({"USR1", RT2}):
        os.kill(os.getpid(), USR1)  # would end the process if not blocked
        fastsig.sigqueue(os.getpid(), RT2, 11)
        assert fastsig.sigpending() == {USR1, RT2}
        assert fastsig.sigwaitinfo({USR1}).si_signo == USR1
        assert fastsig.sigpending() == {RT2}
        assert fastsig.sigwaitinfo({RT2}).si_value == 11
        assert fastsig.sigpending() == set()


@in_child(timeout=20)
def test_blocked_restores_the_previous_mask_exactly_even_on_an_exception() -> None:
    fastsig.pthread_sigmask(fastsig.SIG_SETMASK, {USR2})
    before = current_mask()
    with pytest.raises(RuntimeError, match="boom"), fastsig.blocked(["USR1", USR2, RT2]):
        assert current_mask() == {USR1, USR2, RT2}
        raise RuntimeError("boom")
    assert current_mask() == before == {USR2}
    with fastsig.blocked(USR1):  # one signal, not a set
        assert USR1 in current_mask()
    assert current_mask() == {USR2}


@in_child(timeout=20)
def test_pthread_sigmask_returns_the_old_mask_as_the_stdlib_does() -> None:
    assert fastsig.pthread_sigmask(fastsig.SIG_SETMASK, {USR1, "SIGRTMIN+2"}) == set()
    old = fastsig.pthread_sigmask(fastsig.SIG_BLOCK, {USR2})
    stdlib = signal.pthread_sigmask(signal.SIG_BLOCK, []) - {USR2}
    assert old == stdlib == {USR1, RT2}
    # Signals members where one exists (SIGUSR1), plain ints elsewhere (SIGRTMIN+2).
    assert sorted((s, type(s)) for s in old) == sorted((s, type(s)) for s in stdlib)
    assert fastsig.pthread_sigmask(fastsig.SIG_UNBLOCK, [USR1]) == {USR1, USR2, RT2}
    assert current_mask() == {USR2, RT2}
    assert fastsig.sigprocmask(fastsig.SIG_SETMASK, []) == {USR2, RT2}
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == set()


@in_child(timeout=20)
def test_blocking_everything_leaves_sigkill_and_sigstop_alone() -> None:
    fastsig.pthread_sigmask(fastsig.SIG_BLOCK, fastsig.valid_signals())
    mask = current_mask()
    assert signal.SIGKILL not in mask and signal.SIGSTOP not in mask
    assert mask == signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP}
    # The stdlib's idiom: reserved numbers (32, 33 on glibc) are skipped with a warning.
    fastsig.pthread_sigmask(fastsig.SIG_SETMASK, [])
    with pytest.warns(RuntimeWarning, match="valid_signals"):
        fastsig.pthread_sigmask(fastsig.SIG_BLOCK, range(1, signal.NSIG))
    assert current_mask() == mask


@in_child(timeout=20)
def test_bad_masks_fail_before_the_mask_changes() -> None:
    fastsig.pthread_sigmask(fastsig.SIG_SETMASK, {USR2})
    for how in (99, -1):
        with pytest.raises(OSError) as info:
            fastsig.pthread_sigmask(how, {USR1})
        assert info.value.errno == errno.EINVAL and "pthread_sigmask" in str(info.value)
    for mask, exc in [({0}, ValueError), ({65}, ValueError), ({-3}, ValueError),
                      ({"NOPE"}, ValueError), ({1.0}, TypeError), (3.5, TypeError),
                      ([USR1, None], TypeError)]:
        with pytest.raises(exc):
            fastsig.pthread_sigmask(fastsig.SIG_BLOCK, mask)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fastsig.sigprocmask("SIG_BLOCK", {USR1})  # type: ignore[arg-type]
    assert current_mask() == {USR2}  # USR1 was first in some of those sets


@in_child(timeout=20)
def test_masks_are_per_thread() -> None:
    seen = {}

    def other() -> None:
        seen["start"] = current_mask()
        fastsig.pthread_sigmask(fastsig.SIG_BLOCK, {USR2})
        seen["end"] = current_mask()

    with fastsig.blocked({USR1}):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join(10)
        assert current_mask() == {USR1}  # the thread's change stayed there
    assert seen == {"start": {USR1}, "end": {USR1, USR2}}  # inherited at creation


@in_child(timeout=20)
def test_sigpending_sees_process_and_thread_directed_signals() -> None:
    with fastsig.blocked({USR1, USR2}), warnings.catch_warnings():
        warnings.simplefilter("error")
        fastsig.kill(os.getpid(), USR1)  # process-directed
        fastsig.pthread_kill(threading.get_ident(), USR2)  # to this thread
        assert fastsig.sigpending() == {USR1, USR2} == signal.sigpending()
        assert {fastsig.sigwait({USR1, USR2}), fastsig.sigwait({USR1, USR2})} == {USR1, USR2}
