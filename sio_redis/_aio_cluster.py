"""The asyncio seam to a Redis Cluster: :class:`AsyncRedisTransport`'s five operations
(publish, count, subscribe, unsubscribe, messages) over every node of the cluster.

Why not redis-py's ``ClusterPubSub``: its ``get_sharded_message`` visits the per-node
connections in turn, each with a read timeout, so a message waiting on one node waits
for the others' timeouts (or the reader spins with timeout 0); it does not exist in every
redis-py 5.x either. Instead each node that owns one of our channels gets a
:class:`_NodeLink`: a dedicated pub/sub connection and one reader task, which blocks on
that connection and feeds a single queue that :meth:`AsyncClusterTransport.messages`
yields from. Nothing polls; a message is handed over as soon as its node sends it.

Where each subscription lives is decided here, from the cluster client's slot map:

* a shard channel (``SSUBSCRIBE``) goes to the node owning its slot, one command per
  channel (channels of different slots in one command are a ``CROSSSLOT`` error);
* classic channels and patterns (``SUBSCRIBE``/``PSUBSCRIBE``) all go to one "home"
  node, since Redis Cluster forwards ``PUBLISH`` to every node; one connection keeps
  their relative order, as Node's single subscriber connection does.

A link that fails (node down, connection reset, ``MOVED`` because a slot moved) asks for
a fresh slot map, retries with capped exponential backoff and jitter, and on reconnect
subscribes exactly what is assigned to it then. A node that stops owning a slot drops its
shard subscribers with an unsolicited ``SUNSUBSCRIBE``; that also triggers a refresh, and
the channel moves to its new owner.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
from collections.abc import AsyncIterator, Iterable
from typing import Any, Literal

import redis.asyncio
import redis.asyncio.client
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from sio_emitter._chain import call_redis_async
from sio_emitter._operator import Publish

from ._aio_transport import _COUNTING, Incoming, _text, publish_with
from ._wire import Subscriptions

__all__ = ["AsyncClusterTransport"]

logger = logging.getLogger("sio_redis")

Kind = Literal["channel", "pattern", "shard"]

_CONFIRMATIONS = {"subscribe", "psubscribe", "ssubscribe"}
_DROPS = {"unsubscribe", "punsubscribe", "sunsubscribe"}
_MESSAGES = {"message", "pmessage", "smessage"}
# Readers block on a full queue, so a slow consumer pushes back on the sockets (and on
# Redis's output buffers) as the standalone transport does, instead of growing memory here.
_QUEUE_SIZE = 1024
_MAX_DELAY = 2.0


def _backoff(delay: float) -> tuple[float, float]:
    """The next delay (doubling, 0.1 s to 2 s) and a jittered wait for it."""
    delay = min(max(delay * 2, 0.1), _MAX_DELAY)
    return delay, delay * (0.5 + random.random() / 2)


def _numsub_total(reply: Any) -> int:
    """Sum a ``PUBSUB (SHARD)NUMSUB`` reply in any shape redis-py hands back: a flat
    ``[channel, n, ...]`` list, a list of ``(channel, n)`` pairs, or a mapping."""
    if isinstance(reply, dict):
        return sum(int(n) for n in reply.values())
    items = list(reply or ())
    if items and isinstance(items[0], (list, tuple)):
        return sum(int(n) for _, n in items)
    return sum(int(n) for n in items[1::2])


class _NodeLink:
    """The subscriptions assigned to one cluster node, on one pub/sub connection that
    one task reads. ``names`` is what should be subscribed there; ``sent`` what has been
    sent on the current connection."""

    def __init__(self, transport: AsyncClusterTransport, node: Any) -> None:
        self.transport = transport
        self.name: str = node.name
        kwargs = dict(node.connection_kwargs)
        # The link reconnects and resubscribes itself (see run()): redis-py must not
        # retry or reconnect on its own, which would replay every shard channel in one
        # SSUBSCRIBE (CROSSSLOT) on a node that may no longer own them.
        kwargs["retry"] = Retry(NoBackoff(), 0, supported_errors=())
        # A subscriber waits for messages indefinitely; a socket timeout would turn a
        # quiet channel into an error (redis-py < 8 applies it to blocking reads).
        kwargs["socket_timeout"] = None
        self._pool = redis.asyncio.ConnectionPool(connection_class=node.connection_class, **kwargs)
        self.names: dict[str, Kind] = {}
        self.sent: dict[str, Kind] = {}
        self.live = False
        # SUNSUBSCRIBE replies we asked for, so an unasked one (slot moved away) is told apart
        self._dropping: collections.Counter[str] = collections.Counter()
        self._pubsub: redis.asyncio.client.PubSub | None = None
        self._lock = asyncio.Lock()  # one writer at a time on the connection
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"<_NodeLink {self.name} live={self.live} names={len(self.names)}>"

    async def add(self, name: str, kind: Kind) -> None:
        if self._closed:
            return
        self.names[name] = kind
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"sio-redis node {self.name}")
            return
        if not self.live:
            return  # run() subscribes every name before it marks the link live
        async with self._lock:
            pubsub = self._pubsub
            if (
                self.live
                and pubsub is not None
                and self.names.get(name) == kind
                and name not in self.sent
            ):
                try:
                    await _send(pubsub, "subscribe", name, kind)
                except (redis.exceptions.RedisError, OSError) as exc:
                    # The reader sees the broken connection too and restarts the link,
                    # which then subscribes this name; nothing to do here.
                    logger.debug("subscribing %r on %s failed: %s", name, self.name, exc)
                    return
                self.sent[name] = kind

    async def remove(self, name: str) -> None:
        self.names.pop(name, None)
        if not self.live or name not in self.sent:
            return  # never sent, or run() is (re)subscribing and drops it there
        async with self._lock:
            pubsub = self._pubsub
            if not self.live or pubsub is None or name in self.names or name not in self.sent:
                return  # lost meanwhile, or wanted here again: nothing to undo
            kind = self.sent.pop(name)
            self._dropping[name] += 1
            try:
                await _send(pubsub, "unsubscribe", name, kind)
            except (redis.exceptions.RedisError, OSError) as exc:
                logger.debug("unsubscribing %r on %s failed: %s", name, self.name, exc)

    async def run(self) -> None:
        delay = 0.0
        while self.names:
            pubsub = self._pubsub = redis.asyncio.client.PubSub(connection_pool=self._pool)
            try:
                async with self._lock:
                    # Names added or removed while this loop subscribes are handled by
                    # the next pass; live is set with no await after the last check, so
                    # add() and remove() either see live or leave their name to this loop.
                    while True:
                        todo = [(n, k) for n, k in self.names.items() if n not in self.sent]
                        extra = [(n, k) for n, k in self.sent.items() if n not in self.names]
                        if not todo and not extra:
                            break
                        for name, kind in todo:
                            await _send(pubsub, "subscribe", name, kind)
                            self.sent[name] = kind
                        for name, kind in extra:
                            del self.sent[name]
                            self._dropping[name] += 1
                            await _send(pubsub, "unsubscribe", name, kind)
                    self.live = True
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None:
                        if delay:
                            logger.info(
                                "Redis Cluster node %s: subscriptions restored",
                                self.name,
                                extra=self.transport.log_extra,
                            )
                            delay = 0.0
                        await self._handle(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._reset()
                self.transport._link_lost(self)
                # Warn once per outage; the retries of a node that stays down are noise.
                log = logger.debug if delay else logger.warning
                delay, wait = _backoff(delay)
                log(
                    "Redis Cluster node %s: subscription lost (%s: %s); retrying in %.2f s",
                    self.name,
                    type(exc).__name__,
                    exc,
                    wait,
                    extra=self.transport.log_extra,
                )
                await _close_pubsub(pubsub)
                await asyncio.sleep(wait)

    def _reset(self) -> None:
        self.live = False
        self.sent.clear()
        self._dropping.clear()

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = _text(message.get("type"))
        if kind in _MESSAGES:
            pattern = message.get("pattern")
            await self.transport._queue.put(
                (
                    _text(message["channel"]),
                    message["data"],
                    None if pattern is None else _text(pattern),
                )
            )
            return
        name = _text(message.get("channel"))
        if kind in _CONFIRMATIONS:
            if name in self.sent:
                self.transport._confirmed(name)
        elif kind in _DROPS:
            if self._dropping[name] > 0:
                self._dropping[name] -= 1
                if not self._dropping[name]:
                    del self._dropping[name]
            elif name in self.sent:
                # Unasked: the node no longer owns the channel's slot and dropped us.
                del self.sent[name]
                self.transport._dropped(name)

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        # Under the lock: an add() or remove() still writing would otherwise reconnect
        # the connection closed here (redis-py reconnects a pub/sub on its next command).
        async with self._lock:
            self._reset()
            pubsub, self._pubsub = self._pubsub, None
            if pubsub is not None:
                await _close_pubsub(pubsub)
            try:
                await self._pool.disconnect()
            except Exception:  # closing a broken connection must not hide the shutdown
                logger.debug("error closing the connection to %s", self.name, exc_info=True)


async def _send(pubsub: redis.asyncio.client.PubSub, action: str, name: str, kind: Kind) -> None:
    if action == "subscribe":
        if kind == "shard":
            await pubsub.ssubscribe(name)  # one channel per command: never CROSSSLOT
        elif kind == "pattern":
            await pubsub.psubscribe(name)
        else:
            await pubsub.subscribe(name)
    elif kind == "shard":
        await pubsub.sunsubscribe(name)
    elif kind == "pattern":
        await pubsub.punsubscribe(name)
    else:
        await pubsub.unsubscribe(name)


async def _close_pubsub(pubsub: redis.asyncio.client.PubSub) -> None:
    try:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
    except Exception:
        logger.debug("error closing a pub/sub connection", exc_info=True)


class AsyncClusterTransport:
    """:class:`~sio_redis._aio_transport.AsyncRedisTransport` for a
    ``redis.asyncio.cluster.RedisCluster`` client: one pub/sub connection per node that
    owns a subscribed channel, all read at once."""

    def __init__(self, client: Any, *, owns_client: bool, runtime: Any = None) -> None:
        encoder = getattr(client, "encoder", None)
        if getattr(encoder, "decode_responses", False):
            raise ValueError(
                "the Redis client must not use decode_responses=True: payloads are binary"
            )
        self.client = client
        self.owns_client = owns_client
        #: ``extra`` of connection-state log lines (the manager sets its uid here).
        self.log_extra: dict[str, Any] = {}
        self._queue: asyncio.Queue[Incoming] = asyncio.Queue(_QUEUE_SIZE)
        self._wanted: dict[str, Kind] = {}
        self._where: dict[str, str] = {}  # name -> node name of the link it is assigned to
        self._links: dict[str, _NodeLink] = {}
        self._confirm: dict[str, asyncio.Future[None]] = {}
        self._confirmed_names: set[str] = set()
        self._assign_lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()  # links being closed
        self._refresh = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._home: str | None = None  # the node holding classic channels and patterns
        self._avoid: str | None = None  # a home that just failed

    @property
    def connected(self) -> bool:
        """Every node holding one of our subscriptions is connected and subscribed."""
        return bool(self._links) and all(link.live for link in self._links.values())

    # --- commands ---

    async def publish(self, publish: Publish) -> None:
        await publish_with(self.client, publish)

    async def count(self, command: str, channel: str) -> int:
        """Subscribers of ``channel`` summed over the primaries, as Node counts servers
        on a cluster. Shard subscribers all sit on the slot owner, so an unreachable other
        node changes nothing and is skipped; an unreachable owner is an error
        (``RedisUnavailableError``, as on standalone Redis). Classic subscribers may sit
        anywhere, so only "no node answered" is an error."""
        return await call_redis_async(lambda: self._count(command, channel), _COUNTING)

    async def _count(self, command: str, channel: str) -> int:
        await self.client.initialize()
        nodes = list(self.client.get_primaries())
        owner = self.client.get_node_from_key(channel).name if command == "SHARDNUMSUB" else None
        replies = await asyncio.gather(
            *(
                self.client.execute_command("PUBSUB", command, channel, target_nodes=node)
                for node in nodes
            ),
            return_exceptions=True,
        )
        total = 0
        failures: list[BaseException] = []
        for node, reply in zip(nodes, replies, strict=True):
            if isinstance(reply, BaseException):
                if isinstance(reply, asyncio.CancelledError) or node.name == owner:
                    raise reply
                failures.append(reply)
                continue
            total += _numsub_total(reply)
        if failures and len(failures) == len(nodes):
            raise failures[0]
        return total

    # --- subscriptions ---

    async def subscribe(self, subs: Subscriptions, *, confirm: bool, timeout: float = 10.0) -> None:
        """Subscribe; with ``confirm``, return only once each name's node has
        acknowledged it (so ``SHARDNUMSUB``/``NUMSUB`` count this server)."""
        self._ensure_supervisor()
        items: list[tuple[str, Kind]] = [
            *((c, "channel") for c in subs.channels),
            *((p, "pattern") for p in subs.patterns),
            *((c, "shard") for c in subs.shard_channels),
        ]
        loop = asyncio.get_running_loop()
        waits = []
        for name, kind in items:
            self._wanted[name] = kind
            if confirm and name not in self._confirmed_names:
                fut = self._confirm.get(name)
                if fut is None or fut.done():
                    fut = self._confirm[name] = loop.create_future()
                waits.append(fut)
        await self._assign(name for name, _ in items)
        if waits:
            await asyncio.wait_for(asyncio.gather(*waits), timeout)

    async def unsubscribe(self, subs: Subscriptions) -> None:
        names = (*subs.channels, *subs.patterns, *subs.shard_channels)
        async with self._assign_lock:
            for name in names:
                self._wanted.pop(name, None)
                self._confirmed_names.discard(name)
                where = self._where.pop(name, None)
                link = self._links.get(where) if where is not None else None
                if link is not None:
                    await link.remove(name)
            await self._drop_idle_links()

    async def messages(self) -> AsyncIterator[Incoming]:
        """Messages from every node's subscriptions, in arrival order, forever. Lost
        nodes are retried in the background (see :class:`_NodeLink`)."""
        self._ensure_supervisor()
        while True:
            yield await self._queue.get()

    # --- placement ---

    def _owner(self, name: str, kind: Kind) -> str:
        if kind == "shard":
            node = self.client.get_node_from_key(name)
            return str(node.name)
        if self._home is None or self.client.get_node(node_name=self._home) is None:
            primaries = [n.name for n in self.client.get_primaries()]
            others = [n for n in primaries if n != self._avoid]
            self._home = random.choice(others or primaries)
        return self._home

    async def _assign(self, names: Iterable[str]) -> None:
        """Put each wanted name on the link of its node (creating links as needed),
        moving it off its previous node when the slot map says so."""
        async with self._assign_lock:
            await self.client.initialize()
            for name in names:
                kind = self._wanted.get(name)
                if kind is None:
                    continue  # unsubscribed meanwhile
                try:
                    target = self._owner(name, kind)
                except redis.exceptions.RedisClusterException as exc:
                    # Slot not covered right now: keep the name wanted and retry after
                    # the next slot-map refresh.
                    logger.warning("no Redis Cluster node for %r yet: %s", name, exc)
                    self._request_refresh()
                    continue
                where = self._where.get(name)
                if where is not None and where != target:
                    self._confirmed_names.discard(name)
                    old = self._links.get(where)
                    if old is not None:
                        await old.remove(name)
                link = self._links.get(target)
                if link is None:
                    node = self.client.get_node(node_name=target)
                    link = self._links[target] = _NodeLink(self, node)
                self._where[name] = target
                await link.add(name, kind)
            await self._drop_idle_links()

    async def _drop_idle_links(self) -> None:
        for name, link in list(self._links.items()):
            if not link.names:
                del self._links[name]
                # In a task of its own: a caller cancelled mid-close (the manager
                # cancels its unsubscribe tasks when it closes) must not leave the
                # connection open; close() waits for these.
                task = asyncio.create_task(link.close())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    # --- recovery ---

    def _ensure_supervisor(self) -> None:
        if self._supervisor is None or self._supervisor.done():
            self._supervisor = asyncio.create_task(
                self._supervise(), name="sio-redis cluster supervisor"
            )

    def _request_refresh(self) -> None:
        self._refresh.set()

    async def _supervise(self) -> None:
        """Refresh the slot map when a link asks, then move every wanted name to its
        owner. Requests coalesce; a failed refresh is retried with backoff."""
        delay = 0.0
        while True:
            await self._refresh.wait()
            self._refresh.clear()
            try:
                await self.client.initialize()
                await self.client.nodes_manager.initialize()
                await self._assign(list(self._wanted))
                delay = 0.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay, wait = _backoff(delay)
                logger.warning(
                    "Redis Cluster slot map refresh failed (%s: %s); retrying in %.2f s",
                    type(exc).__name__,
                    exc,
                    wait,
                    extra=self.log_extra,
                )
                await asyncio.sleep(wait)
                self._refresh.set()

    def _link_lost(self, link: _NodeLink) -> None:
        for name in link.names:
            self._confirmed_names.discard(name)
        if link.name == self._home:
            # Classic subscriptions work from any node: move them to another one.
            self._home, self._avoid = None, link.name
        self._request_refresh()

    def _dropped(self, name: str) -> None:
        self._confirmed_names.discard(name)
        self._request_refresh()

    def _confirmed(self, name: str) -> None:
        if name in self._wanted:
            self._confirmed_names.add(name)
        fut = self._confirm.pop(name, None)
        if fut is not None and not fut.done():
            fut.set_result(None)

    async def close(self) -> None:
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        links = list(self._links.values())
        self._links.clear()
        self._where.clear()
        await asyncio.gather(*(link.close() for link in links), *self._closing)
        for fut in self._confirm.values():
            fut.cancel()
        self._confirm.clear()
        if self.owns_client:
            await self.client.aclose()
