"""The asyncio emitter, on ``redis.asyncio``: the same surface as :class:`Emitter`, awaited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio
import redis.asyncio.cluster

from ._chain import Chain, RedisUnavailableError, call_redis_async, queue_publish
from ._connect import make_async_client
from ._operator import Publish
from .protocol import SubscriptionMode

__all__ = ["AsyncEmitter"]


async def _execute(client: Any, publishes: list[Publish]) -> list[Any]:
    """One round trip for ``publishes``: a plain command for one, a pipeline for more."""
    if len(publishes) == 1:
        return [await call_redis_async(lambda: queue_publish(client, publishes[0]))]

    def execute() -> Any:
        pipe = client.pipeline(transaction=False)
        for publish in publishes:
            queue_publish(pipe, publish)
        return pipe.execute(raise_on_error=False)

    results: list[Any] = await call_redis_async(execute)
    return results


class _Batcher:
    """Publishes issued in one event-loop iteration go out in one pipeline, as node-redis
    sends what Node's emitter writes in one tick; each caller still awaits, and gets the
    error of, its own publish. ``await``-ing emits one by one costs what it did (a round
    trip each); emits made concurrently (``gather``, many tasks) share round trips."""

    __slots__ = ("_client", "_loop", "_queue", "_tasks")

    def __init__(self, client: Any) -> None:
        self._client = client
        self._queue: list[tuple[Publish, asyncio.Future[Any]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # round trips in flight

    async def send(self, publish: Publish) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._queue = loop, []
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((publish, future))
        if len(self._queue) == 1:
            loop.call_soon(self._flush)
        await future

    def _flush(self) -> None:
        batch, self._queue = self._queue, []
        if batch:
            task = asyncio.ensure_future(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[tuple[Publish, asyncio.Future[Any]]]) -> None:
        try:
            results = await _execute(self._client, [publish for publish, _ in batch])
        except BaseException as exc:  # every caller of this round trip sees its failure
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


class AsyncEmitter(Chain["redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster"]):
    """Publish to a Socket.IO cluster from asyncio code.

    >>> emitter = AsyncEmitter.from_url("redis://localhost:6379")   # doctest: +SKIP
    >>> await emitter.to("room1").emit("hello", {"n": 1})           # doctest: +SKIP
    """

    __slots__ = ()

    def __init__(
        self,
        redis_client: redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster,
        key: str = "socket.io",
        *,
        nsp: str = "/",
        sharded: bool = False,
        subscription_mode: SubscriptionMode = "dynamic",
    ) -> None:
        self._setup(
            redis_client,
            key,
            nsp,
            sharded,
            subscription_mode,
            "redis.asyncio.Redis or redis.asyncio.cluster.RedisCluster",
        )
        if not isinstance(redis_client, redis.asyncio.cluster.RedisCluster):
            # A cluster client routes each command to its own node: no shared pipeline.
            self._batcher = _Batcher(redis_client)

    @classmethod
    def from_url(
        cls,
        url: str,
        key: str = "socket.io",
        *,
        sharded: bool = False,
        subscription_mode: SubscriptionMode = "dynamic",
        **redis_options: Any,
    ) -> AsyncEmitter:
        """Build from a URL; the forms are those of :meth:`Emitter.from_url`."""
        client = make_async_client(url, **redis_options)
        return cls(client, key, sharded=sharded, subscription_mode=subscription_mode)

    async def _send(self, publish: Publish) -> None:
        if self._pending is not None:
            self._pending.append(publish)
            return
        try:
            if self._batcher is not None:
                await self._batcher.send(publish)
            else:
                await call_redis_async(lambda: queue_publish(self._client, publish))
        except RedisUnavailableError as exc:
            if not self._unavailable(exc):
                raise

    async def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` with ``args`` to the targeted clients of every server."""
        await self._send(self._target.emit_publish(event, args))

    async def server_side_emit(self, event: str, *args: Any) -> None:
        """Call ``event`` listeners of every server (Node's ``serverSideEmit``; no acks)."""
        await self._send(self._target.server_side_emit_publish(event, args))

    async def sockets_join(self, rooms: str | Iterable[str]) -> None:
        """Make the targeted sockets join ``rooms``, on every server."""
        await self._send(self._target.sockets_join_publish(rooms))

    async def sockets_leave(self, rooms: str | Iterable[str]) -> None:
        """Make the targeted sockets leave ``rooms``, on every server."""
        await self._send(self._target.sockets_leave_publish(rooms))

    async def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect the targeted sockets; ``close=True`` also closes their connection."""
        await self._send(self._target.disconnect_sockets_publish(close))

    @asynccontextmanager
    async def pipeline(self) -> AsyncIterator[AsyncEmitter]:
        """Collect every call made through the yielded emitter and send them in one round
        trip on exit (nothing is sent if the block raises)."""
        batch = self._derive(self._target)
        pending: list[Publish] = []
        batch._pending = pending
        yield batch
        if not pending:
            return
        results = await _execute(self._client, pending)
        for result in results:
            if isinstance(result, Exception):
                raise result

    async def aclose(self) -> None:
        """Close the Redis client (only needed for emitters made with :meth:`from_url`)."""
        await self._client.aclose()
