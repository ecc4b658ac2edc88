"""The asyncio seam to Redis: publish, count subscribers, subscribe, and read messages.

Everything redis.asyncio-specific stays here, so a sync twin, a cluster client or a
streams transport replaces this file's role without touching the core or the manager.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import redis.asyncio.cluster
import redis.exceptions

from sio_emitter._chain import UNAVAILABLE as _UNAVAILABLE
from sio_emitter._chain import RedisUnavailableError, call_redis_async, queue_publish
from sio_emitter._operator import Publish

from ._wire import Subscriptions

__all__ = ["MAX_BACKOFF", "AsyncRedisTransport", "Incoming", "Transport", "make_transport"]

logger = logging.getLogger("sio_redis")

_COUNTING = "count subscribers in Redis"

Incoming = tuple[str, bytes, "str | None"]  # channel, payload, pattern

#: Longest pause between reconnection attempts (before jitter): with Redis back, the
#: cluster is whole again within this, plus a connect.
MAX_BACKOFF = 2.5

_CONFIRMATIONS = {"subscribe", "psubscribe", "ssubscribe"}
_MESSAGES = {"message", "pmessage", "smessage"}


async def publish_with(client: Any, publish: Publish) -> None:
    """Run one ``PUBLISH``/``SPUBLISH`` the way the emitter does (one retry on a closed
    connection; an unreachable Redis raises ``RedisUnavailableError``). A cluster client
    routes ``SPUBLISH`` to the slot owner; ``PUBLISH`` may go to any node, Redis Cluster
    forwards it to all."""
    await call_redis_async(lambda: queue_publish(client, publish))


class LinkState:
    """One subscription connection's state, shared by the asyncio and sync transports:
    whether it is up, the capped and jittered backoff while it is not, and the one log
    line per change (with the manager's uid and namespace in ``extra``)."""

    __slots__ = ("_refused_at", "attempt", "connected", "delay", "extra")

    def __init__(self) -> None:
        self.extra: dict[str, Any] = {}
        self.connected = False
        self.delay = 0.0
        self.attempt = 0
        self._refused_at = -60.0

    def lost(self, exc: BaseException) -> float:
        """The connection failed: log it, and how long to wait before the next attempt."""
        if self.connected:
            logger.warning("Redis subscription lost (%s)", exc, extra=self.extra)
        self.connected = False
        self.attempt += 1
        self.delay = min(max(self.delay * 2, 0.1), MAX_BACKOFF)
        wait = self.delay * (0.5 + random.random() / 2)
        logger.warning(
            "reconnecting to Redis: attempt %d in %.2f s", self.attempt, wait, extra=self.extra
        )
        return wait

    def up(self) -> bool:
        """Something arrived: the link works. Whether that is news (log it, and the
        caller resends what failed meanwhile)."""
        if self.connected:
            return False
        if self.attempt:
            logger.info(
                "Redis subscription re-established and resubscribed after %d attempts",
                self.attempt,
                extra=self.extra,
            )
        else:
            logger.info("Redis subscription connected", extra=self.extra)
        self.connected = True
        self.delay, self.attempt = 0.0, 0
        return True

    def refused(self, exc: BaseException) -> None:
        """Redis refused a subscription (an ACL without the channel): a configuration
        problem, not an outage; said at most once a minute."""
        now = time.monotonic()
        if now - self._refused_at >= 60.0:
            self._refused_at = now
            logger.error(
                "Redis refused a subscription command (%s): check the ACL user's channel "
                "permissions",
                exc,
                extra=self.extra,
            )


def incoming(message: Mapping[str, Any]) -> tuple[Incoming | None, str | None]:
    """A pub/sub reply of redis-py as (a message to hand on, or None; the name whose
    (p/s)subscription it confirms, or None)."""
    kind = message.get("type")
    if kind in _MESSAGES:
        pattern = message.get("pattern")
        channel = _text(message["channel"])
        return (channel, message["data"], None if pattern is None else _text(pattern)), None
    if kind in _CONFIRMATIONS:
        return None, _text(message["channel"])
    return None, None


class LinkOwner:
    """``connected`` and the log ``extra`` of a transport, both kept by its ``link``."""

    link: LinkState

    @property
    def connected(self) -> bool:
        return self.link.connected

    @property
    def log_extra(self) -> dict[str, Any]:
        """``extra`` of connection-state log lines (the manager sets its uid here)."""
        return self.link.extra

    @log_extra.setter
    def log_extra(self, value: dict[str, Any]) -> None:
        self.link.extra = value


def missing(wanted: Mapping[str, set[str]], pubsub: Any, extra: dict[str, Any]) -> Subscriptions:
    """What ``wanted`` holds that redis-py's ``pubsub`` does not: subscriptions whose
    command failed (Redis was down), which redis-py will not resubscribe by itself."""

    def known(names: Any) -> set[str]:
        return {_text(name) for name in (names or {})}

    todo = Subscriptions(
        tuple(wanted["channel"] - known(pubsub.channels)),
        tuple(wanted["pattern"] - known(pubsub.patterns)),
        tuple(wanted["shard"] - known(getattr(pubsub, "shard_channels", None))),
    )
    count = len(todo.channels) + len(todo.patterns) + len(todo.shard_channels)
    if count:
        logger.info("subscribing %d channels that failed during the outage", count, extra=extra)
    return todo


def want(wanted: dict[str, set[str]], subs: Subscriptions, add: bool) -> None:
    for kind, names in (
        ("channel", subs.channels),
        ("pattern", subs.patterns),
        ("shard", subs.shard_channels),
    ):
        if add:
            wanted[kind].update(names)
        else:
            wanted[kind].difference_update(names)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class Transport(Protocol):
    """What the manager needs from Redis; one implementation per kind of client."""

    client: Any
    log_extra: dict[str, Any]

    @property
    def connected(self) -> bool: ...

    async def publish(self, publish: Publish) -> None: ...

    async def count(self, command: str, channel: str) -> int: ...

    async def subscribe(
        self, subs: Subscriptions, *, confirm: bool, timeout: float = 10.0
    ) -> None: ...

    async def unsubscribe(self, subs: Subscriptions) -> None: ...

    def messages(self) -> AsyncIterator[Incoming]: ...

    async def close(self) -> None: ...


def make_transport(client: Any, *, owns_client: bool, runtime: Any = None) -> Transport:
    """The transport for ``client``: per-node connections for a Redis Cluster client,
    one pub/sub connection otherwise."""
    if isinstance(client, redis.asyncio.cluster.RedisCluster):
        # Imported here: the cluster module builds on this one's definitions.
        from ._aio_cluster import AsyncClusterTransport

        return AsyncClusterTransport(client, owns_client=owns_client)
    return AsyncRedisTransport(client, owns_client=owns_client)


async def _send(pubsub: Any, subs: Subscriptions, *, subscribe: bool) -> None:
    if subscribe:
        if subs.patterns:
            await pubsub.psubscribe(*subs.patterns)
        if subs.channels:
            await pubsub.subscribe(*subs.channels)
        for channel in subs.shard_channels:
            # One per call: channels of different slots cannot share an SSUBSCRIBE.
            await pubsub.ssubscribe(channel)
    else:
        if subs.patterns:
            await pubsub.punsubscribe(*subs.patterns)
        if subs.channels:
            await pubsub.unsubscribe(*subs.channels)
        for channel in subs.shard_channels:
            await pubsub.sunsubscribe(channel)


class AsyncRedisTransport(LinkOwner):
    """One client for commands, one pub/sub connection for every subscription."""

    def __init__(self, client: Any, *, owns_client: bool, runtime: Any = None) -> None:
        options: dict[str, Any] = getattr(client, "get_connection_kwargs", dict)()
        if options.get("decode_responses"):
            raise ValueError(
                "the Redis client must not use decode_responses=True: payloads are binary"
            )
        self.client = client
        self.owns_client = owns_client
        self.link = LinkState()
        self._pubsub: Any = None
        self._confirm: dict[str, asyncio.Future[None]] = {}
        # Everything subscribed or being subscribed, whatever redis-py recorded: a command
        # that failed during an outage is sent again once the connection is back.
        self._wanted: dict[str, set[str]] = {"channel": set(), "pattern": set(), "shard": set()}
        # First come, first served: an unsubscribe must not overtake the subscribe it undoes
        # (redis-py records a channel only after its SUBSCRIBE was written).
        self._send_lock = asyncio.Lock()
        self._closed = False

    async def publish(self, publish: Publish) -> None:
        await publish_with(self.client, publish)

    async def count(self, command: str, channel: str) -> int:
        """Subscribers of ``channel`` (``NUMSUB`` or ``SHARDNUMSUB``), as Node counts servers."""
        if command == "SHARDNUMSUB":
            reply = await call_redis_async(
                lambda: self.client.pubsub_shardnumsub(channel), _COUNTING
            )
        else:
            reply = await call_redis_async(lambda: self.client.pubsub_numsub(channel), _COUNTING)
        return int(sum(int(n) for _, n in reply))

    def _ensure_pubsub(self) -> Any:
        if self._pubsub is None:
            self._pubsub = self.client.pubsub()
        return self._pubsub

    async def subscribe(self, subs: Subscriptions, *, confirm: bool, timeout: float = 10.0) -> None:
        """Subscribe; with ``confirm``, return only once Redis has acknowledged every name
        (so ``NUMSUB`` counts this server), which needs :meth:`messages` running."""
        pubsub = self._ensure_pubsub()
        loop = asyncio.get_running_loop()
        waits = []
        if confirm:
            for name in (*subs.channels, *subs.patterns, *subs.shard_channels):
                fut = self._confirm.get(name)
                if fut is None or fut.done():
                    fut = self._confirm[name] = loop.create_future()
                waits.append(fut)
        want(self._wanted, subs, add=True)
        async with self._send_lock:
            await _send(pubsub, subs, subscribe=True)
        if waits:
            await asyncio.wait_for(asyncio.gather(*waits), timeout)

    async def unsubscribe(self, subs: Subscriptions) -> None:
        want(self._wanted, subs, add=False)
        pubsub = self._pubsub
        if pubsub is None:
            return
        async with self._send_lock:
            await _send(pubsub, subs, subscribe=False)

    async def _resync(self, pubsub: Any) -> None:
        """Send the subscriptions whose command failed while Redis was unreachable."""
        async with self._send_lock:
            await _send(pubsub, missing(self._wanted, pubsub, self.log_extra), subscribe=True)

    async def messages(self) -> AsyncIterator[Incoming]:
        """Messages from every subscription, forever: a lost connection is retried with
        capped exponential backoff and jitter, and redis-py resubscribes on reconnect."""
        pubsub = self._ensure_pubsub()
        while not self._closed:
            try:
                message = await pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except redis.exceptions.ResponseError as exc:
                # e.g. NOPERM: say so and carry on reading.
                self._refused(exc)
                await asyncio.sleep(MAX_BACKOFF)
                continue
            except (*_UNAVAILABLE, AttributeError) as exc:
                # AttributeError: redis-py 8 can trip over its own half-reset connection
                # while Redis restarts; it is the same lost connection.
                if self._closed:
                    return
                await asyncio.sleep(self.link.lost(exc))
                continue
            except RuntimeError:
                if self._closed:
                    return
                # No subscription yet: redis-py has no connection to read from. If the
                # first SUBSCRIBEs failed (Redis down), send them now.
                try:
                    await self._resync(pubsub)
                except _UNAVAILABLE:
                    pass
                await asyncio.sleep(0.05)
                continue
            if message is None:
                continue
            if self.link.up():
                try:
                    await self._resync(pubsub)
                except _UNAVAILABLE:
                    pass  # lost again: the next read says so
            item, confirmed = incoming(message)
            if item is not None:
                yield item
            elif confirmed is not None:
                fut = self._confirm.pop(confirmed, None)
                if fut is not None and not fut.done():
                    fut.set_result(None)

    def _refused(self, exc: Exception) -> None:
        # Whoever waits for a confirmation will not get one: fail them now, as an outage
        # (the manager then retries in the background) rather than after a timeout.
        for fut in self._confirm.values():
            if not fut.done():
                fut.set_exception(RedisUnavailableError(f"Redis refused to subscribe: {exc}"))
        self._confirm.clear()
        self.link.refused(exc)

    async def close(self) -> None:
        self._closed = True
        pubsub, self._pubsub = self._pubsub, None
        for fut in self._confirm.values():
            fut.cancel()
        self._confirm.clear()
        if pubsub is not None:
            try:
                await pubsub.aclose()
            except Exception:  # closing a broken connection must not hide the shutdown
                logger.debug("error closing the pub/sub connection", exc_info=True)
        if self.owns_client:
            await self.client.aclose()
