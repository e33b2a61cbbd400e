"""Bad input: hypothesis feeds every public function garbage.

Each call either works or raises a clear exception (ValueError, TypeError,
OverflowError or an OSError subclass); the interpreter never crashes (every
property runs in a forked child, so a crash fails the test instead of killing
pytest), and a failed Listener leaves every signal's disposition as it was.

Nothing here may signal another process: the child puts itself in a process
group of its own, blocks every catchable signal, and a call that could send a
real signal is only made with a target that is the child itself (or with
signal 0, a probe). SIGKILL and SIGSTOP, which cannot be blocked, are never
sent for real.
"""

from __future__ import annotations

import ctypes
import math
import os
import signal
import threading
from typing import Any, Callable, Dict, Optional, Set, Tuple

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import fastsig
from support import in_child, isolate_sigpending

CLEAR = (ValueError, TypeError, OverflowError, OSError)
CATCHABLE = sorted(set(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP})
SETTINGS = settings(max_examples=150, deadline=None, database=None)

_libc = ctypes.CDLL(None, use_errno=True)
_SA_RESTORER = 0x04000000

# ---- strategies ------------------------------------------------------------

huge_ints = st.one_of(
    st.integers(min_value=2**31 - 2, max_value=2**31 + 2),
    st.integers(min_value=2**63 - 2, max_value=2**64 + 2),
    st.integers(min_value=-(2**64) - 2, max_value=-(2**63) + 2),
    st.sampled_from([2**100, -(2**100), 2**31 * 3]),
)
ints = st.one_of(st.integers(-3, 70), huge_ints)
names = st.sampled_from([
    "SIGUSR1", "USR1", "usr1", " usr2 ", "SIGRTMIN", "RTMIN+3", "SIGRTMAX-1", "rtmax", "RTMIN+99",
    "RTMAX+1", "RTMIN-1", "SIGRTMIN+", "SIG", "", " ", "KILL", "SIGSTOP", "9", "0", "65", "-1",
    "SIGFOO", "sig\x00usr1", "SIGUSR1\n", "\uff35\uff33\uff32\uff11", "1e3", "+5", "rtmin+0x2",
])
scalars = st.one_of(
    st.none(), st.booleans(), ints, names, st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6), st.binary(max_size=6), st.sampled_from(list(signal.Signals)),
    st.just(object()), st.just(1 + 2j),
)
# Valid signals, so that the properties also reach the syscalls and the ring.
valid_sigs = st.one_of(st.sampled_from(CATCHABLE), st.sampled_from(
    ["USR1", "SIGUSR2", "rtmin", "RTMIN+2", "SIGRTMAX-1", "chld", "SIGSEGV", "FPE"]))
sig_args = st.one_of(valid_sigs, scalars)
sets = st.one_of(
    st.lists(valid_sigs, min_size=1, max_size=4),
    scalars,
    st.lists(st.one_of(ints, names, st.sampled_from(list(signal.Signals))), max_size=6),
    st.frozensets(st.integers(-2, 70), max_size=8),
    st.lists(scalars, max_size=4),
    st.sampled_from([range(1, 65), range(0), range(1, 32), [signal.SIGKILL], ["STOP"], {}, "",
                     [[1, 2]], b"\x01"]),
)
timeouts = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                     st.integers(-2, 3), huge_ints, st.sampled_from([0, 0.0, 1e-12, "1", True]))
# Sizes: small valid ones, invalid ones, and absurd ones that must fail fast.
# (2**40 is left to test_huge_sizes_fail_fast_with_a_clear_error, which tracks a bug.)
sizes = st.one_of(st.integers(-3, 300), st.sampled_from([2**62, 2**64, 0.5, "8", None]))
values = st.one_of(ints, st.sampled_from([None, 1.5, "3", b"", True]))


# ---- the child's state -----------------------------------------------------

def _setup() -> None:
    """Run once in the forked child: nothing we send can leave it."""
    isolate_sigpending()
    os.setpgid(0, 0)
    signal.pthread_sigmask(signal.SIG_BLOCK, CATCHABLE)
    for sig in CATCHABLE:
        # An ignored signal is discarded on arrival: a stray one cannot pile up
        # in the queue or, unblocked by a property, kill us.
        if sig not in (signal.SIGCHLD, signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL):
            signal.signal(sig, signal.SIG_IGN)


# Per forked child (each property runs in one): what _setup_once() did.
_state: Dict[str, Any] = {}


def _setup_once() -> None:
    if "setup" not in _state:
        _setup()
        _state["setup"] = True


def _reset() -> None:
    """After each example: every catchable signal blocked again, none pending."""
    signal.pthread_sigmask(signal.SIG_SETMASK, CATCHABLE)
    while signal.sigtimedwait(CATCHABLE, 0) is not None:
        pass


class _SigAction(ctypes.Structure):
    # struct sigaction as glibc and musl lay it out on Linux.
    _fields_ = [("handler", ctypes.c_void_p),
                ("mask", ctypes.c_ulong * (128 // ctypes.sizeof(ctypes.c_ulong))),
                ("flags", ctypes.c_int), ("restorer", ctypes.c_void_p)]


def _raw_action(sig: int) -> Tuple[int, int, int]:
    """The C-level action: handler address, flags and the first mask word."""
    action = _SigAction()
    if _libc.sigaction(sig, None, ctypes.byref(action)) != 0:
        raise OSError(ctypes.get_errno(), "sigaction")
    # glibc adds SA_RESTORER to every action it installs, SIG_DFL restored included.
    return action.handler, action.flags & ~_SA_RESTORER, action.mask[0]


def _dispositions() -> Dict[int, Any]:
    return {sig: (signal.getsignal(sig), _raw_action(sig), fastsig._core.handler_installed(sig))
            for sig in CATCHABLE}


def _signum_or_none(sig: Any) -> Optional[int]:
    try:
        return fastsig.signum(sig)
    except Exception:  # noqa: BLE001 - any failure means "not a signal"
        return None


def _probe_only(sig: Any) -> bool:
    """Can sig reach the kernel as something other than the probe 0?"""
    if sig is False or (isinstance(sig, (int, float)) and not isinstance(sig, bool) and sig == 0):
        return True
    return _signum_or_none(sig) is None


def _check(call: Callable[[], object]) -> object:
    """Run call; it works or raises a clear exception. Returns the result or the exception."""
    try:
        return call()
    except CLEAR as exc:
        assert str(exc), f"{type(exc).__name__} without a message"
        return exc


def _safe_target(pid: Any, sig: Any, own: Set[int]) -> None:
    if _probe_only(sig):
        return
    assume(isinstance(pid, int) and int(pid) in own)
    assume(_signum_or_none(sig) not in (signal.SIGKILL, signal.SIGSTOP))


# ---- sending ---------------------------------------------------------------

@in_child(timeout=120)
@SETTINGS
@given(fn=st.sampled_from(["kill", "killpg", "sigqueue"]),
       pid=st.one_of(st.sampled_from(["self", "-self", 0, -1, 1]), scalars), sig=sig_args,
       value=values)
def test_sending_functions(fn: str, pid: Any, sig: Any, value: Any) -> None:
    me = os.getpid()
    pid = {"self": me, "-self": -me}.get(pid, pid) if isinstance(pid, str) else pid
    _setup_once()
    own = {me} if fn == "sigqueue" else {me, 0, -me} if fn == "kill" else {me, 0}
    _safe_target(pid, sig, own)
    try:
        if fn == "sigqueue":
            _check(lambda: fastsig.sigqueue(pid, sig, value))
        else:
            _check(lambda: getattr(fastsig, fn)(pid, sig))
    finally:
        _reset()


@in_child(timeout=120)
@SETTINGS
@given(sig=sig_args, values=st.one_of(
    st.lists(values, max_size=20), st.sampled_from([range(5), range(-3, 3), range(2**63 - 3, 2**63),
                                                     range(10, 0, -1), range(0), iter(range(3))]),
    scalars), timeout=timeouts)
def test_sigqueue_many(sig: Any, values: Any, timeout: Any) -> None:
    _setup_once()
    assume(_signum_or_none(sig) not in (signal.SIGKILL, signal.SIGSTOP))
    try:
        result = _check(lambda: fastsig.sigqueue_many(os.getpid(), sig, values,
                                                      timeout=timeout))
        if isinstance(values, list) and not isinstance(result, BaseException):
            assert result == len(values)
    finally:
        _reset()


@in_child(timeout=120)
@SETTINGS
@given(fn=st.sampled_from(["raise_signal", "pthread_kill", "pthread_sigqueue", "pidfd"]),
       thread=st.one_of(st.just("main"), scalars), sig=sig_args, value=values)
def test_thread_and_pidfd_senders(fn: str, thread: Any, sig: Any, value: Any) -> None:
    _setup_once()
    if "pidfd" not in _state:
        _state["pidfd"] = os.pidfd_open(os.getpid())
    assume(_signum_or_none(sig) not in (signal.SIGKILL, signal.SIGSTOP))
    target = threading.get_ident() if thread == "main" else thread
    try:
        if fn == "raise_signal":
            _check(lambda: fastsig.raise_signal(sig))
        elif fn == "pthread_kill":
            _check(lambda: fastsig.pthread_kill(target, sig))
        elif fn == "pthread_sigqueue":
            _check(lambda: fastsig.pthread_sigqueue(target, sig, value))
        else:
            fd = _state["pidfd"] if thread == "main" else thread
            _check(lambda: fastsig.pidfd_send_signal(fd, sig, value))
    finally:
        _reset()


# ---- masks -----------------------------------------------------------------

@in_child(timeout=120)
@SETTINGS
@given(fn=st.sampled_from(["pthread_sigmask", "sigprocmask", "blocked", "sigpending"]),
       how=st.one_of(st.sampled_from([signal.SIG_BLOCK, signal.SIG_UNBLOCK, signal.SIG_SETMASK]),
                     scalars),
       sigs=sets)
def test_mask_functions(fn: str, how: Any, sigs: Any) -> None:
    _setup_once()
    try:
        if fn == "sigpending":
            assert _check(fastsig.sigpending) == set()
        elif fn == "blocked":
            before = signal.pthread_sigmask(signal.SIG_BLOCK, [])

            def use() -> None:
                with fastsig.blocked(sigs):
                    pass
            _check(use)
            assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before
        else:
            result = _check(lambda: getattr(fastsig, fn)(how, sigs))
            if not isinstance(result, BaseException):
                assert isinstance(result, set)
    finally:
        _reset()


# ---- waiting ---------------------------------------------------------------

def _prequeue(sigs: Any) -> Optional[int]:
    """If sigs names a waitable set, make one of its signals pending (so a
    correct wait returns at once) and return it."""
    try:
        mask = fastsig._names.mask_of(sigs, allow_uncatchable=False)
    except Exception:  # noqa: BLE001
        return None
    if not mask:
        return None
    sig = (mask & -mask).bit_length()
    signal.pthread_kill(threading.get_ident(), sig)
    return sig


@in_child(timeout=120)
@SETTINGS
@given(fn=st.sampled_from(["sigwait", "sigwaitinfo", "sigtimedwait", "sigwaitinfo_many", "Waiter",
                           "signalfd"]),
       sigs=sets.filter(lambda s: not hasattr(s, "__next__")), timeout=timeouts, size=sizes)
def test_wait_functions(fn: str, sigs: Any, timeout: Any, size: Any) -> None:
    if "waiting" not in _state:
        _setup_once()
        # Waiting needs the signals not ignored (an ignored one is discarded).
        for sig in CATCHABLE:
            signal.signal(sig, signal.SIG_DFL)
        _state["waiting"] = True
    if fn in ("sigwait", "sigwaitinfo") or (fn == "sigtimedwait" and timeout is None):
        # These may block for good: only call them when something is pending.
        assume(_signum_or_none(sigs) is not None or isinstance(sigs, (list, frozenset, range)))
    pending = _prequeue(sigs)
    try:
        if fn == "sigwait":
            if pending is None:
                assert isinstance(_check(lambda: fastsig.sigwait(sigs)), BaseException)
            else:
                assert _check(lambda: fastsig.sigwait(sigs)) == pending
        elif fn == "sigwaitinfo":
            if pending is None:
                assert isinstance(_check(lambda: fastsig.sigwaitinfo(sigs)), BaseException)
            else:
                info = _check(lambda: fastsig.sigwaitinfo(sigs))
                assert isinstance(info, fastsig.SigInfo) and info.si_signo == pending
        elif fn == "sigtimedwait":
            if pending is None and not _finite_small(timeout):
                return
            _check(lambda: fastsig.sigtimedwait(sigs, timeout))
        elif fn == "sigwaitinfo_many":
            if pending is None and not _finite_small(timeout):
                return
            _check(lambda: fastsig.sigwaitinfo_many(sigs, size, timeout))
        elif fn == "Waiter":
            waiter = _check(lambda: fastsig.Waiter(sigs, size))
            if isinstance(waiter, fastsig.Waiter) and (pending is not None or _finite_small(timeout)):
                _check(lambda: waiter.wait(timeout))
        else:
            sfd = _check(lambda: fastsig.signalfd(sigs, nonblocking=True, max=size))
            if isinstance(sfd, fastsig.SignalFD):
                _check(lambda: sfd.read(size if isinstance(size, int) and size < 10**6 else None))
                sfd.close()
                assert isinstance(_check(sfd.read), ValueError)
                assert isinstance(_check(sfd.fileno), ValueError)
                sfd.close()
    finally:
        _reset()


def _finite_small(timeout: Any) -> bool:
    """A timeout that, if accepted, returns within a second (or is invalid)."""
    if timeout is None or isinstance(timeout, bool):
        return timeout is not None
    if isinstance(timeout, (int, float)):
        return math.isnan(timeout) or timeout <= 0.05
    return True


# ---- dispositions -------------------------------------------------------------

@in_child(timeout=120)
@SETTINGS
@given(fn=st.sampled_from(["ignore", "default", "saved_actions"]),
       sigs=sets.filter(lambda s: not hasattr(s, "__next__")), sig=sig_args)
def test_disposition_functions_change_all_or_nothing(fn: str, sigs: Any, sig: Any) -> None:
    _setup_once()
    before = _dispositions()
    _check(lambda: fastsig.getaction(sig))
    _check(lambda: fastsig.default_action(sig))
    with fastsig.saved_actions():
        result = _check(lambda: getattr(fastsig, fn)(sigs))
        if isinstance(result, BaseException):
            assert _dispositions() == before, f"a failed {fn}() changed a disposition"
        elif fn == "saved_actions":
            with result:  # type: ignore[attr-defined]
                fastsig.default(CATCHABLE)
    assert _dispositions() == before, "saved_actions() did not restore every disposition"


# ---- the ring ----------------------------------------------------------------

capacities = st.one_of(st.sampled_from([2, 4, 1024, 1 << 16]), st.integers(-3, 9),
                       st.sampled_from([3, 1000, 1 << 27, 2**40, 2**64, 1.0, "16", None]))


@in_child(timeout=180)
@SETTINGS
@given(sigs=sets.filter(lambda s: not hasattr(s, "__next__")), capacity=capacities,
       chain=scalars, batch=sizes.filter(lambda b: not (isinstance(b, int) and b > 2**31)),
       max_=sizes, timeout=timeouts,
       accept=st.one_of(st.none(), scalars, st.just(fastsig.SenderPolicy())))
def test_listener_never_leaves_a_handler_half_installed(
        sigs: Any, capacity: Any, chain: Any, batch: Any, max_: Any,
        timeout: Any, accept: Any) -> None:
    _setup_once()
    before = _dispositions()
    try:
        listener = _check(lambda: fastsig.Listener(sigs, capacity=capacity, chain=chain,
                                                   batch=batch, accept=accept))
        if not isinstance(listener, fastsig.Listener):
            assert _dispositions() == before, "a failed Listener() changed a disposition"
            return
        for sig in listener.signals:
            assert fastsig._core.handler_installed(sig)
        _check(lambda: listener.drain(max_))
        if _finite_small(timeout):
            _check(lambda: listener.wait(timeout, max_))
        listener.close()
        assert _dispositions() == before, "close() did not restore every disposition"
        # Reuse after close: a clear error, never a crash.
        for call in (listener.drain, listener.wait, listener.fileno, listener.drain_values):
            assert isinstance(_check(call), CLEAR)
        assert list(listener) == []
        assert listener.closed and isinstance(listener.stats(), dict)
        listener.close()
    finally:
        _reset()


@in_child(timeout=120)
@settings(max_examples=40, deadline=None, database=None)
@given(sigs=sets.filter(lambda s: not hasattr(s, "__next__")), callback=st.one_of(
    st.just(print), st.just(lambda info: 1 / 0), scalars), on_error=st.one_of(st.none(), scalars))
def test_dispatcher_bad_input(sigs: Any, callback: Any, on_error: Any) -> None:
    _setup_once()
    before = _dispositions()
    try:
        dispatcher = _check(lambda: fastsig.Dispatcher(sigs, callback, on_error=on_error))
        if isinstance(dispatcher, fastsig.Dispatcher):
            dispatcher.close()
            dispatcher.close()
        assert _dispositions() == before
    finally:
        _reset()


@SETTINGS
@given(pids=st.one_of(sets, st.lists(ints)), uids=st.one_of(sets, st.lists(ints)),
       verified=scalars, record=st.tuples(ints, ints, ints, ints))
def test_sender_policy_bad_input(pids: Any, uids: Any, verified: Any, record: Any) -> None:
    policy = _check(lambda: fastsig.SenderPolicy(pids, uids, verified))
    if isinstance(policy, fastsig.SenderPolicy):
        signo, code, pid, uid = record
        info = fastsig.SigInfo(signo, code, 0, pid, uid, 0, 0)
        assert isinstance(policy.accepts(info), bool)
        accepted, rejected = policy.filter([info, info])
        assert len(accepted) + len(rejected) == 2


@in_child(timeout=60)
@SETTINGS
@given(arg=sig_args, code=st.one_of(ints, scalars))
def test_names_and_records(arg: Any, code: Any) -> None:
    for call in (lambda: fastsig.signum(arg), lambda: fastsig.rt(arg), lambda: fastsig.signame(arg),
                 lambda: fastsig.strsignal(arg), lambda: fastsig.code_name(arg, code),
                 fastsig.valid_signals):
        _check(call)
    if all(isinstance(x, int) for x in (arg, code)):
        info = fastsig.SigInfo(arg, code, 0, arg, 0, 0, 0, arg)
        repr(info), info.si_int, info.code, info.signal, info.sender_is_kernel_verified


_HUGE = {
    "sigwaitinfo_many": lambda: fastsig.sigwaitinfo_many(["USR1"], max=2**40, timeout=0),
    "Waiter": lambda: fastsig.Waiter(["USR1"], max=2**40),
    "SignalFD": lambda: fastsig.signalfd(["USR1"], max=2**40),
}
_HUGE_LISTENER = {
    "Listener.batch": lambda: fastsig.Listener(["USR1"], batch=2**40).drain(),
    "Listener.batch-accepted": lambda: fastsig.Listener(["USR1"], batch=2**62),
    "Listener.drain-max": lambda: fastsig.Listener(["USR1"]).drain(max=2**40),
}


def _refused(call: Callable[[], object]) -> None:
    assert isinstance(_check(call), (ValueError, OverflowError))


@pytest.mark.parametrize("name", sorted(_HUGE))
@in_child(timeout=60)
def test_huge_sizes_fail_fast_with_a_clear_error(name: str) -> None:
    """An absurd max must be refused up front with a clear error, not turned
    into a multi-GB allocation attempt (MemoryError, or real gigabytes)."""
    _refused(_HUGE[name])


@pytest.mark.parametrize("name", sorted(_HUGE_LISTENER))
@in_child(timeout=60)
def test_huge_listener_sizes_fail_fast_with_a_clear_error(name: str) -> None:
    _refused(_HUGE_LISTENER[name])
