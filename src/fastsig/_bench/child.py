"""A function run in a forked child, its result brought back: the one way the
benchmark and the command line fork.

Signal dispositions, masks and pending signals belong to a process, so each
contender runs in a fresh child and leaves nothing behind for the next one.
The child pickles fn's return value (or its traceback) into a pipe; a child
that hangs is killed after the caller's timeout. Used as a context manager, a
Child is a server: killed and reaped when the block ends, whatever it is doing.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import sys
import time
import traceback
from typing import Any, Callable, NoReturn, Optional, Tuple


class ChildFailed(RuntimeError):
    """A child raised, hung or died; the message says which and why."""


class Child:
    """fn(*args) in a forked child. With ready=True it is fn(*args, ready_fd):
    the child writes a byte to ready_fd once set up, and wait_ready() waits for
    it. cpu pins the child to that CPU before fn runs."""

    def __init__(self, fn: Callable[..., Any], *args: Any, cpu: Optional[int] = None,
                 ready: bool = False) -> None:
        ready_r, ready_w = os.pipe()
        result_r, result_w = os.pipe()
        sys.stdout.flush()  # or the child would print the parent's buffer again
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            os.close(ready_r)
            os.close(result_r)
            _report(fn, (*args, ready_w) if ready else args, cpu, result_w)
        os.close(ready_w)
        os.close(result_w)
        self.pid = pid
        self.name = getattr(fn, "__name__", "child")
        self._ready = ready_r
        self._result = result_r
        self.status: Optional[int] = None  # os.waitpid's status, once reaped

    def wait_ready(self, timeout: float) -> None:
        if not select.select([self._ready], [], [], timeout)[0]:
            self.kill()
            raise ChildFailed(f"{self.name}: not ready after {timeout} s")
        os.read(self._ready, 1)

    def result(self, timeout: float) -> Any:
        """fn's return value; ChildFailed if it raised, died or took longer."""
        deadline = time.monotonic() + timeout
        chunks = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._result], [], [], left)[0]:
                self.kill()
                raise ChildFailed(f"{self.name}: no result after {timeout:.0f} s")
            chunk = os.read(self._result, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        self.status = os.waitpid(self.pid, 0)[1]
        self._close()
        if not chunks:
            raise ChildFailed(f"{self.name}: died without a result (wait status {self.status:#x})")
        kind, value = pickle.loads(b"".join(chunks))
        if kind == "error":
            raise ChildFailed(f"{self.name} failed:\n{value}")
        return value

    def kill(self) -> None:
        """SIGKILL and reap the child unless that was done; close the pipes."""
        if self.status is None:
            # Gone already only if something else reaped it (SIGCHLD ignored).
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(self.pid, signal.SIGKILL)
                self.status = os.waitpid(self.pid, 0)[1]
        self._close()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def _close(self) -> None:
        for fd in (self._ready, self._result):
            with contextlib.suppress(OSError):
                os.close(fd)


def _report(fn: Callable[..., Any], args: Tuple[Any, ...], cpu: Optional[int],
            out: int) -> NoReturn:  # pragma: no cover - runs in the child
    status = 1
    try:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        payload: Tuple[str, Any] = ("ok", fn(*args))
        status = 0
    except BaseException:  # noqa: BLE001 - everything goes back to the parent
        payload = ("error", traceback.format_exc())
    try:
        try:
            data = pickle.dumps(payload)
        except Exception:  # noqa: BLE001
            data, status = pickle.dumps(("error", f"unpicklable result:\n{traceback.format_exc()}")), 1
        with os.fdopen(out, "wb") as stream:
            stream.write(data)
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(status)
