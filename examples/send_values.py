"""One process sends N integers to another as signal payloads; the other checks them.

    python examples/send_values.py [--count N]

The receiver blocks SIGRTMIN+1, starts this script again as the sender, and
takes the values in batches with fastsig.sigwaitinfo_many(). The sender calls
fastsig.sigqueue() once per value; when the receiver's queue is full the send
raises fastsig.QueueFull (backpressure, nothing lost) and the sender retries.
Real-time signals queue in order, so the values must arrive exactly as sent.
The stdlib cannot do this: it has no sigqueue, and its siginfo has no value.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import List

import fastsig

SIG = "SIGRTMIN+1"


def value_of(i: int) -> int:
    """The i-th value: spread over the whole signed 64-bit range."""
    return (i * 0x9E3779B97F4A7C15) % (1 << 64) - (1 << 63)


def send(pid: int, count: int) -> None:
    for i in range(count):
        while True:
            try:
                fastsig.sigqueue(pid, SIG, value_of(i))
                break
            except fastsig.QueueFull:
                time.sleep(0.001)  # the receiver is behind: let it drain


def receive(count: int) -> int:
    with fastsig.blocked({SIG}):  # before the sender exists, so nothing is missed
        sender = subprocess.Popen([sys.executable, __file__, "--send-to", str(os.getpid()),
                                   "--count", str(count)])
        got: List[int] = []
        batches, last = 0, None
        while len(got) < count:
            batch = fastsig.sigwaitinfo_many({SIG}, max=1024, timeout=1)
            if not batch and sender.poll() is not None:
                print(f"the sender exited after {len(got)} values", file=sys.stderr)
                return 1
            batches += bool(batch)
            got += [info.si_value for info in batch if info.si_pid == sender.pid]
            last = batch[-1] if batch else last
        status = sender.wait()
    print(f"last: {last!r}")
    ok = got == [value_of(i) for i in range(count)]
    print(f"received {len(got)} of {count} values {'in order' if ok else 'WRONG'} "
          f"in {batches} batches; sender exited with {status}")
    return 0 if ok and status == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--send-to", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.send_to:
        send(args.send_to, args.count)
        return 0
    return receive(args.count)


if __name__ == "__main__":
    sys.exit(main())
