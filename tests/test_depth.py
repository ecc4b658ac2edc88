"""The codec's nesting-depth cap and msgpack decode settings (pure: no Redis).

``MAX_DEPTH`` (100) levels of arrays/objects decode; one more is a ProtocolError, for
msgpack and JSON alike, and so is input deep enough to trip the decoders' own limits
(msgpack's C unpacker raises StackError at 1024 levels, json a RecursionError): every
decoder raises ProtocolError and nothing else. Payloads that merely *contain* many
bracket bytes (inside strings or binaries) are not rejected.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
import marshal
import pickle
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sio_emitter.protocol import (
    Broadcast,
    BroadcastOptions,
    Packet,
    ProtocolError,
    ServerSideEmit,
    ServerSideEmitResponse,
    _values,
    classic,
    cluster,
    dumps_json,
    pack,
    to_client_value,
    unpack,
)
from sio_emitter.protocol._values import MAX_DEPTH, loads_any, loads_json

VECTORS = Path(__file__).parent / "vectors"


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


def _lists(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def _maps(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = {"k": value}
    return value


def _vector_payloads() -> list[bytes]:
    return [
        bytes.fromhex(v["hex"])
        for f in sorted(VECTORS.glob("*.json"))
        for v in json.loads(f.read_text())["vectors"]
    ]


def test_max_depth_leaves_room_above_what_node_sends() -> None:
    deepest = max(_depth(loads_any(p)) for p in _vector_payloads())
    assert deepest <= 10  # Node's captured messages, arguments included
    assert MAX_DEPTH == 100
    assert MAX_DEPTH >= deepest + 64


@pytest.mark.parametrize("shape", [_lists, _maps], ids=["arrays", "maps"])
@pytest.mark.parametrize(
    ("encode", "decode"),
    [(pack, unpack), (dumps_json, loads_json)],
    ids=["msgpack", "json"],
)
def test_exactly_max_depth_decodes_one_more_does_not(
    shape: Callable[[int], Any], encode: Callable[[Any], bytes], decode: Callable[..., Any]
) -> None:
    assert _depth(decode(encode(shape(MAX_DEPTH)))) == MAX_DEPTH
    with pytest.raises(ProtocolError, match=f"nested deeper than {MAX_DEPTH} levels"):
        decode(encode(shape(MAX_DEPTH + 1)))
    # and a custom cap
    assert _depth(decode(encode(shape(5)), max_depth=5)) == 5
    with pytest.raises(ProtocolError):
        decode(encode(shape(6)), max_depth=5)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\x91" * 100_000 + b"\xc0", id="msgpack-100k-arrays"),
        pytest.param(b"\x81\xa1k" * 100_000 + b"\xc0", id="msgpack-100k-maps"),
        pytest.param(b"\x91" * 1_000 + b"\xc0", id="msgpack-1000"),  # under msgpack's own limit
        pytest.param(b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}", id="json-100k"),
        pytest.param(b"{" + b'"a":{' * 900 + b"}" * 901, id="json-900"),  # under json's
    ],
)
def test_hostile_depth_is_a_protocol_error_everywhere(payload: bytes) -> None:
    start = time.monotonic()
    with pytest.raises(ProtocolError, match="nested deeper than"):
        loads_any(payload)
    for decode in (
        classic.decode_broadcast,
        lambda p: classic.decode_request(p, "/"),
        lambda p: classic.decode_response(p, "/"),
        cluster.decode_message,
    ):
        with pytest.raises(ProtocolError):
            decode(payload)
    assert time.monotonic() - start < 2


DEEP = 150  # past the cap, within what the encoders and decoders themselves handle


@pytest.mark.parametrize(
    ("name", "payload", "decode"),
    [
        (
            "classic broadcast",
            classic.encode_broadcast(
                Broadcast("u", "/", Packet(["ev", _lists(DEEP)], "/"), BroadcastOptions())
            ),
            classic.decode_broadcast,
        ),
        (
            "classic request",
            classic.encode_request(ServerSideEmit("u", "/", ["ev", _maps(DEEP)], "r1")),
            lambda p: classic.decode_request(p, "/"),
        ),
        (
            "classic response",
            classic.encode_response(ServerSideEmitResponse(None, "/", "r1", _lists(DEEP))),
            lambda p: classic.decode_response(p, "/"),
        ),
        (
            "sharded broadcast",
            cluster.encode_message(
                Broadcast("u", "/", Packet(["ev", _lists(DEEP)], "/"), BroadcastOptions())
            ),
            cluster.decode_message,
        ),
        (
            "sharded binary broadcast",
            cluster.encode_message(
                Broadcast("u", "/", Packet(["ev", b"\x01", _lists(DEEP)], "/"), BroadcastOptions())
            ),
            cluster.decode_message,
        ),
    ],
)
def test_deep_arguments_in_valid_messages_are_rejected(
    name: str, payload: bytes, decode: Callable[[bytes], Any]
) -> None:
    with pytest.raises(ProtocolError, match="nested deeper than"):
        decode(payload)


def test_what_the_cap_lets_through_can_be_delivered_and_relayed() -> None:
    """Anything decoded at the cap survives what a server does next: relay it (encode)
    and hand it to python-socketio (to_client_value), without recursion trouble."""
    envelope = 4  # [uid, {data: [event, arg]}]: the packet's own levels
    arg = _lists(MAX_DEPTH - envelope)
    payload = classic.encode_broadcast(
        Broadcast("u", "/", Packet(["ev", arg], "/"), BroadcastOptions())
    )
    msg = classic.decode_broadcast(payload)
    assert classic.encode_broadcast(msg) == payload
    assert _depth(to_client_value(msg.packet.data)) == _depth(arg) + 1
    assert cluster.decode_message(cluster.encode_message(msg)) == msg


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b'{"s": "' + b"[" * 50_000 + b'"}', id="json-brackets-in-string"),
        pytest.param(pack({"b": b"\x91" * 50_000}), id="msgpack-container-bytes-in-binary"),
        pytest.param(pack({"s": "\x10" * 50_000}), id="msgpack-big-string"),
        pytest.param(pack([[i, {"a": [i]}] for i in range(5_000)]), id="msgpack-wide-shallow"),
        pytest.param(dumps_json({"a": [[i, {"b": [i]}] for i in range(5_000)]}), id="json-wide"),
    ],
)
def test_many_bracket_bytes_are_not_depth(payload: bytes) -> None:
    value = loads_any(payload)
    assert _depth(value) <= 5


@settings(max_examples=200, deadline=None)
@given(
    depth=st.integers(min_value=0, max_value=MAX_DEPTH + 20),
    maps=st.booleans(),
    encoding=st.sampled_from(["msgpack", "json"]),
)
def test_depth_rule_holds_for_any_depth(depth: int, maps: bool, encoding: str) -> None:
    value = {"x": (_maps if maps else _lists)(depth)}
    payload = pack(value) if encoding == "msgpack" else dumps_json(value)
    if depth + 1 <= MAX_DEPTH:
        assert loads_any(payload) == value
    else:
        with pytest.raises(ProtocolError):
            loads_any(payload)


# --- msgpack decode settings --------------------------------------------------------------


def test_extension_types_decode_to_plain_values() -> None:
    assert unpack(msgpack.packb(msgpack.ExtType(42, b"\x00\x01"))) == [42, b"\x00\x01"]
    assert unpack(msgpack.packb(msgpack.ExtType(0, b"\x00"))) is None  # notepack undefined
    assert unpack(msgpack.packb(msgpack.ExtType(0, b"abc"))) == b"abc"  # ArrayBuffer
    stamp = msgpack.packb(msgpack.Timestamp(1, 0), datetime=False)
    assert unpack(stamp) == dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=dt.timezone.utc)
    with pytest.raises(ProtocolError):
        unpack(b"\xd4\xff\x00")  # ext -1 (timestamp) with a body no timestamp has
    for value in (unpack(msgpack.packb([msgpack.ExtType(n, b"x") for n in range(1, 128)])),):
        assert all(type(item) is list and type(item[1]) is bytes for item in value)


def test_map_keys_must_be_strings() -> None:
    # ints, nil, arrays (unhashable) and maps as keys: strict_map_key refuses them
    for payload in (b"\x81\x01\x02", b"\x81\xc0\x02", b"\x81\x91\x01\x02", b"\x81\x80\x02"):
        with pytest.raises(ProtocolError):
            unpack(payload)
    # msgpack's strict mode admits bin keys (JavaScript would make them strings); a
    # relay writes them back as strings
    assert pack(unpack(b"\x81\xc4\x01k\x02")) == pack({"k": 2})


def test_unpack_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No hook that builds objects, raw=False, strict map keys, and the only ext hook is
    the codec's own (which returns plain values)."""
    seen: list[dict[str, Any]] = []
    real = msgpack.unpackb

    def spy(payload: bytes, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return real(payload, **kwargs)

    monkeypatch.setattr(_values.msgpack, "unpackb", spy)
    unpack(pack({"a": [1, b"x"]}))
    (kwargs,) = seen
    assert kwargs["raw"] is False
    assert kwargs["strict_map_key"] is True
    assert kwargs["ext_hook"] is _values._ext_hook
    assert not {"object_hook", "object_pairs_hook", "list_hook"} & set(kwargs)


def test_decoding_never_unpickles_or_evaluates(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the decoder must not run code from the payload")

    for module, name in ((pickle, "loads"), (pickle, "load"), (marshal, "loads")):
        monkeypatch.setattr(module, name, forbidden)
    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    evil = [
        pickle.dumps(object()),
        msgpack.packb(msgpack.ExtType(1, pickle.dumps(object()))),
        msgpack.packb({"__class__": "os.system", "args": ["echo pwned"]}),
        b'{"__class__": "os.system", "__reduce__": ["eval", "1+1"]}',
    ]
    for payload in [*_vector_payloads(), *evil]:
        try:
            loads_any(payload)
        except ProtocolError:
            pass
