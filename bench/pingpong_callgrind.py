"""Where a ping-pong round trip's user-space time goes, without the noise of a
busy machine: instructions per round trip (valgrind --tool=callgrind) of each
ping-pong design of the benchmark (fastsig._bench.pingpong), client and
server together. The kernel's share (two sends, two waits, two wake-ups) is
the same for every design and invisible here; the benchmark's C row is
almost all of it.

    python bench/pingpong_callgrind.py [--rounds 2000]

Each design runs `rounds` round trips, then twice as many, in a fresh
interpreter under callgrind, which follows the forked server; the difference
over rounds is what one round trip costs, the timing loop of the benchmark's
client included. The server is ended with SIGTERM rather than the
benchmark's SIGKILL, so that valgrind counts its instructions too.
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

from fastsig._bench.pingpong import PINGPONG

CHILD = """
import gc, os, signal, sys
from fastsig._bench import child
from fastsig._bench.pingpong import PINGPONG

def end(self):
    if self.status is None:
        os.kill(self.pid, signal.SIGTERM)
        self.status = os.waitpid(self.pid, 0)[1]
    self._close()

child.Child.kill = end
design = next(c.fn for c in PINGPONG if c.id == sys.argv[1])
gc.freeze()  # what importing made: no collection walks it, in either run
design(int(sys.argv[2]), 600.0, 30.0)
"""


def instructions(design: str, rounds: int, tmp: Path) -> int:
    """Instructions of every process of one run, summed."""
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--trace-children=no",
         f"--callgrind-out-file={tmp}/{design}.{rounds}.%p", sys.executable, "-c", CHILD, design,
         str(rounds)], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"})  # the same dict layouts in every run
    counts = [int(n) for n in re.findall(r"Collected : (\d+)", out.stderr)]
    if not counts:
        raise RuntimeError(out.stderr[-2000:])
    return sum(counts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("needs valgrind")
    designs = [c for c in PINGPONG if c.id != "stdlib-classic"]  # it spins: no fixed cost
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        runs = [[pool.submit(instructions, c.id, n, Path(tmp)) for n in (2 * args.rounds, args.rounds)]
                for c in designs]
        print("| design | user-space instructions per round trip |\n|---|---:|")
        for c, (more, fewer) in zip(designs, runs):
            per = (more.result() - fewer.result()) / args.rounds
            print(f"| {c.name} | {per:,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
