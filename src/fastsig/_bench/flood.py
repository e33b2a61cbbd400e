"""The flood and drain sections: one C sender, each receiver in turn.

Each receiver runs in a child: it sets itself up, says ready, receives until
the end marker (or idle_s with nothing), and returns a Tally. Paths that see
values compare each batch with the values expected next while they receive
(see _loop) and are counted after the clock stops.
"""

from __future__ import annotations

import operator
import os
import select
import signal
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple, TypeVar, Union

from .. import _core
from .._listener import Listener
from .._ops import SignalFD, Waiter, pthread_sigmask
from .._siginfo import SigInfo
from .child import Child
from .params import BATCH, END, SIG, Contender, Params, Progress, alternated, available, median, ratio
from .rows import FloodRow


@dataclass
class Tally:
    """What one receiver saw. None where the path cannot see values."""

    received: int
    unique: Optional[int]
    out_of_order: Optional[int]
    duplicates: Optional[int]
    first_ns: int                  # the first arrival
    end_ns: int                    # the end marker; 0 if it never came
    last_ns: int = 0               # the last arrival (C receivers)
    dropped: Optional[int] = None  # the ring's count of what it had no room for
    start_ns: int = 0              # set up, it began to receive (unblocked, or first wait)


Receiver = Callable[[int, Params, int], Tally]
T = TypeVar("T")
_SI_VALUE = operator.itemgetter(SigInfo._fields.index("si_value"))  # (n, params, ready fd) -> Tally


def checked(values: List[int], n: int, first_ns: int, end_ns: int) -> Tally:
    """Counts values 0..n-1 as received: how many unique, out of order, twice."""
    unique = len({v for v in values if 0 <= v < n})
    out_of_order = sum(1 for a, b in zip(values, values[1:]) if b != a + 1)
    if values and values[0] != 0:
        out_of_order += 1
    return Tally(received=len(values), unique=unique, out_of_order=out_of_order,
                 duplicates=len(values) - len(set(values)), first_ns=first_ns, end_ns=end_ns)


def _ready(fd: int) -> None:
    if fd >= 0:
        os.write(fd, b"r")


class _Kept:
    """The values a receiver sees, each batch checked while the clock runs at
    the cost of one list comparison: with what a lossless, in-order receiver
    gets next (0..n-1, made before the clock starts). A batch that matches is
    kept as its place in that list, one that differs (the end marker's, or
    any loss, duplicate or reordering) as it is; checked() counts them all
    after the clock stops."""

    def __init__(self, n: int) -> None:
        self.expected = list(range(n))
        self.parts: List[Union[range, List[int]]] = []
        self.count = 0

    def keep(self, got: List[int]) -> bool:
        """Keep a batch; whether it may hold the end marker (-1), which only
        a batch that differs can."""
        end = self.count + len(got)
        matched = got == self.expected[self.count:end]
        self.parts.append(range(self.count, end) if matched else got)
        self.count = end
        return not matched and -1 in got

    def values(self) -> List[int]:
        return [v for part in self.parts for v in part]


def _loop(read: Callable[[], List[T]], n: int, ready: int,
          values: Callable[[List[T]], List[int]] = lambda batch: batch,  # type: ignore
          ) -> Tuple[List[int], int, int, int]:
    """read() -> a batch ([] after idle_s) until the end marker (value -1)
    comes: the values of what arrived (see _Kept), when the loop began, the
    first arrival's and the end marker's time (0 if it never came). The
    marker's signal is numbered above the values', so the kernel delivers it
    after every value, and a Listener's reader holding values back holds it
    back with them: a value after the marker counts as lost."""
    kept = _Kept(n)
    _ready(ready)
    start_ns = time.monotonic_ns()
    first_ns = end_ns = 0
    while True:
        batch = read()
        if not batch:
            break
        if not first_ns:
            first_ns = time.monotonic_ns()
        if kept.keep(values(batch)):
            end_ns = time.monotonic_ns()
            break
    return kept.values(), start_ns, first_ns, end_ns


def _value_loop(read: Callable[[], List[int]], n: int, ready: int, start_ns: int = 0) -> Tally:
    """read() -> a batch of values ([] after idle_s); -1 is the end marker.
    start_ns: when receiving began, if before the loop (a handler unblocked)."""
    values, loop_ns, first_ns, end_ns = _loop(read, n, ready)
    tally = checked([v for v in values if v != -1], n, first_ns, end_ns)
    tally.start_ns = start_ns or loop_ns
    return tally


def recv_stdlib_handler(n: int, p: Params, ready: int) -> Tally:
    state = {"calls": 0, "first_ns": 0, "end_ns": 0}

    def on_value(signum: int, frame: object) -> None:
        state["calls"] += 1
        if not state["first_ns"]:
            state["first_ns"] = time.monotonic_ns()

    def on_end(signum: int, frame: object) -> None:
        state["end_ns"] = time.monotonic_ns()

    signal.signal(SIG, on_value)
    signal.signal(END, on_end)
    start_ns = time.monotonic_ns()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {SIG, END})  # blocked while prefilled
    _ready(ready)
    last, seen = time.monotonic(), 0
    while not state["end_ns"]:
        time.sleep(0.001)
        if state["calls"] != seen:
            last, seen = time.monotonic(), state["calls"]
        elif time.monotonic() - last > p.idle_s:
            break
    return Tally(received=state["calls"], unique=None, out_of_order=None, duplicates=None,
                 first_ns=state["first_ns"], end_ns=state["end_ns"], start_ns=start_ns)


def recv_stdlib_sigwaitinfo(n: int, p: Params, ready: int) -> Tally:
    sigs = {SIG, END}
    signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    # sigwaitinfo() has no timeout: should the end marker never come (the
    # parent died), SIGALRM's default action ends this child.
    signal.alarm(int(30 + p.idle_s + n / 10_000))
    _ready(ready)
    received, first_ns, start_ns = 0, 0, time.monotonic_ns()
    while True:
        info = signal.sigwaitinfo(sigs)  # no si_value: order cannot be checked
        if info.si_signo == END:
            break
        if not received:
            first_ns = time.monotonic_ns()
        received += 1
    return Tally(received=received, unique=None, out_of_order=None, duplicates=None,
                 first_ns=first_ns, end_ns=time.monotonic_ns(), start_ns=start_ns)


def _read_once(listener: Listener) -> None:
    """What the Listener's docs advise before a flood: read once, so this
    thread is the reader (held back rather than flooded past its ring) and
    its batch buffer exists."""
    listener.drain_values()
    listener.drain()


def recv_ring(n: int, p: Params, ready: int) -> Tally:
    with Listener([SIG, END], capacity=p.ring_capacity, batch=BATCH) as listener:
        _read_once(listener)
        start_ns = time.monotonic_ns()
        pthread_sigmask(_core.SIG_UNBLOCK, {SIG, END})  # blocked while prefilled
        tally = _value_loop(lambda: listener.wait_values(timeout=p.idle_s), n, ready,
                            start_ns=start_ns)
        tally.dropped = listener.stats()[SIG].dropped
    return tally


def recv_ring_records(n: int, p: Params, ready: int) -> Tally:
    """The ring read as SigInfo records; their values checked after the clock
    stops. The marker is the ring's highest signal, so its record is the last."""
    with Listener([SIG, END], capacity=p.ring_capacity, batch=BATCH) as listener:
        _read_once(listener)
        start_ns = time.monotonic_ns()
        pthread_sigmask(_core.SIG_UNBLOCK, {SIG, END})  # blocked while prefilled
        values, _, first_ns, end_ns = _loop(lambda: listener.wait(timeout=p.idle_s), n, ready,
                                            values=lambda batch: list(map(_SI_VALUE, batch)))
        dropped = listener.stats()[SIG].dropped
    tally = checked([v for v in values if v != -1], n, first_ns, end_ns)
    tally.dropped, tally.start_ns = dropped, start_ns
    return tally


SUBSCRIBERS = 4


def recv_ring_fanout(n: int, p: Params, ready: int) -> Tally:
    """SUBSCRIBERS Listeners of the same signals, each of which gets every
    delivery, read in turn by one thread (the reader of every ring, so that
    backpressure holds for each): a round reads a batch from each, and blocks
    on one only when none had any. A batch a round keeps the rings within a
    batch of each other: a ring down to a quarter lets held-back signals in
    for its thread, into the others too. Counted as one receiver that sees a
    signal once all its Listeners have: the fewest values any saw, the losses
    and disorder of all."""
    listeners = [Listener([SIG, END], capacity=p.ring_capacity, batch=BATCH)
                 for _ in range(SUBSCRIBERS)]
    kept = [_Kept(n) for _ in listeners]
    waiting = set(range(SUBSCRIBERS))  # those whose end marker has not come

    def round_robin() -> bool:
        got = False
        for i, listener in enumerate(listeners):
            batch = listener.drain_values()
            if batch:
                got = True
                if kept[i].keep(batch):
                    waiting.discard(i)
        return got

    try:
        for listener in listeners:
            _read_once(listener)
        start_ns = time.monotonic_ns()
        pthread_sigmask(_core.SIG_UNBLOCK, {SIG, END})  # blocked while prefilled
        _ready(ready)
        first_ns = end_ns = 0
        while waiting:
            if round_robin():
                first_ns = first_ns or time.monotonic_ns()
                continue
            i = min(waiting)
            batch = listeners[i].wait_values(timeout=p.idle_s)
            if not batch:
                break
            first_ns = first_ns or time.monotonic_ns()
            if kept[i].keep(batch):
                waiting.discard(i)
        if not waiting:
            end_ns = time.monotonic_ns()
        dropped = sum(listener.stats()[SIG].dropped for listener in listeners)
    finally:
        for listener in listeners:
            listener.close()
    tallies = [checked([v for v in k.values() if v != -1], n, first_ns, end_ns) for k in kept]
    return Tally(received=min(t.received for t in tallies),
                 unique=min(t.unique or 0 for t in tallies),
                 out_of_order=sum(t.out_of_order or 0 for t in tallies),
                 duplicates=sum(t.duplicates or 0 for t in tallies),
                 first_ns=first_ns, end_ns=end_ns, dropped=dropped, start_ns=start_ns)


def recv_waiter(n: int, p: Params, ready: int) -> Tally:
    pthread_sigmask(_core.SIG_BLOCK, {SIG, END})
    waiter = Waiter([SIG, END], max=BATCH)
    return _value_loop(lambda: waiter.wait_values(timeout=p.idle_s), n, ready)


def recv_signalfd(n: int, p: Params, ready: int) -> Tally:
    pthread_sigmask(_core.SIG_BLOCK, {SIG, END})
    with SignalFD([SIG, END], nonblocking=True, max=BATCH) as sfd:
        def read() -> List[int]:
            # Poll only when the queue ran dry, as the C reference does.
            values = sfd.read_values()
            if values or not select.select([sfd], [], [], p.idle_s)[0]:
                return values
            return sfd.read_values()

        return _value_loop(read, n, ready)


def _recv_c(kind: int) -> Receiver:
    def receive(n: int, p: Params, ready: int) -> Tally:
        raw = _core.ref_receive(kind, SIG, END, n, int(p.idle_s * 1e9), ready)
        del raw["foreign"]
        return Tally(**raw)

    return receive


FLOOD: List[Contender[Receiver]] = available([
    Contender("stdlib-handler", "stdlib signal.signal handler", "stdlib", recv_stdlib_handler),
    Contender("stdlib-sigwaitinfo", "stdlib signal.sigwaitinfo loop", "stdlib",
              recv_stdlib_sigwaitinfo),
    Contender("ring", "fastsig Listener ring (wait_values)", "fastsig", recv_ring),
    Contender("ring-records", "fastsig Listener ring (wait, SigInfo records)", "fastsig",
              recv_ring_records),
    Contender("ring-4", f"fastsig Listener ring, {SUBSCRIBERS} subscribers on one signal", "fastsig",
              recv_ring_fanout),
    Contender("waiter", "fastsig Waiter.wait_values (sigwaitinfo_many)", "fastsig", recv_waiter),
    Contender("signalfd", "fastsig SignalFD.read_values", "fastsig", recv_signalfd,
              _core.HAVE_SIGNALFD),
    Contender("c-handler", "C SA_SIGINFO handler", "C", _recv_c(_core.REF_HANDLER)),
    Contender("c-take", "C SA_SIGINFO handler taking what is pending", "C",
              _recv_c(_core.REF_TAKE)),
    Contender("c-sigwaitinfo", "C sigwaitinfo loop", "C", _recv_c(_core.REF_SIGWAITINFO)),
    Contender("c-signalfd", "C signalfd batch reads", "C", _recv_c(_core.REF_SIGNALFD),
              _core.HAVE_SIGNALFD),
])


def _flood_sender(receiver_pid: int, n: int, ready: int) -> Dict[str, int]:
    _ready(ready)
    return _core.ref_flood(receiver_pid, SIG, n, END)


def _prefilled(receiver: Receiver, n: int, p: Params, go: int, ready: int) -> Tally:
    """Drain mode: the signals stay blocked while the whole flood is queued;
    the receiver starts when the parent says go, and its clock once it is set
    up (tally.start_ns): its setup, a Listener's ring, say, is no receive cost."""
    pthread_sigmask(_core.SIG_BLOCK, {SIG, END})
    _ready(ready)
    os.read(go, 1)
    return receiver(n, p, -1)


@dataclass
class _Run:
    rate: float
    received: int
    lost: int
    out_of_order: Optional[int]
    duplicates: Optional[int]
    dropped: Optional[int]
    ended: bool


def flood_once(receiver: Receiver, p: Params, drain: bool = False) -> _Run:
    """One flood into one receiver. drain=True queues it all first (p.drain_n
    signals), then times the receiver alone."""
    rcpu, scpu = (p.cpus[0], p.cpus[1]) if len(p.cpus) >= 2 else (None, None)
    n = p.drain_n if drain else p.flood_n
    go_r, go_w = os.pipe()
    try:
        child = Child(_prefilled, receiver, n, p, go_r, cpu=rcpu, ready=True) if drain else \
            Child(receiver, n, p, cpu=rcpu, ready=True)
    finally:
        os.close(go_r)
    with child:
        try:
            child.wait_ready(10)
            sent: Dict[str, int] = Child(_flood_sender, child.pid, n, cpu=scpu, ready=True) \
                .result(60 + n / 10_000)
            if drain:
                os.write(go_w, b"g")
            tally: Tally = child.result(10 + p.idle_s + n / 10_000)
        finally:
            os.close(go_w)
    end = tally.end_ns or tally.last_ns or time.monotonic_ns()
    seconds = max(1e-9, (end - (tally.start_ns if drain else sent["start_ns"])) / 1e9)
    arrived = tally.unique if tally.unique is not None else tally.received
    return _Run(rate=tally.received / seconds, received=tally.received, lost=n - arrived,
                out_of_order=tally.out_of_order, duplicates=tally.duplicates,
                dropped=tally.dropped, ended=bool(tally.end_ns))


def run_flood(p: Params, progress: Progress, drain: bool = False) -> List[FloodRow]:
    runs = alternated(FLOOD, p.repeat, lambda c: flood_once(c.fn, p, drain), progress,
                      "drain" if drain else "flood", lambda c: c.name)
    rows: List[FloodRow] = []
    for c, samples in zip(FLOOD, runs):
        rows.append(FloodRow(
            id=c.id, name=c.name, family=c.family, rate=median([s.rate for s in samples]) or 0.0,
            arrived=median([s.received for s in samples]), lost=median([s.lost for s in samples]),
            out_of_order=median([s.out_of_order for s in samples]),
            duplicates=median([s.duplicates for s in samples]),
            dropped=median([s.dropped for s in samples]),
            worst_lost=max(s.lost for s in samples), all_ended=all(s.ended for s in samples),
            rates=[s.rate for s in samples]))
    best_c = max((row.rate for row in rows if row.family == "C"), default=None)
    best_std = max((row.rate for row in rows if row.family == "stdlib"), default=None)
    for row in rows:
        row.vs_best_c = ratio(row.rate, best_c)
        row.vs_best_stdlib = ratio(row.rate, best_std)
    return rows


def run_drain(p: Params, progress: Progress) -> List[FloodRow]:
    return run_flood(p, progress, drain=True)
