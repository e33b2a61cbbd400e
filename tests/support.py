"""What the tests share: run in a forked child, fork helper processes, wait for
records, and the stress tests' sizes, quotas, threads and self-checking values.

Signal dispositions and masks are process-wide, so every test that installs a
handler or changes a mask runs in a forked child: decorate it with
``@in_child()``. The child's result (or its exception, with traceback) comes
back through a pipe; a child that hangs is killed after ``timeout`` seconds and
the test fails, so one test can neither poison nor hang the rest.

Import what you need by name: ``from support import RT1, in_child``
(pyproject.toml puts tests/ on sys.path). tests/test_support.py tests these
helpers themselves.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable, List, Optional, Tuple, TypeVar

import fastsig

__all__ = [
    # constants
    "ROOT", "RT1", "RT2",
    # forked children: a test body, or a helper process
    "ChildFailed", "run_in_child", "in_child", "forked", "exit_code", "fork_sender", "python_child",
    "queue_own_pid",
    # waiting for records
    "collect",
    # stress: sizes, the pending-signal quota, handler threads, tagged values, /proc
    "SOAK_SECONDS", "scaled", "isolate_sigpending", "HandlerThread", "tag", "untag",
    "proc_status", "rss_kib", "fd_count",
]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

# ---- constants -------------------------------------------------------------

# The source tree the tests come from: the checkout, or the unpacked sdist when
# the tests run against an installed wheel (fastsig itself is imported from
# wherever it is installed).
ROOT = Path(__file__).resolve().parent.parent

# Real-time signals: queued, in order, with values; nothing else here uses them.
RT1 = fastsig.rt(1)
RT2 = fastsig.rt(2)

# ---- forked children ---------------------------------------------------------


class ChildFailed(AssertionError):
    """A child run by run_in_child() raised, died, or timed out."""


def run_in_child(fn: Callable[..., T], *args: Any, timeout: float = 30.0, **kwargs: Any) -> T:
    """Run fn(*args, **kwargs) in a forked child; return its result or raise
    ChildFailed (with the child's traceback, or how it died)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        status = 0
        payload: Tuple[str, object]
        try:
            payload = ("ok", fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - report everything to the parent
            payload = ("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            status = 1
        try:
            data = pickle.dumps(payload)
        except Exception as exc:  # noqa: BLE001
            data = pickle.dumps(("error", f"unpicklable result: {exc}"))
            status = 1
        with os.fdopen(write_fd, "wb") as out:
            out.write(data)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    os.close(write_fd)
    deadline = time.monotonic() + timeout
    chunks = []
    reaped = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChildFailed(f"child timed out after {timeout} s")
            ready, _, _ = select.select([read_fd], [], [], left)
            if ready:
                chunk = os.read(read_fd, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        _, status = os.waitpid(pid, 0)
        reaped = True
    finally:
        os.close(read_fd)
        if not reaped:  # timed out, or pytest-timeout / Ctrl-C interrupted us
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    if not chunks:
        raise ChildFailed(f"child died without reporting (wait status {status:#x}"
                          f"{', signal ' + str(os.WTERMSIG(status)) if os.WIFSIGNALED(status) else ''})")
    kind, value = pickle.loads(b"".join(chunks))
    if kind == "error":
        raise ChildFailed(f"in child: {value}")
    return value  # type: ignore[no-any-return]


def in_child(timeout: float = 30.0) -> Callable[[F], F]:
    """Decorator: run the test body in a forked child with a timeout."""

    def decorate(test: F) -> F:
        @functools.wraps(test)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return run_in_child(test, *args, timeout=timeout, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def forked(body: Callable[[], object]) -> int:
    """Run body in a forked process that exits 0 if it returned, 1 if it raised
    (printing the traceback); returns its pid, for exit_code()."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            body()
            code = 0
        except BaseException:  # noqa: BLE001 - the parent sees the exit code
            traceback.print_exc()  # stderr is line-buffered: out before _exit
        finally:
            os._exit(code)
    return pid


def exit_code(pid: int, timeout: float = 60.0) -> int:
    """The exit status of a forked process (-N if signal N killed it), killing
    it if it takes longer than timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"process {pid} did not finish within {timeout} s")


def queue_own_pid(pid: int, sig: int, from_child: bool) -> int:
    """Queue sig to pid with the sender's pid as the value, sent by this
    process or, from_child=True, by a new child; returns the sender's pid."""
    if not from_child:
        fastsig.sigqueue(pid, sig, os.getpid())
        return os.getpid()
    sender = forked(lambda: fastsig.sigqueue(pid, sig, os.getpid()))
    assert exit_code(sender) == 0
    return sender


def fork_sender(target: int, sig: int, values: Iterable[int], burst: int = 0) -> int:
    """A separate process that queues values to target in one C call (retrying
    while the queue is full), then exits 0. With burst, it queues that many at
    a time and pauses 1 ms after each, so the reader runs dry and parks
    between bursts."""
    if not burst:
        return forked(lambda: fastsig.sigqueue_many(target, sig, values, timeout=None))
    values = list(values)

    def send_in_bursts() -> None:
        for start in range(0, len(values), burst):
            fastsig.sigqueue_many(target, sig, values[start:start + burst], timeout=None)
            time.sleep(0.001)

    return forked(send_in_bursts)


def python_child(code: str, *args: str) -> subprocess.Popen[bytes]:
    """Start `python -c code args...` as a separate process (for senders)."""
    return subprocess.Popen([sys.executable, "-c", code, *args])


# ---- waiting for records -----------------------------------------------------

def collect(read: Callable[[], List[T]], n: int, timeout: float = 60.0) -> List[T]:
    """Call read() until n items arrived or timeout seconds passed."""
    got: List[T] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got.extend(read())
    return got


# ---- stress ----------------------------------------------------------------------

# Counts scale with FASTSIG_STRESS_SCALE (a float, default 1), so a local soak
# can run the same tests ten times longer; FASTSIG_SOAK_SECONDS bounds the soak.
_SCALE = float(os.environ.get("FASTSIG_STRESS_SCALE", "1"))
SOAK_SECONDS = float(os.environ.get("FASTSIG_SOAK_SECONDS", "20")) * max(_SCALE, 0.05)

_PR_SET_DUMPABLE = 4


def scaled(n: int) -> int:
    """n times FASTSIG_STRESS_SCALE, at least 1."""
    return max(1, int(n * _SCALE))


def readable_by_anyone() -> bool:
    """Whether another uid can still import what the tests need after the
    switch: a checkout or venv under a private directory (mktemp -d makes
    one) is not, and libraries import some modules only when first used."""
    # Found, not imported: importing hypothesis costs a test child 0.5 s
    # (30x that under valgrind).
    spec = importlib.util.find_spec("hypothesis")
    libraries = [Path(p) for p in spec.submodule_search_locations or []] if spec else []
    for path in (ROOT, Path(fastsig.__file__).parent, *libraries):
        for directory in (path, *path.parents):
            if not os.stat(directory).st_mode & 0o001:
                return False
    return True


def isolate_sigpending() -> bool:
    """In a forked test child running as root: become a uid of its own, so the
    kernel charges signals queued to us to that uid's RLIMIT_SIGPENDING quota
    alone, not root's (which every other process sending signals as root would
    then hit as EAGAIN) nor that of a test run beside this one. True if it did."""
    if os.geteuid() != 0 or not readable_by_anyone():
        return False
    # A uid per process (from its pid), below 65536 so that a container's user
    # namespace maps it.
    uid = 40000 + os.getpid() % 20000
    os.setgid(uid)
    os.setuid(uid)
    # Changing uid makes the process undumpable, which hides /proc/self/fd.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)
    return True


class HandlerThread:
    """A thread that leaves sigs unblocked and sleeps, while the calling thread
    blocks them: process-directed signals then run their handler here, and the
    reader (the caller) keeps a CPU for draining. A thread that both takes the
    handlers and reads starves under a flood: the kernel runs the handler back
    to back for as long as the queue is non-empty."""

    def __init__(self, sigs: Iterable[int], count: int = 1) -> None:
        self._sigs = list(sigs)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._stop.wait) for _ in range(count)]
        for thread in self._threads:
            thread.start()
        signal.pthread_sigmask(signal.SIG_BLOCK, self._sigs)

    @property
    def native_ids(self) -> List[Optional[int]]:
        return [t.native_id for t in self._threads]

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, self._sigs)

    def __enter__(self) -> HandlerThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Self-checking values: a torn record (fields of two deliveries mixed) or a
# corrupted payload fails the check instead of passing as some other value.
def tag(source: int, seq: int) -> int:
    """A value carrying source and seq, with a checksum."""
    body = (source << 40) | (seq << 8)
    return body | _checksum(body)


def untag(value: int) -> tuple[int, int]:
    """(source, seq) of a tagged value; AssertionError if it is corrupt."""
    body = value & ~0xFF
    assert value & 0xFF == _checksum(body), f"corrupt value {value:#x}"
    return body >> 40, (body >> 8) & ((1 << 32) - 1)


def _checksum(body: int) -> int:
    total = 0x5A
    while body:
        total = (total * 31 + (body & 0xFF)) & 0xFF
        body >>= 8
    return total


def proc_status(pid: object = "self") -> dict[str, str]:
    """/proc/PID/status as a dict of its fields ("SigQ", "SigBlk", "VmRSS", ...)."""
    with open(f"/proc/{pid}/status") as status:
        return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)


def rss_kib() -> int:
    """This process's resident set size, in KiB."""
    return int(proc_status()["VmRSS"].split()[0])


def fd_count() -> int:
    """How many file descriptors this process has open."""
    return len(os.listdir("/proc/self/fd"))
