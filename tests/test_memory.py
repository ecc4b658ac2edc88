"""Memory and bookkeeping (issue 7): nothing a socket, a room or a request leaves behind
outlives it.

10,000 sockets joining 1,000 rooms, then disconnecting, three rounds, driven through the
manager's python-socketio interface exactly as ``socketio.AsyncServer`` calls it
(``pre_connect``, ``connect``, ``enter_room``, ``pre_disconnect``, ``disconnect``) on a
started manager against a real Redis, so the sharded dynamic room subscriptions really
happen. After each round every table is back to its baseline (python-socketio's rooms,
the core's room channels, the Redis subscriptions themselves, pending requests, waiters,
handshake info) and traced memory does not grow from round to round.
"""

from __future__ import annotations

import asyncio
import collections
import time
import tracemalloc
from typing import Any

import pytest
import redis
import socketio

from sio_redis import RequestTimeoutError
from tests.support import require
from tests.support.faults import Phantom, eventually, sharded_pubsub_missing

SOCKETS = 10_000
ROOMS = 1_000
ROUNDS = 3
#: Sockets connected at once. python-socketio's ``basic_disconnect`` scans every room of
#: the namespace per disconnect (quadratic: 10,000 sockets live at once take ~13 s to
#: disconnect), so the sockets of a round churn through a window instead.
LIVE = 200
#: Allowed growth of traced memory between the end of round 1 and the end of round 3.
GROWTH = 512 * 1024


def _bookkeeping(mgr: Any) -> dict[str, Any]:
    """Sizes of every table a socket, room or request can leave entries in."""
    pubsub = getattr(mgr.transport, "_pubsub", None)
    subs = mgr.core.all_subscriptions()
    return {
        "rooms": {nsp: len(rooms) for nsp, rooms in mgr.rooms.items()},
        "core routes": len(mgr.core._routes),
        "core subscriptions": (len(subs.channels), len(subs.patterns), len(subs.shard_channels)),
        "pending": len(mgr.core.pending),
        "waiters": len(mgr._waiters),
        "socket info": len(mgr._socket_info),
        "connect auth": len(mgr._connect_auth),
        "tasks": len(mgr._tasks),
        "callbacks": len(mgr.callbacks),
        "pending connect": dict(mgr.pending_connect),
        "pending disconnect": dict(mgr.pending_disconnect),
        "confirmations": len(getattr(mgr.transport, "_confirm", {})),
        "redis-py channels": None
        if pubsub is None
        else (len(pubsub.channels), len(pubsub.patterns), len(pubsub.shard_channels)),
    }


def _redis_channels(url: str, key: str, sharded: bool) -> int:
    client = redis.Redis.from_url(url)
    try:
        command = "SHARDCHANNELS" if sharded else "CHANNELS"
        return len(client.execute_command("PUBSUB", command, f"{key}*"))
    finally:
        client.close()


async def _round(mgr: Any, offset: int) -> None:
    """SOCKETS sockets connect, join their room (10 consecutive sockets per room, ROOMS
    rooms) and the shared "lobby", and disconnect, at most LIVE of them at a time."""
    live: collections.deque[str] = collections.deque()
    for i in range(SOCKETS):
        sid = await mgr.pre_connect(f"eio-{offset + i}", "/")  # fake engine.io ids
        await mgr.connect(sid, "/")
        await mgr.enter_room(sid, "/", f"room-{(i // (SOCKETS // ROOMS)) % ROOMS}")
        await mgr.enter_room(sid, "/", "lobby")
        live.append(sid)
        if len(live) > LIVE:
            await _leave(mgr, live.popleft())
    while live:
        await _leave(mgr, live.popleft())


async def _leave(mgr: Any, sid: str) -> None:
    mgr.pre_disconnect(sid, "/")
    await mgr.disconnect(sid, "/", ignore_queue=True)


@pytest.mark.parametrize(
    ("sharded", "mode"),
    [(False, "dynamic"), (True, "dynamic")],
    ids=["classic", "sharded-dynamic"],
)
async def test_sockets_and_rooms_leave_nothing_behind(
    sharded: bool, mode: str, py_server: Any, redis_url: str, key: str
) -> None:
    if sharded:
        require(sharded_pubsub_missing(redis_url))
    server = await py_server(name="mem", sharded=sharded, subscription_mode=mode)
    mgr = server.mgr
    await eventually(lambda: not mgr._tasks, 5, "start-up work")
    baseline = _bookkeeping(mgr)
    channels_before = _redis_channels(redis_url, key, sharded)

    tracemalloc.start()
    try:
        memory: list[int] = []
        for r in range(ROUNDS):
            await _round(mgr, r * SOCKETS)
            await eventually(lambda: not mgr._tasks, 20, "room (un)subscriptions")
            assert _bookkeeping(mgr) == baseline, f"round {r + 1}"
            assert _redis_channels(redis_url, key, sharded) == channels_before
            memory.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    growth = memory[-1] - memory[0]
    assert growth < GROWTH, f"traced memory grew {growth} bytes over rounds 2-{ROUNDS}"


async def test_pending_requests_are_removed_on_response_timeout_cancel_and_close(
    py_server: Any, py_client: Any, redis_url: str, key: str
) -> None:
    a = await py_server(name="a")
    b = await py_server(name="b")
    b.listen("who", reply="b")
    await py_client(b.url, name="cb", auth={"rooms": ["r"]})

    def clean() -> bool:
        return not a.mgr.core.pending and not a.mgr._waiters

    # answered
    assert len(await a.mgr.of("/").fetch_sockets()) == 1
    assert await a.mgr.server_side_emit_with_ack("who") == ["b"]
    assert len(await a.mgr.of("/").timeout(3).emit_with_ack("ack-me")) == 1
    assert "r" in await a.mgr.all_rooms()
    assert clean()

    phantom = Phantom(redis_url, key)  # counted, never answers
    try:
        # timed out, many at once
        results = await asyncio.gather(
            *(a.mgr.of("/").timeout(0.3).fetch_sockets() for _ in range(50)),
            return_exceptions=True,
        )
        assert all(isinstance(r, RequestTimeoutError) for r in results), {
            repr(r)[:200] for r in results
        }
        assert clean()

        # cancelled by the caller
        task = asyncio.ensure_future(a.mgr.server_side_emit_with_ack("who", timeout=30))
        await eventually(lambda: a.mgr.core.pending, 2, "the request to be pending")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert clean()

        # the manager closed under them: they end at once, not at their timeout
        tasks = [
            asyncio.ensure_future(a.mgr.of("/").timeout(30).fetch_sockets()) for _ in range(10)
        ]
        await eventually(lambda: len(a.mgr.core.pending) == 10, 2, "10 pending requests")
        start = time.monotonic()
        await a.mgr.close()
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
        assert time.monotonic() - start < 2
        assert all(isinstance(r, ConnectionError) for r in results), results
        assert clean()
    finally:
        phantom.close()


async def test_refused_namespace_connections_leave_nothing_behind(py_server: Any) -> None:
    """A client asking for a namespace the server does not serve is refused before
    python-socketio registers it; its CONNECT payload must not be kept either (else
    any client can grow the server's memory without bound)."""
    server = await py_server(name="refuser")
    mgr = server.mgr
    await eventually(lambda: not mgr._tasks, 5, "start-up work")
    baseline = _bookkeeping(mgr)
    for i in range(10):
        client = socketio.AsyncClient(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(
                server.url,
                namespaces=["/not-served"],
                transports=["websocket"],
                auth={"blob": "x" * 10_000, "n": i},
                wait_timeout=5,
            )
        await client.disconnect()
    await eventually(lambda: not server.sio.eio.sockets, 5, "the refused connections to close")
    assert _bookkeeping(mgr) == baseline
