"""The send cost section: ns per signal, one process sending a blocked standard
signal to itself in a loop (the kernel drops repeats of a pending standard
signal early, so nothing queues up and every contender takes the same kernel
path). A sender is fn(pid, sig, n) -> ns per signal; the Python loops bind
what they call to a local first, as a careful caller would."""

from __future__ import annotations

import itertools
import os
import time
from typing import Callable, List

from .. import _core
from .._ops import pthread_sigmask, sigqueue, sigqueue_many
from .child import Child
from .params import SEND_SIG, Contender, Params, Progress, alternated, median, ratio
from .rows import SendRow

Sender = Callable[[int, int, int], float]


def send_os_kill(pid: int, sig: int, n: int) -> float:
    kill, clock = os.kill, time.perf_counter_ns
    start = clock()
    for _ in itertools.repeat(None, n):
        kill(pid, sig)
    return (clock() - start) / n


def send_sigqueue(pid: int, sig: int, n: int) -> float:
    send, clock = sigqueue, time.perf_counter_ns
    start = clock()
    for _ in itertools.repeat(None, n):
        send(pid, sig, 0)
    return (clock() - start) / n


def send_sigqueue_many(pid: int, sig: int, n: int) -> float:
    start = time.perf_counter_ns()
    sigqueue_many(pid, sig, range(n))
    return (time.perf_counter_ns() - start) / n


def _send_c(glibc: bool = False, kill: bool = False) -> Sender:
    def send(pid: int, sig: int, n: int) -> float:
        sent = _core.ref_flood(pid, sig, n, 0, glibc=glibc, kill=kill)
        return (sent["end_ns"] - sent["start_ns"]) / n

    return send


OS_KILL, C_SENDER = "os.kill", "c-rt_sigqueueinfo"  # the references of the ratios
SEND: List[Contender[Sender]] = [
    Contender(OS_KILL, "os.kill", "stdlib", send_os_kill),
    Contender("sigqueue", "fastsig.sigqueue", "fastsig", send_sigqueue),
    Contender("sigqueue_many", "fastsig.sigqueue_many", "fastsig", send_sigqueue_many),
    Contender(C_SENDER, "C rt_sigqueueinfo loop", "C", _send_c(glibc=False)),
    Contender("c-glibc-sigqueue", "C loop (glibc sigqueue)", "C", _send_c(glibc=True)),
    # What kill(2) itself costs against rt_sigqueueinfo(2): the kernel's part
    # of fastsig.sigqueue against os.kill.
    Contender("c-kill", "C kill loop", "C", _send_c(kill=True)),
]


def _send_cost(sender: Sender, n: int) -> float:
    pthread_sigmask(_core.SIG_BLOCK, {SEND_SIG})
    return sender(os.getpid(), int(SEND_SIG), n)


def run_send(p: Params, progress: Progress) -> List[SendRow]:
    def measure(c: Contender[Sender]) -> float:
        ns: float = Child(_send_cost, c.fn, p.send_n).result(60 + p.send_n / 10_000)
        return ns

    costs = alternated(SEND, p.repeat, measure, progress, "send cost", lambda c: c.name)
    rows = [SendRow(id=c.id, name=c.name, family=c.family, ns=median(runs) or 0.0, runs=runs)
            for c, runs in zip(SEND, costs)]
    by_id = {row.id: row for row in rows}
    for row in rows:
        row.vs_os_kill = ratio(row.ns, by_id[OS_KILL].ns)
        row.rate_vs_c = ratio(by_id[C_SENDER].ns, row.ns)
    return rows
