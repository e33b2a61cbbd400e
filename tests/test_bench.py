"""`fastsig bench`: it runs, its JSON is sane, and it counts honestly.

Speeds are never asserted (the machine is shared); what is asserted is what
must hold on any machine: lossless paths lose nothing and keep order, lossy
ones add up, every section and the machine description are there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import asdict
from typing import Any, Dict

import pytest

from fastsig import _bench, _core
from fastsig._bench.dropin import CASES
from fastsig._bench.flood import END, SIG, checked
from fastsig._bench.pingpong import PINGPONG
from fastsig._bench.send import SEND

N = 3000
LOSSLESS_FAMILIES = {"fastsig", "C"}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def raw() -> Dict[str, Any]:
    cmd = [sys.executable, "-m", "fastsig", "bench", "--quick", "--json", "--flood-n", str(N),
           "--drain-n", str(N), "--rounds", "200", "--send-n", "2000", "--calls", "200", "--repeat", "1",
           "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    parsed: Dict[str, Any] = json.loads(done.stdout)
    return parsed


@pytest.fixture(scope="module")
def results(raw: Dict[str, Any]) -> _bench.Results:
    return _bench.Results.from_json(raw)


def test_machine_description_and_json_round_trip(raw: Dict[str, Any], results: _bench.Results) -> None:
    m = results.machine
    assert m["nproc"] == os.cpu_count() and m["kernel"] == os.uname().release
    assert m["python"] == sys.version.split()[0]
    assert m["fastsig"] and m["cpu"] and m["rlimit_sigpending"] != 0
    assert len(results.loadavg_before) == 3
    assert results.params.flood_n == results.params.drain_n == N
    assert results.params.repeat == 1 and results.params.calls == 200
    assert json.loads(json.dumps(results.to_json())) == raw
    assert "targets" not in raw  # the project's targets live in bench/, not in the product


@pytest.mark.parametrize("section", ["flood", "drain"])
def test_lossless_paths_lose_nothing_in_order(results: _bench.Results, section: str) -> None:
    rows = {row.id: row for row in results.rows[section]}
    assert {row.family for row in rows.values()} == {"stdlib", "fastsig", "C"}
    for row in rows.values():
        assert row.all_ended, row  # every receiver saw the end marker
        assert row.rate > 0 and row.vs_best_c
        if row.family in LOSSLESS_FAMILIES:
            assert (row.arrived, row.lost, row.out_of_order, row.duplicates) == (N, 0, 0, 0), row
    # Real-time signals queue: the stdlib's sigwaitinfo gets every one (without values).
    assert rows["stdlib-sigwaitinfo"].lost == 0
    assert rows["stdlib-sigwaitinfo"].out_of_order is None
    # The stdlib handler coalesces: what it misses is reported, not hidden.
    handler = rows["stdlib-handler"]
    assert handler.arrived is not None and handler.lost is not None
    assert 1 <= handler.arrived <= N and handler.arrived + handler.lost == N
    assert rows["ring"].dropped == 0
    assert max(row.vs_best_c or 0 for row in rows.values() if row.family == "C") == 1.0


def test_pingpong_every_design_and_mode(results: _bench.Results) -> None:
    rows = results.rows["pingpong"]
    assert [(row.id, row.cpu is None) for row in rows] == \
        [(c.id, True) for c in PINGPONG] + [(c.id, False) for c in PINGPONG]
    for row in rows:
        assert row.rounds >= 1 and row.median_us and row.p99_us and 0 < row.median_us <= row.p99_us
        assert len(row.cdf_us) == 201 and row.cdf_us == sorted(row.cdf_us)
    # Only the busy-waiting design may stop early (after its time budget).
    assert all(row.rounds == 200 for row in rows if row.id != "stdlib-classic")
    assert {row.vs_c for row in rows if row.family == "C"} == {1.0}


def test_send_cost(results: _bench.Results) -> None:
    rows = results.rows["send"]
    assert [row.id for row in rows] == [c.id for c in SEND]
    assert all(row.ns > 0 for row in rows)
    assert {row.id: row.vs_os_kill for row in rows}["os.kill"] == 1.0


def test_dropin_every_call(results: _bench.Results) -> None:
    rows = results.rows["dropin"]
    assert [row.name for row in rows] == [case[0] for case in CASES]
    for row in rows:
        assert len(row.stdlib_runs) == len(row.fastsig_runs) == 1
        assert row.stdlib_ns > 0 and row.fastsig_ns > 0
        assert row.ratio == row.fastsig_ns / row.stdlib_ns and row.best_ratio > 0


def test_report_and_plot_from_json(results: _bench.Results, tmp_path: os.PathLike[str]) -> None:
    text = _bench.report(results)
    for key in ("flood", "pingpong", "send", "dropin"):
        for row in results.rows[key]:
            assert asdict(row)["name"] in text
    assert "Receive alone: 3,000 values queued first" in text
    assert "Target" not in text
    markdown = _bench.report(results, markdown=True)
    assert "| receiver | signals/s |" in markdown
    pytest.importorskip("matplotlib")
    path = os.path.join(str(tmp_path), "bench.png")
    _bench.plot(results, path)
    with open(path, "rb") as png:
        assert png.read(8) == b"\x89PNG\r\n\x1a\n"


def test_record_renders_results_and_targets(raw: Dict[str, Any], tmp_path: os.PathLike[str]) -> None:
    """bench/record.py --from-json: the tables into results.md, the project's
    targets into the README's targets block."""
    pytest.importorskip("matplotlib")
    out = str(tmp_path)
    with open(os.path.join(out, "results.json"), "w") as stream:
        json.dump(raw, stream)
    shutil.copy(os.path.join(ROOT, "bench", "README.md"), out)
    done = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "record.py"), "--from-json",
                           "--out", out], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with open(os.path.join(out, "results.md")) as md:
        assert "| receiver | signals/s |" in md.read()
    with open(os.path.join(out, "README.md")) as md:
        readme = md.read()
    block = readme[readme.index("<!-- targets:"):readme.index("<!-- /targets -->")]
    assert f"Targets, measured in the run of {raw['started']}" in block
    # 3 flood (4 subscribers among them), 4 drain, 4 ping-pong (Exchange and
    # the natural loop, pinned and not), 2 send and every drop-in row, each
    # with a goal and a verdict
    verdicts = [line for line in block.splitlines() if line.endswith(("| yes |", "| NO |"))]
    assert len(verdicts) == 13 + len(CASES)


def test_checked_counts_loss_order_and_duplicates() -> None:
    tally = checked([0, 1, 3, 2, 2, 9], n=5, first_ns=1, end_ns=2)
    assert (tally.received, tally.unique, tally.duplicates) == (6, 4, 1)
    assert tally.out_of_order == 4  # 1->3, 3->2, 2->2, 2->9


def test_c_receiver_finishes_without_end_marker() -> None:
    """A receiver whose end marker never comes stops after its idle timeout and
    still reports what arrived (here 10 values, no marker)."""
    for kind in (_core.REF_SIGWAITINFO, _core.REF_SIGNALFD, _core.REF_HANDLER, _core.REF_TAKE):
        with _bench.Child(_core.ref_receive, kind, SIG, END, 100, 200_000_000, ready=True) as receiver:
            receiver.wait_ready(10)
            sent = _core.ref_flood(receiver.pid, SIG, 10, 0)
            row = receiver.result(20)
        assert sent["sent"] == 10
        assert (row["received"], row["unique"], row["out_of_order"], row["end_ns"]) == (10, 10, 0, 0)
        assert row["first_ns"] <= row["last_ns"]


def test_child_reports_result_error_and_death() -> None:
    assert _bench.Child(sum, [1, 2, 3]).result(10) == 6
    with pytest.raises(_bench.ChildFailed, match=r"(?s)failed:.*ZeroDivisionError"):
        _bench.Child(divmod, 1, 0).result(10)
    with pytest.raises(_bench.ChildFailed, match="died without a result"):
        _bench.Child(os._exit, 3).result(10)
    hung = _bench.Child(signal.pause)
    with pytest.raises(_bench.ChildFailed, match="no result after"):
        hung.result(0.2)
    assert hung.status is not None and os.WTERMSIG(hung.status) == signal.SIGKILL
    with _bench.Child(signal.pause) as server:  # a server: killed when the block ends
        os.kill(server.pid, 0)
    assert server.status is not None and os.WTERMSIG(server.status) == signal.SIGKILL
