"""A Python Socket.IO server of the benchmark.

    python -m bench.server --system sioredis|socketio --host uvicorn|aiohttp --port P
                           --redis-url redis://127.0.0.1:R [--sharded] [--room bench]

Every client joins ``--room``. ``GET /local?n=2000&rate=0&size=64`` makes this server broadcast
``n`` messages to its own clients without Redis, through the same delivery code as a broadcast
that arrives from Redis (the no-Redis baseline). Prints ``{"type": "ready"}`` once listening and
subscribed. Websocket compression is off, as in Node's engine.io (``--deflate`` turns it on).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

import socketio

from bench.payload import make_payload, pace


def build_server(system: str, mode: str, redis_url: str, sharded: bool) -> Any:
    if system == "sioredis":
        from sio_redis import AsyncRedisManager

        mgr: Any = AsyncRedisManager(redis_url, key="socket.io", sharded=sharded)
    elif system == "socketio":
        mgr = socketio.AsyncRedisManager(redis_url, channel="socketio")
    else:
        raise SystemExit(f"unknown system {system}")
    return socketio.AsyncServer(
        client_manager=mgr, async_mode=mode, transports=["websocket"], cors_allowed_origins="*"
    )


def local_broadcaster(sio: Any, system: str, room: str) -> Any:
    """``send(payload)``: one broadcast to this server's clients in ``room``, without Redis,
    through the code a broadcast from Redis runs."""
    mgr = sio.manager
    if system == "sioredis":
        from sio_redis import _compat

        if _compat.fast_delivery_available(sio):
            # what AsyncRedisManager._deliver_local does with a broadcast from Redis
            async def send(p: str) -> None:
                packets = _compat.prepare_event(sio, "/", ["m", p])
                eio_sids = [eio_sid for _sid, eio_sid in mgr.get_participants("/", room)]
                await _compat.deliver(sio, eio_sids, packets)

            return send
    # python-socketio's AsyncPubSubManager hands a message from Redis to AsyncManager.emit.

    async def send_public(p: str) -> None:
        await socketio.AsyncManager.emit(mgr, "m", p, namespace="/", room=room)

    return send_public


async def run_local(send: Any, n: int, rate: float, size: int) -> None:
    async def one(i: int) -> None:
        await send(make_payload(i, size))

    await pace(n, rate, one, batch=64)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--system", required=True)
    ap.add_argument("--host", default="uvicorn", choices=["uvicorn", "aiohttp"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--redis-url", required=True)
    ap.add_argument("--sharded", action="store_true")
    ap.add_argument("--room", default="bench")
    ap.add_argument(
        "--deflate", action="store_true",
        help="accept permessage-deflate (uvicorn's and aiohttp's default; Node's is off)",
    )
    args = ap.parse_args()
    asyncio.run(serve(args))


async def serve(args: argparse.Namespace) -> None:
    mode = "asgi" if args.host == "uvicorn" else "aiohttp"
    sio = build_server(args.system, mode, args.redis_url, args.sharded)
    room = args.room
    tasks: set[asyncio.Task[None]] = set()

    @sio.event
    async def connect(sid: str, environ: Any, auth: Any = None) -> None:
        await sio.enter_room(sid, room)

    send = local_broadcaster(sio, args.system, room)

    def start_local(query: dict[str, str]) -> None:
        n, rate, size = int(query.get("n", 2000)), float(query.get("rate", 0)), int(
            query.get("size", 64)
        )
        task = asyncio.ensure_future(run_local(send, n, rate, size))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    if args.host == "uvicorn":
        import uvicorn

        async def other(scope: Any, receive: Any, send_: Any) -> None:
            if scope["type"] == "lifespan":
                while True:
                    msg = await receive()
                    if msg["type"] == "lifespan.startup":
                        await send_({"type": "lifespan.startup.complete"})
                    elif msg["type"] == "lifespan.shutdown":
                        await send_({"type": "lifespan.shutdown.complete"})
                        return
            if scope["type"] != "http":
                return
            from urllib.parse import parse_qsl

            start_local(dict(parse_qsl(scope.get("query_string", b"").decode())))
            await send_({"type": "http.response.start", "status": 200, "headers": []})
            await send_({"type": "http.response.body", "body": b"ok"})

        app = socketio.ASGIApp(sio, other_asgi_app=other)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=args.port, log_level="warning", ws="websockets",
            lifespan="off", ws_per_message_deflate=args.deflate,
        )
        server = uvicorn.Server(config)
        server_task = asyncio.ensure_future(server.serve())
        while not server.started:
            if server_task.done():
                server_task.result()
                return
            await asyncio.sleep(0.05)
    else:
        from aiohttp import web

        @web.middleware
        async def no_deflate(request: web.Request, handler: Any) -> Any:
            # engine.io's aiohttp driver cannot turn compression off: hide the client's offer
            if not args.deflate and "Sec-WebSocket-Extensions" in request.headers:
                headers = request.headers.copy()
                del headers["Sec-WebSocket-Extensions"]
                request = request.clone(headers=headers)
            return await handler(request)

        webapp = web.Application(middlewares=[no_deflate])
        sio.attach(webapp)

        async def local(request: web.Request) -> web.Response:
            start_local(dict(request.query))
            return web.Response(text="ok")

        webapp.router.add_get("/local", local)
        runner = web.AppRunner(webapp, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", args.port).start()
        server_task = asyncio.ensure_future(asyncio.Event().wait())

    if args.system == "sioredis":
        await sio.manager.start()
    # (python-socketio's manager subscribes at the first connection, before the warm-up.)
    sys.stdout.write(json.dumps({"type": "ready", "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
    await server_task


if __name__ == "__main__":
    main()
