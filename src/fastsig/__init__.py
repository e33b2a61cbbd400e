"""fastsig: fast, lossless Unix signal IPC.

* Send: sigqueue() (with a payload), sigqueue_many(), kill(), killpg(),
  raise_signal(), pthread_kill(), pthread_sigqueue(), pidfd_send_signal().
* Mask: pthread_sigmask(), sigprocmask(), sigpending(), blocked().
* Wait: sigwait(), sigwaitinfo(), sigtimedwait(), sigwaitinfo_many(), Waiter,
  Exchange, signalfd().
* Listen: Listener (handlers into a lock-free ring), on() / Dispatcher.
* Event loops (asyncio, uvloop, trio, anyio): ``async for info in listener``,
  cancel_on(), add_signal_handler() / remove_signal_handler().
* Names: rt(), signum(), signame(), valid_signals(), strsignal().
* Dispositions: getaction() / Action, ignore(), default(), saved_actions(),
  emulate_default(), default_action(); the SA_* flags.
* Sources and supervisors: Timer, notify_fd() / stop_notify(), pidfd_open(),
  forward(), set_pdeathsig() / get_pdeathsig(); ``python -m fastsig run``.

The functions named like the stdlib ``signal`` module's are drop-in
replacements whose results only add fields.
"""

from __future__ import annotations

from ._actions import (
    SA_NOCLDSTOP,
    SA_NOCLDWAIT,
    SA_NODEFER,
    SA_ONSTACK,
    SA_RESTART,
    Action,
    default,
    default_action,
    emulate_default,
    getaction,
    ignore,
    saved_actions,
)
from ._async import CancelOn, add_signal_handler, cancel_on, remove_signal_handler
from ._core import (
    HAVE_PDEATHSIG,
    HAVE_PIDFD,
    HAVE_PIDFD_OPEN,
    HAVE_PTHREAD_SIGQUEUE,
    HAVE_SETSIG,
    HAVE_SIGNALFD,
    HAVE_TIMER,
    SIG_BLOCK,
    SIG_SETMASK,
    SIG_UNBLOCK,
)
from ._errors import FastsigError, QueueFull, SignalBusy
from ._forward import Forwarder, ForwardStats, forward
from ._listener import Dispatcher, Listener, Stats, listen, on
from ._names import SIGRTMAX, SIGRTMIN, rt, signame, signum
from ._ops import (
    Exchange,
    Waiter,
    blocked,
    kill,
    killpg,
    pthread_kill,
    pthread_sigmask,
    raise_signal,
    sigpending,
    sigprocmask,
    sigqueue,
    sigqueue_many,
    sigtimedwait,
    sigwait,
    sigwaitinfo,
    sigwaitinfo_many,
    strsignal,
    valid_signals,
)
from ._siginfo import BusCode, CldCode, FpeCode, IllCode, PollCode, SegvCode, SiCode, SigInfo, code_name
from ._trust import SenderPolicy

__version__ = "0.1.0"

__all__ = [
    "SIGRTMAX", "SIGRTMIN", "SIG_BLOCK", "SIG_SETMASK", "SIG_UNBLOCK",
    "Dispatcher", "Exchange", "FastsigError", "Listener", "QueueFull", "SiCode",
    "SenderPolicy", "SigInfo", "SignalBusy", "Stats", "Waiter", "CancelOn",
    "BusCode", "CldCode", "FpeCode", "IllCode", "PollCode", "SegvCode",
    "blocked", "code_name", "kill", "killpg", "listen", "on", "pthread_kill",
    "pthread_sigmask", "raise_signal", "rt", "sigpending", "sigprocmask", "signame",
    "signum", "sigqueue", "sigqueue_many", "sigtimedwait", "sigwait", "sigwaitinfo",
    "sigwaitinfo_many", "strsignal", "valid_signals",
    "add_signal_handler", "cancel_on", "remove_signal_handler",
    "ForwardStats", "Forwarder", "forward",
    "SA_NOCLDSTOP", "SA_NOCLDWAIT", "SA_NODEFER", "SA_ONSTACK", "SA_RESTART",
    "Action", "default", "default_action", "emulate_default", "getaction", "ignore",
    "saved_actions",
]

# Linux-only calls exist only where the platform has them: hasattr() tells.
if HAVE_SIGNALFD:
    from ._ops import SignalFD, signalfd

    __all__ += ["SignalFD", "signalfd"]
if HAVE_PTHREAD_SIGQUEUE:
    from ._ops import pthread_sigqueue

    __all__ += ["pthread_sigqueue"]
if HAVE_PIDFD:
    from ._ops import pidfd_send_signal

    __all__ += ["pidfd_send_signal"]

if HAVE_TIMER:
    from ._sources import Timer

    __all__ += ["Timer"]
if HAVE_SETSIG:
    from ._sources import notify_fd, stop_notify

    __all__ += ["notify_fd", "stop_notify"]
if HAVE_PIDFD_OPEN:
    from ._sources import pidfd_open

    __all__ += ["pidfd_open"]
if HAVE_PDEATHSIG:
    from ._sources import get_pdeathsig, set_pdeathsig

    __all__ += ["get_pdeathsig", "set_pdeathsig"]
