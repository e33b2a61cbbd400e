"""``python -m fastsig run [--forward SIGS] -- CMD ARGS...``: a small init.

Like tini or dumb-init, but lossless and value-preserving: CMD runs in a
process group of its own; every listed signal the supervisor receives is
forwarded to that group, each delivery (real-time signals are never merged)
with its si_value; the supervisor reaps whatever child ends (as PID 1 in a
container it adopts orphans) and exits with CMD's status, 128+N if a signal
N ended it, as shells report it.

The order of the start-up is what makes it lossless: the forwarded signals
are blocked first, so any that arrive while CMD is being started wait in the
kernel's queue; the relay starts once CMD's group exists; then they are
unblocked and go to the relay. CMD starts with the signal mask the
supervisor had and with default actions for the forwarded signals (and for
SIGPIPE and SIGXFSZ, which CPython ignores). Started from a terminal's
foreground, CMD's group becomes the foreground (as tini does), so it can read
the terminal and Ctrl-C reaches it directly; the supervisor takes the
terminal back when CMD ends.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from typing import Any, FrozenSet, Iterable, List, Optional

from . import _core
from ._forward import forward
from ._names import UNCATCHABLE, VALID, catchable, mask_of, signame

# Not forwarded by default: SIGCHLD is how the supervisor learns its child
# ended; the synchronous faults are the supervisor's own (as tini decides);
# SIGTTIN/SIGTTOU are a terminal telling the supervisor itself to stop.
NOT_FORWARDED = frozenset(int(s) for s in (
    signal.SIGCHLD, signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT,
    signal.SIGTRAP, getattr(signal, "SIGSYS", signal.SIGTRAP), signal.SIGTTIN, signal.SIGTTOU))
DEFAULT_FORWARD: FrozenSet[int] = frozenset(VALID - UNCATCHABLE - NOT_FORWARDED)


def exit_status(wait_status: int) -> int:
    """A wait status as a shell reports it: the exit code, or 128+N for signal N."""
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


def _foreground_tty() -> Optional[int]:
    """stdin, if it is a terminal whose foreground this process group holds."""
    try:
        return 0 if os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp() else None
    except OSError:
        return None


def _spawn(command: List[str], forwarded: FrozenSet[int], old_mask: int,
           tty: Optional[int]) -> subprocess.Popen[bytes]:
    """Start command in a new process group, holding the terminal's
    foreground if this process held it (so it may read the terminal, and
    Ctrl-C reaches it directly), with the old mask and default actions."""

    def setup() -> None:  # in the child, between fork and exec: no threads exist
        os.setpgid(0, 0)
        if tty is not None:
            os.tcsetpgrp(tty, os.getpgrp())  # SIGTTOU is blocked, as a background group needs
        for sig in forwarded:
            signal.signal(sig, signal.SIG_DFL)  # an ignored signal would stay ignored across exec
        _core.pthread_sigmask(_core.SIG_SETMASK, old_mask)

    # Every fd passes through (socket activation, inherited pipes), as with exec.
    return subprocess.Popen(command, preexec_fn=setup, close_fds=False)


def run(command: List[str], sigs: Iterable[int] = DEFAULT_FORWARD) -> int:
    """Run command under supervision; returns the status to exit with."""
    if not command:
        raise ValueError("run: no command given")
    forwarded = frozenset(sigs)
    tty = _foreground_tty()
    old_mask = _core.pthread_sigmask(_core.SIG_BLOCK, mask_of(forwarded | {int(signal.SIGTTOU)}))
    try:
        child = _spawn(command, forwarded, old_mask, tty)
        try:
            relay = forward(forwarded, -child.pid)
        except BaseException:
            child.kill()  # never leave it running unsupervised
            child.wait()
            raise
    finally:
        _core.pthread_sigmask(_core.SIG_SETMASK, old_mask)
    try:
        while True:
            reaped, status = os.waitpid(-1, 0)
            if reaped == child.pid:
                child.returncode = os.waitstatus_to_exitcode(status)
                return exit_status(status)
    finally:
        relay.close()
        if tty is not None:
            _take_back(tty)
        stats = relay.stats()
        if stats.failed or stats.dropped or stats.without_value:
            print(f"fastsig run: {stats.failed} signals not forwarded, {stats.dropped} dropped, "
                  f"{stats.without_value} forwarded without their value", file=sys.stderr)


def _take_back(tty: int) -> None:
    """Make this process group the terminal's foreground again."""
    old = _core.pthread_sigmask(_core.SIG_BLOCK, mask_of(signal.SIGTTOU))
    try:
        os.tcsetpgrp(tty, os.getpgrp())
    except OSError:
        pass  # the terminal is gone
    finally:
        _core.pthread_sigmask(_core.SIG_SETMASK, old)


# ---- the command line ------------------------------------------------------------

def _signals(text: str) -> FrozenSet[int]:
    try:
        return frozenset(catchable(part.strip(), "forward") for part in text.split(",") if part.strip())
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_run(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    try:
        return run(command, args.forward if args.forward is not None else DEFAULT_FORWARD)
    except FileNotFoundError:
        print(f"fastsig run: {command[0]}: command not found", file=sys.stderr)
        return 127  # as shells say it
    except PermissionError:
        print(f"fastsig run: {command[0]}: permission denied", file=sys.stderr)
        return 126


def add_parser(sub: Any) -> None:
    """Register ``run`` on the CLI's subparsers."""
    run_parser = sub.add_parser(
        "run", help="run a command, forwarding signals with their values (a small init)",
        description="Run CMD in its own process group, forward every listed signal to the group "
                    "with its value, reap children, and exit with CMD's status (128+N if signal N "
                    "ended it). By default every catchable signal is forwarded but "
                    + ", ".join(signame(s) for s in sorted(NOT_FORWARDED)) + ".")
    run_parser.add_argument("--forward", metavar="SIGS", type=_signals,
                            help="comma-separated signals to forward, e.g. TERM,HUP,RTMIN+1")
    run_parser.add_argument("command", metavar="CMD", nargs=argparse.REMAINDER,
                            help="the command and its arguments (after --)")
    run_parser.set_defaults(run=cmd_run)
