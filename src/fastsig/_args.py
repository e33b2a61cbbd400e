"""Argument checks and time arithmetic shared by the Python layer.

Each check returns the value the C core takes, or raises the TypeError,
ValueError or OverflowError that says what was wrong, before any syscall.
Timeouts reach the core as ns with -1 meaning "forever"; a deadline is a
CLOCK_MONOTONIC time in ns (None: none), and remaining() turns it back into
the ns a retried call may still wait (PEP 475).
"""

from __future__ import annotations

import math
import time
from typing import Optional

from . import _core

VALUE_BITS = _core.POINTER_BITS
VALUE_MIN = -(1 << (VALUE_BITS - 1))
VALUE_MAX = (1 << (VALUE_BITS - 1)) - 1
PID_MAX = (1 << 31) - 1
# pthread_t is an unsigned long, as the stdlib's pthread_kill() converts it.
THREAD_MAX = (1 << _core.ULONG_BITS) - 1
# The largest batch one call may return: 64 Ki records (4.5 MiB), more than a
# default RLIMIT_SIGPENDING lets one process queue, and never a runaway malloc.
MAX_BATCH = 1 << 16
# Timeouts past this many seconds (~146 years) mean "forever".
_FOREVER_S = (1 << 62) / 1e9


def integer(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return int(value)


def pid(value: object, *, positive: bool = False) -> int:
    number = integer("pid", value)
    low = 1 if positive else -PID_MAX
    if not low <= number <= PID_MAX:
        raise ValueError(f"pid {number} out of range" + (" (must be > 0)" if positive else ""))
    return number


def sigval(value: object) -> int:
    """A signal's payload: an int that fits the platform's sigval pointer."""
    number = integer("value", value)
    if not VALUE_MIN <= number <= VALUE_MAX:
        raise OverflowError(
            f"value {number} does not fit in a {VALUE_BITS}-bit sigval ({VALUE_MIN}..{VALUE_MAX})"
        )
    return number


def batch_size(max: object) -> int:
    """A batch's capacity: its records are allocated up front, so it is bounded."""
    size = integer("max", max)
    if not 1 <= size <= MAX_BATCH:
        raise ValueError(f"max must be in 1..{MAX_BATCH}, not {size}")
    return size


def timeout_ns(timeout: Optional[float]) -> int:
    """Seconds (None: forever) as the C core's ns, -1 meaning forever."""
    if timeout is None:
        return -1
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, not {type(timeout).__name__}")
    if math.isnan(timeout) or timeout < 0:
        raise ValueError(f"timeout must be non-negative, not {timeout!r}")
    if timeout >= _FOREVER_S:
        return -1
    return int(timeout * 1e9)


def deadline(ns: int) -> Optional[int]:
    """When a wait of ns (-1: forever) that starts now must end."""
    return None if ns < 0 else time.monotonic_ns() + ns


def remaining(deadline: Optional[int]) -> int:
    """What is left of a deadline, in the core's ns (-1: forever)."""
    return -1 if deadline is None else max(0, deadline - time.monotonic_ns())
