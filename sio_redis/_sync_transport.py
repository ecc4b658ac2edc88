"""The sync seam to Redis, for ``RedisManager``: the twin of ``_aio_transport.py``.

Same five calls (publish, count, subscribe, unsubscribe, messages) over redis-py's sync
client. ``messages()`` runs in the manager's listener (a thread, or a green thread under
eventlet/gevent) and reads with a short timeout, so it notices ``close()`` by itself:
closing a pub/sub connection under a reading thread would make redis-py reconnect it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import redis.cluster
import redis.exceptions

from sio_emitter._chain import UNAVAILABLE as _UNAVAILABLE
from sio_emitter._chain import RedisUnavailableError, call_redis, queue_publish
from sio_emitter._operator import Publish

from ._aio_transport import (
    _COUNTING,
    MAX_BACKOFF,
    Incoming,
    LinkOwner,
    LinkState,
    incoming,
    missing,
    want,
)
from ._sync_runtime import Runtime
from ._wire import Subscriptions

__all__ = ["MAX_BACKOFF", "RedisTransport", "make_transport", "publish_with"]

logger = logging.getLogger("sio_redis")

#: How long one read waits for a message; bounds how long close() waits for the reader.
_READ_TIMEOUT = 0.25


def publish_with(client: Any, publish: Publish) -> None:
    """Sync twin of ``_aio_transport.publish_with``."""
    call_redis(lambda: queue_publish(client, publish))


def _send(pubsub: Any, subs: Subscriptions, *, subscribe: bool) -> None:
    if subscribe:
        if subs.patterns:
            pubsub.psubscribe(*subs.patterns)
        if subs.channels:
            pubsub.subscribe(*subs.channels)
        for channel in subs.shard_channels:
            pubsub.ssubscribe(channel)
    else:
        if subs.patterns:
            pubsub.punsubscribe(*subs.patterns)
        if subs.channels:
            pubsub.unsubscribe(*subs.channels)
        for channel in subs.shard_channels:
            pubsub.sunsubscribe(channel)


def make_transport(client: Any, *, owns_client: bool, runtime: Runtime) -> Any:
    """The transport for ``client``: for a Redis Cluster, the asyncio cluster transport
    run on a private event loop (one cluster implementation, not two); otherwise one
    pub/sub connection."""
    if isinstance(client, redis.cluster.RedisCluster):
        from ._sync_cluster import ClusterBridge

        return ClusterBridge(client, owns_client=owns_client, runtime=runtime)
    return RedisTransport(client, owns_client=owns_client, runtime=runtime)


class RedisTransport(LinkOwner):
    """One client for commands, one pub/sub connection for every subscription."""

    def __init__(self, client: Any, *, owns_client: bool, runtime: Runtime) -> None:
        options: dict[str, Any] = getattr(client, "get_connection_kwargs", dict)()
        if options.get("decode_responses"):
            raise ValueError(
                "the Redis client must not use decode_responses=True: payloads are binary"
            )
        self.client = client
        self.owns_client = owns_client
        self.link = LinkState()
        self._rt = runtime
        self._pubsub: Any = None
        self._confirm: dict[str, Any] = {}
        # See the asyncio twin: subscriptions to send again after an outage; one lock
        # keeps subscribes and unsubscribes in order.
        self._wanted: dict[str, set[str]] = {"channel": set(), "pattern": set(), "shard": set()}
        self._lock = runtime.lock()
        self._reader_done: Any = None
        self._closed = False
        self._refusal: Exception | None = None

    def publish(self, publish: Publish) -> None:
        publish_with(self.client, publish)

    def count(self, command: str, channel: str) -> int:
        if command == "SHARDNUMSUB":
            reply = call_redis(lambda: self.client.pubsub_shardnumsub(channel), _COUNTING)
        else:
            reply = call_redis(lambda: self.client.pubsub_numsub(channel), _COUNTING)
        return int(sum(int(n) for _, n in reply))

    def _ensure_pubsub(self) -> Any:
        if self._pubsub is None:
            self._pubsub = self.client.pubsub()
        return self._pubsub

    def subscribe(self, subs: Subscriptions, *, confirm: bool, timeout: float = 10.0) -> None:
        """Subscribe; with ``confirm``, return only once Redis has acknowledged every name
        (the listener must be running), else raise ``TimeoutError``."""
        waits = []
        with self._lock:
            if self._closed:
                return
            pubsub = self._ensure_pubsub()
            if confirm:
                for name in (*subs.channels, *subs.patterns, *subs.shard_channels):
                    event = self._confirm.get(name)
                    if event is None or event.is_set():
                        event = self._confirm[name] = self._rt.event()
                    waits.append((name, event))
            want(self._wanted, subs, add=True)
            _send(pubsub, subs, subscribe=True)
        deadline = self._rt.time() + timeout
        for name, event in waits:
            confirmed = self._rt.wait(event, max(deadline - self._rt.time(), 0.0))
            if self._closed:
                return
            refusal, self._refusal = self._refusal, None
            if refusal is not None:
                raise RedisUnavailableError(f"Redis refused to subscribe: {refusal}")
            if not confirmed:
                raise TimeoutError(f"Redis did not confirm the subscription to {name!r}")

    def unsubscribe(self, subs: Subscriptions) -> None:
        with self._lock:
            want(self._wanted, subs, add=False)
            pubsub = self._pubsub
            if pubsub is None or self._closed:
                return
            _send(pubsub, subs, subscribe=False)

    def _resync(self, pubsub: Any) -> None:
        """Send the subscriptions whose command failed while Redis was unreachable."""
        with self._lock:
            if self._closed:
                return
            _send(pubsub, missing(self._wanted, pubsub, self.log_extra), subscribe=True)

    def messages(self) -> Iterator[Incoming]:
        """Messages from every subscription until :meth:`close`: a lost connection is
        retried with capped exponential backoff and jitter; redis-py resubscribes."""
        done = self._reader_done = self._rt.event()
        try:
            while not self._closed:
                pubsub = self._pubsub
                if pubsub is None:
                    self._rt.sleep(0.05)
                    continue
                try:
                    if not pubsub.subscribed and any(self._wanted.values()):
                        self._resync(pubsub)  # the first SUBSCRIBEs failed: Redis was down
                    message = pubsub.get_message(timeout=_READ_TIMEOUT)
                except redis.exceptions.ResponseError as exc:
                    # e.g. NOPERM: say so and carry on reading.
                    self._refused(exc)
                    self._rt.sleep(MAX_BACKOFF)
                    continue
                except (*_UNAVAILABLE, AttributeError) as exc:
                    # AttributeError: redis-py can trip over its own half-reset connection.
                    if self._closed:
                        return
                    self._rt.sleep(self.link.lost(exc))
                    continue
                if message is None:
                    continue
                if self.link.up():
                    try:
                        self._resync(pubsub)
                    except _UNAVAILABLE:
                        pass  # lost again: the next read says so
                item, confirmed = incoming(message)
                if item is not None:
                    yield item
                elif confirmed is not None:
                    event = self._confirm.pop(confirmed, None)
                    if event is not None:
                        event.set()
        finally:
            done.set()

    def _refused(self, exc: Exception) -> None:
        # Whoever waits for a confirmation will not get one: wake them with the refusal.
        if self._confirm:
            self._refusal = exc
        for event in self._confirm.values():
            event.set()
        self._confirm.clear()
        self.link.refused(exc)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        for event in self._confirm.values():
            event.set()
        self._confirm.clear()
        # Let the reader notice and stop before its connection goes away under it.
        done = self._reader_done
        if done is not None:
            self._rt.wait(done, 2 * _READ_TIMEOUT + 1.0)
        pubsub, self._pubsub = self._pubsub, None
        self.link.connected = False
        if pubsub is not None:
            try:
                pubsub.close()
            except Exception:  # closing a broken connection must not hide the shutdown
                logger.debug("error closing the pub/sub connection", exc_info=True)
        if self.owns_client:
            self.client.close()
