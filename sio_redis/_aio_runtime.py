"""How the asyncio manager waits, sleeps and runs background work.

The managers are written once, against this small interface; ``_sync_runtime.py`` is its
twin for ``socketio.Server`` (threads, eventlet or gevent, as the server's async mode
dictates). Nothing here knows about Redis or Socket.IO.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["Runtime", "resolve"]


async def resolve(value: Any) -> Any:
    """``value``, awaited if it is awaitable: handlers and callbacks may be either."""
    if inspect.isawaitable(value):
        return await value
    return value


class Runtime:
    """asyncio primitives for :class:`~sio_redis.AsyncRedisManager`."""

    #: What a background task may see when it is stopped (re-raised, never logged).
    Cancelled: type[BaseException] = asyncio.CancelledError
    #: What a wait that ran out of time raises (distinct types before Python 3.11).
    Timeouts: tuple[type[BaseException], ...] = (asyncio.TimeoutError, TimeoutError)

    def bind(self, server: Any) -> None:
        """Nothing to learn from an ``AsyncServer``: asyncio is asyncio."""

    def start_soon(self, fn: Callable[[], Any], spawn: Callable[..., Any]) -> None:
        """Join the cluster from ``set_server``: a coroutine cannot run inside it, so in
        the background; without a running loop (a server built at import time), later."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        spawn(fn)

    def event(self) -> asyncio.Event:
        return asyncio.Event()

    def lock(self) -> asyncio.Lock:
        return asyncio.Lock()

    def spawn(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_done: Callable[[asyncio.Future[Any]], None] | None = None,
    ) -> asyncio.Future[Any]:
        """Run ``fn(*args)`` as a task; ``on_done(task)`` once it has ended."""
        task: asyncio.Future[Any] = asyncio.ensure_future(fn(*args))
        if on_done is not None:
            task.add_done_callback(on_done)
        return task

    async def bounded(self, timeout: float, fn: Callable[..., Any], *args: Any) -> Any:
        """``await fn(*args)``, given up (``TimeoutError``) after ``timeout`` seconds: a
        Redis that hangs must not hold a request past its own deadline."""
        return await asyncio.wait_for(fn(*args), timeout)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def time(self) -> float:
        return time.monotonic()

    async def wait(self, event: asyncio.Event, timeout: float) -> bool:
        """Wait for ``event`` at most ``timeout`` seconds; whether it was set."""
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def alive(self, task: asyncio.Future[Any] | None) -> bool:
        return task is not None and not task.done()

    def failure(self, task: asyncio.Future[Any]) -> BaseException | None:
        """The exception that ended ``task``, if any (``None`` when cancelled)."""
        return None if task.cancelled() else task.exception()

    def cancel(self, tasks: Iterable[asyncio.Future[Any]]) -> None:
        for task in tasks:
            task.cancel()

    async def join(
        self, tasks: Iterable[asyncio.Future[Any]], timeout: float
    ) -> set[asyncio.Future[Any]]:
        """Wait for ``tasks`` to end; those still running after ``timeout``."""
        pending = set(tasks)
        if not pending:
            return pending
        still: set[asyncio.Future[Any]]
        _, still = await asyncio.wait(pending, timeout=timeout)
        return still
