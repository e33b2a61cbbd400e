"""Where a receiver's time goes in the drain section, without the noise of a
busy machine: user-space instructions per signal (valgrind --tool=callgrind)
of each receiver of fastsig._bench.flood, the kernel's share (dequeuing,
signal frames) left out.

    python bench/drain_callgrind.py [--n 4000] [--only signalfd,c-signalfd]

A forked sender queues n values (and the end marker) while the receiver keeps
the signals blocked, as in the drain section; then the receiver runs in a
fresh interpreter under callgrind, for n and for 2n values. Only the
receiving process is counted, and not the counting that the benchmark does
after the clock stops, so the difference over n is what receiving one signal
costs, the benchmark's own per-batch check included.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastsig._bench.flood import FLOOD

CHILD = """
import gc, os, sys
from fastsig import _core, pthread_sigmask
from fastsig._bench import flood
from fastsig._bench.params import END, SIG, Params

flood.checked = lambda values, n, first_ns, end_ns: flood.Tally(0, 0, 0, 0, first_ns, end_ns)
flood._Kept.values = lambda self: []
receiver = next(c.fn for c in flood.FLOOD if c.id == sys.argv[1])
gc.freeze()  # what importing made: no collection walks it, in either run
n = int(sys.argv[2])
pthread_sigmask(_core.SIG_BLOCK, {SIG, END})
me = os.getpid()
sender = os.fork()
if sender == 0:
    _core.ref_flood(me, SIG, n, END)
    os._exit(0)
os.waitpid(sender, 0)
receiver(n, Params(), -1)
"""


def instructions(receiver: str, n: int, tmp: Path) -> int:
    """The receiving process's instructions (the first process callgrind reports)."""
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/{receiver}.{n}.%p",
         sys.executable, "-c", CHILD, receiver, str(n)], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"})  # the same dict layouts in every run
    counts = {int(pid): int(count) for pid, count in
              re.findall(r"==(\d+)== Collected : (\d+)", out.stderr)}
    if not counts:
        raise RuntimeError(out.stderr[-2000:])
    return counts[min(counts)]  # the receiver forked the sender: its pid is the lower


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--only", help="receiver ids, comma-separated (default: the lossless ones)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("needs valgrind")
    wanted = args.only.split(",") if args.only else None
    receivers = [c for c in FLOOD if (c.id in wanted if wanted else c.id != "stdlib-handler")]
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        runs = [[pool.submit(instructions, c.id, k, Path(tmp)) for k in (2 * args.n, args.n)]
                for c in receivers]
        print("| receiver | user-space instructions per signal |\n|---|---:|")
        for c, (more, fewer) in zip(receivers, runs):
            print(f"| {c.name} | {(more.result() - fewer.result()) / args.n:,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
