"""Hostile and malformed input published straight into a LIVE server's channels (issue 7).

A raw Redis client publishes garbage on every channel kind a server listens to (classic:
broadcast, room, request, shared and specific response channels; sharded on standalone
Redis 7: the namespace channel, a dynamic room channel and the response channel). For
each: every malformed message is dropped with a warning on the ``sio_redis`` logger
(rate-limited: a flood of 5,000 gives a bounded number of lines), messages that are
well-formed but not ours (another namespace, a response to no request) are ignored, the
listener stays alive and healthy, nothing reaches the event loop's exception handler, and
a valid broadcast from another server still reaches a real client afterwards.
"""

from __future__ import annotations

import gc
import logging
import random
from typing import Any

import msgpack
import pytest
import redis.asyncio

from sio_emitter.protocol import (
    Broadcast,
    BroadcastOptions,
    FetchSocketsResponse,
    Packet,
    ServerSideEmit,
    ServerSideEmitResponse,
    classic,
    cluster,
)
from tests.support import require
from tests.support.faults import loop_errors, sharded_pubsub_missing

MAX_PAYLOAD = 64 * 1024
DEEP = 300  # decodable by msgpack/json, far deeper than any Socket.IO message needs
HUGE = 100_000  # deeper than any decoder's own limit


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


def _rand(seed: int, first: bytes, n: int = 64) -> bytes:
    return first + random.Random(seed).randbytes(n)


# Malformed for every channel: each must be dropped with one warning.
COMMON_BAD: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("random-bytes", _rand(1, b"\xc1")),  # 0xc1 is never valid msgpack
    ("random-json-ish", _rand(2, b"{")),
    ("truncated-msgpack", b"\x93\xa3abc"),
    ("msgpack-map", msgpack.packb({"a": 1})),
    ("msgpack-short-array", msgpack.packb([1, 2])),
    ("msgpack-string", msgpack.packb("hello")),
    ("msgpack-int-keys", b"\x81\x01\x02"),  # {1: 2}: map keys must be strings
    ("json-empty-object", b"{}"),
    ("json-wrong-types", b'{"type": "x", "uid": 1, "requestId": [], "nsp": 5}'),
    ("json-unknown-type", b'{"type": 99, "uid": "x", "requestId": "y", "nsp": "/", "data": {}}'),
    ("json-nan", b'{"type": NaN}'),
    ("msgpack-unknown-type", msgpack.packb({"type": 99, "uid": "x", "nsp": "/", "data": {}})),
    ("ext-type", msgpack.packb(msgpack.ExtType(42, b"\x00\x01"))),
    ("bad-timestamp-ext", b"\xd4\xff\x00"),  # fixext1, type -1: no valid timestamp
    ("msgpack-nested-100k", b"\x91" * HUGE + b"\xc0"),
    ("json-nested-100k", b'{"a":' + b"[" * HUGE + b"]" * HUGE + b"}"),
    ("over-size-cap", b"\x00" * (MAX_PAYLOAD + 1)),
]


def _classic_deep(kind: str) -> bytes:
    nested = _nested(DEEP)
    if kind in ("broadcast", "room"):
        return classic.encode_broadcast(
            Broadcast("evil", "/", Packet(["deep", nested], "/"), BroadcastOptions())
        )
    if kind == "request":
        return classic.encode_request(ServerSideEmit("evil", "/", ["deep", nested], "rq"))
    return classic.encode_response(ServerSideEmitResponse(None, "/", "no-such-request", nested))


def _sharded_deep() -> bytes:
    return cluster.encode_message(
        Broadcast("evil", "/", Packet(["deep", _nested(DEEP)], "/"), BroadcastOptions())
    )


def _classic_ignored(kind: str) -> list[tuple[str, bytes]]:
    """Well-formed, but not for us: dropped silently, never delivered."""
    if kind in ("broadcast", "room"):
        other = Broadcast("evil", "/admin", Packet(["wrong-nsp"], "/admin"), BroadcastOptions())
        ext = classic.encode_broadcast(
            Broadcast("evil", "/", Packet(["ext-ev", 1], "/"), BroadcastOptions(("no-room",)))
        )
        return [("wrong-namespace", classic.encode_broadcast(other)), ("not-our-room", ext)]
    if kind == "request":
        return []  # a request's namespace is its channel's
    return [
        (
            "unknown-request-id",
            classic.encode_response(FetchSocketsResponse(None, "/", "no-such-request", ())),
        ),
        (
            "unknown-request-id-sse",
            classic.encode_response(ServerSideEmitResponse(None, "/", "nope", "x")),
        ),
    ]


def _sharded_ignored(kind: str) -> list[tuple[str, bytes]]:
    wrong = cluster.encode_message(
        Broadcast("evil", "/admin", Packet(["wrong-nsp"], "/admin"), BroadcastOptions())
    )
    unknown = cluster.encode_message(FetchSocketsResponse("evil", "/", "no-such-request", ()))
    return [("wrong-namespace", wrong), ("unknown-request-id", unknown)]


CLASSIC_KINDS = ["broadcast", "room", "request", "response", "specific-response"]
SHARDED_KINDS = ["base", "room", "response"]


def _classic_channel(kind: str, key: str, uid: str) -> str:
    return {
        "broadcast": f"{key}#/#",
        "room": f"{key}#/#r#",
        "request": f"{key}-request#/#",
        "response": f"{key}-response#/#",
        "specific-response": f"{key}-response#/#{uid}#",
    }[kind]


def _sharded_channel(kind: str, key: str, uid: str) -> str:
    return {"base": f"{key}#/#", "room": f"{key}#/#r#", "response": f"{key}#/#{uid}#"}[kind]


def _dropped(records: list[logging.LogRecord], uid: str) -> list[logging.LogRecord]:
    return [
        r
        for r in records
        if getattr(r, "uid", None) == uid and r.getMessage().startswith("dropped malformed")
    ]


def _errors(records: list[logging.LogRecord]) -> list[str]:
    return [
        f"{r.levelname} {r.getMessage()} {r.exc_info[1]!r}" if r.exc_info else r.getMessage()
        for r in records
        if r.levelno >= logging.ERROR
    ]


async def _setup(py_server: Any, py_client: Any, **options: Any) -> tuple[Any, Any, Any]:
    victim = await py_server(name="victim", max_payload=MAX_PAYLOAD, **options)
    sender = await py_server(name="sender", **options)
    client = await py_client(victim.url, name="cv", auth={"rooms": ["r"]})
    await sender.mgr.of("/").to("r").emit("warm-up", 0)  # room channel subscribed and live
    await client.events.wait(lambda e: e.get("event") == "warm-up")
    return victim, sender, client


async def _barrier(sender: Any, client: Any, event: str) -> None:
    """A valid broadcast from another server reaches the client: everything published
    before it was handled (one subscriber connection: Redis keeps the order)."""
    await sender.mgr.of("/").to("r").emit(event, {"ok": True})
    ev = await client.events.wait(lambda e: e.get("event") == event, timeout=10)
    assert ev["args"] == [{"ok": True}]


async def _publish_all(
    url: str, command: str, channel: str, payloads: list[tuple[str, bytes]]
) -> None:
    raw = redis.asyncio.Redis.from_url(url)
    try:
        for _, payload in payloads:
            if command == "SPUBLISH":
                await raw.spublish(channel, payload)
            else:
                await raw.publish(channel, payload)
    finally:
        await raw.aclose()


async def _hostile_round(
    victim: Any,
    sender: Any,
    client: Any,
    url: str,
    command: str,
    channel: str,
    bad: list[tuple[str, bytes]],
    ignored: list[tuple[str, bytes]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen_before = len(client.events.items)
    with loop_errors() as loop_calls:
        for label, payload in bad:
            mark = len(caplog.records)
            await _publish_all(url, command, channel, [(label, payload)])
            await _barrier(sender, client, f"after-{label}")
            warned = _dropped(caplog.records[mark:], victim.mgr.uid)
            assert len(warned) == 1, f"{label}: expected one warning, got {len(warned)}"
            assert channel in warned[0].getMessage()
        await _publish_all(url, command, channel, ignored)
        await _barrier(sender, client, "after-ignored")
        gc.collect()  # an unretrieved task exception is reported when the task is freed
    assert not loop_calls.calls, loop_calls.describe()
    assert not _errors(caplog.records), _errors(caplog.records)
    assert victim.mgr.healthy and victim.mgr.listener_restarts == 0
    assert sender.mgr.healthy
    events = [e["event"] for e in client.events.items[seen_before:] if e.get("kind") == "client"]
    assert events == [f"after-{label}" for label, _ in bad] + ["after-ignored"]


@pytest.mark.parametrize("kind", CLASSIC_KINDS)
async def test_classic_channels_survive_hostile_input(
    kind: str, py_server: Any, py_client: Any, redis_url: str, key: str,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.WARNING, logger="sio_redis")
    victim, sender, client = await _setup(py_server, py_client)
    channel = _classic_channel(kind, key, victim.mgr.uid)
    bad = [*COMMON_BAD, ("nested-300-in-valid-shape", _classic_deep(kind))]
    await _hostile_round(
        victim, sender, client, redis_url, "PUBLISH", channel, bad, _classic_ignored(kind), caplog
    )


@pytest.mark.parametrize("kind", SHARDED_KINDS)
async def test_sharded_channels_survive_hostile_input(
    kind: str, py_server: Any, py_client: Any, redis_url: str, key: str,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    require(sharded_pubsub_missing(redis_url))
    caplog.set_level(logging.WARNING, logger="sio_redis")
    victim, sender, client = await _setup(py_server, py_client, sharded=True)
    channel = _sharded_channel(kind, key, victim.mgr.uid)
    bad = [*COMMON_BAD, ("nested-300-in-valid-shape", _sharded_deep())]
    await _hostile_round(
        victim, sender, client, redis_url, "SPUBLISH", channel, bad, _sharded_ignored(kind), caplog
    )


FLOOD = 5_000


@pytest.mark.parametrize("sharded", [False, True], ids=["classic", "sharded"])
async def test_flood_of_bad_messages_is_rate_limited(
    sharded: bool, py_server: Any, py_client: Any, redis_url: str, key: str,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    if sharded:
        require(sharded_pubsub_missing(redis_url))
    caplog.set_level(logging.WARNING, logger="sio_redis")
    victim, sender, client = await _setup(py_server, py_client, sharded=sharded)
    uid = victim.mgr.uid
    channels = (
        [f"{key}#/#", f"{key}#/#r#", f"{key}#/#{uid}#"]
        if sharded
        else [f"{key}#/#", f"{key}#/#r#", f"{key}-request#/#", f"{key}-response#/#{uid}#"]
    )
    payloads: list[bytes] = [p for _, p in COMMON_BAD if len(p) < 1024]
    raw = redis.asyncio.Redis.from_url(redis_url)
    mark = len(caplog.records)
    with loop_errors() as loop_calls:
        try:
            pipe = raw.pipeline(transaction=False)
            for i in range(FLOOD):
                channel, payload = channels[i % len(channels)], payloads[i % len(payloads)]
                if sharded:
                    pipe.spublish(channel, payload)
                else:
                    pipe.publish(channel, payload)
            await pipe.execute()
        finally:
            await raw.aclose()
        await _barrier(sender, client, "after-flood")
        gc.collect()
    lines = caplog.records[mark:]
    victim_lines = [r for r in lines if getattr(r, "uid", None) == uid]
    assert 1 <= len(_dropped(lines, uid)) <= 25, f"{len(_dropped(lines, uid))} warnings"
    assert len(victim_lines) <= 30
    assert len(lines) <= 60  # both servers share some of the channels
    assert not loop_calls.calls, loop_calls.describe()
    assert not _errors(lines), _errors(lines)[:3]
    assert victim.mgr.healthy and victim.mgr.listener_restarts == 0
