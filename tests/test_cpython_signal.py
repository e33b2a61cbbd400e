"""CPython's own test_signal cases for the stdlib-named functions, run against
fastsig's: the same module attributes swapped for fastsig's, in this process
and in the subprocesses those cases start."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

NAMES = ["pthread_sigmask", "sigpending", "sigwait", "sigwaitinfo", "sigtimedwait", "pthread_kill",
         "raise_signal", "valid_signals", "strsignal"]

RUNNER = f"""
import signal, sys, unittest
import fastsig
PRELUDE = "import signal, fastsig\\nfor _n in {NAMES!r}: setattr(signal, _n, getattr(fastsig, _n))\\n"
exec(PRELUDE)
from test import test_signal as t

def with_fastsig(*args, _run=t.assert_python_ok, **kwargs):
    args = list(args)
    if "-c" in args:
        i = args.index("-c") + 1
        args[i] = PRELUDE + args[i]
    return _run(*args, **kwargs)

t.assert_python_ok = with_fastsig
suite = unittest.TestSuite()
for case in (t.PosixTests, t.PendingSignalsTests, t.RaiseSignalTest):
    suite.addTests(unittest.TestLoader().loadTestsFromTestCase(case))
result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
sys.exit(0 if result.wasSuccessful() and result.testsRun else 1)
"""


@pytest.mark.skipif(importlib.util.find_spec("test.test_signal") is None,
                    reason="this Python ships without its test suite")
def test_cpython_test_signal_passes_with_fastsigs_functions() -> None:
    proc = subprocess.run([sys.executable, "-c", RUNNER], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert " ... ok" in proc.stdout + proc.stderr
