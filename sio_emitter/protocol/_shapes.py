"""Wire shapes shared by the classic and cluster encodings: packet, options, socket entry.

Decoders here trust nothing: every field is checked, and anything off raises
:class:`ProtocolError`, so a hostile payload never reaches the adapter as a half-valid
object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NoReturn

from ._values import ProtocolError
from .messages import BroadcastOptions, Packet, SocketEntry


def fail(message: str) -> NoReturn:
    raise ProtocolError(message)


def as_dict(value: Any, what: str) -> dict[str, Any]:
    if type(value) is not dict:
        fail(f"{what} must be a map, got {type(value).__name__}")
    return value


def req_str(d: Mapping[str, Any], key: str, what: str) -> str:
    value = d.get(key)
    if type(value) is not str:
        fail(f"{what}.{key} must be a string")
    return value


def opt_str(d: Mapping[str, Any], key: str, what: str) -> str | None:
    value = d.get(key)
    if value is None:
        return None
    if type(value) is not str:
        fail(f"{what}.{key} must be a string")
    return value


def req_int(d: Mapping[str, Any], key: str, what: str) -> int:
    value = d.get(key)
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    fail(f"{what}.{key} must be an integer")


def room_name(value: Any, what: str) -> str:
    if type(value) is str:
        return value
    # Node rooms may be numbers; on the wire they compare equal to their string form.
    if type(value) is int:
        return str(value)
    fail(f"{what} must hold room names (strings)")


def rooms(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if type(value) is not list:
        fail(f"{what} must be an array")
    return tuple(room_name(item, what) for item in value)


def opts_from_wire(value: Any, what: str = "opts") -> BroadcastOptions:
    d = as_dict(value, what)
    flags = d.get("flags")
    if flags is None:
        flags = {}
    elif type(flags) is not dict:
        fail(f"{what}.flags must be a map")
    return BroadcastOptions(
        rooms=rooms(d.get("rooms"), f"{what}.rooms"),
        except_=rooms(d.get("except"), f"{what}.except"),
        flags=flags,
    )


OptsLayout = Literal["adapter", "emitter", "no-flags"]


def opts_to_wire(opts: BroadcastOptions, layout: OptsLayout = "adapter") -> dict[str, Any]:
    # Key order is Node's and differs by sender; decoders do not care, bytes do.
    if layout == "emitter":
        return {"rooms": list(opts.rooms), "flags": dict(opts.flags), "except": list(opts.except_)}
    if layout == "no-flags":
        return {"rooms": list(opts.rooms), "except": list(opts.except_)}
    return {"rooms": list(opts.rooms), "except": list(opts.except_), "flags": dict(opts.flags)}


# EVENT and BINARY_EVENT: the only packet types adapters relay.
_EVENTS = (2, 5)


def packet_from_wire(value: Any, default_nsp: str, what: str = "packet") -> Packet:
    d = as_dict(value, what)
    kind = req_int(d, "type", what)
    data = d.get("data")
    if type(data) is not list:
        fail(f"{what}.data must be an array")
    if kind in _EVENTS and (not data or type(data[0]) is not str):
        fail(f"{what}.data must be [event, ...args]")
    nsp = d.get("nsp", default_nsp)
    if type(nsp) is not str:
        fail(f"{what}.nsp must be a string")
    packet_id = d.get("id")
    if packet_id is not None and type(packet_id) is not int:
        fail(f"{what}.id must be an integer")
    return Packet(data=data, nsp=nsp, type=kind, id=packet_id)


def packet_to_wire(packet: Packet, *, with_nsp: bool) -> dict[str, Any]:
    wire: dict[str, Any] = {"type": int(packet.type), "data": packet.data}
    if packet.id is not None:
        wire["id"] = packet.id
    if with_nsp:
        wire["nsp"] = packet.nsp
    return wire


def entry_from_wire(value: Any, what: str = "socket") -> SocketEntry:
    d = as_dict(value, what)
    handshake = d.get("handshake", {})
    if type(handshake) is not dict:
        fail(f"{what}.handshake must be a map")
    return SocketEntry(
        id=req_str(d, "id", what),
        handshake=handshake,
        rooms=rooms(d.get("rooms"), f"{what}.rooms"),
        data=d.get("data"),
    )


def entry_to_wire(entry: SocketEntry) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "id": entry.id,
        "handshake": dict(entry.handshake),
        "rooms": list(entry.rooms),
    }
    # Node leaves the key out when socket.data is undefined.
    if entry.data is not None:
        wire["data"] = entry.data
    return wire
