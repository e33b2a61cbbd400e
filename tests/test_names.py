"""Signal names and numbers: what kill(1) accepts, rt(), SIGRTMIN/SIGRTMAX at run time."""

from __future__ import annotations

import signal

import pytest

import fastsig
from fastsig import _names

RTMIN, RTMAX = fastsig.SIGRTMIN, fastsig.SIGRTMAX


def test_rtmin_and_rtmax_come_from_the_c_library() -> None:
    assert (RTMIN, RTMAX) == (signal.SIGRTMIN, signal.SIGRTMAX)
    # glibc reserves two real-time signals for itself, musl three.
    assert 32 < RTMIN < RTMAX <= 64


@pytest.mark.parametrize("name, number", [
    ("SIGUSR1", signal.SIGUSR1), ("USR1", signal.SIGUSR1), ("usr1", signal.SIGUSR1),
    (" sigusr2 ", signal.SIGUSR2), ("SIGCLD", signal.SIGCHLD), ("IOT", signal.SIGABRT),
    ("10", 10), ("SIGRTMIN", RTMIN), ("RTMIN", RTMIN), ("SIGRTMIN+3", RTMIN + 3),
    ("rtmin+3", RTMIN + 3), ("RTMAX-1", RTMAX - 1), ("SIGRTMAX", RTMAX),
    ("SIGRTMIN+0", RTMIN), (f"RTMAX-{RTMAX - RTMIN}", RTMIN),
    (str(RTMAX), RTMAX),
])
def test_names_as_kill_accepts_them(name: str, number: int) -> None:
    assert fastsig.signum(name) == number


def test_ints_and_signals_members() -> None:
    assert fastsig.signum(signal.SIGTERM) == 15 and type(fastsig.signum(signal.SIGTERM)) is int
    assert fastsig.signum(RTMIN + 1) == RTMIN + 1
    assert fastsig.signum(1) == 1 and fastsig.signum(31) == 31


class Index:
    def __index__(self) -> int:
        return 12


def test_objects_with_index_count_as_ints() -> None:
    assert fastsig.signum(Index()) == 12  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -1, 32, 33, RTMAX + 1, 65, 1 << 70, "SIGNOPE", "",
                                 "RTMIN+99", "RTMAX+1", "RTMIN-1", "SIG", "-1", "RT"])
def test_invalid_signals_are_value_errors_naming_them(bad: object) -> None:
    with pytest.raises(ValueError) as info:
        fastsig.signum(bad)  # type: ignore[arg-type]
    assert repr(bad) in str(info.value) or str(bad) in str(info.value)


@pytest.mark.parametrize("bad", [1.0, None, True, b"USR1", [10], object()])
def test_wrong_types_are_type_errors(bad: object) -> None:
    with pytest.raises(TypeError, match=type(bad).__name__):
        fastsig.signum(bad)  # type: ignore[arg-type]


def test_rt_checks_its_range() -> None:
    assert fastsig.rt(0) == RTMIN
    assert fastsig.rt(RTMAX - RTMIN) == RTMAX
    for bad in (-1, RTMAX - RTMIN + 1, 100):
        with pytest.raises(ValueError, match=rf"rt\({bad}\)"):
            fastsig.rt(bad)
    for wrong in (1.0, "1", True):
        with pytest.raises(TypeError):
            fastsig.rt(wrong)  # type: ignore[arg-type]


def test_every_signal_has_a_name_that_round_trips() -> None:
    for number in _names.VALID:
        name = fastsig.signame(number)
        assert name.startswith("SIG")
        assert fastsig.signum(name) == number
    assert fastsig.signame(RTMIN + 1) == "SIGRTMIN+1"
    assert fastsig.signame(RTMAX) == "SIGRTMAX"
    assert fastsig.signame(signal.SIGINT) == "SIGINT"


def test_valid_signals_matches_the_stdlib() -> None:
    assert fastsig.valid_signals() == signal.valid_signals()
    assert sorted(map(type, fastsig.valid_signals()), key=str) == sorted(
        map(type, signal.valid_signals()), key=str)


def test_strsignal_describes_signals() -> None:
    assert fastsig.strsignal("USR1") == signal.strsignal(signal.SIGUSR1)
    assert fastsig.strsignal(RTMIN + 2) == signal.strsignal(RTMIN + 2)
    assert fastsig.strsignal(32) is None is signal.strsignal(32)
    with pytest.raises(ValueError):
        fastsig.strsignal(0)

