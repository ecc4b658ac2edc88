"""The messages servers and emitters exchange, independent of how they are encoded.

One dataclass per kind of message. The classic adapter (``classic.py``) and the
ClusterAdapter protocol of the sharded adapter (``cluster.py``) give them different
type numbers and encodings, but the meaning, and so the handling, is the same. That lets
one adapter core serve the classic, sharded and (later) streams transports.

``uid`` is the sending server's uid (``"emitter"`` for emitters, ``None`` where the wire
carries none, as in classic responses and the emitter's join/leave/disconnect).
``nsp`` is the namespace, from the message or, in classic mode, from the channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Union

__all__ = [
    "EMITTER_UID",
    "AdapterClose",
    "AllRooms",
    "AllRoomsResponse",
    "Broadcast",
    "BroadcastAck",
    "BroadcastClientCount",
    "BroadcastOptions",
    "DisconnectSockets",
    "FetchSockets",
    "FetchSocketsResponse",
    "Heartbeat",
    "LegacyAck",
    "LegacySocketRequest",
    "Message",
    "MessageType",
    "Packet",
    "PacketType",
    "RequestType",
    "ServerSideEmit",
    "ServerSideEmitResponse",
    "SocketEntry",
    "Sockets",
    "SocketsJoin",
    "SocketsLeave",
    "SocketsResponse",
]

#: The uid emitters put in their messages; never equal to a server's uid.
EMITTER_UID = "emitter"


class PacketType(IntEnum):
    """socket.io-parser packet types (protocol 5)."""

    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


class RequestType(IntEnum):
    """Classic adapter request numbers (``@socket.io/redis-adapter`` ``RequestType``)."""

    SOCKETS = 0
    ALL_ROOMS = 1
    REMOTE_JOIN = 2
    REMOTE_LEAVE = 3
    REMOTE_DISCONNECT = 4
    REMOTE_FETCH = 5
    SERVER_SIDE_EMIT = 6
    BROADCAST = 7
    BROADCAST_CLIENT_COUNT = 8
    BROADCAST_ACK = 9


class MessageType(IntEnum):
    """ClusterAdapter message numbers (``socket.io-adapter`` ``MessageType``)."""

    INITIAL_HEARTBEAT = 1
    HEARTBEAT = 2
    BROADCAST = 3
    SOCKETS_JOIN = 4
    SOCKETS_LEAVE = 5
    DISCONNECT_SOCKETS = 6
    FETCH_SOCKETS = 7
    FETCH_SOCKETS_RESPONSE = 8
    SERVER_SIDE_EMIT = 9
    SERVER_SIDE_EMIT_RESPONSE = 10
    BROADCAST_CLIENT_COUNT = 11
    BROADCAST_ACK = 12
    ADAPTER_CLOSE = 13


@dataclass(frozen=True, slots=True)
class Packet:
    """A Socket.IO packet as adapters relay it: ``data`` is ``[event, *args]`` for events."""

    data: list[Any]
    nsp: str = "/"
    type: int = PacketType.EVENT
    id: int | None = None


@dataclass(frozen=True, slots=True)
class BroadcastOptions:
    """Which sockets a message targets: in any of ``rooms`` (all when empty), in none of
    ``except_``. ``flags`` keeps Node's flag names (``volatile``, ``compress``, ``timeout``,
    ...) in the order they were set, because that order is on the wire."""

    rooms: tuple[str, ...] = ()
    except_: tuple[str, ...] = ()
    flags: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SocketEntry:
    """One socket in a fetch-sockets reply (Node's ``RemoteSocket`` details)."""

    id: str
    handshake: Mapping[str, Any]
    rooms: tuple[str, ...]
    data: Any = None


# --- requests and plain messages -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Deliver ``packet`` to the targeted sockets. With ``request_id``, a broadcast whose
    client acks are relayed back (classic request 7, cluster message 3)."""

    uid: str | None
    nsp: str
    packet: Packet
    opts: BroadcastOptions = BroadcastOptions()
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class SocketsJoin:
    uid: str | None
    nsp: str
    opts: BroadcastOptions
    rooms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SocketsLeave:
    uid: str | None
    nsp: str
    opts: BroadcastOptions
    rooms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DisconnectSockets:
    uid: str | None
    nsp: str
    opts: BroadcastOptions
    close: bool = False


@dataclass(frozen=True, slots=True)
class FetchSockets:
    uid: str | None
    nsp: str
    opts: BroadcastOptions
    request_id: str


@dataclass(frozen=True, slots=True)
class ServerSideEmit:
    """``data`` is ``[event, *args]``; with ``request_id`` the sender wants replies."""

    uid: str | None
    nsp: str
    data: list[Any]
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class AllRooms:
    """Classic only: every server answers with its local room names."""

    uid: str | None
    nsp: str
    request_id: str


@dataclass(frozen=True, slots=True)
class Sockets:
    """Classic request 0 (never sent by Node 8.3, still answered by it)."""

    uid: str | None
    nsp: str
    request_id: str
    rooms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LegacySocketRequest:
    """The pre-``opts`` classic forms of requests 2, 3 and 4, aimed at one socket id.

    Node 8.3 still obeys them (the server holding ``sid`` acts and answers with a
    :class:`LegacyAck`) but never sends them.
    """

    uid: str | None
    nsp: str
    kind: RequestType
    request_id: str
    sid: str
    room: str | None = None
    close: bool = False


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Cluster messages 1 (``initial=True``) and 2: only heartbeat adapters act on them."""

    uid: str | None
    nsp: str
    initial: bool = False


@dataclass(frozen=True, slots=True)
class AdapterClose:
    """Cluster message 13: the sender is leaving (heartbeat adapters only)."""

    uid: str | None
    nsp: str


# --- responses -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchSocketsResponse:
    uid: str | None
    nsp: str
    request_id: str
    sockets: tuple[SocketEntry, ...]


@dataclass(frozen=True, slots=True)
class SocketsResponse:
    uid: str | None
    nsp: str
    request_id: str
    sockets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AllRoomsResponse:
    uid: str | None
    nsp: str
    request_id: str
    rooms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ServerSideEmitResponse:
    """``data`` is the first argument the remote listener passed to its callback."""

    uid: str | None
    nsp: str
    request_id: str
    data: Any


@dataclass(frozen=True, slots=True)
class BroadcastClientCount:
    uid: str | None
    nsp: str
    request_id: str
    client_count: int


@dataclass(frozen=True, slots=True)
class BroadcastAck:
    """``data`` is the first argument of one client's ack."""

    uid: str | None
    nsp: str
    request_id: str
    data: Any


@dataclass(frozen=True, slots=True)
class LegacyAck:
    """Classic ``{requestId}`` reply to a :class:`LegacySocketRequest`."""

    uid: str | None
    nsp: str
    request_id: str


Message = Union[
    Broadcast,
    SocketsJoin,
    SocketsLeave,
    DisconnectSockets,
    FetchSockets,
    ServerSideEmit,
    AllRooms,
    Sockets,
    LegacySocketRequest,
    Heartbeat,
    AdapterClose,
    FetchSocketsResponse,
    SocketsResponse,
    AllRoomsResponse,
    ServerSideEmitResponse,
    BroadcastClientCount,
    BroadcastAck,
    LegacyAck,
]
