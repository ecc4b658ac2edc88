"""``AsyncRedisManager``: a python-socketio client manager for ``socketio.AsyncServer`` that
joins a Node ``@socket.io/redis-adapter`` cluster.

The manager is a thin asyncio driver: :class:`~sio_redis.core.ClusterCore` decides what
each Redis message means and what to publish; this module runs those decisions against
python-socketio (local sockets) and :class:`~sio_redis._aio_transport.AsyncRedisTransport`
(Redis).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from sio_emitter._chain import UNAVAILABLE as _UNAVAILABLE
from sio_emitter._connect import make_async_client, redact_url
from sio_emitter._operator import RESERVED_EVENTS, Publish, normalize_namespace
from sio_emitter.protocol import (
    DEFAULT_MAX_PAYLOAD,
    AllRooms,
    Broadcast,
    BroadcastOptions,
    DisconnectSockets,
    FetchSockets,
    Message,
    Packet,
    RequestType,
    ServerSideEmit,
    SocketEntry,
    SocketsJoin,
    SocketsLeave,
    SubscriptionMode,
    dumps_json,
    to_client_value,
)

from . import _compat
from ._aio_transport import make_transport
from ._local import (
    all_rooms,
    handshake,
    local_keys,
    room_names,
    select,
    wire_room,
    wire_rooms,
)
from ._wire import ClassicWire, ShardedWire, Subscriptions
from .core import (
    AnswerAllRooms,
    AnswerFetch,
    AnswerSockets,
    CallListeners,
    ClusterCore,
    Deliver,
    DeliverWithAck,
    DisconnectLocal,
    Effect,
    JoinRooms,
    LeaveRooms,
    Pending,
    PendingKind,
    ResponseArrived,
    SocketRequest,
)
from .errors import AckTimeoutError, RedisUnavailableError, RequestTimeoutError
from .operators import AsyncBroadcastOperator, RemoteSocket, Selection

__all__ = ["AsyncRedisManager"]

logger = logging.getLogger("sio_redis")

ServerSideHandler = Callable[..., Any]


class AsyncRedisManager(socketio.AsyncManager):  # type: ignore[misc]
    """Cluster adapter for ``socketio.AsyncServer``, wire-compatible with Node's
    ``@socket.io/redis-adapter`` 8.

    >>> mgr = AsyncRedisManager("redis://localhost:6379/0")          # doctest: +SKIP
    >>> sio = socketio.AsyncServer(client_manager=mgr)               # doctest: +SKIP
    >>> await sio.emit("hello", "world", to="room1")   # every server's clients  # doctest: +SKIP

    ``url`` is a Redis URL (see :func:`sio_emitter._connect.make_async_client`) or an
    existing ``redis.asyncio.Redis`` client (closed by you, not by the manager).

    The manager joins the cluster as soon as it can: at construction of the server if an
    event loop is running then, otherwise at the server's first request or the first
    cluster call. ``await mgr.start()`` joins explicitly and is idempotent, e.g.
    ``socketio.ASGIApp(sio, on_startup=mgr.start)``.
    """

    name = "sio-redis"

    def __init__(
        self,
        url: Any = "redis://localhost:6379/0",
        *,
        key: str = "socket.io",
        sharded: bool = False,
        subscription_mode: SubscriptionMode = "dynamic",
        requests_timeout: float = 5.0,
        publish_on_specific_response_channel: bool = True,
        write_only: bool = False,
        redis_options: dict[str, Any] | None = None,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        logger: logging.Logger | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(key, str) or not key:
            raise ValueError("key must be a non-empty str")
        if isinstance(requests_timeout, bool) or not isinstance(requests_timeout, (int, float)):
            raise TypeError("requests_timeout must be a number of seconds")
        if requests_timeout <= 0:
            raise ValueError("requests_timeout must be positive")
        if subscription_mode not in ("static", "dynamic", "dynamic-private"):
            raise ValueError(f"unknown subscription_mode {subscription_mode!r}")
        if isinstance(url, str):
            client = make_async_client(url, **(redis_options or {}))
            owns = True
            self.url = redact_url(url)
        elif hasattr(url, "publish") and hasattr(url, "pubsub"):
            client, owns, self.url = url, False, repr(url)
        else:
            raise TypeError("url must be a Redis URL or a redis.asyncio client")
        wire = (
            ShardedWire(key, subscription_mode)
            if sharded
            else ClassicWire(key, publish_on_specific_response_channel)
        )
        self.key = key
        self.sharded = bool(sharded)
        self.requests_timeout = float(requests_timeout)
        self.write_only = bool(write_only)
        self.logger = logger
        self.core = ClusterCore(wire, has_room=self._has_room, max_payload=max_payload)
        self.transport = make_transport(client, owns_client=owns)
        self._started = False
        self._closed = False
        self._start_lock: asyncio.Lock | None = None
        self._listener: asyncio.Task[None] | None = None
        self._waiters: dict[str, asyncio.Event] = {}
        self._handlers: dict[tuple[str, str], ServerSideHandler] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        # (namespace, sid) -> (connect time, CONNECT payload), for handshakes
        self._socket_info: dict[tuple[str, str], tuple[float, Any]] = {}
        self._connect_auth: dict[tuple[str, str], Any] = {}
        self._fast = False

    # --- identity and health ---

    @property
    def uid(self) -> str:
        """This server's uid in the cluster (what peers see in messages)."""
        return self.core.uid

    @property
    def healthy(self) -> bool:
        """Whether the Redis subscription is live (always ``False`` when write-only)."""
        return self._listener is not None and not self._listener.done() and self.transport.connected

    def __repr__(self) -> str:
        mode = "sharded" if self.sharded else "classic"
        return f"AsyncRedisManager(url={self.url!r}, key={self.key!r}, {mode}, uid={self.uid!r})"

    # --- life cycle ---

    def set_server(self, server: Any) -> None:
        super().set_server(server)
        self._fast = _compat.fast_delivery_available(server)
        _compat.capture_auth(server, self._store_auth)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: join at the first request or cluster call
        self._spawn(self.start())

    def initialize(self) -> None:
        super().initialize()
        if not self._started:
            self._spawn(self.start())

    def _known_namespaces(self) -> set[str]:
        # server-side listeners make a namespace, as Node's io.of(nsp).on(event) does
        names = {"/", *self.rooms.keys(), *(nsp for nsp, _ in self._handlers)}
        server = self.server
        if server is not None:
            names.update(n for n in getattr(server, "handlers", {}) if isinstance(n, str))
            names.update(n for n in getattr(server, "namespace_handlers", {}) if isinstance(n, str))
            declared = getattr(server, "namespaces", None)
            if isinstance(declared, (list, tuple, set)):
                names.update(n for n in declared if isinstance(n, str))
        names.discard("*")
        return names

    async def start(self) -> None:
        """Join the cluster: subscribe every known namespace and start listening.
        Idempotent; returns once Redis has confirmed the subscriptions."""
        if self._started:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._started or self._closed:
                return
            for nsp in self._known_namespaces():
                self.core.add_namespace(nsp)
                self._register_rooms(nsp)
            if not self.write_only:
                self._listener = asyncio.create_task(self._listen(), name="sio-redis listener")
                try:
                    await self.transport.subscribe(self.core.all_subscriptions(), confirm=True)
                except (*_UNAVAILABLE, asyncio.TimeoutError) as exc:
                    # The server still serves its own clients; it joins once Redis is up.
                    self._log().warning(
                        "Redis unavailable at start (%s): joining the cluster in the background",
                        exc,
                    )
                    self._spawn(self._join_when_redis_is_up())
            self._started = True
            self._log().info(
                "sio-redis joined the cluster as %s (%s)",
                self.uid,
                ", ".join(sorted(self.core.namespaces)),
            )

    async def _join_when_redis_is_up(self) -> None:
        delay = 0.1
        while not self._closed:
            await asyncio.sleep(delay * (0.5 + random.random() / 2))
            try:
                await self.transport.subscribe(self.core.all_subscriptions(), confirm=True)
            except (*_UNAVAILABLE, asyncio.TimeoutError):
                delay = min(delay * 2, 5.0)
                continue
            self._log().info("sio-redis joined the cluster as %s", self.uid)
            return

    async def _ready(self, nsp: str) -> None:
        await self.start()
        subs = self.core.add_namespace(nsp)
        if subs is not None and not self.write_only:
            rooms = self._register_rooms(nsp)
            subs = Subscriptions(subs.channels, subs.patterns, subs.shard_channels + rooms)
            await self.transport.subscribe(subs, confirm=True)

    def _register_rooms(self, nsp: str) -> tuple[str, ...]:
        """Room channels (sharded dynamic modes) for rooms that existed before ``nsp`` was
        served; the caller subscribes them."""
        channels: list[str] = []
        if self.sharded:
            for room, members in self.rooms.get(nsp, {}).items():
                if isinstance(room, (str, int)) and not isinstance(room, bool):
                    subs = self.core.room_created(nsp, wire_room(room), room in members)
                    if subs is not None:
                        channels.extend(subs.shard_channels)
        return tuple(channels)

    async def close(self) -> None:
        """Leave the cluster: stop listening, unsubscribe, fail pending requests, and close
        the Redis connections the manager opened."""
        if self._closed:
            return
        self._closed = True
        listener, self._listener = self._listener, None
        tasks: list[asyncio.Future[Any]] = [t for t in (listener, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        # redis-py 8 can swallow a cancellation that lands inside a read; closing the
        # connections then ends that read, so wait briefly, close, and wait again.
        still: set[asyncio.Future[Any]] = set()
        if tasks:
            _, still = await asyncio.wait(tasks, timeout=1.0)
        self.core.pending.clear()
        for event in self._waiters.values():
            event.set()
        await self.transport.close()
        if still:
            for left in still:
                left.cancel()
            _, still = await asyncio.wait(still, timeout=5.0)
            if still:
                self._log().warning("sio-redis: %d tasks did not stop on close", len(still))
        self._started = False

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log().error("sio-redis background task failed", exc_info=task.exception())

    def _log(self) -> logging.Logger:
        return self.logger or logger

    # --- the listener: Redis -> core -> effects ---

    async def _listen(self) -> None:
        async for channel, payload, pattern in self.transport.messages():
            try:
                effect = self.core.receive(channel, payload, pattern)
                if effect is not None:
                    await self._run(effect)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._log().exception("sio-redis failed handling a message on %r", channel)

    async def _run(self, effect: Effect) -> None:
        await self._EFFECTS[type(effect)](self, effect)

    def _has_room(self, nsp: str, room: str) -> bool:
        local = self.rooms.get(nsp, ())
        return any(name in local for name in local_keys(room))

    async def _on_deliver(self, e: Deliver) -> None:
        await self._deliver_local(e.nsp, to_client_value(e.packet.data), e.opts)

    async def _on_deliver_with_ack(self, e: DeliverWithAck) -> None:
        targets = select(self.rooms, e.nsp, e.opts)
        await self.transport.publish(self.core.client_count_reply(e.reply, len(targets)))
        data = to_client_value(e.packet.data)
        relay = functools.partial(self._relay_ack, e.reply)
        for sid in targets:
            await socketio.AsyncManager.emit(
                self, data[0], tuple(data[1:]), e.nsp, room=sid, callback=relay
            )

    async def _relay_ack(self, reply: Any, *args: Any) -> None:
        # Node relays the first argument of a client's ack only.
        await self._publish_reply(self.core.ack_reply, reply, args[0] if args else None)

    async def _on_join(self, e: JoinRooms) -> None:
        for sid in select(self.rooms, e.nsp, e.opts):
            for room in e.rooms:
                await socketio.AsyncManager.enter_room(self, sid, e.nsp, room)

    async def _on_leave(self, e: LeaveRooms) -> None:
        for sid in select(self.rooms, e.nsp, e.opts):
            for room in e.rooms:
                await socketio.AsyncManager.leave_room(self, sid, e.nsp, room)

    async def _on_disconnect(self, e: DisconnectLocal) -> None:
        await self._disconnect_local(e.nsp, e.opts, e.close)

    async def _on_fetch(self, e: AnswerFetch) -> None:
        entries = await self._local_entries(e.nsp, e.opts)
        await self._publish_reply(self.core.fetch_reply, e.reply, tuple(entries))

    async def _on_all_rooms(self, e: AnswerAllRooms) -> None:
        rooms = tuple(all_rooms(self.rooms, e.nsp))
        await self._publish_reply(self.core.all_rooms_reply, e.reply, rooms)

    async def _on_sockets(self, e: AnswerSockets) -> None:
        sids = tuple(select(self.rooms, e.nsp, BroadcastOptions(e.rooms)))
        await self._publish_reply(self.core.sockets_reply, e.reply, sids)

    async def _on_call_listeners(self, e: CallListeners) -> None:
        handler = self._handlers.get((e.nsp, e.event))
        if handler is None:
            return
        # A slow listener must not hold up the delivery of later messages.
        self._spawn(self._call_listener(handler, e))

    async def _call_listener(self, handler: ServerSideHandler, e: CallListeners) -> None:
        result = handler(*e.args)
        if inspect.isawaitable(result):
            result = await result
        if e.reply is not None:
            await self._publish_reply(self.core.server_side_emit_reply, e.reply, result)

    async def _on_socket_request(self, e: SocketRequest) -> None:
        request = e.request
        sid, nsp = request.sid, request.nsp
        if not self.is_connected(sid, nsp):
            return  # only the server holding the socket answers
        if request.kind is RequestType.REMOTE_JOIN and request.room is not None:
            await socketio.AsyncManager.enter_room(self, sid, nsp, request.room)
        elif request.kind is RequestType.REMOTE_LEAVE and request.room is not None:
            await socketio.AsyncManager.leave_room(self, sid, nsp, request.room)
        elif request.kind is RequestType.REMOTE_DISCONNECT:
            await self._disconnect_local(nsp, BroadcastOptions((sid,)), request.close)
        await self.transport.publish(self.core.legacy_ack(e.reply))

    async def _on_response(self, e: ResponseArrived) -> None:
        event = self._waiters.get(e.request_id)
        if event is not None:
            event.set()

    _EFFECTS: dict[type, Callable[[AsyncRedisManager, Any], Awaitable[None]]] = {
        Deliver: _on_deliver,
        DeliverWithAck: _on_deliver_with_ack,
        JoinRooms: _on_join,
        LeaveRooms: _on_leave,
        DisconnectLocal: _on_disconnect,
        AnswerFetch: _on_fetch,
        AnswerAllRooms: _on_all_rooms,
        AnswerSockets: _on_sockets,
        CallListeners: _on_call_listeners,
        SocketRequest: _on_socket_request,
        ResponseArrived: _on_response,
    }

    async def _publish_reply(self, make: Callable[..., Any], reply: Any, value: Any) -> None:
        try:
            publish = make(reply, value)
        except (TypeError, ValueError) as exc:
            # An unencodable session or ack must not leave the requester waiting forever
            # with no clue: say so here; the requester times out.
            self._log().warning("sio-redis could not encode a reply: %s", exc)
            return
        await self.transport.publish(publish)

    # --- local sockets ---

    async def _deliver_local(self, nsp: str, data: list[Any], opts: BroadcastOptions) -> None:
        targets = select(self.rooms, nsp, opts)
        if not targets:
            return
        if self._fast:
            packets = _compat.prepare_event(self.server, nsp, data)
            send = self.server.eio.send_packet
            for eio_sid in targets.values():
                for pkt in packets:
                    try:
                        await send(eio_sid, pkt)
                    except Exception:  # a socket closing mid-broadcast is not an error
                        self._log().debug("delivery to %s failed", eio_sid, exc_info=True)
        else:
            await socketio.AsyncManager.emit(
                self, data[0], tuple(data[1:]), nsp, room=list(targets)
            )

    async def _disconnect_local(self, nsp: str, opts: BroadcastOptions, close: bool) -> None:
        for sid, eio_sid in select(self.rooms, nsp, opts).items():
            if close:
                # Node's disconnect(true): leave every namespace of the connection first,
                # so clients read "io server disconnect" (and do not reconnect), then
                # close it. JS clients ignore engine.io's CLOSE packet: without the
                # DISCONNECTs they would only notice at the next ping timeout.
                for name in list(self.rooms):
                    other = self.sid_from_eio_sid(eio_sid, name)
                    if other is not None:
                        await self.server.disconnect(other, namespace=name, ignore_queue=True)
                await self.server.eio.disconnect(eio_sid)
            else:
                await self.server.disconnect(sid, namespace=nsp, ignore_queue=True)

    async def _session(self, sid: str, nsp: str) -> Any:
        try:
            data = await self.server.get_session(sid, namespace=nsp)
        except Exception:
            return {}
        try:
            dumps_json(data)
        except (TypeError, ValueError):
            self._log().warning("session of %s cannot cross the cluster; sent as {}", sid)
            return {}
        return data

    async def _local_entries(self, nsp: str, opts: BroadcastOptions) -> list[SocketEntry]:
        environs = getattr(self.server, "environ", {})
        entries = []
        for sid, eio_sid in select(self.rooms, nsp, opts).items():
            issued, auth = self._socket_info.get((nsp, sid), (time.time(), {}))
            entries.append(
                SocketEntry(
                    sid,
                    handshake(environs.get(eio_sid), issued, auth),
                    tuple(room_names(self.rooms, nsp, sid)),
                    await self._session(sid, nsp),
                )
            )
        return entries

    def _store_auth(self, eio_sid: str, nsp: str, auth: Any) -> None:
        self._connect_auth[(eio_sid, nsp)] = auth

    def _is_local(self, sid: str, nsp: str) -> bool:
        return bool(self.is_connected(sid, nsp) or self.is_pre_connected(sid, nsp))

    # --- python-socketio's manager interface ---

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: Any = None) -> Any:
        created = room is not None and room not in self.rooms.get(namespace, {})
        result = super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        if created and self.sharded:
            self._room_created(namespace, room, is_socket_id=room == sid)
        return result

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> Any:
        result = super().basic_leave_room(sid, namespace, room)
        if self.sharded and room is not None and room not in self.rooms.get(namespace, {}):
            subs = self.core.room_deleted(namespace, wire_room(room))
            if subs is not None and self._started and not self.write_only:
                self._spawn(self.transport.unsubscribe(subs))
        return result

    def _room_created(self, nsp: str, room: Any, is_socket_id: bool) -> None:
        # Sharded dynamic modes: a room gets its own channel while it has local members.
        if not isinstance(room, (str, int)) or isinstance(room, bool):
            return
        subs = self.core.room_created(nsp, wire_room(room), is_socket_id)
        if subs is not None and self._started and not self.write_only:
            self._spawn(self.transport.subscribe(subs, confirm=True))

    async def pre_connect(self, eio_sid: str, namespace: str) -> Any:
        sid = await super().pre_connect(eio_sid, namespace)
        auth = self._connect_auth.pop((eio_sid, namespace), None)
        if sid is not None:
            self._socket_info[(namespace, sid)] = (time.time(), auth)
            if namespace not in self.core.namespaces:
                self._spawn(self._ready(namespace))
        return sid

    async def disconnect(self, sid: str, namespace: str, **kwargs: Any) -> Any:
        self._socket_info.pop((namespace, sid), None)
        return await super().disconnect(sid, namespace, **kwargs)

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: Any = None,
        skip_sid: Any = None,
        callback: Callable[..., Any] | None = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        room = to if to is not None else room
        namespace = namespace or "/"
        if kwargs.get("ignore_queue"):
            await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback
            )
            return
        if isinstance(data, tuple):
            args = data
        elif data is None:
            args = ()
        else:
            args = (data,)
        selection = Selection(namespace, wire_rooms(room), wire_rooms(skip_sid))
        if callback is None:
            await self._broadcast(selection, event, args)
        elif isinstance(room, str) and self._is_local(room, namespace):
            await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback
            )
        else:
            selection = selection.flag("expectSingleResponse", True)
            self._spawn(self._remote_callback(selection, event, args, callback))

    async def _remote_callback(
        self, selection: Selection, event: str, args: tuple[Any, ...], callback: Callable[..., Any]
    ) -> None:
        try:
            acks = await self._op_emit_with_ack(selection, event, args, check_reserved=False)
        except AckTimeoutError as exc:
            acks = exc.responses
            if not acks:
                self._log().warning("no ack for %r within %.1f s", event, self.requests_timeout)
                return
        if acks:
            result = callback(acks[0])
            if inspect.isawaitable(result):
                await result

    async def can_disconnect(self, sid: str, namespace: str) -> Any:
        if self._is_local(sid, namespace):
            return await super().can_disconnect(sid, namespace)
        await self._send(DisconnectSockets(self.uid, namespace, BroadcastOptions((sid,)), False))
        return False

    async def enter_room(self, sid: str, namespace: str, room: Any, eio_sid: Any = None) -> Any:
        if self._is_local(sid, namespace):
            return await super().enter_room(sid, namespace, room, eio_sid=eio_sid)
        msg = SocketsJoin(self.uid, namespace, BroadcastOptions((sid,)), (wire_room(room),))
        await self._send(msg)
        return None

    async def leave_room(self, sid: str, namespace: str, room: Any) -> Any:
        if self._is_local(sid, namespace):
            return await super().leave_room(sid, namespace, room)
        msg = SocketsLeave(self.uid, namespace, BroadcastOptions((sid,)), (wire_room(room),))
        await self._send(msg)
        return None

    async def close_room(self, room: Any, namespace: str | None = None) -> Any:
        namespace = namespace or "/"
        await super().close_room(room, namespace)
        name = wire_room(room)
        await self._send(SocketsLeave(self.uid, namespace, BroadcastOptions((name,)), (name,)))

    async def _send(self, msg: Message) -> None:
        await self._ready(msg.nsp)
        await self.transport.publish(self.core.publish(msg))

    # --- Node-style API ---

    def of(self, namespace: str = "/") -> AsyncBroadcastOperator:
        """An operator on ``namespace`` (``"chat"`` and ``"/chat"`` alike)."""
        return AsyncBroadcastOperator(self, Selection(normalize_namespace(namespace)))

    def on_server_side_emit(
        self, event: str, namespace: str = "/", handler: ServerSideHandler | None = None
    ) -> Any:
        """Register ``handler(*args)`` for server-side emits of ``event`` from other
        servers (Node's ``io.on(event, ...)`` for ``serverSideEmit``); sync or async. With
        an ack requested, its return value is the reply. Usable as a decorator."""
        if not isinstance(event, str):
            raise TypeError("event must be a str")
        nsp = normalize_namespace(namespace)

        def register(fn: ServerSideHandler) -> ServerSideHandler:
            if not callable(fn):
                raise TypeError("handler must be callable")
            self._handlers[(nsp, event)] = fn
            if self._started and nsp not in self.core.namespaces:
                self._spawn(self._ready(nsp))
            return fn

        return register if handler is None else register(handler)

    async def server_count(self, namespace: str = "/") -> int:
        """How many servers (this one included) serve ``namespace`` in the cluster."""
        nsp = normalize_namespace(namespace)
        await self._ready(nsp)
        command, channel = self.core.count_command(nsp)
        return await self.transport.count(command, channel)

    async def all_rooms(self, namespace: str = "/") -> set[str]:
        """Every room of ``namespace`` on every server (socket-id rooms included)."""
        nsp = normalize_namespace(namespace)
        rooms = set(all_rooms(self.rooms, nsp))
        if self.sharded:
            return rooms  # Node's sharded adapter has no cluster-wide allRooms either
        expected = await self.server_count(nsp) - 1
        if expected > 0:
            pending = await self._request(
                PendingKind.ALL_ROOMS,
                nsp,
                expected,
                lambda rid: AllRooms(self.uid, nsp, rid),
                self.requests_timeout,
            )
            rooms.update(pending.items)
        return rooms

    async def server_side_emit(self, event: str, *args: Any, namespace: str = "/") -> None:
        """Call ``event`` listeners on every other server (Node's ``serverSideEmit``)."""
        if not isinstance(event, str):
            raise TypeError("event must be a str")
        nsp = normalize_namespace(namespace)
        await self._send(ServerSideEmit(self.uid, nsp, [event, *args]))

    async def server_side_emit_with_ack(
        self, event: str, *args: Any, namespace: str = "/", timeout: float | None = None
    ) -> list[Any]:
        """Like :meth:`server_side_emit`, returning every other server's reply. Raises
        :class:`~sio_redis.RequestTimeoutError` (``partial`` holds the replies received)
        if some do not answer in time."""
        if not isinstance(event, str):
            raise TypeError("event must be a str")
        nsp = normalize_namespace(namespace)
        expected = await self.server_count(nsp) - 1
        if expected <= 0:
            return []
        pending = await self._request(
            PendingKind.SERVER_SIDE_EMIT,
            nsp,
            expected,
            lambda rid: ServerSideEmit(self.uid, nsp, [event, *args], rid),
            self.requests_timeout if timeout is None else timeout,
        )
        return list(pending.items)

    # --- requests ---

    async def _request(
        self,
        kind: PendingKind,
        nsp: str,
        expected: int,
        build: Callable[[str], Message],
        timeout: float,
        event: asyncio.Event | None = None,
        local_done: Callable[[], bool] = lambda: True,
        prepared: tuple[str, Publish] | None = None,
    ) -> Pending:
        event = event or asyncio.Event()
        request_id, publish = self.core.start_request(kind, nsp, expected, build, prepared)
        self._waiters[request_id] = event
        try:
            await self.transport.publish(publish)
            await self._wait(event, lambda: self._done(request_id) and local_done(), timeout)
            pending = self.core.pending.get(request_id)
            if pending is None:
                raise ConnectionError("the manager was closed")
            if not (pending.done and local_done()):
                raise RequestTimeoutError(
                    f"timeout reached: only {pending.responses} responses received "
                    f"out of {pending.expected} ({kind.value})",
                    partial=list(pending.items),
                )
            return pending
        finally:
            self._waiters.pop(request_id, None)
            self.core.finish_request(request_id)

    def _done(self, request_id: str) -> bool:
        pending = self.core.pending.get(request_id)
        return pending is None or pending.done

    async def _wait(self, event: asyncio.Event, done: Callable[[], bool], timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except asyncio.TimeoutError:
                return
            event.clear()

    def _timeout(self, selection: Selection) -> float:
        ms = selection.flags.get("timeout")
        return self.requests_timeout if ms is None else float(ms) / 1000

    # --- operator actions (AsyncBroadcastOperator calls these) ---

    async def _broadcast(self, selection: Selection, event: str, args: tuple[Any, ...]) -> None:
        nsp = selection.nsp
        data = [event, *args]
        opts = selection.opts
        # Encode first: an unencodable argument fails before anything is delivered.
        publish = self.core.broadcast(nsp, Packet(data, nsp), opts)
        if publish is not None:
            await self._ready(nsp)
        await self._deliver_local(nsp, data, opts)
        if publish is not None:
            try:
                await self.transport.publish(publish)
            except RedisUnavailableError:
                if not opts.flags.get("volatile"):
                    raise
                self._log().debug("volatile broadcast not published: Redis unavailable")

    async def _op_emit(self, selection: Selection, event: str, args: tuple[Any, ...]) -> None:
        _check_event(event)
        await self._broadcast(selection, event, args)

    async def _op_emit_with_ack(
        self,
        selection: Selection,
        event: str,
        args: tuple[Any, ...],
        *,
        check_reserved: bool = True,
    ) -> list[Any]:
        if check_reserved:
            _check_event(event)
        nsp = selection.nsp
        timeout = self._timeout(selection)
        selection = selection.flag("timeout", round(timeout * 1000))
        opts = selection.opts
        data = [event, *args]
        packet = Packet(data, nsp)
        build = functools.partial(Broadcast, self.uid, nsp, packet, opts)
        # Encoded before delivering anything, so a bad argument fails cleanly; the same
        # bytes are published if other servers turn out to be there.
        prepared = self.core.prepare_request(lambda rid: build(request_id=rid))

        acks: list[Any] = []
        event_ready = asyncio.Event()
        targets = select(self.rooms, nsp, opts)

        def on_ack(*ack: Any) -> None:
            acks.append(ack[0] if ack else None)
            event_ready.set()

        for sid in targets:
            await socketio.AsyncManager.emit(
                self, event, tuple(args), nsp, room=sid, callback=on_ack
            )
        local_expected = len(targets)
        remote: list[Any] = []
        try:
            if not selection.flags.get("local"):
                expected = await self.server_count(nsp) - 1
                if expected > 0:
                    pending = await self._request(
                        PendingKind.BROADCAST_ACK,
                        nsp,
                        expected,
                        lambda rid: build(request_id=rid),
                        timeout,
                        event=event_ready,
                        local_done=lambda: len(acks) >= local_expected,
                        prepared=prepared,
                    )
                    remote = pending.items
            await self._wait(event_ready, lambda: len(acks) >= local_expected, timeout)
            if len(acks) < local_expected:
                raise AckTimeoutError("operation has timed out", responses=acks + remote)
        except RequestTimeoutError as exc:
            raise AckTimeoutError("operation has timed out", responses=acks + exc.partial) from None
        return acks + remote

    async def _op_fetch_sockets(self, selection: Selection) -> list[RemoteSocket]:
        nsp = selection.nsp
        opts = selection.opts
        entries = await self._local_entries(nsp, opts)
        if not selection.flags.get("local"):
            expected = await self.server_count(nsp) - 1
            if expected > 0:
                pending = await self._request(
                    PendingKind.FETCH,
                    nsp,
                    expected,
                    lambda rid: FetchSockets(self.uid, nsp, opts, rid),
                    self._timeout(selection),
                )
                entries.extend(pending.items)
        operator = self.of(nsp)
        return [RemoteSocket(operator, e.id, e.handshake, e.rooms, e.data) for e in entries]

    async def _op_sockets_join(self, selection: Selection, rooms: tuple[str, ...]) -> None:
        await self._on_join(JoinRooms(selection.nsp, selection.opts, rooms))
        if not selection.flags.get("local"):
            await self._send(SocketsJoin(self.uid, selection.nsp, selection.opts, rooms))

    async def _op_sockets_leave(self, selection: Selection, rooms: tuple[str, ...]) -> None:
        await self._on_leave(LeaveRooms(selection.nsp, selection.opts, rooms))
        if not selection.flags.get("local"):
            await self._send(SocketsLeave(self.uid, selection.nsp, selection.opts, rooms))

    async def _op_disconnect_sockets(self, selection: Selection, close: bool) -> None:
        if not selection.flags.get("local"):
            await self._send(DisconnectSockets(self.uid, selection.nsp, selection.opts, close))
        await self._disconnect_local(selection.nsp, selection.opts, close)


def _check_event(event: str) -> None:
    if not isinstance(event, str):
        raise TypeError(f"event name must be a str, not {type(event).__name__}")
    if event in RESERVED_EVENTS:
        raise ValueError(f'"{event}" is a reserved event name')
