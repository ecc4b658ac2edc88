"""The codec against hostile and random input, and its value rules (pure: no Redis).

Every decoder must either return a message or raise :class:`ProtocolError`; anything
else (KeyError, RecursionError, UnicodeDecodeError, ...) would escape an adapter's
receive loop. Round trips check that what we encode decodes to the same message, with
Node's number rule applied (an integral float is an integer: JavaScript has one number
type).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sio_emitter.protocol import (
    DEFAULT_MAX_PAYLOAD,
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
    cluster,
    dumps_json,
    pack,
    to_client_value,
)

VECTORS = Path(__file__).parent / "vectors"
UTC = dt.timezone.utc

Decoder = Callable[[bytes], Any]

DECODERS: dict[str, Decoder] = {
    "classic.decode_broadcast": classic.decode_broadcast,
    "classic.decode_request": lambda p: classic.decode_request(p, "/"),
    "classic.decode_response": lambda p: classic.decode_response(p, "/"),
    "cluster.decode_message": cluster.decode_message,
}

# What each decoder may return, and how to encode it back.
RETURNS: dict[str, tuple[tuple[type, ...], Callable[[Any], bytes]]] = {
    "classic.decode_broadcast": ((Broadcast,), classic.encode_broadcast),
    "classic.decode_request": (
        (
            Sockets,
            AllRooms,
            SocketsJoin,
            SocketsLeave,
            DisconnectSockets,
            FetchSockets,
            ServerSideEmit,
            Broadcast,
            LegacySocketRequest,
        ),
        classic.encode_request,
    ),
    "classic.decode_response": (
        (
            FetchSocketsResponse,
            SocketsResponse,
            AllRoomsResponse,
            ServerSideEmitResponse,
            BroadcastClientCount,
            BroadcastAck,
            LegacyAck,
        ),
        classic.encode_response,
    ),
    "cluster.decode_message": (
        (
            Heartbeat,
            Broadcast,
            SocketsJoin,
            SocketsLeave,
            DisconnectSockets,
            FetchSockets,
            FetchSocketsResponse,
            ServerSideEmit,
            ServerSideEmitResponse,
            BroadcastClientCount,
            BroadcastAck,
            AdapterClose,
        ),
        cluster.encode_message,
    ),
}


def attempt(name: str, payload: bytes) -> Any:
    """The decoded message, or None on ProtocolError; any other exception escapes."""
    try:
        msg = DECODERS[name](payload)
    except ProtocolError:
        return None
    kinds, encode = RETURNS[name]
    assert isinstance(msg, kinds), msg
    # A message we accepted must be one we can send on (a server relays them).
    encode(msg)
    return msg


def rejects(name: str, payload: bytes) -> bool:
    return attempt(name, payload) is None


def _vector(group: str, name: str) -> bytes:
    data = json.loads((VECTORS / f"{group}.json").read_text())
    for v in data["vectors"]:
        if v["name"] == name:
            return bytes.fromhex(v["hex"])
    raise LookupError(name)


TRUNCATED = [
    ("classic", "classic-broadcast-room"),
    ("classic", "classic-broadcast-binary-nested"),
    ("classic", "classic-request-broadcast-with-ack"),
    ("classic", "classic-request-fetch-sockets"),
    ("classic", "classic-response-fetch-sockets"),
    ("classic", "classic-response-broadcast-ack"),
    ("sharded", "sharded-dynamic-broadcast-binary"),
    ("sharded", "sharded-dynamic-broadcast-room-with-ack"),
    ("sharded", "sharded-dynamic-response-fetch-sockets-binary-data"),
    ("emitter", "emitter-emit-date"),
    ("emitter", "emitter-server-side-emit-binary-date"),
]


# ---------------------------------------------------------------------------
# fixed hostile inputs
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("decoder", sorted(DECODERS))
@pytest.mark.parametrize(("group", "name"), TRUNCATED, ids=[n for _, n in TRUNCATED])
def test_every_truncation_is_rejected(decoder: str, group: str, name: str) -> None:
    payload = _vector(group, name)
    for end in range(len(payload)):
        with pytest.raises(ProtocolError):
            DECODERS[decoder](payload[:end])


def _mp(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


def _js(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


PACKET = {"type": 2, "data": ["ev", 1], "nsp": "/"}
OPTS: dict[str, Any] = {"rooms": [], "except": [], "flags": {}}

# Valid encodings of the wrong shape: every decoder must refuse each of them.
WRONG_SHAPES: list[Any] = [
    None,
    True,
    1,
    1.5,
    "x",
    [],
    [1, 2],
    ["u", PACKET],
    ["u", PACKET, OPTS, 4],
    {},
    {"type": None},
    {"type": "6", "data": ["x"]},
    {"type": True, "data": ["x"]},
    {"type": 99},
    {"type": -1},
    {"type": 2**64 - 1},
    {"type": 6},
    {"type": 6, "data": "x"},
    {"type": 6, "data": []},
    {"type": 6, "data": [1]},
    {"type": 6, "data": ["x"], "uid": 5},
    {"type": 3, "data": [], "nsp": "/"},
    {"type": 3, "data": {"packet": 1}, "nsp": "/"},
    {"type": 3, "data": {"packet": {"type": 2, "data": "x"}, "opts": OPTS}, "nsp": "/"},
    {"type": 3, "data": {"packet": {"type": "2", "data": []}, "opts": OPTS}, "nsp": "/"},
    {"type": 3, "data": {"packet": {"type": 2, "data": [], "id": "1"}}, "nsp": "/"},
    {"type": 3, "data": {"packet": PACKET, "opts": {"rooms": "r1"}}, "nsp": "/"},
    {"type": 3, "data": {"packet": PACKET, "opts": {"rooms": [{}]}}, "nsp": "/"},
    {"type": 3, "data": {"packet": PACKET, "opts": {"flags": []}}, "nsp": "/"},
    {"type": 3, "data": {"packet": PACKET, "opts": OPTS}, "nsp": 1},
    {"type": 3, "data": {"packet": PACKET, "opts": OPTS}},
    {"type": 7, "data": {"opts": OPTS, "requestId": 1}, "nsp": "/"},
    {"type": 8, "data": {"requestId": "r", "sockets": {}}, "nsp": "/"},
    {"type": 8, "data": {"requestId": "r", "sockets": [{"id": 1}]}, "nsp": "/"},
    {"type": 8, "data": {"requestId": "r", "sockets": [{"id": "a", "handshake": []}]}, "nsp": "/"},
    {"type": 11, "data": {"requestId": "r", "clientCount": "1"}, "nsp": "/"},
    {"type": 11, "data": {"requestId": "r", "clientCount": 1.5}, "nsp": "/"},
    {"type": 2, "opts": {"rooms": 1}, "rooms": []},
    {"type": 2, "opts": OPTS, "rooms": [None]},
    {"type": 2, "requestId": "r"},
    {"type": 5, "opts": OPTS},
    {"type": 5, "opts": [], "requestId": "r"},
    {"type": 7, "requestId": "r", "packet": [], "opts": OPTS},
    {"requestId": 1},
    {"requestId": "r", "type": 7},
    {"requestId": "r", "type": 8, "clientCount": None},
    {"requestId": "r", "sockets": "x"},
    {"requestId": "r", "sockets": ["a", 1]},
    {"requestId": "r", "rooms": [[]]},
    {"requestId": "r", "type": [6]},
    {"requestId": "r", "type": {}},
]


@pytest.mark.parametrize("decoder", sorted(DECODERS))
@pytest.mark.parametrize("encoding", ["msgpack", "json"])
def test_wrong_shapes_never_crash(decoder: str, encoding: str) -> None:
    for value in WRONG_SHAPES:
        payload = _mp(value) if encoding == "msgpack" else _js(value)
        attempt(decoder, payload)


@pytest.mark.parametrize(
    ("decoder", "value"),
    [
        ("classic.decode_broadcast", ["u", PACKET]),
        ("classic.decode_broadcast", ["u", PACKET, OPTS, None]),
        ("classic.decode_broadcast", [1, PACKET, OPTS]),
        ("classic.decode_broadcast", ["u", [], OPTS]),
        ("classic.decode_broadcast", ["u", PACKET, []]),
        ("classic.decode_broadcast", {"uid": "u", "packet": PACKET, "opts": OPTS}),
        ("classic.decode_request", {"type": 99}),
        ("classic.decode_request", {"type": 6, "data": []}),
        ("classic.decode_request", {"type": 6.5, "data": ["x"]}),
        ("classic.decode_request", {"type": 2, "requestId": "r"}),
        ("classic.decode_request", {"type": 7, "requestId": "r", "packet": 1}),
        ("classic.decode_request", ["type", 6]),
        ("classic.decode_response", {"type": 6}),
        ("classic.decode_response", {"requestId": "r", "type": 7}),
        ("classic.decode_response", {"requestId": "r", "type": 8, "clientCount": "2"}),
        ("classic.decode_response", {"requestId": "r", "sockets": [1]}),
        ("cluster.decode_message", {"type": 0, "nsp": "/"}),
        ("cluster.decode_message", {"type": 14, "nsp": "/"}),
        ("cluster.decode_message", {"type": 3, "data": {"packet": PACKET}}),
        ("cluster.decode_message", {"type": 3, "nsp": "/", "data": []}),
        ("cluster.decode_message", {"type": 9, "nsp": "/", "data": {"packet": []}}),
        ("cluster.decode_message", {"type": 12, "nsp": "/", "data": {"requestId": 5}}),
    ],
)
@pytest.mark.parametrize("encoding", ["msgpack", "json"])
def test_wrong_shape_is_a_protocol_error(decoder: str, value: Any, encoding: str) -> None:
    payload = _mp(value) if encoding == "msgpack" else _js(value)
    with pytest.raises(ProtocolError):
        DECODERS[decoder](payload)


HOSTILE_BYTES = {
    "empty": b"",
    "nul": b"\x00",
    "never-used-c1": b"\xc1",
    "ff-run": b"\xff" * 16,
    "open-brace": b"{",
    "json-trailing-garbage": b'{"type":1,"nsp":"/"}x',
    "msgpack-trailing-garbage": _mp({"type": 1, "nsp": "/"}) + b"\x00",
    "huge-map32": b"\xdf\xff\xff\xff\xff",
    "huge-array32": b"\xdd\xff\xff\xff\xff",
    "huge-str32": b"\xdb\xff\xff\xff\xff",
    "huge-bin32": b"\xc6\xff\xff\xff\xff",
    "deep-msgpack-arrays": b"\x91" * 100_000 + b"\xc0",
    "deep-msgpack-maps": b"\x81\xa1a" * 50_000 + b"\xc0",
    "deep-json-arrays": b"[" * 100_000,
    "deep-json-in-object": b'{"type":6,"data":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "json-nan": b'{"uid":"u","type":6,"data":["x",NaN]}',
    "json-infinity": b'{"uid":"u","type":6,"data":["x",Infinity]}',
    "json-minus-infinity": b'{"type":9,"data":{"packet":["x",-Infinity]},"uid":"u","nsp":"/"}',
    "json-huge-int-literal": b'{"type":' + b"9" * 5000 + b"}",
    "json-invalid-utf8": b'{"requestId":"\xff","rooms":[]}',
    "json-overlong-utf8": b'{"requestId":"\xc0\xaf","rooms":[]}',
    "json-truncated-utf8": b'{"requestId":"\xe2\x82","rooms":[]}',
    "msgpack-invalid-utf8": _mp(["u", {"type": 2, "data": ["x"]}, {}])[:-8]
    + b"\xa1\xff\x91\xa1x\x80",
    "msgpack-invalid-utf8-str": b"\xa2\xc3\x28",
    "msgpack-int-map-key": _mp({1: 2}),
    "msgpack-nil-map-key": b"\x81\xc0\x01",
    "msgpack-array-map-key": b"\x81\x90\x01",
    "ext-top-level": _mp(msgpack.ExtType(5, b"abc")),
    "ext-timestamp-bad-length": b"\xd5\xff\x00\x00",
    "ext-timestamp-bad-nanos": b"\xd7\xff" + b"\xff" * 8,
    "ext-timestamp96-overflow": b"\xc7\x0c\xff" + b"\x00" * 4 + b"\x7f" + b"\xff" * 7,
    "ext-inside-broadcast": b"\x93\xa1u\x82\xa4type\x02\xa4data\x91\xd6\xff\xff\xff\xff\xff\x80",
}


@pytest.mark.parametrize("decoder", sorted(DECODERS))
@pytest.mark.parametrize("case", sorted(HOSTILE_BYTES))
def test_hostile_bytes(decoder: str, case: str) -> None:
    attempt(decoder, HOSTILE_BYTES[case])


@pytest.mark.parametrize("decoder", sorted(DECODERS))
@pytest.mark.parametrize(
    "case",
    [
        "empty",
        "ff-run",
        "json-trailing-garbage",
        "msgpack-trailing-garbage",
        "huge-map32",
        "deep-msgpack-arrays",
        "deep-json-arrays",
        "deep-json-in-object",
        "json-nan",
        "json-infinity",
        "json-minus-infinity",
        "json-huge-int-literal",
        "json-invalid-utf8",
        "json-overlong-utf8",
        "msgpack-invalid-utf8",
        "msgpack-int-map-key",
        "ext-top-level",
        "ext-timestamp-bad-length",
        "ext-timestamp96-overflow",
    ],
)
def test_hostile_bytes_are_protocol_errors(decoder: str, case: str) -> None:
    with pytest.raises(ProtocolError):
        DECODERS[decoder](HOSTILE_BYTES[case])


def test_unknown_ext_and_timestamps_inside_data_are_values() -> None:
    # Node hands unknown ext types and Dates through; so do we, as plain values.
    ts = dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    payload = _mp(["u", {"type": 2, "data": ["x", msgpack.ExtType(7, b"\x01")]}, {}])
    assert classic.decode_broadcast(payload).packet.data == ["x", [7, b"\x01"]]
    date = bytes.fromhex("d7ff1d5353006553f100")
    payload = b"\x93\xa1u\x82\xa4type\x02\xa4data\x92\xa1x" + date + b"\x80"
    assert classic.decode_broadcast(payload).packet.data == ["x", ts]


@pytest.mark.parametrize("decoder", sorted(DECODERS))
def test_size_cap(decoder: str) -> None:
    capped: dict[str, Callable[[bytes, int], Any]] = {
        "classic.decode_broadcast": classic.decode_broadcast,
        "classic.decode_request": lambda p, m: classic.decode_request(p, "/", m),
        "classic.decode_response": lambda p, m: classic.decode_response(p, "/", m),
        "cluster.decode_message": cluster.decode_message,
    }
    fn = capped[decoder]
    valid = {
        "classic.decode_broadcast": _vector("classic", "classic-broadcast-room"),
        "classic.decode_request": _vector("classic", "classic-request-fetch-sockets"),
        "classic.decode_response": _vector("classic", "classic-response-fetch-sockets"),
        "cluster.decode_message": _vector("sharded", "sharded-dynamic-broadcast-binary"),
    }[decoder]
    assert fn(valid, len(valid)) is not None
    with pytest.raises(ProtocolError, match="cap"):
        fn(valid, len(valid) - 1)
    with pytest.raises(ProtocolError, match="cap"):
        DECODERS[decoder](valid + b" " * (DEFAULT_MAX_PAYLOAD + 1 - len(valid)))


# ---------------------------------------------------------------------------
# edge cases found by these tests (once codec bugs, now fixed)
# ---------------------------------------------------------------------------
UTF16_JSON = {
    "classic.decode_request": '{"uid":"u","type":6,"data":["x"]}',
    "classic.decode_response": '{"requestId":"r","rooms":["a"]}',
    "cluster.decode_message": '{"type":9,"data":{"packet":["x"]},"uid":"u","nsp":"/"}',
}


@pytest.mark.parametrize("decoder", sorted(UTF16_JSON))
@pytest.mark.parametrize("codec", ["utf-16-le", "utf-32-le"])
def test_json_in_utf16_or_utf32_is_rejected(decoder: str, codec: str) -> None:
    payload = UTF16_JSON[decoder].encode(codec)
    assert payload[:1] == b"{"
    with pytest.raises(ProtocolError):
        DECODERS[decoder](payload)


@pytest.mark.parametrize("decoder", sorted(UTF16_JSON))
def test_json_with_encoded_surrogate_is_rejected(decoder: str) -> None:
    payload = UTF16_JSON[decoder].replace('"x"', '"\x00"').replace('"a"', '"\x00"').encode()
    payload = payload.replace(b"\x00", b"\xed\xa0\x80")
    assert b"\xed\xa0\x80" in payload
    with pytest.raises(ProtocolError):
        DECODERS[decoder](payload)


def test_escaped_lone_surrogate_can_be_sent_on() -> None:
    payload = b'{"uid":"u","type":6,"data":["x","\\ud800"]}'
    msg = classic.decode_request(payload, "/")
    assert isinstance(msg, ServerSideEmit) and msg.data == ["x", "\ud800"]
    assert classic.encode_request(msg) == payload


def test_msgpack_bin_map_keys_do_not_leak_into_messages() -> None:
    # Decoding keeps the key as it came (no per-map hook on the hot path); encoders and
    # to_client_value write it as String(buffer), as Node would.
    payload = _mp(["u", {"type": 2, "data": ["x", {b"k": 1}]}, {}])
    msg = attempt("classic.decode_broadcast", payload)  # re-encodes what it accepted
    assert msg is not None
    assert to_client_value(msg.packet.data) == ["x", {"k": 1}]


def test_non_str_keys_are_written_as_javascript_would() -> None:
    assert dumps_json({1e-7: 1}) == b'{"1e-7":1}'
    assert dumps_json({math.nan: 1, math.inf: 2}) == b'{"NaN":1,"Infinity":2}'
    assert pack({1e-7: 1}) == pack({"1e-7": 1})
    assert pack({True: 1, None: 2}) == pack({"true": 1, "null": 2})


# ---------------------------------------------------------------------------
# hypothesis: random input never crashes a decoder
# ---------------------------------------------------------------------------
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=300),
        st.binary(max_size=300).map(lambda b: b"{" + b),
        st.binary(max_size=300).map(lambda b: b"\x93" + b),
        st.binary(max_size=300).map(lambda b: b"\x84\xa4type" + b),
    )
)
def test_random_bytes(payload: bytes) -> None:
    for name in DECODERS:
        attempt(name, payload)


FIELDS = [
    "type",
    "data",
    "uid",
    "nsp",
    "requestId",
    "opts",
    "rooms",
    "except",
    "flags",
    "packet",
    "sockets",
    "clientCount",
    "close",
    "sid",
    "room",
    "id",
    "handshake",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(FIELDS)
)
any_value = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
room_lists = st.lists(st.text(max_size=6) | st.integers(0, 99), max_size=3) | any_value
opts_maps = st.fixed_dictionaries(
    {},
    optional={
        "rooms": room_lists,
        "except": room_lists,
        "flags": st.dictionaries(st.text(max_size=8), any_value, max_size=3) | any_value,
    },
)
packet_maps = st.fixed_dictionaries(
    {},
    optional={
        "type": st.integers(0, 6) | any_value,
        "data": st.lists(any_value, max_size=4) | any_value,
        "nsp": st.sampled_from(["/", "/admin"]) | any_value,
        "id": st.integers(0, 9) | any_value,
    },
)
entry_maps = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=4) | any_value,
        "handshake": st.dictionaries(st.text(max_size=4), any_value, max_size=3) | any_value,
        "rooms": room_lists,
        "data": any_value,
    },
)
inner_data = any_value | st.fixed_dictionaries(
    {},
    optional={
        "packet": packet_maps | st.lists(any_value, max_size=3) | any_value,
        "opts": opts_maps | any_value,
        "requestId": st.text(max_size=6) | any_value,
        "rooms": room_lists,
        "sockets": st.lists(entry_maps | st.text(max_size=4), max_size=3) | any_value,
        "clientCount": st.integers(0, 9) | any_value,
        "close": any_value,
    },
)
messages = st.fixed_dictionaries(
    {"type": st.integers(0, 20)},
    optional={
        "data": inner_data | st.lists(any_value, max_size=4),
        "uid": st.text(max_size=6) | any_value,
        "nsp": st.sampled_from(["/", "/admin"]) | any_value,
        "requestId": st.text(max_size=6) | any_value,
        "opts": opts_maps | any_value,
        "rooms": room_lists,
        "packet": packet_maps | any_value,
        "sockets": st.lists(entry_maps | st.text(max_size=4), max_size=3) | any_value,
        "clientCount": st.integers(0, 9) | any_value,
        "close": any_value,
        "sid": st.text(max_size=4) | any_value,
        "room": st.text(max_size=4) | any_value,
    },
)
structures = (
    messages
    | st.fixed_dictionaries(
        {"requestId": st.text(max_size=6) | any_value},
        optional={
            "type": st.integers(0, 20) | any_value,
            "sockets": st.lists(entry_maps | st.text(max_size=4), max_size=3) | any_value,
            "rooms": room_lists,
            "data": any_value,
            "packet": any_value,
            "clientCount": any_value,
        },
    )
    | st.tuples(
        st.text(max_size=6) | any_value, packet_maps | any_value, opts_maps | any_value
    ).map(list)
    | any_value
)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(structures)
def test_random_structures_as_json_and_msgpack(value: Any) -> None:
    for payload in (_js(value), _mp(value)):
        for name in DECODERS:
            attempt(name, payload)


# ---------------------------------------------------------------------------
# hypothesis: round trips
# ---------------------------------------------------------------------------
names = st.text(max_size=12)
leaf_args = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.binary(max_size=8)
)
args = st.lists(
    st.recursive(
        leaf_args,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=4),
        max_leaves=10,
    ),
    max_size=5,
)
json_args = st.lists(
    st.recursive(
        leaf_args.filter(lambda v: not isinstance(v, bytes)),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=4),
        max_leaves=10,
    ),
    max_size=5,
)
rooms = st.lists(names, max_size=3).map(tuple)
namespaces = st.sampled_from(["/", "/admin"]) | names.map(lambda n: "/" + n)
flags = st.fixed_dictionaries(
    {},
    optional={
        "volatile": st.booleans(),
        "compress": st.booleans(),
        "timeout": st.integers(0, 10**6),
    },
)
request_ids = st.none() | st.text(min_size=1, max_size=16)


def as_msgpack(value: Any) -> Any:
    """``value`` as notepack would give it back: integral floats are integers."""
    if type(value) is float and value.is_integer() and -(2**63) <= value < 2**64:
        return int(value)
    if isinstance(value, (list, tuple)):
        return [as_msgpack(v) for v in value]
    if isinstance(value, dict):
        return {k: as_msgpack(v) for k, v in value.items()}
    return value


def as_json(value: Any) -> Any:
    """``value`` as ``JSON.parse(JSON.stringify(value))`` gives it back."""
    if type(value) is float and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, bytes):
        return {"type": "Buffer", "data": list(value)}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    return value


def typed(value: Any) -> Any:
    """A tree that also tells 1 from 1.0 and True from 1 (== does not)."""
    if isinstance(value, list):
        return ["list", [typed(v) for v in value]]
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    return (type(value).__name__, value)


def same(decoded: Any, expected: Any) -> None:
    assert typed(decoded) == typed(expected)


ROUND_TRIP = settings(max_examples=400, deadline=None)


@ROUND_TRIP
@given(
    st.sampled_from([EMITTER_UID]) | names,
    namespaces,
    names,
    args,
    rooms,
    rooms,
    flags,
    st.none() | st.integers(0, 1000),
)
def test_classic_broadcast_round_trip(
    uid: str, nsp: str, event: str, argv: list[Any], to: Any, exc: Any, fl: Any, pid: Any
) -> None:
    msg = Broadcast(uid, nsp, Packet([event, *argv], nsp, id=pid), BroadcastOptions(to, exc, fl))
    decoded = classic.decode_broadcast(classic.encode_broadcast(msg))
    assert decoded == msg
    same(decoded.packet.data, as_msgpack([event, *argv]))


@ROUND_TRIP
@given(names, namespaces, names, args, rooms, rooms, flags, request_ids)
def test_cluster_broadcast_round_trip(
    uid: str, nsp: str, event: str, argv: list[Any], to: Any, exc: Any, fl: Any, rid: Any
) -> None:
    msg = Broadcast(uid, nsp, Packet([event, *argv], nsp), BroadcastOptions(to, exc, fl), rid)
    payload = cluster.encode_message(msg)
    has_bytes = payload[:1] != b"{"
    decoded = cluster.decode_message(payload)
    assert isinstance(decoded, Broadcast)
    expected = as_msgpack([event, *argv]) if has_bytes else as_json([event, *argv])
    same(decoded.packet.data, expected)
    assert decoded == Broadcast(uid, nsp, Packet(expected, nsp), msg.opts, rid)


@ROUND_TRIP
@given(st.sampled_from([EMITTER_UID]) | names, namespaces, names, args, request_ids)
def test_server_side_emit_round_trip(
    uid: str, nsp: str, event: str, argv: list[Any], rid: str | None
) -> None:
    msg = ServerSideEmit(uid, nsp, [event, *argv], rid)
    # Classic: always JSON, so bytes come back as Node's Buffer JSON.
    decoded = classic.decode_request(classic.encode_request(msg), nsp)
    expected = as_json([event, *argv])
    assert decoded == ServerSideEmit(uid, nsp, expected, rid)
    assert isinstance(decoded, ServerSideEmit)
    same(decoded.data, expected)
    # Cluster: msgpack when there are bytes, so they survive.
    payload = cluster.encode_message(msg)
    cdecoded = cluster.decode_message(payload)
    assert isinstance(cdecoded, ServerSideEmit)
    expected = as_msgpack(msg.data) if payload[:1] != b"{" else as_json(msg.data)
    same(cdecoded.data, expected)
    assert cdecoded == ServerSideEmit(uid, nsp, expected, rid)


@ROUND_TRIP
@given(st.none() | names, namespaces, rooms, rooms, flags, rooms, st.booleans())
def test_sockets_join_round_trip(
    uid: str | None, nsp: str, to: Any, exc: Any, fl: Any, join: Any, leave: bool
) -> None:
    kind = SocketsLeave if leave else SocketsJoin
    # Classic join/leave carry no flags.
    msg = kind(uid, nsp, BroadcastOptions(to, exc), join)
    assert classic.decode_request(classic.encode_request(msg), nsp) == msg
    cmsg = kind(uid or EMITTER_UID, nsp, BroadcastOptions(to, exc, fl), join)
    assert cluster.decode_message(cluster.encode_message(cmsg)) == cmsg


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=8,
)
entries = st.builds(
    SocketEntry,
    id=names,
    handshake=st.dictionaries(names, json_values, max_size=4),
    rooms=rooms,
    data=st.none() | json_values | args,
)


@ROUND_TRIP
@given(names, namespaces, st.text(min_size=1, max_size=16), st.lists(entries, max_size=3))
def test_fetch_sockets_response_round_trip(
    uid: str, nsp: str, rid: str, socks: list[SocketEntry]
) -> None:
    def expect(normalise: Callable[[Any], Any]) -> tuple[SocketEntry, ...]:
        return tuple(
            SocketEntry(e.id, normalise(e.handshake), e.rooms, normalise(e.data)) for e in socks
        )

    msg = FetchSocketsResponse(None, nsp, rid, tuple(socks))
    decoded = classic.decode_response(classic.encode_response(msg), nsp)
    assert decoded == FetchSocketsResponse(None, nsp, rid, expect(as_json))
    assert isinstance(decoded, FetchSocketsResponse)
    same([e.data for e in decoded.sockets], [as_json(e.data) for e in socks])

    cmsg = FetchSocketsResponse(uid, nsp, rid, tuple(socks))
    payload = cluster.encode_message(cmsg)
    normalise = as_msgpack if payload[:1] != b"{" else as_json
    cdecoded = cluster.decode_message(payload)
    assert cdecoded == FetchSocketsResponse(uid, nsp, rid, expect(normalise))
    assert isinstance(cdecoded, FetchSocketsResponse)
    same([e.data for e in cdecoded.sockets], [normalise(e.data) for e in socks])


# ---------------------------------------------------------------------------
# value rules
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "hex_"),
    [
        (1.0, "01"),
        (-1.0, "ff"),
        (300.0, "cd012c"),
        (2.0**40, "cf0000010000000000"),
        (-0.0, "00"),
        (1.5, "cb3ff8000000000000"),
        (math.nan, "cb7ff8000000000000"),
        (math.inf, "cb7ff0000000000000"),
        (2.0**64, "cb43f0000000000000"),  # beyond uint64: stays a float
        (2**64 - 1, "cfffffffffffffffff"),
        (-(2**63), "d38000000000000000"),
        (True, "c3"),
        (None, "c0"),
        (b"\x01\x02", "c4020102"),
        (bytearray(b"\x01"), "c40101"),
        ("é", "a2c3a9"),
        ((1, 2), "920102"),
    ],
)
def test_pack_values(value: Any, hex_: str) -> None:
    assert pack(value).hex() == hex_


@pytest.mark.parametrize(
    ("value", "hex_"),
    [
        (dt.datetime(1970, 1, 1, tzinfo=UTC), "d6ff00000000"),
        (dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC), "d6ff6553f100"),
        (dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC), "d7ff1d5353006553f100"),
        # Dates carry milliseconds only.
        (dt.datetime(2023, 11, 14, 22, 13, 20, 123999, tzinfo=UTC), "d7ff1d5353006553f100"),
        # Naive means UTC.
        (dt.datetime(2023, 11, 14, 22, 13, 20, 123000), "d7ff1d5353006553f100"),
        (
            dt.datetime(2023, 11, 15, 0, 13, 20, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "d6ff6553f100",
        ),
    ],
)
def test_pack_datetimes(value: dt.datetime, hex_: str) -> None:
    assert pack(value).hex() == hex_


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (b"\x01\x02", b'{"type":"Buffer","data":[1,2]}'),
        (b"", b'{"type":"Buffer","data":[]}'),
        (dt.datetime(1970, 1, 1, tzinfo=UTC), b'"1970-01-01T00:00:00.000Z"'),
        (dt.datetime(2023, 11, 14, 22, 13, 20, 123456), b'"2023-11-14T22:13:20.123Z"'),
        (
            dt.datetime(2023, 11, 15, 0, 13, 20, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            b'"2023-11-14T22:13:20.000Z"',
        ),
        (math.nan, b"null"),
        (math.inf, b"null"),
        (-math.inf, b"null"),
        ("é✓", '"é✓"'.encode()),
        (1e-7, b"1e-7"),
        (1.5e-5, b"0.000015"),
        (1e21, b"1e+21"),
        (1e20, b"100000000000000000000"),
        (1.0, b"1"),
        (-0.0, b"0"),
        (0.1, b"0.1"),
        ({"b": 1, "a": [1, None]}, b'{"b":1,"a":[1,null]}'),
        ([1.5e-10, {"x": 2e-7}], b'[1.5e-10,{"x":2e-7}]'),
    ],
)
def test_dumps_json_values(value: Any, text: bytes) -> None:
    assert dumps_json(value) == text


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, [2**70], {"a": -(2**64)}])
def test_pack_rejects_integers_out_of_range(value: Any) -> None:
    with pytest.raises(ValueError):
        pack(value)


@pytest.mark.parametrize(
    "value", [object(), {1, 2}, [object()], {"a": object()}, {(1, 2): 1}, {"a": {(1,): 2}}]
)
@pytest.mark.parametrize("encode", [pack, dumps_json], ids=["pack", "dumps_json"])
def test_unencodable_values_are_type_errors(encode: Callable[[Any], bytes], value: Any) -> None:
    with pytest.raises(TypeError):
        encode(value)


def test_numeric_keys_become_strings() -> None:
    assert pack({1: "a"}) == pack({"1": "a"})
    assert dumps_json({1: "a", 2.0: "b"}) == b'{"1":"a","2":"b"}'
