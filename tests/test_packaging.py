"""The installed package: metadata, typing markers, the compiled module, and
the feature flags, each checked against what really ships and really works.

scripts/build_wheel.sh runs this file (alone, with --quick) against a wheel
installed in a fresh venv and sets FASTSIG_EXPECT_INSTALLED=1, which turns on
the checks that only hold for a real install (not the editable dev one).
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import platform
import signal
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path

import pytest

import fastsig
from fastsig import _core, _fastsig
from support import in_child

DIST = metadata.distribution("pyfastsig")
PACKAGE_DIR = Path(fastsig.__file__).resolve().parent
EXPECT_INSTALLED = os.environ.get("FASTSIG_EXPECT_INSTALLED") == "1"
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
GLIBC = platform.libc_ver()[0] == "glibc"
LINUX = sys.platform.startswith("linux")


def test_version_is_the_distribution_version() -> None:
    assert DIST.version == fastsig.__version__
    assert metadata.version("pyfastsig") == fastsig.__version__


def test_metadata() -> None:
    meta = DIST.metadata
    assert meta["Name"] == "pyfastsig"
    assert meta["Requires-Python"] == ">=3.9"
    assert meta["License-Expression"] == "MIT"
    classifiers = meta.get_all("Classifier") or []
    assert "Operating System :: POSIX :: Linux" in classifiers
    assert "Typing :: Typed" in classifiers
    assert f"Programming Language :: Python :: {sys.version_info[0]}.{sys.version_info[1]}" in classifiers
    requires = DIST.requires or []
    assert any(req.startswith("cffi") for req in requires)
    extras = set(meta.get_all("Provides-Extra") or [])
    assert {"test", "plot", "bench"} <= extras


def test_console_script_points_at_a_callable() -> None:
    (script,) = [ep for ep in DIST.entry_points if ep.group == "console_scripts" and ep.name == "fastsig"]
    assert callable(script.load())


def test_typing_markers_ship() -> None:
    assert (PACKAGE_DIR / "py.typed").is_file()
    assert (PACKAGE_DIR / "_fastsig.pyi").is_file()


def test_compiled_module_sits_in_the_package_with_the_right_abi() -> None:
    module = Path(_fastsig.__file__).resolve()
    assert module.parent == PACKAGE_DIR
    # One abi3 module serves every GIL build; the free-threaded build (and a
    # debug build) has no limited API, so cffi builds a version-specific one.
    limited = not FREE_THREADED and not hasattr(sys, "gettotalrefcount")
    assert module.name.endswith(".abi3.so") == limited, module.name


@pytest.mark.skipif(not EXPECT_INSTALLED, reason="only for a wheel install (FASTSIG_EXPECT_INSTALLED=1)")
def test_imported_from_an_installed_wheel() -> None:
    # Not from a checkout or an unpacked sdist: no csrc/ two levels up.
    assert not (PACKAGE_DIR.parent.parent / "csrc").exists(), PACKAGE_DIR
    assert any(PACKAGE_DIR.parent == Path(p).resolve() for p in sys.path if p), PACKAGE_DIR
    wheel = DIST.read_text("WHEEL") or ""
    assert "Root-Is-Purelib: false" in wheel
    tags = [line.split(": ", 1)[1] for line in wheel.splitlines() if line.startswith("Tag: ")]
    assert tags, wheel
    abi = f"cp{sys.version_info[0]}{sys.version_info[1]}t" if FREE_THREADED else "abi3"
    for tag in tags:
        python, tag_abi, plat = tag.split("-")
        assert tag_abi == abi, tag
        if abi == "abi3":
            assert python == "cp39", tag
        assert plat.startswith(("manylinux", "musllinux")), tag


def test_feature_flags_match_the_namespace() -> None:
    features = {
        "signalfd": _core.HAVE_SIGNALFD,
        "SignalFD": _core.HAVE_SIGNALFD,
        "pidfd_send_signal": _core.HAVE_PIDFD,
        "pthread_sigqueue": _core.HAVE_PTHREAD_SIGQUEUE,
    }
    for name, present in features.items():
        assert hasattr(fastsig, name) == present, name
        assert (name in fastsig.__all__) == present, name
    for name in fastsig.__all__:
        assert hasattr(fastsig, name), name


@pytest.mark.skipif(not LINUX, reason="Linux-only calls")
def test_linux_builds_have_the_linux_calls() -> None:
    assert _core.HAVE_SIGNALFD
    assert _core.HAVE_PIDFD
    # pthread_sigqueue is a glibc extension: musl has none.
    assert _core.HAVE_PTHREAD_SIGQUEUE == GLIBC


# The features the flags announce must work in the compiled module: one real
# signal through each.

@pytest.mark.skipif(not _core.HAVE_SIGNALFD, reason="no signalfd here")
@in_child(timeout=10)
def test_signalfd_flag_means_a_working_signalfd() -> None:
    sig = fastsig.rt(1)
    with fastsig.blocked({sig}), fastsig.signalfd({sig}) as sfd:
        fastsig.sigqueue(os.getpid(), sig, 1234)
        (info,) = sfd.read()
    assert (info.si_signo, info.si_value, info.si_pid) == (sig, 1234, os.getpid())


@pytest.mark.skipif(not _core.HAVE_PIDFD or not hasattr(os, "pidfd_open"), reason="no pidfd here")
def test_pidfd_flag_means_a_working_pidfd_send_signal() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        pidfd = os.pidfd_open(proc.pid)
        try:
            fastsig.pidfd_send_signal(pidfd, signal.SIGTERM)
        finally:
            os.close(pidfd)
        assert proc.wait(timeout=10) == -signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.skipif(not _core.HAVE_PTHREAD_SIGQUEUE, reason="no pthread_sigqueue here")
@in_child(timeout=10)
def test_pthread_sigqueue_flag_means_a_working_pthread_sigqueue() -> None:
    sig = fastsig.rt(2)
    with fastsig.blocked({sig}):
        fastsig.pthread_sigqueue(threading.get_ident(), sig, -5)
        info = fastsig.sigtimedwait({sig}, 5.0)
    assert info is not None
    assert (info.si_signo, info.si_value, info.si_code) == (sig, -5, fastsig.SiCode["SI_QUEUE"])
