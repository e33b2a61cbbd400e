"""Signals in event loops: cancel a block on a signal, and asyncio-style handlers.

Both stand on a Listener, so they get what a Listener gets: every delivery,
with its siginfo, in any thread's loop (asyncio's own handlers work only in
the main thread's loop, coalesce, and carry no siginfo).

* cancel_on(sigs): an async context manager that cancels its block when one of
  sigs arrives, under asyncio (uvloop included), trio, and anyio on either
  backend. It consumes that one delivery and keeps it in ``.info``.
* add_signal_handler() / remove_signal_handler(): asyncio's
  ``loop.add_signal_handler`` shape, but the callback runs once per delivery,
  with the SigInfo first. trio and anyio receive signals their own way, by
  iterating a Listener (``with Listener(sigs) as l: async for info in l``).

Each handler and each cancel_on has a Listener of its own, so a signal may
have a handler on several loops at once, and cancel_on blocks beside them:
every one of them gets every delivery.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading
from typing import Any, Callable, Dict, Optional, Tuple, Type

from ._eventloop import running_library
from ._listener import Listener
from ._names import SignalLike, SignalSet, catchable
from ._siginfo import SigInfo


class CancelOn:
    """``async with cancel_on(sigs) as scope:`` runs its block until one of
    sigs arrives, then cancels it, like a timeout that is a signal (Go's
    signal.NotifyContext). The cancellation ends at the block: code after it
    runs, and ``scope.info`` is the SigInfo that cancelled it (None if none
    came). The signal is consumed here: it neither reaches the action it had
    before nor stays pending. More deliveries of sigs until the block ends
    are consumed too, and discarded."""

    def __init__(self, sigs: SignalSet) -> None:
        self._sigs = sigs
        self.info: Optional[SigInfo] = None
        self.cancelled_caught = False  # the block was cancelled, and ended so
        self._listener: Optional[Listener] = None
        self._exited = False
        self._trio_scope: Any = None
        self._task: Optional[asyncio.Task[Any]] = None
        self._watcher: Optional[asyncio.Task[None]] = None
        self._cancelling = 0  # the task's cancel requests before ours

    async def __aenter__(self) -> CancelOn:
        if self._listener is not None:
            raise RuntimeError("a cancel_on() block cannot be entered twice")
        library = running_library()
        if library is None:
            raise RuntimeError("cancel_on() needs a running asyncio or trio event loop")
        self._listener = Listener(self._sigs)
        if library == "trio":
            import trio

            self._trio_scope = trio.CancelScope().__enter__()
            trio.lowlevel.spawn_system_task(self._watch, name="fastsig.cancel_on")
        else:
            self._task = asyncio.current_task()
            assert self._task is not None  # get_running_loop() succeeded in a task
            if sys.version_info >= (3, 11):
                self._cancelling = self._task.cancelling()
            self._watcher = asyncio.ensure_future(self._watch())
        return self

    async def _watch(self) -> None:
        assert self._listener is not None
        try:
            records = await self._listener.wait_async(max=1)
        except StopAsyncIteration:  # the block ended first
            return
        self.info = records[0]
        if self._exited:
            return
        if self._trio_scope is not None:
            self._trio_scope.cancel()
        else:
            assert self._task is not None
            self._task.cancel()

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                        tb: Any) -> bool:
        self._exited = True
        assert self._listener is not None
        self._listener.close()  # wakes the watcher, which then ends
        if self._trio_scope is not None:
            swallowed = bool(self._trio_scope.__exit__(exc_type, exc, tb))
            self.cancelled_caught = self._trio_scope.cancelled_caught
            return swallowed
        assert self._task is not None and self._watcher is not None
        self._watcher.cancel()
        if self.info is None:  # the watcher never cancelled us
            return False
        # As asyncio.timeout() does: swallow only our own cancellation, not
        # one that someone else requested of the task as well.
        if sys.version_info >= (3, 11) and self._task.uncancel() > self._cancelling:
            return False
        self.cancelled_caught = exc_type is not None and issubclass(exc_type, asyncio.CancelledError)
        return self.cancelled_caught


def cancel_on(sigs: SignalSet) -> CancelOn:
    """An async context manager that cancels its block when one of sigs
    arrives; see CancelOn."""
    return CancelOn(sigs)


class _Handler:
    """One signal's handler on one asyncio loop: a Listener whose fd the loop
    watches; each record read becomes one callback of the loop."""

    def __init__(self, sig: int, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.listener = Listener([sig])
        self.callback: Callable[..., object] = _nothing
        self.args: tuple[Any, ...] = ()
        loop.add_reader(self.listener.fileno(), self._on_readable)
        # The fd turns readable only after a read found the ring empty.
        loop.call_soon(self._on_readable)

    def _on_readable(self) -> None:
        if self.listener.closed:  # removed before the first read
            return
        for info in self.listener.drain():
            self.loop.call_soon(self.callback, info, *self.args)

    def close(self) -> None:
        self.loop.remove_reader(self.listener.fileno())
        self.listener.close()


def _nothing(*args: object) -> None:
    pass


_handlers: Dict[Tuple[int, asyncio.AbstractEventLoop], _Handler] = {}
_handlers_lock = threading.Lock()


def add_signal_handler(sig: SignalLike, callback: Callable[..., object], *args: Any,
                       loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
    """Call ``callback(info, *args)`` in loop (default: the running one) for
    every delivery of sig, with its SigInfo: never coalesced, from a loop in
    any thread, on any number of loops at once (each gets every delivery).
    Adding again on the same loop replaces the callback. Call it from the
    loop's thread (or before the loop runs), as asyncio's own."""
    number = catchable(sig, "handle")
    if inspect.iscoroutinefunction(callback) or inspect.iscoroutine(callback):
        raise TypeError("coroutines cannot be used with add_signal_handler()")
    if not callable(callback):
        raise TypeError(f"callback must be callable, not {type(callback).__name__}")
    if loop is None:
        loop = asyncio.get_running_loop()
    with _handlers_lock:
        handler = _handlers.get((number, loop))
        if handler is None:
            handler = _handlers[number, loop] = _Handler(number, loop)
        handler.callback, handler.args = callback, args


def remove_signal_handler(sig: SignalLike, loop: Optional[asyncio.AbstractEventLoop] = None) -> bool:
    """Remove sig's handler from loop (default: the running one); the
    signal's previous action is back once no loop has a handler for it and no
    Listener has it. False if loop had none for sig."""
    number = catchable(sig, "handle")
    if loop is None:
        loop = asyncio.get_running_loop()
    with _handlers_lock:
        handler = _handlers.pop((number, loop), None)
        if handler is None:
            return False
    handler.close()
    return True
