"""The benchmark's message and pacing, shared by the Python servers and emitters (the Node
processes have the same in bench/node/common.js)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


def now_ms() -> float:
    return time.time() * 1000.0


def make_payload(seq: int, size: int = 64) -> str:
    """A ``size``-byte string that starts with its emit time in ms (the load measures latency)."""
    head = f"{now_ms():.3f}|{seq}|"
    return head + "x" * (size - len(head)) if len(head) < size else head


async def pace(
    n: int, rate: float, send: Callable[[int], Awaitable[None]], batch: int = 64
) -> None:
    """Await ``send(i)`` for i in [0, n) at ``rate`` per second (0: as fast as possible,
    yielding to the event loop every ``batch`` messages)."""
    start = time.perf_counter()
    i = 0
    while i < n:
        if rate > 0:
            due = min(n, int((time.perf_counter() - start) * rate) + 1)
            while i < due:
                await send(i)
                i += 1
            if i < n:
                wait = start + i / rate - time.perf_counter()
                await asyncio.sleep(max(0.0, wait))
        else:
            end = min(n, i + batch)
            while i < end:
                await send(i)
                i += 1
            await asyncio.sleep(0)


def pace_sync(n: int, rate: float, send: Callable[[int], None]) -> None:
    """The blocking twin of :func:`pace`."""
    start = time.perf_counter()
    i = 0
    while i < n:
        due = n if rate <= 0 else min(n, int((time.perf_counter() - start) * rate) + 1)
        while i < due:
            send(i)
            i += 1
        if i < n:
            time.sleep(max(0.0, start + i / rate - time.perf_counter()))
