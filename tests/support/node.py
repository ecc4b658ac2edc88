"""Drive a real Node socket.io server (tests/node/harness.js) from asyncio tests.

A :class:`NodePeer` is one ``node tests/node/harness.js '<config>'`` process: a socket.io
server using ``@socket.io/redis-adapter`` (classic or sharded) that joins the same Redis cluster
as our Python servers, plus any number of socket.io-client connections it opens on request.
Commands and events are JSON lines; ``bytes`` cross as ``{"$bin": "<hex>"}`` (see
:func:`to_wire` / :func:`from_wire`).

Example::

    peer = await NodePeer.start({"redisUrl": url, "mode": "classic"}, name="n1")
    await peer.call("connect", name="c1", auth={"rooms": ["room1"]})
    await other.call("server", rooms=["room1"], action="emit", args=["hello", b"\\x01"])
    ev = await peer.wait_event(lambda e: e["kind"] == "client" and e["event"] == "hello")
    assert ev["args"] == [b"\\x01"]
    await peer.close()
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "HARNESS",
    "NODE_DIR",
    "REPO_ROOT",
    "NodeCommandError",
    "NodePeer",
    "NodePeerError",
    "from_wire",
    "node_available",
    "to_wire",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = REPO_ROOT / "tests" / "node"
HARNESS = NODE_DIR / "harness.js"

_REQUIRED_MODULES = (
    "socket.io",
    "socket.io-client",
    "redis",
    "@socket.io/redis-adapter",
)
_READY_TIMEOUT = 20.0
_CALL_TIMEOUT = 15.0
_CLOSE_TIMEOUT = 5.0
_LINE_LIMIT = 64 * 1024 * 1024

Event = dict[str, Any]
Predicate = Callable[[Event], bool]


class NodePeerError(RuntimeError):
    """The harness process could not start, died, or broke the line protocol."""


class NodeCommandError(RuntimeError):
    """A command was answered with ``ok: false``.

    ``partial`` is what the harness could still report (e.g. the acks received before an
    ``emitWithAck`` timed out), or None.
    """

    def __init__(self, message: str, partial: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.partial = partial


# ---------------------------------------------------------------------------
# value conversion
# ---------------------------------------------------------------------------
def to_wire(value: Any) -> Any:
    """Python value -> JSON-able value: ``bytes`` become ``{"$bin": hex}``, recursively."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bin": bytes(value).hex()}
    if isinstance(value, Mapping):
        return {str(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    return value


def from_wire(value: Any) -> Any:
    """Inverse of :func:`to_wire`: ``{"$bin": hex}`` objects become ``bytes``, recursively."""
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("$bin"), str):
            return bytes.fromhex(value["$bin"])
        return {k: from_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_wire(v) for v in value]
    return value


def node_available() -> str | None:
    """None when ``node`` and tests/node/node_modules are usable, else why not."""
    if shutil.which("node") is None:
        return "node (Node.js) not found on PATH"
    if not HARNESS.is_file():
        return f"{HARNESS} is missing"
    modules = NODE_DIR / "node_modules"
    if not modules.is_dir():
        return f"{modules} is missing (run `npm ci` in {NODE_DIR})"
    for name in _REQUIRED_MODULES:
        if not (modules / name / "package.json").is_file():
            return f"{modules / name} is missing (run `npm ci` in {NODE_DIR})"
    return None


# ---------------------------------------------------------------------------
# the peer
# ---------------------------------------------------------------------------
class NodePeer:
    """One running ``tests/node/harness.js`` process.

    Attributes: ``name``, ``config``, ``port``, ``url`` (``http://127.0.0.1:<port>``), ``pid``,
    ``events`` (every event line received so far, in order, with bytes already decoded).
    """

    def __init__(
        self, config: Mapping[str, Any], name: str, proc: asyncio.subprocess.Process
    ) -> None:
        self.name = name
        self.config: dict[str, Any] = dict(config)
        self.port: int = 0
        self.url: str = ""
        self.pid: int = proc.pid
        self.events: list[Event] = []
        self._proc = proc
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._cond = asyncio.Condition()
        self._ready: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._stderr: collections.deque[str] = collections.deque(maxlen=1000)
        self._exited = False
        self._closing = False
        self._write_lock = asyncio.Lock()
        self._stdout_task = asyncio.create_task(
            self._read_stdout(), name=f"node-peer-{name}-stdout"
        )
        self._stderr_task = asyncio.create_task(
            self._read_stderr(), name=f"node-peer-{name}-stderr"
        )

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    async def start(
        cls,
        config: Mapping[str, Any],
        *,
        name: str = "node",
        argv: Sequence[str] | None = None,
    ) -> NodePeer:
        """Spawn the harness with ``config`` and wait (20 s) for its ready line.

        ``argv`` runs another program speaking the same protocol instead (the Python
        twin, ``tests/support/py_harness.py``)."""
        if argv is None:
            reason = node_available()
            if reason is not None:
                raise NodePeerError(f"cannot start node peer {name!r}: {reason}")
            node = shutil.which("node")
            assert node is not None
            argv = [node, str(HARNESS)]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            json.dumps(dict(config)),
            cwd=str(REPO_ROOT),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=_LINE_LIMIT,
        )
        peer = cls(config, name, proc)
        try:
            ready = await asyncio.wait_for(asyncio.shield(peer._ready), _READY_TIMEOUT)
        except asyncio.CancelledError:
            await peer._kill()
            raise
        except Exception as e:
            await peer._kill()
            detail = (
                "timed out after 20 s"
                if isinstance(e, asyncio.TimeoutError)
                else str(e).splitlines()[0]
            )
            raise NodePeerError(
                f"node peer {name!r} did not become ready ({detail}); "
                f"config={json.dumps(dict(config))}\n"
                f"stderr:\n{peer.stderr_tail()}"
            ) from e
        peer.port = int(ready["port"])
        peer.pid = int(ready.get("pid", proc.pid))
        peer.url = f"http://127.0.0.1:{peer.port}"
        return peer

    async def close(self) -> None:
        """Ask the harness to exit (``{"op":"exit"}``), wait up to 5 s, then kill it. Idempotent."""
        if self._closing:
            await self._wait_tasks()
            return
        self._closing = True
        if self._proc.returncode is None and not self._exited:
            with contextlib.suppress(Exception):
                await self._send({"id": next(self._ids), "op": "exit"})
            try:
                await asyncio.wait_for(self._proc.wait(), _CLOSE_TIMEOUT)
            except asyncio.TimeoutError:
                self._stderr.append("[node.py] harness did not exit within 5 s: killed")
                await self._kill()
        if self._proc.stdin is not None:
            with contextlib.suppress(Exception):
                self._proc.stdin.close()
        await self._wait_tasks()

    async def __aenter__(self) -> NodePeer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    @property
    def running(self) -> bool:
        return self._proc.returncode is None and not self._exited

    # -- commands ----------------------------------------------------------------------------
    async def call(self, op: str, /, *, call_timeout: float = _CALL_TIMEOUT, **fields: Any) -> Any:
        """Send ``{"id", "op": op, **fields}`` and return the reply's ``result`` (bytes decoded).

        Raises :class:`NodeCommandError` (``message``, ``partial``) on ``ok: false``,
        :class:`TimeoutError` after ``call_timeout`` seconds, :class:`NodePeerError` if the
        process died.
        """
        if not self.running:
            raise NodePeerError(f"{self!r} is not running\nstderr:\n{self.stderr_tail()}")
        cid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[cid] = fut
        try:
            await self._send({"id": cid, "op": op, **to_wire(fields)})
            try:
                reply = await asyncio.wait_for(asyncio.shield(fut), call_timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(
                    f"{self.name}: no reply to {op} {json.dumps(to_wire(fields))[:300]} "
                    f"within {call_timeout} s\nstderr:\n{self.stderr_tail()}"
                ) from None
        finally:
            self._pending.pop(cid, None)
        if not reply.get("ok"):
            raise NodeCommandError(str(reply.get("error")), from_wire(reply.get("partial")))
        return from_wire(reply.get("result"))

    def mark(self) -> int:
        """Current length of :attr:`events`; pass it as ``since`` to ignore older events."""
        return len(self.events)

    async def wait_event(
        self, predicate: Predicate, timeout: float = 10.0, *, since: int = 0
    ) -> Event:
        """First event matching ``predicate``, from index ``since`` (received ones included).

        Raises :class:`TimeoutError` after ``timeout`` seconds, :class:`NodePeerError` if the
        process exits.
        """
        try:
            return await asyncio.wait_for(self._wait_event(predicate, since), timeout)
        except asyncio.TimeoutError:
            recent = "\n".join(json.dumps(to_wire(e))[:300] for e in self.events[-10:])
            raise TimeoutError(
                f"{self.name}: no matching event within {timeout} s; last events:\n{recent}"
            ) from None

    async def _wait_event(self, predicate: Predicate, since: int) -> Event:
        index = since
        async with self._cond:
            while True:
                while index < len(self.events):
                    event = self.events[index]
                    index += 1
                    if predicate(event):
                        return event
                if self._exited:
                    raise NodePeerError(
                        f"{self.name}: process exited while waiting for an event\n"
                        f"stderr:\n{self.stderr_tail()}"
                    )
                await self._cond.wait()

    def stderr_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines the harness wrote to stderr (and any non-protocol stdout)."""
        return "\n".join(list(self._stderr)[-lines:])

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited({self._proc.returncode})"
        return (
            f"NodePeer(name={self.name!r}, pid={self.pid}, url={self.url or '-'}, {state}, "
            f"config={json.dumps(self.config, sort_keys=True)})"
        )

    # -- internals ---------------------------------------------------------------------------
    async def _send(self, message: Mapping[str, Any]) -> None:
        stdin = self._proc.stdin
        if stdin is None or stdin.is_closing():
            raise NodePeerError(f"{self.name}: stdin is closed")
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        async with self._write_lock:
            try:
                stdin.write(data)
                await stdin.drain()
            except (BrokenPipeError, ConnectionResetError) as e:
                raise NodePeerError(
                    f"{self.name}: harness is gone ({e})\nstderr:\n{self.stderr_tail()}"
                ) from e

    async def _read_stdout(self) -> None:
        stdout = self._proc.stdout
        assert stdout is not None
        try:
            while True:
                try:
                    raw = await stdout.readline()
                except ValueError as e:  # line above the limit
                    self._stderr.append(f"[node.py] stdout line too long: {e}")
                    continue
                if not raw:
                    break
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if not line:
                    continue
                try:
                    message = json.loads(line)
                except json.JSONDecodeError:
                    self._stderr.append(f"[stdout] {line}")
                    continue
                await self._dispatch(message)
        finally:
            with contextlib.suppress(Exception):
                await self._proc.wait()
            self._exited = True
            error = NodePeerError(
                f"{self.name}: harness exited with code {self._proc.returncode}\n"
                f"stderr:\n{self.stderr_tail()}"
            )
            if not self._ready.done():
                self._ready.set_exception(error)
                self._ready.exception()  # mark retrieved
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(error)
                    fut.exception()
            async with self._cond:
                self._cond.notify_all()

    async def _dispatch(self, message: Any) -> None:
        if not isinstance(message, dict):
            self._stderr.append(f"[stdout] {message!r}")
            return
        kind = message.get("type")
        if kind == "event":
            event = from_wire(message)
            async with self._cond:
                self.events.append(event)
                self._cond.notify_all()
        elif kind == "reply":
            fut = self._pending.get(message.get("id"))  # type: ignore[arg-type]
            if fut is not None and not fut.done():
                fut.set_result(message)
            elif message.get("ok") is False:
                self._stderr.append(f"[node.py] unmatched error reply: {message.get('error')}")
        elif kind == "ready":
            if not self._ready.done():
                self._ready.set_result(message)
        else:
            self._stderr.append(f"[stdout] {json.dumps(message)[:500]}")

    async def _read_stderr(self) -> None:
        stderr = self._proc.stderr
        assert stderr is not None
        while True:
            try:
                raw = await stderr.readline()
            except ValueError:
                continue
            if not raw:
                return
            self._stderr.append(raw.decode("utf-8", errors="replace").rstrip("\r\n"))

    async def _kill(self) -> None:
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._proc.wait(), _CLOSE_TIMEOUT)
        await self._wait_tasks()

    async def _wait_tasks(self) -> None:
        for task in (self._stdout_task, self._stderr_task):
            if task.done():
                continue
            try:
                await asyncio.wait_for(asyncio.shield(task), _CLOSE_TIMEOUT)
            except asyncio.TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
