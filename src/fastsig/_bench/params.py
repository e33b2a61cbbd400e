"""What every section shares: the sizes of a run, the signals, the contender
record, the order of the runs and the statistics."""

from __future__ import annotations

import math
import signal
import statistics
from dataclasses import dataclass, field
from typing import Callable, Generic, List, Optional, Sequence, Tuple, TypeVar

from .. import _core
from .._listener import DEFAULT_CAPACITY

SIG = _core.SIGRTMIN + 1    # the flood
END = _core.SIGRTMIN + 2    # its end marker: delivered after every pending SIG
PING = _core.SIGRTMIN + 3
PONG = _core.SIGRTMIN + 4
SEND_SIG = signal.SIGUSR1   # send cost: blocked, so repeats coalesce
BATCH = 256                 # records per batch read, C and Python alike

Progress = Callable[[str], None]
F = TypeVar("F", bound=Callable[..., object])
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Params:
    flood_n: int = 200_000
    drain_n: int = 20_000   # must fit the queue (RLIMIT_SIGPENDING) at once
    rounds: int = 20_000
    send_n: int = 200_000
    calls: int = 50_000     # drop-in: calls per run of each side
    repeat: int = 5
    cpus: List[int] = field(default_factory=list)
    idle_s: float = 2.0
    ring_capacity: int = DEFAULT_CAPACITY  # the Listener's default: what users get
    # Most time one ping-pong run may take: a design that busy-waits, pinned
    # to one CPU, waits for the scheduler tick every round.
    budget_s: float = 2.0
    sections: Tuple[str, ...] = ()  # () is every section

    @classmethod
    def quick(cls) -> Params:
        return cls(flood_n=20_000, drain_n=5_000, rounds=2_000, send_n=20_000, calls=5_000,
                   repeat=3,
                   budget_s=0.5)


@dataclass(frozen=True)
class Contender(Generic[F]):
    """One thing measured. id is stable (tests and bench/record.py find rows by
    it); name is what the tables show; family is stdlib, fastsig or C."""

    id: str
    name: str
    family: str
    fn: F
    available: bool = True  # False where the platform lacks it (signalfd)


def available(contenders: Sequence[Contender[F]]) -> List[Contender[F]]:
    return [c for c in contenders if c.available]


def alternated(items: Sequence[T], repeat: int, measure: Callable[[T], R], progress: Progress,
               section: str, label: Callable[[T], str]) -> List[List[R]]:
    """measure(item) for every item, repeat times, the order rotated each time
    (A B C, B C A, ...); each item's results, in the order of items."""
    results: List[List[R]] = [[] for _ in items]
    total = len(items) * repeat
    order = range(len(items))
    for r in range(repeat):
        shift = r % len(items)
        for step, i in enumerate([*order[shift:], *order[:shift]], r * len(items) + 1):
            progress(f"{section} {step}/{total}: {label(items[i])}")
            results[i].append(measure(items[i]))
    return results


def median(values: Sequence[Optional[float]]) -> Optional[float]:
    """The median of the values that are not None (None if there are none)."""
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def percentile(sorted_values: Sequence[int], q: float) -> float:
    if not sorted_values:
        return math.nan
    k = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return float(sorted_values[k])


def ratio(value: Optional[float], reference: Optional[float]) -> Optional[float]:
    return value / reference if value is not None and reference else None
