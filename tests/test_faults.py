"""Faults with real processes (issue 7): Redis going away under requests in flight, and
peer servers dying (SIGKILL) mid-request.

Promises checked:

* a cluster request in flight when Redis stops ends at its timeout (RequestTimeoutError /
  AckTimeoutError, with what had arrived), never hangs; one that cannot even be sent
  raises RedisUnavailableError; after Redis is back, requests succeed again and
  cross-server broadcasts resume within 5 s, sharded room channels included;
* a peer killed mid-request: the call returns what the live peers sent at the timeout,
  and ``server_count()`` drops once the dead peer's subscription is gone.

Outage tests use a Redis of their own (the shared one must stay up for every other test).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis

from sio_redis import AckTimeoutError, RedisUnavailableError, RequestTimeoutError
from tests.support import require
from tests.support.faults import (
    Phantom,
    eventually,
    freeze,
    kill,
    sharded_pubsub_missing,
    thaw,
)
from tests.support.redis import RedisServer, redis_server_binary

#: Request timeout of the calls under test, and how late they may end.
T = 1.5
MARGIN = 0.75
#: How soon after Redis is back broadcasts and requests must work again.
RECOVERY = 5.0


@pytest.fixture
def outage_redis() -> Iterator[RedisServer]:
    require(None if redis_server_binary() else "redis-server not found on PATH")
    server = RedisServer(name="faults")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _pending(mgr: Any) -> list[Any]:
    return list(mgr.core.pending.values())


async def _until_received(
    sender: Any, client: Any, room: str, event: str, within: float = RECOVERY, nsp: str = "/"
) -> float:
    """Broadcast ``event`` to ``room`` until ``client`` gets it; how long it took."""
    start = time.monotonic()
    n = 0
    while True:
        n += 1
        try:
            await sender.mgr.of(nsp).to(room).emit(event, n)
        except RedisUnavailableError:
            pass
        try:
            await client.events.wait(lambda e: e.get("event") == event, timeout=0.2)
            return time.monotonic() - start
        except TimeoutError:
            elapsed = time.monotonic() - start
            assert elapsed < within, f"{event!r} to {room!r} not delivered within {within} s"


# --- Redis outages -------------------------------------------------------------------

Call = Callable[[Any], Awaitable[Any]]

# kind -> (call, error type, "an answer from b arrived", what the error holds of b's answer)
KINDS: dict[str, tuple[Call, type[Exception], Callable[[Any], bool], Callable[..., Any]]] = {
    "fetch_sockets": (
        lambda a: a.mgr.of("/").timeout(T).fetch_sockets(),
        RequestTimeoutError,
        lambda p: p.responses >= 1,
        lambda exc: sorted(entry.id for entry in exc.partial),
    ),
    "server_side_emit_with_ack": (
        lambda a: a.mgr.server_side_emit_with_ack("whoami", timeout=T),
        RequestTimeoutError,
        lambda p: p.responses >= 1,
        lambda exc: exc.partial,
    ),
    "emit_with_ack": (
        lambda a: a.mgr.of("/").timeout(T).emit_with_ack("ping"),
        AckTimeoutError,
        lambda p: p.responses >= 1 and len(p.items) >= 1,
        lambda exc: exc.responses,
    ),
}


def _expected(kind: str, cb: Any) -> Any:
    return {
        "fetch_sockets": [cb.sid],
        "server_side_emit_with_ack": ["b"],
        "emit_with_ack": [{"client": "cb"}],
    }[kind]


async def _pair(py_server: Any, py_client: Any, url: str | None, **options: Any) -> tuple[Any, ...]:
    if url is not None:
        options["redis_url"] = url
    a = await py_server(name="a", **options)
    b = await py_server(name="b", **options)
    b.listen("whoami", reply="b")
    cb = await py_client(b.url, name="cb", auth={"rooms": ["r"]})
    return a, b, cb


@pytest.mark.parametrize("kind", list(KINDS))
async def test_request_in_flight_when_redis_stops_ends_at_its_timeout(
    kind: str, outage_redis: RedisServer, py_server: Any, py_client: Any, key: str
) -> None:
    call, error, arrived, held = KINDS[kind]
    a, b, cb = await _pair(py_server, py_client, outage_redis.url)
    # A member that never answers keeps the request in flight until its timeout.
    phantom = Phantom(outage_redis.url, key)
    try:
        assert await a.mgr.server_count() == 3
        start = time.monotonic()
        task = asyncio.ensure_future(call(a))
        await eventually(
            lambda: any(arrived(p) for p in _pending(a.mgr)), 2.0, "b's answer to arrive"
        )
        outage_redis.stop(remove_dir=False)
        with pytest.raises(error) as info:
            await asyncio.wait_for(task, T + 5)
        elapsed = time.monotonic() - start
        assert elapsed <= T + MARGIN, f"{kind} ended {elapsed:.2f} s after it started"
        assert held(info.value) == _expected(kind, cb), "what arrived before the outage"
        assert not a.mgr.core.pending and not a.mgr._waiters
    finally:
        phantom.close()

    outage_redis.restart()
    took = await _until_received(a, cb, "r", "after-restart")
    assert took < RECOVERY
    await _rejoined(a, b)


@pytest.mark.parametrize("kind", list(KINDS))
async def test_first_request_after_redis_restart_succeeds(
    kind: str, outage_redis: RedisServer, py_server: Any, py_client: Any
) -> None:
    """Once Redis is back and the servers are resubscribed, a request succeeds at the
    first try: no server may lose its reply on a connection the restart left dead."""
    call = KINDS[kind][0]
    a, b, cb = await _pair(py_server, py_client, outage_redis.url)
    assert _result(kind, await call(a)) == _expected(kind, cb)  # both servers have talked

    outage_redis.stop(remove_dir=False)
    outage_redis.restart()
    await _rejoined(a, b)
    assert _result(kind, await asyncio.wait_for(call(a), T + 1)) == _expected(kind, cb)


async def _rejoined(a: Any, b: Any) -> None:
    """Both servers subscribed again, as Redis itself reports it. ``healthy`` alone is not
    proof right after a restart: a listener notices the dead connection only at its next
    read, and until then it still says healthy."""

    async def both() -> bool:
        if not (a.mgr.healthy and b.mgr.healthy):
            return False
        try:
            return bool(await a.mgr.server_count() == 2 and await b.mgr.server_count() == 2)
        except ConnectionError:
            return False

    await eventually(both, RECOVERY, "resubscription")


async def test_first_broadcast_after_redis_restart_is_delivered(
    outage_redis: RedisServer, py_server: Any, py_client: Any
) -> None:
    a, b, cb = await _pair(py_server, py_client, outage_redis.url)
    await a.mgr.of("/").to("r").emit("before", 1)
    await cb.events.wait(lambda e: e.get("event") == "before")

    outage_redis.stop(remove_dir=False)
    outage_redis.restart()
    await _rejoined(a, b)
    await a.mgr.of("/").to("r").emit("after", 2)  # Redis is up: must not raise
    await cb.events.wait(lambda e: e.get("event") == "after", timeout=RECOVERY)


def _result(kind: str, result: Any) -> Any:
    return [s.id for s in result] if kind == "fetch_sockets" else result


@pytest.mark.parametrize("kind", list(KINDS))
async def test_request_while_redis_is_down_raises_redis_unavailable(
    kind: str, outage_redis: RedisServer, py_server: Any, py_client: Any
) -> None:
    call = KINDS[kind][0]
    a, b, cb = await _pair(py_server, py_client, outage_redis.url)
    outage_redis.stop(remove_dir=False)
    start = time.monotonic()
    with pytest.raises(RedisUnavailableError):  # documented: a ConnectionError subclass
        await asyncio.wait_for(call(a), T + 5)
    assert time.monotonic() - start <= T + MARGIN
    assert not a.mgr.core.pending and not a.mgr._waiters

    outage_redis.restart()
    await _rejoined(a, b)
    await _until_received(a, cb, "r", "after-restart")


async def test_request_while_redis_is_frozen_ends_at_its_timeout(
    outage_redis: RedisServer, py_server: Any, py_client: Any
) -> None:
    """A Redis that accepts bytes but never answers (SIGSTOP: a hung host, a partition):
    a request must still end at its own timeout, not at redis-py's socket timeout."""
    a, b, cb = await _pair(py_server, py_client, outage_redis.url)
    assert outage_redis.pid is not None
    freeze(outage_redis.pid)
    try:
        start = time.monotonic()
        with pytest.raises((RequestTimeoutError, RedisUnavailableError)):
            await asyncio.wait_for(a.mgr.of("/").timeout(1.0).fetch_sockets(), 1.0 + 3)
        elapsed = time.monotonic() - start
        assert elapsed <= 1.0 + MARGIN, f"fetch_sockets(timeout=1) took {elapsed:.2f} s"
    finally:
        thaw(outage_redis.pid)
    await eventually(lambda: a.mgr.healthy and b.mgr.healthy, RECOVERY, "recovery")
    sockets = await a.mgr.of("/").timeout(T).fetch_sockets()
    assert [s.id for s in sockets] == [cb.sid]


async def test_sharded_room_channels_are_resubscribed_after_restart(
    outage_redis: RedisServer, py_server: Any, py_client: Any, key: str
) -> None:
    require(sharded_pubsub_missing(outage_redis.url))
    a, _b, cb = await _pair(py_server, py_client, outage_redis.url, sharded=True)
    await _until_received(a, cb, "r", "before")  # via b's room channel <key>#/#r#

    outage_redis.stop(remove_dir=False)
    outage_redis.restart()
    took = await _until_received(a, cb, "r", "after-restart")
    assert took < RECOVERY
    raw = redis.Redis.from_url(outage_redis.url)
    try:
        channels = {c.decode() for c in raw.execute_command("PUBSUB", "SHARDCHANNELS", f"{key}#*")}
    finally:
        raw.close()
    assert f"{key}#/#r#" in channels
    assert await a.mgr.server_count() == 2


async def test_sharded_room_joined_during_outage_is_subscribed_after_restart(
    outage_redis: RedisServer, py_server: Any, py_client: Any
) -> None:
    """A room created while Redis is down gets its channel once Redis is back."""
    require(sharded_pubsub_missing(outage_redis.url))
    a, b, cb = await _pair(py_server, py_client, outage_redis.url, sharded=True)
    outage_redis.stop(remove_dir=False)
    await eventually(lambda: not b.mgr.healthy, RECOVERY, "b to notice the outage")
    await b.sio.enter_room(cb.sid, "joined-while-down")
    # let the room's (failing) SSUBSCRIBE run its course before Redis returns
    await eventually(lambda: not b.mgr._tasks, RECOVERY, "b's background work to settle")
    outage_redis.restart()
    await _rejoined(a, b)
    await _until_received(a, cb, "joined-while-down", "after-restart")


async def test_namespace_first_served_during_outage_joins_after_restart(
    outage_redis: RedisServer, py_server: Any, py_client: Any
) -> None:
    """Classic mode: a namespace this server starts serving while Redis is down (here: a
    server-side listener registered then) is subscribed once Redis is back."""
    a, b, _cb = await _pair(py_server, py_client, outage_redis.url)
    outage_redis.stop(remove_dir=False)
    await eventually(lambda: not b.mgr.healthy, RECOVERY, "b to notice the outage")
    b.listen("late-hello", nsp="/late", reply="b-late")
    await eventually(lambda: not b.mgr._tasks, RECOVERY, "b's background work to settle")
    outage_redis.restart()
    await _rejoined(a, b)

    async def counted() -> bool:
        return bool(await a.mgr.server_count("/late") == 2)

    await eventually(counted, RECOVERY, "b to serve /late")
    replies = await a.mgr.server_side_emit_with_ack("late-hello", namespace="/late", timeout=T)
    assert replies == ["b-late"]


# --- peers dying mid-request ---------------------------------------------------------


async def _count_is(mgr: Any, n: int) -> bool:
    return bool(await mgr.server_count() == n)


def _arrived(mgr: Any, responses: int = 1, items: int = 0) -> Callable[[], bool]:
    return lambda: any(p.responses >= responses and len(p.items) >= items for p in _pending(mgr))


async def test_peer_killed_mid_server_side_emit_with_ack(
    py_server: Any, py_peer: Any, node_peer: Any, key: str
) -> None:
    a = await py_server(name="a")
    p1, n1 = await asyncio.gather(
        py_peer(name="p1"), node_peer({"key": key, "mode": "classic"}, name="n1")
    )
    await p1.call("listen", event="whoami", reply="p1")
    await n1.call("listen", event="whoami")  # no reply: its listener never answers
    await eventually(lambda: _count_is(a.mgr, 3), 5, "three servers")

    mark = n1.mark()
    start = time.monotonic()
    task = asyncio.ensure_future(a.mgr.server_side_emit_with_ack("whoami", timeout=T))
    await n1.wait_event(
        lambda e: e["kind"] == "server-side-emit" and e["event"] == "whoami", 5, since=mark
    )
    await eventually(_arrived(a.mgr), 2, "p1's reply")
    kill(n1.pid)
    with pytest.raises(RequestTimeoutError) as info:
        await asyncio.wait_for(task, T + 5)
    assert time.monotonic() - start <= T + MARGIN
    assert info.value.partial == ["p1"]
    assert not a.mgr.core.pending and not a.mgr._waiters

    await eventually(lambda: _count_is(a.mgr, 2), 5, "the dead peer to leave the count")
    assert await a.mgr.server_side_emit_with_ack("whoami", timeout=T) == ["p1"]


async def test_peer_killed_mid_fetch_sockets(py_server: Any, py_client: Any, py_peer: Any) -> None:
    a = await py_server(name="a")
    ca = await py_client(a.url, name="ca")
    p1, p2 = await asyncio.gather(py_peer(name="p1"), py_peer(name="p2"))
    c1 = (await p1.call("connect", name="c1"))["sid"]
    await p2.call("connect", name="c2")
    await eventually(lambda: _count_is(a.mgr, 3), 5, "three servers")

    freeze(p2.pid)  # still subscribed and counted, but it will never answer
    try:
        start = time.monotonic()
        task = asyncio.ensure_future(a.mgr.of("/").timeout(T).fetch_sockets())
        await eventually(_arrived(a.mgr), 2, "p1's reply")
        kill(p2.pid)
        with pytest.raises(RequestTimeoutError) as info:
            await asyncio.wait_for(task, T + 5)
        assert time.monotonic() - start <= T + MARGIN
        assert [entry.id for entry in info.value.partial] == [c1]
    finally:
        kill(p2.pid)

    await eventually(lambda: _count_is(a.mgr, 2), 5, "the dead peer to leave the count")
    sockets = await a.mgr.of("/").timeout(T).fetch_sockets()
    assert sorted(s.id for s in sockets) == sorted([ca.sid, c1])


async def test_peer_killed_mid_emit_with_ack(
    py_server: Any, py_client: Any, py_peer: Any, node_peer: Any, key: str
) -> None:
    a = await py_server(name="a")
    await py_client(a.url, name="ca")
    p1, n1 = await asyncio.gather(
        py_peer(name="p1"), node_peer({"key": key, "mode": "classic"}, name="n1")
    )
    await p1.call("connect", name="c1")
    await n1.call("connect", name="cn")
    await eventually(lambda: _count_is(a.mgr, 3), 5, "three servers")

    freeze(n1.pid)  # the Node server and its client: counted, silent
    try:
        start = time.monotonic()
        task = asyncio.ensure_future(a.mgr.of("/").timeout(T).emit_with_ack("ack-me"))
        await eventually(_arrived(a.mgr, items=1), 2, "p1's client's ack")
        kill(n1.pid)
        with pytest.raises(AckTimeoutError) as info:
            await asyncio.wait_for(task, T + 5)
        assert time.monotonic() - start <= T + MARGIN
        assert sorted(r["client"] for r in info.value.responses) == ["c1", "ca"]
    finally:
        kill(n1.pid)

    await eventually(lambda: _count_is(a.mgr, 2), 5, "the dead peer to leave the count")
    acks = await a.mgr.of("/").timeout(T).emit_with_ack("again")
    assert sorted(r["client"] for r in acks) == ["c1", "ca"]


async def test_many_concurrent_requests_and_broadcasts_all_succeed(
    py_server: Any, py_client: Any
) -> None:
    """A busy server: hundreds of cluster calls at once while Redis is healthy must not
    fail for want of a pooled Redis connection (redis-py 8 caps a pool at 100)."""
    a, _b, cb = await _pair(py_server, py_client, None)
    results = await asyncio.gather(
        *(a.mgr.of("/").timeout(5).fetch_sockets() for _ in range(200)),
        *(a.mgr.of("/").to("r").emit("burst", i) for i in range(200)),
        return_exceptions=True,
    )
    failures = {repr(r)[:120] for r in results if isinstance(r, BaseException)}
    assert not failures, failures
    assert all([s.id for s in r] == [cb.sid] for r in results[:200])


@pytest.mark.parametrize("flavour", ["manager", "emitter"])
async def test_emit_to_a_frozen_redis_raises_instead_of_hanging(
    flavour: str, outage_redis: RedisServer, key: str
) -> None:
    """A broadcast against a Redis that accepts bytes but never answers ends with
    ``RedisUnavailableError`` once the client's ``socket_timeout`` runs out."""
    import socketio

    from sio_emitter import AsyncEmitter
    from sio_redis import AsyncRedisManager

    mgr = AsyncRedisManager(outage_redis.url, key=key, redis_options={"socket_timeout": 1})
    socketio.AsyncServer(client_manager=mgr)
    await mgr.start()
    emitter = AsyncEmitter.from_url(outage_redis.url, key, socket_timeout=1)
    await emitter.emit("warm-up")  # connected before the freeze
    await mgr.of("/").emit("warm-up")
    assert outage_redis.pid is not None
    freeze(outage_redis.pid)
    try:
        start = time.monotonic()
        with pytest.raises(RedisUnavailableError):
            if flavour == "manager":
                await asyncio.wait_for(mgr.of("/").emit("frozen", 1), 30)
            else:
                await asyncio.wait_for(emitter.emit("frozen", 1), 30)
        assert time.monotonic() - start < 1 + 3 * MARGIN
    finally:
        thaw(outage_redis.pid)
        await emitter.aclose()
        await mgr.close()
