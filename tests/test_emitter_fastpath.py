"""The emitter's fast paths (a cached frame per target, plain data packed as it is) give
the same bytes as the general encoder, for any target and data."""

from __future__ import annotations

from typing import Any

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from sio_emitter._operator import Target
from sio_emitter.protocol import EMITTER_UID, Broadcast, Packet, classic
from sio_emitter.protocol._values import _pack_value, pack

names = st.text(max_size=8)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.binary(max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)
flags = st.fixed_dictionaries({}, optional={"volatile": st.just(True), "compress": st.booleans()})


@settings(max_examples=1500, deadline=None)
@given(
    st.sampled_from(["/", "/chat"]),
    st.lists(names, max_size=3),
    st.lists(names, max_size=2),
    flags,
    st.text(min_size=1, max_size=10).filter(lambda e: e not in {"connect", "disconnect"}),
    st.lists(values, max_size=3),
)
def test_cached_frame_matches_the_general_encoder(
    nsp: str,
    rooms: list[str],
    except_: list[str],
    flag: dict[str, Any],
    event: str,
    args: list[Any],
) -> None:
    target = Target(nsp=nsp).to(rooms).except_rooms(except_)
    for name, value in flag.items():
        target = target.with_flag(name, value)
    try:
        fast = target.emit_publish(event, tuple(args)).payload
    except ValueError:
        return  # reserved names and out-of-range ints are refused by both paths
    msg = Broadcast(EMITTER_UID, nsp, Packet([event, *args], nsp), target._opts())
    assert fast == classic.encode_broadcast(msg)


@settings(max_examples=1500, deadline=None)
@given(values)
def test_plain_data_packs_as_the_general_walk_would(value: Any) -> None:
    try:
        expected = msgpack.packb(_pack_value(value), use_bin_type=True)
    except (OverflowError, ValueError):
        return
    assert pack(value) == expected
