"""The command line: ``python -m fastsig`` and the ``fastsig`` console script.

    fastsig send PID SIG [--value V] [--count N]   queue signals with a payload
    fastsig listen SIG... [--json]                  print every delivery
    fastsig demo pingpong|bulletproof               two demos, the stdlib then fastsig
    fastsig bench [--quick] [--json] [--plot F]     fastsig vs the stdlib vs C
    fastsig run [--forward SIGS] -- CMD ARGS...     a small init (see fastsig._supervise)

Signals are named as kill(1) takes them: 10, USR1, SIGUSR1, usr1, RTMIN+3.
An error is one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import sys
import time
from typing import Any, Dict, List, NoReturn, Optional, Sequence

from . import _bench, _supervise
from ._bench import Child, ChildFailed
from ._bench.pingpong import pp_classic, pp_fastsig
from ._listener import Listener
from ._names import signame, signum
from ._ops import sigqueue, sigqueue_many
from ._siginfo import SigInfo, code_name

PROG = "fastsig"


class _Parser(argparse.ArgumentParser):
    """argparse, with errors as one line (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _signal(text: str) -> int:
    try:
        return signum(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cpus(text: str) -> List[int]:
    """'0', '0,1' or '0-3' as a list of CPU numbers."""
    cpus: List[int] = []
    try:
        for part in text.split(","):
            low, _, high = part.partition("-")
            cpus += range(int(low), int(high or low) + 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid CPU list {text!r} (try 0 or 0,1 or 0-1)") from None
    allowed = os.sched_getaffinity(0)
    bad = [c for c in cpus if c not in allowed]
    if not cpus or bad:
        raise argparse.ArgumentTypeError(f"CPU {bad or text} not available (allowed: "
                                         f"{','.join(map(str, sorted(allowed)))})")
    return cpus


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    return number


# ---- send -------------------------------------------------------------------

def cmd_send(args: argparse.Namespace) -> int:
    if args.count == 1:
        sigqueue(args.pid, args.sig, args.value)
    else:
        sigqueue_many(args.pid, args.sig, range(args.value, args.value + args.count),
                      timeout=args.timeout)
    return 0


# ---- listen -----------------------------------------------------------------

def _record(info: SigInfo, wall_minus_mono: float) -> Dict[str, Any]:
    return {
        "signal": signame(info.si_signo), "signo": info.si_signo,
        "code": code_name(info.si_signo, info.si_code), "pid": info.si_pid,
        "uid": info.si_uid, "value": info.si_value,
        "time": round(info.time_ns / 1e9 + wall_minus_mono, 6), "monotonic_ns": info.time_ns,
    }


def _line(rec: Dict[str, Any]) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(rec["time"])) + f"{rec['time'] % 1:.6f}"[1:]
    sender = f" from pid {rec['pid']} uid {rec['uid']}" if rec["pid"] or rec["uid"] else ""
    return f"{stamp} {rec['signal']} {rec['code']}{sender} value={rec['value']}"


def cmd_listen(args: argparse.Namespace) -> int:
    wanted = set(args.sigs)
    # Ctrl-C and SIGTERM end the listening unless they are what we listen to.
    stops = {int(signal.SIGINT), int(signal.SIGTERM)} - wanted
    counts: Dict[int, int] = dict.fromkeys(sorted(wanted), 0)
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    wall_minus_mono = time.time() - time.monotonic_ns() / 1e9
    stopped_by = ""
    with Listener(wanted | stops) as listener:
        names = " ".join(signame(s) for s in sorted(wanted))
        how = " or ".join(signame(s) for s in sorted(stops)) or "SIGKILL"
        print(f"{PROG} listen: pid {os.getpid()} listening for {names}; {how} to stop",
              file=sys.stderr, flush=True)
        while not stopped_by:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            records = listener.wait(timeout=left)
            if not records and left == 0:
                stopped_by = "timeout"
            for info in records:
                if info.si_signo in stops:
                    # What arrived with it is still shown: taken in one handler
                    # entry, the stop (a lower signal) may come first.
                    stopped_by = stopped_by or signame(info.si_signo)
                    continue
                counts[info.si_signo] += 1
                rec = _record(info, wall_minus_mono)
                print(json.dumps(rec) if args.json else _line(rec), flush=True)
                if args.count and sum(counts.values()) >= args.count:
                    stopped_by = stopped_by or "count"
                    break
        dropped = sum(listener.dropped[s] for s in wanted)
    detail = ", ".join(f"{signame(s)}: {n}" for s, n in counts.items())
    print(f"{PROG} listen: {sum(counts.values())} received ({detail}), {dropped} dropped; "
          f"stopped by {stopped_by}", file=sys.stderr, flush=True)
    return 0


# ---- demo -------------------------------------------------------------------

# The classic process-group ping-pong: two processes in one group bounce
# SIGUSR1/SIGUSR2 with kill(0, sig), Python handlers setting a flag that busy
# loops wait for. It shows what the stdlib gives (no payload, so nothing says
# which ping a pong answers, and the waiting burns CPU) against fastsig, whose
# pong carries its ping's number back in one C call a round trip.

def _demo_pingpong(rounds: int) -> None:
    for title, design in (
        ("stdlib, the classic process-group ping-pong: Python handlers, busy loops, kill(0, sig)",
         pp_classic),
        ("fastsig: sigqueue carrying the round number + sigwaitinfo, one C call a round trip",
         pp_fastsig),
    ):
        print(title)
        rtts = Child(design, rounds, 30.0, 5.0).result(60)
        note = " (each pong carried its ping's number back)" if design is pp_fastsig else ""
        lost = "none lost" if len(rtts) == rounds else f"stopped after {len(rtts)} of {rounds}"
        print(f"  {len(rtts)} pings, {len(rtts)} pongs, {lost}{note}; round trip median "
              f"{statistics.median(rtts) / 1000:.1f} us, max {max(rtts) / 1000:.1f} us", flush=True)


# The bulletproof process: it survives SIGFPE sent to it, and still dies of
# SIGHUP. The stdlib handler learns only that SIGFPE came; fastsig's records say
# who sent it, with the full siginfo. The child reports each survival on the
# ready pipe before the next SIGFPE is sent: a standard signal sent again while
# the first is still pending would coalesce with it.

def _bulletproof_child(use_fastsig: bool, ready: int) -> None:
    # SIGHUP's default action, which the demo shows ending the process, even
    # where this one inherited it ignored (nohup).
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    if use_fastsig:
        with Listener([signal.SIGFPE]) as listener:
            os.write(ready, b"r")
            for count, info in enumerate(listener, 1):
                print(f"  survived SIGFPE #{count}: {info!r}", flush=True)
                os.write(ready, b"s")
    else:
        def survive(signum: int, frame: object) -> None:
            survive.count += 1  # type: ignore[attr-defined]
            print(f"  survived SIGFPE #{survive.count} (the stdlib handler gets no sender, "  # type: ignore[attr-defined]
                  "no siginfo)", flush=True)
            os.write(ready, b"s")

        survive.count = 0  # type: ignore[attr-defined]
        signal.signal(signal.SIGFPE, survive)
        os.write(ready, b"r")
        while True:
            signal.pause()


def _demo_bulletproof() -> None:
    for use_fastsig in (False, True):
        print("fastsig Listener:" if use_fastsig else "stdlib signal.signal:", flush=True)
        with Child(_bulletproof_child, use_fastsig, ready=True) as child:
            child.wait_ready(10)
            for _ in range(3):
                os.kill(child.pid, signal.SIGFPE)
                child.wait_ready(10)
            os.kill(child.pid, signal.SIGHUP)
            with contextlib.suppress(ChildFailed):  # it dies without a result
                child.result(10)
        status = child.status or 0
        died = signal.Signals(os.WTERMSIG(status)).name if os.WIFSIGNALED(status) else "nothing"
        print(f"  after 3 x SIGFPE it was still running; SIGHUP ended it (died of {died})",
              flush=True)


def cmd_demo(args: argparse.Namespace) -> int:
    if args.which == "pingpong":
        _demo_pingpong(args.rounds)
    else:
        _demo_bulletproof()
    return 0


# ---- bench ------------------------------------------------------------------

def cmd_bench(args: argparse.Namespace) -> int:
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise SystemExit(f"{PROG} bench: error: --plot needs matplotlib "
                             "(pip install 'pyfastsig[plot]' or pip install matplotlib)") from None
    params = _bench.Params.quick() if args.quick else _bench.Params()
    for name in ("flood_n", "drain_n", "rounds", "send_n", "calls", "repeat", "cpus"):
        value = getattr(args, name)
        if value is not None:
            setattr(params, name, value)
    if args.only:
        params.sections = tuple(args.only.split(","))
    progress = _bench.progress_printer(sys.stderr) if not args.no_progress else None
    res = _bench.run(params, progress)
    if progress is not None and sys.stderr.isatty():
        sys.stderr.write("\r\033[K")
    if args.json:
        _bench.dump_json(res, sys.stdout)
    else:
        print(_bench.report(res))
    if args.plot:
        _bench.plot(res, args.plot)
        print(f"{PROG} bench: plot written to {args.plot}", file=sys.stderr)
    return 0


SECTIONS = [s.id for s in _bench.SECTIONS]


def _sections(text: str) -> str:
    parts = text.split(",")
    bad = [p for p in parts if p not in SECTIONS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown section {bad[0]!r} ({', '.join(SECTIONS)})")
    return text


# ---- main -------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    top = _Parser(prog=PROG, description="Fast, lossless Unix signal IPC: tools and benchmark.")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    send = sub.add_parser("send", help="queue signals with a value (like kill -q)",
                          description="Queue SIG to PID with sigqueue(2), carrying a value. "
                                      "With --count N, send N signals carrying V, V+1, ... in order "
                                      "(a full queue is retried until --timeout).")
    send.add_argument("pid", metavar="PID", type=int, help="the receiving process")
    send.add_argument("sig", metavar="SIG", type=_signal, help="e.g. USR1, SIGRTMIN+1, 10")
    send.add_argument("--value", "-q", type=int, default=0, help="the payload (default 0)")
    send.add_argument("--count", "-n", type=_positive, default=1, help="how many signals")
    send.add_argument("--timeout", type=float, default=None,
                      help="seconds to keep retrying a full queue (default: forever)")
    send.set_defaults(run=cmd_send)

    listen = sub.add_parser("listen", help="print every delivery of some signals",
                            description="Print each delivery as it arrives: signal, code, sender "
                                        "pid/uid, value, time. Ctrl-C or SIGTERM ends it (unless "
                                        "listened to) and prints the counts on stderr.")
    listen.add_argument("sigs", metavar="SIG", nargs="+", type=_signal)
    listen.add_argument("--json", action="store_true", help="one JSON object per line")
    listen.add_argument("--count", "-n", type=_positive, help="stop after N deliveries")
    listen.add_argument("--timeout", type=float, help="stop after this many seconds")
    listen.set_defaults(run=cmd_listen)

    demo = sub.add_parser("demo", help="two signal demos, on the stdlib and on fastsig",
                          description="pingpong: the classic process-group ping-pong, two "
                                      "processes exchanging signals, the stdlib design then "
                                      "fastsig's. bulletproof: a process that survives SIGFPE "
                                      "and still dies of SIGHUP.")
    demo.add_argument("which", choices=["pingpong", "bulletproof"])
    demo.add_argument("--rounds", type=_positive, default=100, help="ping-pong rounds (100)")
    demo.set_defaults(run=cmd_demo)

    bench = sub.add_parser("bench", help="fastsig vs the stdlib vs pure C, side by side",
                           description="fastsig against the stdlib and pure-C references, side "
                                       "by side in one run: one-way flood (throughput, loss, "
                                       "order), receive cost alone, ping-pong round trip "
                                       "(unpinned and pinned), send cost. Contenders alternate; "
                                       "figures are medians. Method: bench/README.md.")
    bench.add_argument("--quick", action="store_true", help="small sizes, under 30 s (CI smoke)")
    bench.add_argument("--json", action="store_true", help="JSON results with machine info")
    bench.add_argument("--plot", metavar="FILE.png", help="throughput bars + latency CDF "
                                                          "(needs matplotlib)")
    bench.add_argument("--cpus", type=_cpus, help="CPU list: ping-pong 'pinned' uses the first; "
                                                  "with two, the flood receiver and sender are "
                                                  "pinned to them (default: unpinned)")
    bench.add_argument("--repeat", type=_positive, help="runs per contender (median)")
    bench.add_argument("--flood-n", dest="flood_n", type=_positive, help="signals per flood")
    bench.add_argument("--drain-n", dest="drain_n", type=_positive,
                       help="signals queued before a drain run (must fit RLIMIT_SIGPENDING)")
    bench.add_argument("--rounds", type=_positive, help="ping-pong rounds per run")
    bench.add_argument("--send-n", dest="send_n", type=_positive, help="sends per send-cost run")
    bench.add_argument("--calls", type=_positive, help="drop-in: calls per run of each side")
    bench.add_argument("--only", type=_sections, help="sections: " + ",".join(SECTIONS))
    bench.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    bench.set_defaults(run=cmd_bench)
    _supervise.add_parser(sub)
    return top


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    try:
        status: int = args.run(args)
        return status
    except (OSError, ValueError, TypeError, OverflowError, ChildFailed) as exc:
        text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        print(f"{PROG} {args.command}: error: {first}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130
