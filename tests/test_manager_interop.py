"""``AsyncRedisManager`` and Node's ``@socket.io/redis-adapter`` 8.3 (classic) on one Redis.

Every public feature of the manager is started from the Python side *and* from the Node side
(a real socket.io 4.8 server driven through ``tests/node/harness.js``), and what every
client and server sees is asserted: events and their arguments (binary included), rooms,
socket data, acks, disconnects and counts.

"Did not happen" is proven with markers: after the operation under test, each origin emits
a marker to everyone; a client that got the marker from an origin has already got
everything that origin sent it before (one Redis connection, one listener, in order).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import msgpack
import pytest
import redis.asyncio as aioredis
import socketio

from sio_redis import AckTimeoutError, AsyncRedisManager, RemoteSocket, RequestTimeoutError
from tests.support.node import NodeCommandError, NodePeer
from tests.support.pyserver import EventLog, PyClient, PyServer

pytestmark = [pytest.mark.node, pytest.mark.redis]

#: Node's ``socket.handshake`` keys (socket.io 4.8), which Python sockets must mirror.
HANDSHAKE_KEYS = {
    "headers",
    "time",
    "address",
    "xdomain",
    "secure",
    "issued",
    "url",
    "query",
    "auth",
}
BIN = {"raw": b"\x00\x01\xfe\xff", "nested": [b"\x02", {"deep": b"\x03\x04"}], "n": 1.5}

Event = dict[str, Any]


# ---------------------------------------------------------------------------
# one view over clients of either kind
# ---------------------------------------------------------------------------
class Client:
    """A client connected to a Python or Node server: a :class:`PyClient`, or a
    socket.io-client living in a Node harness (``peer``), whatever server it talks to."""

    def __init__(
        self,
        name: str,
        sid: str,
        nsp: str,
        *,
        py: PyClient | None = None,
        peer: NodePeer | None = None,
    ) -> None:
        self.name, self.sid, self.nsp = name, sid, nsp
        self.py, self.peer = py, peer

    def __repr__(self) -> str:
        return f"Client({self.name!r}, {self.sid!r})"

    def _items(self) -> list[Event]:
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

    def received(self) -> list[tuple[str, list[Any]]]:
        """``(event, args)`` of every event this client got, in order."""
        return [(e["event"], e["args"]) for e in self._items() if e.get("kind") == "client"]

    async def wait(self, event: str) -> list[Any]:
        """The arguments of the first ``event`` this client got (waits for it)."""
        ev = await self._wait(lambda e: e.get("kind") == "client" and e.get("event") == event)
        return list(ev["args"])

    async def disconnected(self) -> Any:
        """Wait until the client is disconnected; the reason it was given."""
        ev = await self._wait(lambda e: e.get("kind") == "client-disconnect")
        return ev["reason"]

    def is_disconnected(self) -> bool:
        return any(e.get("kind") == "client-disconnect" for e in self._items())


def _auth(rooms: Iterable[str], data: Any) -> dict[str, Any]:
    auth: dict[str, Any] = {"rooms": list(rooms)}
    if data is not None:
        auth["data"] = data
    return auth


async def py_cl(
    py_client: Any,
    py: PyServer,
    name: str,
    rooms: Iterable[str] = (),
    data: Any = None,
    nsp: str = "/",
    ack: Any = None,
) -> Client:
    pc = await py_client(py.url, name=name, nsp=nsp, auth=_auth(rooms, data), ack=ack)
    return Client(name, pc.sid, nsp, py=pc)


async def node_cl(
    peer: NodePeer,
    name: str,
    rooms: Iterable[str] = (),
    data: Any = None,
    nsp: str = "/",
    ack: Any = None,
    url: str | None = None,
) -> Client:
    fields: dict[str, Any] = {"name": name, "nsp": nsp, "auth": _auth(rooms, data)}
    if ack is not None:
        fields["ack"] = ack
    if url is not None:
        fields["url"] = url
    result = await peer.call("connect", **fields)
    return Client(name, result["sid"], nsp, peer=peer)


async def node_rooms(peer: NodePeer, sid: str, nsp: str = "/") -> set[str]:
    """The rooms of a socket living on ``peer``, once ``peer`` has processed everything
    published so far."""
    await peer.call("sync")
    return set(await peer.call("socket", nsp=nsp, sid=sid, action="rooms"))


def py_rooms(py: PyServer, sid: str, nsp: str = "/") -> set[str]:
    return {str(r) for r in py.mgr.get_rooms(sid, nsp)}


async def expect(
    targets: Iterable[Client],
    event: str,
    args: list[Any],
    log: dict[str, list[tuple[str, list[Any]]]],
) -> None:
    """Every target gets ``event`` with ``args``; record it as expected for them."""
    for c in targets:
        assert await c.wait(event) == args, (c, event)
        log[c.name].append((event, args))


async def markers(
    py: PyServer,
    node: NodePeer,
    clients: Iterable[Client],
    log: dict[str, list[tuple[str, list[Any]]]],
    nsp: str = "/",
) -> None:
    """Send an end marker from each origin to every client of ``nsp``; wait for both."""
    clients = [c for c in clients if c.nsp == nsp]
    mark = sum(len(v) for v in log.values())  # unique marker names per call
    end_py, end_node = f"end-py-{mark}", f"end-node-{mark}"
    await py.sio.emit(end_py, namespace=nsp)
    await node.call("server", nsp=nsp, action="emit", args=[end_node])
    for c in clients:
        await c.wait(end_py)
        await c.wait(end_node)
    for c in clients:
        got = c.received()
        # the two markers race each other: compare them as a set
        assert got[:-2] == log[c.name], c
        assert {e for e, _ in got[-2:]} == {end_py, end_node}, c
        log[c.name].extend(got[-2:])


async def cluster(
    py_server: Any,
    node_peer: Any,
    key: str,
    *,
    namespaces: tuple[str, ...] = ("/",),
    node_config: dict[str, Any] | None = None,
    **py_options: Any,
) -> tuple[PyServer, NodePeer]:
    py = await py_server(name="py", namespaces=namespaces, **py_options)
    node = await node_peer(
        {"key": key, "namespaces": list(namespaces), **(node_config or {})}, name="node"
    )
    return py, node


def server_events(py: PyServer, kind: str) -> list[Event]:
    return [e for e in py.events.items if e.get("kind") == kind]


def node_events(node: NodePeer, kind: str) -> list[Event]:
    return [e for e in node.events if e.get("kind") == kind]


class Tap:
    """A raw Redis subscriber logging every message on channels matching ``pattern``,
    decoded as the adapters read them (JSON if it starts with ``{``, else msgpack)."""

    def __init__(self, url: str, pattern: str) -> None:
        self.pattern = pattern
        self.log = EventLog()
        self._client = aioredis.Redis.from_url(url)
        self._pubsub = self._client.pubsub()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Tap:
        await self._pubsub.psubscribe(self.pattern)
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        async for m in self._pubsub.listen():
            if m["type"] == "pmessage":
                raw: bytes = m["data"]
                body = json.loads(raw) if raw[:1] == b"{" else msgpack.unpackb(raw, raw=False)
                self.log.add({"channel": m["channel"].decode(), "body": body})

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._pubsub.aclose()
        await self._client.aclose()


# ---------------------------------------------------------------------------
# broadcasts, both ways; fast delivery path and public fallback path
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "fallback-path"])
async def test_broadcasts_both_ways(
    py_server: Any, py_client: Any, node_peer: Any, key: str, fast: bool
) -> None:
    py, node = await cluster(py_server, node_peer, key, namespaces=("/", "/admin"))
    assert py.mgr._fast is True, "the _compat fast path should be available"
    py.mgr._fast = fast
    pa = await py_cl(py_client, py, "pa", ["r1"])
    pb = await py_cl(py_client, py, "pb", ["r2"])
    na = await node_cl(node, "na", ["r1"])
    nb = await node_cl(node, "nb", ["r2"])
    nx = await node_cl(node, "nx", ["r2"], url=py.url)  # a JS client of the Python server
    pz = await py_cl(py_client, py, "pz", ["r1"], nsp="/admin")
    nz = await node_cl(node, "nz", ["r1"], nsp="/admin")
    main, admin = [pa, pb, na, nb, nx], [pz, nz]
    log: dict[str, list[tuple[str, list[Any]]]] = {c.name: [] for c in main + admin}
    sio, mgr = py.sio, py.mgr

    # --- started on the Python server: sio.emit ---
    await sio.emit("p-all", ("x", BIN))
    await expect(main, "p-all", ["x", BIN], log)
    await sio.emit("p-room", 1, to="r1")
    await expect([pa, na], "p-room", [1], log)
    await sio.emit("p-remote-sid", {"to": "na"}, to=na.sid)
    await expect([na], "p-remote-sid", [{"to": "na"}], log)
    await sio.emit("p-local-sid", b"\x10", room=nx.sid)
    await expect([nx], "p-local-sid", [b"\x10"], log)
    await sio.emit("p-list", ("a", "b"), to=["r1", "r2"], skip_sid=[pa.sid, nb.sid])
    await expect([pb, na, nx], "p-list", ["a", "b"], log)
    await sio.emit("p-skip-remote", None, skip_sid=na.sid)
    await expect([pa, pb, nb, nx], "p-skip-remote", [], log)
    await sio.emit("p-admin", [1, b"\x05"], namespace="/admin")
    await expect(admin, "p-admin", [[1, b"\x05"]], log)
    await sio.emit("p-admin-room", "z", to="r1", skip_sid=pz.sid, namespace="/admin")
    await expect([nz], "p-admin-room", ["z"], log)

    # --- started on the Python server: operators ---
    await mgr.of("/").to("r1").to("r2").except_("r1").volatile.compress(False).emit("o-chain", 2)
    await expect([pb, nb, nx], "o-chain", [2], log)
    await mgr.of("admin").in_("r1").emit("o-admin", b"\x07", BIN)
    await expect(admin, "o-admin", [b"\x07", BIN], log)
    await mgr.of("/").local.emit("o-local", "here")
    await expect([pa, pb, nx], "o-local", ["here"], log)
    await mgr.of("/").to([na.sid, pb.sid]).emit("o-sids")
    await expect([na, pb], "o-sids", [], log)

    # --- started on the Node server: io.to(...).emit ---
    async def node_emit(event: str, *args: Any, **fields: Any) -> None:
        await node.call("server", action="emit", args=[event, *args], **fields)

    await node_emit("n-all", "y", BIN)
    await expect(main, "n-all", ["y", BIN], log)
    await node_emit("n-room", 3, rooms=["r1"])
    await expect([pa, na], "n-room", [3], log)
    await node_emit("n-sid", rooms=[pb.sid])
    await expect([pb], "n-sid", [], log)
    await node_emit("n-except", {"e": True}, **{"except": ["r1"]})
    await expect([pb, nb, nx], "n-except", [{"e": True}], log)
    await node_emit("n-multi", "m", rooms=["r1", "r2"], **{"except": [nx.sid, na.sid]})
    await expect([pa, pb, nb], "n-multi", ["m"], log)
    await node_emit("n-admin", BIN, nsp="/admin")
    await expect(admin, "n-admin", [BIN], log)
    await node_emit("n-volatile", "v", rooms=["r2"], flags={"volatile": True})
    await expect([pb, nb, nx], "n-volatile", ["v"], log)
    await node_emit("n-compress", flags={"compress": False})
    await expect(main, "n-compress", [], log)
    await node_emit("n-local", flags={"local": True})
    await expect([na, nb], "n-local", [], log)

    # a non-ASCII room name, both ways
    await sio.enter_room(pb.sid, "café ☕")
    await node.call("socket", sid=na.sid, action="join", rooms=["café ☕"])
    await sio.emit("p-café", "é", to="café ☕")
    await expect([pb, na], "p-café", ["é"], log)
    await node_emit("n-café", "☕", rooms=["café ☕"])
    await expect([pb, na], "n-café", ["☕"], log)

    await markers(py, node, main, log)
    await markers(py, node, admin, log, nsp="/admin")
    # no client sent anything, nobody was disconnected
    assert not server_events(py, "server-received") and not node_events(node, "server-received")
    assert not any(c.is_disconnected() for c in main + admin)


# ---------------------------------------------------------------------------
# rooms and disconnects of local and remote sids; callbacks of remote clients
# ---------------------------------------------------------------------------
async def test_rooms_and_disconnect_of_remote_sids(
    py_server: Any, py_client: Any, node_peer: Any, key: str
) -> None:
    py, node = await cluster(py_server, node_peer, key)
    pa = await py_cl(py_client, py, "pa")
    na = await node_cl(node, "na")
    nb = await node_cl(node, "nb")
    everyone = [pa, na, nb]
    log: dict[str, list[tuple[str, list[Any]]]] = {c.name: [] for c in everyone}
    sio = py.sio

    # enter_room: a local sid and a sid living on the Node server
    await sio.enter_room(pa.sid, "club")
    await sio.enter_room(na.sid, "club")
    assert py_rooms(py, pa.sid) == {pa.sid, "club"}
    assert await node_rooms(node, na.sid) == {na.sid, "club"}
    assert na.sid not in py.mgr.rooms["/"].get("club", {})  # not tracked as a local member
    await sio.emit("club-from-py", 1, to="club")
    await expect([pa, na], "club-from-py", [1], log)
    await node.call("server", rooms=["club"], action="emit", args=["club-from-node", 2])
    await expect([pa, na], "club-from-node", [2], log)

    # leave_room of the remote sid (and a no-op leave of a room it is not in)
    await sio.leave_room(na.sid, "club")
    await sio.leave_room(nb.sid, "club")
    assert await node_rooms(node, na.sid) == {na.sid}
    await sio.emit("club-after-leave", to="club")
    await node.call("server", rooms=["club"], action="emit", args=["club-after-leave-n"])
    await expect([pa], "club-after-leave", [], log)
    await expect([pa], "club-after-leave-n", [], log)

    # close_room empties the room on every server
    await sio.enter_room(na.sid, "club")
    await node.call("socket", sid=nb.sid, action="join", rooms=["club", "other"])
    assert await node_rooms(node, na.sid) == {na.sid, "club"}
    await sio.close_room("club")
    assert "club" not in py.mgr.rooms["/"]
    assert await node_rooms(node, na.sid) == {na.sid}
    assert await node_rooms(node, nb.sid) == {nb.sid, "other"}
    await sio.close_room("other")  # a room with no local member at all
    assert await node_rooms(node, nb.sid) == {nb.sid}
    assert "club" not in await node.call("server", action="allRooms")
    assert "club" not in await py.mgr.all_rooms()
    await sio.emit("club-closed", to="club")
    await node.call("server", rooms=["club"], action="emit", args=["club-closed-n"])
    await markers(py, node, everyone, log)

    # an int room of the application is the numeric room of the cluster
    await sio.enter_room(pa.sid, 42)
    await sio.enter_room(na.sid, 42)  # crosses as "42"
    assert await node_rooms(node, na.sid) == {na.sid, "42"}
    await sio.emit("int-room", to=42)
    await expect([pa, na], "int-room", [], log)
    await node.call("server", rooms=["42"], action="emit", args=["int-room-n"])
    await expect([pa, na], "int-room-n", [], log)
    await node.call(
        "server", rooms=["42"], action="emit", args=["int-except"], **{"except": ["42"]}
    )
    await sio.emit("int-except-py", to=42, skip_sid=[pa.sid])
    await expect([na], "int-except-py", [], log)
    await markers(py, node, everyone, log)

    # disconnect of a remote sid: only that socket leaves, the Python server sees nothing
    await sio.disconnect(nb.sid)
    assert await nb.disconnected() == "io server disconnect"
    ev = await node.wait_event(lambda e: e.get("kind") == "server-disconnect")
    assert (ev["sid"], ev["reason"]) == (nb.sid, "server namespace disconnect")
    await py.sio.emit("after-disconnect")
    await expect([pa, na], "after-disconnect", [], log)
    assert not na.is_disconnected() and not pa.is_disconnected()
    assert not server_events(py, "server-disconnect")
    assert [e["sid"] for e in node_events(node, "server-disconnect")] == [nb.sid]


async def test_emit_callback_and_call_of_remote_clients(
    py_server: Any, py_client: Any, node_peer: Any, key: str
) -> None:
    py, node = await cluster(py_server, node_peer, key)
    pa = await py_cl(py_client, py, "pa", ack={"from": "pa"})
    na = await node_cl(node, "na", ack={"from": "na", "bin": b"\x09\x08"})
    nx = await node_cl(node, "nx", ack=["nx", 1], url=py.url)
    loop = asyncio.get_running_loop()

    async def ask(event: str, sid: str, *args: Any) -> list[Any]:
        fut: asyncio.Future[list[Any]] = loop.create_future()
        await py.sio.emit(event, args, to=sid, callback=lambda *a: fut.set_result(list(a)))
        return await asyncio.wait_for(fut, 10)

    # a client on the Node server: its ack crosses Redis back to the callback
    assert await ask("ask-na", na.sid, "q", b"\x01") == [{"from": "na", "bin": b"\x09\x08"}]
    assert await na.wait("ask-na") == ["q", b"\x01"]
    # an async callback works too
    acked: asyncio.Future[Any] = loop.create_future()

    async def async_cb(*a: Any) -> None:
        acked.set_result(a)

    await py.sio.emit("ask-async", 5, to=na.sid, callback=async_cb)
    assert await asyncio.wait_for(acked, 10) == ({"from": "na", "bin": b"\x09\x08"},)
    # local clients, Python and JS, are acked without Redis
    assert await ask("ask-pa", pa.sid, 1) == [{"from": "pa"}]
    assert await ask("ask-nx", nx.sid) == [["nx", 1]]
    # sio.call() is emit + callback
    assert await py.sio.call("call-na", {"k": "v"}, to=na.sid, timeout=10) == {
        "from": "na",
        "bin": b"\x09\x08",
    }
    assert await na.wait("call-na") == [{"k": "v"}]
    assert [e for e, _ in na.received()] == ["ask-na", "ask-async", "call-na"]
    assert [e for e, _ in pa.received()] == ["ask-pa"]
    assert [e for e, _ in nx.received()] == ["ask-nx"]


# ---------------------------------------------------------------------------
# operators: acks, fetch_sockets, RemoteSocket, sockets_join/leave, disconnect_sockets
# ---------------------------------------------------------------------------
def _sorted(values: Iterable[Any]) -> list[Any]:
    return sorted(values, key=repr)


async def test_emit_with_ack_both_ways(
    py_server: Any, py_client: Any, node_peer: Any, key: str
) -> None:
    py, node = await cluster(py_server, node_peer, key, namespaces=("/", "/admin"))
    pa = await py_cl(py_client, py, "pa", ["r1"], ack={"c": "pa", "b": b"\x01"})
    pb = await py_cl(py_client, py, "pb", ["r2"], ack="pb")
    na = await node_cl(node, "na", ["r1"], ack={"c": "na", "b": b"\x02"})
    nb = await node_cl(node, "nb", ["r2"], ack="nb")
    nx = await node_cl(node, "nx", ["r2"], ack="nx", url=py.url)
    pz = await py_cl(py_client, py, "pz", nsp="/admin", ack="pz")
    nz = await node_cl(node, "nz", nsp="/admin", ack="nz")
    ack_of = {
        "pa": {"c": "pa", "b": b"\x01"},
        "pb": "pb",
        "na": {"c": "na", "b": b"\x02"},
        "nb": "nb",
        "nx": "nx",
        "pz": "pz",
        "nz": "nz",
    }
    main = [pa, pb, na, nb, nx]
    log: dict[str, list[tuple[str, list[Any]]]] = {c.name: [] for c in [*main, pz, nz]}
    mgr = py.mgr

    async def check(acks: list[Any], event: str, args: list[Any], targets: list[Client]) -> None:
        assert _sorted(acks) == _sorted(ack_of[c.name] for c in targets), event
        await expect(targets, event, args, log)

    # started on the Python server
    acks = await mgr.of("/").timeout(2).emit_with_ack("a-all", 1, BIN)
    await check(acks, "a-all", [1, BIN], main)
    acks = await mgr.of("/").to("r1").timeout(2).emit_with_ack("a-room")
    await check(acks, "a-room", [], [pa, na])
    acks = await mgr.of("/").except_("r1").emit_with_ack("a-except", "x")  # requests_timeout
    await check(acks, "a-except", ["x"], [pb, nb, nx])
    acks = await mgr.of("/").to(na.sid).timeout(2).emit_with_ack("a-remote-sid")
    await check(acks, "a-remote-sid", [], [na])
    acks = await mgr.of("/").local.timeout(2).emit_with_ack("a-local")
    await check(acks, "a-local", [], [pa, pb, nx])
    acks = await mgr.of("admin").timeout(2).emit_with_ack("a-admin", b"\x0a")
    await check(acks, "a-admin", [b"\x0a"], [pz, nz])
    assert await mgr.of("/").to("nobody").timeout(2).emit_with_ack("a-nobody") == []

    # started on the Node server: emitWithAck reaches Python clients, their acks come back
    async def node_ack(event: str, *args: Any, **fields: Any) -> list[Any]:
        result: list[Any] = await node.call(
            "server", action="emitWithAck", flags={"timeout": 2000}, args=[event, *args], **fields
        )
        return result

    await check(await node_ack("n-all", BIN, "y"), "n-all", [BIN, "y"], main)
    await check(await node_ack("n-room", rooms=["r2"]), "n-room", [], [pb, nb, nx])
    await check(await node_ack("n-sid", 7, rooms=[pa.sid]), "n-sid", [7], [pa])
    await check(await node_ack("n-except", **{"except": ["r2"]}), "n-except", [], [pa, na])
    await check(await node_ack("n-admin", nsp="/admin"), "n-admin", [], [pz, nz])
    assert await node_ack("n-nobody", rooms=["nobody"]) == []

    await markers(py, node, main, log)
    await markers(py, node, [pz, nz], log, nsp="/admin")


async def test_fetch_sockets_and_remote_sockets(
    py_server: Any, py_client: Any, node_peer: Any, key: str
) -> None:
    py, node = await cluster(py_server, node_peer, key)
    pa = await py_cl(py_client, py, "pa", ["r1"], data={"user": "ann", "n": 1})
    pb = await py_cl(py_client, py, "pb", ["r2"])
    na = await node_cl(node, "na", ["r1"], data={"user": "bob", "tags": ["x"]})
    nb = await node_cl(node, "nb", ["r2"], data={"user": "cid"})
    log: dict[str, list[tuple[str, list[Any]]]] = {c.name: [] for c in [pa, pb, na, nb]}
    mgr = py.mgr

    # --- Python's fetch_sockets sees Node sockets as Node would ---
    sockets = await mgr.of("/").in_("r1").fetch_sockets()
    assert all(isinstance(s, RemoteSocket) for s in sockets)
    by_id = {s.id: s for s in sockets}
    assert set(by_id) == {pa.sid, na.sid}
    remote, local = by_id[na.sid], by_id[pa.sid]
    assert set(remote.handshake) == HANDSHAKE_KEYS
    assert remote.handshake["auth"] == {"rooms": ["r1"], "data": {"user": "bob", "tags": ["x"]}}
    assert remote.handshake["query"]["transport"] == "websocket"
    assert remote.rooms == {na.sid, "r1"}
    assert remote.data == {"user": "bob", "tags": ["x"]}
    assert remote.namespace == "/"
    # ... and its own sockets with the same shape, data = the session
    assert set(local.handshake) == HANDSHAKE_KEYS
    assert {k: type(v) for k, v in local.handshake.items()} == {
        k: type(v) for k, v in remote.handshake.items()
    }
    assert local.handshake["auth"] == {"rooms": ["r1"], "data": {"user": "ann", "n": 1}}
    assert local.handshake["query"]["EIO"] == "4"
    assert local.handshake["url"].startswith("/socket.io/")
    assert local.handshake["address"] == "127.0.0.1"
    assert abs(local.handshake["issued"] / 1000 - time.time()) < 60
    assert local.rooms == {pa.sid, "r1"}
    assert local.data == {"user": "ann", "n": 1}
    # a JS client of the Python server gets the handshake a Node server would give it
    xa = await node_cl(node, "xa", ["r9"], data={"user": "xan"}, url=py.url)
    (mirror,) = await mgr.of("/").in_(xa.sid).fetch_sockets()
    for k in ("address", "xdomain", "secure", "url", "query"):
        assert mirror.handshake[k] == remote.handshake[k], k
    assert set(mirror.handshake["headers"]) == set(remote.handshake["headers"])
    assert mirror.handshake["time"].endswith(remote.handshake["time"][24:])  # same timezone
    assert mirror.data == {"user": "xan"} and mirror.rooms == {xa.sid, "r9"}
    await mirror.disconnect()
    assert await xa.disconnected() == "io server disconnect"

    assert {s.id for s in await mgr.of("/").fetch_sockets()} == {pa.sid, pb.sid, na.sid, nb.sid}
    assert {s.id for s in await mgr.of("/").except_("r1").timeout(2).fetch_sockets()} == {
        pb.sid,
        nb.sid,
    }
    assert {s.id for s in await mgr.of("/").in_(["r1", "r2"]).except_(pa.sid).fetch_sockets()} == {
        pb.sid,
        na.sid,
        nb.sid,
    }
    assert [s.id for s in await mgr.of("/").local.fetch_sockets()] == [pa.sid, pb.sid]
    assert [s.data for s in await mgr.of("/").in_(nb.sid).fetch_sockets()] == [{"user": "cid"}]
    assert await mgr.of("/").in_("nobody").fetch_sockets() == []

    # --- Node's fetchSockets sees Python sockets with data = the session ---
    node_view = await node.call("server", rooms=["r1"], action="fetchSockets")
    by_id_n = {s["id"]: s for s in node_view}
    assert set(by_id_n) == {pa.sid, na.sid}
    theirs = by_id_n[pa.sid]
    assert theirs["data"] == {"user": "ann", "n": 1}
    assert set(theirs["rooms"]) == {pa.sid, "r1"}
    assert set(theirs["handshake"]) == HANDSHAKE_KEYS
    assert {k: type(v) for k, v in theirs["handshake"].items()} == {
        k: type(v) for k, v in by_id_n[na.sid]["handshake"].items()
    }
    assert theirs["handshake"]["auth"] == {"rooms": ["r1"], "data": {"user": "ann", "n": 1}}
    node_all = await node.call("server", action="fetchSockets", **{"except": ["r1"]})
    assert {s["id"] for s in node_all} == {pb.sid, nb.sid}
    # a socket without a session: Node reads an empty object
    assert [s["data"] for s in node_all if s["id"] == pb.sid] == [{}]
    # binary in socket data crosses as Node's Buffer JSON both ways (fetch replies are JSON)
    await py.sio.save_session(pb.sid, {"b": b"\x01\x02"})
    (pb_view,) = await node.call("server", rooms=[pb.sid], action="fetchSockets")
    assert pb_view["data"] == {"b": {"type": "Buffer", "data": [1, 2]}}
    await node.call("socket", sid=nb.sid, action="setData", data={"b": b"\x03"})
    (nb_view,) = await mgr.of("/").in_(nb.sid).fetch_sockets()
    assert nb_view.data == {"b": {"type": "Buffer", "data": [3]}}

    # --- RemoteSocket actions on a socket of the Node server ---
    await remote.emit("rs-emit", 1, b"\x02")
    await expect([na], "rs-emit", [1, b"\x02"], log)
    await remote.join(["rs-a", "rs-b"])
    assert await node_rooms(node, na.sid) == {na.sid, "r1", "rs-a", "rs-b"}
    await remote.leave("rs-a")
    assert await node_rooms(node, na.sid) == {na.sid, "r1", "rs-b"}
    await py.sio.emit("to-rs-b", to="rs-b")
    await expect([na], "to-rs-b", [], log)
    # ... and on a local one
    await local.emit("rs-local", "l")
    await expect([pa], "rs-local", ["l"], log)
    await local.join("rs-b")
    await node.call("server", rooms=["rs-b"], action="emit", args=["n-to-rs-b"])
    await expect([pa, na], "n-to-rs-b", [], log)
    await local.leave(["rs-b", "r1"])
    assert py_rooms(py, pa.sid) == {pa.sid}
    await markers(py, node, [pa, pb, na, nb], log)

    await remote.disconnect()
    assert await na.disconnected() == "io server disconnect"
    eio_sid = py.mgr.eio_sid_from_sid(pa.sid, "/")
    await local.disconnect(close=True)
    assert eio_sid not in py.sio.eio.sockets  # the connection was closed, not just the nsp
    assert await pa.disconnected() == "server disconnect"
    await py.events.wait(lambda e: e.get("kind") == "server-disconnect" and e["sid"] == pa.sid)
    assert {e["sid"] for e in server_events(py, "server-disconnect")} == {pa.sid, xa.sid}
    assert {s.id for s in await mgr.of("/").fetch_sockets()} == {pb.sid, nb.sid}


async def test_sockets_join_leave_disconnect_both_ways(
    py_server: Any, py_client: Any, node_peer: Any, key: str
) -> None:
    py, node = await cluster(py_server, node_peer, key, namespaces=("/", "/admin"))
    mgr = py.mgr
    # per room: a Python client, a Node client, and a JS client of the Python server (its
    # disconnect reason tells a namespace disconnect from a closed connection)
    groups: dict[str, list[Client]] = {}
    for i, room in enumerate(["r1", "r2", "r3", "r4", "r5"]):
        groups[room] = [
            await py_cl(py_client, py, f"p{i}", [room]),
            await node_cl(node, f"n{i}", [room]),
            await node_cl(node, f"x{i}", [room], url=py.url),
        ]
    everyone = [c for g in groups.values() for c in g]
    log: dict[str, list[tuple[str, list[Any]]]] = {c.name: [] for c in everyone}
    (pa, na, xa), (pb, nb, xb) = groups["r1"], groups["r2"]

    # --- sockets_join / sockets_leave started on the Python server ---
    await mgr.of("/").in_("r1").sockets_join(["j1", "j2"])
    for c in (pa, xa):
        assert py_rooms(py, c.sid) == {c.sid, "r1", "j1", "j2"}
    assert await node_rooms(node, na.sid) == {na.sid, "r1", "j1", "j2"}
    await mgr.of("/").in_("j1").except_(pa.sid).sockets_leave("j2")
    assert py_rooms(py, pa.sid) == {pa.sid, "r1", "j1", "j2"}
    assert py_rooms(py, xa.sid) == {xa.sid, "r1", "j1"}
    assert await node_rooms(node, na.sid) == {na.sid, "r1", "j1"}
    await mgr.of("/").in_("j1").local.sockets_leave("j1")  # local only: na stays
    assert py_rooms(py, pa.sid) == {pa.sid, "r1", "j2"}
    assert await node_rooms(node, na.sid) == {na.sid, "r1", "j1"}
    await mgr.of("/").in_(nb.sid).local.sockets_join("nope")  # nb is not local: nothing
    assert await node_rooms(node, nb.sid) == {nb.sid, "r2"}
    await py.sio.emit("to-j1", to="j1")
    await expect([na], "to-j1", [], log)

    # --- socketsJoin / socketsLeave started on the Node server ---
    # (Node applies its own socketsJoin/Leave when its request comes back from Redis:
    # sync before it emits)
    await node.call("server", rooms=["r2"], action="socketsJoin", args=[["k1", "k2"]])
    await node.call("sync")
    await node.call("server", rooms=["k1"], action="emit", args=["to-k1"])
    await expect([pb, nb, xb], "to-k1", [], log)  # the Python ones joined before the emit
    assert py_rooms(py, pb.sid) == {pb.sid, "r2", "k1", "k2"}
    await node.call(
        "server", rooms=["k1"], action="socketsLeave", args=[["k2"]], **{"except": [xb.sid]}
    )
    await node.call("sync")
    await node.call("server", rooms=["k2"], action="emit", args=["to-k2"])
    await expect([xb], "to-k2", [], log)
    assert py_rooms(py, pb.sid) == {pb.sid, "r2", "k1"}
    assert py_rooms(py, xb.sid) == {xb.sid, "r2", "k1", "k2"}
    await markers(py, node, everyone, log)

    # --- disconnect_sockets from Python: close=False leaves the namespace only ---
    await mgr.of("/").in_("r3").disconnect_sockets()
    p, n, x = groups["r3"]
    assert await n.disconnected() == "io server disconnect"
    assert await x.disconnected() == "io server disconnect"
    assert await p.disconnected() == "server disconnect"
    # close=True closes the connection too; Node first sends the namespace DISCONNECT
    # (so JS clients read "io server disconnect" and do not reconnect): Python must too
    p, n, x = groups["r4"]
    p_eio = mgr.eio_sid_from_sid(p.sid, "/")
    x_eio = mgr.eio_sid_from_sid(x.sid, "/")
    await mgr.of("/").in_("r4").disconnect_sockets(close=True)
    assert p_eio not in py.sio.eio.sockets and x_eio not in py.sio.eio.sockets
    assert await n.disconnected() == "io server disconnect"
    assert await x.disconnected() == "io server disconnect"
    assert await p.disconnected() == "server disconnect"
    # ... every namespace of the connection goes, as with Node's disconnect(true)
    both = PyClient("both")
    try:
        await both.client.connect(
            py.url,
            namespaces=["/", "/admin"],
            transports=["websocket"],
            auth={"rooms": ["r6"]},
            wait_timeout=10,
        )
        both_sids = {both.client.get_sid("/"), both.client.get_sid("/admin")}
        await mgr.of("/").in_("r6").disconnect_sockets(close=True)
        for nsp in ("/", "/admin"):
            await both.events.wait(
                lambda e, nsp=nsp: e["kind"] == "client-disconnect" and e["nsp"] == nsp
            )
    finally:
        await both.close()

    # --- disconnectSockets from Node, both kinds ---
    await node.call("server", rooms=["r5"], action="disconnectSockets", args=[False])
    p, n, x = groups["r5"]
    assert await n.disconnected() == "io server disconnect"
    assert await x.disconnected() == "io server disconnect"
    assert await p.disconnected() == "server disconnect"
    pa_eio = mgr.eio_sid_from_sid(pa.sid, "/")
    await node.call(
        "server", rooms=["r1"], action="disconnectSockets", args=[True], **{"except": [xa.sid]}
    )
    assert await na.disconnected() == "io server disconnect"
    assert await pa.disconnected() == "server disconnect"
    await py.events.wait(lambda e: e.get("kind") == "server-disconnect" and e["sid"] == pa.sid)
    assert pa_eio not in py.sio.eio.sockets

    gone = [*groups["r3"], *groups["r4"], *groups["r5"], pa, na]
    for c in gone:
        assert c.is_disconnected(), c
    survivors = [xa, pb, nb, xb]
    assert not any(c.is_disconnected() for c in survivors)
    assert {s.id for s in await mgr.of("/").fetch_sockets()} == {c.sid for c in survivors}
    on_py = {c.sid for c in gone if c.py is not None or c.name.startswith("x")} | both_sids
    await py.events.wait(
        lambda e: {d["sid"] for d in server_events(py, "server-disconnect")} == on_py
    )
    assert {e["sid"] for e in node_events(node, "server-disconnect")} == {
        c.sid for c in gone if c.name.startswith("n")
    }


# ---------------------------------------------------------------------------
# cluster requests: server_count, all_rooms, server_side_emit(+ack), in both
# publish_on_specific_response_channel settings on each side
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("py_specific", "node_specific"),
    [(True, False), (False, True), (True, True), (False, False)],
    ids=["py-specific", "node-specific", "both-specific", "both-shared"],
)
async def test_cluster_requests_both_ways(
    py_server: Any,
    py_client: Any,
    node_peer: Any,
    key: str,
    redis_url: str,
    py_specific: bool,
    node_specific: bool,
) -> None:
    py, node = await cluster(
        py_server,
        node_peer,
        key,
        namespaces=("/", "/admin"),
        publish_on_specific_response_channel=py_specific,
        node_config={"publishOnSpecificResponseChannel": node_specific},
    )
    mgr = py.mgr
    assert mgr.core.wire.publish_on_specific_response_channel is py_specific

    # both servers count, in every namespace, before any client connected
    for nsp in ("/", "/admin"):
        assert await mgr.server_count(nsp) == 2
        assert await node.call("server", nsp=nsp, action="serverCount") == 2
    assert await mgr.server_count("admin") == 2
    assert await mgr.all_rooms() == set()
    assert await node.call("server", action="allRooms") == []

    pa = await py_cl(py_client, py, "pa", ["r1"], ack="pa")
    na = await node_cl(node, "na", ["r1", "r2"], ack="na")
    rooms = {pa.sid, na.sid, "r1", "r2"}
    assert await mgr.all_rooms() == rooms
    assert set(await node.call("server", action="allRooms")) == rooms
    assert await mgr.all_rooms("/admin") == set()

    # every response kind, both ways, on the response channel each side's option picks
    async with Tap(redis_url, f"{key}-*") as tap:
        assert {s.id for s in await mgr.of("/").in_("r1").fetch_sockets()} == {pa.sid, na.sid}
        assert {
            s["id"] for s in await node.call("server", rooms=["r1"], action="fetchSockets")
        } == {pa.sid, na.sid}
        assert sorted(await mgr.of("/").timeout(2).emit_with_ack("q")) == ["na", "pa"]
        assert sorted(
            await node.call("server", action="emitWithAck", flags={"timeout": 2000}, args=["q2"])
        ) == ["na", "pa"]
        await node.call("listen", event="ask-node-0", reply=0)
        py.listen("ask-py-0", reply=0)
        assert await mgr.server_side_emit_with_ack("ask-node-0") == [0]
        assert await node.call("server", action="serverSideEmitWithAck", args=["ask-py-0"]) == [0]

        def responses() -> list[Event]:
            return [m for m in tap.log.items if "-response#" in m["channel"]]

        # 2 fetch replies, 2 x (client count + 1 ack), 2 server-side-emit replies
        await tap.log.wait(lambda _: len(responses()) >= 8)
        assert len(responses()) == 8
        requester = {
            m["body"]["requestId"]: m["body"]["uid"]
            for m in tap.log.items
            if m["channel"] == f"{key}-request#/#" and "requestId" in m["body"]
        }
        (node_uid,) = set(requester.values()) - {mgr.uid}
        shared = f"{key}-response#/#"
        for m in responses():
            asker = requester[m["body"]["requestId"]]
            specific = node_specific if asker == mgr.uid else py_specific
            if m["body"].get("type") == 6:  # serverSideEmit replies: always the shared one
                specific = False
            assert m["channel"] == (f"{shared}{asker}#" if specific else shared), m
        assert {requester[m["body"]["requestId"]] for m in responses()} == {mgr.uid, node_uid}

    # server_side_emit, Python -> Node (JSON: bytes arrive as Node's Buffer JSON)
    await node.call("listen", event="py-said")
    await mgr.server_side_emit("py-said", 1, "two", {"b": b"\x01\x02"}, [None, 2.5])
    ev = await node.wait_event(lambda e: e.get("event") == "py-said")
    assert (ev["kind"], ev["withAck"]) == ("server-side-emit", False)
    assert ev["args"] == [1, "two", {"b": {"type": "Buffer", "data": [1, 2]}}, [None, 2.5]]
    # ... in another namespace
    await node.call("listen", nsp="/admin", event="py-said-admin")
    await mgr.server_side_emit("py-said-admin", namespace="admin")
    ev = await node.wait_event(lambda e: e.get("event") == "py-said-admin")
    assert (ev["nsp"], ev["args"]) == ("/admin", [])

    # Node -> Python
    py.listen("node-said")
    await node.call("server", action="serverSideEmit", args=["node-said", {"x": [1]}, "y"])
    ev = await py.events.wait(lambda e: e.get("event") == "node-said")
    assert (ev["kind"], ev["args"]) == ("server-side-emit", [{"x": [1]}, "y"])

    # with acks: the Node listener's reply / the Python handler's return value
    await node.call("listen", event="ask-node", reply={"from": "node"})
    assert await mgr.server_side_emit_with_ack("ask-node", 5) == [{"from": "node"}]
    ev = await node.wait_event(lambda e: e.get("event") == "ask-node")
    assert (ev["args"], ev["withAck"]) == ([5], True)
    py.listen("ask-py", reply={"from": "py", "n": 1})
    assert await node.call("server", action="serverSideEmitWithAck", args=["ask-py", 6]) == [
        {"from": "py", "n": 1}
    ]
    assert (await py.events.wait(lambda e: e.get("event") == "ask-py"))["args"] == [6]

    async def async_handler(*args: Any) -> Any:
        return {"async": list(args)}

    mgr.on_server_side_emit("ask-async", handler=async_handler)

    @mgr.on_server_side_emit("ask-admin", namespace="/admin")
    def admin_handler(*args: Any) -> Any:
        return "admin-ok"

    assert await node.call("server", action="serverSideEmitWithAck", args=["ask-async", 1]) == [
        {"async": [1]}
    ]
    assert await node.call(
        "server", nsp="/admin", action="serverSideEmitWithAck", args=["ask-admin"]
    ) == ["admin-ok"]
    # the emitting server's own listeners are not called (its echo comes back from Redis
    # before the later Node message)
    await mgr.server_side_emit("node-said", "not-for-me")
    py.listen("fence")
    await node.call("server", action="serverSideEmit", args=["fence"])
    await py.events.wait(lambda e: e.get("event") == "fence")
    assert [e["args"] for e in server_events(py, "server-side-emit")] == [
        [],
        [{"x": [1]}, "y"],
        [6],
        [],
    ]


async def test_listener_registered_before_start_joins_its_namespace(
    node_peer: Any, key: str, redis_url: str
) -> None:
    # a namespace the Socket.IO server does not declare, only a server-side listener
    mgr = AsyncRedisManager(redis_url, key=key)
    mgr.on_server_side_emit("ping", "/ops", lambda *args: ["pong", *args])
    socketio.AsyncServer(client_manager=mgr, async_mode="aiohttp")
    try:
        await mgr.start()
        node = await node_peer({"key": key, "namespaces": ["/", "/ops"]}, name="node")
        assert await node.call("server", nsp="/ops", action="serverCount") == 2
        assert await node.call(
            "server", nsp="/ops", action="serverSideEmitWithAck", args=["ping", 1]
        ) == [["pong", 1]]
        await node.call("listen", nsp="/ops", event="hi", reply="hello")
        assert await mgr.server_side_emit_with_ack("hi", namespace="ops") == ["hello"]
    finally:
        await mgr.close()


# ---------------------------------------------------------------------------
# timeouts: a server that never answers ends a request after its timeout, with the
# partial results
# ---------------------------------------------------------------------------
async def test_timeouts_carry_partial_results(
    py_server: Any, py_client: Any, node_peer: Any, key: str, redis_url: str
) -> None:
    py1 = await py_server(name="py1", requests_timeout=1)
    py2 = await py_server(name="py2")
    node = await node_peer({"key": key, "requestsTimeout": 1000}, name="node")
    py2.listen("ev", reply="from-py2")  # py1 and node have no listener for "ev"
    na = await node_cl(node, "na", ["r1"], ack="na")
    stuck = await py_cl(py_client, py2, "stuck", ["r2"])
    release = asyncio.Event()

    async def never_acks(*args: Any) -> str:
        assert stuck.py is not None
        stuck.py.events.add({"kind": "client", "event": "slow", "args": list(args)})
        await release.wait()
        return "too late"

    assert stuck.py is not None
    stuck.py.client.on("slow", never_acks)
    loop = asyncio.get_running_loop()

    async def timed(coro: Any) -> tuple[BaseException | Any, float]:
        t0 = loop.time()
        try:
            result: Any = await coro
        except Exception as exc:
            result = exc
        return result, loop.time() - t0

    try:
        results = await asyncio.gather(
            timed(py1.mgr.server_side_emit_with_ack("ev", 1)),
            timed(py1.mgr.server_side_emit_with_ack("ev", 0, timeout=0.5)),
            timed(node.call("server", action="serverSideEmitWithAck", args=["ev", 2])),
            timed(py1.mgr.of("/").timeout(0.5).emit_with_ack("slow", "a")),
            timed(
                node.call(
                    "server", action="emitWithAck", flags={"timeout": 500}, args=["slow", "b"]
                )
            ),
        )
        (sse_py, t1), (sse_short, t0), (sse_node, _), (ack_py, t2), (ack_node, _) = results
        assert isinstance(sse_py, RequestTimeoutError), sse_py
        assert sse_py.partial == ["from-py2"] and 0.9 < t1 < 3
        assert isinstance(sse_short, RequestTimeoutError), sse_short
        assert sse_short.partial == ["from-py2"] and 0.4 < t0 < 0.9
        # Node waits for py1 too, which has no listener and so stays silent
        assert isinstance(sse_node, NodeCommandError), sse_node
        assert sse_node.partial == ["from-py2"]
        assert "timeout reached" in sse_node.message
        assert isinstance(ack_py, AckTimeoutError), ack_py
        assert ack_py.responses == ["na"] and 0.4 < t2 < 3
        assert isinstance(ack_node, NodeCommandError), ack_node
        assert ack_node.partial == ["na"]
        assert sorted(args for _, args in stuck.received()) == [["a"], ["b"]]
    finally:
        release.set()

    # a subscriber that never answers counts as a server: requests time out after
    # requests_timeout (or the operator's timeout) with what did arrive
    mute = aioredis.Redis.from_url(redis_url)
    pubsub = mute.pubsub()
    try:
        await pubsub.subscribe(f"{key}-request#/#")
        assert await py1.mgr.server_count() == 4
        (fetch, t3), (fetch_op, t4), (rooms, _) = await asyncio.gather(
            timed(py1.mgr.of("/").fetch_sockets()),
            timed(py1.mgr.of("/").timeout(0.5).fetch_sockets()),
            timed(py1.mgr.all_rooms()),
        )
        for exc in (fetch, fetch_op):
            assert isinstance(exc, RequestTimeoutError), exc
            assert {e.id for e in exc.partial} == {na.sid, stuck.sid}
        assert 0.9 < t3 < 3 and 0.4 < t4 < 0.9
        assert isinstance(rooms, RequestTimeoutError), rooms
        assert set(rooms.partial) == {na.sid, "r1", stuck.sid, "r2"}
    finally:
        await pubsub.aclose()
        await mute.aclose()
    assert {s.id for s in await py1.mgr.of("/").fetch_sockets()} == {na.sid, stuck.sid}


# ---------------------------------------------------------------------------
# isolation by key; room channels of rooms a server does not hold
# ---------------------------------------------------------------------------
async def test_two_clusters_on_one_redis_do_not_see_each_other(
    py_server: Any, py_client: Any, node_peer: Any, key: str
) -> None:
    other_key = f"{key}-other"
    py_a = await py_server(name="pyA")
    node_a = await node_peer({"key": key}, name="nodeA")
    py_b = await py_server(name="pyB", key=other_key)
    node_b = await node_peer({"key": other_key}, name="nodeB")
    pa = await py_cl(py_client, py_a, "pa", ["room"])
    na = await node_cl(node_a, "na", ["room"])
    pb = await py_cl(py_client, py_b, "pb", ["room"])
    nb = await node_cl(node_b, "nb", ["room"])
    log: dict[str, list[tuple[str, list[Any]]]] = {c.name: [] for c in [pa, na, pb, nb]}

    for py, node in ((py_a, node_a), (py_b, node_b)):
        assert await py.mgr.server_count() == 2
        assert await node.call("server", action="serverCount") == 2
    await py_a.sio.emit("a-all", "A")
    await expect([pa, na], "a-all", ["A"], log)
    await py_b.sio.emit("b-room", "B", to="room")
    await expect([pb, nb], "b-room", ["B"], log)
    await node_a.call("server", rooms=["room"], action="emit", args=["a-room"])
    await expect([pa, na], "a-room", [], log)
    await node_b.call("server", action="emit", args=["b-all"])
    await expect([pb, nb], "b-all", [], log)
    # a socket id of the other cluster is not reachable
    await py_a.sio.emit("a-to-b-sid", to=nb.sid)
    await py_a.mgr.of("/").in_(pb.sid).sockets_join("stolen")

    assert {s.id for s in await py_a.mgr.of("/").fetch_sockets()} == {pa.sid, na.sid}
    assert {s["id"] for s in await node_b.call("server", action="fetchSockets")} == {pb.sid, nb.sid}
    assert await py_b.mgr.all_rooms() == {pb.sid, nb.sid, "room"}
    assert set(await node_a.call("server", action="allRooms")) == {pa.sid, na.sid, "room"}
    assert _sorted(await py_a.mgr.of("/").timeout(2).emit_with_ack("a-ack")) == [
        {"client": "na"},
        {"client": "pa"},
    ]
    await expect([pa, na], "a-ack", [], log)

    # server-side emits stay in their cluster too
    await node_b.call("listen", event="sse", reply="node-b")
    py_b.listen("sse", reply="py-b")
    await node_a.call("listen", event="sse", reply="node-a")
    py_a.listen("sse", reply="py-a")
    assert await py_a.mgr.server_side_emit_with_ack("sse", "x") == ["node-a"]
    assert await node_b.call("server", action="serverSideEmitWithAck", args=["sse"]) == ["py-b"]

    await markers(py_a, node_a, [pa, na], log)
    await markers(py_b, node_b, [pb, nb], log)
    assert py_rooms(py_b, pb.sid) == {pb.sid, "room"}
    assert [e["args"] for e in node_events(node_b, "server-side-emit")] == []
    assert [e["args"] for e in server_events(py_b, "server-side-emit")] == [[]]
    assert [e["args"] for e in server_events(py_a, "server-side-emit")] == []
    assert [e["args"] for e in node_events(node_a, "server-side-emit")] == [["x"]]


async def test_room_broadcast_for_a_room_not_held_is_dropped_before_decoding(
    py_server: Any,
    py_client: Any,
    node_peer: Any,
    key: str,
    redis_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    py, node = await cluster(py_server, node_peer, key)
    pa = await py_cl(py_client, py, "pa", ["held"])
    na = await node_cl(node, "na", ["node-room"])
    core = py.mgr.core
    pattern = f"{key}#/#*"
    garbage = b"\xc1\xc1 not msgpack"

    # unit level: core.receive for a room channel
    with caplog.at_level(logging.WARNING, logger="sio_redis"):
        assert core.receive(f"{key}#/#not-here#", garbage, pattern) is None
        assert core.receive(f"{key}#/#{na.sid}#", garbage, pattern) is None
        assert core.receive(f"{key}#/#node-room#", garbage, pattern) is None
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert core.receive(f"{key}#/#held#", garbage, pattern) is None  # held: decoded
        assert core.receive(f"{key}#/#{pa.sid}#", garbage, pattern) is None
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2
    assert all("malformed" in r.getMessage() for r in warnings)
    caplog.clear()

    # the same over Redis: neither server chokes on garbage for a room it does not hold
    # (Node holds no "held" room, Python no "not-here" one), and both keep working
    client = aioredis.Redis.from_url(redis_url)
    try:
        with caplog.at_level(logging.WARNING, logger="sio_redis"):
            await client.publish(f"{key}#/#not-here#", garbage)
            await client.publish(f"{key}#/#held#", garbage)
            await node.call("server", rooms=["held"], action="emit", args=["still-alive"])
            assert await pa.wait("still-alive") == []
        messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(messages) == 1, messages
        assert messages[0].startswith(f"dropped malformed message on '{key}#/#held#'")
    finally:
        await client.aclose()
    assert not node_events(node, "uncaught-exception")
    assert {s.id for s in await py.mgr.of("/").fetch_sockets()} == {pa.sid, na.sid}
