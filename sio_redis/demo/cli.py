"""Command line of the demo: ``python -m sio_redis.demo [run|server|ticker] [options]``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from ._common import DEFAULT_KEY, default_redis_url

__all__ = ["main"]

_COMMANDS = ("run", "server", "ticker")


def _ports(text: str) -> tuple[int, ...]:
    try:
        ports = tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of ports: {text!r}") from None
    if not ports or not all(0 < p < 65536 for p in ports):
        raise argparse.ArgumentTypeError(f"ports must be in 1..65535: {text!r}")
    if len(set(ports)) != len(ports):
        raise argparse.ArgumentTypeError(f"the same port twice: {text!r}")
    return ports


def _port(text: str) -> int:
    (port,) = _ports(text)
    return port


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sio_redis.demo",
        description=(
            "Start a demo Socket.IO cluster on this machine: Redis, Python servers "
            "(sio_redis.AsyncRedisManager), a Node server (@socket.io/redis-adapter) when "
            "Node and tests/node/node_modules are there, and a clock ticker "
            "(sio_emitter.AsyncEmitter). Each server serves a chat page. Members on their "
            "own: `python -m sio_redis.demo server --help`, `... ticker --help`."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address the servers listen on")
    p.add_argument(
        "--ports", type=_ports, default=(8001, 8002), metavar="P1,P2,...",
        help="ports of the Python servers, one server each (default: 8001,8002)",
    )  # fmt: skip
    p.add_argument(
        "--node-port", type=_port, default=8003, help="port of the Node server (default: 8003)"
    )
    p.add_argument("--no-node", action="store_true", help="do not start the Node server")
    p.add_argument(
        "--redis", metavar="URL",
        help="use this Redis (default: $SIO_REDIS_URL, else a private redis-server if one is "
        "on PATH, else an embedded fakeredis server)",
    )  # fmt: skip
    p.add_argument(
        "--embedded-redis", action="store_true",
        help="use the embedded fakeredis server even if a Redis is available",
    )  # fmt: skip
    p.add_argument("--key", default=DEFAULT_KEY, help=f"cluster key (default: {DEFAULT_KEY})")
    p.add_argument(
        "--duration", type=_seconds, metavar="SECONDS", help="stop by itself after SECONDS"
    )
    return p


def _server_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sio_redis.demo server",
        description="Run one Python server of the demo cluster.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=8001)
    p.add_argument(
        "--redis",
        metavar="URL",
        default=None,
        help="Redis URL (default: $SIO_REDIS_URL or redis://127.0.0.1:6379/0)",
    )
    p.add_argument("--name", default=None, help="server name shown on the page (default: py-PORT)")
    p.add_argument("--key", default=DEFAULT_KEY)
    p.add_argument(
        "--stop-with-stdin",
        action="store_true",
        help="exit when stdin closes (used by the launcher)",
    )
    return p


def _ticker_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sio_redis.demo ticker",
        description="Emit the time to room 'clock' every second, from outside any server.",
    )
    p.add_argument(
        "--redis",
        metavar="URL",
        default=None,
        help="Redis URL (default: $SIO_REDIS_URL or redis://127.0.0.1:6379/0)",
    )
    p.add_argument("--key", default=DEFAULT_KEY)
    p.add_argument("--room", default="clock")
    p.add_argument("--interval", type=_seconds, default=1.0)
    p.add_argument(
        "--stop-with-stdin",
        action="store_true",
        help="exit when stdin closes (used by the launcher)",
    )
    return p


def _run(args: argparse.Namespace) -> int:
    from .launcher import LaunchOptions, launch, node_unavailable
    from .redis_backend import RedisUnavailable, choose_redis

    node_note: str | None = "--no-node" if args.no_node else node_unavailable()
    opts = LaunchOptions(
        host=args.host,
        ports=args.ports,
        node_port=None if node_note else args.node_port,
        key=args.key,
        duration=args.duration,
    )
    try:
        # Before asyncio starts any thread: a private redis-server is spawned with a
        # preexec_fn (see RedisServerProcess).
        redis = choose_redis(
            args.redis, os.environ.get("SIO_REDIS_URL"), embedded=args.embedded_redis
        )
    except RedisUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if redis.notice:
        print(f"!!! {redis.notice}", flush=True)
    try:
        return asyncio.run(launch(opts, redis, node_note))
    except KeyboardInterrupt:  # only where signal handlers cannot be installed
        return 130
    finally:
        redis.stop()
        print("demo stopped", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = args_list.pop(0) if args_list and args_list[0] in _COMMANDS else "run"
    # Line by line, also into a pipe: the launcher relays the members' output as it comes.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    if command == "server":
        from .server import run_server

        a = _server_parser().parse_args(args_list)
        return asyncio.run(run_server(
            host=a.host, port=a.port, redis_url=a.redis or default_redis_url(),
            name=a.name or f"py-{a.port}", key=a.key, watch_stdin=a.stop_with_stdin,
        ))  # fmt: skip
    if command == "ticker":
        from .ticker import run_ticker

        a = _ticker_parser().parse_args(args_list)
        return asyncio.run(run_ticker(
            redis_url=a.redis or default_redis_url(), key=a.key, room=a.room,
            interval=a.interval, watch_stdin=a.stop_with_stdin,
        ))  # fmt: skip
    return _run(_run_parser().parse_args(args_list))
