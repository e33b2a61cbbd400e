"""The drop-in table: fastsig's stdlib-named functions against the stdlib's,
per call, same arguments, same run; and the natural ping-pong.

    python -m fastsig._dropin_bench [--calls N] [--runs R] [--rounds N] [--json]

Per call: each row times N calls of the stdlib's statement and N of fastsig's
(timeit, the signal blocked), alternating, R times; the figures are medians
in ns per call, and the ratio of the two sides' fastest runs (the least
disturbed by other load) beside the ratio of the medians. Rows without a
stdlib function of the same name compare with the stdlib call that does the
nearest job (named in the row). The table runs
in a forked child that leads its own process group, so killpg(0, ...) reaches
nobody else.

Ping-pong: two processes, R alternated runs of N round trips per design,
median ns per round trip, pinned to one CPU and unpinned; ratios against the
pure-C round trip of csrc/refbench.c.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import signal
import statistics
import struct
import sys
import threading
import time
import timeit
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from . import _core
from ._ops import Exchange, SignalFD, Waiter, pthread_sigmask, sigqueue, sigwaitinfo

S = signal.SIGUSR1
PING, PONG = signal.SIGUSR1, signal.SIGUSR2

# (row, stdlib statement, fastsig statement); S is the stdlib's signal module,
# F is fastsig, s a blocked signal, me this pid, tid this thread.
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
    ("kill(me, s) vs os.kill", "kill(me, s)", "F.kill(me, s)"),
    ("killpg(0, s) vs os.killpg", "killpg(0, s)", "F.killpg(0, s)"),
    ("sigqueue(me, s, 1) vs os.kill(me, s)", "kill(me, s)", "F.sigqueue(me, s, 1)"),
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
    ("os.kill + SignalFD.read() vs os.read(its fd) + struct",
     "kill(me, s); unpack(read(fd, 128))", "kill(me, s); sfd.read()"),
]

Row = Dict[str, Any]


def _drain() -> None:
    while signal.sigtimedwait({S}, 0) is not None:
        pass


def setup() -> Dict[str, Any]:
    """The names the statements of CASES use. Makes this process the leader of
    a process group of its own and blocks S in the calling thread."""
    import fastsig

    os.setpgid(0, 0)
    signal.pthread_sigmask(signal.SIG_BLOCK, {S})
    sfd = SignalFD({S})
    return {
        "S": signal, "F": fastsig, "s": S, "me": os.getpid(), "tid": threading.get_ident(),
        "kill": os.kill, "killpg": os.killpg, "read": os.read, "fd": sfd.fileno(),
        "sfd": sfd, "waiter": Waiter({S}, max=256),
        # struct signalfd_siginfo (<sys/signalfd.h>): 128 bytes.
        "unpack": struct.Struct("=IiiIIiIIIIiiQQQQH46x").unpack,
    }


def _per_call_child(calls: int, runs: int) -> List[Row]:
    names = setup()
    sfd = names["sfd"]
    rows: List[Row] = []
    for name, stdlib_stmt, fastsig_stmt in CASES:
        timers = [timeit.Timer(stmt, globals=names) for stmt in (stdlib_stmt, fastsig_stmt)]
        times: List[List[float]] = [[], []]
        _drain()
        for timer in timers:  # warm up
            timer.timeit(min(calls, 1000))
        for run in range(runs):
            for which in (run % 2, 1 - run % 2):  # alternate which goes first
                _drain()
                times[which].append(timers[which].timeit(calls) / calls * 1e9)
        stdlib_ns, fastsig_ns = (statistics.median(t) for t in times)
        rows.append({"call": name, "stdlib_ns": stdlib_ns, "fastsig_ns": fastsig_ns,
                     "ratio": fastsig_ns / stdlib_ns, "best_ratio": min(times[1]) / min(times[0])})
    _drain()
    sfd.close()
    return rows


def _in_child(fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args) in a forked child; its result comes back pickled."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(read_fd)
            with os.fdopen(write_fd, "wb") as out:
                pickle.dump(fn(*args), out)
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as inp:
        data = inp.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        raise RuntimeError(f"benchmark child failed (wait status {status:#x})")
    return pickle.loads(data)


def per_call(calls: int = 50_000, runs: int = 5) -> List[Row]:
    """The drop-in table's rows: stdlib and fastsig ns per call, and the ratio."""
    rows: List[Row] = _in_child(_per_call_child, calls, runs)
    return rows


# ---- ping-pong ---------------------------------------------------------------

def _natural_server(client: int, rounds: int) -> None:
    for _ in range(rounds):
        sigqueue(client, PONG, sigwaitinfo({PING}).si_value)


def _natural_client(server: int, rounds: int) -> None:
    for i in range(rounds):
        sigqueue(server, PING, i)
        sigwaitinfo({PONG})


def _stdlib_server(client: int, rounds: int) -> None:
    for _ in range(rounds):
        signal.sigwaitinfo({PING})
        os.kill(client, PONG)


def _stdlib_client(server: int, rounds: int) -> None:
    kill, wait = os.kill, signal.sigwaitinfo
    for _ in range(rounds):
        kill(server, PING)
        wait({PONG})


def _exchange_server(client: int, rounds: int) -> None:
    value: Optional[int] = sigwaitinfo({PING}).si_value
    reply = Exchange(client, PONG, {PING})
    for _ in range(rounds - 1):
        value = reply.send_wait_value(value or 0)
    sigqueue(client, PONG, value or 0)


def _exchange_client(server: int, rounds: int) -> None:
    exchange = Exchange(server, PING, {PONG})
    for i in range(rounds):
        exchange.send_wait_value(i)


def _c_server(client: int, rounds: int) -> None:
    _core.ref_pingpong(client, PONG, PING, 0, 500_000_000, client=False)


def _c_client(server: int, rounds: int) -> None:
    _core.ref_pingpong(server, PING, PONG, rounds, 5_000_000_000, client=True)


DESIGNS: Dict[str, Tuple[Callable[[int, int], None], Callable[[int, int], None]]] = {
    "C sigqueue + sigtimedwait (csrc/refbench.c)": (_c_server, _c_client),
    "stdlib os.kill + signal.sigwaitinfo": (_stdlib_server, _stdlib_client),
    "fastsig.sigqueue + fastsig.sigwaitinfo": (_natural_server, _natural_client),
    "fastsig Exchange.send_wait_value": (_exchange_server, _exchange_client),
}


def _round_trips(design: str, rounds: int) -> float:
    """ns per round trip of one run (signals blocked and CPUs set by the caller)."""
    serve, play = DESIGNS[design]
    client = os.getpid()
    server = os.fork()
    if server == 0:
        status = 1
        try:
            serve(client, rounds)
            status = 0
        finally:
            os._exit(status)
    time.sleep(0.05)  # let the server reach its wait
    start = time.perf_counter_ns()
    play(server, rounds)
    elapsed = time.perf_counter_ns() - start
    _, status = os.waitpid(server, 0)
    if status != 0:
        raise RuntimeError(f"ping-pong server of {design!r} failed (wait status {status:#x})")
    return elapsed / rounds


def _pingpong_child(rounds: int, runs: int, cpu: Optional[int]) -> List[Row]:
    pthread_sigmask(_core.SIG_BLOCK, {PING, PONG})
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    times: Dict[str, List[float]] = {name: [] for name in DESIGNS}
    names = list(DESIGNS)
    for run in range(runs):
        shift = run % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(_round_trips(name, rounds))
    c_ns = statistics.median(times[names[0]])
    return [{"design": name, "pinned": cpu is not None, "ns": statistics.median(t),
             "vs_c": statistics.median(t) / c_ns} for name, t in times.items()]


def pingpong(rounds: int = 20_000, runs: int = 3) -> List[Row]:
    """Round trips per design, pinned to one CPU and unpinned."""
    cpu = min(os.sched_getaffinity(0))
    rows: List[Row] = []
    for pin in (cpu, None):
        rows += _in_child(_pingpong_child, rounds, runs, pin)
    return rows


# ---- report ------------------------------------------------------------------

def report(calls: List[Row], pp: List[Row]) -> str:
    lines = ["## Drop-in, per call (stdlib vs fastsig, same run, medians)", "",
             "| call | stdlib | fastsig | ratio | best runs' ratio |", "|---|---:|---:|---:|---:|"]
    lines += [f"| `{r['call']}` | {r['stdlib_ns']:,.0f} ns | {r['fastsig_ns']:,.0f} ns | "
              f"{r['ratio']:.2f}x | {r['best_ratio']:.2f}x |" for r in calls]
    lines += ["", "## Ping-pong round trip (two processes, medians)", "",
              "| design | pinned | round trip | vs C |", "|---|---|---:|---:|"]
    lines += [f"| {r['design']} | {'one CPU' if r['pinned'] else 'no'} | {r['ns']:,.0f} ns | "
              f"{r['vs_c']:.2f}x |" for r in pp]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastsig._dropin_bench",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=50_000, help="calls per run (50,000)")
    parser.add_argument("--runs", type=int, default=5, help="alternated runs per row (5)")
    parser.add_argument("--rounds", type=int, default=20_000, help="ping-pong round trips per run")
    parser.add_argument("--no-pingpong", action="store_true", help="the per-call table only")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    calls = per_call(args.calls, args.runs)
    pp = [] if args.no_pingpong else pingpong(args.rounds, max(1, args.runs // 2 + 1))
    if args.json:
        json.dump({"per_call": calls, "pingpong": pp}, sys.stdout, indent=1)
        print()
    else:
        print(report(calls, pp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
