"""fastsig's exceptions. Each also inherits the builtin a caller would catch."""

from __future__ import annotations

import errno
import os


class FastsigError(Exception):
    """Base class of every exception fastsig defines."""


class QueueFull(BlockingIOError, FastsigError):
    """The receiver's signal queue is full (EAGAIN at RLIMIT_SIGPENDING).

    This is backpressure, not loss: ``sent`` says how many signals of the call
    were queued before the kernel refused the next one; the rest were not sent.
    """

    def __init__(self, syscall: str, sent: int = 0) -> None:
        super().__init__(
            errno.EAGAIN,
            f"{syscall}: the receiver's signal queue is full (RLIMIT_SIGPENDING); "
            f"{sent} sent before it filled",
        )
        self.sent = sent
        self.syscall = syscall


class SignalBusy(ValueError, FastsigError):
    """The signal is already routed to another Listener in this process."""


def os_error(err: int, syscall: str) -> OSError:
    """The OSError subclass matching err (ProcessLookupError, ...), naming the syscall."""
    if err == errno.EAGAIN:
        return QueueFull(syscall)
    exc = OSError(err, f"{syscall}: {os.strerror(err)}")
    exc.filename = syscall
    return exc
