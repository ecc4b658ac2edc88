"""AsyncRedisManager under uvicorn (ASGI), and cluster membership from construction."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import socketio
import uvicorn

from sio_emitter import AsyncEmitter
from sio_redis import AsyncRedisManager
from tests.support.pyserver import PyClient


@contextlib.asynccontextmanager
async def uvicorn_app(app: Any) -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)  # uvicorn exposes no started event
        yield port
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_asgi_server_in_cluster_with_node(redis_url: str, key: str, node_peer: Any) -> None:
    node = await node_peer({"key": key})
    mgr = AsyncRedisManager(redis_url, key=key)
    sio = socketio.AsyncServer(client_manager=mgr, async_mode="asgi")

    @sio.event
    async def connect(sid: str, environ: Any, auth: Any) -> None:
        await sio.enter_room(sid, "asgi-room")

    app = socketio.ASGIApp(sio, on_startup=mgr.start)
    client = PyClient("asgi-client")
    try:
        async with uvicorn_app(app) as port:
            # counted by Node before any client connects
            assert await node.call("server", action="serverCount") == 2
            await client.connect(f"http://127.0.0.1:{port}")
            await node.call("server", rooms=["asgi-room"], action="emit", args=["to-asgi", 7])
            ev = await client.events.wait(lambda e: e["event"] == "to-asgi")
            assert ev["args"] == [7]
            emitter = AsyncEmitter(mgr.transport.client, key=key)
            await emitter.to("asgi-room").emit("from-emitter", {"ok": True})
            ev = await client.events.wait(lambda e: e["event"] == "from-emitter")
            assert ev["args"] == [{"ok": True}]
            await client.close()
    finally:
        await mgr.close()


async def test_member_from_construction_in_a_running_loop(
    redis_url: str, key: str, node_peer: Any
) -> None:
    node = await node_peer({"key": key})
    mgr = AsyncRedisManager(redis_url, key=key)
    socketio.AsyncServer(client_manager=mgr, async_mode="asgi")  # no start(), no client
    try:
        # set_server() scheduled the join; wait for that task, not for a guess
        await asyncio.gather(*list(mgr._tasks))
        assert mgr.healthy
        assert await node.call("server", action="serverCount") == 2
        assert await mgr.server_count() == 2
        await mgr.start()  # idempotent
        assert await mgr.server_count() == 2
    finally:
        await mgr.close()
    assert await node.call("server", action="serverCount") == 1


async def test_write_only_manager_emits_without_joining(
    redis_url: str, key: str, node_peer: Any
) -> None:
    node = await node_peer({"key": key})
    await node.call("connect", name="nc", auth={"rooms": ["r"]})
    mgr = AsyncRedisManager(redis_url, key=key, write_only=True)
    socketio.AsyncServer(client_manager=mgr, async_mode="asgi")
    try:
        await mgr.start()
        assert not mgr.healthy  # no subscription by design
        await mgr.of("/").to("r").emit("from-write-only", 1)
        ev = await node.wait_event(lambda e: e.get("event") == "from-write-only")
        assert ev["args"] == [1]
        assert await node.call("server", action="serverCount") == 1  # not a member
    finally:
        await mgr.close()


async def test_close_leaves_no_task_behind(redis_url: str, key: str) -> None:
    before = set(asyncio.all_tasks())
    mgr = AsyncRedisManager(redis_url, key=key)
    socketio.AsyncServer(client_manager=mgr, async_mode="asgi")
    await mgr.start()
    assert mgr.healthy
    await mgr.of("/").emit("x", 1)
    assert await mgr.server_count() == 1
    await mgr.close()
    left = set(asyncio.all_tasks()) - before - {asyncio.current_task()}
    assert not [t for t in left if not t.done()], left
    assert not mgr.healthy
