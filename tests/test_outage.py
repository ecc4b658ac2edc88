"""Redis outages: a restart mid-traffic, and Redis down when a server starts.

Each test has its own redis-server (the shared one must stay up for everyone else).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from sio_redis import AsyncRedisManager, RedisUnavailableError
from tests.support.redis import RedisServer, free_port


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer(name="outage")
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _until_received(
    mgr: AsyncRedisManager, client: Any, room: str, event: str, within: float
) -> float:
    """Emit ``event`` until ``client`` gets it; how long it took (bounded by ``within``)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    n = 0
    while True:
        n += 1
        try:
            await mgr.of("/").to(room).emit(event, n)
        except RedisUnavailableError:
            pass
        try:
            await client.events.wait(lambda e: e["event"] == event, timeout=0.25)
            return loop.time() - start
        except TimeoutError:
            assert loop.time() - start < within, f"{event!r} not delivered within {within} s"


async def test_redis_restart_mid_traffic(
    private_redis: RedisServer, py_server: Any, py_client: Any
) -> None:
    a = await py_server(name="a", redis_url=private_redis.url)
    b = await py_server(name="b", redis_url=private_redis.url)
    cb = await py_client(b.url, name="cb", auth={"rooms": ["r"]})
    await a.mgr.of("/").to("r").emit("before", 1)
    await cb.events.wait(lambda e: e["event"] == "before")

    private_redis.stop(remove_dir=False)
    with pytest.raises(ConnectionError):  # clear, and a ConnectionError subclass
        await a.mgr.of("/").to("r").emit("during", 2)
    await a.mgr.of("/").to("r").volatile.emit("during-volatile", 3)  # dropped, no error

    private_redis.restart()
    took = await _until_received(a.mgr, cb, "r", "after", within=10.0)
    assert took < 10.0
    assert a.mgr.healthy and b.mgr.healthy
    assert await a.mgr.server_count() == 2


async def test_redis_down_at_start_joins_later(py_client: Any, key: str) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    from tests.support.pyserver import PyServer

    early = await PyServer.start(url, key=key, name="early")  # Redis not there yet
    server = RedisServer(port=port, name="late")
    try:
        assert not early.mgr.healthy
        local = await py_client(early.url, name="local", auth={"rooms": ["r"]})
        await early.sio.emit("local-only", 1, to=local.sid, ignore_queue=True)
        await local.events.wait(lambda e: e["event"] == "local-only")  # serves its clients

        server.start()
        other = await PyServer.start(url, key=key, name="other")
        try:
            await _until_received(other.mgr, local, "r", "joined", within=15.0)
            assert early.mgr.healthy
            assert await other.mgr.server_count() == 2
        finally:
            await other.close()
    finally:
        await early.close()
        server.stop()
