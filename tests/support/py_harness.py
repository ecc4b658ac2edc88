"""A Python Socket.IO server process driven like ``tests/node/harness.js``.

``python -m tests.support.py_harness '<json config>'`` (from the repo root) starts an aiohttp
``socketio.AsyncServer`` with an ``AsyncRedisManager`` and speaks the Node harness's
JSON-lines protocol (the subset documented in ``tests/node/README.md`` that cluster tests
use), so ``NodePeer.start(config, argv=[python, "-m", "tests.support.py_harness"])``
drives it. Config:
``redisUrl``, ``key``, ``mode`` (classic|sharded), ``subscriptionMode``, ``namespaces``,
``requestsTimeout`` (ms).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import socketio
from aiohttp import web

from sio_redis import AckTimeoutError, AsyncRedisManager, RequestTimeoutError
from tests.support.harness_ops import operator_for, socket_rows
from tests.support.node import from_wire, to_wire


def out(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(to_wire(message)) + "\n")
    sys.stdout.flush()


def event(kind: str, **fields: Any) -> None:
    out({"type": "event", "kind": kind, **fields})


class Harness:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.mgr = AsyncRedisManager(
            config["redisUrl"],
            key=config.get("key", "socket.io"),
            sharded=config.get("mode") == "sharded",
            subscription_mode=config.get("subscriptionMode", "dynamic"),
            requests_timeout=config.get("requestsTimeout", 5000) / 1000,
        )
        self.namespaces = list(config.get("namespaces", ["/"]))
        self.sio = socketio.AsyncServer(
            client_manager=self.mgr, async_mode="aiohttp", namespaces=self.namespaces
        )
        self.clients: dict[str, socketio.AsyncClient] = {}
        self.port = 0
        for nsp in self.namespaces:
            self._install(nsp)

    def _install(self, nsp: str) -> None:
        sio = self.sio

        async def connect(sid: str, environ: Any, auth: Any = None) -> None:
            auth = auth or {}
            for room in auth.get("rooms", []):
                await sio.enter_room(sid, room, namespace=nsp)
            if "data" in auth:
                await sio.save_session(sid, auth["data"], namespace=nsp)
            event("connection", nsp=nsp, sid=sid)

        async def disconnect(sid: str, reason: Any = None) -> None:
            event("server-disconnect", nsp=nsp, sid=sid, reason=str(reason))

        async def any_event(name: str, sid: str, *args: Any) -> Any:
            event("server-received", nsp=nsp, sid=sid, event=name, args=list(args))
            return {"echo": list(args)}

        sio.on("connect", connect, namespace=nsp)
        sio.on("disconnect", disconnect, namespace=nsp)
        sio.on("*", any_event, namespace=nsp)

    async def op_server(self, cmd: dict[str, Any]) -> Any:
        nsp = cmd.get("nsp", "/")
        op = operator_for(self.mgr, cmd)
        action, args = cmd["action"], cmd.get("args", [])
        if action == "emit":
            await op.emit(*args)
            return True
        if action == "emitWithAck":
            return await op.emit_with_ack(*args)
        if action == "fetchSockets":
            return socket_rows(await op.fetch_sockets())
        if action == "socketsJoin":
            await op.sockets_join(args[0])
            return None
        if action == "socketsLeave":
            await op.sockets_leave(args[0])
            return None
        if action == "disconnectSockets":
            await op.disconnect_sockets(bool(args[0]) if args else False)
            return None
        if action == "serverSideEmit":
            await self.mgr.server_side_emit(*args, namespace=nsp)
            return None
        if action == "serverSideEmitWithAck":
            return await self.mgr.server_side_emit_with_ack(*args, namespace=nsp)
        if action == "allRooms":
            return sorted(await self.mgr.all_rooms(nsp))
        if action == "serverCount":
            return await self.mgr.server_count(nsp)
        raise ValueError(f"unknown action {action!r}")

    async def op_listen(self, cmd: dict[str, Any]) -> Any:
        nsp, name, reply = cmd.get("nsp", "/"), cmd["event"], cmd.get("reply")

        def handler(*args: Any) -> Any:
            event("server-side-emit", nsp=nsp, event=name, args=list(args))
            return reply

        self.mgr.on_server_side_emit(name, nsp, handler)
        return None

    async def op_connect(self, cmd: dict[str, Any]) -> Any:
        name = cmd["name"]
        nsp = cmd.get("nsp", "/")
        client = socketio.AsyncClient(reconnection=False)
        ack = cmd.get("ack", {"client": name})

        async def any_event(ev: str, namespace: str, *args: Any) -> Any:
            event("client", client=name, event=ev, args=list(args))
            return ack

        async def disconnect(namespace: str, reason: Any = None) -> None:
            event("client-disconnect", client=name, reason=str(reason))

        client.on("*", any_event, namespace="*")
        client.on("disconnect", disconnect, namespace="*")
        url = cmd.get("url") or f"http://127.0.0.1:{self.port}"
        await client.connect(
            url,
            namespaces=[nsp],
            transports=["websocket"],
            auth=cmd.get("auth") or {},
            wait_timeout=10,
        )
        self.clients[name] = client
        return {"sid": client.get_sid(nsp)}

    async def op_socket(self, cmd: dict[str, Any]) -> Any:
        nsp, sid, action = cmd.get("nsp", "/"), cmd["sid"], cmd["action"]
        if not self.mgr.is_connected(sid, nsp):
            raise ValueError(f"socket {sid} is not on this server")
        if action == "join":
            for room in cmd.get("rooms", []):
                await self.sio.enter_room(sid, room, namespace=nsp)
        elif action == "leave":
            for room in cmd.get("rooms", []):
                await self.sio.leave_room(sid, room, namespace=nsp)
        elif action != "rooms":
            raise ValueError(f"unsupported socket action {action!r}")
        return sorted(self.sio.rooms(sid, namespace=nsp))

    async def op_sync(self, cmd: dict[str, Any]) -> Any:
        return None

    async def handle(self, cmd: dict[str, Any]) -> None:
        try:
            result = await getattr(self, f"op_{cmd['op']}")(cmd)
            out({"type": "reply", "id": cmd["id"], "ok": True, "result": result})
        except (AckTimeoutError, RequestTimeoutError) as exc:
            partial = getattr(exc, "responses", None) or getattr(exc, "partial", None)
            out(
                {
                    "type": "reply",
                    "id": cmd["id"],
                    "ok": False,
                    "error": str(exc),
                    "partial": partial,
                }
            )
        except Exception as exc:
            out(
                {
                    "type": "reply",
                    "id": cmd["id"],
                    "ok": False,
                    "error": f"{type(exc).__name__}: {exc}",
                }
            )

    async def run(self) -> None:
        app = web.Application()
        self.sio.attach(app)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        await self.mgr.start()
        for nsp in self.namespaces:
            await self.mgr.server_count(nsp)  # subscribes every namespace before "ready"
        out({"type": "ready", "port": self.port, "pid": os.getpid()})
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        tasks: set[asyncio.Task[None]] = set()
        while True:
            line = await reader.readline()
            if not line:
                break
            cmd = from_wire(json.loads(line))
            if cmd.get("op") == "exit":
                out({"type": "reply", "id": cmd["id"], "ok": True, "result": None})
                break
            task = asyncio.create_task(self.handle(cmd))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        for client in self.clients.values():
            await client.disconnect()
        await self.mgr.close()
        if self.sio.eio.sockets:  # aiohttp's cleanup waits for open websockets
            await self.sio.eio.disconnect()
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(Harness(json.loads(sys.argv[1])).run())
