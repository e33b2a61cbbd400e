"""The ping-pong section: round trips between two processes.

Each design runs in a child that forks its server (a Child used as a context
manager); both inherit the child's mask and CPU affinity, so nothing can
arrive before its receiver is set up. A design is fn(rounds, budget_s, idle_s)
-> the round trips in ns, and stops early once budget_s has passed.
"""

from __future__ import annotations

import os
import signal
import statistics
import time
from typing import Callable, List, Optional, Tuple

from .. import _core
from .._ops import Exchange, pthread_sigmask, sigqueue, sigtimedwait, sigwaitinfo
from .child import Child
from .params import PING, PONG, Contender, Params, Progress, alternated, median, percentile, ratio
from .rows import PingPongRow

Design = Callable[[int, float, float], List[int]]


def _clock(rounds: int, budget_s: float, one: Callable[[int], object]) -> List[int]:
    """Time each round trip one(i), which must return i; stop early after
    budget_s. The loop is as lean as a loop in Python gets: its overhead is
    part of what a Python peer pays."""
    rtts: List[int] = []
    replies: List[object] = []
    clock, keep, reply = time.perf_counter_ns, rtts.append, replies.append
    stop = clock() + int(budget_s * 1e9)
    for i in range(rounds):
        start = clock()
        reply(one(i))
        end = clock()
        keep(end - start)
        if end > stop:
            break
    if replies != list(range(len(replies))):
        raise RuntimeError(f"ping-pong: a reply came back wrong or missing ({len(replies)} rounds)")
    return rtts


def pp_classic(rounds: int, budget_s: float, idle_s: float) -> List[int]:
    """The classic process-group ping-pong: Python handlers set a flag, busy
    loops wait for it, and kill(0, sig) reaches the peer through the process
    group, whose members ignore the signal meant for the other side."""
    ping, pong = signal.SIGUSR1, signal.SIGUSR2
    os.setpgid(0, 0)
    signal.pthread_sigmask(signal.SIG_BLOCK, {ping, pong})
    signal.signal(ping, signal.SIG_IGN)
    signal.signal(pong, signal.SIG_IGN)
    flag = [False]

    def hit(signum: int, frame: object) -> None:
        flag[0] = True

    def spin() -> None:
        deadline = time.monotonic() + idle_s + budget_s
        while not flag[0]:
            if time.monotonic() > deadline:
                os._exit(1)
        flag[0] = False

    def serve() -> None:
        signal.signal(ping, hit)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {ping, pong})
        while True:
            spin()
            os.kill(0, pong)

    def one(i: int) -> int:
        os.kill(0, ping)
        spin()
        return i

    with Child(serve):
        signal.signal(pong, hit)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {ping, pong})
        return _clock(rounds, budget_s, one)


def _stop_after(rounds: int, budget_s: float) -> None:
    """A sigwaitinfo loop waits forever for a lost signal: SIGALRM's default
    action ends the process after as long as the parent would wait for it,
    should the parent not kill it first (see run_pingpong)."""
    signal.alarm(int(30 + budget_s + rounds / 1000) + 1)


def pp_stdlib(rounds: int, budget_s: float, idle_s: float) -> List[int]:
    signal.pthread_sigmask(signal.SIG_BLOCK, {PING, PONG})
    client = os.getpid()
    _stop_after(rounds, budget_s)

    def serve() -> None:
        _stop_after(rounds, budget_s)  # alarms are not inherited
        while True:
            signal.sigwaitinfo({PING})
            os.kill(client, PONG)

    with Child(serve) as server:

        def one(i: int) -> int:
            os.kill(server.pid, PING)
            signal.sigwaitinfo({PONG})
            return i

        return _clock(rounds, budget_s, one)


def pp_fastsig(rounds: int, budget_s: float, idle_s: float) -> List[int]:
    pthread_sigmask(_core.SIG_BLOCK, {PING, PONG})
    client = os.getpid()

    def serve() -> None:
        first = sigtimedwait({PING}, idle_s)
        if first is None:
            return
        reply = Exchange(client, PONG, {PING}, timeout=idle_s)
        value: Optional[int] = first.si_value
        while value is not None:  # one C call: pong this value, wait for the next ping
            value = reply.send_wait_value(value)

    with Child(serve) as server:
        exchange = Exchange(server.pid, PING, {PONG}, timeout=idle_s)
        return _clock(rounds, budget_s, exchange.send_wait_value)


def pp_natural(rounds: int, budget_s: float, idle_s: float) -> List[int]:
    """What a user writes without Exchange: fastsig.sigqueue, then
    fastsig.sigwaitinfo, the stdlib loop's calls; the value goes there and
    back, as with Exchange."""
    pthread_sigmask(_core.SIG_BLOCK, {PING, PONG})
    client = os.getpid()
    _stop_after(rounds, budget_s)

    def serve() -> None:
        _stop_after(rounds, budget_s)
        while True:
            sigqueue(client, PONG, sigwaitinfo({PING}).si_value)

    with Child(serve) as server:

        def one(i: int) -> int:
            sigqueue(server.pid, PING, i)
            return sigwaitinfo({PONG}).si_value

        return _clock(rounds, budget_s, one)


def pp_c(rounds: int, budget_s: float, idle_s: float) -> List[int]:
    pthread_sigmask(_core.SIG_BLOCK, {PING, PONG})
    client = os.getpid()
    idle_ns = int(idle_s * 1e9)

    def serve() -> None:
        _core.ref_pingpong(client, PONG, PING, 0, idle_ns, client=False)

    with Child(serve) as server:
        return _core.ref_pingpong(server.pid, PING, PONG, rounds, idle_ns, client=True)


PINGPONG: List[Contender[Design]] = [
    Contender("stdlib-classic", "stdlib classic: handlers + busy loop + kill(0, sig)", "stdlib",
              pp_classic),
    Contender("stdlib-sigwaitinfo", "stdlib os.kill + signal.sigwaitinfo", "stdlib", pp_stdlib),
    Contender("fastsig-natural", "fastsig.sigqueue + fastsig.sigwaitinfo", "fastsig",
              pp_natural),
    Contender("fastsig-exchange", "fastsig Exchange (one C call per round trip)", "fastsig",
              pp_fastsig),
    Contender("c-sigtimedwait", "C sigqueue + sigtimedwait", "C", pp_c),
]


def _cdf(samples: List[int]) -> List[float]:
    """Round trip (us) at every half percentile 0..100: enough for a CDF plot."""
    ordered = sorted(samples)
    return [round(percentile(ordered, q / 200) / 1000, 3) for q in range(201)]


def _us(ns: Optional[float]) -> Optional[float]:
    return None if ns is None else ns / 1000


def run_pingpong(p: Params, progress: Progress) -> List[PingPongRow]:
    pinned = p.cpus[0] if p.cpus else sorted(os.sched_getaffinity(0))[0]
    modes: List[Tuple[str, Optional[int]]] = [("unpinned", None), (f"pinned cpu {pinned}", pinned)]
    pairs = [(mode, cpu, c) for mode, cpu in modes for c in PINGPONG]

    def measure(pair: Tuple[str, Optional[int], Contender[Design]]) -> List[int]:
        _, cpu, c = pair
        rtts: List[int] = Child(c.fn, p.rounds, p.budget_s, p.idle_s, cpu=cpu) \
            .result(30 + p.budget_s + p.rounds / 1000)
        return rtts

    runs = alternated(pairs, p.repeat, measure, progress, "ping-pong",
                      lambda pair: f"{pair[2].name}, {pair[0]}")
    rows: List[PingPongRow] = []
    for (mode, cpu, c), samples in zip(pairs, runs):
        done = [s for s in samples if s]
        medians = [float(statistics.median(s)) for s in done]
        p99s = [percentile(sorted(s), 0.99) for s in done]
        rows.append(PingPongRow(
            id=c.id, name=c.name, family=c.family, mode=mode, cpu=cpu,
            median_us=_us(median(medians)), p99_us=_us(median(p99s)),
            rounds=sum(len(s) for s in done), cdf_us=_cdf([x for s in done for x in s])))
    for mode, _ in modes:
        ref = next((r.median_us for r in rows if r.mode == mode and r.family == "C"), None)
        for row in rows:
            if row.mode == mode:
                row.vs_c = ratio(row.median_us, ref)
    return rows
