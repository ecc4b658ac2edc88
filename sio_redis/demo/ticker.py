"""The demo's clock: an emitter, not a server, ticking the time into room ``clock``.

It shows that any process can reach every client of the cluster through Redis alone
(``sio_emitter.AsyncEmitter``: nothing to serve, no python-socketio).
"""

from __future__ import annotations

import asyncio
import logging
import time

from sio_emitter import AsyncEmitter, RedisUnavailableError

from ._common import now_iso, stop_on_signals

__all__ = ["run_ticker", "tick_until"]

logger = logging.getLogger("sio_redis.demo")


async def tick_until(
    stop: asyncio.Event, emitter: AsyncEmitter, room: str = "clock", interval: float = 1.0
) -> None:
    """``emitter.to(room).emit("tick", <ISO time>)`` every ``interval`` seconds, on the
    wall clock's beat so the pages' clocks change together, until ``stop`` is set.

    A stop event rather than cancellation alone: redis-py (8.1) may swallow a cancellation
    that lands during a command, and the loop would go on."""
    target = emitter.to(room)
    while True:
        try:
            await asyncio.wait_for(stop.wait(), interval - time.time() % interval)
            return
        except asyncio.TimeoutError:
            pass
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
    task = asyncio.create_task(tick_until(stop, emitter, room, interval), name="demo ticker")
    try:
        await stop.wait()
    finally:
        stop.set()
        task.cancel()
        await asyncio.wait([task], timeout=2)
        await emitter.aclose()
    return 0
