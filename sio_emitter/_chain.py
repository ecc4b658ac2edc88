"""The chaining surface both emitters share (``of``, ``to``, ``in_``, ``except_``,
``volatile``, ``compress``), so the sync and asyncio classes differ only in how they send.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

import redis.exceptions

from ._operator import Publish, Target, check_key_and_mode, normalize_namespace

__all__ = [
    "Chain",
    "RedisUnavailableError",
    "call_redis",
    "call_redis_async",
    "logger",
    "queue_publish",
]

logger = logging.getLogger("sio_emitter")

ClientT = TypeVar("ClientT")
T = TypeVar("T")
Self = TypeVar("Self", bound="Chain[Any]")

# What redis-py raises when the server cannot be reached or stops answering. Cluster
# clients report "no node reachable" as RedisClusterException, which is not a
# ConnectionError, and a cluster that lost slot coverage answers CLUSTERDOWN.
UNAVAILABLE = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.RedisClusterException,
    redis.exceptions.ClusterDownError,
    OSError,
)


class RedisUnavailableError(ConnectionError):
    """Redis could not be reached, so nothing was published.

    ``volatile`` emits are dropped instead of raising this, as volatile packets are
    dropped by Socket.IO when a client cannot take them.
    """


def queue_publish(target: Any, publish: Publish) -> Any:
    """Hand ``publish`` to a redis-py client or pipeline, sync or asyncio; what that
    returns (a reply, a coroutine, the pipeline) is the caller's."""
    if publish.command == "SPUBLISH":
        return target.spublish(publish.channel, publish.payload)
    return target.publish(publish.channel, publish.payload)


# A pooled connection the server closed (Redis restarted) is only found out by using it,
# so a ConnectionError is retried once, on a fresh connection; a timeout is not, since the
# command may have run. ``call`` must build its command anew each time: a redis-py
# pipeline forgets its commands once executed, even when that failed.


def call_redis(call: Callable[[], T], what: str = "publish to Redis") -> T:
    """Run ``call()``; an unreachable Redis raises :class:`RedisUnavailableError`."""
    try:
        try:
            return call()
        except redis.exceptions.ConnectionError:
            return call()
    except UNAVAILABLE as exc:
        raise RedisUnavailableError(f"cannot {what}: {exc}") from exc


async def call_redis_async(
    call: Callable[[], Awaitable[T]], what: str = "publish to Redis"
) -> T:
    """The asyncio twin of :func:`call_redis`."""
    try:
        try:
            return await call()
        except redis.exceptions.ConnectionError:
            return await call()
    except UNAVAILABLE as exc:
        raise RedisUnavailableError(f"cannot {what}: {exc}") from exc


class Chain(Generic[ClientT]):
    __slots__ = ("_batcher", "_client", "_pending", "_target")

    _client: ClientT
    _target: Target
    # A list while inside ``pipeline()``: publishes collect there instead of being sent.
    _pending: list[Publish] | None

    def _setup(
        self,
        client: ClientT,
        key: str,
        nsp: str,
        sharded: bool,
        subscription_mode: str,
        expected: str,
    ) -> None:
        """Validate and store what both emitters' constructors take."""
        check_key_and_mode(key, subscription_mode)
        if not hasattr(client, "publish"):
            raise TypeError(f"redis_client must be a {expected}")
        self._client = client
        self._target = Target(
            key,
            normalize_namespace(nsp),
            sharded=bool(sharded),
            subscription_mode=subscription_mode,  # type: ignore[arg-type]
        )
        self._pending = None
        self._batcher: Any = None

    def _derive(self: Self, target: Target) -> Self:
        clone = object.__new__(type(self))
        clone._client = self._client
        clone._target = target
        clone._pending = self._pending
        clone._batcher = self._batcher
        return clone

    @property
    def namespace(self) -> str:
        return self._target.nsp

    @property
    def key(self) -> str:
        return self._target.key

    def of(self: Self, nsp: str) -> Self:
        """The same emitter for another namespace (``"admin"`` and ``"/admin"`` alike)."""
        return self._derive(self._target.of(nsp))

    def to(self: Self, rooms: str | Iterable[str]) -> Self:
        """Target sockets in ``rooms`` (a name or an iterable of names); chains add up."""
        return self._derive(self._target.to(rooms))

    def in_(self: Self, rooms: str | Iterable[str]) -> Self:
        """Alias of :meth:`to` (Node's ``in``)."""
        return self.to(rooms)

    def except_(self: Self, rooms: str | Iterable[str]) -> Self:
        """Leave out sockets in ``rooms``."""
        return self._derive(self._target.except_rooms(rooms))

    @property
    def volatile(self: Self) -> Self:
        """Let servers drop the packet for clients that cannot take it right now."""
        return self._derive(self._target.with_flag("volatile", True))

    def compress(self: Self, flag: bool = True) -> Self:
        """Ask servers to (not) compress the packet."""
        if not isinstance(flag, bool):
            raise TypeError("compress flag must be a bool")
        return self._derive(self._target.with_flag("compress", flag))

    def _unavailable(self, exc: BaseException) -> bool:
        """Whether to swallow a failed publish (volatile) rather than raise."""
        if self._target.flags.get("volatile"):
            logger.debug("volatile emit dropped: Redis unavailable (%s)", type(exc).__name__)
            return True
        return False

    def __repr__(self) -> str:
        t = self._target
        mode = "sharded" if t.sharded else "classic"
        return (
            f"{type(self).__name__}(key={t.key!r}, nsp={t.nsp!r}, rooms={list(t.rooms)}, "
            f"except={list(t.except_)}, flags={t.flags}, {mode})"
        )
