"""The blocking emitter, on redis-py (``redis.Redis`` or ``redis.cluster.RedisCluster``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
import redis.cluster

from ._chain import UNAVAILABLE, Chain, RedisUnavailableError, call_redis, queue_publish
from ._connect import make_sync_client
from ._operator import Publish
from .protocol import SubscriptionMode

__all__ = ["Emitter"]

SyncClient = "redis.Redis | redis.cluster.RedisCluster"


class Emitter(Chain["redis.Redis | redis.cluster.RedisCluster"]):
    """Publish to a Socket.IO cluster from any process, as Node's ``@socket.io/redis-emitter``.

    >>> import redis
    >>> from sio_emitter import Emitter
    >>> emitter = Emitter(redis.Redis(port=6399))            # doctest: +SKIP
    >>> emitter.to("room1").emit("hello", {"n": 1})          # doctest: +SKIP
    >>> emitter.of("/admin").except_("r3").volatile.emit("tick", 42)  # doctest: +SKIP

    Every chaining call returns a new emitter; the original is never changed. With
    ``sharded=True`` messages go out with ``SPUBLISH`` in the ClusterAdapter format, to
    reach servers running the sharded adapter (Node's own emitter cannot).
    """

    __slots__ = ()

    def __init__(
        self,
        redis_client: redis.Redis | redis.cluster.RedisCluster,
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
            "redis.Redis or redis.cluster.RedisCluster",
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
    ) -> Emitter:
        """Build from a URL: ``redis://``, ``rediss://``, ``unix://``, or
        ``redis+cluster://host:port,host:port`` for a Redis Cluster."""
        try:
            client = make_sync_client(url, **redis_options)
        except UNAVAILABLE as exc:
            # redis-py's cluster client connects while being built, to learn the slots.
            raise RedisUnavailableError(f"cannot connect to Redis: {exc}") from exc
        return cls(client, key, sharded=sharded, subscription_mode=subscription_mode)

    def _send(self, publish: Publish) -> None:
        if self._pending is not None:
            self._pending.append(publish)
            return
        try:
            call_redis(lambda: queue_publish(self._client, publish))
        except RedisUnavailableError as exc:
            if not self._unavailable(exc):
                raise

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` with ``args`` to the targeted clients of every server."""
        self._send(self._target.emit_publish(event, args))

    def server_side_emit(self, event: str, *args: Any) -> None:
        """Call ``event`` listeners of every server (Node's ``serverSideEmit``; no acks)."""
        self._send(self._target.server_side_emit_publish(event, args))

    def sockets_join(self, rooms: str | Iterable[str]) -> None:
        """Make the targeted sockets join ``rooms``, on every server."""
        self._send(self._target.sockets_join_publish(rooms))

    def sockets_leave(self, rooms: str | Iterable[str]) -> None:
        """Make the targeted sockets leave ``rooms``, on every server."""
        self._send(self._target.sockets_leave_publish(rooms))

    def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect the targeted sockets; ``close=True`` also closes their connection."""
        self._send(self._target.disconnect_sockets_publish(close))

    @contextmanager
    def pipeline(self) -> Iterator[Emitter]:
        """Collect every call made through the yielded emitter and send them in one round
        trip on exit (nothing is sent if the block raises).

        >>> with emitter.pipeline() as p:                    # doctest: +SKIP
        ...     for n in range(1000):
        ...         p.to(f"user:{n}").emit("score", n)
        """
        batch = self._derive(self._target)
        pending: list[Publish] = []
        batch._pending = pending
        yield batch
        if not pending:
            return

        def execute() -> Any:
            pipe = self._client.pipeline(transaction=False)
            for publish in pending:
                queue_publish(pipe, publish)
            return pipe.execute()

        call_redis(execute)

    def close(self) -> None:
        """Close the Redis client (only needed for emitters made with :meth:`from_url`)."""
        self._client.close()
