"""In-process Python Socket.IO servers (aiohttp) and clients for cluster tests.

A :class:`PyServer` behaves like the Node harness's server: a connecting client's
``auth.rooms`` are joined and ``auth.data`` becomes its session, and everything the
server and its clients see is appended to ``events`` so tests can wait on conditions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import socketio
from aiohttp import web

from sio_redis import AsyncRedisManager

__all__ = ["EventLog", "PyClient", "PyServer"]


class EventLog:
    """Events in arrival order, with waiting on a predicate (no sleeps)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._cond = asyncio.Condition()

    def add(self, item: dict[str, Any]) -> None:
        self.items.append(item)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    async def wait(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        async def scan() -> dict[str, Any]:
            seen = 0
            while True:
                for item in self.items[seen:]:
                    if predicate(item):
                        return item
                seen = len(self.items)
                async with self._cond:
                    if len(self.items) == seen:
                        await self._cond.wait()

        try:
            return await asyncio.wait_for(scan(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"no matching event in {timeout} s; got {self.items[-10:]}"
            ) from None

    def matching(self, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        return [item for item in self.items if predicate(item)]


class PyServer:
    def __init__(self, name: str, mgr: AsyncRedisManager, sio: socketio.AsyncServer) -> None:
        self.name = name
        self.mgr = mgr
        self.sio = sio
        self.events = EventLog()
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    async def start(
        cls,
        redis_url: Any,
        *,
        key: str,
        name: str = "py",
        namespaces: tuple[str, ...] = ("/",),
        **manager_options: Any,
    ) -> PyServer:
        mgr = AsyncRedisManager(redis_url, key=key, **manager_options)
        sio = socketio.AsyncServer(
            client_manager=mgr, async_mode="aiohttp", namespaces=list(namespaces)
        )
        server = cls(name, mgr, sio)
        for nsp in namespaces:
            server._install(nsp)
        app = web.Application()
        sio.attach(app)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server._runner = runner
        server.port = runner.addresses[0][1]
        await mgr.start()
        return server

    def _install(self, nsp: str) -> None:
        sio, log = self.sio, self.events

        async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
            auth = auth or {}
            for room in auth.get("rooms", []):
                await sio.enter_room(sid, room, namespace=nsp)
            if "data" in auth:
                await sio.save_session(sid, auth["data"], namespace=nsp)
            log.add({"kind": "connection", "nsp": nsp, "sid": sid})

        async def disconnect(sid: str, reason: Any = None) -> None:
            log.add({"kind": "server-disconnect", "nsp": nsp, "sid": sid})

        async def any_event(event: str, sid: str, *args: Any) -> Any:
            log.add(
                {
                    "kind": "server-received",
                    "nsp": nsp,
                    "sid": sid,
                    "event": event,
                    "args": list(args),
                }
            )
            return {"echo": list(args)}

        sio.on("connect", connect, namespace=nsp)
        sio.on("disconnect", disconnect, namespace=nsp)
        sio.on("*", any_event, namespace=nsp)

    def listen(self, event: str, nsp: str = "/", reply: Any = None) -> None:
        """Log server-side emits of ``event``; answer acks with ``reply``."""

        def handler(*args: Any) -> Any:
            self.events.add(
                {"kind": "server-side-emit", "nsp": nsp, "event": event, "args": list(args)}
            )
            return reply

        self.mgr.on_server_side_emit(event, nsp, handler)

    async def close(self) -> None:
        await self.mgr.close()
        # aiohttp's cleanup waits for open websockets; close every client first.
        if self.sio.eio.sockets:
            await self.sio.eio.disconnect()
        if self._runner is not None:
            await self._runner.cleanup()

    def __repr__(self) -> str:
        return f"PyServer({self.name!r}, url={self.url}, {self.mgr!r})"


class PyClient:
    """A python-socketio client that logs every event and acks with ``ack``."""

    def __init__(self, name: str, ack: Any = None) -> None:
        self.name = name
        self.events = EventLog()
        self.client = socketio.AsyncClient(reconnection=False)
        self.sid: str | None = None
        ack_value = {"client": name} if ack is None else ack

        async def any_event(event: str, namespace: str, *args: Any) -> Any:
            self.events.add(
                {
                    "kind": "client",
                    "client": name,
                    "event": event,
                    "nsp": namespace,
                    "args": list(args),
                }
            )
            return ack_value

        async def disconnect(namespace: str, reason: Any = None) -> None:
            self.events.add(
                {"kind": "client-disconnect", "client": name, "nsp": namespace, "reason": reason}
            )

        self.client.on("*", any_event, namespace="*")
        self.client.on("disconnect", disconnect, namespace="*")

    async def connect(self, url: str, nsp: str = "/", auth: Any = None) -> str:
        await self.client.connect(
            url,
            namespaces=[nsp],
            transports=["websocket"],
            auth=auth or {},
            wait_timeout=10,
        )
        self.sid = self.client.get_sid(nsp)
        assert self.sid is not None
        return self.sid

    async def close(self) -> None:
        await self.client.disconnect()

    def __repr__(self) -> str:
        return f"PyClient({self.name!r}, sid={self.sid!r})"
