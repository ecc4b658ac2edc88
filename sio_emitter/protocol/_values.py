"""Value encodings that match what Node puts on the wire.

Node's Redis family writes msgpack with notepack.io and JSON with ``JSON.stringify``.
Python's msgpack and json modules disagree with both in small ways that change bytes
(and sometimes what a JavaScript peer sees), so every value goes through a
normaliser first. See gotchas 1-9 of the protocol map.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from collections.abc import Mapping
from typing import Any, NoReturn

import msgpack

__all__ = [
    "DEFAULT_MAX_PAYLOAD",
    "MAX_DEPTH",
    "ProtocolError",
    "dumps_json",
    "has_binary",
    "loads_any",
    "loads_json",
    "pack",
    "to_client_value",
    "unpack",
]

#: Largest payload the decoders accept, in bytes. Node sets no limit; a cap keeps one
#: hostile publisher from making every server in the cluster allocate without bound.
DEFAULT_MAX_PAYLOAD = 8 * 1024 * 1024

#: Deepest nesting of arrays and objects (maps) the decoders accept; deeper input is a
#: :class:`ProtocolError`. Socket.IO's own envelopes use about 5 levels (the payloads
#: captured from Node in ``tests/vectors`` reach 8 with their arguments), so this leaves
#: application data some 95 levels, while keeping hostile input (a few bytes per level)
#: far from the recursion limits that would otherwise stop it somewhere downstream:
#: msgpack's C unpacker stops at 1024 levels, ``json`` at Python's recursion limit, and
#: everything that walks decoded values afterwards (re-encoding, delivery) is recursive.
MAX_DEPTH = 100

_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)
_MS = _dt.timedelta(milliseconds=1)
# notepack writes integral numbers as msgpack ints up to uint64; beyond that it
# corrupts them, so those stay float64 here (JavaScript cannot tell the difference).
_INT_MIN = -(2**63)
_INT_MAX = 2**64


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class ProtocolError(ValueError):
    """Raised by every ``decode_*`` function for input that is not a valid message.

    It is the only exception the decoders raise: truncated or undecodable payloads,
    payloads over the size cap, wrong shapes and unknown type numbers all end here.
    """


def _fail(message: str) -> NoReturn:
    raise ProtocolError(message)


# --- msgpack ---------------------------------------------------------------------------


def _to_timestamp(value: _dt.datetime) -> msgpack.Timestamp:
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    # JavaScript Dates carry milliseconds only.
    ms = (value - _EPOCH) // _MS
    return msgpack.Timestamp.from_unix_nano(ms * 1_000_000)


def _key(key: object) -> str:
    """An object key as JavaScript's ``String(key)`` writes it."""
    if type(key) is str:
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return str(int(key))
    if isinstance(key, float):
        if math.isnan(key):
            return "NaN"
        if math.isinf(key):
            return "Infinity" if key > 0 else "-Infinity"
        if key.is_integer() and abs(key) < 1e21:
            return str(int(key))
        return _js_number(float(key))
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key).decode("utf-8", "replace")  # String(buffer)
    if isinstance(key, str):
        return str(key)
    raise TypeError(f"object keys must be str, not {type(key).__name__}")


def _pack_value(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None or kind is bytes:
        return value
    if kind is float:
        if value.is_integer() and _INT_MIN <= value < _INT_MAX:
            return int(value)
        return value
    if kind is list or kind is tuple:
        return [_pack_value(item) for item in value]
    if kind is dict:
        return {_key(k): _pack_value(v) for k, v in value.items()}
    # Subclasses and other containers are rarer: checked after the fast path.
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _pack_value(float(value))
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, _dt.datetime):
        return _to_timestamp(value)
    if isinstance(value, Mapping):
        return {_key(k): _pack_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_pack_value(item) for item in value]
    raise TypeError(f"{type(value).__name__} cannot be sent to Socket.IO peers")


_PLAIN_SCALARS = frozenset({str, int, bool, bytes, type(None)})


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether msgpack can take ``value`` as it is: only exact str/int/bool/bytes/None,
    lists and str-keyed dicts (no floats: notepack writes integral ones as ints; no
    subclasses, tuples or other types, which :func:`_pack_value` converts or refuses)."""
    kind = type(value)
    if kind is list:
        items = value
    elif kind is dict:
        for k in value:
            if type(k) is not str:
                return False
        items = value.values()
    else:
        return kind in _PLAIN_SCALARS
    if depth > 32:
        return False  # let the general path decide
    for item in items:
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None or kind is bytes:
            continue
        if not _plain(item, depth + 1):
            return False
    return True


def pack(value: Any) -> bytes:
    """msgpack-encode ``value`` byte for byte as notepack.io would encode its JS twin.

    Raises ``TypeError`` for values JavaScript has no form for, and ``ValueError``
    for integers out of msgpack's range.
    """
    # Most event data is plain: checking that is cheaper than rebuilding it.
    normalised = value if _plain(value) else _pack_value(value)
    try:
        return msgpack.packb(normalised, use_bin_type=True)  # type: ignore[no-any-return]
    except OverflowError as exc:
        raise ValueError(f"integer out of range for msgpack: {exc}") from None
    except UnicodeEncodeError:
        raise ValueError("strings must not contain lone surrogates") from None


def _ext_hook(code: int, data: bytes) -> Any:
    # notepack's legacy ext 0: one byte means `undefined`, longer means ArrayBuffer.
    if code == 0:
        return None if len(data) == 1 else bytes(data)
    return [code, bytes(data)]


# msgpack type bytes that open an array or a map (fixmap, fixarray, array/map 16/32).
_MSGPACK_CONTAINERS = bytes(range(0x80, 0xA0)) + b"\xdc\xdd\xde\xdf"


def _too_deep(value: Any, max_depth: int) -> bool:
    """Whether ``value`` nests arrays/objects more than ``max_depth`` levels (iterative:
    deep input must not be able to exhaust the stack here either)."""
    kind = type(value)
    if kind is not list and kind is not dict:
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return True
        for child in node.values() if type(node) is dict else node:
            kind = type(child)
            if kind is list or kind is dict:
                stack.append((child, depth + 1))
    return False


def _deep_fail(max_depth: int) -> NoReturn:
    raise ProtocolError(f"nested deeper than {max_depth} levels")


def unpack(payload: bytes, max_size: int = DEFAULT_MAX_PAYLOAD, max_depth: int = MAX_DEPTH) -> Any:
    """Decode msgpack into plain data: dict/list/str/bytes/int/float/bool/None/datetime.

    Unknown extension types become plain ``[code, bytes]`` (no hook builds objects); map
    keys must be strings; more than ``max_depth`` levels of nesting is a ProtocolError."""
    if len(payload) > max_size:
        _fail(f"payload of {len(payload)} bytes is over the {max_size}-byte cap")
    try:
        value = msgpack.unpackb(
            payload,
            raw=False,
            strict_map_key=True,
            timestamp=3,
            ext_hook=_ext_hook,
        )
    except msgpack.StackError:  # the C unpacker's own depth limit (1024)
        raise ProtocolError(f"nested deeper than {max_depth} levels") from None
    except Exception as exc:  # msgpack raises a zoo of types; they all mean bad input
        raise ProtocolError(f"invalid msgpack: {exc or type(exc).__name__}") from None
    # Every level needs a container type byte: with no more such bytes than max_depth
    # anywhere in the payload (the common case), there is nothing to walk.
    if len(payload) - len(payload.translate(None, _MSGPACK_CONTAINERS)) > max_depth and (
        _too_deep(value, max_depth)
    ):
        _deep_fail(max_depth)
    return value


# --- JSON ------------------------------------------------------------------------------


def _iso(value: _dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    value = value.astimezone(_UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _json_value(value: Any, odd: list[bool]) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        if not math.isfinite(value):
            return None  # JSON.stringify writes null for NaN and +-Infinity
        if value.is_integer() and abs(value) < 1e21:
            return int(value)
        if abs(value) < 1e-4:
            odd.append(True)  # Python and JavaScript print these differently
        return value
    if kind is list or kind is tuple:
        return [_json_value(item, odd) for item in value]
    if kind is dict:
        return {_key(k): _json_value(v, odd) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        # What Buffer.prototype.toJSON produces.
        return {"type": "Buffer", "data": list(bytes(value))}
    if isinstance(value, _dt.datetime):
        return _iso(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _json_value(float(value), odd)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        return {_key(k): _json_value(v, odd) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(item, odd) for item in value]
    raise TypeError(f"{type(value).__name__} cannot be sent to Socket.IO peers")


def _js_number(value: float) -> str:
    """Number.prototype.toString for a finite non-integral float."""
    text = repr(value)
    if "e" not in text:
        return text
    mantissa, _, exp_text = text.partition("e")
    exp = int(exp_text)
    if -7 < exp < 0:  # JavaScript switches to exponent form below 1e-6 only
        sign = "-" if mantissa.startswith("-") else ""
        digits = mantissa.lstrip("-").replace(".", "")
        return f"{sign}0.{'0' * (-exp - 1)}{digits}"
    return f"{mantissa}e{exp:+d}"


def _dumps_js(value: Any) -> str:
    # The slow path, for values holding floats that Python's json would print
    # differently from JSON.stringify.
    if type(value) is float:
        return _js_number(value)
    if type(value) is list:
        return "[" + ",".join(_dumps_js(item) for item in value) + "]"
    if type(value) is dict:
        items = (json.dumps(k, ensure_ascii=False) + ":" + _dumps_js(v) for k, v in value.items())
        return "{" + ",".join(items) + "}"
    return json.dumps(value, ensure_ascii=False)


def dumps_json(value: Any) -> bytes:
    """UTF-8 bytes of what ``JSON.stringify`` writes for the JS twin of ``value``."""
    odd: list[bool] = []
    normalised = _json_value(value, odd)
    if odd:
        text = _dumps_js(normalised)
    else:
        text = json.dumps(normalised, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # JSON.stringify escapes lone surrogates; they can only stand inside strings.
        return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode("utf-8")


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def loads_json(
    payload: bytes, max_size: int = DEFAULT_MAX_PAYLOAD, max_depth: int = MAX_DEPTH
) -> Any:
    """Parse JSON as ``JSON.parse`` would (``NaN``/``Infinity`` literals are errors);
    more than ``max_depth`` levels of nesting is a ProtocolError."""
    if len(payload) > max_size:
        _fail(f"payload of {len(payload)} bytes is over the {max_size}-byte cap")
    try:
        # Node reads payloads as UTF-8; json.loads(bytes) would also guess UTF-16/32.
        value = json.loads(payload.decode("utf-8"), parse_constant=_reject_constant)
    except RecursionError:  # json's own limit: Python's recursion limit
        raise ProtocolError(f"nested deeper than {max_depth} levels") from None
    except Exception as exc:  # ValueError, UnicodeDecodeError
        raise ProtocolError(f"invalid JSON: {type(exc).__name__}") from None
    # Every level needs a "[" or "{" byte (strings may hold more: an upper bound).
    if payload.count(b"[") + payload.count(b"{") > max_depth and _too_deep(value, max_depth):
        _deep_fail(max_depth)
    return value


def loads_any(
    payload: bytes, max_size: int = DEFAULT_MAX_PAYLOAD, max_depth: int = MAX_DEPTH
) -> Any:
    """Decode the way Node's receivers do: a leading ``{`` means JSON, anything else msgpack."""
    if payload[:1] == b"{":
        return loads_json(payload, max_size, max_depth)
    return unpack(payload, max_size, max_depth)


# --- helpers ---------------------------------------------------------------------------


def has_binary(value: Any, _depth: int = 0) -> bool:
    """True when ``value`` holds bytes anywhere (Node's ``hasBinary``)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return True
    if _depth > 512:
        return False
    if isinstance(value, (list, tuple)):
        return any(has_binary(item, _depth + 1) for item in value)
    if isinstance(value, Mapping):
        return any(has_binary(item, _depth + 1) for item in value.values())
    return False


def to_client_value(value: Any) -> Any:
    """Turn decoded wire data into what a Socket.IO client would get from a Node server.

    msgpack timestamps become ISO strings (``Date.prototype.toJSON``); everything else is
    left alone, bytes included (the Socket.IO parser sends them as attachments).
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or kind is float or value is None:
        return value
    if kind is bytes:
        return value
    if kind is list:
        return [to_client_value(item) for item in value]
    if kind is dict:
        return {_key(k): to_client_value(v) for k, v in value.items()}
    if isinstance(value, _dt.datetime):
        return _iso(value)
    return value
