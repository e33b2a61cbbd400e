"""PEP 475 for the calls with a finite timeout: a Python handler runs while the
call waits, then the call goes on with only the time left."""

from __future__ import annotations

import os
import signal
import time
from typing import Callable, List, Optional

import pytest

import fastsig
from conftest import in_child

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
