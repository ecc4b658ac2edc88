"""RedisManager (sync) in-process: joining at server creation, outages, supervision,
clean shutdown. Cluster interop with real clients and Node is in test_sync_cluster.py.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import socketio

from sio_emitter import Emitter
from sio_redis import AsyncRedisManager, RedisManager, RedisUnavailableError
from tests.support.logs import assert_state_changes_logged
from tests.support.redis import RedisServer, free_port


def until(predicate: Callable[[], Any], within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        time.sleep(0.02)


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer(name="sync-outage")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sync_servers(redis_url: str, key: str) -> Iterator[Callable[..., Any]]:
    """Factory: a ``socketio.Server`` (threading) with a RedisManager; closed after."""
    made: list[RedisManager] = []

    def make(url: str = redis_url, **options: Any) -> tuple[socketio.Server, RedisManager]:
        options.setdefault("key", key)
        mgr = RedisManager(url, **options)
        made.append(mgr)
        return socketio.Server(client_manager=mgr, async_mode="threading"), mgr

    yield make
    for mgr in made:
        mgr.close()


def test_joins_the_cluster_when_the_server_is_created(sync_servers: Any) -> None:
    _, a = sync_servers()
    assert a.healthy  # before any client, before any request
    _, b = sync_servers()
    assert a.server_count() == 2
    assert b.server_count() == 2


def test_server_side_emit_with_ack_between_sync_servers(sync_servers: Any) -> None:
    _, a = sync_servers()
    _, b = sync_servers()
    seen: list[Any] = []

    @b.on_server_side_emit("ping")
    def on_ping(*args: Any) -> Any:
        seen.append(args)
        return {"pong": args[0]}

    assert a.server_side_emit_with_ack("ping", 7, timeout=5) == [{"pong": 7}]
    assert seen == [(7,)]


async def test_sync_and_async_managers_share_a_cluster(
    redis_url: str, key: str, sync_servers: Any
) -> None:
    _, sync_mgr = sync_servers()
    async_mgr = AsyncRedisManager(redis_url, key=key)
    socketio.AsyncServer(client_manager=async_mgr)
    try:
        await async_mgr.start()
        sync_mgr.on_server_side_emit("hi", handler=lambda who: f"sync saw {who}")
        assert await async_mgr.server_side_emit_with_ack("hi", "async") == ["sync saw async"]
        assert await async_mgr.server_count() == 2
    finally:
        await async_mgr.close()


def _received(mgr: RedisManager, event: str) -> Callable[[], list[Any]]:
    got: list[Any] = []
    mgr.on_server_side_emit(event, handler=lambda *a: got.append(a))
    return lambda: got


def _emit_until_received(
    sender: RedisManager, got: Callable[[], list[Any]], event: str, within: float
) -> float:
    start = time.monotonic()
    while not got():
        try:
            sender.server_side_emit(event, 1)
        except RedisUnavailableError:
            pass
        if time.monotonic() - start > within:
            raise AssertionError(f"{event!r} not received within {within} s")
        time.sleep(0.1)
    return time.monotonic() - start


@pytest.mark.parametrize("sharded", [False, True], ids=["classic", "sharded"])
def test_redis_restart_mid_traffic(
    private_redis: RedisServer, sync_servers: Any, sharded: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sio_redis")
    _, a = sync_servers(private_redis.url, sharded=sharded)
    _, b = sync_servers(private_redis.url, sharded=sharded)
    before = _received(b, "before")
    _emit_until_received(a, before, "before", within=5)

    private_redis.stop(remove_dir=False)
    with pytest.raises(ConnectionError):
        a.server_side_emit("during", 2)
    a.of("/").volatile.emit("during-volatile", 3)  # dropped, no error

    private_redis.restart()
    after = _received(b, "after")
    assert _emit_until_received(a, after, "after", within=5) < 5
    until(lambda: a.healthy and b.healthy, 5, "both healthy again")
    assert a.server_count() == 2
    assert_state_changes_logged(caplog, b.uid)


def test_redis_down_at_start_joins_later(sync_servers: Any, key: str) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    _, early = sync_servers(url)  # Redis is not there yet: the server is still created
    assert not early.healthy
    server = RedisServer(port=port, name="late")
    try:
        server.start()
        _, other = sync_servers(url)
        until(lambda: other.server_count() == 2, 10, "the early server joined")
        assert early.healthy
    finally:
        early.close()
        server.stop()


@pytest.mark.parametrize("how", ["raises", "ends"])
def test_listener_is_restarted_and_logged(
    sync_servers: Any, redis_url: str, key: str, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    caplog.set_level(logging.INFO, logger="sio_redis")
    mgr = RedisManager(redis_url, key=key)
    original = mgr.transport.messages
    calls = []

    def flaky() -> Iterator[Any]:
        calls.append(1)
        if len(calls) == 1:
            if how == "raises":
                raise RuntimeError("listener bug")
            return
        yield from original()

    mgr.transport.messages = flaky  # type: ignore[method-assign]
    try:
        socketio.Server(client_manager=mgr, async_mode="threading")
        until(lambda: mgr.healthy, 10, "listener running again")
        assert mgr.listener_restarts == 1
        _, sender = sync_servers()
        got = _received(mgr, "still-listening")
        _emit_until_received(sender, got, "still-listening", within=5)
        restarts = [r for r in caplog.records if "listener stopped; restart" in r.getMessage()]
        assert len(restarts) == 1
        assert restarts[0].levelno == logging.ERROR
        assert getattr(restarts[0], "uid", None) == mgr.uid
    finally:
        mgr.close()


def test_close_leaves_no_thread_behind(sync_servers: Any) -> None:
    before = set(threading.enumerate())
    _, a = sync_servers()
    _, b = sync_servers()
    b.on_server_side_emit("x", handler=lambda: 1)
    assert a.server_side_emit_with_ack("x") == [1]
    a.close()
    b.close()
    until(lambda: set(threading.enumerate()) <= before, 5, "threads ended")
    assert not a.healthy and not b.healthy


def test_emitter_reaches_a_sync_server(sync_servers: Any, redis_url: str, key: str) -> None:
    _, mgr = sync_servers()
    delivered: list[Any] = []
    # No real client: watch the manager's local delivery of the broadcast.
    mgr._deliver_local = lambda nsp, data, opts: delivered.append((nsp, data))  # type: ignore[method-assign]
    emitter = Emitter.from_url(redis_url, key=key)
    try:
        emitter.emit("news", {"n": 1})
    finally:
        emitter.close()
    until(lambda: delivered, 5, "broadcast delivered")
    assert delivered == [("/", ["news", {"n": 1}])]
