"""Which event loop is running: asyncio's (uvloop included) or trio's.

A Listener waits asynchronously through a loop-shaped object: create_future(),
add_reader(), remove_reader() and call_soon_threadsafe(), the subset of
asyncio's loop it needs (see Listener.wait_async). Under asyncio that is the
running loop itself. Under trio it is TrioLoop, which gives trio's primitives
that shape, so one piece of code serves both, close() from any thread
included. anyio needs nothing of its own: on its asyncio backend an asyncio
loop runs, on its trio backend trio does.

trio is imported only when it is already in sys.modules: a program that never
imported it cannot be inside a trio run, and fastsig depends on cffi alone.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Any, Callable, Dict, Generator, Optional, Union

if TYPE_CHECKING:
    import trio

# What an async waiter awaits: an asyncio.Future, or TrioFuture.
Future = Union["asyncio.Future[None]", "TrioFuture"]
Loop = Union[asyncio.AbstractEventLoop, "TrioLoop"]


def running_library() -> Optional[str]:
    """"trio" or "asyncio" (anyio runs on one of them), None outside both."""
    trio = sys.modules.get("trio")
    # trio first: in trio's guest mode an asyncio loop runs in the same thread.
    if trio is not None:
        try:
            trio.lowlevel.current_task()
            return "trio"
        except RuntimeError:
            pass
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return None
    return "asyncio"


def running_loop() -> Loop:
    """The running asyncio loop, or the TrioLoop of the running trio run;
    RuntimeError outside both."""
    if running_library() == "trio":
        return TrioLoop.current()
    return asyncio.get_running_loop()


class TrioFuture:
    """A one-shot flag a trio task awaits; set in the run's own thread."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        import trio

        self._event = trio.Event()

    def done(self) -> bool:
        return self._event.is_set()

    def set_result(self, result: None) -> None:
        self._event.set()

    def __await__(self) -> Generator[Any, None, None]:
        return self._event.wait().__await__()


class TrioLoop:
    """asyncio's loop shape over a trio run, one per run.

    add_reader() starts a system task that calls back each time the fd is
    readable (trio lets one task at a time wait to read an fd, so, as under
    asyncio, the waiters of a loop share one reader). remove_reader() cancels
    it, and trio takes the fd out of its poller before remove_reader()
    returns: the fd may be closed right after."""

    _var: Optional[trio.lowlevel.RunVar[TrioLoop]] = None

    def __init__(self) -> None:
        import trio

        self._trio = trio
        self._token = trio.lowlevel.current_trio_token()
        self._readers: Dict[int, trio.CancelScope] = {}

    @classmethod
    def current(cls) -> TrioLoop:
        import trio

        if cls._var is None:
            cls._var = trio.lowlevel.RunVar("fastsig.TrioLoop")
        try:
            return cls._var.get()
        except LookupError:
            loop = cls()
            cls._var.set(loop)
            return loop

    def create_future(self) -> TrioFuture:
        return TrioFuture()

    def call_soon_threadsafe(self, callback: Callable[..., object], *args: Any) -> None:
        # Raises trio.RunFinishedError (a RuntimeError) once the run is over,
        # as asyncio's closed loop raises RuntimeError.
        self._token.run_sync_soon(callback, *args)

    def add_reader(self, fd: int, callback: Callable[..., object], *args: Any) -> None:
        self.remove_reader(fd)
        scope = self._readers[fd] = self._trio.CancelScope()
        self._trio.lowlevel.spawn_system_task(self._read, fd, scope, callback, args,
                                              name=f"fastsig reader of fd {fd}")

    def remove_reader(self, fd: int) -> bool:
        scope = self._readers.pop(fd, None)
        if scope is None:
            return False
        scope.cancel()
        return True

    async def _read(self, fd: int, scope: trio.CancelScope, callback: Callable[..., object],
                    args: tuple[Any, ...]) -> None:
        with scope:
            while True:
                try:
                    await self._trio.lowlevel.wait_readable(fd)
                except Exception:  # noqa: BLE001 - an error here would crash the whole run
                    # The fd was closed behind our back, or another task of
                    # the run waits to read it too: wake the waiters every
                    # 10 ms instead, so they read on (or find the Listener
                    # closed) rather than hang.
                    await self._trio.sleep(0.01)
                callback(*args)
