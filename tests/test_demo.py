"""The demo (``python -m sio_redis.demo``) end to end: the launcher as a user runs it, Python
Socket.IO clients and a headless Chromium on its pages, the embedded-Redis fallback, and
the docker-compose.yml that runs the same cluster in containers.

Every launcher runs in its own process group, killed whole after its test however the test
ends; the browser likewise.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support import require
from tests.support.node import node_available
from tests.support.pyserver import PyClient
from tests.support.redis import free_port, redis_server_binary

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"

pytestmark = pytest.mark.timeout(120)

START_TIMEOUT = 45.0
_PID_LINE = re.compile(r"^ {3}(\S+)\s.*\bpid (\d+)\)$")


# ---------------------------------------------------------------------------
# the launcher, as a process
# ---------------------------------------------------------------------------
def _alive(pid: int) -> bool:
    """Running (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Demo:
    """``python -m sio_redis.demo ARGS`` in its own process group, its output collected."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.args = args
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sio_redis.demo", *args],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # A group of its own: teardown can kill everything it started, whatever happened.
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with self._cond:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not any(text in line for line in self.lines):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(
                        f"no {text!r} from the demo (exit code {self.proc.poll()}):\n{self.output}"
                    )
                self._cond.wait(min(remaining, 0.2))

    @property
    def pids(self) -> dict[str, int]:
        """Member name -> pid, from the banner (``ticker`` is the launcher itself)."""
        found: dict[str, int] = {}
        for line in list(self.lines):
            m = _PID_LINE.match(line)
            if m:
                found[m.group(1)] = int(m.group(2))
        return found

    def url(self, name: str) -> str:
        for line in list(self.lines):
            m = re.match(rf"^ {{3}}{re.escape(name)}\s+(http://\S+)", line)
            if m:
                return m.group(1).rstrip("/")
        raise AssertionError(f"no URL for {name} in the banner:\n{self.output}")

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM the launcher (as ``kill`` or a service manager would); its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill_all(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._reader.join(timeout=5)


def _env(**changes: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # The demo must run on the Redis the test gives it, not on the developer's.
    env.pop("SIO_REDIS_URL", None)
    env.update(changes)
    return env


@contextlib.contextmanager
def _full_demo() -> Iterator[Demo]:
    """The full demo on a private redis-server: two Python servers, and the Node server
    wherever Node is usable."""
    require(None if redis_server_binary() else "redis-server not found on PATH")
    ports = [free_port(), free_port(), free_port()]
    args = ["--ports", f"{ports[0]},{ports[1]}", "--node-port", str(ports[2])]
    # --duration only as a safety net, should the test process die without its teardown.
    d = Demo([*args, "--duration", "300"], _env())
    try:
        d.wait_for("demo is running")
        yield d
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            d.terminate(timeout=15)
        d.kill_all()  # whatever is left of its process group


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    """One full demo shared by the tests that only use it."""
    with _full_demo() as d:
        yield d


def _servers(d: Demo) -> int:
    return 2 + ("node-1" in d.pids)


@contextlib.asynccontextmanager
async def _clients(*urls: str) -> Any:
    clients: list[PyClient] = []
    try:
        for i, url in enumerate(urls):
            c = PyClient(f"c{i}")
            clients.append(c)
            await c.connect(url)
        yield clients
    finally:
        for c in clients:
            with contextlib.suppress(Exception):
                await c.close()


def _chat_with(text: str) -> Any:
    return lambda e: e.get("event") == "chat" and e["args"] and e["args"][0].get("text") == text


# ---------------------------------------------------------------------------
# the cluster, with Python clients
# ---------------------------------------------------------------------------
async def test_python_servers_serve_pages_relay_chat_and_ticks(demo: Demo) -> None:
    py1, py2 = demo.url("py-1"), demo.url("py-2")
    assert f"py-1     {py1}/" in demo.output and f"py-2     {py2}/" in demo.output
    assert "redis-server" in demo.output
    async with aiohttp.ClientSession() as http:
        for url in (py1, py2):
            async with http.get(url + "/") as resp:
                assert resp.status == 200
                assert "sio-redis demo" in await resp.text()
        if node_available() is None:
            async with http.get(py1 + "/socket.io.min.js") as resp:
                assert resp.status == 200
                assert len(await resp.read()) > 10_000

    async with _clients(py1, py2) as (c1, c2):
        servers = _servers(demo)
        assert await c1.client.call("hello", timeout=5) == {"server": "py-1", "servers": servers}
        assert await c2.client.call("hello", timeout=5) == {"server": "py-2", "servers": servers}

        text = f"hello across servers {uuid.uuid4()}"
        await c1.client.emit("chat", {"name": "ann", "text": text})
        got = await c2.events.wait(_chat_with(text), timeout=10)
        assert got["args"][0]["name"] == "ann"
        assert got["args"][0]["server"] == "py-1"
        await c1.events.wait(_chat_with(text), timeout=10)  # the sender sees it too

        # Not messages: dropped, not rebroadcast; the marker sent after them comes alone.
        await c1.client.emit("chat", {"name": "ann", "text": "   "})
        await c1.client.emit("chat", "just a string")
        marker = f"marker {uuid.uuid4()}"
        await c1.client.emit("chat", {"text": marker})
        last = await c2.events.wait(_chat_with(marker), timeout=10)
        assert last["args"][0]["name"] == "anonymous"
        assert [e for e in c2.events.items if e.get("event") == "chat"] == [got, last]

        tick = await c2.events.wait(lambda e: e.get("event") == "tick", timeout=5)
        assert datetime.fromisoformat(tick["args"][0]).tzinfo is not None
        pushed = await c1.events.wait(lambda e: e.get("event") == "servers", timeout=8)
        assert pushed["args"] == [{"server": "py-1", "servers": servers}]


async def test_node_server_joins_the_demo_cluster(demo: Demo) -> None:
    require(node_available())
    assert "node-1" in demo.pids, f"the Node server was not started:\n{demo.output}"
    node, py1 = demo.url("node-1"), demo.url("py-1")
    async with aiohttp.ClientSession() as http:
        async with http.get(node + "/") as resp:
            assert resp.status == 200 and "sio-redis demo" in await resp.text()
        async with http.get(node + "/socket.io.min.js") as resp:
            assert resp.status == 200

    async with _clients(py1, node) as (c1, c3):
        assert await c3.client.call("hello", timeout=5) == {"server": "node-1", "servers": 3}
        text = f"python to node {uuid.uuid4()}"
        await c1.client.emit("chat", {"name": "ann", "text": text})
        got = await c3.events.wait(_chat_with(text), timeout=10)
        assert got["args"][0]["server"] == "py-1"

        text = f"node to python {uuid.uuid4()}"
        await c3.client.emit("chat", {"name": "bob", "text": text})
        got = await c1.events.wait(_chat_with(text), timeout=10)
        assert got["args"][0]["server"] == "node-1" and got["args"][0]["name"] == "bob"
        await c3.events.wait(lambda e: e.get("event") == "tick", timeout=5)


# ---------------------------------------------------------------------------
# a real browser on the pages, over the Chrome DevTools Protocol
# ---------------------------------------------------------------------------
def chromium_binary() -> str | None:
    env = os.environ.get("CHROMIUM")
    if env:
        return env if os.access(env, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Chromium:
    """Headless Chromium driven over one CDP websocket (flattened target sessions)."""

    def __init__(self, binary: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="sio-demo-chromium-"))
        self.log = self.dir / "chromium.log"
        argv = [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--no-proxy-server", "--mute-audio",
            f"--user-data-dir={self.dir / 'profile'}",
            # Port 0: Chromium picks a free one and writes it to DevToolsActivePort.
            "--remote-debugging-port=0",
            "about:blank",
        ]  # fmt: skip
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = 0

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no log)"

    async def connect(self, timeout: float = 30.0) -> None:
        active = self.dir / "profile" / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while True:
            lines = active.read_text().split() if active.is_file() else []
            if len(lines) >= 2:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"Chromium did not start a DevTools endpoint:\n{self.log_tail()}"
                )
            await asyncio.sleep(0.05)
        self._http = aiohttp.ClientSession()
        self._ws = await self._http.ws_connect(
            f"ws://127.0.0.1:{lines[0]}{lines[1]}", max_msg_size=0
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            fut = self._pending.pop(data.get("id", -1), None)
            if fut is not None and not fut.done():
                fut.set_result(data)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("the DevTools connection closed"))

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        assert self._ws is not None
        self._ids += 1
        message: dict[str, Any] = {"id": self._ids, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        fut = asyncio.get_running_loop().create_future()
        self._pending[self._ids] = fut
        await self._ws.send_str(json.dumps(message))
        reply = await asyncio.wait_for(fut, 15)
        if "error" in reply:
            raise AssertionError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def open(self, url: str) -> str:
        """A new tab on ``url``; its session id."""
        target = await self.send("Target.createTarget", {"url": url})
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        session: str = attached["sessionId"]
        return session

    async def evaluate(self, session: str, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session,
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_until(self, session: str, expression: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not await self.evaluate(session, expression):
            if time.monotonic() > deadline:
                state = await self.evaluate(session, "document.body && document.body.innerText")
                raise AssertionError(
                    f"timed out waiting for {expression}; the page shows:\n{state}"
                )
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        if self._ws is not None and not self._ws.closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.send("Browser.close"), 3)
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
        if self._http is not None:
            await self._http.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        # Renderers and helpers live in the same group: none may survive the test.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        shutil.rmtree(self.dir, ignore_errors=True)


def _text_of(element_id: str) -> str:
    # null-safe: the tab may still be on about:blank, or loading
    return f"(document.getElementById({json.dumps(element_id)}) || {{}}).textContent"


async def test_browser_chat_between_two_servers(demo: Demo) -> None:
    binary = chromium_binary()
    require(None if binary else "chromium not found on PATH (apt-get install chromium)")
    require(node_available())  # the page loads the socket.io client from tests/node/node_modules
    assert binary is not None
    browser = Chromium(binary)
    try:
        await browser.connect()
        names = ["py-1", "py-2", *(["node-1"] if "node-1" in demo.pids else [])]
        tabs = {name: await browser.open(demo.url(name) + "/") for name in names}
        servers = _servers(demo)
        for name, tab in tabs.items():
            await browser.wait_until(tab, f"{_text_of('server')} === {json.dumps(name)}")
            await browser.wait_until(tab, f"{_text_of('count')} === {json.dumps(str(servers))}")
            await browser.wait_until(tab, f"{_text_of('status')} === 'connected'")
        # A tick from the emitter shows on the page's clock.
        await browser.wait_until(
            tabs["py-2"], f"/^\\d{{4}}-\\d\\d-\\d\\dT/.test({_text_of('clock')})"
        )

        text = f"typed in a browser {uuid.uuid4()}"
        typed = f"""(() => {{
            document.getElementById("name").value = "chromium";
            document.getElementById("text").value = {json.dumps(text)};
            document.getElementById("send").click();
            return true;
        }})()"""
        assert await browser.evaluate(tabs["py-1"], typed) is True
        for name, tab in tabs.items():
            await browser.wait_until(tab, f"{_text_of('messages')}.includes({json.dumps(text)})")
            line = await browser.evaluate(tab, "document.querySelector('#messages li').innerText")
            assert "chromium" in line and text in line and "via py-1" in line, (name, line)
        # The text box was cleared for the next message.
        assert await browser.evaluate(tabs["py-1"], "document.getElementById('text').value") == ""
    finally:
        await browser.close()


# ---------------------------------------------------------------------------
# stopping
# ---------------------------------------------------------------------------
async def test_sigterm_stops_every_member() -> None:
    with _full_demo() as demo:
        pids = demo.pids
        assert {"redis", "py-1", "py-2", "ticker"} <= set(pids), demo.output
        urls = [demo.url(name) for name in ("py-1", "node-1") if name in pids]
        # With clients connected, as when someone presses Ctrl-C with the pages open.
        async with _clients(*urls):
            # In a thread: the clients' event loop must go on to answer the servers' close.
            assert await asyncio.to_thread(demo.terminate) == 0, demo.output
        demo._reader.join(timeout=5)
        assert "demo stopped" in demo.output
        assert "did not stop" not in demo.output, demo.output  # every member stopped when asked
        assert "Traceback" not in demo.output, demo.output
        left = {name: pid for name, pid in pids.items() if _alive(pid)}
        assert not left, f"still running after the demo stopped: {left}"


# ---------------------------------------------------------------------------
# no redis-server: the embedded fakeredis fallback
# ---------------------------------------------------------------------------
async def test_embedded_fakeredis_when_no_redis_server(tmp_path: Path) -> None:
    require(None if importlib.util.find_spec("fakeredis") else "fakeredis is not installed")
    empty = tmp_path / "bin"
    empty.mkdir()
    ports = [free_port(), free_port()]
    # A PATH with no redis-server (nor node: the Python servers are enough here).
    d = Demo(
        ["--ports", f"{ports[0]},{ports[1]}", "--no-node", "--duration", "6"],
        _env(PATH=str(empty)),
    )
    try:
        d.wait_for("demo is running")
        assert "no redis-server found: using an embedded fakeredis server (demo only)" in d.output
        assert "embedded fakeredis" in d.output
        async with _clients(d.url("py-1"), d.url("py-2")) as (c1, c2):
            assert (await c2.client.call("hello", timeout=5))["servers"] == 2
            text = f"through fakeredis {uuid.uuid4()}"
            await c1.client.emit("chat", {"name": "ann", "text": text})
            got = await c2.events.wait(_chat_with(text), timeout=10)
            assert got["args"][0]["server"] == "py-1"
        pids = d.pids
        # --duration: it stops by itself, cleanly.
        assert d.proc.wait(timeout=20) == 0, d.output
        d._reader.join(timeout=5)
        assert "--duration 6 s is over" in d.output and "demo stopped" in d.output
        assert "did not stop" not in d.output, d.output
        assert not [pid for pid in pids.values() if _alive(pid)]
    finally:
        d.kill_all()


# ---------------------------------------------------------------------------
# docker-compose.yml
# ---------------------------------------------------------------------------
def _compose_config() -> dict[str, Any]:
    """``docker compose config`` where Docker Compose works, else the YAML as written."""
    docker = shutil.which("docker")
    if docker:
        try:
            res = subprocess.run(
                [docker, "compose", "-f", str(COMPOSE_FILE), "config", "--format", "json"],
                capture_output=True, text=True, timeout=60, check=False, cwd=REPO,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            res = None
        if res is not None and res.returncode == 0:
            config: dict[str, Any] = json.loads(res.stdout)
            return config
    try:
        import yaml
    except ImportError:
        require("neither `docker compose` nor PyYAML is available to read docker-compose.yml")
        raise
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


def _command(service: dict[str, Any]) -> str:
    cmd = service.get("command", "")
    return cmd if isinstance(cmd, str) else " ".join(cmd)


def _published(service: dict[str, Any]) -> set[tuple[int, int]]:
    out = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):  # docker compose config's long form
            out.add((int(port["published"]), int(port["target"])))
        else:
            published, _, target = str(port).rpartition(":")
            out.add((int(published.rpartition(":")[2]), int(target.split("/")[0])))
    return out


def test_docker_compose_file() -> None:
    services = _compose_config()["services"]
    assert {"redis", "py1", "py2", "node1", "ticker"} <= set(services)
    assert services["redis"]["image"].startswith("redis:7")
    assert services["node1"]["image"].startswith("node:20")

    redis_url = "redis://redis:6379/0"
    for name, port in (("py1", 8001), ("py2", 8002)):
        svc = services[name]
        assert svc["image"] == "python:3.12-slim"
        assert (port, port) in _published(svc)
        cmd = _command(svc)
        assert "pip install" in cmd and "-e" in cmd and ".[demo]" in cmd
        server_args = shlex.split(cmd.split("python -m sio_redis.demo server", 1)[1])
        # The arguments are ones the demo's CLI takes, and mean what the file says.
        from sio_redis.demo.cli import _server_parser

        parsed = _server_parser().parse_args(server_args)
        assert (parsed.host, parsed.port, parsed.redis, parsed.name) == (
            "0.0.0.0",
            port,
            redis_url,
            name,
        )

    node = services["node1"]
    assert (8003, 8003) in _published(node)
    cmd = _command(node)
    assert "npm ci" in cmd and "demo-server.js" in cmd
    assert "--port 8003" in cmd and f"--redis {redis_url}" in cmd and "--host 0.0.0.0" in cmd
    assert node.get("working_dir", "").endswith("tests/node")

    ticker = services["ticker"]
    assert ticker["image"] == "python:3.12-slim"
    assert "python -m sio_redis.demo ticker" in _command(ticker) and redis_url in _command(ticker)

    # What the commands name is in the repository the services mount.
    for path in ("tests/node/demo-server.js", "tests/node/package.json",
                 "tests/node/package-lock.json", "sio_redis/demo/__main__.py",
                 "sio_redis/demo/static/index.html"):  # fmt: skip
        assert (REPO / path).is_file(), path
    for name in ("py1", "py2", "node1", "ticker"):
        mounts = [str(v) if isinstance(v, str) else f"{v.get('source')}:{v.get('target')}"
                  for v in services[name].get("volumes", [])]  # fmt: skip
        assert any(m.endswith(":/src") or m.split(":")[1:2] == ["/src"] for m in mounts), mounts
