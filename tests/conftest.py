"""Shared test helpers.

Signal dispositions and masks are process-wide, so every test that installs a
handler or changes a mask runs in a forked child: decorate it with
``@in_child()``. The child's result (or its exception, with traceback) comes
back through a pipe; a child that hangs is killed after ``timeout`` seconds and
the test fails, so one test can neither poison nor hang the rest.
"""

from __future__ import annotations

import functools
import os
import pickle
import select
import signal
import subprocess
import sys
import time
import traceback
from typing import Any, Callable, TypeVar

import pytest

F = TypeVar("F", bound=Callable[..., Any])


class ChildFailed(AssertionError):
    pass


def run_in_child(fn: Callable[..., Any], *args: Any, timeout: float = 30.0, **kwargs: Any) -> Any:
    """Run fn(*args, **kwargs) in a forked child; return its result or raise."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        status = 0
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
    return value


def in_child(timeout: float = 30.0) -> Callable[[F], F]:
    """Decorator: run the test body in a forked child with a timeout."""

    def decorate(test: F) -> F:
        @functools.wraps(test)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return run_in_child(test, *args, timeout=timeout, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def forked(body: Callable[[], object]) -> int:
    """Run body in a forked process that exits 0 if it returned, 1 if it raised."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            body()
            code = 0
        finally:
            os._exit(code)
    return pid


def exit_code(pid: int, timeout: float = 60.0) -> int:
    """The exit status of a forked process, killing it if it takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"process {pid} did not finish within {timeout} s")


def fork_sender(target: int, sig: int, values: range) -> int:
    """A separate process that queues values to target in one C call (retrying
    while the queue is full), then exits 0."""
    import fastsig

    return forked(lambda: fastsig.sigqueue_many(target, sig, values, timeout=None))


def python_child(code: str, *args: str) -> subprocess.Popen[bytes]:
    """Start `python -c code args...` as a separate process (for senders)."""
    return subprocess.Popen([sys.executable, "-c", code, *args])


@pytest.fixture
def child() -> Callable[..., Any]:
    return run_in_child
