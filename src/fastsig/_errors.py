"""fastsig's exceptions. Each also inherits the builtin a caller would catch."""

from __future__ import annotations

import errno
import os
from typing import Any, Tuple


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

    def __reduce__(self) -> Tuple[Any, ...]:
        # OSError pickles its (errno, strerror) args, which are not this __init__'s.
        return (type(self), (self.syscall, self.sent))


class SignalBusy(ValueError, FastsigError):
    """Another Listener installed fastsig's handler for the signal with other
    sigaction flags than these (Listener's flags=)."""


def os_error(err: int, syscall: str) -> OSError:
    """The OSError subclass matching err (ProcessLookupError, ...), naming the syscall.

    The syscall is also kept as ``exc.syscall`` for code that dispatches on it.
    """
    exc = OSError(err, f"{syscall}: {os.strerror(err)}")
    exc.syscall = syscall  # type: ignore[attr-defined]
    return exc


def send_error(err: int, syscall: str, sent: int = 0) -> OSError:
    """os_error() for a send: EAGAIN is backpressure and becomes QueueFull."""
    if err == errno.EAGAIN:
        return QueueFull(syscall, sent)
    exc = os_error(err, syscall)
    exc.sent = sent  # type: ignore[attr-defined]
    return exc
