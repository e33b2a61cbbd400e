"""The ring's C test program (tests/c/test_ring.c), plain build, as part of the
suite; scripts/sanitize.sh runs it again under ASan+UBSan and TSan."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from support import ROOT

C_TESTS = ROOT / "tests" / "c"


@pytest.mark.skipif(not (shutil.which("make") and (shutil.which("cc") or shutil.which("gcc"))),
                    reason="needs make and a C compiler")
@pytest.mark.skipif(not (ROOT / "csrc" / "ring.c").exists(), reason="no source tree")
def test_ring_c_program(tmp_path: Path) -> None:
    proc = subprocess.run(["make", "--no-print-directory", "-C", str(C_TESTS), "plain", f"OUT={tmp_path}"],
                          capture_output=True, text=True, timeout=180)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " 0 failed" in proc.stdout
