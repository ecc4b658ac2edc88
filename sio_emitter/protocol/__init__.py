"""The wire protocol of Node's Socket.IO Redis family, as pure functions over dataclasses.

No I/O happens here: no Redis, no sockets, no asyncio. ``sio_emitter`` and ``sio_redis``
both build on it.

>>> from sio_emitter.protocol import Broadcast, BroadcastOptions, Packet, classic
>>> msg = Broadcast("emitter", "/", Packet(["hello", 1]), BroadcastOptions(rooms=("r1",)))
>>> classic.decode_broadcast(classic.encode_broadcast(msg)) == msg
True
"""

from . import classic, cluster
from ._values import (
    DEFAULT_MAX_PAYLOAD,
    MAX_DEPTH,
    ProtocolError,
    dumps_json,
    has_binary,
    loads_any,
    pack,
    to_client_value,
    unpack,
)
from .channels import SOCKET_ID_LENGTH, ClassicChannels, ShardedChannels, SubscriptionMode
from .messages import (
    EMITTER_UID,
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
    MessageType,
    Packet,
    PacketType,
    RequestType,
    ServerSideEmit,
    ServerSideEmitResponse,
    SocketEntry,
    Sockets,
    SocketsJoin,
    SocketsLeave,
    SocketsResponse,
)

__all__ = [
    "DEFAULT_MAX_PAYLOAD",
    "EMITTER_UID",
    "MAX_DEPTH",
    "SOCKET_ID_LENGTH",
    "AdapterClose",
    "AllRooms",
    "AllRoomsResponse",
    "Broadcast",
    "BroadcastAck",
    "BroadcastClientCount",
    "BroadcastOptions",
    "ClassicChannels",
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
    "ProtocolError",
    "RequestType",
    "ServerSideEmit",
    "ServerSideEmitResponse",
    "ShardedChannels",
    "SocketEntry",
    "Sockets",
    "SocketsJoin",
    "SocketsLeave",
    "SocketsResponse",
    "SubscriptionMode",
    "classic",
    "cluster",
    "dumps_json",
    "has_binary",
    "loads_any",
    "pack",
    "to_client_value",
    "unpack",
]
