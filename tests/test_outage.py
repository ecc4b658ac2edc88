"""Redis outages: a restart mid-traffic, and Redis down when a server starts.

Each test has its own redis-server (the shared one must stay up for everyone else).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from sio_redis import AsyncRedisManager, RedisUnavailableError
from tests.support.logs import assert_state_changes_logged
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
    private_redis: RedisServer, py_server: Any, py_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="sio_redis")
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
    # Redis is back: broadcasts cross again within 5 s (the capped backoff is 2.5 s).
    took = await _until_received(a.mgr, cb, "r", "after", within=5.0)
    assert took < 5.0
    assert a.mgr.healthy and b.mgr.healthy
    assert await a.mgr.server_count() == 2
    assert_state_changes_logged(caplog, a.mgr.uid)



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


@pytest.mark.parametrize("how", ["raises", "ends"])
async def test_listener_is_restarted_and_logged(
    redis_url: str, key: str, py_client: Any, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    """A listener that fails or ends while the manager is open is logged and restarted."""
    import logging

    from tests.support.pyserver import PyServer

    caplog.set_level(logging.INFO, logger="sio_redis")
    calls: list[int] = []
    original = AsyncRedisManager.__init__

    def patched(self: AsyncRedisManager, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        messages = self.transport.messages

        async def flaky() -> Any:
            calls.append(1)
            if len(calls) == 1:
                if how == "raises":
                    raise RuntimeError("listener bug")
                return
            async for item in messages():
                yield item

        self.transport.messages = flaky  # type: ignore[method-assign]

    AsyncRedisManager.__init__ = patched  # type: ignore[method-assign]
    try:
        server = await PyServer.start(redis_url, key=key, name="flaky")
    finally:
        AsyncRedisManager.__init__ = original  # type: ignore[method-assign]
    other = await PyServer.start(redis_url, key=key, name="other")
    try:
        client = await py_client(server.url, name="c", auth={"rooms": ["r"]})
        await _until_received(other.mgr, client, "r", "still-listening", within=5.0)
        assert server.mgr.listener_restarts == 1
        restarts = [r for r in caplog.records if "listener stopped; restart" in r.getMessage()]
        assert len(restarts) == 1 and getattr(restarts[0], "uid", None) == server.mgr.uid
    finally:
        await other.close()
        await server.close()
