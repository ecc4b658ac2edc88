"""The sync ``RedisManager`` (``socketio.Server``: threading, eventlet, gevent; Flask-SocketIO)
in one cluster with an ``AsyncRedisManager`` server and a Node ``@socket.io/redis-adapter``
server, on one Redis.

Most tests share one module-wide cluster on one key: a Node server (``harness.js``), an
in-process aiohttp ``AsyncServer`` (``PyServer``) and one sync server process per async mode
(``tests/support/sync_harness.py``). Each test runs once per mode, with rooms, client names
and event names of its own, and checks every feature both ways with real clients: a sync
``socketio.Client`` on the sync server, socket.io-client (JS) on the Node server (and one on
the sync server), an ``AsyncClient`` on the async server.

"Did not happen" is proven with markers: after the operation under test, the same origin
emits a marker; a client that got the marker has got everything that origin sent it before.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import secrets
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
import socketio

from sio_redis import RedisManager, RequestTimeoutError
from tests.support import PEERS_KEY, require
from tests.support.node import NodePeer, NodePeerError
from tests.support.pyserver import PyClient, PyServer

pytestmark = [pytest.mark.node, pytest.mark.redis]

MODES = ("threading", "eventlet", "gevent")
SYNC_ARGV = [sys.executable, "-m", "tests.support.sync_harness"]
HANDSHAKE_KEYS = {"headers", "time", "address", "xdomain", "secure", "issued", "url", "query",
                  "auth"}
BIN = {"raw": b"\x00\x01\xfe\xff", "nested": [b"\x02", {"deep": b"\x03"}], "n": 1.5}
Event = dict[str, Any]
#: the reason a client gives for a disconnect by its server (JS client, python-socketio)
SERVER_DISCONNECT = {"io server disconnect", "server disconnect"}


def mode_unavailable(mode: str) -> str | None:
    """None when ``mode`` can run here (its package is installed), else why not."""
    if mode == "threading":
        return None
    if importlib.util.find_spec(mode) is None:
        return f"{mode} is not installed"
    return None


# ---------------------------------------------------------------------------
# the module-wide cluster
# ---------------------------------------------------------------------------
@dataclass
class Cluster:
    key: str
    node: NodePeer
    py: PyServer
    sync: dict[str, NodePeer]
    #: why a mode's sync server could not start
    broken: dict[str, str]
    #: serverCount seen by the Node and async servers right after every server was
    #: created, before any client connected and before any call on the sync managers
    counts_at_start: tuple[int, int]
    peers: list[Any] = field(default_factory=list)

    @property
    def size(self) -> int:
        return 2 + len(self.sync)

    def names(self) -> set[str]:
        return {"node", "py", *(f"sync-{m}" for m in self.sync)}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def _cluster(node_ok: None, redis_url: str) -> AsyncIterator[Cluster]:
    key = f"t-sync-{secrets.token_hex(4)}"
    broken: dict[str, str] = {}

    async def start_sync(mode: str) -> NodePeer | None:
        reason = mode_unavailable(mode)
        if reason is not None:
            broken[mode] = reason
            return None
        # joinCall false: "ready" follows socketio.Server(client_manager=mgr) at once.
        config = {"redisUrl": redis_url, "key": key, "asyncMode": mode, "joinCall": False}
        try:
            return await NodePeer.start(config, name=f"sync-{mode}", argv=SYNC_ARGV)
        except NodePeerError as e:
            broken[mode] = f"the {mode} sync server did not start: {e}"
            return None

    node, py, *syncs = await asyncio.gather(
        NodePeer.start({"redisUrl": redis_url, "key": key}, name="node"),
        PyServer.start(redis_url, key=key, name="py"),
        *(start_sync(m) for m in MODES),
    )
    sync = {m: p for m, p in zip(MODES, syncs, strict=True) if p is not None}
    counts = (await node.call("server", action="serverCount"), await py.mgr.server_count())
    # Every server answers whoami (server_side_emit_with_ack waits for all of them) and
    # logs "note".
    for name, peer in (("node", node), *((f"sync-{m}", p) for m, p in sync.items())):
        await peer.call("listen", event="whoami", reply=name)
        await peer.call("listen", event="note")
    py.listen("whoami", reply="py")
    py.listen("note")
    cl = Cluster(key, node, py, sync, broken, counts, [node, py, *sync.values()])
    try:
        yield cl
    finally:
        await asyncio.gather(*(p.close() for p in sync.values()), node.close(), py.close(),
                             return_exceptions=True)


@pytest.fixture
def cluster(request: pytest.FixtureRequest, _cluster: Cluster) -> Cluster:
    request.node.stash.setdefault(PEERS_KEY, []).extend(_cluster.peers)
    return _cluster


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest, cluster: Cluster) -> str:
    m: str = request.param
    if m in cluster.broken:
        reason = cluster.broken[m]
        if mode_unavailable(m) is not None:
            require(reason)  # skipped locally, a failure under CI=true
        pytest.fail(reason, pytrace=False)
    return m


# ---------------------------------------------------------------------------
# clients of any server
# ---------------------------------------------------------------------------
@dataclass
class Client:
    """A client of any server: living in a harness process (``peer``: a sync
    ``socketio.Client`` in the sync harness, socket.io-client in the Node one) or an
    in-process ``PyClient`` (``py``)."""

    name: str
    sid: str
    peer: NodePeer | None = None
    py: PyClient | None = None

    def items(self) -> list[Event]:
        if self.peer is not None:
            return [e for e in self.peer.events if e.get("client") == self.name]
        assert self.py is not None
        return list(self.py.events.items)

    async def _wait(self, predicate: Callable[[Event], bool], timeout: float = 10.0) -> Event:
        if self.peer is not None:
            return await self.peer.wait_event(
                lambda e: e.get("client") == self.name and predicate(e), timeout
            )
        assert self.py is not None
        return await self.py.events.wait(predicate, timeout)

    async def wait(self, event: str) -> list[Any]:
        ev = await self._wait(lambda e: e.get("kind") == "client" and e.get("event") == event)
        return list(ev["args"])

    def got(self, event: str) -> bool:
        return any(e.get("kind") == "client" and e.get("event") == event for e in self.items())

    async def disconnected(self) -> str:
        ev = await self._wait(lambda e: e.get("kind") == "client-disconnect")
        return str(ev["reason"])

    def is_disconnected(self) -> bool:
        return any(e.get("kind") == "client-disconnect" for e in self.items())


def _auth(rooms: Iterable[str], data: Any) -> dict[str, Any]:
    auth: dict[str, Any] = {"rooms": list(rooms)}
    if data is not None:
        auth["data"] = data
    return auth


async def peer_client(
    peer: NodePeer,
    name: str,
    rooms: Iterable[str] = (),
    data: Any = None,
    ack: Any = None,
    url: str | None = None,
) -> Client:
    """A client made by ``peer`` (connected to ``url``, default ``peer`` itself)."""
    fields: dict[str, Any] = {"name": name, "auth": _auth(rooms, data)}
    if ack is not None:
        fields["ack"] = ack
    if url is not None:
        fields["url"] = url
    result = await peer.call("connect", **fields)
    return Client(name, result["sid"], peer=peer)


async def py_cl(
    py_client: Any, py: PyServer, name: str, rooms: Iterable[str] = (), data: Any = None,
    ack: Any = None,
) -> Client:
    pc = await py_client(py.url, name=name, auth=_auth(rooms, data), ack=ack)
    return Client(name, pc.sid, py=pc)


async def expect(clients: Iterable[Client], event: str, args: list[Any]) -> None:
    for c in clients:
        assert await c.wait(event) == args, (c.name, event)


async def absent(
    clients: Iterable[Client], event: str, marker: str, send_marker: Awaitable[Any]
) -> None:
    """``clients`` never get ``event``: the same origin then sends ``marker`` to them."""
    await send_marker
    for c in clients:
        await c.wait(marker)
        assert not c.got(event), (c.name, event)


async def until(
    get: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool], timeout: float = 10.0
) -> Any:
    """Poll ``get()`` until ``ok(value)``; the value (a condition wait for servers whose
    ``sync`` op cannot promise the subscriber has caught up)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await get()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s; last value: {value!r}")
        await asyncio.sleep(0.02)


def rooms_of(peer: NodePeer, sid: str) -> Callable[[], Awaitable[set[str]]]:
    async def get() -> set[str]:
        return set(await peer.call("socket", sid=sid, action="rooms"))

    return get


def py_rooms(py: PyServer, sid: str) -> Callable[[], Awaitable[set[str]]]:
    async def get() -> set[str]:
        return {str(r) for r in py.mgr.get_rooms(sid, "/")}

    return get


def server_side_emits(events: list[Event], token: str) -> list[Event]:
    return [e for e in events if e.get("kind") == "server-side-emit" and token in e["args"]]


# ---------------------------------------------------------------------------
# the cluster as a whole
# ---------------------------------------------------------------------------
async def test_sync_managers_join_at_server_creation(cluster: Cluster) -> None:
    """Counted by the other servers right after ``socketio.Server(client_manager=mgr)``,
    before any client and any call on the sync managers."""
    for m in MODES:
        if m in cluster.broken and mode_unavailable(m) is None:
            pytest.fail(cluster.broken[m], pytrace=False)
    assert cluster.counts_at_start == (cluster.size, cluster.size)


async def test_server_count_and_all_rooms(cluster: Cluster, mode: str, py_client: Any) -> None:
    node, py, sync = cluster.node, cluster.py, cluster.sync[mode]
    t = f"{mode}-ar"
    s = await peer_client(sync, f"{t}-s", [f"{t}-on-sync", "shared"])
    n = await peer_client(node, f"{t}-n", [f"{t}-on-node"])
    p = await py_cl(py_client, py, f"{t}-p", [f"{t}-on-py"])
    assert await sync.call("server", action="serverCount") == cluster.size
    assert await node.call("server", action="serverCount") == cluster.size
    assert await py.mgr.server_count() == cluster.size
    mine = {f"{t}-on-sync", f"{t}-on-node", f"{t}-on-py", s.sid, n.sid, p.sid}
    assert mine <= set(await sync.call("server", action="allRooms"))
    assert mine <= set(await node.call("server", action="allRooms"))
    assert mine <= await py.mgr.all_rooms()


# ---------------------------------------------------------------------------
# broadcasts
# ---------------------------------------------------------------------------
async def test_room_broadcasts_and_except_both_ways(
    cluster: Cluster, mode: str, py_client: Any
) -> None:
    node, py, sync = cluster.node, cluster.py, cluster.sync[mode]
    t = f"{mode}-bc"
    r, x = f"{t}-r", f"{t}-x"
    s1 = await peer_client(sync, f"{t}-s1", [r])
    s2 = await peer_client(sync, f"{t}-s2", [r, x])
    js = await peer_client(node, f"{t}-js", [r], url=sync.url)  # a JS client of the sync server
    n1 = await peer_client(node, f"{t}-n1", [r])
    n2 = await peer_client(node, f"{t}-n2", [r, x])
    p1 = await py_cl(py_client, py, f"{t}-p1", [r])
    p2 = await py_cl(py_client, py, f"{t}-p2", [r, x])
    outsider = await peer_client(node, f"{t}-out", [f"{t}-elsewhere"])
    room, kept, dropped = [s1, s2, js, n1, n2, p1, p2], [s1, js, n1, p1], [s2, n2, p2]

    # --- started on the sync server: operator and socketio.Server.emit ---
    await sync.call("server", rooms=[r], action="emit", args=["s-op", "a", BIN])
    await expect(room, "s-op", ["a", BIN])
    await sync.call("sio", action="emit", event="s-sio", rooms=[r], args=[{"k": [1, 2]}])
    await expect(room, "s-sio", [{"k": [1, 2]}])
    await sync.call("server", rooms=[r], action="emit", args=["s-except", 1], **{"except": [x]})
    await expect(kept, "s-except", [1])
    await sync.call("sio", action="emit", event="s-skip", rooms=[r], skip=[n1.sid, s1.sid])
    await expect([s2, js, n2, p1, p2], "s-skip", [])
    await absent(
        [*dropped, outsider], "s-except", f"{t}-s-mark",
        sync.call("server", action="emit", args=[f"{t}-s-mark"]),
    )
    assert not n1.got("s-skip") and not s1.got("s-skip")

    # --- started on the Node server ---
    await node.call("server", rooms=[r], action="emit", args=["n-room", b"\x07", BIN])
    await expect(room, "n-room", [b"\x07", BIN])
    await node.call("server", rooms=[r], action="emit", args=["n-except"], **{"except": [x]})
    await expect(kept, "n-except", [])
    await absent(
        [*dropped, outsider], "n-except", f"{t}-n-mark",
        node.call("server", action="emit", args=[f"{t}-n-mark"]),
    )

    # --- started on the async server ---
    await py.sio.emit("p-room", ("z", BIN), to=r)
    await expect(room, "p-room", ["z", BIN])
    await py.mgr.of("/").to(r).except_(x).emit("p-except", 3)
    await expect(kept, "p-except", [3])
    await absent([*dropped, outsider], "p-except", f"{t}-p-mark", py.sio.emit(f"{t}-p-mark"))
    assert not any(outsider.got(e) for e in ("s-op", "s-sio", "n-room", "p-room"))


# ---------------------------------------------------------------------------
# fetch_sockets, session data
# ---------------------------------------------------------------------------
async def test_fetch_sockets_with_session_data(cluster: Cluster, mode: str, py_client: Any) -> None:
    node, py, sync = cluster.node, cluster.py, cluster.sync[mode]
    t = f"{mode}-fs"
    f = f"{t}-f"
    s = await peer_client(sync, f"{t}-s", [f, f"{t}-extra"], data={"user": "sam", "n": [1, 2]})
    n = await peer_client(node, f"{t}-n", [f], data={"user": "nia"})
    p = await py_cl(py_client, py, f"{t}-p", [f], data={"user": "pat"})
    want = {s.sid: {"user": "sam", "n": [1, 2]}, n.sid: {"user": "nia"}, p.sid: {"user": "pat"}}

    async def check(fetched: list[dict[str, Any]]) -> None:
        assert {e["id"]: e["data"] for e in fetched} == want
        for e in fetched:
            assert {e["id"], f} <= set(e["rooms"])
            assert HANDSHAKE_KEYS <= set(e["handshake"])
        by_id = {e["id"]: e for e in fetched}
        assert set(by_id[s.sid]["rooms"]) == {s.sid, f, f"{t}-extra"}
        assert by_id[s.sid]["handshake"]["auth"]["data"] == want[s.sid]

    # from the sync server, the Node server and the async server
    await check(await sync.call("server", rooms=[f], action="fetchSockets"))
    await check(await node.call("server", rooms=[f], action="fetchSockets"))
    remote = await py.mgr.of("/").in_(f).fetch_sockets()
    await check([{"id": r.id, "data": r.data, "rooms": r.rooms, "handshake": r.handshake}
                 for r in remote])

    # a cluster request made from inside the sync server's event handler
    ids = await sync.call("clientEmit", client=s.name, event="cluster-fetch", args=[f], ack=True)
    assert ids == sorted(want)

    # data is the live session: saving it again is what the others see next
    await sync.call("socket", sid=s.sid, action="setData", data={"user": "sam", "v": 2})
    want[s.sid] = {"user": "sam", "v": 2}
    fetched = await node.call("server", rooms=[s.sid], action="fetchSockets")
    assert [e["data"] for e in fetched] == [{"user": "sam", "v": 2}]
    # local flag: only the sync server's own sockets
    local = await sync.call("server", rooms=[f], flags={"local": True}, action="fetchSockets")
    assert [e["id"] for e in local] == [s.sid]


# ---------------------------------------------------------------------------
# sockets_join / sockets_leave / disconnect_sockets
# ---------------------------------------------------------------------------
async def test_sockets_join_and_leave_both_ways(
    cluster: Cluster, mode: str, py_client: Any
) -> None:
    node, py, sync = cluster.node, cluster.py, cluster.sync[mode]
    t = f"{mode}-jl"
    s = await peer_client(sync, f"{t}-s", [f"{t}-a"])
    n = await peer_client(node, f"{t}-n", [f"{t}-a"])
    p = await py_cl(py_client, py, f"{t}-p", [f"{t}-a"])
    j1, j2, j3 = f"{t}-j1", f"{t}-j2", f"{t}-j3"

    # sync -> Node and async sockets (and its own)
    await sync.call("server", rooms=[f"{t}-a"], action="socketsJoin", args=[[j1]])
    await until(rooms_of(node, n.sid), lambda v: j1 in v)
    await until(py_rooms(py, p.sid), lambda v: j1 in v)
    assert j1 in await rooms_of(sync, s.sid)()
    await node.call("server", rooms=[j1], action="emit", args=["to-j1"])
    await expect([s, n, p], "to-j1", [])
    await sync.call("server", rooms=[n.sid, p.sid], action="socketsLeave", args=[[j1]])
    await until(rooms_of(node, n.sid), lambda v: j1 not in v)
    await until(py_rooms(py, p.sid), lambda v: j1 not in v)
    assert j1 in await rooms_of(sync, s.sid)()

    # Node -> the sync socket
    await node.call("server", rooms=[s.sid], action="socketsJoin", args=[[j2]])
    await until(rooms_of(sync, s.sid), lambda v: j2 in v)
    await py.sio.emit("to-j2", to=j2)
    await expect([s], "to-j2", [])
    await node.call("server", rooms=[j2], action="socketsLeave", args=[[j2]])
    await until(rooms_of(sync, s.sid), lambda v: j2 not in v)

    # async -> the sync socket
    await py.mgr.of("/").in_(s.sid).sockets_join([j3, f"{t}-j4"])
    await until(rooms_of(sync, s.sid), lambda v: {j3, f"{t}-j4"} <= v)
    await py.mgr.of("/").in_(j3).sockets_leave(j3)
    assert await until(rooms_of(sync, s.sid), lambda v: j3 not in v) == {
        s.sid, f"{t}-a", j1, f"{t}-j4"}


async def test_disconnect_sockets_both_ways(cluster: Cluster, mode: str, py_client: Any) -> None:
    node, py, sync = cluster.node, cluster.py, cluster.sync[mode]
    t = f"{mode}-dc"
    d = f"{t}-d"
    s1 = await peer_client(sync, f"{t}-s1", [d])
    s2 = await peer_client(sync, f"{t}-s2")
    s3 = await peer_client(sync, f"{t}-s3")
    n1 = await peer_client(node, f"{t}-n1", [d])
    n2 = await peer_client(node, f"{t}-n2")
    p1 = await py_cl(py_client, py, f"{t}-p1", [d])

    # sync -> everyone in d (close: the clients are told, they do not just lose the line)
    await sync.call("server", rooms=[d], action="disconnectSockets", args=[True])
    assert await n1.disconnected() in SERVER_DISCONNECT
    assert await s1.disconnected() in SERVER_DISCONNECT
    await p1.py.events.wait(lambda e: e["kind"] == "client-disconnect")  # type: ignore[union-attr]
    ev = await node.wait_event(lambda e: e.get("kind") == "server-disconnect"
                               and e.get("sid") == n1.sid)
    assert ev["reason"] in ("server namespace disconnect", "forced close")

    # Node -> one sync socket; async -> another
    await node.call("server", rooms=[s2.sid], action="disconnectSockets", args=[False])
    assert await s2.disconnected() in SERVER_DISCONNECT
    await py.mgr.of("/").in_(s3.sid).disconnect_sockets(close=True)
    assert await s3.disconnected() in SERVER_DISCONNECT
    fetched = await node.call("server", action="fetchSockets")
    gone = {s1.sid, s2.sid, s3.sid, n1.sid, p1.sid}
    assert not gone & {e["id"] for e in fetched}
    assert not n2.is_disconnected()


# ---------------------------------------------------------------------------
# server-side emits
# ---------------------------------------------------------------------------
async def test_server_side_emit_and_acks_both_ways(cluster: Cluster, mode: str) -> None:
    node, py, sync = cluster.node, cluster.py, cluster.sync[mode]
    others = cluster.names() - {f"sync-{mode}"}

    # Node -> sync listener
    token = f"{mode}-from-node"
    await node.call("server", action="serverSideEmit", args=["note", token, {"b": b"\x01"}])
    ev = await sync.wait_event(lambda e: server_side_emits([e], token) != [])
    # server-side emits are JSON: bytes arrive as Node's Buffer JSON, as between Node servers
    assert ev["args"] == [token, {"b": {"type": "Buffer", "data": [1]}}]

    # async -> sync listener
    token = f"{mode}-from-py"
    await py.mgr.server_side_emit("note", token, 2)
    ev = await sync.wait_event(lambda e: server_side_emits([e], token) != [])
    assert ev["args"] == [token, 2]

    # sync -> every other server's listener, never its own
    token = f"{mode}-from-sync"
    await sync.call("server", action="serverSideEmit", args=["note", token])
    await node.wait_event(lambda e: server_side_emits([e], token) != [])
    await py.events.wait(lambda e: server_side_emits([e], token) != [])
    for m, peer in cluster.sync.items():
        if m != mode:
            await peer.wait_event(lambda e: server_side_emits([e], token) != [])

    # with acks: the sync server gets a reply from each other server ...
    replies = await sync.call("server", action="serverSideEmitWithAck", args=["whoami", mode])
    assert sorted(replies) == sorted(others)
    # ... and answers the Node and async servers
    replies = await node.call("server", action="serverSideEmitWithAck", args=["whoami"])
    assert f"sync-{mode}" in replies and len(replies) == cluster.size - 1
    replies = await py.mgr.server_side_emit_with_ack("whoami", timeout=5)
    assert f"sync-{mode}" in replies and len(replies) == cluster.size - 1
    assert not server_side_emits(sync.events, f"{mode}-from-sync")


# ---------------------------------------------------------------------------
# acks of clients across servers
# ---------------------------------------------------------------------------
async def test_emit_with_ack_both_ways(cluster: Cluster, mode: str, py_client: Any) -> None:
    node, py, sync = cluster.node, cluster.py, cluster.sync[mode]
    t = f"{mode}-ack"
    a = f"{t}-a"
    s = await peer_client(sync, f"{t}-s", [a], ack={"from": "s", "bin": b"\x09"})
    await peer_client(node, f"{t}-n", [a], ack={"from": "n"})
    js = await peer_client(node, f"{t}-js", [a], ack={"from": "js"}, url=sync.url)
    await py_cl(py_client, py, f"{t}-p", [a], ack={"from": "p"})
    everyone = sorted(["s", "n", "js", "p"])

    def who(acks: list[Any]) -> list[str]:
        return sorted(ack["from"] for ack in acks)

    acks = await sync.call("server", rooms=[a], flags={"timeout": 5000}, action="emitWithAck",
                           args=["ask", 1])
    assert who(acks) == everyone
    assert {"from": "s", "bin": b"\x09"} in acks
    acks = await node.call("server", rooms=[a], flags={"timeout": 5000}, action="emitWithAck",
                           args=["ask", 2])
    assert who(acks) == everyone
    acks = await py.mgr.of("/").to(a).timeout(5).emit_with_ack("ask", 3)
    assert who(acks) == everyone
    # a sync server's emit_with_ack with no local target still collects the remote acks
    acks = await sync.call("server", rooms=[a], **{"except": [s.sid, js.sid]},
                           flags={"timeout": 5000}, action="emitWithAck", args=["ask", 4])
    assert who(acks) == ["n", "p"]


# ---------------------------------------------------------------------------
# python-socketio's API on a socket of another server
# ---------------------------------------------------------------------------
async def test_remote_single_socket_via_server_api(
    cluster: Cluster, mode: str, py_client: Any
) -> None:
    node, py, sync = cluster.node, cluster.py, cluster.sync[mode]
    t = f"{mode}-rs"
    e = f"{t}-e"
    s = await peer_client(sync, f"{t}-s")
    s_gone = await peer_client(sync, f"{t}-s-gone")
    n = await peer_client(node, f"{t}-n")
    n_gone = await peer_client(node, f"{t}-n-gone")
    p = await py_cl(py_client, py, f"{t}-p")

    # sync: sio.enter_room / leave_room / disconnect on Node and async sockets
    await sync.call("sio", action="enter_room", sid=n.sid, room=e)
    await sync.call("sio", action="enter_room", sid=p.sid, room=e)
    await until(rooms_of(node, n.sid), lambda v: v == {n.sid, e})
    await until(py_rooms(py, p.sid), lambda v: v == {p.sid, e})
    await sync.call("sio", action="emit", event="e-room", rooms=[e])
    await expect([n, p], "e-room", [])
    await sync.call("sio", action="leave_room", sid=n.sid, room=e)
    await until(rooms_of(node, n.sid), lambda v: v == {n.sid})
    await sync.call("sio", action="close_room", room=e)
    await until(py_rooms(py, p.sid), lambda v: v == {p.sid})
    await sync.call("sio", action="disconnect", sid=n_gone.sid)
    assert await n_gone.disconnected() in SERVER_DISCONNECT

    # async: sio.enter_room / leave_room / disconnect on sync sockets
    await py.sio.enter_room(s.sid, f"{t}-e2")
    await until(rooms_of(sync, s.sid), lambda v: v == {s.sid, f"{t}-e2"})
    await node.call("server", rooms=[f"{t}-e2"], action="emit", args=["e2-room"])
    await expect([s], "e2-room", [])
    await py.sio.leave_room(s.sid, f"{t}-e2")
    await until(rooms_of(sync, s.sid), lambda v: v == {s.sid})
    await py.sio.disconnect(s_gone.sid)
    assert await s_gone.disconnected() in SERVER_DISCONNECT
    assert not s.is_disconnected() and not n.is_disconnected()


async def test_emit_to_remote_sid_with_callback(
    cluster: Cluster, mode: str, py_client: Any
) -> None:
    node, py, sync = cluster.node, cluster.py, cluster.sync[mode]
    t = f"{mode}-cb"
    s = await peer_client(sync, f"{t}-s", ack={"from": "s", "bin": b"\x01"})
    n = await peer_client(node, f"{t}-n", ack={"from": "n"})
    p = await py_cl(py_client, py, f"{t}-p", ack={"from": "p"})

    # sync sio.emit(to=remote sid, callback=cb): the remote client's ack comes back
    got = await sync.call("sio", action="emit", event="q", sid=n.sid, args=[1], callback=True)
    assert got == [{"from": "n"}]
    assert await n.wait("q") == [1]
    got = await sync.call("sio", action="emit", event="q", sid=p.sid, args=["x", b"\x02"],
                          callback=True)
    assert got == [{"from": "p"}]
    assert await p.wait("q") == ["x", b"\x02"]
    got = await sync.call("sio", action="emit", event="q-local", sid=s.sid, callback=True)
    assert got == [{"from": "s", "bin": b"\x01"}]
    assert await sync.call("sio", action="call", event="c", sid=n.sid, args=[2]) == {"from": "n"}
    assert await sync.call("sio", action="call", event="c", sid=p.sid) == {"from": "p"}

    # async sio.emit / sio.call to a sync server's client
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    await py.sio.emit("q2", {"a": 1}, to=s.sid, callback=lambda *a: fut.set_result(list(a)))
    assert await asyncio.wait_for(fut, 10) == [{"from": "s", "bin": b"\x01"}]
    assert await s.wait("q2") == [{"a": 1}]
    assert await py.sio.call("q3", to=s.sid, timeout=10) == {"from": "s", "bin": b"\x01"}


# ---------------------------------------------------------------------------
# Flask-SocketIO
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("async_mode", MODES)
async def test_flask_socketio_app_in_the_cluster(
    sync_peer: Any, node_peer: Any, key: str, async_mode: str
) -> None:
    require(mode_unavailable(async_mode))
    require(None if importlib.util.find_spec("flask_socketio") else "flask-socketio missing")
    node = await node_peer({"key": key}, name="node")
    app = await sync_peer({"asyncMode": async_mode, "flask": True, "joinCall": False},
                          name=f"flask-{async_mode}")
    # SocketIO(app, client_manager=mgr) joined the cluster by itself
    assert await node.call("server", action="serverCount") == 2

    fc = await peer_client(app, "fc", ["lobby"], data={"user": "flo"})
    nc = await peer_client(node, "nc", ["lobby"], data={"user": "nod"})
    jc = await peer_client(node, "jc", ["lobby"], url=app.url)  # a JS client of the Flask app

    # started on Node -> the Flask app's clients
    await node.call("server", rooms=["lobby"], action="emit", args=["from-node", "hi", BIN])
    await expect([fc, jc, nc], "from-node", ["hi", BIN])
    # started on the Flask app (Flask-SocketIO's socketio.emit) -> Node's client
    await app.call("sio", action="emit", event="from-flask", rooms=["lobby"], args=["yo", 7])
    await expect([nc, fc, jc], "from-flask", ["yo", 7])
    got = await app.call("sio", action="emit", event="ask", sid=nc.sid, callback=True)
    assert got == [{"client": "nc"}]

    # the Flask app's sockets, with their sessions, as Node sees them (and vice versa)
    fetched = await node.call("server", rooms=["lobby"], action="fetchSockets")
    assert {e["id"]: e["data"] for e in fetched} == {
        fc.sid: {"user": "flo"}, nc.sid: {"user": "nod"}, jc.sid: {}}
    fetched = await app.call("server", rooms=["lobby"], action="fetchSockets")
    assert {e["id"] for e in fetched} == {fc.sid, nc.sid, jc.sid}

    # a Node client's message reaches the Flask handler of its own server only
    assert await node.call("clientEmit", client="jc", event="hello", args=[1], ack=True) == {
        "echo": [1]}
    ev = await app.wait_event(lambda e: e.get("kind") == "server-received")
    assert (ev["sid"], ev["event"], ev["args"]) == (jc.sid, "hello", [1])
    # a cluster request from inside a Flask-SocketIO handler
    ids = await node.call("clientEmit", client="jc", event="cluster-fetch", args=["lobby"],
                          ack=True)
    assert ids == sorted([fc.sid, nc.sid, jc.sid])
    assert await app.call("sio", action="call", event="c", sid=nc.sid) == {"client": "nc"}


# ---------------------------------------------------------------------------
# close() in every async mode
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("async_mode", MODES)
async def test_close_stops_every_task_in_each_async_mode(
    sync_peer: Any, node_peer: Any, key: str, async_mode: str
) -> None:
    """After traffic that makes background work (requests, listener calls, remote
    callbacks), ``mgr.close()`` returns promptly and no thread or green thread runs
    sio_redis code any more; the other servers stop counting it."""
    require(mode_unavailable(async_mode))
    node = await node_peer({"key": key}, name="node")
    sync = await sync_peer({"asyncMode": async_mode}, name=f"sync-{async_mode}")
    await node.call("listen", event="whoami", reply="node")
    await sync.call("listen", event="whoami", reply="sync")
    s = await peer_client(sync, "s", ["r"])
    n = await peer_client(node, "n", ["r"])
    assert await sync.call("server", action="serverSideEmitWithAck", args=["whoami"]) == ["node"]
    assert await node.call("server", action="serverSideEmitWithAck", args=["whoami"]) == ["sync"]
    assert len(await sync.call("server", rooms=["r"], action="fetchSockets")) == 2
    assert len(await sync.call("server", rooms=["r"], flags={"timeout": 3000},
                               action="emitWithAck", args=["a"])) == 2
    assert await sync.call("sio", action="emit", event="q", sid=n.sid, callback=True) == [
        {"client": "n"}]

    report = await sync.call("closeManager")
    assert report["before"], "the probe should see the manager's listener before close"
    assert report["after"] == [], report
    assert report["seconds"] < 3, report
    assert report["healthy"] is False
    assert await node.call("server", action="serverCount") == 1
    # the server still serves its own clients
    await sync.call("socket", sid=s.sid, action="emit", args=["still-here"])
    await Client("s", s.sid, peer=sync).wait("still-here")


# ---------------------------------------------------------------------------
# in-process: joining at creation, close() leaves no thread
# ---------------------------------------------------------------------------
def _extra_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t not in before and t.is_alive()]


def test_close_leaves_no_thread_behind(redis_url: str) -> None:
    key = f"t-sync-close-{secrets.token_hex(4)}"
    before = set(threading.enumerate())
    mgr1 = RedisManager(redis_url, key=key, requests_timeout=3)
    sio1 = socketio.Server(client_manager=mgr1, async_mode="threading")
    mgr2 = RedisManager(redis_url, key=key, requests_timeout=3)
    sio2 = socketio.Server(client_manager=mgr2, async_mode="threading")
    try:
        # both joined in socketio.Server(): no call on mgr1 yet, mgr2 counts it
        assert mgr2.server_count() == 2
        assert mgr1.healthy and mgr2.healthy
        assert mgr1.uid != mgr2.uid
        # some traffic that makes background work: requests, listeners, a new namespace
        mgr2.on_server_side_emit("whoami", "/", lambda *a: ["mgr2", *a])
        mgr2.on_server_side_emit("whoami", "/other", lambda *a: "mgr2-other")
        assert mgr1.server_side_emit_with_ack("whoami", 1) == [["mgr2", 1]]
        assert mgr1.server_count("/other") == 2
        assert mgr1.server_side_emit_with_ack("whoami", namespace="/other") == ["mgr2-other"]
        assert mgr1.of("/").fetch_sockets() == []
        assert mgr1.all_rooms() == set()
        mgr1.of("/").to("r").emit("ev", 1)
        sio1.emit("ev2", 2, to="r")
        mgr1.server_side_emit("note")
        assert mgr1.of("/").timeout(2).emit_with_ack("ev3") == []
        assert _extra_threads(before), "the managers should run listener threads"
    finally:
        mgr1.close()
        mgr2.close()
    leftover = _extra_threads(before)
    deadline = time.monotonic() + 3
    while leftover and time.monotonic() < deadline:  # a finishing thread may still unwind
        time.sleep(0.02)
        leftover = _extra_threads(before)
    assert not leftover, [t.name for t in leftover]
    assert not mgr1.healthy and not mgr2.healthy
    with contextlib.suppress(Exception):
        sio2.eio.disconnect()


async def test_write_only_manager_requests_are_not_silently_wrong(
    node_peer: Any, key: str, redis_url: str
) -> None:
    """A ``write_only=True`` manager publishes but never subscribes, so it cannot hear the
    replies to a cluster request. Its ``fetch_sockets()`` must give the cluster's sockets or
    fail at once with a clear error -- not ``[]`` (what it returns beside one other server:
    it waits for ``server_count() - 1`` = 0 replies, counting itself although it is not
    subscribed), nor a timeout (what it gets beside two)."""
    node = await node_peer({"key": key}, name="node")
    nc = await peer_client(node, "nc", ["r"])
    mgr = RedisManager(redis_url, key=key, write_only=True, requests_timeout=1)

    def attempt() -> tuple[str, Any]:
        try:
            return ("ok", [s.id for s in mgr.of("/").in_("r").fetch_sockets()])
        except Exception as e:
            return ("error", e)

    try:
        mgr.emit("published", 1, room="r")  # what a write-only manager is for: works
        assert await nc.wait("published") == [1]
        outcome, value = await asyncio.to_thread(attempt)
    finally:
        mgr.close()
    if outcome == "ok":
        assert value == [nc.sid], "write-only fetch_sockets() answered without asking the cluster"
    else:
        assert not isinstance(value, RequestTimeoutError), value
