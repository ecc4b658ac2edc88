# Generated from sio_redis/asyncio_manager.py by scripts/unasync.py: do not edit.
# Edit the async file, then run `python scripts/unasync.py`.
"""``RedisManager``: the cluster adapter for ``socketio.Server`` (threading, eventlet or gevent).

This file is the I/O half of the manager: how it joins the cluster, runs the effects
:class:`~sio_redis.core.ClusterCore` returns, and waits for requests. What never waits
lives in :class:`~sio_redis._base.ManagerBase`. The sync ``manager.py`` is generated from
``asyncio_manager.py`` by ``scripts/unasync.py``; the tests fail when the two differ, so
edit ``asyncio_manager.py`` and run ``python scripts/unasync.py``.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable
from typing import Any

import socketio

from sio_emitter._chain import UNAVAILABLE as _UNAVAILABLE
from sio_emitter._connect import make_sync_client
from sio_emitter._operator import Publish, check_event, normalize_namespace
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
    to_client_value,
)

from . import _compat
from ._base import ManagerBase, ServerSideHandler
from ._local import all_rooms, wire_room, wire_rooms
from ._sync_runtime import Runtime, resolve
from ._sync_transport import MAX_BACKOFF, make_transport
from ._wire import Subscriptions
from .core import (
    AnswerAllRooms,
    AnswerFetch,
    AnswerSockets,
    CallListeners,
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
from .operators import BroadcastOperator, RemoteSocket, Selection

__all__ = ["RedisManager"]


class RedisManager(ManagerBase, socketio.Manager):  # type: ignore[misc]
    """Cluster adapter for ``socketio.Server``, wire-compatible with Node's
    ``@socket.io/redis-adapter`` 8.

    >>> mgr = RedisManager("redis://localhost:6379/0")          # doctest: +SKIP
    >>> sio = socketio.Server(client_manager=mgr)               # doctest: +SKIP
    >>> sio.emit("hello", "world", to="room1")   # every server's clients  # doctest: +SKIP

    ``url`` is a Redis URL (``redis://``, ``rediss://``, ``unix://``, ``redis+cluster://``,
    ``redis+sentinel://``) or an existing redis-py client of the same flavour as the
    manager (closed by you, not by the manager).

    The manager joins the cluster as early as it can: when the server is created (before it takes
    any client). ``mgr.start()`` joins explicitly and is idempotent.
    """

    name = "sio-redis"
    _operator_class = BroadcastOperator
    _client_kind = "redis-py"

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
        self._setup(
            url,
            key=key,
            sharded=sharded,
            subscription_mode=subscription_mode,
            requests_timeout=requests_timeout,
            publish_on_specific_response_channel=publish_on_specific_response_channel,
            write_only=write_only,
            redis_options=redis_options,
            max_payload=max_payload,
            logger=logger,
            make_client=make_sync_client,
            make_transport=make_transport,
            runtime=Runtime(),
        )

    # --- life cycle ---

    def set_server(self, server: Any) -> None:
        super().set_server(server)
        self._bind(server)
        self._rt.start_soon(self.start, self._spawn)

    def initialize(self) -> None:
        super().initialize()
        if not self._started:
            self._spawn(self.start)

    def start(self) -> None:
        """Join the cluster: subscribe every known namespace and start listening.
        Idempotent; returns once Redis has confirmed the subscriptions."""
        if self._started:
            return
        with self._start_lock:
            if self._started or self._closed:
                return
            for nsp in self._known_namespaces():
                self.core.add_namespace(nsp)
                self._register_rooms(nsp)
            if not self.write_only:
                self._listener = self._rt.spawn(self._supervise)
                try:
                    self.transport.subscribe(self.core.all_subscriptions(), confirm=True)
                except (*_UNAVAILABLE, *self._rt.Timeouts) as exc:
                    # The server still serves its own clients; it joins once Redis is up.
                    self._log().warning(
                        "Redis unavailable at start (%s): joining the cluster in the background",
                        str(exc) or type(exc).__name__,
                        extra=self._log_extra(),
                    )
                    self._spawn(self._join_when_redis_is_up)
            self._started = True
            self._log().info(
                "sio-redis joined the cluster as %s (%s)",
                self.uid,
                ", ".join(sorted(self.core.namespaces)),
                extra=self._log_extra(),
            )

    def _join_when_redis_is_up(self) -> None:
        delay, attempt = 0.1, 0
        while not self._closed:
            attempt += 1
            wait = delay * (0.5 + random.random() / 2)
            self._log().info(
                "joining the cluster: attempt %d in %.2f s", attempt, wait, extra=self._log_extra()
            )
            self._rt.sleep(wait)
            try:
                self.transport.subscribe(self.core.all_subscriptions(), confirm=True)
            except (*_UNAVAILABLE, *self._rt.Timeouts):
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            self._log().info(
                "sio-redis joined the cluster as %s", self.uid, extra=self._log_extra()
            )
            return

    def _ready(self, nsp: str) -> None:
        self.start()
        subs = self.core.add_namespace(nsp)
        if subs is not None and not self.write_only:
            rooms = self._register_rooms(nsp)
            subs = Subscriptions(subs.channels, subs.patterns, subs.shard_channels + rooms)
            self.transport.subscribe(subs, confirm=True)
            self._log().info("subscribed namespace %s", nsp, extra=self._log_extra(nsp))

    def close(self) -> None:
        """Leave the cluster: stop listening, unsubscribe, fail pending requests, and close
        the Redis connections the manager opened."""
        if self._closed:
            return
        self._closed = True
        listener, self._listener = self._listener, None
        tasks = [t for t in (listener, *self._tasks) if t is not None]
        self._rt.cancel(tasks)
        self.core.pending.clear()
        for event in self._waiters.values():
            event.set()
        # Closing the connections ends any read still in progress (redis-py can swallow
        # a cancellation that lands inside one; threads cannot be cancelled at all).
        self.transport.close()
        still = self._rt.join(tasks, 5.0)
        if still:
            self._log().warning(
                "sio-redis: %d tasks did not stop on close", len(still), extra=self._log_extra()
            )
        self._started = False
        self._log().info("sio-redis left the cluster", extra=self._log_extra())

    # --- the listener: Redis -> core -> effects ---

    def _supervise(self) -> None:
        """Run the listener; should it ever stop or fail while the manager is open, log
        it and start it again (a silently dead subscriber is worse than a crash)."""
        streak = 0  # restarts in a row; reset once a listener has run for a while
        while not self._closed:
            began = self._rt.time()
            try:
                self._listen()
            except self._rt.Cancelled:
                raise
            except Exception:
                self._log().exception("sio-redis listener failed", extra=self._log_extra())
            if self._closed:
                return
            streak = 1 if self._rt.time() - began > 30 else streak + 1
            self.listener_restarts += 1
            delay = min(0.1 * 2 ** min(streak, 6), 5.0)
            self._log().error(
                "sio-redis listener stopped; restart %d in %.2f s",
                self.listener_restarts,
                delay,
                extra=self._log_extra(),
            )
            self._rt.sleep(delay)

    def _listen(self) -> None:
        self._listening = True
        try:
            for channel, payload, pattern in self.transport.messages():
                try:
                    effect = self.core.receive(channel, payload, pattern)
                    if effect is not None:
                        self._run(effect)
                except self._rt.Cancelled:
                    raise
                except Exception:
                    self._log().exception("sio-redis failed handling a message on %r", channel)
        finally:
            self._listening = False

    def _run(self, effect: Effect) -> None:
        self._EFFECTS[type(effect)](self, effect)

    def _on_deliver(self, e: Deliver) -> None:
        self._deliver_local(e.nsp, to_client_value(e.packet.data), e.opts)

    def _on_deliver_with_ack(self, e: DeliverWithAck) -> None:
        targets = self._targets(e.nsp, e.opts)
        self.transport.publish(self.core.client_count_reply(e.reply, len(targets)))
        data = to_client_value(e.packet.data)
        relay = functools.partial(self._relay_ack, e.reply)
        for sid in targets:
            socketio.Manager.emit(
                self, data[0], tuple(data[1:]), e.nsp, room=sid, callback=relay
            )

    def _relay_ack(self, reply: Any, *args: Any) -> None:
        # Node relays the first argument of a client's ack only.
        self._publish_reply(self.core.ack_reply, reply, args[0] if args else None)

    def _on_join(self, e: JoinRooms) -> None:
        for sid in self._targets(e.nsp, e.opts):
            for room in e.rooms:
                socketio.Manager.enter_room(self, sid, e.nsp, room)

    def _on_leave(self, e: LeaveRooms) -> None:
        for sid in self._targets(e.nsp, e.opts):
            for room in e.rooms:
                socketio.Manager.leave_room(self, sid, e.nsp, room)

    def _on_disconnect(self, e: DisconnectLocal) -> None:
        self._disconnect_local(e.nsp, e.opts, e.close)

    def _on_fetch(self, e: AnswerFetch) -> None:
        entries = self._local_entries(e.nsp, e.opts)
        self._publish_reply(self.core.fetch_reply, e.reply, tuple(entries))

    def _on_all_rooms(self, e: AnswerAllRooms) -> None:
        rooms = tuple(all_rooms(self.rooms, e.nsp))
        self._publish_reply(self.core.all_rooms_reply, e.reply, rooms)

    def _on_sockets(self, e: AnswerSockets) -> None:
        sids = tuple(self._targets(e.nsp, BroadcastOptions(e.rooms)))
        self._publish_reply(self.core.sockets_reply, e.reply, sids)

    def _on_call_listeners(self, e: CallListeners) -> None:
        handler = self._handlers.get((e.nsp, e.event))
        if handler is None:
            return
        # A slow listener must not hold up the delivery of later messages.
        self._spawn(self._call_listener, handler, e)

    def _call_listener(self, handler: ServerSideHandler, e: CallListeners) -> None:
        result = resolve(handler(*e.args))
        if e.reply is not None:
            self._publish_reply(self.core.server_side_emit_reply, e.reply, result)

    def _on_socket_request(self, e: SocketRequest) -> None:
        request = e.request
        sid, nsp = request.sid, request.nsp
        if not self.is_connected(sid, nsp):
            return  # only the server holding the socket answers
        if request.kind is RequestType.REMOTE_JOIN and request.room is not None:
            socketio.Manager.enter_room(self, sid, nsp, request.room)
        elif request.kind is RequestType.REMOTE_LEAVE and request.room is not None:
            socketio.Manager.leave_room(self, sid, nsp, request.room)
        elif request.kind is RequestType.REMOTE_DISCONNECT:
            self._disconnect_local(nsp, BroadcastOptions((sid,)), request.close)
        self.transport.publish(self.core.legacy_ack(e.reply))

    def _on_response(self, e: ResponseArrived) -> None:
        event = self._waiters.get(e.request_id)
        if event is not None:
            event.set()

    _EFFECTS: dict[type, Callable[[RedisManager, Any], None]] = {
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

    def _publish_reply(self, make: Callable[..., Any], reply: Any, value: Any) -> None:
        publish = self._encode_reply(make, reply, value)
        if publish is not None:
            self.transport.publish(publish)

    # --- local sockets ---

    def _deliver_local(self, nsp: str, data: list[Any], opts: BroadcastOptions) -> None:
        targets = self._targets(nsp, opts)
        if not targets:
            return
        if self._fast:
            # Encoded once, queued to every socket with no coroutine per recipient.
            packets = _compat.prepare_event(self.server, nsp, data)
            _compat.deliver_sync(self.server, targets.values(), packets)
        else:
            socketio.Manager.emit(
                self, data[0], tuple(data[1:]), nsp, room=list(targets)
            )

    def _disconnect_local(self, nsp: str, opts: BroadcastOptions, close: bool) -> None:
        for sid, eio_sid in self._targets(nsp, opts).items():
            if close:
                # Node's disconnect(true): leave every namespace of the connection first,
                # so clients read "io server disconnect" (and do not reconnect), then
                # close it. JS clients ignore engine.io's CLOSE packet: without the
                # DISCONNECTs they would only notice at the next ping timeout.
                for name in list(self.rooms):
                    other = self.sid_from_eio_sid(eio_sid, name)
                    if other is not None:
                        self.server.disconnect(other, namespace=name, ignore_queue=True)
                self.server.eio.disconnect(eio_sid)
            else:
                self.server.disconnect(sid, namespace=nsp, ignore_queue=True)

    def _local_entries(self, nsp: str, opts: BroadcastOptions) -> list[SocketEntry]:
        entries = []
        for sid, eio_sid in self._targets(nsp, opts).items():
            try:
                session = self.server.get_session(sid, namespace=nsp)
            except Exception:
                session = {}
            entries.append(self._entry(nsp, sid, eio_sid, self._checked_session(sid, session)))
        return entries

    # --- python-socketio's manager interface ---

    def pre_connect(self, eio_sid: str, namespace: str) -> Any:
        sid = super().pre_connect(eio_sid, namespace)
        if self._note_connect(eio_sid, namespace, sid):
            self._spawn(self._ready, namespace)
        return sid

    def disconnect(self, sid: str, namespace: str, **kwargs: Any) -> Any:
        self._socket_info.pop((namespace, sid), None)
        return super().disconnect(sid, namespace, **kwargs)

    def emit(
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
            super().emit(
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
            self._broadcast(selection, event, args)
        elif isinstance(room, str) and self._is_local(room, namespace):
            super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback
            )
        else:
            selection = selection.flag("expectSingleResponse", True)
            self._spawn(self._remote_callback, selection, event, args, callback)

    def _remote_callback(
        self, selection: Selection, event: str, args: tuple[Any, ...], callback: Callable[..., Any]
    ) -> None:
        try:
            acks = self._op_emit_with_ack(selection, event, args, check_reserved=False)
        except AckTimeoutError as exc:
            acks = exc.responses
            if not acks:
                self._log().warning("no ack for %r within %.1f s", event, self.requests_timeout)
                return
        if acks:
            resolve(callback(acks[0]))

    def can_disconnect(self, sid: str, namespace: str) -> Any:
        if self._is_local(sid, namespace):
            return super().can_disconnect(sid, namespace)
        self._send(DisconnectSockets(self.uid, namespace, BroadcastOptions((sid,)), False))
        return False

    def enter_room(self, sid: str, namespace: str, room: Any, eio_sid: Any = None) -> Any:
        if self._is_local(sid, namespace):
            return super().enter_room(sid, namespace, room, eio_sid=eio_sid)
        msg = SocketsJoin(self.uid, namespace, BroadcastOptions((sid,)), (wire_room(room),))
        self._send(msg)
        return None

    def leave_room(self, sid: str, namespace: str, room: Any) -> Any:
        if self._is_local(sid, namespace):
            return super().leave_room(sid, namespace, room)
        msg = SocketsLeave(self.uid, namespace, BroadcastOptions((sid,)), (wire_room(room),))
        self._send(msg)
        return None

    def close_room(self, room: Any, namespace: str | None = None) -> Any:
        namespace = namespace or "/"
        super().close_room(room, namespace)
        name = wire_room(room)
        self._send(SocketsLeave(self.uid, namespace, BroadcastOptions((name,)), (name,)))

    def _send(self, msg: Message) -> None:
        if self._closed:
            self._log().debug("closed: %s not published", type(msg).__name__)
            return
        self._ready(msg.nsp)
        self.transport.publish(self.core.publish(msg))

    # --- Node-style API ---

    def server_count(self, namespace: str = "/") -> int:
        """How many servers (this one included) serve ``namespace`` in the cluster."""
        nsp = normalize_namespace(namespace)
        self._ready(nsp)
        command, channel = self.core.count_command(nsp)
        return int(self.transport.count(command, channel))

    def all_rooms(self, namespace: str = "/") -> set[str]:
        """Every room of ``namespace`` on every server (socket-id rooms included)."""
        nsp = normalize_namespace(namespace)
        rooms = set(all_rooms(self.rooms, nsp))
        if self.sharded:
            return rooms  # Node's sharded adapter has no cluster-wide allRooms either
        self._check_requests_allowed()
        deadline = self._rt.time() + self.requests_timeout
        expected = self._within(deadline, self.server_count, nsp) - 1
        if expected > 0:
            pending = self._request(
                PendingKind.ALL_ROOMS,
                nsp,
                expected,
                lambda rid: AllRooms(self.uid, nsp, rid),
                deadline,
            )
            rooms.update(pending.items)
        return rooms

    def server_side_emit(self, event: str, *args: Any, namespace: str = "/") -> None:
        """Call ``event`` listeners on every other server (Node's ``serverSideEmit``)."""
        if not isinstance(event, str):
            raise TypeError("event must be a str")
        nsp = normalize_namespace(namespace)
        self._send(ServerSideEmit(self.uid, nsp, [event, *args]))

    def server_side_emit_with_ack(
        self, event: str, *args: Any, namespace: str = "/", timeout: float | None = None
    ) -> list[Any]:
        """Like :meth:`server_side_emit`, returning every other server's reply. Raises
        :class:`~sio_redis.RequestTimeoutError` (``partial`` holds the replies received)
        if some do not answer in time."""
        if not isinstance(event, str):
            raise TypeError("event must be a str")
        self._check_requests_allowed()
        nsp = normalize_namespace(namespace)
        deadline = self._rt.time() + (self.requests_timeout if timeout is None else timeout)
        expected = self._within(deadline, self.server_count, nsp) - 1
        if expected <= 0:
            return []
        pending = self._request(
            PendingKind.SERVER_SIDE_EMIT,
            nsp,
            expected,
            lambda rid: ServerSideEmit(self.uid, nsp, [event, *args], rid),
            deadline,
        )
        return list(pending.items)

    # --- requests ---

    def _request(
        self,
        kind: PendingKind,
        nsp: str,
        expected: int,
        build: Callable[[str], Message],
        deadline: float,
        event: Any = None,
        local_done: Callable[[], bool] = lambda: True,
        prepared: tuple[str, Publish] | None = None,
    ) -> Pending:
        event = event or self._rt.event()
        request_id, publish = self.core.start_request(kind, nsp, expected, build, prepared)
        self._waiters[request_id] = event
        try:
            self._within(deadline, self.transport.publish, publish)
            self._wait(
                event, lambda: self._done(request_id) and local_done(), deadline - self._rt.time()
            )
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

    def _within(self, deadline: float, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``, as a part of a request that must end by ``deadline``."""
        try:
            return self._rt.bounded(max(deadline - self._rt.time(), 0.001), fn, *args)
        except self._rt.Timeouts:
            raise RequestTimeoutError(
                "timeout reached: Redis did not answer in time", partial=[]
            ) from None

    def _wait(self, event: Any, done: Callable[[], bool], timeout: float) -> None:
        deadline = self._rt.time() + timeout
        while not done():
            remaining = deadline - self._rt.time()
            if remaining <= 0 or not self._rt.wait(event, remaining):
                return
            event.clear()

    # --- operator actions (the broadcast operators call these) ---

    def _broadcast(self, selection: Selection, event: str, args: tuple[Any, ...]) -> None:
        nsp = selection.nsp
        data = [event, *args]
        opts = selection.opts
        # Encode first: an unencodable argument fails before anything is delivered.
        publish = self.core.broadcast(nsp, Packet(data, nsp), opts)
        if self._closed:
            publish = None  # a closed manager serves its own clients only
        if publish is not None:
            self._ready(nsp)
        self._deliver_local(nsp, data, opts)
        if publish is not None:
            try:
                self.transport.publish(publish)
            except RedisUnavailableError:
                if not opts.flags.get("volatile"):
                    raise
                self._log().debug("volatile broadcast not published: Redis unavailable")

    def _op_emit(self, selection: Selection, event: str, args: tuple[Any, ...]) -> None:
        check_event(event)
        self._broadcast(selection, event, args)

    def _op_emit_with_ack(
        self,
        selection: Selection,
        event: str,
        args: tuple[Any, ...],
        *,
        check_reserved: bool = True,
    ) -> list[Any]:
        if check_reserved:
            check_event(event)
        if not selection.flags.get("local"):
            self._check_requests_allowed()
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
        event_ready = self._rt.event()
        targets = self._targets(nsp, opts)

        def on_ack(*ack: Any) -> None:
            acks.append(ack[0] if ack else None)
            event_ready.set()

        for sid in targets:
            socketio.Manager.emit(
                self, event, tuple(args), nsp, room=sid, callback=on_ack
            )
        local_expected = len(targets)
        remote: list[Any] = []
        deadline = self._rt.time() + timeout
        try:
            if not selection.flags.get("local"):
                expected = self._within(deadline, self.server_count, nsp) - 1
                if expected > 0:
                    pending = self._request(
                        PendingKind.BROADCAST_ACK,
                        nsp,
                        expected,
                        lambda rid: build(request_id=rid),
                        deadline,
                        event=event_ready,
                        local_done=lambda: len(acks) >= local_expected,
                        prepared=prepared,
                    )
                    remote = pending.items
            self._wait(
                event_ready, lambda: len(acks) >= local_expected, deadline - self._rt.time()
            )
            if len(acks) < local_expected:
                raise AckTimeoutError("operation has timed out", responses=acks + remote)
        except RequestTimeoutError as exc:
            raise AckTimeoutError("operation has timed out", responses=acks + exc.partial) from None
        return acks + remote

    def _op_fetch_sockets(self, selection: Selection) -> list[RemoteSocket]:
        if not selection.flags.get("local"):
            self._check_requests_allowed()
        nsp = selection.nsp
        opts = selection.opts
        deadline = self._rt.time() + self._timeout(selection)
        entries = self._local_entries(nsp, opts)
        if not selection.flags.get("local"):
            expected = self._within(deadline, self.server_count, nsp) - 1
            if expected > 0:
                pending = self._request(
                    PendingKind.FETCH,
                    nsp,
                    expected,
                    lambda rid: FetchSockets(self.uid, nsp, opts, rid),
                    deadline,
                )
                entries.extend(pending.items)
        operator = self.of(nsp)
        return [RemoteSocket(operator, e.id, e.handshake, e.rooms, e.data) for e in entries]

    def _op_sockets_join(self, selection: Selection, rooms: tuple[str, ...]) -> None:
        self._on_join(JoinRooms(selection.nsp, selection.opts, rooms))
        if not selection.flags.get("local"):
            self._send(SocketsJoin(self.uid, selection.nsp, selection.opts, rooms))

    def _op_sockets_leave(self, selection: Selection, rooms: tuple[str, ...]) -> None:
        self._on_leave(LeaveRooms(selection.nsp, selection.opts, rooms))
        if not selection.flags.get("local"):
            self._send(SocketsLeave(self.uid, selection.nsp, selection.opts, rooms))

    def _op_disconnect_sockets(self, selection: Selection, close: bool) -> None:
        if not selection.flags.get("local"):
            self._send(DisconnectSockets(self.uid, selection.nsp, selection.opts, close))
        self._disconnect_local(selection.nsp, selection.opts, close)
