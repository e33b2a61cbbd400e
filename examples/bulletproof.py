"""The classic "bulletproof" process, on fastsig: a process that survives a
signal which would normally end it, and still dies of the ones it leaves alone.

It records every SIGFPE sent to it (``kill -FPE PID``), with who sent it, and
keeps running; SIGHUP keeps its default action and still ends it.

    python examples/bulletproof.py &      # prints "ready PID"
    kill -FPE PID; kill -FPE PID          # recorded, it lives on
    kill -HUP PID                         # it dies of SIGHUP
"""

from __future__ import annotations

import os
import signal
import sys

import fastsig


def main() -> None:
    with fastsig.Listener([signal.SIGFPE]) as listener:
        print(f"ready {os.getpid()}", flush=True)
        for count, info in enumerate(listener, 1):
            print(f"survived #{count}: {info!r}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
