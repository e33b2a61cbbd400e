"""The drop-in section: fastsig's stdlib-named functions against the stdlib's,
per call, with the same arguments.

Each row times `calls` calls of the stdlib's statement and as many of
fastsig's (timeit, the signal blocked), repeat times; the figures are medians
in ns per call, with the ratio of the medians and the ratio of the two sides'
fastest runs (the least disturbed by other load). Each run is a forked child
of its own, which times one run of each side, the sides taking turns a tenth
of the calls at a time, the first turn's side swapped from one child to the
next: where a process's memory lands moves a row by up to a
fifth on this project's VM, for the two sides unequally, so a row's runs all
in one process would share that process's luck. Rows without a stdlib
function of the same name compare with the stdlib call that does the nearest
job (named in the row). Each child leads its own process group, so
killpg(0, ...) reaches nobody else.
"""

from __future__ import annotations

import os
import signal
import struct
import threading
import timeit
from typing import Any, Dict, List, Tuple

from .._ops import SignalFD, Waiter
from .child import Child
from .params import Params, Progress, median
from .rows import CallRow

S = signal.SIGUSR1
U = signal.SIGUSR2  # unblocked: delivered at once

# (row, stdlib statement, fastsig statement); S is the stdlib's signal module,
# O is os, F is fastsig, s a blocked signal, me this pid, tid this thread. A
# row's calls are written as a user writes them, module.function(...), on both
# sides; the bare kill() that some rows start with is the same on both.
CASES: List[Tuple[str, str, str]] = [
    ("os.kill + sigwaitinfo({s})",
     "kill(me, s); S.sigwaitinfo({s})", "kill(me, s); F.sigwaitinfo({s})"),
    ("os.kill + sigwait({s})",
     "kill(me, s); S.sigwait({s})", "kill(me, s); F.sigwait({s})"),
    ("os.kill + sigtimedwait({s}, 1)",
     "kill(me, s); S.sigtimedwait({s}, 1)", "kill(me, s); F.sigtimedwait({s}, 1)"),
    ("sigtimedwait({s}, 0), nothing pending",
     "S.sigtimedwait({s}, 0)", "F.sigtimedwait({s}, 0)"),
    ("pthread_sigmask(SIG_BLOCK, {s})",
     "S.pthread_sigmask(S.SIG_BLOCK, {s})", "F.pthread_sigmask(F.SIG_BLOCK, {s})"),
    ("sigpending()", "S.sigpending()", "F.sigpending()"),
    ("valid_signals()", "S.valid_signals()", "F.valid_signals()"),
    ("strsignal(10)", "S.strsignal(10)", "F.strsignal(10)"),
    ("raise_signal(s), blocked", "S.raise_signal(s)", "F.raise_signal(s)"),
    ("pthread_kill(tid, s), blocked", "S.pthread_kill(tid, s)", "F.pthread_kill(tid, s)"),
    ("kill(me, s) vs os.kill", "O.kill(me, s)", "F.kill(me, s)"),
    ("killpg(0, s) vs os.killpg", "O.killpg(0, s)", "F.killpg(0, s)"),
    ("sigqueue(me, s, 1) vs os.kill(me, s)", "O.kill(me, s)", "F.sigqueue(me, s, 1)"),
    ("pthread_sigqueue(tid, s, 1) vs pthread_kill(tid, s)",
     "S.pthread_kill(tid, s)", "F.pthread_sigqueue(tid, s, 1)"),
    # A batch reader asks the kernel once more to see that nothing else is
    # pending: the stdlib's batch is sigwaitinfo, then sigtimedwait(0) to None.
    ("os.kill + sigwaitinfo_many({s}) vs the stdlib's batch",
     "kill(me, s); S.sigwaitinfo({s}); S.sigtimedwait({s}, 0)",
     "kill(me, s); F.sigwaitinfo_many({s})"),
    ("os.kill + Waiter.wait() vs the stdlib's batch",
     "kill(me, s); S.sigwaitinfo({s}); S.sigtimedwait({s}, 0)", "kill(me, s); waiter.wait()"),
    ("os.kill + sigwaitinfo_many({s}, 1) vs sigwaitinfo({s})",
     "kill(me, s); S.sigwaitinfo({s})", "kill(me, s); F.sigwaitinfo_many({s}, 1)"),
    # The stdlib has no signalfd: os.read() of the fd, decoded with struct.
    # One record asked for on both sides: asked for more, the kernel looks for
    # a second one before it returns, whichever library reads.
    ("os.kill + SignalFD.read(1) vs os.read(its fd, 128) + struct",
     "kill(me, s); unpack(read(fd, 128))", "kill(me, s); sfd.read(1)"),
    # Asynchronous delivery, u unblocked: the stdlib's handler runs its Python
    # function as kill() returns; a Listener's records are read by wait().
    ("os.kill + Listener.wait() vs os.kill + a signal.signal handler",
     "kill(me, u)", "kill(me, u); wait()"),
]

# Rows whose sides need a handler of their own, installed before each side's
# run: (stdlib setup, fastsig setup).
SETUPS: Dict[str, Tuple[str, str]] = {
    "os.kill + Listener.wait() vs os.kill + a signal.signal handler":
        ("S.signal(u, on_u)", "wait = listen(u).wait"),
}


def clear_pending() -> None:
    while signal.sigtimedwait({S}, 0) is not None:
        pass


def setup() -> Dict[str, Any]:
    """The names the statements of CASES use. Makes this process the leader of
    a process group of its own and blocks S in the calling thread."""
    import fastsig

    os.setpgid(0, 0)
    signal.pthread_sigmask(signal.SIG_BLOCK, {S})
    sfd = SignalFD({S})
    listeners: List[fastsig.Listener] = []

    def listen(sig: int) -> fastsig.Listener:
        """A Listener of sig, read once (this thread reads it), the one
        before it closed."""
        while listeners:
            listeners.pop().close()
        listeners.append(fastsig.Listener([sig]))
        listeners[0].drain()
        return listeners[0]

    return {
        "S": signal, "O": os, "F": fastsig, "s": S, "me": os.getpid(), "tid": threading.get_ident(),
        "kill": os.kill, "read": os.read, "fd": sfd.fileno(),
        "sfd": sfd, "waiter": Waiter({S}, max=256),
        "u": U, "on_u": lambda signum, frame: None, "listen": listen,
        # struct signalfd_siginfo (<sys/signalfd.h>): 128 bytes.
        "unpack": struct.Struct("=IiiIIiIIIIiiQQQQH46x").unpack,
    }


CHUNKS = 10  # a run's calls of each side, in this many turns


def _time_row(name: str, stdlib_stmt: str, fastsig_stmt: str, calls: int,
              fastsig_first: bool) -> List[float]:
    """ns per call of one run of each side. The sides take turns, a tenth of
    the calls at a time, the side asked for first: a burst of other load
    lands on both sides alike rather than on one side's half of the run."""
    names = setup()
    setups = SETUPS.get(name, ("pass", "pass"))
    timers = [timeit.Timer(stmt, setup, globals=names)
              for stmt, setup in zip((stdlib_stmt, fastsig_stmt), setups)]
    clear_pending()
    for timer in timers:  # warm up
        timer.timeit(min(calls, 1000))
    turn = max(1, calls // CHUNKS)
    seconds = [0.0, 0.0]
    for _ in range(CHUNKS):
        for side in ((1, 0) if fastsig_first else (0, 1)):
            clear_pending()
            seconds[side] += timers[side].timeit(turn)
    return [s / (turn * CHUNKS) * 1e9 for s in seconds]


def run_dropin(p: Params, progress: Progress) -> List[CallRow]:
    rows: List[CallRow] = []
    for step, (name, stdlib_stmt, fastsig_stmt) in enumerate(CASES, 1):
        progress(f"drop-in {step}/{len(CASES)}: {name}")
        stdlib_runs: List[float] = []
        fastsig_runs: List[float] = []
        for run in range(p.repeat):
            stdlib_ns, fastsig_ns = Child(_time_row, name, stdlib_stmt, fastsig_stmt, p.calls,
                                          run % 2 == 1).result(60 + p.calls / 1000)
            stdlib_runs.append(stdlib_ns)
            fastsig_runs.append(fastsig_ns)
        stdlib_ns, fastsig_ns = median(stdlib_runs) or 0.0, median(fastsig_runs) or 0.0
        rows.append(CallRow(name=name, stdlib_ns=stdlib_ns, fastsig_ns=fastsig_ns,
                            ratio=fastsig_ns / stdlib_ns,
                            best_ratio=min(fastsig_runs) / min(stdlib_runs),
                            stdlib_runs=stdlib_runs, fastsig_runs=fastsig_runs))
    return rows
