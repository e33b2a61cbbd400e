"""Micro-benchmarks of single calls, with pytest-benchmark.

Not part of the test suite (pytest collects only tests/). Run them with:

    python -m pytest bench/test_micro.py --benchmark-columns=median,iqr,ops

Each send goes to this process with the signal blocked: SIGUSR1 (a standard
signal, so repeats coalesce and nothing piles up) for the sends, SIGRTMIN+1
queued ahead of time for the receives. Compare medians within one run only.
"""

from __future__ import annotations

import os
import signal
from typing import Any, Iterator

import pytest

import fastsig
from fastsig import _core

PID = os.getpid()
USR1 = int(signal.SIGUSR1)
RT1 = fastsig.rt(1)
BURST = 256


@pytest.fixture(autouse=True)
def blocked() -> Iterator[None]:
    with fastsig.blocked({USR1, RT1}):
        yield
        # Take what is pending while still blocked: unblocked, it would kill us.
        while fastsig.sigtimedwait({USR1, RT1}, 0) is not None:
            pass


def test_os_kill(benchmark: Any) -> None:
    benchmark(os.kill, PID, USR1)


def test_signal_pthread_kill(benchmark: Any) -> None:
    import threading

    benchmark(signal.pthread_kill, threading.get_ident(), USR1)


def test_fastsig_kill(benchmark: Any) -> None:
    benchmark(fastsig.kill, PID, USR1)


def test_fastsig_sigqueue(benchmark: Any) -> None:
    benchmark(fastsig.sigqueue, PID, USR1, 7)


def test_fastsig_sigqueue_by_name(benchmark: Any) -> None:
    benchmark(fastsig.sigqueue, PID, "SIGUSR1", 7)


def test_core_sigqueue(benchmark: Any) -> None:
    benchmark(_core.sigqueue, PID, USR1, 7)


def test_fastsig_sigqueue_many_256(benchmark: Any) -> None:
    benchmark(fastsig.sigqueue_many, PID, USR1, range(BURST))


def test_c_send_loop_256(benchmark: Any) -> None:
    benchmark(_core.ref_flood, PID, USR1, BURST, 0)


def _queue_burst() -> None:
    fastsig.sigqueue_many(PID, RT1, range(BURST), timeout=None)


def test_stdlib_sigwaitinfo_256(benchmark: Any) -> None:
    def receive() -> None:
        for _ in range(BURST):
            signal.sigwaitinfo({RT1})

    benchmark.pedantic(receive, setup=_queue_burst, rounds=200)


def test_fastsig_waiter_wait_values_256(benchmark: Any) -> None:
    waiter = fastsig.Waiter({RT1}, max=BURST)

    def receive() -> None:
        assert len(waiter.wait_values(timeout=1)) == BURST

    benchmark.pedantic(receive, setup=_queue_burst, rounds=200)


def test_fastsig_sigwaitinfo_many_records_256(benchmark: Any) -> None:
    def receive() -> None:
        assert len(fastsig.sigwaitinfo_many({RT1}, max=BURST, timeout=1)) == BURST

    benchmark.pedantic(receive, setup=_queue_burst, rounds=200)


def test_fastsig_signalfd_read_values_256(benchmark: Any) -> None:
    with fastsig.SignalFD({RT1}, nonblocking=True, max=BURST) as sfd:
        def receive() -> None:
            assert len(sfd.read_values()) == BURST

        benchmark.pedantic(receive, setup=_queue_burst, rounds=200)


def test_fastsig_sigtimedwait_one(benchmark: Any) -> None:
    def receive() -> None:
        assert fastsig.sigtimedwait({RT1}, 1) is not None

    benchmark.pedantic(receive, setup=lambda: fastsig.sigqueue(PID, RT1, 1), rounds=2000)


def test_stdlib_sigtimedwait_one(benchmark: Any) -> None:
    def receive() -> None:
        assert signal.sigtimedwait({RT1}, 1) is not None

    benchmark.pedantic(receive, setup=lambda: os.kill(PID, RT1), rounds=2000)
