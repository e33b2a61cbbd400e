"""Record the benchmark: bench/results.json, results.md (the tables), results.png,
and the targets table in bench/README.md.

    python bench/record.py                 # full run (about a minute), then write them all
    python bench/record.py --from-json     # re-render from results.json only
    python bench/record.py --cpus 0 --repeat 7

The run is exactly ``python -m fastsig bench`` (same code, same defaults); this
script only adds the files and the project's targets, which are the project's
goals rather than something a user of the package needs to see. Record on a
machine as quiet as you can get: the load average before and after is stored
with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import List, NamedTuple, Optional

from fastsig import _bench
from fastsig._bench.render import Table, times

HERE = Path(__file__).resolve().parent
TARGETS_BLOCK = re.compile(r"(<!-- targets: .*? -->\n).*?(<!-- /targets -->)", re.S)


class Target(NamedTuple):
    what: str
    goal: str
    measured: Optional[float]
    met: bool


def targets(res: _bench.Results) -> List[Target]:
    """The project's goals, checked against one run (rows found by their ids)."""
    out: List[Target] = []
    lossless = ">= 0.9x, zero loss, in order"
    for section in ("flood", "drain"):
        rows = {row.id: row for row in res.rows.get(section, [])}
        if not rows:
            continue
        fast = [r for r in rows.values() if r.family == "fastsig"]
        clean = [r for r in fast if r.lost == 0 and r.out_of_order == 0 and r.duplicates == 0]
        best = max(clean or fast, key=lambda r: r.rate)
        out.append(Target(f"{section}: fastsig's best path ({best.name}) vs the best C receiver",
                          lossless, best.vs_best_c, (best.vs_best_c or 0) >= 0.9 and best in clean))
        # The ring against the C handlers (drain) or the best synchronous C
        # receiver (flood), and several Listeners of one signal against one
        # (flood); rows a run lacks are skipped.
        c_sync = max((rows[i].rate for i in ("c-sigwaitinfo", "c-signalfd") if i in rows), default=0)
        goals = [("ring", "c-sync", "the best C synchronous receiver", 0.9),
                 ("ring-4", "ring", "the single-subscriber ring", 0.7)] if section == "flood" else [
            ("ring", "c-handler", "the C SA_SIGINFO handler", 2.0),
            ("ring", "c-take", "the C handler taking what is pending", 0.8),
            ("ring-records", "c-handler", "the C SA_SIGINFO handler", 1.5)]
        for mine, theirs, name, goal in goals:
            base = c_sync if theirs == "c-sync" else rows[theirs].rate if theirs in rows else 0
            if mine not in rows or not base:
                continue
            ratio = rows[mine].rate / base
            out.append(Target(f"{section}: {rows[mine].name} vs {name}",
                              f">= {goal}x, zero loss, in order", ratio,
                              ratio >= goal and rows[mine] in clean))
    pingpong = {(row.id, row.mode): row for row in res.rows.get("pingpong", [])}
    for (key, mode), row in pingpong.items():
        vs_c = row.vs_c if row.vs_c is not None else float("inf")
        if key == "fastsig-exchange":
            out.append(Target(f"ping-pong round trip, Exchange vs C ({mode})", "<= 1.15x",
                              row.vs_c, vs_c <= 1.15))
        elif key == "fastsig-natural":
            # What a user writes without Exchange: no slower than the stdlib's loop.
            stdlib = pingpong[("stdlib-sigwaitinfo", mode)].vs_c or 0.0
            out.append(Target(f"ping-pong round trip, {row.name} vs C ({mode})",
                              f"<= 1.15x and <= the stdlib's {stdlib:.2f}x", row.vs_c,
                              vs_c <= min(1.15, stdlib)))
    send = {row.id: row for row in res.rows.get("send", [])}
    if send:
        cost = send["sigqueue"].vs_os_kill or 0.0
        out.append(Target("fastsig.sigqueue cost vs os.kill", "<= 1.0x", cost, cost <= 1.0))
        rate = send["sigqueue_many"].rate_vs_c or 0.0
        out.append(Target("fastsig.sigqueue_many rate vs the C sender", ">= 0.9x", rate, rate >= 0.9))
    for call in res.rows.get("dropin", []):
        out.append(Target(f"drop-in: `{call.name}`, fastsig vs the stdlib", "<= 1.0x",
                          call.ratio, call.ratio <= 1.0))
    return out


def targets_table(res: _bench.Results) -> Table:
    return Table(f"Targets, measured in the run of {res.started}", ["target", "goal", "measured", "met"],
                 [[t.what, t.goal, _measured(t), "yes" if t.met else "NO"] for t in targets(res)])


def _measured(t: Target) -> str:
    """The ratio, with a third decimal where two would read as the goal."""
    bounds = [round(float(b), 2) for b in re.findall(r"\d+\.\d+", t.goal)]
    if t.measured is not None and not t.met and round(t.measured, 2) in bounds:
        return f"{t.measured:.3f}x"
    return times(t.measured)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-json", action="store_true", help="re-render from results.json")
    parser.add_argument("--repeat", type=int, help="runs per contender (default 5)")
    parser.add_argument("--cpus", help="as for `fastsig bench --cpus`, e.g. 0 or 0,1")
    parser.add_argument("--out", type=Path, default=HERE,
                        help="folder of results.* and of the README.md to update (default bench/)")
    args = parser.parse_args()
    out = args.out
    if args.from_json:
        results = _bench.Results.from_json(json.loads((out / "results.json").read_text()))
    else:
        params = _bench.Params()
        if args.repeat:
            params.repeat = args.repeat
        if args.cpus:
            params.cpus = [int(c) for c in args.cpus.split(",")]
        results = _bench.run(params, _bench.progress_printer(sys.stderr))
        with open(out / "results.json", "w") as stream:
            _bench.dump_json(results, stream)
    table = _bench.report(results, markdown=True)
    goals = "\n".join(_bench.table_lines(targets_table(results), markdown=True))
    (out / "results.md").write_text(
        "<!-- written by bench/record.py from results.json; do not edit -->\n"
        f"Recorded {results.started} with `python bench/record.py` "
        f"({results.seconds} s).\n\n{table}\n")
    readme = out / "README.md"
    if readme.exists():
        text, found = TARGETS_BLOCK.subn(lambda m: f"{m[1]}{goals}\n{m[2]}", readme.read_text())
        if not found:
            raise SystemExit(f"{readme}: no <!-- targets: ... --> block to update")
        readme.write_text(text)
    _bench.plot(results, os.fspath(out / "results.png"))
    print(_bench.report(results))
    print("\n" + "\n".join(_bench.table_lines(targets_table(results))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
