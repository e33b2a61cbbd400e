"""The command line, driven as a user would: real processes, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import List

import pytest

import fastsig
from fastsig._cli import main
from support import RT1, in_child

CLI = [sys.executable, "-m", "fastsig"]


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def start_listener(*args: str) -> subprocess.Popen[str]:
    """`fastsig listen ...`, returned once it says it is listening."""
    proc = subprocess.Popen([*CLI, "listen", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert f"pid {proc.pid} listening for" in line, line
    return proc


def finish(proc: subprocess.Popen[str]) -> tuple[List[str], str]:
    out, err = proc.communicate(timeout=20)
    return out.splitlines(), err


@pytest.mark.parametrize("command", [[], ["send"], ["listen"], ["demo"], ["bench"]])
def test_help(command: List[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: fastsig {' '.join(command)}".rstrip())
    assert result.stderr == ""


def test_console_script_entry_point() -> None:
    # pyproject's `fastsig = "fastsig.__main__:main"` must name a callable.
    import fastsig.__main__ as entry

    with pytest.raises(SystemExit) as exit_info:
        entry.main(["--help"])
    assert exit_info.value.code == 0


def test_send_and_listen_between_processes() -> None:
    listener = start_listener("RTMIN+1", "usr2", "--json", "--count", "4")
    sender = subprocess.Popen([*CLI, "send", str(listener.pid), "SIGRTMIN+1", "--value", "-3",
                               "--count", "3"])
    assert sender.wait(timeout=20) == 0
    assert run("send", str(listener.pid), "USR2", "-q", "99").returncode == 0
    lines, err = finish(listener)
    assert listener.returncode == 0
    records = [json.loads(line) for line in lines]
    assert [r["value"] for r in records] == [-3, -2, -1, 99]
    assert [r["signal"] for r in records] == ["SIGRTMIN+1"] * 3 + ["SIGUSR2"]
    assert {r["code"] for r in records} == {"SI_QUEUE"}
    assert {r["pid"] for r in records[:3]} == {sender.pid}
    assert {r["uid"] for r in records} == {os.getuid()}
    assert all(r["monotonic_ns"] > 0 for r in records)
    assert "4 received (SIGUSR2: 1, SIGRTMIN+1: 3), 0 dropped; stopped by count" in err


def test_listen_text_shows_kill_sender() -> None:
    listener = start_listener("USR1", "--count", "1")
    os.kill(listener.pid, signal.SIGUSR1)
    lines, _ = finish(listener)
    assert len(lines) == 1
    assert f"SIGUSR1 SI_USER from pid {os.getpid()} uid {os.getuid()} value=0" in lines[0]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_listen_ends_cleanly_on_ctrl_c_and_sigterm(stop: signal.Signals) -> None:
    listener = start_listener("RTMIN+2")
    fastsig.sigqueue(listener.pid, fastsig.rt(2), 5)
    # Stop only once the record is printed: pending together, the lower-numbered
    # stop signal would be delivered first.
    assert listener.stdout is not None
    first = listener.stdout.readline()
    os.kill(listener.pid, stop)
    lines, err = finish(listener)
    assert listener.returncode == 0
    assert first.rstrip("\n").endswith("value=5") and lines == []
    assert f"1 received (SIGRTMIN+2: 1), 0 dropped; stopped by {stop.name}" in err
    assert "Traceback" not in err


def test_listen_timeout() -> None:
    result = run("listen", "USR1", "--timeout", "0.2")
    assert result.returncode == 0
    assert result.stdout == ""
    assert "0 received (SIGUSR1: 0), 0 dropped; stopped by timeout" in result.stderr


@in_child(timeout=30)
def test_send_count_queues_values_in_order() -> None:
    with fastsig.blocked({RT1}):
        assert main(["send", str(os.getpid()), "RTMIN+1", "--value", "10", "--count", "50"]) == 0
        records = fastsig.sigwaitinfo_many({RT1}, max=100, timeout=5)
    assert [r.si_value for r in records] == list(range(10, 60))
    assert {r.si_pid for r in records} == {os.getpid()}


@pytest.mark.parametrize("args, status, message", [
    (["send", "1", "NOSUCH"], 2, "invalid signal 'NOSUCH'"),
    (["send", "1", "RTMIN+999"], 2, "outside SIGRTMIN..SIGRTMAX"),
    (["send", "abc", "USR1"], 2, "invalid int value: 'abc'"),
    (["send", "1", "USR1", "--count", "0"], 2, "must be a positive integer"),
    (["send", "1", "USR1", "--value", str(1 << 70)], 1, "does not fit"),
    (["send", "0", "USR1"], 1, "pid 0 out of range"),
    (["listen"], 2, "the following arguments are required: SIG"),
    (["listen", "KILL"], 1, "cannot listen to SIGKILL"),
    (["demo", "nosuch"], 2, "invalid choice: 'nosuch'"),
    (["bench", "--cpus", "999"], 2, "not available"),
    (["bench", "--only", "nosuch"], 2, "unknown section 'nosuch'"),
    (["nosuch"], 2, "invalid choice: 'nosuch'"),
])
def test_errors_are_one_line(args: List[str], status: int, message: str) -> None:
    result = run(*args)
    assert result.returncode == status
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("fastsig") and message in result.stderr


def test_send_to_missing_process_names_the_syscall() -> None:
    probe = subprocess.Popen([sys.executable, "-c", "pass"])
    probe.wait()  # reaped: its pid is free (and not reused this quickly)
    result = run("send", str(probe.pid), "USR1")
    assert result.returncode == 1
    assert result.stderr == "fastsig send: error: sigqueue: No such process\n"


def test_plot_without_matplotlib_is_a_clear_error(tmp_path: os.PathLike[str]) -> None:
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from fastsig._cli import main\n"
            f"sys.exit(main(['bench', '--quick', '--plot', {str(tmp_path)!r} + '/x.png']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip() == ("fastsig bench: error: --plot needs matplotlib "
                                     "(pip install 'pyfastsig[plot]' or pip install matplotlib)")


def test_demo_bulletproof() -> None:
    demo = subprocess.Popen([*CLI, "demo", "bulletproof"], stdout=subprocess.PIPE, text=True)
    out, _ = demo.communicate(timeout=30)
    assert demo.returncode == 0
    assert out.count("survived SIGFPE #3") == 2  # stdlib and fastsig alike
    assert out.count("survived SIGFPE #4") == 0
    # Only fastsig's records say who sent the signal: the demo process.
    assert out.count(f"SigInfo(SIGFPE SI_USER from pid {demo.pid} uid {os.getuid()}") == 3
    assert out.count("SIGHUP ended it (died of SIGHUP)") == 2


def test_demo_pingpong() -> None:
    result = run("demo", "pingpong", "--rounds", "20")
    assert result.returncode == 0, result.stderr
    assert "the classic process-group ping-pong" in result.stdout
    assert result.stdout.count("20 pings, 20 pongs, none lost") == 2


def test_bench_text_shows_results_not_targets() -> None:
    result = run("bench", "--only", "send", "--send-n", "1000", "--repeat", "1", "--no-progress")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "\nSend cost per signal (1,000 sends a run)\nsender " in result.stdout
    assert "fastsig.sigqueue_many" in result.stdout
    assert "target" not in result.stdout.lower()  # the project's goals live in bench/README.md
