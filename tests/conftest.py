"""Test bed fixtures: throw-away Redis servers/cluster, Node peers, per-test keys.

Services a test needs but cannot get are skipped locally and *fail* under
``CI=true`` (see :func:`tests.support.require`).
"""

from __future__ import annotations

import inspect
import secrets
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

# `tests` has no __init__.py; make `import tests.support...` work however pytest
# was launched (`pytest`, `python -m pytest`, from any directory).
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.support import PEERS_KEY, describe_testbed, in_ci, require  # noqa: E402
from tests.support.redis import (  # noqa: E402
    RedisCluster,
    RedisServer,
    redis_cli_binary,
    redis_server_binary,
)

__all__ = ["in_ci", "require"]

NodePeerFactory = Callable[..., Awaitable[Any]]

_KEYS: set[str] = set()


# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server shared by the whole session; tests isolate by `key`."""
    require(None if redis_server_binary() else "redis-server not found on PATH")
    server = RedisServer(name="shared").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    """``redis://127.0.0.1:<port>/0`` of the shared server."""
    return redis_server.url


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A 3-master Redis Cluster, started the first time a test asks for it."""
    require(None if redis_server_binary() else "redis-server not found on PATH")
    require(None if redis_cli_binary() else "redis-cli not found on PATH")
    cluster = RedisCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def key() -> str:
    """A Socket.IO key unique to this test (``t-<8 hex>``)."""
    while True:
        k = f"t-{secrets.token_hex(4)}"
        if k not in _KEYS:
            _KEYS.add(k)
            return k


# ---------------------------------------------------------------------------
# Node
# ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def node_ok() -> None:
    """Skip (or fail under CI) unless Node and tests/node/node_modules are there."""
    try:
        from tests.support.node import node_available
    except ImportError as e:  # pragma: no cover - only while bootstrapping
        require(f"tests.support.node cannot be imported: {e}")
        return
    require(node_available())


@pytest_asyncio.fixture(loop_scope="session")
async def node_peer(
    request: pytest.FixtureRequest, node_ok: None, redis_url: str
) -> AsyncIterator[NodePeerFactory]:
    """Factory: ``peer = await node_peer({...config...}, name=None)``.

    Starts a :class:`tests.support.node.NodePeer`; ``redisUrl`` defaults to the
    shared server.  Every peer is closed after the test, and a failing test's
    report lists its peers (with stderr tails) and Redis servers.
    """
    from tests.support.node import NodePeer

    peers = request.node.stash.setdefault(PEERS_KEY, [])

    async def start(config: Mapping[str, Any] | None = None, *, name: str | None = None) -> Any:
        cfg = dict(config or {})
        cfg.setdefault("redisUrl", redis_url)
        peer = await NodePeer.start(cfg, name=name or f"peer{len(peers)}")
        peers.append(peer)
        return peer

    yield start

    errors: list[BaseException] = []
    for peer in reversed(peers):
        try:
            result = peer.close()
            if inspect.isawaitable(result):
                await result
        except Exception as e:
            errors.append(e)
    if errors:
        raise errors[0]


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.failed:
        section = describe_testbed(item)
        if section:
            report.sections.append(("sio test bed", section))
    return report


def pytest_report_header(config: pytest.Config) -> list[str]:
    binary = redis_server_binary()
    version = "not found"
    if binary:
        try:
            out = subprocess.run(
                [binary, "--version"], capture_output=True, text=True, timeout=5, check=False
            ).stdout
            version = out.strip() or binary
        except (OSError, subprocess.SubprocessError) as e:
            version = f"{binary} ({e})"
    node = shutil.which("node") or "not found"
    return [f"sio test bed: CI={in_ci()} redis-server: {version}; node: {node}"]


# ---------------------------------------------------------------------------
# In-process Python servers and clients
# ---------------------------------------------------------------------------
@pytest_asyncio.fixture(loop_scope="session")
async def py_server(request: pytest.FixtureRequest, redis_url: str, key: str) -> AsyncIterator[Any]:
    """Factory: ``srv = await py_server(name="py1", **manager_options)`` starts an aiohttp
    ``socketio.AsyncServer`` with an ``AsyncRedisManager`` on the shared Redis and the
    test's ``key``; all are closed after the test and listed in a failure report."""
    from tests.support.pyserver import PyServer

    peers = request.node.stash.setdefault(PEERS_KEY, [])
    servers: list[Any] = []

    async def start(name: str | None = None, **options: Any) -> Any:
        options.setdefault("key", key)
        url = options.pop("redis_url", redis_url)
        server = await PyServer.start(url, name=name or f"py{len(servers)}", **options)
        servers.append(server)
        peers.append(server)
        return server

    yield start
    for server in reversed(servers):
        await server.close()


@pytest_asyncio.fixture(loop_scope="session")
async def py_client(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """Factory: ``c = await py_client(url, name="c1", nsp="/", auth={...})``, connected."""
    from tests.support.pyserver import PyClient

    peers = request.node.stash.setdefault(PEERS_KEY, [])
    clients: list[Any] = []

    async def connect(
        url: str, name: str | None = None, nsp: str = "/", auth: Any = None, ack: Any = None
    ) -> Any:
        client = PyClient(name or f"pc{len(clients)}", ack=ack)
        clients.append(client)
        peers.append(client)
        await client.connect(url, nsp=nsp, auth=auth)
        return client

    yield connect
    for client in clients:
        await client.close()


@pytest_asyncio.fixture(loop_scope="session")
async def py_peer(request: pytest.FixtureRequest, redis_url: str, key: str) -> AsyncIterator[Any]:
    """Factory: a Python server in its own process (``tests/support/py_harness.py``),
    driven like a Node peer: ``peer = await py_peer({"mode": "classic"}, name="p1")``."""

    from tests.support.node import NodePeer

    peers = request.node.stash.setdefault(PEERS_KEY, [])
    started: list[Any] = []

    async def start(config: Mapping[str, Any] | None = None, *, name: str | None = None) -> Any:
        cfg = {"redisUrl": redis_url, "key": key, **(config or {})}
        peer = await NodePeer.start(
            cfg,
            name=name or f"pyproc{len(started)}",
            argv=[sys.executable, "-m", "tests.support.py_harness"],
        )
        started.append(peer)
        peers.append(peer)
        return peer

    yield start
    for peer in reversed(started):
        await peer.close()


@pytest_asyncio.fixture(loop_scope="session")
async def sync_peer(request: pytest.FixtureRequest, redis_url: str, key: str) -> AsyncIterator[Any]:
    """Factory: a sync ``socketio.Server`` with a ``RedisManager`` in its own process
    (``tests/support/sync_harness.py``), driven like a Node peer:
    ``peer = await sync_peer({"asyncMode": "gevent", "flask": True}, name="s1")``
    (``asyncMode`` defaults to ``"threading"``; ``redisUrl`` and ``key`` to the test's)."""

    from tests.support.node import NodePeer

    peers = request.node.stash.setdefault(PEERS_KEY, [])
    started: list[Any] = []

    async def start(config: Mapping[str, Any] | None = None, *, name: str | None = None) -> Any:
        cfg = {"redisUrl": redis_url, "key": key, "asyncMode": "threading", **(config or {})}
        peer = await NodePeer.start(
            cfg,
            name=name or f"syncproc{len(started)}",
            argv=[sys.executable, "-m", "tests.support.sync_harness"],
        )
        started.append(peer)
        peers.append(peer)
        return peer

    yield start
    for peer in reversed(started):
        await peer.close()
