"""The sans-I/O core, fed bytes captured from Node (tests/vectors): what each message makes
a server do, who it is addressed to, and that nothing malformed escapes."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sio_emitter.protocol import (
    Broadcast,
    BroadcastOptions,
    FetchSockets,
    Packet,
    ServerSideEmit,
    SocketEntry,
    classic,
    cluster,
)
from sio_redis._wire import ClassicWire, ShardedWire
from sio_redis.core import (
    AnswerAllRooms,
    AnswerFetch,
    CallListeners,
    ClusterCore,
    Deliver,
    DeliverWithAck,
    DisconnectLocal,
    JoinRooms,
    LeaveRooms,
    PendingKind,
    ResponseArrived,
)

VECTORS = Path(__file__).parent / "vectors"


def _vectors(group: str) -> list[dict[str, Any]]:
    return list(json.loads((VECTORS / f"{group}.json").read_text())["vectors"])


def _classic_core(key: str, *, held: bool = True, specific: bool = True) -> ClusterCore:
    core = ClusterCore(ClassicWire(key, specific, uid="PYTEST"), has_room=lambda nsp, room: held)
    for nsp in ("/", "/admin"):
        core.add_namespace(nsp)
    return core


def _sharded_core(key: str = "socket.io") -> ClusterCore:
    core = ClusterCore(ShardedWire(key, "dynamic-private", uid="0" * 16), has_room=lambda *a: True)
    for nsp in ("/", "/admin"):
        core.add_namespace(nsp)
    return core


# What a server does with each kind of request, by vector name (h11-style table).
CLASSIC_REQUESTS: list[tuple[str, type]] = [
    ("classic-request-all-rooms", AnswerAllRooms),
    ("classic-request-sockets-join", JoinRooms),
    ("classic-request-sockets-join-except", JoinRooms),
    ("classic-request-sockets-leave", LeaveRooms),
    ("classic-request-fetch-sockets", AnswerFetch),
    ("classic-admin-request-fetch-sockets", AnswerFetch),
    ("classic-request-server-side-emit", CallListeners),
    ("classic-request-server-side-emit-with-ack", CallListeners),
    ("classic-request-broadcast-with-ack", DeliverWithAck),
    ("classic-request-broadcast-with-ack-binary", DeliverWithAck),
    ("classic-request-disconnect-sockets", DisconnectLocal),
    ("classic-request-disconnect-sockets-close", DisconnectLocal),
    ("classic-key-request-fetch-sockets", AnswerFetch),
]
SHARDED: list[tuple[str, type]] = [
    ("sharded-dynamic-broadcast-all", Deliver),
    ("sharded-dynamic-broadcast-room", Deliver),
    ("sharded-dynamic-broadcast-binary", Deliver),
    ("sharded-dynamic-broadcast-room-with-ack", DeliverWithAck),
    ("sharded-dynamic-sockets-join", JoinRooms),
    ("sharded-dynamic-sockets-leave", LeaveRooms),
    ("sharded-dynamic-disconnect-sockets-close", DisconnectLocal),
    ("sharded-dynamic-fetch-sockets", AnswerFetch),
    ("sharded-dynamic-server-side-emit", CallListeners),
    ("sharded-dynamic-server-side-emit-with-ack", CallListeners),
    ("sharded-dynamic-admin-fetch-sockets", AnswerFetch),
]


def _by_name(group: str) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in _vectors(group)}


def _pattern(channel: str) -> str | None:
    """The PSUBSCRIBE pattern a classic broadcast channel arrives through (as the
    transport reports it)."""
    key, nsp = channel.split("#")[:2]
    return None if key.endswith(("-request", "-response")) else f"{key}#{nsp}#*"


def _key_of(channel: str) -> str:
    head = channel.split("#", 1)[0]
    return head.removesuffix("-request").removesuffix("-response")


@pytest.mark.parametrize(("name", "effect"), CLASSIC_REQUESTS)
def test_classic_request_effects(name: str, effect: type) -> None:
    v = _by_name("classic")[name]
    core = _classic_core(_key_of(v["channel"]))
    result = core.receive(v["channel"], bytes.fromhex(v["hex"]))
    assert type(result) is effect
    reply = getattr(result, "reply", None)
    if reply is not None:
        uid = json.loads(bytes.fromhex(v["hex"])) if v["encoding"] == "json" else None
        requester = (uid or {}).get("uid")
        if effect is CallListeners:  # serverSideEmit replies always use the shared channel
            assert reply.channel.endswith("-response#/#")
        elif requester:
            assert reply.channel.endswith(f"#{requester}#")


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in _by_name("classic")
        if "broadcast" in n and "request" not in n and "response" not in n
    ],
)
def test_classic_broadcasts_deliver_and_room_filter(name: str) -> None:
    v = _by_name("classic")[name]
    payload = bytes.fromhex(v["hex"])
    pattern = _pattern(v["channel"])
    effect = _classic_core(_key_of(v["channel"])).receive(v["channel"], payload, pattern)
    assert type(effect) is Deliver
    room_channel = not v["channel"].endswith(("#/#", "#/admin#"))
    core = _classic_core(_key_of(v["channel"]), held=False)
    skipped = core.receive(v["channel"], payload, pattern)
    assert (skipped is None) == room_channel  # dropped unread when the room is not here


def test_own_messages_and_other_namespaces_are_ignored() -> None:
    core = _classic_core("socket.io")
    own = classic.encode_broadcast(Broadcast("PYTEST", "/", Packet(["x"]), BroadcastOptions()))
    assert core.receive("socket.io#/#", own, "socket.io#/#*") is None
    other_nsp = classic.encode_broadcast(Broadcast("peer", "/admin", Packet(["x"], "/admin")))
    assert core.receive("socket.io#/#", other_nsp, "socket.io#/#*") is None
    assert type(core.receive("socket.io#/admin#", other_nsp, "socket.io#/admin#*")) is Deliver
    own_request = classic.encode_request(ServerSideEmit("PYTEST", "/", ["ping"]))
    assert core.receive("socket.io-request#/#", own_request) is None


@pytest.mark.parametrize("specific", [True, False])
def test_classic_reply_channel_follows_the_option(specific: bool) -> None:
    core = _classic_core("socket.io", specific=specific)
    request = classic.encode_request(FetchSockets("peerUID", "/", BroadcastOptions(), "r1"))
    effect = core.receive("socket.io-request#/#", request)
    assert isinstance(effect, AnswerFetch)
    expected = "socket.io-response#/#peerUID#" if specific else "socket.io-response#/#"
    assert effect.reply.channel == expected
    publish = core.fetch_reply(effect.reply, (SocketEntry("s1", {}, ("s1",), {"a": 1}),))
    assert publish.channel == expected
    assert json.loads(publish.payload)["sockets"][0]["data"] == {"a": 1}


@pytest.mark.parametrize(
    ("request_name", "response_name", "kind"),
    [
        ("classic-request-fetch-sockets", "classic-response-fetch-sockets", PendingKind.FETCH),
        ("classic-request-all-rooms", "classic-response-all-rooms", PendingKind.ALL_ROOMS),
        (
            "classic-request-server-side-emit-with-ack",
            "classic-response-server-side-emit-ack",
            PendingKind.SERVER_SIDE_EMIT,
        ),
    ],
)
def test_classic_responses_complete_pending_requests(
    request_name: str, response_name: str, kind: PendingKind
) -> None:
    vectors = _by_name("classic")
    request = vectors[request_name]
    response = vectors[response_name]
    request_id = json.loads(bytes.fromhex(request["hex"]))["requestId"]
    core = _classic_core("socket.io")
    payload = bytes.fromhex(response["hex"])
    assert core.receive(response["channel"], payload) is None  # nobody asked
    core.pending[request_id] = __import__("sio_redis.core").core.Pending(kind, "/", expected=1)
    assert core.receive(response["channel"], payload) == ResponseArrived(request_id, True)
    assert core.finish_request(request_id) is not None
    assert core.receive(response["channel"], payload) is None  # late: ignored


def test_broadcast_ack_request_completes_after_count_and_acks() -> None:
    vectors = _by_name("classic")
    request_id = classic.decode_request(
        bytes.fromhex(vectors["classic-request-broadcast-with-ack"]["hex"]), "/"
    ).request_id  # type: ignore[union-attr]
    assert isinstance(request_id, str)
    core = _classic_core("socket.io")
    core.pending[request_id] = __import__("sio_redis.core").core.Pending(
        PendingKind.BROADCAST_ACK, "/", expected=1
    )
    count = vectors["classic-response-broadcast-client-count"]
    ack = vectors["classic-response-broadcast-ack"]
    assert core.receive(count["channel"], bytes.fromhex(count["hex"])) == ResponseArrived(
        request_id, False
    )
    assert core.receive(ack["channel"], bytes.fromhex(ack["hex"])) == ResponseArrived(
        request_id, True
    )


@pytest.mark.parametrize(("name", "effect"), SHARDED)
def test_sharded_effects(name: str, effect: type) -> None:
    v = _by_name("sharded")[name]
    core = _sharded_core()
    core.room_created(v["channel"].split("#")[1] or "/", v["channel"].split("#")[2], False)
    result = core.receive(v["channel"], bytes.fromhex(v["hex"]))
    assert type(result) is effect
    reply = getattr(result, "reply", None)
    if reply is not None:
        sender = cluster.decode_message(bytes.fromhex(v["hex"])).uid
        assert reply.command == "SPUBLISH"
        assert reply.channel.endswith(f"#{sender}#")


def test_sharded_room_channels_follow_rooms() -> None:
    core = ClusterCore(ShardedWire("k", "dynamic", uid="u" * 16), has_room=lambda *a: True)
    core.add_namespace("/")
    assert core.room_created("/", "room1", is_socket_id=False) is not None
    assert core.room_created("/", "room1", is_socket_id=False) is None  # already there
    assert core.room_created("/", "A" * 20, is_socket_id=True) is None  # private in dynamic
    assert "k#/#room1#" in core.all_subscriptions().shard_channels
    assert core.room_deleted("/", "room1") is not None
    assert "k#/#room1#" not in core.all_subscriptions().shard_channels
    assert core.room_deleted("/", "room1") is None


_CHANNELS = [
    "socket.io#/#",
    "socket.io#/#room1#",
    "socket.io-request#/#",
    "socket.io-response#/#",
    "socket.io-response#/#PYTEST#",
]


@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    channel=st.sampled_from(_CHANNELS),
    payload=st.one_of(
        st.binary(max_size=64),
        st.binary(max_size=64).map(lambda b: b"{" + b),
        st.binary(max_size=64).map(lambda b: b"\x93" + b),
        st.binary(max_size=64).map(lambda b: b"\x85\xa3uid" + b),
    ),
    sharded=st.booleans(),
)
def test_random_payloads_never_escape_the_handler(
    channel: str, payload: bytes, sharded: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="sio_redis")
    core = _sharded_core() if sharded else _classic_core("socket.io")
    if sharded:
        channel = channel.replace("-request", "").replace("-response", "")
    core.receive(channel, payload, None if sharded else _pattern(channel))  # never raises
