"""Throughput bars and the ping-pong latency CDFs, into a PNG (matplotlib)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Optional, Sequence

from .rows import FloodRow, PingPongRow

if TYPE_CHECKING:
    from .sections import Results

COLOURS = {"stdlib": "tab:gray", "fastsig": "tab:blue", "C": "tab:orange"}
BUSY_WAITING = "stdlib-classic"  # drawn in black: it spins, unlike the others


def plot(res: Results, path: str) -> None:
    import matplotlib  # optional: only --plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (bars, cdf) = plt.subplots(1, 2, figsize=(15, 6))
    flood: Sequence[FloodRow] = res.rows.get("flood") or res.rows.get("drain") or []
    drain: Dict[str, FloodRow] = {r.id: r for r in res.rows.get("drain", [])} \
        if "flood" in res.rows else {}
    height = 0.4 if drain else 0.8
    drained: List[Optional[FloodRow]] = [drain.get(r.id) for r in flood]
    for offset, rows, hatch, label in ((0.0, list(flood), "", "flood: sent and received at once"),
                                       (height, drained, "//", "drain: queued first, then received")):
        shown = [(i, r) for i, r in enumerate(rows) if r is not None]
        if not shown:
            continue
        ys = [i + offset for i, _ in shown]
        rates = [r.rate / 1e3 for _, r in shown]
        bars.barh(ys, rates, height=height, hatch=hatch, label=label, edgecolor="white",
                  color=[COLOURS[r.family] for _, r in shown])
        for y, rate in zip(ys, rates):
            bars.text(rate, y, f" {rate:,.0f}", va="center", fontsize=7)
    bars.set_yticks([i + (height / 2 if drain else 0) for i in range(len(flood))],
                    [f"{r.name}\n(lost {r.lost or 0:,.0f})" for r in flood], fontsize=8)
    bars.invert_yaxis()
    bars.set_xlabel("thousand signals/s received (median)")
    bars.set_title("Real-time signals with values, one C sender")
    if drain:
        bars.legend(fontsize=7, loc="upper right")
    pingpong: Sequence[PingPongRow] = res.rows.get("pingpong", [])
    for r in pingpong:
        cdf.plot(r.cdf_us, [q / 200 for q in range(201)], "-" if r.cpu is None else "--",
                 color="black" if r.id == BUSY_WAITING else COLOURS[r.family],
                 label=f"{r.name} ({r.mode})")
    cdf.set_xscale("log")
    cdf.set_xlabel("round trip, us (log)")
    cdf.set_ylabel("fraction of round trips")
    cdf.set_title("Ping-pong latency CDF")
    cdf.legend(fontsize=7, loc="lower right")
    m = res.machine
    fig.suptitle(f"fastsig {m['fastsig']} - {m['cpu']}, {m['nproc']} CPUs, Linux {m['kernel']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
