"""The examples (the classic bulletproof process and process-group ping-pong,
and sending values), run for real as separate processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from support import ROOT, in_child

EXAMPLES = ROOT / "examples"


@in_child(timeout=60)
def test_bulletproof_survives_sigfpe_and_dies_on_sighup() -> None:
    proc = subprocess.Popen([sys.executable, str(EXAMPLES / "bulletproof.py")],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline().split()
        assert ready[0] == "ready"
        pid = int(ready[1])
        for _ in range(3):
            subprocess.run(["kill", "-FPE", str(pid)], check=True)
            line = proc.stdout.readline()
            assert "SIGFPE SI_USER from pid" in line
        os.kill(pid, signal.SIGHUP)
        assert proc.wait(timeout=30) == -signal.SIGHUP
        assert proc.stdout.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("values", [False, True], ids=["kill-group", "sigqueue-values"])
def test_pingpong_over_a_process_group_accounts_for_every_round(values: bool) -> None:
    args = [sys.executable, str(EXAMPLES / "pingpong.py"), "--rounds", "100"]
    start = time.monotonic()
    proc = subprocess.run(args + (["--values"] if values else []), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "client: 100 pongs" in proc.stdout
    assert "server: 100 pings" in proc.stdout
    assert time.monotonic() - start < 120
