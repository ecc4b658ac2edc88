"""Start the whole demo cluster on this machine and keep it running until told to stop.

Each server is a separate process (``python -m sio_redis.demo server ...`` and
``node tests/node/demo-server.js ...``), as in a real deployment; the clock ticker runs in
the launcher itself. Their output is relayed here, prefixed with their name.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from sio_emitter import AsyncEmitter

from ._common import NODE_DEMO_SERVER, NODE_DIR, READY_MARK
from .redis_backend import DemoRedis
from .ticker import tick_until

__all__ = ["LaunchOptions", "launch", "node_unavailable"]

START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
RULE = "=" * 72

_NODE_MODULES = ("socket.io", "@socket.io/redis-adapter", "redis", "socket.io-client")


@dataclass(frozen=True)
class LaunchOptions:
    host: str
    ports: tuple[int, ...]
    node_port: int | None  # None: no Node server
    key: str
    duration: float | None


class MemberFailed(RuntimeError):
    pass


@dataclass
class Member:
    """One child process of the demo, its output relay and its readiness."""

    name: str
    kind: str
    argv: list[str]
    proc: asyncio.subprocess.Process | None = None
    url: str = ""
    ready: asyncio.Future[str] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    relay: asyncio.Task[None] | None = None

    async def spawn(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        # stdin is a pipe nobody writes to: members exit when it closes (--stop-with-stdin),
        # which happens however the launcher dies.
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )
        self.relay = asyncio.create_task(self._relay(), name=f"relay {self.name}")

    async def _relay(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            raw = await self.proc.stdout.readline()
            if not raw:
                break
            line = raw.decode(errors="replace").rstrip()
            print(f"[{self.name}] {line}", flush=True)
            if READY_MARK in line and not self.ready.done():
                self.ready.set_result(line.split(READY_MARK, 1)[1].split()[0])
        if not self.ready.done():
            code = await self.proc.wait()
            self.ready.set_exception(MemberFailed(f"{self.name} exited with code {code}"))

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
            except asyncio.TimeoutError:
                print(f"{self.name} did not stop in {STOP_TIMEOUT:g} s: killing it", flush=True)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()
        if self.relay is not None:
            await self.relay
        if self.ready.done() and not self.ready.cancelled():
            self.ready.exception()  # reported already: keep asyncio from logging it again


def node_unavailable() -> str | None:
    """None when the Node server can run here, else why not."""
    if shutil.which("node") is None:
        return "node (Node.js) not found on PATH"
    if not NODE_DEMO_SERVER.is_file():
        return f"{NODE_DEMO_SERVER} not found (the Node server needs a source checkout)"
    for module in _NODE_MODULES:
        if not (NODE_DIR / "node_modules" / module / "package.json").is_file():
            return f"{NODE_DIR / 'node_modules'} is incomplete: run `npm ci` in {NODE_DIR}"
    return None


def _port_busy(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # As aiohttp and Node listen: a port in TIME_WAIT is not busy.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _members(opts: LaunchOptions, redis_url: str) -> list[Member]:
    members = []
    for i, port in enumerate(opts.ports, 1):
        name = f"py-{i}"
        argv = [
            sys.executable, "-m", "sio_redis.demo", "server", "--host", opts.host,
            "--port", str(port), "--redis", redis_url, "--name", name, "--key", opts.key,
            "--stop-with-stdin",
        ]  # fmt: skip
        members.append(Member(name, "Python, sio_redis.AsyncRedisManager", argv))
    if opts.node_port is not None:
        node = shutil.which("node") or "node"
        argv = [
            node, str(NODE_DEMO_SERVER), "--host", opts.host, "--port", str(opts.node_port),
            "--redis", redis_url, "--name", "node-1", "--key", opts.key, "--stop-with-stdin",
        ]  # fmt: skip
        members.append(Member("node-1", "Node, @socket.io/redis-adapter", argv))
    return members


def _banner(
    opts: LaunchOptions, redis: DemoRedis, members: Sequence[Member], node_note: str | None
) -> str:
    lines = [RULE, " sio-redis demo: one Socket.IO cluster over Redis"]
    if redis.notice:
        lines.append(f" !!! {redis.notice}")
    lines.append(f"   redis    {redis.description}")
    for m in members:
        pid = m.proc.pid if m.proc is not None else "?"
        lines.append(f"   {m.name:<8} {m.url:<26} {m.kind} (pid {pid})")
    if node_note:
        lines.append(f"   node     not started: {node_note}")
    lines.append(
        f"   ticker   'tick' to room \"clock\" every second "
        f"(sio_emitter.AsyncEmitter in the launcher, pid {os.getpid()})"
    )
    lines.append(f"   key      {opts.key!r} (the Redis channel prefix of this cluster)")
    lines.append(" Open two of the pages above side by side and chat: messages cross servers.")
    if opts.duration is not None:
        lines.append(f" Stops by itself after {opts.duration:g} s (--duration).")
    lines.append(" Ctrl-C stops everything.")
    lines.append(RULE)
    return "\n".join(lines)


async def launch(opts: LaunchOptions, redis: DemoRedis, node_note: str | None = None) -> int:
    """Run the cluster on ``redis`` until SIGINT/SIGTERM, ``opts.duration`` or a member's
    death; stop every member; return the exit status (0 unless something failed)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    ports = [*opts.ports, *([opts.node_port] if opts.node_port is not None else [])]
    if len(set(ports)) != len(ports):
        print(f"error: two servers on one port: {ports}", file=sys.stderr, flush=True)
        return 1
    busy = [p for p in ports if _port_busy(opts.host, p)]
    if busy:
        print(
            f"error: port(s) {', '.join(map(str, busy))} on {opts.host} already in use: "
            "choose others with --ports / --node-port",
            file=sys.stderr,
            flush=True,
        )
        return 1

    members = _members(opts, redis.url)
    emitter: AsyncEmitter | None = None
    ticker: asyncio.Task[None] | None = None
    status = 0
    try:
        for m in members:
            await m.spawn()
        try:
            urls = await asyncio.wait_for(
                asyncio.gather(*(m.ready for m in members)), START_TIMEOUT
            )
        except (MemberFailed, asyncio.TimeoutError) as exc:
            late = ", ".join(m.name for m in members if not m.ready.done())
            reason = str(exc) or f"{late} not ready within {START_TIMEOUT:g} s"
            print(f"error: the demo cluster did not start: {reason}", file=sys.stderr, flush=True)
            return 1
        for m, url in zip(members, urls, strict=True):
            m.url = url

        emitter = AsyncEmitter.from_url(redis.url, opts.key)
        ticker = asyncio.create_task(tick_until(stop, emitter, "clock"), name="demo ticker")
        print(_banner(opts, redis, members, node_note), flush=True)
        print("demo is running", flush=True)

        assert all(m.proc is not None for m in members)
        exits = {asyncio.create_task(m.proc.wait()): m for m in members if m.proc is not None}
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait(
            [stopper, *exits], timeout=opts.duration, return_when=asyncio.FIRST_COMPLETED
        )
        for task in (stopper, *exits):
            task.cancel()
        if not done:
            print(f"--duration {opts.duration:g} s is over", flush=True)
        for task in done:
            exited = exits.get(task)
            if exited is not None and not stop.is_set():
                code = exited.proc.returncode if exited.proc is not None else None
                # 0: it was asked to stop (e.g. Ctrl-C reached it first); else it failed.
                if code != 0:
                    status = 1
                print(f"{exited.name} exited with code {code}: stopping the demo", flush=True)
    finally:
        print("stopping the demo cluster", flush=True)
        stop.set()  # also ends the ticker (see tick_until)
        if ticker is not None:
            ticker.cancel()
            await asyncio.wait([ticker], timeout=2)
        if emitter is not None:
            with contextlib.suppress(Exception):
                await emitter.aclose()
        await asyncio.gather(*(m.stop() for m in members), return_exceptions=True)
    return status
