"""The C core compiles without a single warning under -Wall -Wextra -Werror:
every csrc/*.c file, and the cffi-generated module that wraps them, at -O2
(some warnings only appear with the optimizer's analysis). Skipped where there
is no compiler or no source tree (tests run against an installed wheel)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sysconfig
from pathlib import Path
from typing import List

import pytest

from support import ROOT

CSRC = ROOT / "csrc"
CC = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
FLAGS = ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O2", "-D_GNU_SOURCE=1", "-fPIC",
         f"-I{CSRC}"]

pytestmark = [
    pytest.mark.skipif(CC is None, reason="no C compiler"),
    pytest.mark.skipif(not (CSRC / "fastsig.h").exists(), reason="no source tree"),
]


def _compile(source: Path, out: Path, extra: List[str]) -> None:
    proc = subprocess.run([CC, *FLAGS, *extra, "-c", str(source), "-o", str(out)],  # type: ignore[list-item]
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and not proc.stderr, f"{source.name}:\n{proc.stderr}"


@pytest.mark.parametrize("source", sorted(CSRC.glob("*.c")), ids=lambda p: p.name)
def test_core_file_compiles_warning_free(source: Path, tmp_path: Path) -> None:
    _compile(source, tmp_path / "out.o", [])


def test_cffi_module_compiles_warning_free(tmp_path: Path) -> None:
    pytest.importorskip("cffi")
    spec = importlib.util.spec_from_file_location("fastsig_build", ROOT / "src/fastsig/_build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    generated = tmp_path / "_fastsig.c"
    build.ffibuilder.emit_c_code(str(generated))
    _compile(generated, tmp_path / "module.o", [f"-I{sysconfig.get_paths()['include']}"])
