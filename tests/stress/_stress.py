"""Helpers shared by the stress and fault tests (fork_sender and reap come from
conftest and are re-exported here).

Counts scale with FASTSIG_STRESS_SCALE (a float, default 1) so a local soak can
run the same tests ten times longer; FASTSIG_SOAK_SECONDS bounds the soak.
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
import time
from typing import Callable, Iterable, List, Optional

from conftest import exit_code as reap  # noqa: F401 - re-exported for the stress tests
from conftest import fork_sender as fork_sender

SCALE = float(os.environ.get("FASTSIG_STRESS_SCALE", "1"))
SOAK_SECONDS = float(os.environ.get("FASTSIG_SOAK_SECONDS", "20")) * max(SCALE, 0.05)

# A uid no other process on a shared machine uses, so that this test's floods
# fill its own RLIMIT_SIGPENDING quota and not root's (which every other
# process sending signals as root would then hit as EAGAIN).
_ISOLATED_ID = 54321
_PR_SET_DUMPABLE = 4


def scaled(n: int) -> int:
    return max(1, int(n * SCALE))


def isolate_sigpending() -> None:
    """In a forked test child running as root: become an unused uid, so the
    kernel charges signals queued to us to that uid's pending quota alone."""
    if os.geteuid() != 0:
        return
    os.setgid(_ISOLATED_ID)
    os.setuid(_ISOLATED_ID)
    # Changing uid makes the process undumpable, which hides /proc/self/fd.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)




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


def collect(read: Callable[[], List[int]], n: int, timeout: float = 60.0) -> List[int]:
    """Call read() until n items arrived or timeout seconds passed."""
    got: List[int] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got.extend(read())
    return got


def proc_status(pid: object = "self") -> dict[str, str]:
    with open(f"/proc/{pid}/status") as status:
        return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)


def rss_kib() -> int:
    return int(proc_status()["VmRSS"].split()[0])


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


# Self-checking values: a torn record (fields of two deliveries mixed) or a
# corrupted payload fails the check instead of passing as some other value.
def tag(source: int, seq: int) -> int:
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
