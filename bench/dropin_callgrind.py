"""Where the time of the drop-in table goes, without the noise of a busy
machine: user-space instructions per call (valgrind --tool=callgrind) of each
row's stdlib and fastsig statement (fastsig._bench.dropin.CASES). The
syscalls a row makes are the same on both sides except where the row says
otherwise, so a side with fewer instructions per call is the faster one.

    python bench/dropin_callgrind.py [--calls 5000]

Each statement runs `calls` and 2 x `calls` times, each in a fresh
interpreter under callgrind; the difference is what `calls` more cost. So
what happens once (imports, the first calls' specialization, the setup) is
not spread over the calls.
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

from fastsig._bench.dropin import CASES, SETUPS

CHILD = """
import sys
from fastsig._bench.dropin import clear_pending, setup
names = setup()
clear_pending()
exec(compile("%s\\nfor _ in range(%d):\\n    %s\\n" % (sys.argv[3], int(sys.argv[2]), sys.argv[1]),
             "row", "exec"), names)
"""


def instructions(stmt: str, calls: int, side_setup: str, tmp: Path) -> int:
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.%p", sys.executable,
         "-c", CHILD, stmt, str(calls), side_setup], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"})  # the same dict layouts in every run
    match = re.search(r"Collected : (\d+)", out.stderr)
    if match is None:
        raise RuntimeError(out.stderr[-2000:])
    return int(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="runs at a time")
    parser.add_argument("--only", default="", help="rows whose name contains this text")
    args = parser.parse_args()
    cases = [case for case in CASES if args.only in case[0]]
    if shutil.which("valgrind") is None:
        raise SystemExit("needs valgrind")
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        sides = [list(zip(case[1:], SETUPS.get(case[0], ("pass", "pass")))) for case in cases]
        runs = [[[pool.submit(instructions, stmt, n, st, Path(tmp))
                  for n in (args.calls, 2 * args.calls)] for stmt, st in pair]
                for pair in sides]
        print("| call | stdlib instr/call | fastsig instr/call | ratio |\n|---|---:|---:|---:|")
        for (name, _, _), run_pair in zip(cases, runs):
            per = [(twice.result() - once.result()) / args.calls for once, twice in run_pair]
            print(f"| `{name}` | {per[0]:,.0f} | {per[1]:,.0f} | {per[1] / per[0]:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
