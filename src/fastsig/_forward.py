"""forward(): relay every delivery of some signals to another process.

A Listener records each delivery (nothing coalesces beyond what the kernel
already did); one relay thread re-sends the records in the order they were
recorded. A record that carried a value (SI_QUEUE, SI_TIMER, SI_MESGQ,
SI_ASYNCIO) is re-sent with sigqueue semantics and the same si_value; the rest
as from kill(). The receiver sees the relay as the sender (si_pid): the
original sender is never forged.

Targets: a pid, a process group (``-pgid``), or a pidfd (``pidfd=fd``). A
process group gets the value through a pidfd of its leader with the "group"
scope (Linux 6.9+); where that is missing (or the leader is gone) it gets
kill(-pgid, sig), and each value that could not travel is counted in
``stats().without_value``. Nothing is lost silently: every record read is
either forwarded or counted as failed, and records the ring dropped or that
arrived too late to be read before close() are counted as dropped.
"""

from __future__ import annotations

import errno
import os
import select
import threading
import time
from typing import List, NamedTuple, Optional

from . import _args, _core
from ._errors import QueueFull
from ._listener import Listener
from ._names import SignalSet, valid_signals
from ._ops import pthread_sigmask
from ._siginfo import SiCode, SigInfo

_VALUE_CODES = frozenset(int(c) for c in (SiCode.SI_QUEUE, SiCode.SI_TIMER, SiCode.SI_MESGQ,
                                          SiCode.SI_ASYNCIO))
_GROUP = _core.PIDFD_SCOPES["group"]
# A full queue at the target is retried with this pause: backpressure, not loss.
_RETRY_S = 0.001


class ForwardStats(NamedTuple):
    """What a forward() relay did: ``received`` records were read; each was
    ``forwarded`` or ``failed`` (the kernel refused it, e.g. the target is
    gone); ``without_value`` of the forwarded reached a process group
    without their value; ``dropped`` were recorded by the kernel but never
    read (a full ring, or still in it at close())."""

    received: int
    forwarded: int
    failed: int
    without_value: int
    dropped: int


class Forwarder:
    """The relay forward() returns; a context manager. See forward()."""

    def __init__(self, sigs: SignalSet, to: Optional[int] = None, *, pidfd: Optional[int] = None,
                 keep_value: bool = True) -> None:
        if (to is None) == (pidfd is None):
            raise TypeError("forward() needs exactly one target: to=pid or -pgid, or pidfd=fd")
        self._pid = 0
        self._pidfd = -1
        self._group_fd = -1
        if pidfd is not None:
            self._pidfd = _args.integer("pidfd", pidfd)
            if self._pidfd < 0:
                raise ValueError(f"pidfd must be >= 0, not {self._pidfd}")
        else:
            self._pid = _args.pid(to)
            if self._pid in (0, -1):
                raise ValueError(f"forward() to {self._pid} would signal this process's group "
                                 "or every process: give a pid or -pgid")
        self._keep = bool(keep_value)
        self._counts = {"received": 0, "forwarded": 0, "failed": 0, "without_value": 0}
        self.errors: List[OSError] = []  # the first few failures, for diagnosis
        self._stopping = False
        self._final: Optional[ForwardStats] = None
        self._listener = Listener(sigs)
        if self._pid < -1 and self._keep:
            self._group_fd = _group_pidfd(-self._pid)
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="fastsig-forward", daemon=True)
        self._thread.start()

    @property
    def signals(self) -> frozenset[int]:
        return self._listener.signals

    # -- the relay thread ----------------------------------------------------

    def _run(self) -> None:
        # Handlers run on the other threads: this one only reads and sends.
        pthread_sigmask(_core.SIG_BLOCK, valid_signals())
        listener = self._listener
        ready = select.poll()  # not select(): the fds may be past FD_SETSIZE
        for fd in (listener.fileno(), self._wake_r):
            ready.register(fd, select.POLLIN)
        while True:
            records = listener.drain()
            for info in records:
                self._forward(info)
            if records:
                continue
            if self._stopping:
                return
            ready.poll()

    def _forward(self, info: SigInfo) -> None:
        self._counts["received"] += 1
        sig = info.si_signo
        value = info.si_value if self._keep and info.si_code in _VALUE_CODES else None
        while True:
            try:
                self._send(sig, value)
                self._counts["forwarded"] += 1
                return
            except QueueFull:
                if not self._stopping:
                    time.sleep(_RETRY_S)
                    continue
                self._failed(QueueFull("sigqueue"))
                return
            except OSError as exc:
                self._failed(exc)
                return

    def _send(self, sig: int, value: Optional[int]) -> None:
        if self._pidfd >= 0:
            _core.pidfd_send_signal(self._pidfd, sig, value)
        elif value is None:
            _core.kill(self._pid, sig)
        elif self._pid > 0:
            _core.sigqueue(self._pid, sig, value)
        elif self._group_fd >= 0:
            _core.pidfd_send_signal(self._group_fd, sig, value, _GROUP)
        else:
            _core.kill(self._pid, sig)
            self._counts["without_value"] += 1

    def _failed(self, exc: OSError) -> None:
        self._counts["failed"] += 1
        if len(self.errors) < 10:
            self.errors.append(exc)

    # -- accounting and lifetime ----------------------------------------------

    def stats(self) -> ForwardStats:
        """The counters so far; after close(), the final ones."""
        if self._final is not None:
            return self._final
        ring = self._listener.stats()
        unread = sum(s.delivered - s.read for s in ring.values())
        return ForwardStats(**self._counts, dropped=unread)

    def close(self) -> None:
        """Forward what has been recorded, stop the relay, restore the signals'
        previous actions (idempotent)."""
        if self._final is not None or self._stopping:
            return
        self._stopping = True
        os.write(self._wake_w, b"x")
        if threading.current_thread() is not self._thread:
            self._thread.join()
        self._listener.close()
        self._final = self.stats()
        for fd in (self._wake_r, self._wake_w, self._group_fd):
            if fd >= 0:
                os.close(fd)

    def __enter__(self) -> Forwarder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        target = f"pidfd {self._pidfd}" if self._pidfd >= 0 else (
            f"group {-self._pid}" if self._pid < 0 else f"pid {self._pid}")
        state = "closed" if self._final is not None else "running"
        return f"<Forwarder to {target} {state} {self.stats()}>"


def _group_pidfd(pgid: int) -> int:
    """A pidfd of the group's leader, if this kernel can signal a whole group
    through one (PIDFD_SIGNAL_PROCESS_GROUP); else -1."""
    if not (_core.HAVE_PIDFD and _core.HAVE_PIDFD_OPEN):
        return -1
    if _core.pidfd_send_signal_errno(-1, 0, _GROUP) != errno.EBADF:
        return -1  # the kernel does not know the scope
    try:
        return _core.pidfd_open(pgid, False)
    except OSError:
        return -1  # the leader is gone: the group is reached by kill(-pgid)


def forward(sigs: SignalSet, to: Optional[int] = None, *, pidfd: Optional[int] = None,
            keep_value: bool = True) -> Forwarder:
    """Relay every delivery of ``sigs`` to ``to`` (a pid, or -pgid for a
    process group) or to ``pidfd``, in order, keeping si_value.

    Returns the running relay; ``close()`` it (or use it as a context
    manager) to forward what is left and restore the signals' previous
    actions. ``stats()`` counts what was received, forwarded, failed and
    dropped. With ``keep_value=False`` every signal goes as from kill().
    It holds a Listener for ``sigs`` while it runs (so no other Listener may
    take them). After a fork the child has no relay thread.
    """
    return Forwarder(sigs, to, pidfd=pidfd, keep_value=keep_value)
