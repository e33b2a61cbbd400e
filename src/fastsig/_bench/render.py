"""The results as text: aligned tables for a terminal, Markdown for
bench/results.md, JSON, and the progress line. Nothing here measures."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, List, NamedTuple, Optional, Sequence, TextIO

from .._names import signame
from .params import SIG, Params, Progress
from .rows import CallRow, FloodRow, PingPongRow, SendRow

if TYPE_CHECKING:
    from .sections import Results


class Table(NamedTuple):
    title: str
    headers: List[str]
    rows: List[List[str]]


def fmt(value: Optional[float], spec: str, none: str = "n/a") -> str:
    return none if value is None else format(value, spec)


def times(value: Optional[float]) -> str:
    """A ratio: 1.05x."""
    return fmt(value, ".2f") + "x"


NO_VALUE = "n/a (no value)"


def flood_table(rows: Sequence[FloodRow], p: Params) -> Table:
    return Table(
        f"One-way flood: {p.flood_n:,} x {signame(SIG)} with values 0..N-1 from one C sender",
        ["receiver", "signals/s", "arrived", "lost", "out of order", "vs best C", "vs best stdlib"],
        [[r.name, fmt(r.rate, ",.0f"), fmt(r.arrived, ",.0f"), fmt(r.lost, ",.0f"),
          fmt(r.out_of_order, ",.0f", NO_VALUE), times(r.vs_best_c), times(r.vs_best_stdlib)]
         for r in rows])


def drain_table(rows: Sequence[FloodRow], p: Params) -> Table:
    return Table(
        f"Receive alone: {p.drain_n:,} values queued first, then drained (the receiver's own cost)",
        ["receiver", "signals/s", "ns/signal", "lost", "out of order", "vs best C"],
        [[r.name, fmt(r.rate, ",.0f"), fmt(1e9 / r.rate if r.rate else None, ",.0f"),
          fmt(r.lost, ",.0f"), fmt(r.out_of_order, ",.0f", NO_VALUE), times(r.vs_best_c)]
         for r in rows])


def pingpong_table(rows: Sequence[PingPongRow], p: Params) -> Table:
    return Table(
        f"Ping-pong between two processes, round trip ({p.rounds:,} rounds a run)",
        ["design", "CPUs", "median us", "p99 us", "vs C"],
        [[r.name, r.mode, fmt(r.median_us, ".2f"), fmt(r.p99_us, ".2f"), times(r.vs_c)]
         for r in rows])


def send_table(rows: Sequence[SendRow], p: Params) -> Table:
    return Table(
        f"Send cost per signal ({p.send_n:,} sends a run)",
        ["sender", "ns/signal", "vs os.kill", "rate vs C"],
        [[r.name, fmt(r.ns, ".0f"), times(r.vs_os_kill), times(r.rate_vs_c)] for r in rows])


def dropin_table(rows: Sequence[CallRow], p: Params) -> Table:
    return Table(
        f"Drop-in, per call: the stdlib's function and fastsig's, same arguments "
        f"({p.calls:,} calls a run)",
        ["call", "stdlib ns", "fastsig ns", "ratio", "best runs' ratio"],
        [[r.name, fmt(r.stdlib_ns, ",.0f"), fmt(r.fastsig_ns, ",.0f"), times(r.ratio),
          times(r.best_ratio)] for r in rows])


def table_lines(table: Table, markdown: bool = False) -> List[str]:
    """The title, then the table: columns aligned (text) or a Markdown table."""
    headers, rows = table.headers, table.rows
    if markdown:
        return ["### " + table.title,
                "| " + " | ".join(headers) + " |",
                "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|",
                *("| " + " | ".join(row) + " |" for row in rows)]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    return [table.title, line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows]


def report(res: Results, markdown: bool = False) -> str:
    """The results as text tables (or Markdown), one per section run."""
    m, p = res.machine, res.params
    out = [f"fastsig {m['fastsig']} on {m['cpu']}, {m['nproc']} CPUs, Linux {m['kernel']}, "
           f"Python {m['python']}; load {res.loadavg_before[0]:.2f} -> {res.loadavg_after[0]:.2f}; "
           f"medians of {p.repeat} alternated runs"]
    for table in res.tables():
        out += ["", *table_lines(table, markdown)]
    return "\n".join(out)


def dump_json(res: Results, stream: TextIO) -> None:
    json.dump(res.to_json(), stream, indent=1)
    stream.write("\n")


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
