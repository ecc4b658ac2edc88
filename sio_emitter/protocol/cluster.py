"""The ClusterAdapter encoding (``socket.io-adapter`` 2.5), as the sharded Redis adapter
puts it on ``SPUBLISH`` channels: an envelope ``{type, data, uid, nsp}``.

The envelope is JSON unless its ``data`` holds bytes and its type is one Node checks
(3, 8, 9, 10, 12); then the whole envelope is msgpack. Receivers tell the two apart by
the first byte, as Node's do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _shapes as s
from ._values import DEFAULT_MAX_PAYLOAD, dumps_json, has_binary, loads_any, pack
from .messages import (
    AdapterClose,
    Broadcast,
    BroadcastAck,
    BroadcastClientCount,
    DisconnectSockets,
    FetchSockets,
    FetchSocketsResponse,
    Heartbeat,
    Message,
    MessageType,
    ServerSideEmit,
    ServerSideEmitResponse,
    SocketsJoin,
    SocketsLeave,
)

__all__ = ["decode_message", "encode_message"]

# The types whose data Node scans for binary before choosing msgpack.
_BINARY_CHECKED = frozenset(
    {
        MessageType.BROADCAST,
        MessageType.FETCH_SOCKETS_RESPONSE,
        MessageType.SERVER_SIDE_EMIT,
        MessageType.SERVER_SIDE_EMIT_RESPONSE,
        MessageType.BROADCAST_ACK,
    }
)

# Encoders return the type number and the ``data`` field (None: no data key).
_Wire = tuple[MessageType, "dict[str, Any] | None"]


def _enc_heartbeat(m: Heartbeat) -> _Wire:
    return (MessageType.INITIAL_HEARTBEAT if m.initial else MessageType.HEARTBEAT), None


def _enc_broadcast(m: Broadcast) -> _Wire:
    data: dict[str, Any] = {"packet": s.packet_to_wire(m.packet, with_nsp=False)}
    if m.request_id is not None:
        data["requestId"] = m.request_id
    data["opts"] = s.opts_to_wire(m.opts)
    return MessageType.BROADCAST, data


def _enc_join(m: SocketsJoin) -> _Wire:
    return MessageType.SOCKETS_JOIN, {"opts": s.opts_to_wire(m.opts), "rooms": list(m.rooms)}


def _enc_leave(m: SocketsLeave) -> _Wire:
    return MessageType.SOCKETS_LEAVE, {"opts": s.opts_to_wire(m.opts), "rooms": list(m.rooms)}


def _enc_disconnect(m: DisconnectSockets) -> _Wire:
    return MessageType.DISCONNECT_SOCKETS, {"opts": s.opts_to_wire(m.opts), "close": m.close}


def _enc_fetch(m: FetchSockets) -> _Wire:
    return MessageType.FETCH_SOCKETS, {"opts": s.opts_to_wire(m.opts), "requestId": m.request_id}


def _enc_fetch_response(m: FetchSocketsResponse) -> _Wire:
    sockets = [s.entry_to_wire(e) for e in m.sockets]
    return MessageType.FETCH_SOCKETS_RESPONSE, {"requestId": m.request_id, "sockets": sockets}


def _enc_server_side_emit(m: ServerSideEmit) -> _Wire:
    if m.request_id is None:
        return MessageType.SERVER_SIDE_EMIT, {"packet": m.data}
    return MessageType.SERVER_SIDE_EMIT, {"requestId": m.request_id, "packet": m.data}


def _enc_sse_response(m: ServerSideEmitResponse) -> _Wire:
    return MessageType.SERVER_SIDE_EMIT_RESPONSE, {"requestId": m.request_id, "packet": m.data}


def _enc_client_count(m: BroadcastClientCount) -> _Wire:
    data = {"requestId": m.request_id, "clientCount": m.client_count}
    return MessageType.BROADCAST_CLIENT_COUNT, data


def _enc_broadcast_ack(m: BroadcastAck) -> _Wire:
    return MessageType.BROADCAST_ACK, {"requestId": m.request_id, "packet": m.data}


def _enc_close(m: AdapterClose) -> _Wire:
    return MessageType.ADAPTER_CLOSE, None


_ENCODERS: dict[type, Callable[[Any], _Wire]] = {
    Heartbeat: _enc_heartbeat,
    Broadcast: _enc_broadcast,
    SocketsJoin: _enc_join,
    SocketsLeave: _enc_leave,
    DisconnectSockets: _enc_disconnect,
    FetchSockets: _enc_fetch,
    FetchSocketsResponse: _enc_fetch_response,
    ServerSideEmit: _enc_server_side_emit,
    ServerSideEmitResponse: _enc_sse_response,
    BroadcastClientCount: _enc_client_count,
    BroadcastAck: _enc_broadcast_ack,
    AdapterClose: _enc_close,
}


def encode_message(msg: Message) -> bytes:
    """Bytes of ``msg`` as a ClusterAdapter envelope, JSON or msgpack as Node picks."""
    try:
        encoder = _ENCODERS[type(msg)]
    except KeyError:
        raise TypeError(f"{type(msg).__name__} has no ClusterAdapter form") from None
    kind, data = encoder(msg)
    envelope: dict[str, Any] = {"type": int(kind)}
    if data is not None:
        envelope["data"] = data
    envelope["uid"] = msg.uid
    envelope["nsp"] = msg.nsp
    if kind in _BINARY_CHECKED and has_binary(data):
        return pack(envelope)
    return dumps_json(envelope)


_Decoder = Callable[[Any, "str | None", str], Message]


def _data(value: Any) -> dict[str, Any]:
    return s.as_dict(value, "data")


def _dec_broadcast(value: Any, uid: str | None, nsp: str) -> Message:
    d = _data(value)
    return Broadcast(
        uid,
        nsp,
        s.packet_from_wire(d.get("packet"), nsp),
        s.opts_from_wire(d.get("opts")),
        request_id=s.opt_str(d, "requestId", "data"),
    )


def _dec_join(value: Any, uid: str | None, nsp: str) -> Message:
    d = _data(value)
    return SocketsJoin(uid, nsp, s.opts_from_wire(d.get("opts")), s.rooms(d.get("rooms"), "rooms"))


def _dec_leave(value: Any, uid: str | None, nsp: str) -> Message:
    d = _data(value)
    return SocketsLeave(uid, nsp, s.opts_from_wire(d.get("opts")), s.rooms(d.get("rooms"), "rooms"))


def _dec_disconnect(value: Any, uid: str | None, nsp: str) -> Message:
    d = _data(value)
    return DisconnectSockets(uid, nsp, s.opts_from_wire(d.get("opts")), bool(d.get("close")))


def _dec_fetch(value: Any, uid: str | None, nsp: str) -> Message:
    d = _data(value)
    return FetchSockets(
        uid, nsp, s.opts_from_wire(d.get("opts")), s.req_str(d, "requestId", "data")
    )


def _dec_fetch_response(value: Any, uid: str | None, nsp: str) -> Message:
    d = _data(value)
    sockets = d.get("sockets")
    if type(sockets) is not list:
        s.fail("data.sockets must be an array")
    entries = tuple(s.entry_from_wire(e) for e in sockets)
    return FetchSocketsResponse(uid, nsp, s.req_str(d, "requestId", "data"), entries)


def _dec_server_side_emit(value: Any, uid: str | None, nsp: str) -> Message:
    d = _data(value)
    packet = d.get("packet")
    if type(packet) is not list or not packet or type(packet[0]) is not str:
        s.fail("data.packet must be [event, ...args]")
    return ServerSideEmit(uid, nsp, packet, s.opt_str(d, "requestId", "data"))


def _dec_sse_response(value: Any, uid: str | None, nsp: str) -> Message:
    d = _data(value)
    return ServerSideEmitResponse(uid, nsp, s.req_str(d, "requestId", "data"), d.get("packet"))


def _dec_client_count(value: Any, uid: str | None, nsp: str) -> Message:
    d = _data(value)
    count = s.req_int(d, "clientCount", "data")
    return BroadcastClientCount(uid, nsp, s.req_str(d, "requestId", "data"), count)


def _dec_broadcast_ack(value: Any, uid: str | None, nsp: str) -> Message:
    d = _data(value)
    return BroadcastAck(uid, nsp, s.req_str(d, "requestId", "data"), d.get("packet"))


_DECODERS: dict[int, _Decoder] = {
    MessageType.INITIAL_HEARTBEAT: lambda _, uid, nsp: Heartbeat(uid, nsp, initial=True),
    MessageType.HEARTBEAT: lambda _, uid, nsp: Heartbeat(uid, nsp),
    MessageType.BROADCAST: _dec_broadcast,
    MessageType.SOCKETS_JOIN: _dec_join,
    MessageType.SOCKETS_LEAVE: _dec_leave,
    MessageType.DISCONNECT_SOCKETS: _dec_disconnect,
    MessageType.FETCH_SOCKETS: _dec_fetch,
    MessageType.FETCH_SOCKETS_RESPONSE: _dec_fetch_response,
    MessageType.SERVER_SIDE_EMIT: _dec_server_side_emit,
    MessageType.SERVER_SIDE_EMIT_RESPONSE: _dec_sse_response,
    MessageType.BROADCAST_CLIENT_COUNT: _dec_client_count,
    MessageType.BROADCAST_ACK: _dec_broadcast_ack,
    MessageType.ADAPTER_CLOSE: lambda _, uid, nsp: AdapterClose(uid, nsp),
}


def decode_message(payload: bytes, max_size: int = DEFAULT_MAX_PAYLOAD) -> Message:
    """Decode a ClusterAdapter envelope (JSON or msgpack)."""
    envelope = s.as_dict(loads_any(payload, max_size), "message")
    kind = envelope.get("type")
    decoder = _DECODERS.get(kind) if type(kind) is int else None
    if decoder is None:
        s.fail(f"unknown message type {kind!r}")
    uid = s.opt_str(envelope, "uid", "message")
    nsp = s.req_str(envelope, "nsp", "message")
    return decoder(envelope.get("data"), uid, nsp)
