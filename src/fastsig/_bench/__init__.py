"""``python -m fastsig bench``: fastsig against the stdlib and pure C, in one run.

Five sections, each contender in a forked child so no signal state leaks into
the next one, the contenders alternated (the order rotates every repeat) and
every figure the median of the repeats:

* flood: one C sender (csrc/refbench.c) queues values 0..N-1 as fast as the
  kernel takes them (retrying on a full queue), then an end marker on a higher
  real-time signal; each receiver in turn counts what arrived, what was lost,
  duplicated or out of order. Rate = arrivals / (end marker seen - first send),
  CLOCK_MONOTONIC on both sides.
* drain: the same, with the whole flood queued before the receiver starts, so
  its clock measures the receiver alone (no sender contention, no wake-ups).
* ping-pong: round trips between two processes, unpinned and with both pinned
  to one CPU (``cpus[0]``).
* send cost: one process sends a blocked standard signal to itself in a loop.
* drop-in: each of fastsig's stdlib-named functions against the stdlib's, ns
  per call with the same arguments (timeit, the signal blocked).

Nothing here asserts a speed: the tables show ratios measured side by side.

Anatomy, the measuring apart from the rendering:

* child: Child, the one helper that forks, runs and reports back (the CLI's
  demos use it too).
* params: Params (the sizes of a run), the signals, the Contender record, the
  alternating order and the statistics.
* flood, pingpong, send, dropin: each section's contenders (FLOOD, PINGPONG,
  SEND, CASES)
  and the code that measures them into rows.
* rows: the row dataclasses, which are also the layout of the JSON.
* sections: SECTIONS, the run, and Results (to and from JSON).
* render, figure: text and Markdown tables, JSON, progress; the plot.

A new contender is one Contender record in its section's list. A new table is
a module that measures its rows, their dataclass in rows, a table function in
render, and one Section record in sections.SECTIONS.
"""

from __future__ import annotations

from .child import Child, ChildFailed
from .figure import plot
from .params import Params
from .render import dump_json, progress_printer, report, table_lines
from .sections import SECTIONS, Results, run

__all__ = ["SECTIONS", "Child", "ChildFailed", "Params", "Results", "dump_json", "plot",
           "progress_printer", "report", "run", "table_lines"]
