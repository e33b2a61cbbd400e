"""Dispositions: getaction(), ignore(), default(), saved_actions(),
emulate_default(), with real signals in forked children.

The foreign C handler these tests install is libc's getpid(): a valid handler
address (it takes an int it ignores, as a handler is called), async-signal-safe,
and harmless when a signal runs it, so a process that survives a signal sent
to it proves that handler is the live one. A ctypes callback would be no good:
it would run Python inside a signal handler.
"""

from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

import pytest

import fastsig
from fastsig import _core
from support import ROOT, RT1, RT2, exit_code, forked, in_child

_libc = ctypes.CDLL(None, use_errno=True)
GETPID = ctypes.cast(_libc.getpid, ctypes.c_void_p).value
CATCHABLE = sorted(set(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP})


class _SigAction(ctypes.Structure):
    # struct sigaction as glibc and musl lay it out on Linux.
    _fields_ = [("handler", ctypes.c_void_p),
                ("mask", ctypes.c_ulong * (128 // ctypes.sizeof(ctypes.c_ulong))),
                ("flags", ctypes.c_int), ("restorer", ctypes.c_void_p)]


needs_layout = pytest.mark.skipif(
    ctypes.sizeof(_SigAction) != _core.lib.fs_action_size(),
    reason="struct sigaction is laid out differently here",
)


def _install_c_handler(sig: int, flags: int, mask: Iterable[int]) -> None:
    """sigaction(sig) with libc's getpid as the handler, through libc itself."""
    action = _SigAction()
    action.handler = GETPID
    for other in mask:
        _libc.sigaddset(ctypes.byref(action, _SigAction.mask.offset), other)
    action.flags = flags
    if _libc.sigaction(sig, ctypes.byref(action), None) != 0:
        raise OSError(ctypes.get_errno(), "sigaction")


def _raw(sig: int) -> Tuple[Optional[int], int, int]:
    """The C library's own reading of sig's action: handler, flags (its own
    SA_RESTORER included), the mask's 64 bits (the rest is not the kernel's)."""
    action = _SigAction()
    if _libc.sigaction(sig, None, ctypes.byref(action)) != 0:
        raise OSError(ctypes.get_errno(), "sigaction")
    return action.handler, action.flags, ctypes.c_uint64.from_buffer(action.mask).value


def _survives(sig: int) -> None:
    """Send sig to this process: if the action were not a handler, we would die."""
    os.kill(os.getpid(), sig)


def _on_usr1(signum: int, frame: Any) -> None:
    pass


def _views() -> Dict[int, Any]:
    return {sig: (fastsig.getaction(sig), signal.getsignal(sig)) for sig in CATCHABLE}


# ---- getaction -------------------------------------------------------------

@needs_layout
@in_child()
def test_a_c_handler_is_kind_c_with_its_address_flags_and_mask() -> None:
    sig = signal.SIGUSR1
    _install_c_handler(sig, fastsig.SA_RESTART | fastsig.SA_ONSTACK, [signal.SIGUSR2, RT1])
    action = fastsig.getaction(sig)
    assert signal.getsignal(sig) is signal.SIG_DFL  # what the stdlib cannot see
    assert action.kind == "c"
    assert action.address == GETPID
    assert action.handler is None
    assert action.flags == fastsig.SA_RESTART | fastsig.SA_ONSTACK
    assert action.mask == {signal.SIGUSR2, RT1}
    assert "'c'" in repr(action) and "SA_RESTART" in repr(action) and "SIGUSR2" in repr(action)
    _survives(sig)


@in_child()
def test_python_handlers_are_kind_python_with_their_callable() -> None:
    signal.signal(signal.SIGUSR1, _on_usr1)
    action = fastsig.getaction("SIGUSR1")
    assert action.kind == "python" and action.handler is _on_usr1
    assert action.address and not action.flags & _core.SA_SIGINFO
    # CPython installs SIGINT's at start-up: the same handler, another callable.
    sigint = fastsig.getaction(signal.SIGINT)
    assert sigint.kind == "python" and sigint.handler is signal.getsignal(signal.SIGINT)
    assert sigint.address == action.address
    # siginterrupt() edits CPython's action in place: the flag shows.
    signal.siginterrupt(signal.SIGUSR1, False)
    assert fastsig.getaction(signal.SIGUSR1).flags & fastsig.SA_RESTART


@needs_layout
@in_child()
def test_a_c_handler_over_a_python_one_is_kind_c() -> None:
    # signal.getsignal() still names the Python function, which no longer runs.
    signal.signal(signal.SIGUSR1, _on_usr1)
    _install_c_handler(signal.SIGUSR1, 0, [])
    assert signal.getsignal(signal.SIGUSR1) is _on_usr1
    action = fastsig.getaction(signal.SIGUSR1)
    assert action.kind == "c" and action.address == GETPID and action.handler is None


@in_child()
def test_faulthandler_inside_cpython_is_kind_c() -> None:
    import faulthandler

    signal.signal(signal.SIGUSR1, _on_usr1)
    faulthandler.register(signal.SIGUSR1, chain=False)
    assert signal.getsignal(signal.SIGUSR1) is _on_usr1
    action = fastsig.getaction(signal.SIGUSR1)
    assert action.kind == "c", action
    assert _core.in_python_image(action.address)  # CPython's image, not its signal handler


@in_child()
def test_default_ignore_and_fastsig_kinds() -> None:
    assert fastsig.getaction(signal.SIGUSR2).kind == "default"
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    assert fastsig.getaction(signal.SIGUSR2).kind == "ignore"
    with fastsig.Listener([signal.SIGUSR2, RT2]):
        action = fastsig.getaction(RT2)
        assert action.kind == "fastsig" and action.address and action.handler is None
        assert action.flags & _core.SA_SIGINFO
    assert fastsig.getaction(RT2).kind == "default"
    assert fastsig.getaction(signal.SIGUSR2).kind == "ignore"
    # The uncatchable ones can be read: always the default.
    assert fastsig.getaction(signal.SIGKILL).kind == "default"


# ---- ignore and default ------------------------------------------------------

def _grandchild_raising(sig: int) -> int:
    """A process forked from here (inheriting its dispositions) sends itself
    sig, then exits 0: its exit status says what sig's action did."""
    return exit_code(forked(lambda: os.kill(os.getpid(), sig)))


@in_child()
def test_ignore_and_default_change_what_the_kernel_does() -> None:
    sig = signal.SIGUSR1
    signal.signal(sig, _on_usr1)
    fastsig.ignore(sig)
    assert signal.getsignal(sig) is signal.SIG_IGN
    assert fastsig.getaction(sig).kind == "ignore"
    assert _grandchild_raising(sig) == 0
    _survives(sig)
    fastsig.default([sig, "SIGUSR2"])
    assert signal.getsignal(sig) is signal.SIG_DFL
    assert fastsig.getaction(sig).kind == "default"
    assert _grandchild_raising(sig) == -sig
    assert _grandchild_raising(RT1) == -RT1


@in_child()
def test_from_another_thread_only_the_kernel_changes() -> None:
    sig = signal.SIGUSR1
    signal.signal(sig, _on_usr1)
    thread = threading.Thread(target=fastsig.ignore, args=(sig,))
    thread.start()
    thread.join()
    assert fastsig.getaction(sig).kind == "ignore"
    assert signal.getsignal(sig) is _on_usr1  # CPython's view is the main thread's
    assert _grandchild_raising(sig) == 0


@pytest.mark.parametrize("bad, error", [
    (0, ValueError), (65, ValueError), ("NOPE", ValueError), (1.5, TypeError),
    (None, TypeError), (signal.SIGKILL, ValueError), ("SIGSTOP", ValueError),
    ([signal.SIGUSR1, 0], ValueError), ([signal.SIGUSR1, signal.SIGKILL], ValueError),
])
@in_child()
def test_bad_input_changes_nothing(bad: Any, error: type) -> None:
    signal.signal(signal.SIGUSR1, _on_usr1)
    before = _views()
    for change in (fastsig.ignore, fastsig.default, fastsig.saved_actions):
        if bad is None and change is fastsig.saved_actions:
            continue  # saved_actions(None): every signal
        with pytest.raises(error):
            change(bad)
    assert _views() == before


@pytest.mark.parametrize("bad, error", [
    (0, ValueError), (65, ValueError), (-1, ValueError), ("NOPE", ValueError),
    (2.0, TypeError), (True, TypeError),
])
def test_bad_signals_are_refused_by_getaction_and_emulate_default(bad: Any, error: type) -> None:
    for call in (fastsig.getaction, fastsig.emulate_default, fastsig.default_action):
        with pytest.raises(error):
            call(bad)


# ---- saved_actions ---------------------------------------------------------------

class _Boom(Exception):
    pass


@needs_layout
@pytest.mark.parametrize("raises", [False, True], ids=["exit", "exception"])
@in_child()
def test_saved_actions_restores_a_c_handler_exactly(raises: bool) -> None:
    sig = signal.SIGUSR1
    _install_c_handler(sig, fastsig.SA_RESTART | fastsig.SA_NODEFER, [signal.SIGUSR2, RT1])
    raw, action = _raw(sig), fastsig.getaction(sig)
    try:
        with fastsig.saved_actions(sig):
            signal.signal(sig, _on_usr1)
            fastsig.ignore(sig)
            assert _raw(sig) != raw
            if raises:
                raise _Boom
    except _Boom:
        assert raises
    assert _raw(sig) == raw  # the C library's reading
    assert fastsig.getaction(sig) == action
    assert signal.getsignal(sig) is signal.SIG_DFL  # CPython's view as it was
    _survives(sig)


def test_saved_actions_with_a_handler_from_before_cpython_started() -> None:
    # python -X faulthandler installs faulthandler's SIGSEGV handler before the
    # signal module starts: CPython's view of it is None, which signal.signal()
    # cannot write back; SIG_DFL is what it reads after, the kernel's exact.
    code = """if 1:
        import signal, fastsig
        before = fastsig.getaction(signal.SIGSEGV)
        assert before.kind == "c" and signal.getsignal(signal.SIGSEGV) is None, before
        with fastsig.saved_actions(signal.SIGSEGV):
            signal.signal(signal.SIGSEGV, print)
            assert fastsig.getaction(signal.SIGSEGV).kind == "python"
        assert fastsig.getaction(signal.SIGSEGV) == before
        assert signal.getsignal(signal.SIGSEGV) is signal.SIG_DFL
        with fastsig.saved_actions(signal.SIGSEGV):
            fastsig.ignore(signal.SIGSEGV)
        assert fastsig.getaction(signal.SIGSEGV) == before
    """
    proc = subprocess.run([sys.executable, "-X", "faulthandler", "-c", code],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


@in_child()
def test_saved_actions_restores_every_signal_both_views() -> None:
    signal.signal(signal.SIGUSR1, _on_usr1)
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    before = _views()
    with pytest.raises(_Boom), fastsig.saved_actions():
        fastsig.ignore(CATCHABLE)
        signal.signal(signal.SIGTERM, _on_usr1)
        fastsig.default(signal.SIGUSR2)
        with fastsig.Listener(RT1):
            raise _Boom
    assert _views() == before
    _survives(signal.SIGUSR1)


@in_child()
def test_saved_actions_leaves_what_it_does_not_cover() -> None:
    with fastsig.saved_actions([signal.SIGUSR1]):
        fastsig.ignore([signal.SIGUSR1, signal.SIGUSR2])
    assert fastsig.getaction(signal.SIGUSR1).kind == "default"
    assert fastsig.getaction(signal.SIGUSR2).kind == "ignore"


@in_child()
def test_saved_actions_from_another_thread_restores_the_kernel() -> None:
    sig = signal.SIGUSR1
    signal.signal(sig, _on_usr1)
    action = fastsig.getaction(sig)

    def body() -> None:
        with fastsig.saved_actions(sig):
            fastsig.ignore(sig)
            assert fastsig.getaction(sig).kind == "ignore"

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert fastsig.getaction(sig) == action


# ---- emulate_default -------------------------------------------------------------

def _emulating(sig: int, *, handled: bool = False, blocked: bool = False,
               thread: bool = False) -> Callable[[], None]:
    """A forked body that emulates sig's default action, then returns (exit 0).
    handled/blocked: sig has a Python handler / is blocked first; thread: the
    call is made from a second thread."""

    def body() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core files
        if handled and sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, _on_usr1)
        if blocked:
            signal.pthread_sigmask(signal.SIG_BLOCK, [sig])
        if thread:
            worker = threading.Thread(target=fastsig.emulate_default, args=(sig,))
            worker.start()
            worker.join()
        else:
            fastsig.emulate_default(sig)

    return body


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGQUIT, signal.SIGINT, signal.SIGKILL,
                                 signal.SIGSEGV, RT1], ids=fastsig.signame)
def test_emulate_default_ends_the_process_with_the_signal(sig: int) -> None:
    assert exit_code(forked(_emulating(sig))) == -sig
    # The same through a handler of its own, blocked, from another thread.
    assert exit_code(forked(_emulating(sig, handled=True, blocked=True, thread=True))) == -sig


@pytest.mark.parametrize("sig", [signal.SIGCHLD, signal.SIGCONT, signal.SIGWINCH, signal.SIGURG],
                         ids=fastsig.signame)
def test_emulate_default_of_an_ignored_by_default_signal_does_nothing(sig: int) -> None:
    assert exit_code(forked(_emulating(sig))) == 0
    assert exit_code(forked(_emulating(sig, thread=True))) == 0


def _stops_then_continues(pid: int) -> bool:
    """Whether pid stops (as seen by waitpid WUNTRACED); SIGCONT it either way."""
    _, status = os.waitpid(pid, os.WUNTRACED)
    if not os.WIFSTOPPED(status):  # it ended instead: put the status back for exit_code
        raise AssertionError(f"did not stop: exit status {os.waitstatus_to_exitcode(status)}")
    assert os.WSTOPSIG(status) == signal.SIGSTOP
    os.kill(pid, signal.SIGCONT)
    return True


@pytest.mark.parametrize("sig", [signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU],
                         ids=fastsig.signame)
@pytest.mark.timeout(60)
def test_emulate_default_stops_then_continues(sig: int) -> None:
    for thread in (False, True):
        pid = forked(_emulating(sig, handled=True, thread=thread))
        assert _stops_then_continues(pid)
        assert exit_code(pid) == 0  # continued, then returned


def _outcome(pid: int) -> str:
    """How a forked process that may stop ends: "stop", or its exit code."""
    _, status = os.waitpid(pid, os.WUNTRACED)
    if os.WIFSTOPPED(status):
        os.kill(pid, signal.SIGCONT)
        return f"stop, then {exit_code(pid)}"
    return str(os.waitstatus_to_exitcode(status))


def _raising_with_default(sig: int) -> Callable[[], None]:
    def body() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        # A process group of its own with a parent outside it is not orphaned:
        # the kernel stops it for SIGTSTP, SIGTTIN and SIGTTOU too.
        os.setpgid(0, 0)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            fastsig.default(sig)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        signal.raise_signal(sig)

    return body


@pytest.mark.timeout(300)
@in_child(timeout=240)
def test_the_table_of_default_actions_is_the_kernels() -> None:
    """For every signal: the kernel's own SIG_DFL and emulate_default() (past a
    handler) end the same way, and default_action() names that way."""
    expected = {"terminate": "-{}", "core": "-{}", "ignore": "0", "continue": "0",
                "stop": "stop, then 0"}
    for sig in sorted(signal.valid_signals()):
        kernel = _outcome(forked(_raising_with_default(sig)))
        emulated = _outcome(forked(_emulating(sig, handled=True)))
        name = fastsig.default_action(sig)
        assert kernel == emulated == expected[name].format(sig), (fastsig.signame(sig), name)


def test_the_flags_are_the_c_librarys() -> None:
    flags = [fastsig.SA_NOCLDSTOP, fastsig.SA_NOCLDWAIT, fastsig.SA_NODEFER,
             fastsig.SA_ONSTACK, fastsig.SA_RESTART]
    assert all(flag and flag & (flag - 1) == 0 for flag in flags)
    assert len(set(flags)) == len(flags)
    assert fastsig.SA_NOCLDSTOP == 1 and fastsig.SA_NOCLDWAIT == 2  # the same on every Linux


@pytest.mark.skipif(not (shutil.which("make") and (shutil.which("cc") or shutil.which("gcc"))),
                    reason="needs make and a C compiler")
@pytest.mark.skipif(not (ROOT / "csrc" / "actions.c").exists(), reason="no source tree")
def test_emulate_default_inside_c_handlers(tmp_path: Path) -> None:
    """tests/c/test_actions.c: fs_emulate_default() called by a handler of the
    very signal, blocked while it runs, on the main thread and another."""
    proc = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT / "tests" / "c"),
                           "actions", f"OUT={tmp_path}"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "test_actions: 0 failed" in proc.stdout
