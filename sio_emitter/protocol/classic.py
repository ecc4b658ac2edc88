"""The classic adapter's encodings (``@socket.io/redis-adapter`` ``createAdapter``, and the
emitter, which speaks the same).

Three kinds of channel, three function pairs:

* broadcast channels ``K#N#`` / ``K#N#room#``: msgpack ``[uid, packet, opts]``
  (:func:`encode_broadcast` / :func:`decode_broadcast`);
* the request channel ``K-request#N#``: one JSON or msgpack object per
  :class:`RequestType` (:func:`encode_request` / :func:`decode_request`);
* the response channels ``K-response#N#[uid#]`` (:func:`encode_response` /
  :func:`decode_response`).

Each direction is one table keyed by message class or by Node's type number, so a
message type's encoding and decoding sit side by side.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

from . import _shapes as s
from ._values import DEFAULT_MAX_PAYLOAD, dumps_json, loads_any, pack, unpack
from .messages import (
    EMITTER_UID,
    AllRooms,
    AllRoomsResponse,
    Broadcast,
    BroadcastAck,
    BroadcastClientCount,
    BroadcastOptions,
    DisconnectSockets,
    FetchSockets,
    FetchSocketsResponse,
    LegacyAck,
    LegacySocketRequest,
    RequestType,
    ServerSideEmit,
    ServerSideEmitResponse,
    Sockets,
    SocketsJoin,
    SocketsLeave,
    SocketsResponse,
)

__all__ = [
    "ClassicRequest",
    "ClassicResponse",
    "decode_broadcast",
    "decode_request",
    "decode_response",
    "encode_broadcast",
    "encode_request",
    "encode_response",
]

ClassicRequest = Union[
    Sockets,
    AllRooms,
    SocketsJoin,
    SocketsLeave,
    DisconnectSockets,
    FetchSockets,
    ServerSideEmit,
    Broadcast,
    LegacySocketRequest,
]
ClassicResponse = Union[
    FetchSocketsResponse,
    SocketsResponse,
    AllRoomsResponse,
    ServerSideEmitResponse,
    BroadcastClientCount,
    BroadcastAck,
    LegacyAck,
]


# --- broadcast channels ----------------------------------------------------------------


def encode_broadcast(msg: Broadcast) -> bytes:
    """``[uid, packet, opts]`` as the classic adapter (or, for uid ``"emitter"``, the
    emitter) publishes it. Raises ``TypeError``/``ValueError`` for unencodable args."""
    layout: s.OptsLayout = "emitter" if msg.uid == EMITTER_UID else "adapter"
    return pack(
        [
            msg.uid,
            s.packet_to_wire(msg.packet, with_nsp=True),
            s.opts_to_wire(msg.opts, layout),
        ]
    )


def broadcast_frame(uid: str | None, nsp: str, opts: BroadcastOptions) -> tuple[bytes, bytes]:
    """The bytes of a broadcast around its event data: for an id-less EVENT packet,
    ``encode_broadcast(Broadcast(uid, nsp, Packet(data, nsp), opts))`` is
    ``head + pack(data) + tail``. An emitter sending to one target many times encodes the
    frame once and packs only the data of each message."""
    layout: s.OptsLayout = "emitter" if uid == EMITTER_UID else "adapter"
    # fixarray(3) [uid, fixmap(3) {type: 2, data: ..., nsp: ...}, opts]
    head = b"\x93" + pack(uid) + b"\x83" + pack("type") + pack(2) + pack("data")
    tail = pack("nsp") + pack(nsp) + pack(s.opts_to_wire(opts, layout))
    return head, tail


def decode_broadcast(payload: bytes, max_size: int = DEFAULT_MAX_PAYLOAD) -> Broadcast:
    """Decode a broadcast-channel payload (always msgpack there, as Node reads it)."""
    value = unpack(payload, max_size)
    if type(value) is not list or len(value) != 3:
        s.fail("broadcast must be an array [uid, packet, opts]")
    uid, packet, opts = value
    if uid is not None and type(uid) is not str:
        s.fail("broadcast uid must be a string")
    pkt = s.packet_from_wire(packet, "/")
    return Broadcast(uid=uid, nsp=pkt.nsp, packet=pkt, opts=s.opts_from_wire(opts))


# --- request channel -------------------------------------------------------------------
# Encoders return the wire object and whether it goes out as msgpack (else JSON).

_Wire = tuple[dict[str, Any], bool]


def _with_uid(uid: str | None, fields: dict[str, Any]) -> dict[str, Any]:
    return fields if uid is None else {"uid": uid, **fields}


def _enc_sockets(m: Sockets) -> _Wire:
    fields = {"requestId": m.request_id, "type": RequestType.SOCKETS, "rooms": list(m.rooms)}
    return _with_uid(m.uid, fields), False


def _enc_all_rooms(m: AllRooms) -> _Wire:
    return _with_uid(m.uid, {"requestId": m.request_id, "type": RequestType.ALL_ROOMS}), False


def _enc_join(m: SocketsJoin) -> _Wire:
    fields = {
        "type": RequestType.REMOTE_JOIN,
        "opts": s.opts_to_wire(m.opts, "no-flags"),
        "rooms": list(m.rooms),
    }
    return _with_uid(m.uid, fields), False


def _enc_leave(m: SocketsLeave) -> _Wire:
    fields = {
        "type": RequestType.REMOTE_LEAVE,
        "opts": s.opts_to_wire(m.opts, "no-flags"),
        "rooms": list(m.rooms),
    }
    return _with_uid(m.uid, fields), False


def _enc_disconnect(m: DisconnectSockets) -> _Wire:
    fields = {
        "type": RequestType.REMOTE_DISCONNECT,
        "opts": s.opts_to_wire(m.opts, "no-flags"),
        "close": m.close,
    }
    return _with_uid(m.uid, fields), False


def _enc_fetch(m: FetchSockets) -> _Wire:
    fields = {
        "requestId": m.request_id,
        "type": RequestType.REMOTE_FETCH,
        "opts": s.opts_to_wire(m.opts, "no-flags"),
    }
    return _with_uid(m.uid, fields), False


def _enc_server_side_emit(m: ServerSideEmit) -> _Wire:
    fields: dict[str, Any] = {}
    if m.request_id is not None:
        fields["requestId"] = m.request_id
    fields["type"] = RequestType.SERVER_SIDE_EMIT
    fields["data"] = m.data
    return _with_uid(m.uid, fields), False


def _enc_broadcast_ack_request(m: Broadcast) -> _Wire:
    if m.request_id is None:
        raise ValueError("a broadcast without request_id goes on a broadcast channel")
    fields = {
        "requestId": m.request_id,
        "type": RequestType.BROADCAST,
        "packet": s.packet_to_wire(m.packet, with_nsp=True),
        "opts": s.opts_to_wire(m.opts),
    }
    return _with_uid(m.uid, fields), True


def _enc_legacy(m: LegacySocketRequest) -> _Wire:
    fields: dict[str, Any] = {"requestId": m.request_id, "type": int(m.kind), "sid": m.sid}
    if m.kind is RequestType.REMOTE_DISCONNECT:
        fields["close"] = m.close
    else:
        fields["room"] = m.room
    return _with_uid(m.uid, fields), False


_REQUEST_ENCODERS: dict[type, Callable[[Any], _Wire]] = {
    Sockets: _enc_sockets,
    AllRooms: _enc_all_rooms,
    SocketsJoin: _enc_join,
    SocketsLeave: _enc_leave,
    DisconnectSockets: _enc_disconnect,
    FetchSockets: _enc_fetch,
    ServerSideEmit: _enc_server_side_emit,
    Broadcast: _enc_broadcast_ack_request,
    LegacySocketRequest: _enc_legacy,
}


def encode_request(msg: ClassicRequest) -> bytes:
    """Bytes for the request channel, JSON or msgpack as Node picks for the type."""
    try:
        encoder = _REQUEST_ENCODERS[type(msg)]
    except KeyError:
        raise TypeError(f"{type(msg).__name__} is not a classic request") from None
    wire, binary = encoder(msg)
    return pack(wire) if binary else dumps_json(wire)


def _dec_sockets(d: dict[str, Any], uid: str | None, nsp: str) -> ClassicRequest:
    return Sockets(uid, nsp, s.req_str(d, "requestId", "request"), s.rooms(d.get("rooms"), "rooms"))


def _dec_all_rooms(d: dict[str, Any], uid: str | None, nsp: str) -> ClassicRequest:
    return AllRooms(uid, nsp, s.req_str(d, "requestId", "request"))


def _dec_legacy(d: dict[str, Any], uid: str | None, nsp: str) -> ClassicRequest:
    kind = RequestType(d["type"])
    room = d.get("room")
    return LegacySocketRequest(
        uid,
        nsp,
        kind,
        request_id=s.req_str(d, "requestId", "request"),
        sid=s.req_str(d, "sid", "request"),
        room=None if room is None else s.room_name(room, "request.room"),
        close=bool(d.get("close", False)),
    )


def _dec_join(d: dict[str, Any], uid: str | None, nsp: str) -> ClassicRequest:
    if "opts" not in d:
        return _dec_legacy(d, uid, nsp)
    return SocketsJoin(uid, nsp, s.opts_from_wire(d["opts"]), s.rooms(d.get("rooms"), "rooms"))


def _dec_leave(d: dict[str, Any], uid: str | None, nsp: str) -> ClassicRequest:
    if "opts" not in d:
        return _dec_legacy(d, uid, nsp)
    return SocketsLeave(uid, nsp, s.opts_from_wire(d["opts"]), s.rooms(d.get("rooms"), "rooms"))


def _dec_disconnect(d: dict[str, Any], uid: str | None, nsp: str) -> ClassicRequest:
    if "opts" not in d:
        return _dec_legacy(d, uid, nsp)
    return DisconnectSockets(uid, nsp, s.opts_from_wire(d["opts"]), bool(d.get("close", False)))


def _dec_fetch(d: dict[str, Any], uid: str | None, nsp: str) -> ClassicRequest:
    return FetchSockets(
        uid, nsp, s.opts_from_wire(d.get("opts")), s.req_str(d, "requestId", "request")
    )


def _dec_server_side_emit(d: dict[str, Any], uid: str | None, nsp: str) -> ClassicRequest:
    data = d.get("data")
    if type(data) is not list or not data or type(data[0]) is not str:
        s.fail("serverSideEmit data must be [event, ...args]")
    return ServerSideEmit(uid, nsp, data, s.opt_str(d, "requestId", "request"))


def _dec_broadcast_ack_request(d: dict[str, Any], uid: str | None, nsp: str) -> ClassicRequest:
    return Broadcast(
        uid,
        nsp,
        s.packet_from_wire(d.get("packet"), nsp),
        s.opts_from_wire(d.get("opts")),
        request_id=s.req_str(d, "requestId", "request"),
    )


_RequestDecoder = Callable[[dict[str, Any], "str | None", str], ClassicRequest]

_REQUEST_DECODERS: dict[int, _RequestDecoder] = {
    RequestType.SOCKETS: _dec_sockets,
    RequestType.ALL_ROOMS: _dec_all_rooms,
    RequestType.REMOTE_JOIN: _dec_join,
    RequestType.REMOTE_LEAVE: _dec_leave,
    RequestType.REMOTE_DISCONNECT: _dec_disconnect,
    RequestType.REMOTE_FETCH: _dec_fetch,
    RequestType.SERVER_SIDE_EMIT: _dec_server_side_emit,
    RequestType.BROADCAST: _dec_broadcast_ack_request,
}


def decode_request(payload: bytes, nsp: str, max_size: int = DEFAULT_MAX_PAYLOAD) -> ClassicRequest:
    """Decode a request-channel payload; ``nsp`` comes from the channel it arrived on."""
    d = s.as_dict(loads_any(payload, max_size), "request")
    kind = d.get("type")
    decoder = _REQUEST_DECODERS.get(kind) if type(kind) is int else None
    if decoder is None:
        s.fail(f"unknown request type {kind!r}")
    uid = s.opt_str(d, "uid", "request")
    return decoder(d, uid, nsp)


# --- response channels -----------------------------------------------------------------


def _enc_fetch_response(m: FetchSocketsResponse) -> _Wire:
    return {"requestId": m.request_id, "sockets": [s.entry_to_wire(e) for e in m.sockets]}, False


def _enc_sockets_response(m: SocketsResponse) -> _Wire:
    return {"requestId": m.request_id, "sockets": list(m.sockets)}, False


def _enc_all_rooms_response(m: AllRoomsResponse) -> _Wire:
    return {"requestId": m.request_id, "rooms": list(m.rooms)}, False


def _enc_sse_response(m: ServerSideEmitResponse) -> _Wire:
    return {"type": RequestType.SERVER_SIDE_EMIT, "requestId": m.request_id, "data": m.data}, False


def _enc_client_count(m: BroadcastClientCount) -> _Wire:
    fields = {
        "type": RequestType.BROADCAST_CLIENT_COUNT,
        "requestId": m.request_id,
        "clientCount": m.client_count,
    }
    return fields, False


def _enc_broadcast_ack(m: BroadcastAck) -> _Wire:
    return {"type": RequestType.BROADCAST_ACK, "requestId": m.request_id, "packet": m.data}, True


def _enc_legacy_ack(m: LegacyAck) -> _Wire:
    return {"requestId": m.request_id}, False


_RESPONSE_ENCODERS: dict[type, Callable[[Any], _Wire]] = {
    FetchSocketsResponse: _enc_fetch_response,
    SocketsResponse: _enc_sockets_response,
    AllRoomsResponse: _enc_all_rooms_response,
    ServerSideEmitResponse: _enc_sse_response,
    BroadcastClientCount: _enc_client_count,
    BroadcastAck: _enc_broadcast_ack,
    LegacyAck: _enc_legacy_ack,
}


def encode_response(msg: ClassicResponse) -> bytes:
    """Bytes for a response channel, JSON or msgpack as Node picks for the type."""
    try:
        encoder = _RESPONSE_ENCODERS[type(msg)]
    except KeyError:
        raise TypeError(f"{type(msg).__name__} is not a classic response") from None
    wire, binary = encoder(msg)
    return pack(wire) if binary else dumps_json(wire)


def decode_response(
    payload: bytes, nsp: str, max_size: int = DEFAULT_MAX_PAYLOAD
) -> ClassicResponse:
    """Decode a response-channel payload.

    Typed replies (6, 8, 9) say what they are; the others (fetch, all rooms, sockets)
    are told apart by their fields, as Node's requester does.
    """
    d = s.as_dict(loads_any(payload, max_size), "response")
    request_id = s.req_str(d, "requestId", "response")
    kind = d.get("type")
    if kind == RequestType.SERVER_SIDE_EMIT:
        return ServerSideEmitResponse(None, nsp, request_id, d.get("data"))
    if kind == RequestType.BROADCAST_CLIENT_COUNT:
        return BroadcastClientCount(None, nsp, request_id, s.req_int(d, "clientCount", "response"))
    if kind == RequestType.BROADCAST_ACK:
        return BroadcastAck(None, nsp, request_id, d.get("packet"))
    if kind is not None:
        s.fail(f"unknown response type {kind!r}")
    if "sockets" in d:
        sockets = d["sockets"]
        if type(sockets) is not list:
            s.fail("response.sockets must be an array")
        if sockets and all(type(sid) is str for sid in sockets):
            return SocketsResponse(None, nsp, request_id, tuple(sockets))
        entries = tuple(s.entry_from_wire(e) for e in sockets)
        return FetchSocketsResponse(None, nsp, request_id, entries)
    if "rooms" in d:
        return AllRoomsResponse(None, nsp, request_id, s.rooms(d["rooms"], "response.rooms"))
    return LegacyAck(None, nsp, request_id)
