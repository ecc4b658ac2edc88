"""How the sync manager waits, sleeps and runs background work: the twin of
``_aio_runtime.py`` for ``socketio.Server``.

Once bound to its server, every primitive comes from the server's async mode
(``server.start_background_task``, ``server.sleep``, ``server.eio.create_event``), so the
same manager runs on threads, eventlet or gevent. Before that, plain threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["Runtime", "Task", "resolve"]


def resolve(value: Any) -> Any:
    """The sync twin of ``_aio_runtime.resolve``: handlers return plain values."""
    return value


class _NeverRaised(BaseException):
    """Threads cannot be cancelled; the manager's ``except Cancelled`` never fires."""


class Task:
    """A background job (a thread or green thread): a way to wait for its end, and the
    exception that ended it."""

    __slots__ = ("error", "finished", "name")

    def __init__(self, name: str, finished: Any) -> None:
        self.name = name
        self.finished = finished
        self.error: BaseException | None = None

    def done(self) -> bool:
        return bool(self.finished.is_set())

    def __repr__(self) -> str:
        return f"<Task {self.name} {'done' if self.done() else 'running'}>"


class Runtime:
    """Primitives of the server's async mode for :class:`~sio_redis.RedisManager`."""

    Cancelled: type[BaseException] = _NeverRaised
    Timeouts: tuple[type[BaseException], ...] = (TimeoutError,)

    def __init__(self) -> None:
        self._server: Any = None

    def bind(self, server: Any) -> None:
        self._server = server

    def start_soon(self, fn: Callable[[], Any], spawn: Callable[..., Any]) -> None:
        """Join the cluster from ``set_server``, before the server takes any client, so
        ``server_count`` and requests see this server at once."""
        fn()

    def event(self) -> Any:
        server = self._server
        if server is not None:
            return server.eio.create_event()
        return threading.Event()

    def lock(self) -> Any:
        # Under eventlet/gevent, threading is monkey-patched (engine.io requires it).
        return threading.Lock()

    def spawn(
        self, fn: Callable[..., Any], *args: Any, on_done: Callable[[Task], None] | None = None
    ) -> Task:
        """Run ``fn(*args)`` in the background; ``on_done(task)`` once it has ended."""
        task = Task(getattr(fn, "__qualname__", repr(fn)), self.event())

        def run() -> None:
            try:
                fn(*args)
            except BaseException as exc:  # recorded, reported by on_done
                task.error = exc
            finally:
                task.finished.set()
                if on_done is not None:
                    on_done(task)

        server = self._server
        if server is not None:
            server.start_background_task(run)
        else:
            threading.Thread(target=run, name=f"sio-redis {task.name}", daemon=True).start()
        return task

    def bounded(self, timeout: float, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``: a blocking call cannot be abandoned midway; the client's
        ``socket_timeout`` bounds it instead."""
        return fn(*args)

    def sleep(self, seconds: float) -> None:
        server = self._server
        if server is not None:
            server.sleep(seconds)
        else:
            time.sleep(seconds)

    def time(self) -> float:
        return time.monotonic()

    def wait(self, event: Any, timeout: float) -> bool:
        """Wait for ``event`` at most ``timeout`` seconds; whether it was set."""
        return bool(event.wait(timeout))

    def alive(self, task: Task | None) -> bool:
        return task is not None and not task.done()

    def failure(self, task: Task) -> BaseException | None:
        return task.error

    def cancel(self, tasks: Iterable[Task]) -> None:
        """Threads cannot be cancelled: they end when the transport closes."""

    def join(self, tasks: Iterable[Task], timeout: float) -> set[Task]:
        deadline = time.monotonic() + timeout
        still: set[Task] = set()
        for task in tasks:
            remaining = deadline - time.monotonic()
            if not task.finished.wait(max(remaining, 0.0)):
                still.add(task)
        return still
