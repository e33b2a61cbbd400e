"""The cost of one send: fastsig.sigqueue() against os.kill(), in detail.

All contenders send SIGUSR1 with SIGUSR1 blocked in the target, so every call
is a real syscall whose signal stays pending (a standard signal coalesces: the
queue never fills). The target is this process (``--target self``) or a
forked sibling that blocks SIGUSR1 and sleeps (``--target sibling``). The
contenders alternate round by round; the table gives each one's median ns per
call and its ratio to os.kill.

    python bench/send_cost.py [--calls 200000] [--rounds 9] [--target self|sibling]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import time
from typing import Callable, Dict, List, Tuple

import fastsig
from fastsig import _core, _ops
from fastsig._bench import Child

Loop = Callable[[int], float]


def _timed(call: Callable[..., object], *args: object) -> Loop:
    def loop(n: int) -> float:
        start = time.perf_counter_ns()
        for _ in range(n):
            call(*args)
        return (time.perf_counter_ns() - start) / n

    return loop


def contenders(pid: int, sig: int) -> Dict[str, Loop]:
    lib = getattr(_core, "lib")  # noqa: B009 - the raw cffi call, for comparison
    def many(n: int) -> float:
        start = time.perf_counter_ns()
        fastsig.sigqueue_many(pid, sig, range(n))
        return (time.perf_counter_ns() - start) / n

    return {
        "os.kill(pid, sig)": _timed(os.kill, pid, sig),
        "fastsig.sigqueue(pid, sig, 7)": _timed(fastsig.sigqueue, pid, sig, 7),
        "fastsig.sigqueue(pid, 'USR1', 7)": _timed(fastsig.sigqueue, pid, "USR1", 7),
        "checked Python path (no C fast path)": _timed(_ops._sigqueue_checked, pid, sig, 7),
        "raw cffi lib.fs_sigqueue(pid, sig, 7)": _timed(lib.fs_sigqueue, pid, sig, 7),
        "fastsig.sigqueue_many(range(n)), per value": many,
    }


def _blocked_sleeper(sig: int, ready: int) -> None:
    """A sibling to send to: sig blocked, asleep until killed."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {sig})
    os.write(ready, b"r")
    while True:
        signal.pause()


def measure(calls: int, rounds: int, target: str) -> List[Tuple[str, float, List[float]]]:
    sig = int(signal.SIGUSR1)
    signal.pthread_sigmask(signal.SIG_BLOCK, {sig})
    if target == "self":
        return _measure(contenders(os.getpid(), sig), calls, rounds)
    with Child(_blocked_sleeper, sig, ready=True) as sibling:
        sibling.wait_ready(10)
        return _measure(contenders(sibling.pid, sig), calls, rounds)


def _measure(loops: Dict[str, Loop], calls: int, rounds: int) -> List[Tuple[str, float, List[float]]]:
    samples: Dict[str, List[float]] = {name: [] for name in loops}
    for loop in loops.values():  # warm up
        loop(calls // 10)
    for _ in range(rounds):
        for name, loop in loops.items():
            samples[name].append(loop(calls))
    return [(name, statistics.median(s), s) for name, s in samples.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=9, help="rounds (alternating)")
    parser.add_argument("--target", choices=("self", "sibling"), default="self")
    args = parser.parse_args()
    results = measure(args.calls, args.rounds, args.target)
    base = results[0][1]
    print(f"{'send to ' + args.target + ', signal blocked':45} {'ns/call':>8} {'x os.kill':>9}   spread")
    for name, median, samples in results:
        print(f"{name:45} {median:8.0f} {median / base:9.2f}   "
              f"{min(samples):.0f}..{max(samples):.0f}")


if __name__ == "__main__":
    main()
