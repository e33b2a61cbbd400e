"""``python -m fastsig bench``: fastsig against the stdlib and pure C, in one run.

Four measurements, each contender in a forked child so no signal state leaks
into the next one, the contenders alternated (the order rotates every repeat)
and every figure the median of the repeats:

* flood: one C sender (csrc/refbench.c) queues values 0..N-1 as fast as the
  kernel takes them (retrying on a full queue), then an end marker on a higher
  real-time signal; each receiver in turn counts what arrived, what was lost,
  duplicated or out of order. Rate = arrivals / (end marker seen - first send),
  CLOCK_MONOTONIC on both sides.
* drain: the same, with the whole flood queued before the receiver starts, so
  its clock measures the receiver alone (no sender contention, no wake-ups).
* ping-pong: round trips between two processes, unpinned and with both pinned
  to one CPU (``cpus[0]``).
* send cost: one process sends a blocked standard signal to itself in a loop
  (the kernel drops repeats of a pending standard signal early, so nothing
  queues up and every contender takes the same kernel path).

Nothing here asserts a speed: the table shows ratios measured side by side.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import pickle
import platform
import resource
import select
import signal
import statistics
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, TextIO, Tuple

from . import _core
from ._listener import DEFAULT_CAPACITY
from ._names import signame

SIG = _core.SIGRTMIN + 1    # the flood
END = _core.SIGRTMIN + 2    # its end marker: delivered after every pending SIG
PING = _core.SIGRTMIN + 3
PONG = _core.SIGRTMIN + 4
SEND_SIG = signal.SIGUSR1   # send cost: blocked, so repeats coalesce
BATCH = 256                 # records per batch read, C and Python alike

Row = Dict[str, Any]


class BenchError(RuntimeError):
    """A contender failed or hung; the message says which and why."""


@dataclass
class Params:
    flood_n: int = 200_000
    drain_n: int = 20_000   # must fit the queue (RLIMIT_SIGPENDING) at once
    rounds: int = 20_000
    send_n: int = 200_000
    repeat: int = 5
    cpus: List[int] = field(default_factory=list)
    idle_s: float = 2.0
    ring_capacity: int = DEFAULT_CAPACITY  # the Listener's default: what users get
    budget_s: float = 2.0   # most time one ping-pong run may take (the seed design pinned)
    sections: Tuple[str, ...] = ("flood", "drain", "pingpong", "send")

    @classmethod
    def quick(cls) -> Params:
        return cls(flood_n=20_000, drain_n=5_000, rounds=2_000, send_n=20_000, repeat=3,
                   budget_s=0.5)


# ---- children ----------------------------------------------------------------

class _Child:
    """fn(*args, ready_fd) in a forked child; its return value comes back pickled."""

    def __init__(self, fn: Callable[..., Any], *args: Any, cpu: Optional[int] = None) -> None:
        ready_r, ready_w = os.pipe()
        result_r, result_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            status = 1
            try:
                os.close(ready_r)
                os.close(result_r)
                if cpu is not None:
                    os.sched_setaffinity(0, {cpu})
                payload: Tuple[str, Any] = ("ok", fn(*args, ready_w))
                status = 0
            except BaseException:  # noqa: BLE001 - everything goes back to the parent
                payload = ("error", traceback.format_exc())
            try:
                with os.fdopen(result_w, "wb") as out:
                    out.write(pickle.dumps(payload))
            finally:
                os._exit(status)
        os.close(ready_w)
        os.close(result_w)
        self.pid = pid
        self.name = getattr(fn, "__name__", "child")
        self._ready = ready_r
        self._result = result_r

    def wait_ready(self, timeout: float) -> None:
        if not select.select([self._ready], [], [], timeout)[0]:
            self.kill()
            raise BenchError(f"{self.name}: not ready after {timeout} s")
        os.read(self._ready, 1)

    def result(self, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        chunks = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._result], [], [], left)[0]:
                self.kill()
                raise BenchError(f"{self.name}: no result after {timeout:.0f} s")
            chunk = os.read(self._result, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        os.waitpid(self.pid, 0)
        self._close()
        if not chunks:
            raise BenchError(f"{self.name}: died without a result")
        kind, value = pickle.loads(b"".join(chunks))
        if kind == "error":
            raise BenchError(f"{self.name} failed:\n{value}")
        return value

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        self._close()

    def _close(self) -> None:
        for fd in (self._ready, self._result):
            with contextlib.suppress(OSError):
                os.close(fd)


def _ready(fd: int) -> None:
    if fd >= 0:
        os.write(fd, b"r")


def _pin(cpu: Optional[int]) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


# ---- flood receivers -----------------------------------------------------------
# Each runs in a child, sets itself up, says ready, receives until the end
# marker (or idle_s with nothing), and returns arrivals and timestamps. Paths
# that see values return them; they are checked after the clock stops.

def _checked(values: List[int], n: int, first_ns: int, end_ns: int, **extra: Any) -> Row:
    unique = len({v for v in values if 0 <= v < n})
    out_of_order = sum(1 for a, b in zip(values, values[1:]) if b != a + 1)
    if values and values[0] != 0:
        out_of_order += 1
    return dict(received=len(values), unique=unique, out_of_order=out_of_order,
                duplicates=len(values) - len(set(values)), first_ns=first_ns, end_ns=end_ns,
                **extra)


def _value_loop(read: Callable[[], List[int]], n: int, ready: int,
                drain: Optional[Callable[[], List[int]]] = None) -> Row:
    """read() -> a batch of values ([] after idle_s); -1 is the end marker."""
    _ready(ready)
    values: List[int] = []
    first_ns = end_ns = 0
    while True:
        batch = read()
        if not batch:
            break
        if not first_ns:
            first_ns = time.monotonic_ns()
        values += batch
        if -1 in batch:
            end_ns = time.monotonic_ns()
            break
    # The ring may hold records that a nested handler put after the marker.
    while drain is not None:
        more = drain()
        if not more:
            break
        values += more
    return _checked([v for v in values if v != -1], n, first_ns, end_ns)


def recv_stdlib_handler(n: int, idle_s: float, ready: int) -> Row:
    import signal as stdlib

    state = {"calls": 0, "first_ns": 0, "end_ns": 0}

    def on_value(signum: int, frame: object) -> None:
        state["calls"] += 1
        if not state["first_ns"]:
            state["first_ns"] = time.monotonic_ns()

    def on_end(signum: int, frame: object) -> None:
        state["end_ns"] = time.monotonic_ns()

    stdlib.signal(SIG, on_value)
    stdlib.signal(END, on_end)
    stdlib.pthread_sigmask(stdlib.SIG_UNBLOCK, {SIG, END})  # blocked while prefilled
    _ready(ready)
    last, seen = time.monotonic(), 0
    while not state["end_ns"]:
        time.sleep(0.001)
        if state["calls"] != seen:
            last, seen = time.monotonic(), state["calls"]
        elif time.monotonic() - last > idle_s:
            break
    return dict(received=state["calls"], unique=None, out_of_order=None, duplicates=None,
                first_ns=state["first_ns"], end_ns=state["end_ns"])


def recv_stdlib_sigwaitinfo(n: int, idle_s: float, ready: int) -> Row:
    import signal as stdlib

    sigs = {SIG, END}
    stdlib.pthread_sigmask(stdlib.SIG_BLOCK, sigs)
    # sigwaitinfo() has no timeout: should the end marker never come (the
    # parent died), SIGALRM's default action ends this child.
    stdlib.alarm(int(30 + idle_s + n / 10_000))
    _ready(ready)
    received, first_ns = 0, 0
    while True:
        info = stdlib.sigwaitinfo(sigs)  # no si_value: order cannot be checked
        if info.si_signo == END:
            break
        if not received:
            first_ns = time.monotonic_ns()
        received += 1
    return dict(received=received, unique=None, out_of_order=None, duplicates=None,
                first_ns=first_ns, end_ns=time.monotonic_ns())


def recv_ring(n: int, idle_s: float, capacity: int, ready: int) -> Row:
    from . import _ops
    from ._listener import Listener

    with Listener([SIG, END], capacity=capacity, batch=BATCH) as listener:
        _ops.pthread_sigmask(_core.SIG_UNBLOCK, {SIG, END})  # blocked while prefilled
        row = _value_loop(lambda: listener.wait_values(timeout=idle_s), n, ready,
                          drain=listener.drain_values)
        stats = listener.stats()
    row["dropped"] = stats[SIG].dropped
    return row


def recv_waiter(n: int, idle_s: float, ready: int) -> Row:
    from ._ops import Waiter, pthread_sigmask

    pthread_sigmask(_core.SIG_BLOCK, {SIG, END})
    waiter = Waiter([SIG, END], max=BATCH)
    return _value_loop(lambda: waiter.wait_values(timeout=idle_s), n, ready)


def recv_signalfd(n: int, idle_s: float, ready: int) -> Row:
    from ._ops import SignalFD, pthread_sigmask

    pthread_sigmask(_core.SIG_BLOCK, {SIG, END})
    with SignalFD([SIG, END], nonblocking=True, max=BATCH) as sfd:
        def read() -> List[int]:
            # Poll only when the queue ran dry, as the C reference does.
            values = sfd.read_values()
            if values or not select.select([sfd], [], [], idle_s)[0]:
                return values
            return sfd.read_values()

        return _value_loop(read, n, ready)


def _recv_c(kind: int) -> Callable[[int, float, int], Row]:
    def receive(n: int, idle_s: float, ready: int) -> Row:
        row: Row = _core.ref_receive(kind, SIG, END, n, int(idle_s * 1e9), ready)
        return row

    return receive


FLOOD: List[Tuple[str, str, Callable[..., Row]]] = [
    # (name, family, receiver)
    ("stdlib signal.signal handler", "stdlib", recv_stdlib_handler),
    ("stdlib signal.sigwaitinfo loop", "stdlib", recv_stdlib_sigwaitinfo),
    ("fastsig Listener ring (wait_values)", "fastsig", recv_ring),
    ("fastsig Waiter.wait_values (sigwaitinfo_many)", "fastsig", recv_waiter),
    ("fastsig SignalFD.read_values", "fastsig", recv_signalfd),
    ("C SA_SIGINFO handler", "C", _recv_c(_core.REF_HANDLER)),
    ("C sigwaitinfo loop", "C", _recv_c(_core.REF_SIGWAITINFO)),
    ("C signalfd batch reads", "C", _recv_c(_core.REF_SIGNALFD)),
]
if not _core.HAVE_SIGNALFD:  # pragma: no cover - Linux has it
    FLOOD = [c for c in FLOOD if "signalfd" not in c[0].lower()]


def _flood_sender(receiver_pid: int, n: int, ready: int) -> Dict[str, int]:
    _ready(ready)
    return _core.ref_flood(receiver_pid, SIG, n, END)


def _prefilled(receiver: Callable[..., Row], args: Tuple[Any, ...], go: int, ready: int) -> Row:
    """Drain mode: the signals stay blocked while the whole flood is queued;
    the receiver starts (and its clock with it) when the parent says go."""
    from ._ops import pthread_sigmask

    pthread_sigmask(_core.SIG_BLOCK, {SIG, END})
    _ready(ready)
    os.read(go, 1)
    start_ns = time.monotonic_ns()
    row = receiver(*args, -1)
    row["start_ns"] = start_ns
    return row


def flood_once(receiver: Callable[..., Row], p: Params, drain: bool = False) -> Row:
    """One flood into one receiver. drain=True queues it all first (p.drain_n
    signals), then times the receiver alone."""
    rcpu, scpu = (p.cpus[0], p.cpus[1]) if len(p.cpus) >= 2 else (None, None)
    n = p.drain_n if drain else p.flood_n
    args: Tuple[Any, ...] = (n, p.idle_s)
    if receiver is recv_ring:
        args += (p.ring_capacity,)
    go_r, go_w = os.pipe()
    try:
        child = _Child(_prefilled, receiver, args, go_r, cpu=rcpu) if drain else \
            _Child(receiver, *args, cpu=rcpu)
    finally:
        os.close(go_r)
    try:
        child.wait_ready(10)
        sender = _Child(_flood_sender, child.pid, n, cpu=scpu)
        sent: Dict[str, int] = sender.result(60 + n / 10_000)
        if drain:
            os.write(go_w, b"g")
        row: Row = child.result(10 + p.idle_s + n / 10_000)
    finally:
        child.kill()
        os.close(go_w)
    end = row["end_ns"] or row.get("last_ns") or time.monotonic_ns()
    seconds = max(1e-9, (end - row.get("start_ns", sent["start_ns"])) / 1e9)
    arrived = row["unique"] if row["unique"] is not None else row["received"]
    return dict(rate=row["received"] / seconds, arrived=row["received"],
                lost=n - arrived, out_of_order=row["out_of_order"],
                duplicates=row["duplicates"], ended=bool(row["end_ns"]),
                dropped=row.get("dropped"), eagain=sent["eagain"], seconds=seconds)


# ---- ping-pong -------------------------------------------------------------------
# Each design runs in a child that forks its server; both inherit the child's
# mask and CPU affinity, so nothing can arrive before its receiver is set up.

@contextlib.contextmanager
def _server(fn: Callable[[], None]) -> Iterator[int]:
    """Fork a server running fn; kill and reap it when the block ends."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the server
        try:
            fn()
        finally:
            os._exit(0)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


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
        raise BenchError(f"ping-pong: a reply came back wrong or missing ({len(replies)} rounds)")
    return rtts


def pp_seed(rounds: int, budget_s: float, idle_s: float, ready: int) -> List[int]:
    """The seed article: Python handlers set a flag, busy loops wait for it, and
    kill(0, sig) reaches the peer through the process group, whose members
    ignore the signal meant for the other side."""
    import signal as stdlib

    ping, pong = stdlib.SIGUSR1, stdlib.SIGUSR2
    os.setpgid(0, 0)
    stdlib.pthread_sigmask(stdlib.SIG_BLOCK, {ping, pong})
    stdlib.signal(ping, stdlib.SIG_IGN)
    stdlib.signal(pong, stdlib.SIG_IGN)
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
        stdlib.signal(ping, hit)
        stdlib.pthread_sigmask(stdlib.SIG_UNBLOCK, {ping, pong})
        while True:
            spin()
            os.kill(0, pong)

    def one(i: int) -> int:
        os.kill(0, ping)
        spin()
        return i

    with _server(serve):
        stdlib.signal(pong, hit)
        stdlib.pthread_sigmask(stdlib.SIG_UNBLOCK, {ping, pong})
        return _clock(rounds, budget_s, one)


def pp_stdlib(rounds: int, budget_s: float, idle_s: float, ready: int) -> List[int]:
    import signal as stdlib

    stdlib.pthread_sigmask(stdlib.SIG_BLOCK, {PING, PONG})
    client = os.getpid()

    def serve() -> None:
        while stdlib.sigtimedwait({PING}, idle_s) is not None:
            os.kill(client, PONG)

    with _server(serve) as server:

        def one(i: int) -> Optional[int]:
            os.kill(server, PING)
            return i if stdlib.sigtimedwait({PONG}, idle_s) is not None else None

        return _clock(rounds, budget_s, one)


def pp_fastsig(rounds: int, budget_s: float, idle_s: float, ready: int) -> List[int]:
    from ._ops import Exchange, pthread_sigmask, sigtimedwait

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

    with _server(serve) as server:
        exchange = Exchange(server, PING, {PONG}, timeout=idle_s)
        return _clock(rounds, budget_s, exchange.send_wait_value)


def pp_c(rounds: int, budget_s: float, idle_s: float, ready: int) -> List[int]:
    from ._ops import pthread_sigmask

    pthread_sigmask(_core.SIG_BLOCK, {PING, PONG})
    client = os.getpid()
    idle_ns = int(idle_s * 1e9)

    def serve() -> None:
        _core.ref_pingpong(client, PONG, PING, 0, idle_ns, client=False)

    with _server(serve) as server:
        return _core.ref_pingpong(server, PING, PONG, rounds, idle_ns, client=True)


PINGPONG: List[Tuple[str, str, Callable[..., List[int]]]] = [
    ("stdlib seed: handlers + busy loop + kill(0, sig)", "stdlib", pp_seed),
    ("stdlib os.kill + signal.sigtimedwait", "stdlib", pp_stdlib),
    ("fastsig Exchange (one C call per round trip)", "fastsig", pp_fastsig),
    ("C sigqueue + sigtimedwait", "C", pp_c),
]


# ---- send cost -------------------------------------------------------------------

def _send_cost(how: str, n: int, ready: int) -> float:
    """ns per signal for n sends of a blocked SIGUSR1 to this process."""
    from . import _ops

    _ops.pthread_sigmask(_core.SIG_BLOCK, {SEND_SIG})
    pid, sig = os.getpid(), int(SEND_SIG)
    clock = time.perf_counter_ns
    if how == "os.kill":
        kill = os.kill
        start = clock()
        for _ in itertools.repeat(None, n):
            kill(pid, sig)
        return (clock() - start) / n
    if how == "fastsig.sigqueue":
        sigqueue = _ops.sigqueue
        start = clock()
        for _ in itertools.repeat(None, n):
            sigqueue(pid, sig, 0)
        return (clock() - start) / n
    if how == "fastsig.sigqueue_many":
        start = clock()
        _ops.sigqueue_many(pid, sig, range(n))
        return (clock() - start) / n
    sent = _core.ref_flood(pid, sig, n, 0, glibc=how.endswith("(glibc sigqueue)"))
    return (sent["end_ns"] - sent["start_ns"]) / n


SEND = ["os.kill", "fastsig.sigqueue", "fastsig.sigqueue_many",
        "C rt_sigqueueinfo loop", "C loop (glibc sigqueue)"]


# ---- running -------------------------------------------------------------------

Progress = Callable[[str], None]


def _alternate(names: Sequence[str], repeat: int) -> Iterable[Tuple[int, str]]:
    """Every contender once per repeat, the order rotated each time."""
    for r in range(repeat):
        shift = r % len(names)
        for name in list(names[shift:]) + list(names[:shift]):
            yield r, name


def _median(values: Sequence[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def _percentile(sorted_values: Sequence[int], q: float) -> float:
    if not sorted_values:
        return math.nan
    k = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return float(sorted_values[k])


def run_flood(p: Params, progress: Progress, drain: bool = False) -> List[Row]:
    table = {name: (family, fn) for name, family, fn in FLOOD}
    runs: Dict[str, List[Row]] = {name: [] for name in table}
    names = list(table)
    total = len(names) * p.repeat
    for step, (_, name) in enumerate(_alternate(names, p.repeat), 1):
        progress(f"{'drain' if drain else 'flood'} {step}/{total}: {name}")
        runs[name].append(flood_once(table[name][1], p, drain))
    rows: List[Row] = []
    for name in names:
        samples = runs[name]

        def med(key: str, samples: List[Row] = samples) -> Optional[float]:
            return _median([s[key] for s in samples if s[key] is not None])

        rows.append(dict(name=name, family=table[name][0], rate=med("rate"), arrived=med("arrived"),
                         lost=med("lost"), out_of_order=med("out_of_order"),
                         duplicates=med("duplicates"), dropped=med("dropped"),
                         worst_lost=max(s["lost"] for s in samples),
                         all_ended=all(s["ended"] for s in samples),
                         rates=[s["rate"] for s in samples]))
    best_c = max((row["rate"] for row in rows if row["family"] == "C"), default=None)
    best_std = max((row["rate"] for row in rows if row["family"] == "stdlib"), default=None)
    for row in rows:
        row["vs_best_c"] = row["rate"] / best_c if best_c else None
        row["vs_best_stdlib"] = row["rate"] / best_std if best_std else None
    return rows


def _cdf(samples: Sequence[int]) -> List[float]:
    """Round trip (us) at every half percentile 0..100: enough for a CDF plot."""
    ordered = sorted(samples)
    return [round(_percentile(ordered, q / 200) / 1000, 3) for q in range(201)]


def run_pingpong(p: Params, progress: Progress) -> List[Row]:
    pinned = p.cpus[0] if p.cpus else sorted(os.sched_getaffinity(0))[0]
    modes: List[Tuple[str, Optional[int]]] = [("unpinned", None), (f"pinned cpu {pinned}", pinned)]
    table = {name: (family, fn) for name, family, fn in PINGPONG}
    keys = [f"{mode}|{name}" for mode, _ in modes for name in table]
    cpu_of = dict(modes)
    samples: Dict[str, List[List[int]]] = {key: [] for key in keys}
    total = len(keys) * p.repeat
    for step, (_, key) in enumerate(_alternate(keys, p.repeat), 1):
        mode, name = key.split("|")
        progress(f"ping-pong {step}/{total}: {name}, {mode}")
        child = _Child(table[name][1], p.rounds, p.budget_s, p.idle_s, cpu=cpu_of[mode])
        samples[key].append(child.result(30 + p.budget_s + p.rounds / 1000))
    rows: List[Row] = []
    for key in keys:
        mode, name = key.split("|")
        runs = samples[key]
        medians = [float(statistics.median(s)) for s in runs if s]
        p99s = [_percentile(sorted(s), 0.99) for s in runs if s]
        pooled = [x for s in runs for x in s]
        rows.append(dict(name=name, family=table[name][0], mode=mode,
                         median_us=statistics.median(medians) / 1000 if medians else None,
                         p99_us=statistics.median(p99s) / 1000 if p99s else None,
                         rounds=sum(len(s) for s in runs), cdf_us=_cdf(pooled)))
    for mode, _ in modes:
        c = [row for row in rows if row["mode"] == mode and row["family"] == "C"]
        ref = c[0]["median_us"] if c else None
        for row in rows:
            if row["mode"] == mode:
                row["vs_c"] = row["median_us"] / ref if ref and row["median_us"] else None
    return rows


def run_send(p: Params, progress: Progress) -> List[Row]:
    costs: Dict[str, List[float]] = {name: [] for name in SEND}
    total = len(SEND) * p.repeat
    for step, (_, name) in enumerate(_alternate(SEND, p.repeat), 1):
        progress(f"send cost {step}/{total}: {name}")
        costs[name].append(_Child(_send_cost, name, p.send_n).result(60 + p.send_n / 10_000))
    rows: List[Row] = [{"name": name, "ns": statistics.median(costs[name]), "runs": costs[name]}
                       for name in SEND]
    kill_ns, c_ns = rows[0]["ns"], rows[3]["ns"]
    for row in rows:
        row["vs_os_kill"] = row["ns"] / kill_ns
        row["rate_vs_c"] = c_ns / row["ns"]
    return rows


def machine() -> Dict[str, Any]:
    from . import __version__

    model = ""
    try:
        with open("/proc/cpuinfo") as info:
            model = next((line.split(":", 1)[1].strip() for line in info
                          if line.startswith("model name")), "")
    except OSError:
        pass
    return dict(
        cpu=model or platform.processor(), nproc=os.cpu_count(),
        cpus_allowed=len(os.sched_getaffinity(0)), kernel=platform.release(),
        system=platform.system(), python=sys.version.split()[0],
        implementation=platform.python_implementation(), fastsig=__version__,
        libc=" ".join(platform.libc_ver()),
        rlimit_sigpending=resource.getrlimit(resource.RLIMIT_SIGPENDING)[0],
        sigrtmin=_core.SIGRTMIN, sigrtmax=_core.SIGRTMAX,
    )


def _targets(res: Dict[str, Any]) -> List[Row]:
    out: List[Row] = []

    def add(what: str, goal: str, ratio: Optional[float], ok: Optional[bool]) -> None:
        out.append(dict(target=what, goal=goal, measured=ratio, met=ok))

    for section in ("flood", "drain"):
        rows = {row["name"]: row for row in res.get(section, [])}
        if not rows:
            continue
        fast = [r for r in rows.values() if r["family"] == "fastsig"]
        lossless = [r for r in fast if r["lost"] == 0 and r["out_of_order"] == 0 and r["duplicates"] == 0]
        best = max(lossless or fast, key=lambda r: r["rate"])
        add(f"{section}: fastsig best path ({best['name']}) vs best C receiver",
            ">= 0.9x, zero loss, in order", best["vs_best_c"],
            best["vs_best_c"] >= 0.9 and best in lossless)
        ring = next(r for r in fast if "ring" in r["name"])
        ratio = ring["rate"] / rows["C SA_SIGINFO handler"]["rate"]
        add(f"{section}: fastsig ring vs C SA_SIGINFO handler", ">= 0.9x, zero loss, in order",
            ratio, ratio >= 0.9 and ring in lossless)
    for row in res.get("pingpong", []):
        if row["family"] == "fastsig":
            add(f"ping-pong fastsig vs C ({row['mode']})", "<= 1.15x", row["vs_c"],
                row["vs_c"] is not None and row["vs_c"] <= 1.15)
    send = {row["name"]: row for row in res.get("send", [])}
    if send:
        ratio = send["fastsig.sigqueue"]["vs_os_kill"]
        add("fastsig.sigqueue cost vs os.kill", "<= 1.1x", ratio, ratio <= 1.1)
        ratio = send["fastsig.sigqueue_many"]["rate_vs_c"]
        add("fastsig.sigqueue_many rate vs C sender", ">= 0.9x", ratio, ratio >= 0.9)
    return out


def run(p: Params, progress: Optional[Progress] = None) -> Dict[str, Any]:
    """Run the sections of p; returns everything the table, JSON and plot need."""
    say = progress or (lambda text: None)
    # A drain queues everything at once: keep it well inside the queue limit,
    # which every process of this user shares.
    limit = resource.getrlimit(resource.RLIMIT_SIGPENDING)[0]
    if limit != resource.RLIM_INFINITY:
        p.drain_n = max(1, min(p.drain_n, limit // 2))
    res: Dict[str, Any] = {"machine": machine(), "params": asdict(p),
                           "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                           "loadavg_before": list(os.getloadavg())}
    started = time.monotonic()
    runners: Dict[str, Callable[[Params, Progress], List[Row]]] = {
        "flood": run_flood, "drain": lambda p, say: run_flood(p, say, drain=True),
        "pingpong": run_pingpong, "send": run_send}
    for section in p.sections:
        res[section] = runners[section](p, say)
    res["loadavg_after"] = list(os.getloadavg())
    res["seconds"] = round(time.monotonic() - started, 1)
    res["targets"] = _targets(res)
    return res


# ---- output --------------------------------------------------------------------

def _fmt(value: Optional[float], spec: str, none: str = "n/a") -> str:
    return none if value is None else format(value, spec)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> List[str]:
    if markdown:
        lines = ["| " + " | ".join(headers) + " |",
                 "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|"]
        return lines + ["| " + " | ".join(row) + " |" for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    return [line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows]


def report(res: Dict[str, Any], markdown: bool = False) -> str:
    """The results as text tables (or Markdown)."""
    m, p = res["machine"], res["params"]
    out = [f"fastsig {m['fastsig']} on {m['cpu']}, {m['nproc']} CPUs, Linux {m['kernel']}, "
           f"Python {m['python']}; load {res['loadavg_before'][0]:.2f} -> {res['loadavg_after'][0]:.2f}; "
           f"medians of {p['repeat']} alternated runs"]
    head = "### " if markdown else ""
    if "flood" in res:
        out += ["", f"{head}One-way flood: {p['flood_n']:,} x {signame(SIG)} with values 0..N-1 "
                    "from one C sender"]
        out += _table(["receiver", "signals/s", "arrived", "lost", "out of order", "vs best C",
                       "vs best stdlib"],
                      [[r["name"], _fmt(r["rate"], ",.0f"), _fmt(r["arrived"], ",.0f"),
                        _fmt(r["lost"], ",.0f"), _fmt(r["out_of_order"], ",.0f", "n/a (no value)"),
                        _fmt(r["vs_best_c"], ".2f") + "x", _fmt(r["vs_best_stdlib"], ".2f") + "x"]
                       for r in res["flood"]], markdown)
    if "drain" in res:
        out += ["", f"{head}Receive alone: {p['drain_n']:,} values queued first, then drained "
                    "(the receiver's own cost)"]
        out += _table(["receiver", "signals/s", "ns/signal", "lost", "out of order", "vs best C"],
                      [[r["name"], _fmt(r["rate"], ",.0f"),
                        _fmt(1e9 / r["rate"] if r["rate"] else None, ",.0f"),
                        _fmt(r["lost"], ",.0f"), _fmt(r["out_of_order"], ",.0f", "n/a (no value)"),
                        _fmt(r["vs_best_c"], ".2f") + "x"]
                       for r in res["drain"]], markdown)
    if "pingpong" in res:
        out += ["", f"{head}Ping-pong between two processes, round trip ({p['rounds']:,} rounds a run)"]
        out += _table(["design", "CPUs", "median us", "p99 us", "vs C"],
                      [[r["name"], r["mode"], _fmt(r["median_us"], ".2f"), _fmt(r["p99_us"], ".2f"),
                        _fmt(r["vs_c"], ".2f") + "x"] for r in res["pingpong"]], markdown)
    if "send" in res:
        out += ["", f"{head}Send cost per signal ({p['send_n']:,} sends a run)"]
        out += _table(["sender", "ns/signal", "vs os.kill", "rate vs C"],
                      [[r["name"], _fmt(r["ns"], ".0f"), _fmt(r["vs_os_kill"], ".2f") + "x",
                        _fmt(r["rate_vs_c"], ".2f") + "x"] for r in res["send"]], markdown)
    if res.get("targets"):
        out += ["", f"{head}Targets"]
        out += _table(["target", "goal", "measured", "met"],
                      [[t["target"], t["goal"], _fmt(t["measured"], ".2f") + "x",
                        "yes" if t["met"] else "NO"] for t in res["targets"]], markdown)
    return "\n".join(out)


def plot(res: Dict[str, Any], path: str) -> None:
    """Throughput bars and the ping-pong latency CDFs, into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (bars, cdf) = plt.subplots(1, 2, figsize=(15, 6))
    colours = {"stdlib": "tab:gray", "fastsig": "tab:blue", "C": "tab:orange"}
    flood = res.get("flood") or res.get("drain") or []
    drain = {r["name"]: r for r in res.get("drain", [])} if "flood" in res else {}
    height = 0.4 if drain else 0.8
    for offset, rows, hatch, label in ((0.0, flood, "", "flood: sent and received at once"),
                                       (height, [drain.get(r["name"]) for r in flood], "//",
                                        "drain: queued first, then received")):
        shown = [(i, r) for i, r in enumerate(rows) if r is not None]
        if not shown:
            continue
        ys = [i + offset for i, _ in shown]
        rates = [r["rate"] / 1e3 for _, r in shown]
        bars.barh(ys, rates, height=height, hatch=hatch, label=label, edgecolor="white",
                  color=[colours[r["family"]] for _, r in shown])
        for y, rate in zip(ys, rates):
            bars.text(rate, y, f" {rate:,.0f}", va="center", fontsize=7)
    bars.set_yticks([i + (height / 2 if drain else 0) for i in range(len(flood))],
                    [f"{r['name']}\n(lost {r['lost']:,.0f})" for r in flood], fontsize=8)
    bars.invert_yaxis()
    bars.set_xlabel("thousand signals/s received (median)")
    bars.set_title("Real-time signals with values, one C sender")
    if drain:
        bars.legend(fontsize=7, loc="upper right")
    styles = {"unpinned": "-"}
    for r in res.get("pingpong", []):
        cdf.plot(r["cdf_us"], [q / 200 for q in range(201)], styles.get(r["mode"], "--"),
                 color=colours[r["family"]] if r["family"] != "stdlib" or "seed" not in r["name"]
                 else "black", label=f"{r['name']} ({r['mode']})")
    cdf.set_xscale("log")
    cdf.set_xlabel("round trip, us (log)")
    cdf.set_ylabel("fraction of round trips")
    cdf.set_title("Ping-pong latency CDF")
    cdf.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"fastsig {res['machine']['fastsig']} - {res['machine']['cpu']}, "
                 f"{res['machine']['nproc']} CPUs, Linux {res['machine']['kernel']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def progress_printer(stream: TextIO) -> Progress:
    """A one-line progress display on a terminal, plain lines elsewhere."""
    tty = stream.isatty()

    def show(text: str) -> None:
        if tty:
            stream.write("\r\033[K" + text)
        else:
            stream.write(text + "\n")
        stream.flush()

    return show


def dump_json(res: Dict[str, Any], stream: TextIO) -> None:
    json.dump(res, stream, indent=1)
    stream.write("\n")
