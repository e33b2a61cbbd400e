"""The C fast paths (fastsig._fast): the drop-in functions are builtins that
take the common arguments themselves, hand everything else to the checked
Python code (same results, same errors), and build complete SigInfo records."""

from __future__ import annotations

import inspect
import os
import pickle
import pydoc
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, List, Tuple

import pytest

import fastsig
from fastsig import _fast, _ops
from support import exit_code, forked, in_child

RT = fastsig.rt(6)
USR1 = signal.SIGUSR1
ROOT = Path(__file__).resolve().parent.parent
FAST = ["sigqueue", "kill", "killpg", "raise_signal", "pthread_kill", "pthread_sigmask",
        "sigpending", "valid_signals", "strsignal", "sigwait", "sigwaitinfo", "sigtimedwait",
        "sigwaitinfo_many"]


def test_the_drop_in_functions_are_builtins_with_signatures() -> None:
    names = FAST + (["pthread_sigqueue"] if fastsig.HAVE_PTHREAD_SIGQUEUE else [])
    for name in names:
        fn = getattr(fastsig, name)
        assert type(fn).__name__ == "builtin_function_or_method", name
        assert fn is getattr(_fast, name) and fn.__module__ == "fastsig._fast", name
        params = list(inspect.signature(fn).parameters)
        assert params == list(inspect.signature(getattr(_ops, f"_{name}_checked", fn)).parameters), name
        assert pickle.loads(pickle.dumps(fn)) is fn


def test_exchange_send_wait_value_is_a_real_method() -> None:
    method = fastsig.Exchange.send_wait_value
    assert list(inspect.signature(method).parameters) == ["self", "value"]
    assert "send_wait_value(self, /, value=0)" in pydoc.render_doc(fastsig.Exchange,
                                                                    renderer=pydoc.plaintext)
    assert issubclass(fastsig.Exchange, _fast.ExchangeCore)


def _sets(sig: int) -> List[Any]:
    """One signal in every form a set may take: fast ones and unusual ones."""
    return [{sig}, frozenset({sig}), [sig], (sig,), sig, signal.Signals(sig) if sig < 32 else sig,
            fastsig.signame(sig), (s for s in [sig]), range(sig, sig + 1), {sig: None}.keys()]


@pytest.mark.parametrize("sig", [USR1, RT], ids=["USR1", "RT"])
@in_child(timeout=30)
def test_every_form_of_a_set_waits_for_the_same_signal(sig: int) -> None:
    me = os.getpid()
    waits: List[Callable[[Any], Any]] = [
        fastsig.sigwaitinfo,
        lambda s: fastsig.sigtimedwait(s, 5),
        lambda s: fastsig.sigtimedwait(s, 5.0),
        lambda s: fastsig.sigwaitinfo_many(s, 4, 5)[0],
        lambda s: fastsig.sigwaitinfo_many(s, max=4, timeout=5)[0],
        lambda s: fastsig.sigwaitinfo_many(s, timeout=None)[0],
    ]
    with fastsig.blocked(_sets(sig)[0]):
        for value, (wait, sigs) in enumerate((w, s) for w in waits for s in _sets(sig)):
            fastsig.sigqueue(me, sig, value)
            info = wait(sigs)
            assert (info.si_signo, info.si_value, info.si_pid) == (sig, value, me), sigs
            assert type(info) is fastsig.SigInfo
        for sigs in _sets(sig):
            os.kill(me, sig)
            number = fastsig.sigwait(sigs)
            assert number == sig and type(number) is type(signal.Signals(sig) if sig < 32 else sig)
        assert fastsig.sigpending() == set()


def _error(call: Callable[[], Any]) -> Tuple[type, str]:
    with pytest.raises(Exception) as info:
        call()
    return type(info.value), str(info.value)


@in_child(timeout=30)
def test_unusual_arguments_raise_what_the_checked_code_raises() -> None:
    dead = forked(lambda: None)
    os.waitpid(dead, 0)
    me = os.getpid()
    # (fastsig function, its checked Python implementation, arguments)
    cases: List[Tuple[Callable[..., Any], Callable[..., Any], Tuple[Any, ...]]] = []
    pairs = [(fastsig.sigwaitinfo, _ops._sigwaitinfo_checked),
             (fastsig.sigwait, _ops._sigwait_checked)]
    for bad_set in (set(), {signal.SIGKILL}, {0}, {"NOPE"}, {1.5}, 1.5, None, {True}):
        cases += [(fast, checked, (bad_set,)) for fast, checked in pairs]
    for timeout in (-1, -0.5, float("nan"), None, True, "1"):
        cases.append((fastsig.sigtimedwait, _ops._sigtimedwait_checked, ({RT}, timeout)))
    for kwargs in ({"max": 0}, {"max": 1 << 20}, {"max": 1.5}, {"timeout": -1},
                   {"timeout": "x"}, {"nope": 1}):
        cases.append((lambda **kw: fastsig.sigwaitinfo_many({RT}, **kw),
                      lambda **kw: _ops._sigwaitinfo_many_checked({RT}, **kw), kwargs))  # type: ignore[arg-type]
    cases += [
        (fastsig.pthread_sigmask, _ops._pthread_sigmask_checked, (7, {RT})),
        (fastsig.pthread_sigmask, _ops._pthread_sigmask_checked, (True, {RT})),
        (fastsig.pthread_sigmask, _ops._pthread_sigmask_checked, (fastsig.SIG_BLOCK, {99})),
        (fastsig.strsignal, _ops._strsignal_checked, (0,)),
        (fastsig.strsignal, _ops._strsignal_checked, (65,)),
        (fastsig.strsignal, _ops._strsignal_checked, (1.5,)),
        (fastsig.sigqueue, _ops._sigqueue_checked, (0, RT)),
        (fastsig.sigqueue, _ops._sigqueue_checked, (me, RT, 1 << 70)),
        (fastsig.sigqueue, _ops._sigqueue_checked, (dead, RT, 1)),
        (fastsig.kill, _ops._kill_checked, ("1", RT)),
        (fastsig.kill, _ops._kill_checked, (dead, RT)),
        (fastsig.killpg, _ops._killpg_checked, (-3, RT)),
        (fastsig.raise_signal, _ops._raise_signal_checked, (0,)),
        (fastsig.pthread_kill, _ops._pthread_kill_checked, (12345, RT)),
        (fastsig.pthread_kill, _ops._pthread_kill_checked, (threading.get_ident(), 99)),
    ]
    for fast, checked, args in cases:
        if isinstance(args, dict):
            assert _error(lambda f=fast, a=args: f(**a)) == _error(lambda c=checked, a=args: c(**a)), args
        else:
            assert _error(lambda f=fast, a=args: f(*a)) == _error(lambda c=checked, a=args: c(*a)), args


@in_child(timeout=30)
def test_results_match_the_checked_code_and_the_stdlib() -> None:
    me = os.getpid()
    assert fastsig.pthread_sigmask(fastsig.SIG_BLOCK, [RT, USR1]) == set()
    assert _ops._pthread_sigmask_checked(fastsig.SIG_BLOCK, (RT,)) == {USR1, RT}
    for how in (fastsig.SIG_BLOCK, fastsig.SIG_UNBLOCK):
        assert fastsig.pthread_sigmask(how, ()) == signal.pthread_sigmask(how, ()) == {USR1, RT}
    os.kill(me, USR1)
    fastsig.raise_signal(RT)
    assert fastsig.sigpending() == signal.sigpending() == {USR1, RT}
    assert all(type(a) is type(b) for a, b in zip(sorted(fastsig.sigpending()), sorted(signal.sigpending())))
    assert fastsig.valid_signals() == fastsig._names.valid_signals() == signal.valid_signals()
    for sig in range(1, 65):
        assert fastsig.strsignal(sig) == _ops._strsignal_checked(sig) == signal.strsignal(sig) or (
            sig in (32, 33) and fastsig.strsignal(sig) is None), sig
    infos = [fastsig.sigtimedwait([USR1, RT], 0) for _ in range(3)]
    assert {i.si_signo for i in infos[:2]} == {USR1, RT} and infos[2] is None  # type: ignore[union-attr]


@in_child(timeout=30)
def test_a_siginfo_from_c_is_a_whole_siginfo() -> None:
    me = os.getpid()
    with fastsig.blocked({RT}):
        fastsig.sigqueue(me, RT, -(1 << 40))
        info = fastsig.sigwaitinfo({RT})
    plain = tuple(info)
    assert type(info) is fastsig.SigInfo and isinstance(info, tuple) and len(plain) == 14
    assert info == fastsig.SigInfo(*plain) == plain and hash(info) == hash(plain)
    assert pickle.loads(pickle.dumps(info)) == info
    assert info._replace(si_value=1).si_value == 1 and info._asdict()["si_pid"] == me
    assert (info.si_signo, info.code, info.si_pid, info.si_uid, info.si_value) == (
        RT, fastsig.SiCode.SI_QUEUE, me, os.getuid(), -(1 << 40))
    assert info.si_int == 0 and info.signal == RT
    assert repr(info) == f"SigInfo({fastsig.signame(RT)} SI_QUEUE from pid {me} uid {os.getuid()} " \
                         f"value={-(1 << 40)})"


def _values(infos: Iterable[fastsig.SigInfo]) -> List[int]:
    return [i.si_value for i in infos]


@in_child(timeout=30)
def test_batches_past_the_stack_buffer_arrive_whole_and_in_order() -> None:
    me = os.getpid()
    waiter = fastsig.Waiter({RT}, max=100)
    with fastsig.blocked({RT}):
        for n in (15, 16, 17, 40, 100):
            fastsig.sigqueue_many(me, RT, range(n))
            assert _values(fastsig.sigwaitinfo_many({RT}, max=100, timeout=1)) == list(range(n))
            fastsig.sigqueue_many(me, RT, range(n))
            assert _values(fastsig.sigwaitinfo_many({RT}, max=17, timeout=1)) == list(range(min(n, 17)))
            assert _values(fastsig.sigwaitinfo_many({RT}, timeout=0)) == list(range(17, n))
            fastsig.sigqueue_many(me, RT, range(n))
            assert _values(waiter.wait(timeout=1)) == list(range(n))
            fastsig.sigqueue_many(me, RT, range(n))
            assert waiter.wait_values(timeout=1) == list(range(n))
        with fastsig.signalfd({RT}, max=8) as sfd:
            for n in (15, 16, 17, 40, 100):
                fastsig.sigqueue_many(me, RT, range(n))
                assert _values(sfd.read(100)) == list(range(n))
                fastsig.sigqueue_many(me, RT, range(n))
                assert sfd.read_values(300) == list(range(n))  # a blocking fd: never blocks again
            fastsig.sigqueue_many(me, RT, range(20))
            assert sfd.read_values() == list(range(8))  # the max given at creation
            assert sfd.read_values(100) == list(range(8, 20))
        assert fastsig.sigpending() == set()
    with pytest.raises(TypeError):
        waiter.wait(timeout="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        waiter.wait(timeout=-1)
    assert waiter.wait(timeout=0) == [] and waiter.wait_values(timeout=0.01) == []


@in_child(timeout=30)
def test_thread_directed_sends_reach_only_their_thread() -> None:
    """pthread_sigqueue by the thread's kernel id, pthread_kill by its pthread
    id; each of several threads waits for its own signals concurrently."""
    fastsig.pthread_sigmask(fastsig.SIG_BLOCK, {RT, USR1})
    ready = threading.Barrier(5)
    got: List[Tuple[int, List[int]]] = []

    def worker(index: int) -> None:
        ready.wait()
        values = [fastsig.sigwaitinfo({RT}).si_value for _ in range(50)]
        fastsig.sigwait({USR1})
        got.append((index, values))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    ready.wait()
    for value in range(50):
        for index, thread in enumerate(threads):
            fastsig.pthread_sigqueue(thread.ident, RT, index * 1000 + value)  # type: ignore[arg-type]
    for thread in threads:
        fastsig.pthread_kill(thread.ident, USR1)  # type: ignore[arg-type]
        thread.join(20)
    assert sorted(got) == [(i, [i * 1000 + v for v in range(50)]) for i in range(4)]
    assert fastsig.sigpending() == set()


@in_child(timeout=30)
def test_exchange_send_wait_value_takes_its_value_every_way() -> None:
    me, rounds = os.getpid(), 6
    fastsig.pthread_sigmask(fastsig.SIG_BLOCK, {RT, USR1})

    def echo() -> None:
        for _ in range(rounds):
            info = fastsig.sigwaitinfo({USR1})
            fastsig.sigqueue(me, RT, info.si_value + 1)

    pid = forked(echo)
    exchange = fastsig.Exchange(pid, USR1, {RT}, timeout=10)
    assert exchange.send_wait_value(5) == 6
    assert exchange.send_wait_value(value=7) == 8
    assert exchange.send_wait_value() == 1
    assert exchange.send_wait_value(signal.SIGUSR2) == signal.SIGUSR2 + 1  # an int subclass
    with pytest.raises(TypeError):
        exchange.send_wait_value("1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        exchange.send_wait_value(1, 2)  # type: ignore[call-arg]
    with pytest.raises(OverflowError):
        exchange.send_wait_value(1 << 70)
    assert exchange.send_wait_value(-1) == 0
    assert exchange.send_wait_value(10) == 11
    assert exit_code(pid) == 0
    with fastsig.blocked({USR1}):  # to this process, which never replies: the timeout
        assert fastsig.Exchange(me, USR1, {RT}, timeout=0.1).send_wait_value(3) is None
        assert fastsig.sigwaitinfo({USR1}).si_value == 3


@pytest.mark.skipif(bool(sysconfig.get_config_var("Py_GIL_DISABLED")) or hasattr(sys, "gettotalrefcount"),
                    reason="the limited API exists only for GIL release builds")
def test_the_fast_module_is_an_abi3_module_in_the_package() -> None:
    module = Path(_fast.__file__ or "")
    assert module.name == "_fast.abi3.so" and module.parent == Path(fastsig.__file__).parent


CC = shutil.which("cc") or shutil.which("gcc")


@pytest.mark.skipif(CC is None or not (ROOT / "csrc/python/_fast.c").exists(),
                    reason="no compiler or no source tree")
@pytest.mark.parametrize("limited", [True, False], ids=["limited", "full"])
def test_the_fast_module_compiles_warning_free(limited: bool, tmp_path: Path) -> None:
    flags = ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O2", "-fPIC", "-D_GNU_SOURCE=1",
             f"-I{ROOT / 'csrc'}", f"-I{sysconfig.get_paths()['include']}"]
    if limited:
        flags.append("-DPy_LIMITED_API=0x03090000")
    proc = subprocess.run([CC, *flags, "-c", str(ROOT / "csrc/python/_fast.c"),  # type: ignore[list-item]
                           "-o", str(tmp_path / "fast.o")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
