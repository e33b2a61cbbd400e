"""PEP 475 for the calls with a finite timeout: a Python handler runs while the
call waits, then the call goes on with only the time left."""

from __future__ import annotations

import os
import signal
import time
from typing import Callable, List, Optional

import pytest

import fastsig
from support import in_child
from test_send import _limit_pending

RT = fastsig.rt(4)


def alarm_in(seconds: float, calls: List[float]) -> None:
    """A stdlib Python handler for SIGALRM that records when it ran, due in seconds."""
    signal.signal(signal.SIGALRM, lambda signum, frame: calls.append(time.monotonic()))
    signal.setitimer(signal.ITIMER_REAL, seconds)


@pytest.mark.parametrize("call", [
    lambda x, value: x.send_wait_value(value),
    lambda x, value: x.send_wait(value),
], ids=["send_wait_value", "send_wait"])
@in_child(timeout=30)
def test_an_interrupted_exchange_waits_only_the_time_left(
    call: Callable[[fastsig.Exchange, int], Optional[object]],
) -> None:
    """The USR1 it sends lands, blocked, on this process; no reply ever comes."""
    calls: List[float] = []
    with fastsig.blocked({signal.SIGUSR1, RT}):
        exchange = fastsig.Exchange(os.getpid(), signal.SIGUSR1, {RT}, timeout=2.0)
        start = time.monotonic()
        alarm_in(1.5, calls)
        result = call(exchange, 7)
        elapsed = time.monotonic() - start
        sent = fastsig.sigtimedwait({signal.SIGUSR1}, 0)
    assert sent is not None and sent.si_value == 7
    assert result is None
    assert len(calls) == 1
    # A wait restarted whole at EINTR would take 1.5 + 2.0 s.
    assert 1.9 <= elapsed < 3.0, elapsed


@in_child(timeout=30)
def test_a_timed_sigqueue_many_lets_handlers_run_then_goes_on() -> None:
    """A full queue and a 3 s budget: the handler due at 0.2 s runs then, not
    when the budget is spent, and the call still retries for its whole budget."""
    _limit_pending(0)
    calls: List[float] = []
    with fastsig.blocked({RT}):
        start = time.monotonic()
        alarm_in(0.2, calls)
        with pytest.raises(fastsig.QueueFull) as full:
            fastsig.sigqueue_many(os.getpid(), RT, [1, 2, 3], timeout=3)
        elapsed = time.monotonic() - start
    assert full.value.sent == 0  # type: ignore[attr-defined]
    assert len(calls) == 1
    assert calls[0] - start < 1.5, calls[0] - start
    assert 2.9 <= elapsed < 6.0, elapsed
