"""The classic process-group ping-pong, on fastsig: it shows signals as an
IPC channel between processes that know no pids, only their group.

A server and a client that know no pids talk with ``kill(0, sig)`` inside one
process group: the client pings with SIGUSR1, the server pongs with SIGUSR2,
ROUNDS times, then the client sends SIGQUIT and both report their counts.

The launcher makes a new process group and protects itself the way the
shell's ``trap "" USR1 USR2 QUIT`` does (SIG_IGN, inherited across exec), so
each peer ignores the signals meant for the other.

With ``--values`` the peers use real-time signals that carry a sequence
number: the first ping goes to the group; from then on each side answers the
sender it learned from si_pid with sigqueue(), and checks every number.

    python examples/pingpong.py [--rounds 100] [--values]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys

import fastsig

PING, PONG = signal.SIGUSR1, signal.SIGUSR2
VPING, VPONG = fastsig.rt(1), fastsig.rt(2)
QUIT = signal.SIGQUIT


def server(values: bool) -> int:
    ping = VPING if values else PING
    pings = 0
    with fastsig.Listener([ping, QUIT]) as listener:
        print("ready", flush=True)
        for info in listener:
            if info.si_signo == QUIT:
                break
            pings += 1
            if values:
                # Only the group-wide first ping comes by kill() and has no value.
                if info.code == fastsig.SiCode.SI_QUEUE and info.si_value != pings:
                    print(f"server: ping {pings} carried {info.si_value}", file=sys.stderr)
                    return 1
                fastsig.sigqueue(info.si_pid, VPONG, pings)
            else:
                fastsig.kill(0, PONG)
    print(f"server: {pings} pings", flush=True)
    return 0


def client(rounds: int, values: bool) -> int:
    pong = VPONG if values else PONG
    pongs = 0
    with fastsig.Listener([pong]) as listener:
        server_pid = 0
        for seq in range(1, rounds + 1):
            if values and server_pid:
                fastsig.sigqueue(server_pid, VPING, seq)
            elif values:
                fastsig.killpg(0, VPING)  # the first ping finds the server by group...
            else:
                fastsig.kill(0, PING)
            for info in listener.wait(timeout=10):
                pongs += 1
                server_pid = info.si_pid  # ...and the pong tells us who it is
                if values and info.si_value != seq:
                    print(f"client: pong {seq} carried {info.si_value}", file=sys.stderr)
                    return 1
            if pongs != seq:
                print(f"client: no pong for round {seq}", file=sys.stderr)
                return 1
        fastsig.kill(0, QUIT)
    print(f"client: {pongs} pongs", flush=True)
    return 0


def launch(rounds: int, values: bool) -> int:
    os.setpgrp()  # our own group, so kill(0, ...) reaches only us and the peers
    for sig in (PING, PONG, VPING, VPONG, QUIT):
        signal.signal(sig, signal.SIG_IGN)  # trap "" USR1 USR2 QUIT
    me = [sys.executable, os.path.abspath(__file__)] + (["--values"] if values else [])
    srv = subprocess.Popen([*me, "server"], stdout=subprocess.PIPE, text=True)
    assert srv.stdout is not None
    if srv.stdout.readline().strip() != "ready":  # never ping before it listens
        srv.kill()
        return 1
    cli = subprocess.run([*me, "client", "--rounds", str(rounds)], timeout=120, check=False)
    srv_out, _ = srv.communicate(timeout=30)
    print(srv_out, end="")
    return cli.returncode or srv.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", nargs="?", choices=["server", "client"], help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--values", action="store_true", help="carry sequence numbers")
    args = parser.parse_args(argv)
    if args.role == "server":
        return server(args.values)
    if args.role == "client":
        return client(args.rounds, args.values)
    return launch(args.rounds, args.values)


if __name__ == "__main__":
    sys.exit(main())
