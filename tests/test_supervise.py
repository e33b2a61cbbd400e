"""The supervisor's tools: forward() relays and ``python -m fastsig run``.
Real signals between real processes; each test runs in a forked child or
drives a separate process."""

from __future__ import annotations

import errno
import os
import select
import signal
import subprocess
import sys
import time
from typing import List, Tuple

import pytest

import fastsig
from fastsig import _core
from support import exit_code, forked, in_child, isolate_sigpending
from test_sources import _read_line

RT = fastsig.rt(4)
USR1 = int(signal.SIGUSR1)
QUEUE, USER = int(fastsig.SiCode.SI_QUEUE), int(fastsig.SiCode.SI_USER)

needs_scopes = pytest.mark.skipif(
    not _core.HAVE_PIDFD or _core.pidfd_send_signal_errno(-1, 0, 1) != errno.EBADF,
    reason="the kernel has no PIDFD_SIGNAL_* scopes (Linux 6.9+)")

Rec = Tuple[int, int, int, int]


def _receiver(n: int, sigs: List[int], ready_w: int, report_w: int) -> None:
    """Listen for sigs, say ready, report the first n records as (signo, code, value, pid)."""
    with fastsig.Listener(sigs) as listener:
        os.write(ready_w, b"r")
        got: List[fastsig.SigInfo] = []
        deadline = time.monotonic() + 30
        while len(got) < n and time.monotonic() < deadline:
            got += listener.wait(timeout=0.1)
    recs = [(r.si_signo, int(r.si_code), r.si_value, r.si_pid) for r in got]
    with os.fdopen(report_w, "w") as out:
        out.write(repr(recs) + "\n")


def _start_receiver(n: int, sigs: List[int]) -> Tuple[int, int]:
    """A receiving process, ready when this returns: (its pid, its report fd)."""
    ready_r, ready_w = os.pipe()
    report_r, report_w = os.pipe()
    pid = forked(lambda: _receiver(n, sigs, ready_w, report_w))
    os.close(report_w)
    os.close(ready_w)
    assert os.read(ready_r, 1) == b"r"
    os.close(ready_r)
    return pid, report_r


def _report(pid: int, report_r: int) -> List[Rec]:
    recs: List[Rec] = eval(_read_line(report_r))
    assert exit_code(pid) == 0
    os.close(report_r)
    return recs


# ---- forward() -------------------------------------------------------------------

@in_child(timeout=90)
def test_forward_relays_every_value_in_order_and_counts() -> None:
    isolate_sigpending()  # a queue quota of our own, with other test runs flooding beside us
    pid, report = _start_receiver(1001, [RT, USR1])
    me = os.getpid()
    with fastsig.forward([RT, USR1], pid) as relay:
        fastsig.sigqueue_many(me, RT, range(1000), timeout=None)
        os.kill(me, signal.SIGUSR1)
        recs = _report(pid, report)
    assert [r[2] for r in recs if r[0] == RT] == list(range(1000))
    assert {r[1:] for r in recs if r[0] == RT} >= {(QUEUE, 0, me)}
    assert {(r[1], r[3]) for r in recs} == {(QUEUE, me), (USER, me)}
    assert [r for r in recs if r[0] == USR1] == [(USR1, USER, 0, me)]
    assert relay.stats() == fastsig.ForwardStats(1001, 1001, 0, 0, 0)
    assert relay.errors == []


@in_child(timeout=60)
def test_forward_without_values_sends_as_kill_and_a_pidfd_target_keeps_them() -> None:
    me = os.getpid()
    pid, report = _start_receiver(3, [RT])
    with fastsig.forward(RT, pid, keep_value=False):
        for value in (7, 8, 9):
            fastsig.sigqueue(me, RT, value)
        recs = _report(pid, report)
    assert recs == [(RT, USER, 0, me)] * 3  # real-time signals queue even from kill()
    if not hasattr(fastsig, "pidfd_open"):
        return
    pid, report = _start_receiver(2, [RT])
    fd = fastsig.pidfd_open(pid)
    try:
        with fastsig.forward(RT, pidfd=fd):
            fastsig.sigqueue(me, RT, -1)
            os.kill(me, RT)
            recs = _report(pid, report)
    finally:
        os.close(fd)
    assert recs == [(RT, QUEUE, -1, me), (RT, USER, 0, me)]


@needs_scopes
@in_child(timeout=60)
def test_forward_to_a_process_group_keeps_the_values_for_every_member() -> None:
    ready_r, ready_w = os.pipe()
    report_r, report_w = os.pipe()

    def leader() -> None:
        os.setpgid(0, 0)
        member = forked(lambda: _receiver(2, [RT], ready_w, report_w))
        _receiver(2, [RT], ready_w, report_w)
        assert exit_code(member) == 0

    pid = forked(leader)
    os.close(report_w)
    assert os.read(ready_r, 1) + os.read(ready_r, 1) == b"rr"
    me = os.getpid()
    with fastsig.forward(RT, -pid) as relay:
        fastsig.sigqueue(me, RT, 5)
        fastsig.sigqueue(me, RT, 6)
        lines = _read_line(report_r, lines=2)
    assert exit_code(pid) == 0
    reports = [eval(line) for line in lines.splitlines()]
    assert reports == [[(RT, QUEUE, 5, me), (RT, QUEUE, 6, me)]] * 2
    assert relay.stats() == fastsig.ForwardStats(2, 2, 0, 0, 0)


@in_child(timeout=60)
def test_forward_counts_what_the_kernel_refused_and_checks_its_input() -> None:
    gone = forked(lambda: None)
    assert exit_code(gone) == 0
    me = os.getpid()
    with fastsig.forward(RT, gone) as relay:
        fastsig.sigqueue(me, RT, 1)
        deadline = time.monotonic() + 10
        while relay.stats().received < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert relay.stats() == fastsig.ForwardStats(1, 0, 1, 0, 0)
    assert isinstance(relay.errors[0], ProcessLookupError)
    relay.close()  # idempotent
    with pytest.raises(TypeError):
        fastsig.forward(RT)
    with pytest.raises(TypeError):
        fastsig.forward(RT, 1, pidfd=3)
    for bad in (0, -1):
        with pytest.raises(ValueError):
            fastsig.forward(RT, bad)
    with pytest.raises(ValueError):
        fastsig.forward("SIGKILL", 1)
    # Two relays of one signal each forward every delivery; closed, the
    # previous action (here the default, as the with-block found it) is back.
    with fastsig.forward(RT, gone) as first, fastsig.forward(RT, gone) as second:
        fastsig.sigqueue(me, RT, 2)
        deadline = time.monotonic() + 10
        while (first.stats().received, second.stats().received) != (1, 1) \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        assert first.stats().received == second.stats().received == 1
    assert signal.getsignal(RT) == signal.SIG_DFL



# ---- python -m fastsig run ----------------------------------------------------------

# A command that reports each delivery of its signals as a line, exits 7 after N.
REPORTER = """
import os, sys, fastsig
sigs, n = [fastsig.signum(s) for s in sys.argv[1].split(",")], int(sys.argv[2])
with fastsig.Listener(sigs) as listener:
    print("ready", os.getpid(), os.getpgrp(), flush=True)
    got = []
    while len(got) < n:
        got += listener.wait(timeout=30) or sys.exit("timed out")
for r in got:
    print(r.si_signo, int(r.si_code), r.si_value, r.si_pid, flush=True)
sys.exit(7)
"""


def _supervise(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "fastsig", "run", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _ready(proc: subprocess.Popen[str]) -> List[str]:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    assert ready, "the supervised command never said it was ready"
    line = proc.stdout.readline().split()
    assert line[:1] == ["ready"], line
    return line


def test_run_forwards_each_signal_with_its_value_in_order_and_exits_with_the_status() -> None:
    proc = _supervise("--forward", f"USR1,{RT}", "--", sys.executable, "-c", REPORTER, f"USR1,{RT}", "201")
    try:
        _, child, group = _ready(proc)
        assert child == group  # its own process group
        assert int(group) != os.getpgrp()
        fastsig.sigqueue_many(proc.pid, RT, range(200), timeout=None)
        fastsig.kill(proc.pid, signal.SIGUSR1)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 7, err
    recs = [tuple(map(int, line.split())) for line in out.splitlines()]
    assert [r[2] for r in recs if r[0] == RT] == list(range(200))
    assert {(r[0], r[1], r[3]) for r in recs} == {(RT, QUEUE, proc.pid), (USR1, USER, proc.pid)}
    assert err == ""


def test_run_forwards_sigterm_by_default_and_exits_128_plus_the_signal() -> None:
    proc = _supervise("--", "sh", "-c", "echo ready $$ $$; exec sleep 60")
    try:
        _ready(proc)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM


def test_run_passes_exit_codes_and_says_what_went_wrong() -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "fastsig", "run", *args], capture_output=True,
                              text=True, timeout=60)

    assert run("--", "sh", "-c", "exit 3").returncode == 3
    assert run("sh", "-c", "kill -KILL $$").returncode == 128 + signal.SIGKILL
    missing = run("--", "/nonexistent/command")
    assert missing.returncode == 127 and "command not found" in missing.stderr
    bad = run("--forward", "USR1,NOPE", "--", "true")
    assert bad.returncode == 2 and "NOPE" in bad.stderr
    assert run("--forward", "KILL", "--", "true").returncode == 2
    assert run().returncode != 0


def test_run_from_a_terminals_foreground_gives_the_command_the_terminal() -> None:
    """Without it the command, in a background group, would be stopped
    (SIGTTIN) the moment it read the terminal."""
    import pty

    probe = ("import os; print('fg', os.tcgetpgrp(0) == os.getpgrp() != os.getsid(0), flush=True); "
             "print('read', input(), flush=True)")
    pid, master = pty.fork()
    if pid == 0:  # a session leader whose controlling terminal is the pty
        os.execv(sys.executable, [sys.executable, "-m", "fastsig", "run", "--",
                                  sys.executable, "-c", probe])
    out = b""
    try:
        deadline = time.monotonic() + 30
        sent = False
        while time.monotonic() < deadline:  # until the terminal's last user is gone
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                try:
                    chunk = os.read(master, 1024)
                except OSError:  # EIO: the terminal's last user is gone
                    break
                if not chunk:
                    break
                out += chunk
            if b"\n" in out and not sent:  # the first line is out: now it reads
                os.write(master, b"hello\n")
                sent = True
        assert exit_code(pid, timeout=30) == 0, out
    finally:
        os.close(master)
    assert b"fg True" in out and b"read hello" in out, out
