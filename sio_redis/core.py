"""The cluster adapter's core, without I/O: no Redis, no asyncio, no threads.

:meth:`ClusterCore.receive` takes what arrived on a subscribed channel and returns the one
thing to do about it (an *effect*: deliver to local sockets, answer a request, note a
response), or ``None``. The outgoing side returns :class:`~sio_emitter._operator.Publish`
values. The async and sync managers run the effects and send the publishes; the rules
about who handles what live here once.

Message handling is one table, :attr:`ClusterCore._HANDLERS`, keyed by message class: a
type's handling sits in one method whatever the wire flavour (classic or sharded).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar, get_args

from sio_emitter._operator import Publish
from sio_emitter.protocol import (
    DEFAULT_MAX_PAYLOAD,
    AdapterClose,
    AllRooms,
    AllRoomsResponse,
    Broadcast,
    BroadcastAck,
    BroadcastClientCount,
    BroadcastOptions,
    DisconnectSockets,
    FetchSockets,
    FetchSocketsResponse,
    Heartbeat,
    LegacyAck,
    LegacySocketRequest,
    Message,
    Packet,
    ProtocolError,
    ServerSideEmit,
    ServerSideEmitResponse,
    SocketEntry,
    Sockets,
    SocketsJoin,
    SocketsLeave,
    SocketsResponse,
    classic,
)

from ._wire import ReplyTo, Route, Subscriptions, Wire

__all__ = [
    "AnswerAllRooms",
    "AnswerFetch",
    "AnswerSockets",
    "CallListeners",
    "ClusterCore",
    "Deliver",
    "DeliverWithAck",
    "DisconnectLocal",
    "Effect",
    "JoinRooms",
    "LeaveRooms",
    "Pending",
    "PendingKind",
    "ResponseArrived",
    "SocketRequest",
]

logger = logging.getLogger("sio_redis")


# --- effects: what the I/O layer is asked to do ----------------------------------------


@dataclass(frozen=True, slots=True)
class Deliver:
    """Send ``packet`` to the local sockets ``opts`` selects."""

    nsp: str
    packet: Packet
    opts: BroadcastOptions


@dataclass(frozen=True, slots=True)
class DeliverWithAck:
    """Deliver with an ack id per socket; reply with the socket count, then each ack."""

    nsp: str
    packet: Packet
    opts: BroadcastOptions
    reply: ReplyTo


@dataclass(frozen=True, slots=True)
class JoinRooms:
    nsp: str
    opts: BroadcastOptions
    rooms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LeaveRooms:
    nsp: str
    opts: BroadcastOptions
    rooms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DisconnectLocal:
    nsp: str
    opts: BroadcastOptions
    close: bool


@dataclass(frozen=True, slots=True)
class AnswerFetch:
    """Reply with :meth:`ClusterCore.fetch_reply` listing the local sockets ``opts`` selects."""

    nsp: str
    opts: BroadcastOptions
    reply: ReplyTo


@dataclass(frozen=True, slots=True)
class AnswerAllRooms:
    nsp: str
    reply: ReplyTo


@dataclass(frozen=True, slots=True)
class AnswerSockets:
    nsp: str
    rooms: tuple[str, ...]
    reply: ReplyTo


@dataclass(frozen=True, slots=True)
class CallListeners:
    """Run the namespace's server-side listeners for ``event``; with ``reply``, send the
    first answer back with :meth:`ClusterCore.server_side_emit_reply`."""

    nsp: str
    event: str
    args: list[Any]
    reply: ReplyTo | None


@dataclass(frozen=True, slots=True)
class SocketRequest:
    """A legacy one-socket join/leave/disconnect: act if ``request.sid`` is local, then
    answer with :meth:`ClusterCore.legacy_ack`."""

    request: LegacySocketRequest
    reply: ReplyTo


@dataclass(frozen=True, slots=True)
class ResponseArrived:
    """A response was added to pending request ``request_id``; ``done`` when complete."""

    request_id: str
    done: bool


Effect = (
    Deliver
    | DeliverWithAck
    | JoinRooms
    | LeaveRooms
    | DisconnectLocal
    | AnswerFetch
    | AnswerAllRooms
    | AnswerSockets
    | CallListeners
    | SocketRequest
    | ResponseArrived
)


# --- pending requests ------------------------------------------------------------------


class PendingKind(Enum):
    FETCH = "fetchSockets"
    ALL_ROOMS = "allRooms"
    SOCKETS = "sockets"
    SERVER_SIDE_EMIT = "serverSideEmit"
    BROADCAST_ACK = "broadcast with ack"


@dataclass(slots=True)
class Pending:
    """Bookkeeping of one request this server sent, until it completes or times out.

    ``expected`` is how many servers must answer (the server count minus this one).
    For broadcasts with acks, each server first reports how many clients it reached,
    and the request completes once every report and every ack is in.
    """

    kind: PendingKind
    nsp: str
    expected: int
    responses: int = 0
    items: list[Any] = field(default_factory=list)
    client_count: int = 0

    @property
    def done(self) -> bool:
        if self.kind is PendingKind.BROADCAST_ACK:
            return self.responses >= self.expected and len(self.items) >= self.client_count
        return self.responses >= self.expected

    def add(self, msg: Message) -> bool:
        """Account for a response; ``False`` when it does not fit this request."""
        kind = self.kind
        if kind is PendingKind.FETCH and type(msg) is FetchSocketsResponse:
            self.items.extend(msg.sockets)
        elif kind is PendingKind.SOCKETS and type(msg) is SocketsResponse:
            self.items.extend(msg.sockets)
        elif kind is PendingKind.SOCKETS and type(msg) is FetchSocketsResponse:
            self.items.extend(entry.id for entry in msg.sockets)  # empty reply: ambiguous
        elif kind is PendingKind.ALL_ROOMS and type(msg) is AllRoomsResponse:
            self.items.extend(msg.rooms)
        elif kind is PendingKind.SERVER_SIDE_EMIT and type(msg) is ServerSideEmitResponse:
            self.items.append(msg.data)
        elif kind is PendingKind.BROADCAST_ACK and type(msg) is BroadcastClientCount:
            self.client_count += msg.client_count
        elif kind is PendingKind.BROADCAST_ACK and type(msg) is BroadcastAck:
            self.items.append(msg.data)
            return True  # acks are not server responses
        else:
            return False
        self.responses += 1
        return True


# --- warnings that a flood cannot turn into a full disk --------------------------------


class _RateLimitedWarnings:
    def __init__(self, per_window: int = 20, window: float = 10.0) -> None:
        self.per_window = per_window
        self.window = window
        self._start = 0.0
        self._count = 0
        self._suppressed = 0

    def warn(self, message: str, *args: Any, extra: dict[str, Any] | None = None) -> None:
        now = time.monotonic()
        if now - self._start >= self.window:
            if self._suppressed:
                logger.warning(
                    "%d more malformed messages dropped in the last %.0f s",
                    self._suppressed,
                    self.window,
                    extra=extra,
                )
            self._start, self._count, self._suppressed = now, 0, 0
        if self._count < self.per_window:
            self._count += 1
            logger.warning(message, *args, extra=extra)
        else:
            self._suppressed += 1


# --- the core --------------------------------------------------------------------------

_Handler = Callable[["ClusterCore", Any], "Effect | None"]


class ClusterCore:
    """Everything one server knows about the cluster protocol, for any number of
    namespaces, in either wire flavour.

    ``has_room(nsp, room)`` tells whether a room exists locally; the classic flavour
    uses it to drop room broadcasts for rooms this server does not hold before
    decoding them, as Node does.
    """

    def __init__(
        self,
        wire: Wire,
        *,
        has_room: Callable[[str, str], bool],
        max_payload: int = DEFAULT_MAX_PAYLOAD,
    ) -> None:
        self.wire = wire
        self.has_room = has_room
        self.max_payload = max_payload
        self.pending: dict[str, Pending] = {}
        self.namespaces: dict[str, Subscriptions] = {}
        self._routes: dict[str, Route] = {}
        self._warnings = _RateLimitedWarnings()

    @property
    def uid(self) -> str:
        return self.wire.uid

    # --- namespaces and subscriptions ---

    def add_namespace(self, nsp: str) -> Subscriptions | None:
        """Start serving ``nsp``: what to subscribe to, or ``None`` if already served."""
        if nsp in self.namespaces:
            return None
        subs, routes = self.wire.subscriptions(nsp)
        self.namespaces[nsp] = subs
        self._routes.update(routes)
        return subs

    def remove_namespace(self, nsp: str) -> Subscriptions | None:
        subs = self.namespaces.pop(nsp, None)
        if subs is not None:
            for name in (*subs.channels, *subs.patterns, *subs.shard_channels):
                self._routes.pop(name, None)
        return subs

    def room_created(self, nsp: str, room: str, is_socket_id: bool) -> Subscriptions | None:
        """A room appeared locally: the channel to subscribe to in the sharded dynamic
        modes (Node's ``create-room`` handler), else ``None``."""
        subs = self.namespaces.get(nsp)
        wire = self.wire
        if (
            subs is None
            or not wire.sharded
            or not wire.channels(nsp).subscribes_to_room(  # type: ignore[union-attr]
                room, is_socket_id
            )
        ):
            return None
        channel, route = wire.room_route(nsp, room)  # type: ignore[union-attr]
        if channel in self._routes:
            return None
        self._routes[channel] = route
        return Subscriptions(shard_channels=(channel,))

    def room_deleted(self, nsp: str, room: str) -> Subscriptions | None:
        """A room emptied locally: the channel to unsubscribe from, if one was taken."""
        if not self.wire.sharded:
            return None
        channel, _ = self.wire.room_route(nsp, room)  # type: ignore[union-attr]
        subs = self.namespaces.get(nsp)
        if subs is not None and channel in subs.shard_channels:
            return None  # a room named like our uid shares the response channel: keep it
        if self._routes.pop(channel, None) is None:
            return None
        return Subscriptions(shard_channels=(channel,))

    def all_subscriptions(self) -> Subscriptions:
        """Every channel and pattern currently needed, e.g. to resubscribe after a reconnect."""
        subs = self.namespaces.values()
        base = {c for s in subs for c in s.shard_channels}
        rooms = [c for c, r in self._routes.items() if r.kind == "message" and c not in base]
        return Subscriptions(
            channels=tuple(c for s in subs for c in s.channels),
            patterns=tuple(p for s in subs for p in s.patterns),
            shard_channels=(*(c for s in subs for c in s.shard_channels), *rooms),
        )

    def count_command(self, nsp: str) -> tuple[str, str]:
        """The Redis command and channel whose subscriber count is the server count."""
        return self.wire.count_command(nsp)

    # --- incoming ---

    def receive(self, channel: str, payload: bytes, pattern: str | None = None) -> Effect | None:
        """Handle one message from a subscribed channel (``pattern`` for pattern matches)."""
        route = self._routes.get(pattern if pattern is not None else channel)
        if route is None:
            route = self._routes.get(channel)
            if route is None:
                return None
        if route.kind == "broadcast":
            room = self.wire.channels(route.nsp).room_of(channel)  # type: ignore[union-attr]
            if room is None:
                return None
            if room and not self.has_room(route.nsp, room):
                return None  # not ours: skip decoding, as Node does
        try:
            msg = self.wire.decode(route, channel, payload, self.max_payload)
        except ProtocolError as exc:
            self._warnings.warn(
                "dropped malformed message on %r: %s",
                channel,
                exc,
                extra={"uid": self.uid, "nsp": route.nsp},
            )
            return None
        if msg is None:
            return None
        if route.kind == "response" or type(msg) in _RESPONSES:
            return self._on_response(msg)
        if msg.uid == self.uid or msg.nsp != route.nsp:
            return None  # our own echo, or another namespace's
        handler = self._HANDLERS.get(type(msg))
        if handler is None:
            logger.debug("ignored %s on %r", type(msg).__name__, channel)
            return None
        return handler(self, msg)

    def _on_broadcast(self, msg: Broadcast) -> Effect:
        if msg.request_id is None:
            return Deliver(msg.nsp, msg.packet, msg.opts)
        return DeliverWithAck(
            msg.nsp, msg.packet, msg.opts, self.wire.reply_to(msg, msg.request_id)
        )

    def _on_join(self, msg: SocketsJoin) -> Effect:
        return JoinRooms(msg.nsp, msg.opts, msg.rooms)

    def _on_leave(self, msg: SocketsLeave) -> Effect:
        return LeaveRooms(msg.nsp, msg.opts, msg.rooms)

    def _on_disconnect(self, msg: DisconnectSockets) -> Effect:
        return DisconnectLocal(msg.nsp, msg.opts, msg.close)

    def _on_fetch(self, msg: FetchSockets) -> Effect:
        return AnswerFetch(msg.nsp, msg.opts, self.wire.reply_to(msg, msg.request_id))

    def _on_all_rooms(self, msg: AllRooms) -> Effect:
        return AnswerAllRooms(msg.nsp, self.wire.reply_to(msg, msg.request_id))

    def _on_sockets(self, msg: Sockets) -> Effect:
        return AnswerSockets(msg.nsp, msg.rooms, self.wire.reply_to(msg, msg.request_id))

    def _on_server_side_emit(self, msg: ServerSideEmit) -> Effect:
        reply = None
        if msg.request_id is not None:
            reply = self.wire.reply_to(msg, msg.request_id)
        return CallListeners(msg.nsp, msg.data[0], msg.data[1:], reply)

    def _on_legacy(self, msg: LegacySocketRequest) -> Effect:
        return SocketRequest(msg, self.wire.reply_to(msg, msg.request_id))

    def _on_heartbeat(self, msg: Heartbeat | AdapterClose) -> None:
        return None  # only heartbeat adapters track peers; Redis ones do not

    def _on_response(self, msg: Message) -> Effect | None:
        request_id = getattr(msg, "request_id", None)
        pending = self.pending.get(request_id) if isinstance(request_id, str) else None
        if pending is None or not pending.add(msg):
            return None  # someone else's, or late after a timeout
        return ResponseArrived(request_id, pending.done)  # type: ignore[arg-type]

    _HANDLERS: ClassVar[dict[type, _Handler]] = {
        Broadcast: _on_broadcast,
        SocketsJoin: _on_join,
        SocketsLeave: _on_leave,
        DisconnectSockets: _on_disconnect,
        FetchSockets: _on_fetch,
        AllRooms: _on_all_rooms,
        Sockets: _on_sockets,
        ServerSideEmit: _on_server_side_emit,
        LegacySocketRequest: _on_legacy,
        Heartbeat: _on_heartbeat,
        AdapterClose: _on_heartbeat,
    }

    # --- outgoing ---

    def publish(self, msg: Message) -> Publish:
        """Encode a message this server sends (broadcasts, join/leave/disconnect, ...)."""
        return self.wire.publish(msg)

    def broadcast(self, nsp: str, packet: Packet, opts: BroadcastOptions) -> Publish | None:
        """The publish for a broadcast without acks; ``None`` for ``local`` ones."""
        if opts.flags.get("local"):
            return None
        return self.wire.publish(Broadcast(self.uid, nsp, packet, opts))

    def prepare_request(self, build: Callable[[str], Message]) -> tuple[str, Publish]:
        """A fresh request id and the encoded request ``build`` makes from it, not yet
        pending: encoding early makes bad arguments fail before anything happens."""
        request_id = self.wire.new_request_id()
        while request_id in self.pending:
            request_id = self.wire.new_request_id()
        return request_id, self.wire.publish(build(request_id))

    def start_request(
        self,
        kind: PendingKind,
        nsp: str,
        expected: int,
        build: Callable[[str], Message],
        prepared: tuple[str, Publish] | None = None,
    ) -> tuple[str, Publish]:
        """Register a pending request expecting ``expected`` server responses; ``build``
        makes its message from the new request id, unless ``prepared`` (from
        :meth:`prepare_request`) already holds it."""
        if prepared is None or prepared[0] in self.pending:
            prepared = self.prepare_request(build)
        self.pending[prepared[0]] = Pending(kind, nsp, expected)
        return prepared

    def finish_request(self, request_id: str) -> Pending | None:
        """Forget a pending request (completed, timed out or cancelled) and return it."""
        return self.pending.pop(request_id, None)

    # --- replies to remote requests ---

    def fetch_reply(self, to: ReplyTo, sockets: tuple[SocketEntry, ...]) -> Publish:
        return self.wire.reply(to, FetchSocketsResponse(self.uid, to.nsp, to.request_id, sockets))

    def all_rooms_reply(self, to: ReplyTo, rooms: tuple[str, ...]) -> Publish:
        return self.wire.reply(to, AllRoomsResponse(self.uid, to.nsp, to.request_id, rooms))

    def sockets_reply(self, to: ReplyTo, sids: tuple[str, ...]) -> Publish:
        return self.wire.reply(to, SocketsResponse(self.uid, to.nsp, to.request_id, sids))

    def server_side_emit_reply(self, to: ReplyTo, data: Any) -> Publish:
        return self.wire.reply(to, ServerSideEmitResponse(self.uid, to.nsp, to.request_id, data))

    def client_count_reply(self, to: ReplyTo, count: int) -> Publish:
        return self.wire.reply(to, BroadcastClientCount(self.uid, to.nsp, to.request_id, count))

    def ack_reply(self, to: ReplyTo, data: Any) -> Publish:
        return self.wire.reply(to, BroadcastAck(self.uid, to.nsp, to.request_id, data))

    def legacy_ack(self, to: ReplyTo) -> Publish:
        return self.wire.reply(to, LegacyAck(self.uid, to.nsp, to.request_id))


# Responses say what they are by type; a response routed anywhere is handled as one.
_RESPONSES = frozenset(get_args(classic.ClassicResponse))
