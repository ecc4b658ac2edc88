"""Smoke tests of the Node peer harness (tests/node/harness.js + tests/support/node.py).

Self-contained: starts its own throw-away redis-server on a free port (not the shared test-bed
fixtures), then real Node socket.io servers clustered through it.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio

from tests.support import require
from tests.support.node import NodeCommandError, NodePeer, NodePeerError, node_available

pytestmark = [pytest.mark.node, pytest.mark.redis]

PeerFactory = Callable[..., Awaitable[NodePeer]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="module")
def own_redis_url() -> Iterator[str]:
    binary = shutil.which("redis-server")
    require(None if binary else "redis-server not found on PATH")
    assert binary is not None
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="sio-node-harness-") as workdir:
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", workdir]
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while not _ping(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server on port {port} did not start")
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest_asyncio.fixture(loop_scope="session")
async def peers(own_redis_url: str) -> AsyncIterator[PeerFactory]:
    require(node_available())
    started: list[NodePeer] = []
    key = f"harness-{secrets.token_hex(4)}"

    async def start(config: dict[str, Any] | None = None, *, name: str = "node") -> NodePeer:
        cfg = {"redisUrl": own_redis_url, "key": key, **(config or {})}
        peer = await NodePeer.start(cfg, name=name)
        started.append(peer)
        return peer

    try:
        yield start
    finally:
        for peer in reversed(started):
            await peer.close()
        for peer in started:
            if peer.returncode not in (0, None):
                print(f"{peer!r} exited with {peer.returncode}\n{peer.stderr_tail()}")


def _client_event(client: str, event: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["kind"] == "client" and e["client"] == client and e["event"] == event


async def test_classic_room_emit_across_node_peers(peers: PeerFactory) -> None:
    n1 = await peers({"mode": "classic"}, name="n1")
    n2 = await peers({"mode": "classic"}, name="n2")
    assert n1.port and n1.url == f"http://127.0.0.1:{n1.port}"
    assert "n1" in repr(n1) and '"mode": "classic"' in repr(n1)

    joined = await n1.call(
        "connect", name="c1", auth={"rooms": ["room1"], "data": {"user": "bob", "bin": b"\x00\xff"}}
    )
    sid = joined["sid"]
    await n1.wait_event(lambda e: e["kind"] == "connection" and e["sid"] == sid)
    assert await n2.call("server", action="serverCount") == 2

    await n2.call("server", rooms=["room1"], action="emit", args=["hello", "world", b"\x01\x02"])
    event = await n1.wait_event(_client_event("c1", "hello"))
    assert event["args"] == ["world", b"\x01\x02"]

    # a room nobody is in: nothing arrives, while the next emit does (ordering on one channel)
    mark = n1.mark()
    await n2.call("server", rooms=["nobody"], action="emit", args=["lost"])
    await n2.call("server", action="emit", args=["after", {"n": 1}])
    event = await n1.wait_event(_client_event("c1", "after"), since=mark)
    assert event["args"] == [{"n": 1}]
    assert not any(e.get("event") == "lost" for e in n1.events[mark:])

    sockets = await n2.call("server", rooms=["room1"], action="fetchSockets")
    assert [s["id"] for s in sockets] == [sid]
    assert sockets[0]["data"]["user"] == "bob"
    assert sorted(sockets[0]["rooms"]) == sorted([sid, "room1"])
    assert "room1" in await n2.call("server", action="allRooms")

    acks = await n2.call(
        "server", rooms=["room1"], flags={"timeout": 3000}, action="emitWithAck", args=["q", 1]
    )
    assert acks == [{"client": "c1"}]

    echo = await n1.call("clientEmit", client="c1", event="up", args=[b"\x07", 2], ack=True)
    assert echo == {"echo": [b"\x07", 2]}
    received = await n1.wait_event(lambda e: e["kind"] == "server-received" and e["event"] == "up")
    assert received["args"] == [b"\x07", 2] and received["sid"] == sid

    rooms = await n1.call("socket", sid=sid, action="join", rooms=["room2"])
    assert rooms == [sid, "room1", "room2"]
    await n2.call("server", rooms=["room2"], action="emit", args=["r2"])
    await n1.wait_event(_client_event("c1", "r2"))

    await n2.call("server", rooms=["room1"], action="disconnectSockets", args=[True])
    gone = await n1.wait_event(lambda e: e["kind"] == "client-disconnect" and e["client"] == "c1")
    assert gone["reason"] == "io server disconnect"


async def test_classic_server_side_emit_and_errors(peers: PeerFactory) -> None:
    n1 = await peers({"mode": "classic", "requestsTimeout": 700, "namespaces": ["/", "/admin"]})
    n2 = await peers({"mode": "classic", "requestsTimeout": 700, "namespaces": ["/", "/admin"]})
    await n1.call("listen", nsp="/admin", event="ping", reply={"pong": b"\x01"})
    replies = await n2.call(
        "server", nsp="/admin", action="serverSideEmitWithAck", args=["ping", 5]
    )
    # classic serverSideEmit replies travel as JSON: a Buffer arrives as Node's Buffer.toJSON()
    assert replies == [{"pong": {"type": "Buffer", "data": [1]}}]
    seen = await n1.wait_event(lambda e: e["kind"] == "server-side-emit" and e["event"] == "ping")
    assert seen["args"] == [5] and seen["nsp"] == "/admin"

    # a listener that never answers: timeout with a partial result
    await n1.call("listen", event="silent")
    with pytest.raises(NodeCommandError) as info:
        await n2.call("server", action="serverSideEmitWithAck", args=["silent"])
    assert "timeout" in info.value.message and info.value.partial == []

    with pytest.raises(NodeCommandError, match="not connected"):
        await n1.call("socket", sid="nope", action="rooms")
    with pytest.raises(NodeCommandError, match="unknown op"):
        await n1.call("frobnicate")
    with pytest.raises(NodeCommandError, match=r"flags\.timeout"):
        await n1.call("server", action="emitWithAck", args=["x"])
    # the harness is still alive after all that
    assert await n1.call("server", action="serverCount") == 2


async def test_sharded_peers(peers: PeerFactory) -> None:
    n1 = await peers({"mode": "sharded"}, name="s1")
    n2 = await peers({"mode": "sharded"}, name="s2")
    await n1.call("connect", name="c1", auth={"rooms": ["room1"]})
    assert await n2.call("server", action="serverCount") == 2
    await n2.call("server", rooms=["room1"], action="emit", args=["hello", b"\xaa"])
    event = await n1.wait_event(_client_event("c1", "hello"))
    assert event["args"] == [b"\xaa"]
    acks = await n2.call(
        "server", rooms=["room1"], flags={"timeout": 3000}, action="emitWithAck", args=["q"]
    )
    assert acks == [{"client": "c1"}]
    with pytest.raises(NodeCommandError, match="allRooms"):
        await n1.call("server", action="allRooms")


async def test_client_on_other_peer_and_clean_exit(peers: PeerFactory) -> None:
    n1 = await peers({"mode": "classic"}, name="host")
    n2 = await peers({"mode": "classic"}, name="guest")
    await n2.call("connect", name="remote", url=n1.url, auth={"rooms": ["r"]}, ack="thanks")
    await n1.call("server", rooms=["r"], action="emit", args=["x"])
    await n2.wait_event(_client_event("remote", "x"))
    assert await n1.call("server", flags={"timeout": 3000}, action="emitWithAck", args=["y"]) == [
        "thanks"
    ]
    await n2.call("clientClose", client="remote")
    await n1.wait_event(lambda e: e["kind"] == "server-disconnect")
    await n2.close()
    assert n2.returncode == 0
    with pytest.raises(NodePeerError):
        await n2.call("server", action="serverCount")
    await asyncio.wait_for(n2.close(), 5)  # idempotent


async def test_bad_config_fails_fast(own_redis_url: str) -> None:
    require(node_available())
    with pytest.raises(NodePeerError, match="unknown mode"):
        await NodePeer.start({"redisUrl": own_redis_url, "mode": "bogus"}, name="bad")
