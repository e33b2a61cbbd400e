"""Record the benchmark: bench/results.json, results.md (the table) and results.png.

    python bench/record.py                 # full run (about a minute), then write all three
    python bench/record.py --from-json     # re-render results.md and results.png only
    python bench/record.py --cpus 0 --repeat 7

The run is exactly ``python -m fastsig bench`` (same code, same defaults); this
script only adds the files. Record on a machine as quiet as you can get: the
load average before and after is stored with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from fastsig import _bench

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-json", action="store_true", help="re-render from results.json")
    parser.add_argument("--repeat", type=int, help="runs per contender (default 5)")
    parser.add_argument("--cpus", help="as for `fastsig bench --cpus`, e.g. 0 or 0,1")
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default bench/)")
    args = parser.parse_args()
    out = args.out
    if args.from_json:
        results = json.loads((out / "results.json").read_text())
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
    (out / "results.md").write_text(
        "<!-- written by bench/record.py from results.json; do not edit -->\n"
        f"Recorded {results['started']} with `python bench/record.py` "
        f"({results['seconds']} s).\n\n{table}\n")
    _bench.plot(results, os.fspath(out / "results.png"))
    print(_bench.report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
