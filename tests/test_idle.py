"""A quiet subscription is not a dead one: no read timeout on the subscriber, even when
the client has a short ``socket_timeout`` for commands; TCP keepalive notices dead links.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
import socketio

from sio_redis import AsyncRedisManager, RedisManager

QUIET = 1.5  # three times the socket timeout below


def _no_reconnects(caplog: pytest.LogCaptureFixture) -> None:
    said = [r.getMessage() for r in caplog.records]
    assert not [m for m in said if "lost" in m or "reconnecting" in m], said


async def test_async_subscription_survives_silence(
    redis_url: str, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sio_redis")
    options: dict[str, Any] = {"socket_timeout": 0.5}
    a = AsyncRedisManager(redis_url, key=key, redis_options=options)
    b = AsyncRedisManager(redis_url, key=key, redis_options=options)
    socketio.AsyncServer(client_manager=a)
    socketio.AsyncServer(client_manager=b)
    try:
        await a.start()
        await b.start()
        kwargs = a.transport.client.connection_pool.connection_kwargs
        assert kwargs.get("socket_keepalive") is not False
        await asyncio.sleep(QUIET)  # the silence under test, not a wait for a condition
        assert a.healthy and a.listener_restarts == 0
        b.on_server_side_emit("after-silence", handler=lambda: "here")
        assert await a.server_side_emit_with_ack("after-silence") == ["here"]
        _no_reconnects(caplog)
    finally:
        await a.close()
        await b.close()


def test_sync_subscription_survives_silence(
    redis_url: str, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sio_redis")
    options: dict[str, Any] = {"socket_timeout": 0.5}
    a = RedisManager(redis_url, key=key, redis_options=options)
    b = RedisManager(redis_url, key=key, redis_options=options)
    socketio.Server(client_manager=a, async_mode="threading")
    socketio.Server(client_manager=b, async_mode="threading")
    try:
        kwargs = a.transport.client.connection_pool.connection_kwargs
        assert kwargs.get("socket_keepalive") is not False
        time.sleep(QUIET)  # the silence under test
        assert a.healthy and a.listener_restarts == 0
        b.on_server_side_emit("after-silence", handler=lambda: "here")
        assert a.server_side_emit_with_ack("after-silence") == ["here"]
        _no_reconnects(caplog)
    finally:
        a.close()
        b.close()


def _connections_named(redis_url: str, name: str) -> int:
    import redis as redis_py

    admin = redis_py.Redis.from_url(redis_url)
    try:
        return sum(1 for c in admin.client_list() if c.get("name") == name)
    finally:
        admin.close()


async def test_close_leaves_no_connection_behind(redis_url: str, key: str) -> None:
    """Both managers, after real traffic: every Redis connection they opened is closed."""
    name = f"sio-{key}"
    options: dict[str, Any] = {"client_name": name}
    amgr = AsyncRedisManager(redis_url, key=key, redis_options=options)
    socketio.AsyncServer(client_manager=amgr)
    await amgr.start()
    smgr = await asyncio.to_thread(RedisManager, redis_url, key=key, redis_options=options)
    await asyncio.to_thread(socketio.Server, client_manager=smgr, async_mode="threading")
    smgr.on_server_side_emit("q", handler=lambda: "s")
    amgr.on_server_side_emit("q", handler=lambda: "a")
    assert await amgr.server_side_emit_with_ack("q") == ["s"]
    assert await asyncio.to_thread(smgr.server_side_emit_with_ack, "q") == ["a"]
    assert _connections_named(redis_url, name) >= 4  # a command and a pub/sub link each
    await amgr.close()
    await asyncio.to_thread(smgr.close)
    deadline = time.monotonic() + 5
    while _connections_named(redis_url, name):
        assert time.monotonic() < deadline, "connections left open after close()"
        await asyncio.sleep(0.05)
