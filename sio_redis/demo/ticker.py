"""The demo's clock: an emitter, not a server, ticking the time into room ``clock``.

It shows that any process can reach every client of the cluster through Redis alone
(``sio_emitter.AsyncEmitter``: nothing to serve, no python-socketio).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sio_emitter import AsyncEmitter, RedisUnavailableError

from ._common import now_iso, stop_on_signals

__all__ = ["run_ticker", "tick_forever"]

logger = logging.getLogger("sio_redis.demo")


async def tick_forever(emitter: AsyncEmitter, room: str = "clock", interval: float = 1.0) -> None:
    """``emitter.to(room).emit("tick", <ISO time>)`` every ``interval`` seconds, on the
    wall clock's beat so the pages' clocks change together."""
    target = emitter.to(room)
    while True:
        await asyncio.sleep(interval - time.time() % interval)
        try:
            await target.emit("tick", now_iso())
        except (RedisUnavailableError, OSError) as exc:  # go on: Redis may come back
            logger.warning("ticker: cannot publish: %s", exc)


async def run_ticker(
    *,
    redis_url: str,
    key: str,
    room: str = "clock",
    interval: float = 1.0,
    watch_stdin: bool = False,
) -> int:
    """Tick until SIGINT/SIGTERM (or stdin EOF with ``watch_stdin``); the exit status."""
    stop = asyncio.Event()
    stop_on_signals(stop, watch_stdin=watch_stdin)
    emitter = AsyncEmitter.from_url(redis_url, key)
    print(f"ticker: emitting 'tick' to room {room!r} every {interval:g} s", flush=True)
    task = asyncio.create_task(tick_forever(emitter, room, interval), name="demo ticker")
    try:
        await stop.wait()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await emitter.aclose()
    return 0
