"""The sections of a run, and the run itself.

A section is one record in SECTIONS: its id (the key in the JSON and the name
``--only`` takes), the function that measures it into rows, the rows'
dataclass (to read the JSON back) and the function that makes its table. A new
table is a new record here; a new contender is a new record in its section's
module (flood.FLOOD, pingpong.PINGPONG, send.SEND, dropin.CASES).
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

from .. import __version__, _core
from . import render
from .dropin import run_dropin
from .flood import run_drain, run_flood
from .params import Params, Progress
from .pingpong import run_pingpong
from .rows import CallRow, FloodRow, PingPongRow, SendRow
from .send import run_send


@dataclass(frozen=True)
class Section:
    id: str
    measure: Callable[[Params, Progress], Sequence[Any]]
    row: type
    table: Callable[[Any, Params], render.Table]


SECTIONS: List[Section] = [
    Section("flood", run_flood, FloodRow, render.flood_table),
    Section("drain", run_drain, FloodRow, render.drain_table),
    Section("pingpong", run_pingpong, PingPongRow, render.pingpong_table),
    Section("send", run_send, SendRow, render.send_table),
    Section("dropin", run_dropin, CallRow, render.dropin_table),
]
BY_ID = {s.id: s for s in SECTIONS}


@dataclass
class Results:
    """Everything the tables, the JSON and the plot need."""

    machine: Dict[str, Any]
    params: Params
    started: str
    loadavg_before: List[float]
    rows: Dict[str, Sequence[Any]] = field(default_factory=dict)  # section id -> rows
    loadavg_after: List[float] = field(default_factory=list)
    seconds: float = 0.0

    def tables(self) -> List[render.Table]:
        return [BY_ID[key].table(rows, self.params) for key, rows in self.rows.items()]

    def to_json(self) -> Dict[str, Any]:
        """The layout of bench/results.json: each section's rows at the top level."""
        return {"machine": self.machine, "params": asdict(self.params), "started": self.started,
                "loadavg_before": self.loadavg_before,
                **{key: [asdict(row) for row in rows] for key, rows in self.rows.items()},
                "loadavg_after": self.loadavg_after, "seconds": self.seconds}

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> Results:
        params = dict(data["params"], sections=tuple(data["params"]["sections"]))
        return cls(machine=data["machine"], params=Params(**params), started=data["started"],
                   loadavg_before=data["loadavg_before"],
                   rows={s.id: [s.row(**row) for row in data[s.id]] for s in SECTIONS
                         if s.id in data},
                   loadavg_after=data["loadavg_after"], seconds=data["seconds"])


def machine() -> Dict[str, Any]:
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


def run(p: Params, progress: Optional[Progress] = None) -> Results:
    """Run the sections of p (all by default), in that order."""
    p.sections = p.sections or tuple(s.id for s in SECTIONS)
    # A drain queues everything at once: keep it well inside the queue limit,
    # which every process of this user shares.
    limit = resource.getrlimit(resource.RLIMIT_SIGPENDING)[0]
    if limit != resource.RLIM_INFINITY:
        p.drain_n = max(1, min(p.drain_n, limit // 2))
    res = Results(machine=machine(), params=p,
                  started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  loadavg_before=list(os.getloadavg()))
    started = time.monotonic()
    for key in p.sections:
        res.rows[key] = BY_ID[key].measure(p, progress or (lambda text: None))
    res.loadavg_after = list(os.getloadavg())
    res.seconds = round(time.monotonic() - started, 1)
    return res
