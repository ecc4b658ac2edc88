"""The asyncio emitter, on ``redis.asyncio``: the same surface as :class:`Emitter`, awaited."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio
import redis.asyncio.cluster

from ._chain import UNAVAILABLE, Chain, RedisUnavailableError
from ._connect import make_async_client
from ._operator import Publish
from .protocol import SubscriptionMode

__all__ = ["AsyncEmitter"]


async def _run(target: Any, publish: Publish) -> Any:
    if publish.command == "SPUBLISH":
        return await target.spublish(publish.channel, publish.payload)
    return await target.publish(publish.channel, publish.payload)


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
            await _run(self._client, publish)
        except UNAVAILABLE as exc:
            if not self._unavailable(exc):
                raise RedisUnavailableError(f"cannot publish to Redis: {exc}") from exc

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
        pipe = self._client.pipeline(transaction=False)
        for publish in pending:
            _run_sync = pipe.spublish if publish.command == "SPUBLISH" else pipe.publish
            _run_sync(publish.channel, publish.payload)
        try:
            await pipe.execute()
        except UNAVAILABLE as exc:
            raise RedisUnavailableError(f"cannot publish to Redis: {exc}") from exc

    async def aclose(self) -> None:
        """Close the Redis client (only needed for emitters made with :meth:`from_url`)."""
        await self._client.aclose()
