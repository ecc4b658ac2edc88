"""A Python emitter of the benchmark.

    python -m bench.emit --kind KIND --redis-url URL --n N [--rate R] [--size 64] [--room bench]

KIND:
  sioredis           sio_emitter.Emitter, one emit at a time (blocking, one round trip each)
  sioredis-async     sio_emitter.aio.AsyncEmitter, one awaited emit at a time
  sioredis-async-gather  AsyncEmitter, every emit issued before any is awaited (as Node's
                     fire-and-forget emit() is measured); they share round trips
  sioredis-pipeline  sio_emitter.Emitter.pipeline(), ``--batch`` emits per round trip
  socketio           python-socketio's AsyncRedisManager(write_only=True), one await at a time

Publishes ``n`` messages to ``room`` (``rate`` per second, 0 = as fast as possible) and prints
``{"type": "done", "n": .., "seconds": .., "rate": ..}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from bench.payload import make_payload, pace, pace_sync


def run_sync(args: argparse.Namespace) -> float:
    from sio_emitter import Emitter

    emitter = Emitter.from_url(args.redis_url, sharded=args.sharded)
    target = emitter.to(args.room)
    target.emit("m", make_payload(-1, args.size))  # connect before timing
    t0 = time.perf_counter()
    if args.kind == "sioredis-pipeline":
        i = 0
        while i < args.n:
            end = min(args.n, i + args.batch)
            if args.rate > 0:  # pacing a pipeline makes no sense; send in batches at the rate
                time.sleep(max(0.0, t0 + i / args.rate - time.perf_counter()))
            with emitter.pipeline() as p:
                pt = p.to(args.room)
                while i < end:
                    pt.emit("m", make_payload(i, args.size))
                    i += 1
    else:
        pace_sync(args.n, args.rate, lambda i: target.emit("m", make_payload(i, args.size)))
    seconds = time.perf_counter() - t0
    emitter.close()
    return seconds


async def run_async(args: argparse.Namespace) -> float:
    if args.kind == "socketio":
        import socketio

        mgr: Any = socketio.AsyncRedisManager(args.redis_url, channel="socketio", write_only=True)

        async def send(i: int) -> None:
            await mgr.emit("m", make_payload(i, args.size), room=args.room, namespace="/")

    else:
        from sio_emitter.aio import AsyncEmitter

        emitter = AsyncEmitter.from_url(args.redis_url, sharded=args.sharded)
        target = emitter.to(args.room)

        async def send(i: int) -> None:
            await target.emit("m", make_payload(i, args.size))

    await send(-1)  # connect before timing
    t0 = time.perf_counter()
    if args.kind == "sioredis-async-gather":
        await asyncio.gather(*(send(i) for i in range(args.n)))
    else:
        await pace(args.n, args.rate, send, batch=10**9)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", required=True)
    ap.add_argument("--redis-url", required=True)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=0.0)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--room", default="bench")
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--sharded", action="store_true")
    ap.add_argument("--profile", help="write a pyinstrument text profile to this file")
    args = ap.parse_args()
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    if args.kind in ("sioredis", "sioredis-pipeline"):
        seconds = run_sync(args)
    else:
        seconds = asyncio.run(run_async(args))
    if profiler is not None:
        profiler.stop()
        with open(args.profile, "w") as fh:
            fh.write(profiler.output_text(unicode=False, color=False, show_all=False))
    out = {"type": "done", "n": args.n, "seconds": seconds, "rate": args.n / seconds}
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
