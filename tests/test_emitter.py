"""``Emitter`` and ``AsyncEmitter`` against the session Redis (no Node needed).

A raw redis-py subscriber sees what each call publishes; channels and bytes are checked
against what :class:`sio_emitter._operator.Target` computes, against the decoders, and
against payloads captured from Node's own emitter (tests/vectors/emitter.json).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis
import redis.asyncio
import redis.exceptions

from sio_emitter import AsyncEmitter, Emitter, RedisUnavailableError
from sio_emitter._operator import RESERVED_EVENTS, Publish, Target
from sio_emitter.protocol import (
    EMITTER_UID,
    Broadcast,
    BroadcastOptions,
    DisconnectSockets,
    Packet,
    ServerSideEmit,
    SocketsJoin,
    SocketsLeave,
    classic,
    cluster,
)
from tests.support import require
from tests.support.listener import Listener, Received
from tests.support.redis import RedisCluster, free_port, redis_cli_binary

ROOT = Path(__file__).resolve().parent.parent
UTC = dt.timezone.utc


@pytest.fixture
def listen(redis_url: str, key: str) -> Iterator[Listener]:
    """Every classic channel of ``key`` (broadcasts by pattern, requests by name)."""
    listener = Listener(redis_url).psubscribe(f"{key}#*")
    listener.subscribe(f"{key}-request#/#", f"{key}-request#/admin#")
    try:
        yield listener
    finally:
        listener.close()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def emitter(client: redis.Redis, key: str) -> Emitter:
    return Emitter(client, key)


@pytest_asyncio.fixture(loop_scope="session")
async def aclient(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    c = redis.asyncio.Redis.from_url(redis_url)
    try:
        yield c
    finally:
        await c.aclose()


@pytest.fixture
def aemitter(aclient: redis.asyncio.Redis, key: str) -> AsyncEmitter:
    return AsyncEmitter(aclient, key)


def unreachable_url(password: str | None = None) -> str:
    auth = f"user:{password}@" if password else ""
    return f"redis://{auth}127.0.0.1:{free_port()}/0"  # nothing listens there


# ---------------------------------------------------------------------------
# construction
# ---------------------------------------------------------------------------
def test_from_client_and_from_url(
    listen: Listener, client: redis.Redis, redis_url: str, key: str
) -> None:
    Emitter(client, key).emit("a", 1)
    from_url = Emitter.from_url(redis_url, key)
    try:
        from_url.emit("b", 2)
    finally:
        from_url.close()
    first, second = listen.take(2)
    assert first.channel == second.channel == f"{key}#/#"
    assert classic.decode_broadcast(first.data).packet.data == ["a", 1]
    assert classic.decode_broadcast(second.data).packet.data == ["b", 2]


async def test_async_from_client_and_from_url(
    listen: Listener, aclient: redis.asyncio.Redis, redis_url: str, key: str
) -> None:
    await AsyncEmitter(aclient, key).emit("a", 1)
    from_url = AsyncEmitter.from_url(redis_url, key)
    try:
        await from_url.emit("b", 2)
    finally:
        await from_url.aclose()
    first, second = listen.take(2)
    assert first.channel == second.channel == f"{key}#/#"
    assert classic.decode_broadcast(second.data).packet.data == ["b", 2]


def test_default_key_and_namespace(client: redis.Redis) -> None:
    e = Emitter(client)
    assert (e.key, e.namespace) == ("socket.io", "/")
    assert Emitter(client, nsp="chat").namespace == "/chat"


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda c: Emitter(c, ""), ValueError),
        (lambda c: Emitter(c, 1), ValueError),  # type: ignore[arg-type]
        (lambda c: Emitter(c, None), ValueError),  # type: ignore[arg-type]
        (lambda c: Emitter(c, nsp=1), TypeError),  # type: ignore[arg-type]
        (lambda c: Emitter(c, subscription_mode="nope"), ValueError),  # type: ignore[arg-type]
        (lambda c: Emitter(object()), TypeError),  # type: ignore[arg-type]
        (lambda c: Emitter(c).of(1), TypeError),  # type: ignore[arg-type]
        (lambda c: Emitter.from_url("http://localhost:6379"), ValueError),
        (lambda c: Emitter.from_url("localhost:6379"), ValueError),
        (lambda c: Emitter.from_url(6379), TypeError),  # type: ignore[arg-type]
        (lambda c: Emitter.from_url("redis+cluster://localhost"), ValueError),
        (lambda c: AsyncEmitter(c, ""), ValueError),
        (lambda c: AsyncEmitter.from_url("http://localhost:6379"), ValueError),
        (lambda c: AsyncEmitter.from_url(b"redis://localhost"), TypeError),  # type: ignore[arg-type]
    ],
)
def test_bad_construction(
    client: redis.Redis, make: Callable[[Any], object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        make(client)


def test_bad_url_error_hides_the_password() -> None:
    with pytest.raises(ValueError) as info:
        Emitter.from_url("http://user:s3cr3t@localhost/")
    assert "s3cr3t" not in str(info.value)


# ---------------------------------------------------------------------------
# chaining
# ---------------------------------------------------------------------------
def test_chaining_returns_new_objects(emitter: Emitter) -> None:
    chained = [
        emitter.to("r"),
        emitter.in_("r"),
        emitter.except_("r"),
        emitter.volatile,
        emitter.compress(False),
        emitter.of("/x"),
    ]
    for other in chained:
        assert other is not emitter
        assert type(other) is Emitter
    assert emitter._target == Target(emitter.key)
    assert "rooms=[]" in repr(emitter) and "flags={}" in repr(emitter)


def test_chaining_leaves_the_original_unchanged(listen: Listener, emitter: Emitter) -> None:
    base = emitter.to("r1")
    base.to("r2").except_("x").volatile.emit("narrow")
    base.emit("wide")
    emitter.emit("all")
    narrow, wide, all_ = listen.take(3)
    assert classic.decode_broadcast(narrow.data).opts == BroadcastOptions(
        ("r1", "r2"), ("x",), {"volatile": True}
    )
    assert wide.channel == f"{emitter.key}#/#r1#"
    assert classic.decode_broadcast(wide.data).opts == BroadcastOptions(("r1",))
    assert all_.channel == f"{emitter.key}#/#"
    assert classic.decode_broadcast(all_.data).opts == BroadcastOptions()


def test_of_adds_the_slash(listen: Listener, emitter: Emitter) -> None:
    assert emitter.of("admin").namespace == emitter.of("/admin").namespace == "/admin"
    assert emitter.of("admin")._target == emitter.of("/admin")._target
    emitter.of("admin").emit("x")
    got = listen.one()
    assert got.channel == f"{emitter.key}#/admin#"
    assert classic.decode_broadcast(got.data).packet.nsp == "/admin"


def test_of_starts_a_fresh_chain(emitter: Emitter) -> None:
    # As in Node, where of() exists only on the Emitter, not on its operators.
    t = emitter.to("r").volatile.of("/admin")._target
    assert (t.nsp, t.rooms, t.flags) == ("/admin", (), {})


def test_rooms_accumulate_and_dedupe(emitter: Emitter) -> None:
    t = emitter.to("a").in_(["b", "a"]).to(("c",)).except_("x").except_(["y", "x"])._target
    assert t.rooms == ("a", "b", "c")
    assert t.except_ == ("x", "y")
    # Any iterable of str, generators included.
    assert emitter.to(r for r in ["g1", "g2"])._target.rooms == ("g1", "g2")


def test_flag_order_is_kept(listen: Listener, emitter: Emitter) -> None:
    emitter.volatile.compress(False).emit("a")
    emitter.compress(True).volatile.emit("b")
    emitter.compress(False).volatile.compress(True).emit("c")
    a, b, c = (classic.decode_broadcast(m.data).opts.flags for m in listen.take(3))
    assert list(a.items()) == [("volatile", True), ("compress", False)]
    assert list(b.items()) == [("compress", True), ("volatile", True)]
    # Setting a flag again changes its value, not its place (as Object.assign).
    assert list(c.items()) == [("compress", True), ("volatile", True)]


# ---------------------------------------------------------------------------
# exact channel and bytes
# ---------------------------------------------------------------------------
def _node_vectors() -> dict[str, dict[str, Any]]:
    data = json.loads((ROOT / "tests" / "vectors" / "emitter.json").read_text())
    return {v["name"]: v for v in data["vectors"]}


NODE = _node_vectors()
SOCKET_ID = NODE["emitter-emit-socket-id"]["decoded"][2]["rooms"][0]

# vector name -> the same call through our API ("e" is an Emitter or AsyncEmitter).
CALLS: dict[str, Callable[[Any], Any]] = {
    "emitter-emit-all": lambda e: e.emit("hello", "world"),
    "emitter-emit-room": lambda e: e.to("room1").emit("hello", {"x": 1}),
    "emitter-emit-rooms": lambda e: e.to("room1").to(["room2", "room3"]).emit("hello", 2),
    "emitter-emit-except": lambda e: e.except_("room3").emit("hello", 3),
    "emitter-emit-room-except": lambda e: (
        e.to("room1").except_(["room2", "room3"]).emit("hello", 4)
    ),
    "emitter-emit-volatile": lambda e: e.volatile.emit("hello", 5),
    "emitter-emit-compress-false": lambda e: e.compress(False).emit("hello", 6),
    "emitter-emit-flags-room": lambda e: e.to("room1").compress(False).volatile.emit("hello", 7),
    "emitter-of-admin": lambda e: e.of("admin").emit("admin-hello", 1),
    "emitter-of-admin-room": lambda e: e.of("/admin").to("admins").emit("admin-room", "x"),
    "emitter-of-admin-volatile-except": lambda e: (
        e.of("admin").volatile.except_("r3").emit("evt", 1.5, -1, 300, "é")
    ),
    "emitter-emit-binary": lambda e: e.emit(
        "bin", b"\x01\x02\x03", {"nested": b"\x04", "list": [b""]}
    ),
    "emitter-emit-date": lambda e: e.emit(
        "date",
        dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC),
        dt.datetime(1970, 1, 1, tzinfo=UTC),
        dt.datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        dt.datetime.fromtimestamp(2**32, UTC),
    ),
    "emitter-emit-undefined-null": lambda e: e.emit("nothing", None, None, {"b": None}),
    "emitter-emit-numbers": lambda e: e.emit("numbers", 1, 2.5, -1, 300, 1.0, 2**40, math.nan),
    "emitter-emit-socket-id": lambda e: e.to(SOCKET_ID).emit("direct", 1),
    "emitter-sockets-join": lambda e: e.in_("room1").sockets_join("room2"),
    "emitter-sockets-join-all": lambda e: e.sockets_join(["room6", "room7"]),
    "emitter-sockets-leave": lambda e: e.in_("room1").except_("room9").sockets_leave(["room2"]),
    "emitter-sockets-leave-all": lambda e: e.sockets_leave("room6"),
    "emitter-admin-sockets-join": lambda e: e.of("admin").in_("admins").sockets_join("vip"),
    "emitter-disconnect-sockets-close": lambda e: e.in_("victims").disconnect_sockets(True),
    "emitter-disconnect-sockets-default": lambda e: e.in_("nobody").disconnect_sockets(),
    "emitter-server-side-emit": lambda e: e.server_side_emit("ping", "x"),
    "emitter-server-side-emit-binary-date": lambda e: e.server_side_emit(
        "ev", b"\x01\x02", dt.datetime(1970, 1, 1, tzinfo=UTC), 1.0, math.nan, None
    ),
    "emitter-admin-server-side-emit": lambda e: e.of("admin").server_side_emit(
        "admin-ping", {"a": 1}
    ),
}


def _expected_channel(vector: dict[str, Any], key: str) -> str:
    return re.sub(r"^(socket\.io|myapp)", lambda _: key, vector["channel"])


def _check_against_node(name: str, got: Received, key: str) -> None:
    vector = NODE[name]
    assert got.channel == _expected_channel(vector, key), vector["call"]
    assert got.data.hex() == vector["hex"], vector["call"]
    if got.channel.startswith(f"{key}-request#"):
        nsp = got.channel[len(f"{key}-request") + 1 : -1]
        assert classic.decode_request(got.data, nsp) is not None
    else:
        assert classic.decode_broadcast(got.data).uid == EMITTER_UID


@pytest.mark.parametrize("name", sorted(CALLS))
def test_sync_publishes_node_bytes(listen: Listener, emitter: Emitter, key: str, name: str) -> None:
    assert CALLS[name](emitter) is None
    _check_against_node(name, listen.one(), key)


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_async_publishes_node_bytes(
    listen: Listener, aemitter: AsyncEmitter, key: str, name: str
) -> None:
    assert await CALLS[name](aemitter) is None
    _check_against_node(name, listen.one(), key)


def test_every_emitter_vector_has_a_live_check() -> None:
    skipped = {"emitter-key-"}  # other key: same calls as above
    names = {n for n in NODE if not any(n.startswith(s) for s in skipped)}
    assert names == set(CALLS)


def _target_publish(key: str, action: str) -> tuple[Publish, Any]:
    """What Target computes for ``action``, and the decoded message expected."""
    t = Target(key).to("r1").except_rooms("r2")
    opts = BroadcastOptions(("r1",), ("r2",))
    if action == "emit":
        msg: Any = Broadcast(EMITTER_UID, "/", Packet(["ev", 1, "two"], "/"), opts)
        return t.emit_publish("ev", (1, "two")), msg
    if action == "join":
        return t.sockets_join_publish("j"), SocketsJoin(None, "/", opts, ("j",))
    if action == "leave":
        return t.sockets_leave_publish(["l"]), SocketsLeave(None, "/", opts, ("l",))
    if action == "disconnect":
        return t.disconnect_sockets_publish(True), DisconnectSockets(None, "/", opts, True)
    assert action == "server_side_emit"
    msg = ServerSideEmit(EMITTER_UID, "/", ["ev", 1, "two"])
    return Target(key).server_side_emit_publish("ev", (1, "two")), msg


def _do(e: Any, action: str) -> Any:
    chain = e.to("r1").except_("r2")
    if action == "emit":
        return chain.emit("ev", 1, "two")
    if action == "join":
        return chain.sockets_join("j")
    if action == "leave":
        return chain.sockets_leave(["l"])
    if action == "disconnect":
        return chain.disconnect_sockets(close=True)
    return e.server_side_emit("ev", 1, "two")


ACTIONS = ["emit", "join", "leave", "disconnect", "server_side_emit"]


def _check_action(got: Received, key: str, action: str) -> None:
    publish, msg = _target_publish(key, action)
    assert publish.command == "PUBLISH"
    assert (got.channel, got.data) == (publish.channel, publish.payload)
    if action == "emit":
        assert got.channel == f"{key}#/#r1#"
        assert classic.decode_broadcast(got.data) == msg
    else:
        assert got.channel == f"{key}-request#/#"
        assert classic.decode_request(got.data, "/") == msg


@pytest.mark.parametrize("action", ACTIONS)
def test_sync_action_matches_target(
    listen: Listener, emitter: Emitter, key: str, action: str
) -> None:
    _do(emitter, action)
    _check_action(listen.one(), key, action)


@pytest.mark.parametrize("action", ACTIONS)
async def test_async_action_matches_target(
    listen: Listener, aemitter: AsyncEmitter, key: str, action: str
) -> None:
    await _do(aemitter, action)
    _check_action(listen.one(), key, action)


# ---------------------------------------------------------------------------
# refused calls publish nothing
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("event", sorted(RESERVED_EVENTS))
def test_reserved_event_names(listen: Listener, emitter: Emitter, event: str) -> None:
    with pytest.raises(ValueError, match="reserved"):
        emitter.emit(event, 1)
    with pytest.raises(ValueError, match="reserved"):
        emitter.to("r").volatile.emit(event)
    listen.quiet()


async def test_async_reserved_event_name(listen: Listener, aemitter: AsyncEmitter) -> None:
    with pytest.raises(ValueError, match="reserved"):
        await aemitter.emit("disconnect")
    listen.quiet()


def test_callable_last_argument(listen: Listener, emitter: Emitter) -> None:
    with pytest.raises(ValueError, match="acknowledgements"):
        emitter.emit("ev", 1, lambda *_: None)
    with pytest.raises(ValueError, match="acknowledgements"):
        emitter.server_side_emit("ev", print)
    listen.quiet()


@pytest.mark.parametrize(
    "bad",
    [object(), {1, 2}, [object()], {"k": object()}, {(1, 2): "tuple key"}, 2**64, -(2**63) - 1],
    ids=["object", "set", "nested-object", "dict-value", "tuple-key", "uint64+1", "int64-1"],
)
def test_unencodable_argument(listen: Listener, emitter: Emitter, bad: Any) -> None:
    error = ValueError if isinstance(bad, int) else TypeError
    with pytest.raises(error):
        emitter.emit("ev", "fine", bad)
    if not isinstance(bad, int):  # JSON has no integer range
        with pytest.raises(error):
            emitter.server_side_emit("ev", bad)
    listen.quiet()


async def test_async_unencodable_argument(listen: Listener, aemitter: AsyncEmitter) -> None:
    with pytest.raises(TypeError):
        await aemitter.emit("ev", object())
    listen.quiet()


@pytest.mark.parametrize("rooms", [1, [1], ["ok", None], b"room", bytearray(b"r"), None, 1.5])
def test_bad_room_types(emitter: Emitter, rooms: Any) -> None:
    with pytest.raises(TypeError):
        emitter.to(rooms)
    with pytest.raises(TypeError):
        emitter.except_(rooms)
    with pytest.raises(TypeError):
        emitter.sockets_join(rooms)
    with pytest.raises(TypeError):
        emitter.sockets_leave(rooms)


def test_bad_flag_and_event_types(listen: Listener, emitter: Emitter) -> None:
    with pytest.raises(TypeError):
        emitter.compress("yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        emitter.disconnect_sockets("yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        emitter.emit(b"ev")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        emitter.server_side_emit(1)  # type: ignore[arg-type]
    listen.quiet()


# ---------------------------------------------------------------------------
# pipelines
# ---------------------------------------------------------------------------
def test_pipeline_sends_in_order(listen: Listener, emitter: Emitter, key: str) -> None:
    with emitter.pipeline() as p:
        for n in range(1000):
            p.to(f"user:{n}").emit("score", n)
        listen.quiet(0.05)  # nothing leaves before the block ends
    got = listen.take(1000, timeout=10)
    assert [m.channel for m in got] == [f"{key}#/#user:{n}#" for n in range(1000)]
    assert [classic.decode_broadcast(m.data).packet.data for m in got] == [
        ["score", n] for n in range(1000)
    ]


def test_pipeline_mixes_actions(listen: Listener, emitter: Emitter, key: str) -> None:
    with emitter.pipeline() as p:
        p.emit("a")
        p.to("r").sockets_join("s")
        p.server_side_emit("b")
    a, join, sse = listen.take(3)
    assert a.channel == f"{key}#/#"
    assert join.channel == sse.channel == f"{key}-request#/#"
    assert isinstance(classic.decode_request(join.data, "/"), SocketsJoin)


def test_pipeline_sends_nothing_when_the_block_raises(listen: Listener, emitter: Emitter) -> None:
    with pytest.raises(RuntimeError), emitter.pipeline() as p:
        for n in range(10):
            p.emit("n", n)
        raise RuntimeError("abort")
    with pytest.raises(ValueError), emitter.pipeline() as p:
        p.emit("fine")
        p.emit("connect")  # refused mid-block: the batch goes too
    listen.quiet()
    emitter.emit("after")  # the emitter itself is not left in pipeline mode
    assert classic.decode_broadcast(listen.one().data).packet.data == ["after"]


def test_empty_pipeline(listen: Listener, emitter: Emitter) -> None:
    with emitter.pipeline():
        pass
    listen.quiet()


async def test_async_pipeline_sends_in_order(
    listen: Listener, aemitter: AsyncEmitter, key: str
) -> None:
    async with aemitter.pipeline() as p:
        for n in range(1000):
            await p.to(f"user:{n}").emit("score", n)
        await p.sockets_join("all")
    got = listen.take(1001, timeout=10)
    assert [m.channel for m in got[:1000]] == [f"{key}#/#user:{n}#" for n in range(1000)]
    assert [classic.decode_broadcast(m.data).packet.data[1] for m in got[:1000]] == list(
        range(1000)
    )
    assert got[1000].channel == f"{key}-request#/#"


async def test_async_pipeline_sends_nothing_when_the_block_raises(
    listen: Listener, aemitter: AsyncEmitter
) -> None:
    with pytest.raises(RuntimeError):
        async with aemitter.pipeline() as p:
            await p.emit("n", 1)
            raise RuntimeError("abort")
    listen.quiet()


def test_sharded_pipeline(redis_url: str, emitter: Emitter, key: str) -> None:
    sharded = Listener(redis_url).ssubscribe(f"{key}#/#", f"{key}#/#r#")
    try:
        e = Emitter(emitter._client, key, sharded=True)
        with e.pipeline() as p:
            p.emit("a")
            p.to("r").emit("b")
        a, b = sharded.take(2)
        assert (a.kind, a.channel, b.channel) == ("smessage", f"{key}#/#", f"{key}#/#r#")
    finally:
        sharded.close()


# ---------------------------------------------------------------------------
# sharded
# ---------------------------------------------------------------------------
SHARDED_ACTIONS: list[tuple[str, Callable[[Any], Any], str, Any]] = [
    (
        "emit-all",
        lambda e: e.emit("ev", 1),
        "",
        Broadcast(EMITTER_UID, "/", Packet(["ev", 1], "/")),
    ),
    (
        "emit-room",
        lambda e: e.to("room1").emit("ev", b"\x01"),
        "room1#",
        Broadcast(EMITTER_UID, "/", Packet(["ev", b"\x01"], "/"), BroadcastOptions(("room1",))),
    ),
    (
        "emit-socket-id",
        lambda e: e.to("A" * 20).emit("ev"),
        "",
        Broadcast(EMITTER_UID, "/", Packet(["ev"], "/"), BroadcastOptions(("A" * 20,))),
    ),
    (
        "emit-two-rooms",
        lambda e: e.to(["room1", "r2"]).volatile.emit("ev"),
        "",
        Broadcast(
            EMITTER_UID,
            "/",
            Packet(["ev"], "/"),
            BroadcastOptions(("room1", "r2"), (), {"volatile": True}),
        ),
    ),
    (
        "join",
        lambda e: e.to("room1").sockets_join("x"),
        "",
        SocketsJoin(EMITTER_UID, "/", BroadcastOptions(("room1",)), ("x",)),
    ),
    (
        "leave",
        lambda e: e.except_("room1").sockets_leave("x"),
        "",
        SocketsLeave(EMITTER_UID, "/", BroadcastOptions((), ("room1",)), ("x",)),
    ),
    (
        "disconnect",
        lambda e: e.disconnect_sockets(True),
        "",
        DisconnectSockets(EMITTER_UID, "/", BroadcastOptions(), True),
    ),
    (
        "server-side-emit",
        lambda e: e.server_side_emit("ping", {"a": 1}),
        "",
        ServerSideEmit(EMITTER_UID, "/", ["ping", {"a": 1}]),
    ),
]


@pytest.fixture
def sharded_listener(redis_url: str, key: str) -> Iterator[Listener]:
    listener = Listener(redis_url).ssubscribe(
        f"{key}#/#", f"{key}#/#room1#", f"{key}#/#{'A' * 20}#"
    )
    try:
        yield listener
    finally:
        listener.close()


@pytest.mark.parametrize(
    ("name", "call", "suffix", "expected"), SHARDED_ACTIONS, ids=[a[0] for a in SHARDED_ACTIONS]
)
def test_sharded(
    sharded_listener: Listener,
    listen: Listener,
    client: redis.Redis,
    key: str,
    name: str,
    call: Callable[[Any], Any],
    suffix: str,
    expected: Any,
) -> None:
    call(Emitter(client, key, sharded=True))
    got = sharded_listener.one()
    assert (got.kind, got.channel) == ("smessage", f"{key}#/#{suffix}")
    assert cluster.decode_message(got.data) == expected
    listen.quiet(0.05)  # SPUBLISH reaches no classic subscriber


async def test_async_sharded(
    sharded_listener: Listener, aclient: redis.asyncio.Redis, key: str
) -> None:
    e = AsyncEmitter(aclient, key, sharded=True)
    await e.to("room1").emit("ev", 1)
    await e.to("room1").emit("ev", 2)
    got = sharded_listener.take(2)
    assert [m.channel for m in got] == [f"{key}#/#room1#"] * 2
    expected = Target(key, sharded=True).to("room1").emit_publish("ev", (2,))
    assert (expected.command, got[1].data) == ("SPUBLISH", expected.payload)


@pytest.mark.parametrize(
    ("mode", "room_channel", "sid_channel"),
    [
        ("static", "", ""),
        ("dynamic", "room1#", ""),
        ("dynamic-private", "room1#", "A" * 20 + "#"),
    ],
)
def test_sharded_subscription_modes(
    sharded_listener: Listener,
    client: redis.Redis,
    key: str,
    mode: Any,
    room_channel: str,
    sid_channel: str,
) -> None:
    e = Emitter(client, key, sharded=True, subscription_mode=mode)
    e.to("room1").emit("a")
    e.to("A" * 20).emit("b")
    room, sid = sharded_listener.take(2)
    assert room.channel == f"{key}#/#{room_channel}"
    assert sid.channel == f"{key}#/#{sid_channel}"


def test_sharded_of_keeps_the_mode(client: redis.Redis, key: str) -> None:
    t = Emitter(client, key, sharded=True, subscription_mode="static").of("/x")._target
    assert (t.sharded, t.subscription_mode, t.nsp) == (True, "static", "/x")


# ---------------------------------------------------------------------------
# Redis unreachable
# ---------------------------------------------------------------------------
def test_unreachable_redis_raises() -> None:
    e = Emitter.from_url(unreachable_url("pw-s3cret"), "k", socket_connect_timeout=0.5)
    try:
        started = time.monotonic()
        with pytest.raises(RedisUnavailableError) as info:
            e.emit("ev", 1)
        assert isinstance(info.value, ConnectionError)
        assert "pw-s3cret" not in str(info.value)
        calls: list[Callable[[], None]] = [
            lambda: e.to("r").sockets_join("x"),
            lambda: e.server_side_emit("ev"),
            lambda: e.disconnect_sockets(),
        ]
        for call in calls:
            with pytest.raises(RedisUnavailableError):
                call()
        with pytest.raises(RedisUnavailableError), e.pipeline() as p:
            p.emit("ev")
        assert time.monotonic() - started < 5
    finally:
        e.close()


def test_unreachable_redis_drops_volatile_emits() -> None:
    e = Emitter.from_url(unreachable_url(), "k", socket_connect_timeout=0.5)
    try:
        e.volatile.emit("ev", 1)  # returns without raising
        e.to("r").volatile.compress(False).emit("ev", 1)
        with pytest.raises(RedisUnavailableError):
            e.emit("ev", 1)  # the original is not volatile
    finally:
        e.close()


async def test_async_unreachable_redis() -> None:
    e = AsyncEmitter.from_url(unreachable_url(), "k", socket_connect_timeout=0.5)
    try:
        with pytest.raises(RedisUnavailableError):
            await e.emit("ev", 1)
        with pytest.raises(RedisUnavailableError):
            await e.server_side_emit("ev", 1)
        await e.volatile.emit("ev", 1)  # returns without raising
        with pytest.raises(RedisUnavailableError):
            async with e.pipeline() as p:
                await p.emit("ev")
    finally:
        await e.aclose()


def test_sharded_unreachable_redis() -> None:
    e = Emitter.from_url(unreachable_url(), "k", sharded=True, socket_connect_timeout=0.5)
    try:
        with pytest.raises(RedisUnavailableError):
            e.emit("ev")
        e.volatile.emit("ev")  # returns without raising
    finally:
        e.close()


class _ClusterDown:
    """A client whose every command fails the way redis-py's cluster clients do when no
    node answers (RedisClusterException is not a ConnectionError)."""

    def _fail(self, *args: Any) -> Any:
        raise redis.exceptions.RedisClusterException(
            "Redis Cluster cannot be connected. Please provide at least one reachable node"
        )

    publish = spublish = _fail


class _AsyncClusterDown(_ClusterDown):
    async def _afail(self, *args: Any) -> Any:
        self._fail()

    publish = spublish = _afail


@pytest.mark.parametrize("sharded", [False, True])
async def test_cluster_unreachable_is_redis_unavailable(sharded: bool) -> None:
    e = Emitter(_ClusterDown(), sharded=sharded)  # type: ignore[arg-type]
    with pytest.raises(RedisUnavailableError):
        e.emit("ev")
    e.volatile.emit("ev")  # dropped
    ae = AsyncEmitter(_AsyncClusterDown(), sharded=sharded)  # type: ignore[arg-type]
    with pytest.raises(RedisUnavailableError):
        await ae.server_side_emit("ev")
    await ae.volatile.emit("ev")  # dropped


def test_cluster_from_url_with_no_reachable_seed() -> None:
    url = f"redis+cluster://127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    with pytest.raises(RedisUnavailableError):
        Emitter.from_url(url, socket_connect_timeout=0.5)


def test_cluster_going_down(key: str) -> None:
    require(None if redis_cli_binary() else "redis-cli not found on PATH")
    # Its own cluster: the shared one must stay up for other tests.
    with RedisCluster() as nodes:
        e = Emitter.from_url(nodes.url, key, socket_connect_timeout=0.5)
        try:
            e.emit("up")
            for i in range(len(nodes.nodes)):
                nodes.kill_node(i)
            with pytest.raises(RedisUnavailableError):
                e.emit("down")
            e.volatile.emit("down")  # dropped
        finally:
            e.close()


# ---------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_emitter_survives_fork(listen: Listener, emitter: Emitter, key: str) -> None:
    emitter.emit("from", "parent-1")
    parent_id = emitter._client.client_id()  # the pooled connection the emit used
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            os.close(read_end)
            emitter.emit("from", "child")
            os.write(write_end, str(emitter._client.client_id()).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        child_id = int(pipe.read() or -1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    emitter.emit("from", "parent-2")
    # redis-py's pool noticed the fork: the child opened its own connection instead of
    # writing on the parent's socket, which the parent still uses afterwards.
    assert child_id not in (-1, parent_id)
    assert emitter._client.client_id() == parent_id
    got = listen.take(3)
    assert [classic.decode_broadcast(m.data).packet.data[1] for m in got] == [
        "parent-1",
        "child",
        "parent-2",
    ]
    assert all(m.channel == f"{key}#/#" for m in got)


def test_import_does_not_pull_in_python_socketio() -> None:
    code = (
        "import sys, sio_emitter, sio_emitter.cli, sio_emitter.aio, sio_emitter.protocol\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('socketio', 'engineio'))\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert (res.returncode, res.stdout.strip()) == (0, "ok"), res.stderr


async def test_async_concurrent_emits_share_round_trips(
    listen: Listener, aemitter: AsyncEmitter, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Emits made concurrently go out as pipelines, in order, each caller awaiting its own."""
    import asyncio

    client = aemitter._client
    pipelines: list[int] = []
    real = client.pipeline

    def counting(*args: Any, **kwargs: Any) -> Any:
        pipelines.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(client, "pipeline", counting)
    await asyncio.gather(*(aemitter.to(f"user:{n}").emit("score", n) for n in range(500)))
    got = listen.take(500, timeout=10)
    assert [classic.decode_broadcast(m.data).packet.data[1] for m in got] == list(range(500))
    assert 1 <= len(pipelines) < 50  # not a round trip per emit
    await aemitter.emit("alone", 1)  # a lone emit still goes out on its own
    assert listen.take(1, timeout=5)[0].channel == f"{key}#/#"


async def test_async_concurrent_emits_all_see_an_outage() -> None:
    import asyncio

    e = AsyncEmitter.from_url(unreachable_url(), "k", socket_connect_timeout=0.5)
    try:
        results = await asyncio.gather(
            e.emit("a", 1), e.to("r").emit("b", 2), e.volatile.emit("c", 3), return_exceptions=True
        )
        assert isinstance(results[0], RedisUnavailableError)
        assert isinstance(results[1], RedisUnavailableError)
        assert results[2] is None  # volatile: dropped, not raised
    finally:
        await e.aclose()


async def test_first_emit_after_a_redis_restart_is_published() -> None:
    """A pooled connection the restart closed is retried once, as the managers do: the
    first emit after Redis is back must not fail (both emitters, plain and pipelined)."""
    from tests.support.redis import RedisServer

    server = RedisServer(name="emit-restart").start()
    try:
        aemitter = AsyncEmitter.from_url(server.url, "k")
        emitter = Emitter.from_url(server.url, "k")
        await aemitter.emit("before", 1)
        emitter.emit("before", 1)
        server.stop(remove_dir=False)
        server.restart()
        listen = Listener(server.url).subscribe("k#/#")
        try:
            await aemitter.emit("after", "async")
            emitter.emit("after", "sync")
            assert len(listen.take(2, timeout=5)) == 2
        finally:
            listen.close()
        server.stop(remove_dir=False)
        server.restart()
        listen = Listener(server.url).subscribe("k#/#")
        try:
            async with aemitter.pipeline() as p:
                await p.emit("piped", 1)
                await p.emit("piped", 2)
            with emitter.pipeline() as sp:
                sp.emit("piped", 3)
            assert len(listen.take(3, timeout=5)) == 3
        finally:
            listen.close()
        await aemitter.aclose()
        emitter.close()
    finally:
        server.stop()
