"""One dataclass per table row: what the measuring produces, the rendering
shows and the JSON keeps (``dataclasses.asdict``; ``Results.from_json`` reads
it back). Ratios are None where their reference is missing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional


@dataclass
class FloodRow:
    """A flood or drain receiver: medians over the repeats."""

    id: str
    name: str
    family: str
    rate: float                  # signals received per second
    arrived: Optional[float]     # for the stdlib handler: how often it ran
    lost: Optional[float]
    out_of_order: Optional[float]  # None: the path cannot see values
    duplicates: Optional[float]
    dropped: Optional[float]     # the ring's own count of what it had no room for
    worst_lost: float
    all_ended: bool              # every run saw the end marker
    rates: List[float]           # every repeat's rate, to check the spread
    vs_best_c: Optional[float] = None
    vs_best_stdlib: Optional[float] = None


@dataclass
class PingPongRow:
    """A ping-pong design in one CPU mode: round trips in microseconds."""

    id: str
    name: str
    family: str
    mode: str                    # "unpinned" or "pinned cpu N"
    cpu: Optional[int]           # N, None unpinned
    median_us: Optional[float]   # the median of the runs' medians
    p99_us: Optional[float]
    rounds: int
    cdf_us: List[float]          # every half percentile, all runs pooled
    vs_c: Optional[float] = None


@dataclass
class SendRow:
    """A sender: ns per signal."""

    id: str
    name: str
    family: str
    ns: float
    runs: List[float]
    vs_os_kill: Optional[float] = None
    rate_vs_c: Optional[float] = None


@dataclass
class CallRow:
    """A drop-in row: the stdlib's call and fastsig's, ns per call."""

    name: str                    # the call, as the table shows it
    stdlib_ns: float             # medians over the repeats
    fastsig_ns: float
    ratio: float                 # fastsig over the stdlib, of the medians
    best_ratio: float            # of the fastest runs: the least disturbed by other load
    stdlib_runs: List[float]     # every repeat's ns per call, to check the spread
    fastsig_runs: List[float]
