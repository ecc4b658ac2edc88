"""One Python member of the demo cluster: ``socketio.AsyncServer`` + ``AsyncRedisManager`` on
aiohttp, serving the chat page.

Events (the Node server in tests/node/demo-server.js answers the same ones):

* client ``hello`` (with an ack) -> ``{"server": name, "servers": count}``;
* client ``chat`` ``{name, text}`` -> ``chat`` ``{name, text, server, time}`` to every client
  of every server;
* every few seconds, ``servers`` ``{"server": name, "servers": count}`` to this server's
  clients; ``tick`` comes from the ticker, through Redis, to room ``clock``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import socketio
from aiohttp import web

from sio_redis import AsyncRedisManager

from ._common import CLIENT_JS, PAGE, READY_MARK, chat_message, page_url, stop_on_signals

__all__ = ["DemoServer", "run_server"]

logger = logging.getLogger("sio_redis.demo")

COUNT_EVERY = 3.0
CLOCK_ROOM = "clock"

_NO_CLIENT_PAGE = """<!doctype html>
<meta charset="utf-8"><title>sio-redis demo: client library missing</title>
<p>This server ({name}) is running, but the browser page needs the socket.io client library,
which the demo takes from <code>{path}</code>.</p>
<p>Install it with <code>npm ci</code> in <code>tests/node</code> (<code>bash scripts/demo.sh</code>
does it when Node is installed), then reload.</p>
"""


class DemoServer:
    """The aiohttp app and Socket.IO server of one demo member; :meth:`start` / :meth:`close`."""

    def __init__(self, redis_url: str, *, name: str, key: str) -> None:
        self.name = name
        self.mgr = AsyncRedisManager(redis_url, key=key)
        self.sio = socketio.AsyncServer(
            client_manager=self.mgr, async_mode="aiohttp", logger=False, engineio_logger=False
        )
        self.sio.on("connect", self._on_connect)
        self.sio.on("hello", self._on_hello)
        self.sio.on("chat", self._on_chat)
        self.app = web.Application()
        self.app.router.add_get("/", self._page)
        self.app.router.add_get("/socket.io.min.js", self._client_js)
        self.sio.attach(self.app)
        # Open websockets would hold aiohttp's graceful shutdown for its default 60 s.
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        self._counter: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self.port = 0

    # --- HTTP ---

    async def _page(self, request: web.Request) -> web.StreamResponse:
        # Looked up per request: under docker compose the Node container may still be
        # installing node_modules when this server starts.
        if CLIENT_JS.is_file():
            return web.FileResponse(PAGE, headers={"Cache-Control": "no-cache"})
        text = _NO_CLIENT_PAGE.format(name=self.name, path=CLIENT_JS)
        return web.Response(text=text, content_type="text/html")

    async def _client_js(self, request: web.Request) -> web.StreamResponse:
        if not CLIENT_JS.is_file():
            raise web.HTTPNotFound(text=f"socket.io client library not found at {CLIENT_JS}")
        return web.FileResponse(CLIENT_JS)

    # --- Socket.IO ---

    async def _info(self) -> dict[str, Any]:
        return {"server": self.name, "servers": await self.mgr.server_count()}

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        await self.sio.enter_room(sid, CLOCK_ROOM)

    async def _on_hello(self, sid: str, *args: Any) -> dict[str, Any]:
        return await self._info()

    async def _on_chat(self, sid: str, data: Any = None) -> None:
        message = chat_message(data, self.name)
        if message is None:
            return
        logger.info("%s: chat from %s: %s", self.name, message["name"], message["text"])
        # A plain emit: the manager delivers it here and publishes it to every other server.
        await self.sio.emit("chat", message)

    async def _push_counts(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._closing.wait(), COUNT_EVERY)
                return
            except asyncio.TimeoutError:
                pass
            try:
                # `.local`: each server tells its own clients, so nobody gets N copies.
                await self.mgr.of("/").local.emit("servers", await self._info())
            except Exception as exc:  # keep pushing once Redis is back
                logger.warning("%s: cannot count servers: %s", self.name, exc)

    # --- life cycle ---

    async def start(self, host: str, port: int) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        # Joined before announcing readiness, so the cluster counts this server from then on.
        await self.mgr.start()
        self._counter = asyncio.create_task(self._push_counts(), name="demo count pusher")

    async def close(self) -> None:
        # An event, not just cancel(): redis-py (8.1) may swallow a cancellation that lands
        # during a command, and the pusher would then go on forever.
        self._closing.set()
        if self._counter is not None:
            self._counter.cancel()
            await asyncio.wait([self._counter], timeout=2)
        await self.sio.shutdown()
        if self.sio.eio.sockets:
            # Close the clients' connections first: aiohttp would wait for them (up to its
            # shutdown timeout). Engine.IO-level, so the pages reconnect when a server is back.
            await self.sio.eio.disconnect()
        await self.mgr.close()
        await self._runner.cleanup()


async def run_server(
    *, host: str, port: int, redis_url: str, name: str, key: str, watch_stdin: bool = False
) -> int:
    """Serve until SIGINT/SIGTERM (or stdin EOF with ``watch_stdin``); the exit status."""
    stop = asyncio.Event()
    stop_on_signals(stop, watch_stdin=watch_stdin)
    server = DemoServer(redis_url, name=name, key=key)
    try:
        await server.start(host, port)
        print(f"{name}{READY_MARK}{page_url(host, server.port)} (pid {os.getpid()})", flush=True)
        await stop.wait()
    finally:
        await server.close()
    return 0
