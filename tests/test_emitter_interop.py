"""End to end: our emitter (sync and asyncio) -> Redis -> Node (and Python) servers -> real clients.

Classic tests run two Node peers (``@socket.io/redis-adapter`` 8.3, ``createAdapter``) and one
Python server (``sio_redis.AsyncRedisManager``) in one cluster, with socket.io-client clients on
the Node peers and a python-socketio client on the Python server. Sharded tests run two Node
peers with ``createShardedAdapter`` in each subscription mode (Node's own emitter cannot reach
those at all).

Negative checks ("X did not get E") always come after a later marker that X did get, sent
through the same emitter: Redis delivers one connection's publishes in order, and every server
handles its subscriber's messages in order.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import pytest
import pytest_asyncio

from sio_emitter import AsyncEmitter, Emitter
from tests.support import PEERS_KEY
from tests.support.node import NodePeer
from tests.support.pyserver import PyClient, PyServer

pytestmark = [pytest.mark.node, pytest.mark.redis]

KINDS = ["sync", "async"]
MODES = ["static", "dynamic", "dynamic-private"]
NSPS = ["/", "/admin"]

UNICODE_TEXT = "héllo ✓ 日本語 🎉 \u00a0ß"
UNICODE_OBJ = {"clé": "värde", "emoji": "🎉", "list": ["ä", 1, None, True]}


# ---------------------------------------------------------------------------
# one async surface over Emitter / AsyncEmitter
# ---------------------------------------------------------------------------
Step = Callable[[Any], Any]


class Em:
    """``await em(lambda e: e.to("r").emit("x"))`` runs the step on a sync :class:`Emitter`
    (in a worker thread) or on an :class:`AsyncEmitter` (awaited)."""

    def __init__(self, kind: str, url: str, key: str, **options: Any) -> None:
        self.kind = kind
        cls = AsyncEmitter if kind == "async" else Emitter
        self.emitter: Any = cls.from_url(url, key, **options)

    async def __call__(self, *steps: Step) -> None:
        if self.kind == "async":
            for step in steps:
                result = step(self.emitter)
                assert inspect.isawaitable(result), "AsyncEmitter calls must be awaitable"
                await result
        else:

            def run() -> None:
                for step in steps:
                    assert step(self.emitter) is None

            await asyncio.to_thread(run)

    async def pipeline(self, *steps: Step) -> None:
        """Run ``steps`` on the emitter yielded by ``pipeline()`` (one round trip)."""
        if self.kind == "async":
            async with self.emitter.pipeline() as p:
                for step in steps:
                    await step(p)
        else:

            def run() -> None:
                with self.emitter.pipeline() as p:
                    for step in steps:
                        step(p)

            await asyncio.to_thread(run)

    async def close(self) -> None:
        if self.kind == "async":
            await self.emitter.aclose()
        else:
            self.emitter.close()


@pytest_asyncio.fixture(loop_scope="session")
async def make_emitter(redis_url: str, key: str) -> AsyncIterator[Callable[..., Em]]:
    """Factory: ``make_emitter(kind, key=None, **Emitter options)``; closed after the test."""
    made: list[Em] = []

    def make(kind: str, key_: str | None = None, **options: Any) -> Em:
        em = Em(kind, redis_url, key_ or key, **options)
        made.append(em)
        return em

    yield make
    for em in made:
        await em.close()


@pytest_asyncio.fixture(loop_scope="session")
async def mux_client(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., Any]]:
    """Factory: ``await mux_client(url, name, rooms)``: a python-socketio client on ``/`` *and*
    ``/admin`` over one connection (socket.io-client in the harness opens one per namespace).
    ``disconnect_sockets(close=False)`` on ``/`` must leave its ``/admin`` socket alone;
    ``close=True`` closes the connection, so both go."""
    made: list[PyClient] = []

    async def connect(url: str, name: str, rooms: Sequence[str]) -> PyClient:
        client = PyClient(name)
        made.append(client)
        request.node.stash.setdefault(PEERS_KEY, []).append(client)  # for failure reports
        await client.client.connect(url, namespaces=NSPS, transports=["websocket"],
                                    auth={"rooms": list(rooms)}, wait_timeout=10)
        return client

    yield connect
    for client in made:
        await client.close()


def mux_disconnects(client: PyClient) -> list[str]:
    return [e["nsp"] for e in client.events.items if e.get("kind") == "client-disconnect"]


async def check_close_semantics(em: Em, soft: Sequence[PyClient], hard: Sequence[PyClient]) -> None:
    """``soft`` clients are in room "soft", ``hard`` ones in "hard" (on ``/``)."""
    await em(lambda e: e.to("soft").disconnect_sockets())
    for client in soft:
        await client.events.wait(lambda e: e.get("kind") == "client-disconnect"
                                  and e.get("nsp") == "/")
    await em(lambda e: e.of("/admin").emit("admin-alive"))
    for client in soft:
        ev = await client.events.wait(lambda e: e.get("event") == "admin-alive")
        assert ev["nsp"] == "/admin"
        assert mux_disconnects(client) == ["/"], client
        assert client.client.connected
    await em(lambda e: e.to("hard").disconnect_sockets(close=True))
    for client in hard:
        for nsp in NSPS:
            await client.events.wait(lambda e, n=nsp: e.get("kind") == "client-disconnect"
                                      and e.get("nsp") == n)
        assert sorted(mux_disconnects(client)) == sorted(NSPS), client


# ---------------------------------------------------------------------------
# clients across Node peers and Python servers
# ---------------------------------------------------------------------------
class Clients:
    """Named clients on Node peers (socket.io-client) and Python servers (python-socketio)."""

    def __init__(self, py_client_factory: Any = None) -> None:
        self._py_factory = py_client_factory
        self.node: dict[str, NodePeer] = {}
        self.py: dict[str, PyClient] = {}
        self.sid: dict[str, str] = {}
        self.nsp: dict[str, str] = {}
        self.gone: set[str] = set()

    async def on_node(
        self, peer: NodePeer, name: str, rooms: Sequence[str] = (), nsp: str = "/",
        url: str | None = None,
    ) -> str:
        """A socket.io-client on ``peer``, connected to ``url`` (default: ``peer`` itself)."""
        fields: dict[str, Any] = {"name": name, "nsp": nsp, "auth": {"rooms": list(rooms)}}
        if url is not None:
            fields["url"] = url
        result = await peer.call("connect", **fields)
        self.node[name] = peer
        self.sid[name] = result["sid"]
        self.nsp[name] = nsp
        return str(result["sid"])

    async def on_py(
        self, server: PyServer, name: str, rooms: Sequence[str] = (), nsp: str = "/"
    ) -> str:
        client = await self._py_factory(server.url, name=name, nsp=nsp,
                                        auth={"rooms": list(rooms)})
        self.py[name] = client
        assert client.sid is not None
        self.sid[name] = client.sid
        self.nsp[name] = nsp
        return str(client.sid)

    def names(self, nsp: str = "/") -> list[str]:
        return [n for n in self.sid if self.nsp[n] == nsp and n not in self.gone]

    def _client_events(self, name: str) -> list[dict[str, Any]]:
        if name in self.node:
            return [e for e in self.node[name].events
                    if e.get("kind") == "client" and e.get("client") == name]
        return [e for e in self.py[name].events.items if e.get("kind") == "client"]

    def got(self, event: str) -> dict[str, list[list[Any]]]:
        """``{client: [args of each delivery]}`` for the clients that received ``event``."""
        out: dict[str, list[list[Any]]] = {}
        for name in self.sid:
            calls = [e["args"] for e in self._client_events(name) if e["event"] == event]
            if calls:
                out[name] = calls
        return out

    async def wait(self, name: str, event: str) -> list[Any]:
        if name in self.node:
            ev = await self.node[name].wait_event(
                lambda e: e.get("kind") == "client" and e.get("client") == name
                and e.get("event") == event)
        else:
            ev = await self.py[name].events.wait(
                lambda e: e.get("kind") == "client" and e.get("event") == event)
        return list(ev["args"])

    async def wait_all(self, names: Iterable[str], event: str) -> None:
        await asyncio.gather(*(self.wait(n, event) for n in names))

    async def wait_disconnect(self, name: str) -> Any:
        if name in self.node:
            ev = await self.node[name].wait_event(
                lambda e: e.get("kind") == "client-disconnect" and e.get("client") == name)
        else:
            ev = await self.py[name].events.wait(lambda e: e.get("kind") == "client-disconnect")
        self.gone.add(name)
        return ev["reason"]

    async def barrier(self, em: Em, event: str, nsps: Sequence[str] = NSPS) -> None:
        """Emit ``event`` to every namespace and wait until every live client has it."""
        await em(*[(lambda e, n=n: e.of(n).emit(event)) for n in nsps])
        await asyncio.gather(*(self.wait_all(self.names(n), event) for n in nsps))

    def assert_got(
        self, event: str, expected: Iterable[str], args: list[Any] | None = None
    ) -> None:
        """Exactly the ``expected`` clients got ``event``, once each (with ``args``)."""
        got = self.got(event)
        assert sorted(got) == sorted(expected), f"{event!r} reached {sorted(got)}"
        for name, calls in got.items():
            assert len(calls) == 1, f"{name} got {event!r} {len(calls)} times"
            if args is not None:
                assert calls[0] == args, f"{name} got {event!r} with {calls[0]!r}"


async def node_rooms(clients: Clients, name: str) -> set[str]:
    peer = clients.node[name]
    rooms = await peer.call("socket", nsp=clients.nsp[name], sid=clients.sid[name], action="rooms")
    return set(rooms)


def py_rooms(server: PyServer, clients: Clients, name: str) -> set[str]:
    return {r for r in server.sio.rooms(clients.sid[name], namespace=clients.nsp[name]) if r}


def assert_no_node_errors(*peers: NodePeer) -> None:
    for peer in peers:
        bad = [e for e in peer.events
               if e.get("kind") in ("uncaught-exception", "unhandled-rejection", "harness-error")]
        assert not bad, f"{peer.name}: {bad}"


def sse_events(peer_or_server: Any, event: str, nsp: str) -> list[list[Any]]:
    items = peer_or_server.events
    items = items.items if hasattr(items, "items") else items
    return [e["args"] for e in items
            if e.get("kind") == "server-side-emit" and e.get("event") == event
            and e.get("nsp") == nsp]


async def wait_sse(peer_or_server: Any, event: str, nsp: str) -> dict[str, Any]:
    def match(e: dict[str, Any]) -> bool:
        return e.get("kind") == "server-side-emit" and e.get("event") == event and \
            e.get("nsp") == nsp

    if isinstance(peer_or_server, NodePeer):
        return await peer_or_server.wait_event(match)
    return await peer_or_server.events.wait(match)


# ---------------------------------------------------------------------------
# classic: two Node peers + one Python server
# ---------------------------------------------------------------------------
async def classic_cluster(node_peer: Any, py_server: Any, key: str) -> tuple[Any, Any, PyServer]:
    cfg = {"key": key, "mode": "classic", "namespaces": NSPS}
    n1, n2, py = await asyncio.gather(
        node_peer(cfg, name="n1"), node_peer(cfg, name="n2"),
        py_server(name="py", namespaces=tuple(NSPS)))
    return n1, n2, py


@pytest.mark.parametrize("kind", KINDS)
async def test_classic_broadcasts_reach_node_and_python_clients(
    kind: str, py_server: Any, py_client: Any, node_peer: Any, make_emitter: Any, key: str
) -> None:
    # py_server comes before node_peer so that it is torn down after the Node peers: the
    # socket.io-client "n_py" connected to it then is gone (else aiohttp's cleanup waits ~45 s)
    n1, n2, py = await classic_cluster(node_peer, py_server, key)
    c = Clients(py_client)
    await c.on_node(n1, "a", ["room1"])
    sid_d = await c.on_node(n1, "d")
    await c.on_node(n2, "b", ["room2"])
    await c.on_node(n2, "c", ["room1", "room2", "vip"])
    sid_p = await c.on_py(py, "p", ["room1", "vip"])
    await c.on_py(py, "r", ["room2"])
    await c.on_node(n2, "n_py", ["room2", "vip"], url=py.url)  # socket.io-client on Python
    await c.on_node(n1, "a_adm", ["room1"], nsp="/admin")
    await c.on_py(py, "p_adm", ["room1"], nsp="/admin")
    assert await py.mgr.server_count("/admin") == 3

    em = make_emitter(kind)
    binary = [b"\x00\x01\xfe\xff", {"nested": b"\x02\x03", "list": [b"\x04", 5], "n": 1}]
    await em(
        lambda e: e.emit("to-all", 1, "two", {"three": [3]}),
        lambda e: e.to("room1").emit("to-room1", "x"),
        lambda e: e.to(["room1", "room2"]).emit("to-rooms"),
        lambda e: e.in_("room1").to("room2").emit("to-rooms-chained"),
        lambda e: e.except_("vip").emit("except-vip"),
        lambda e: e.to("room2").except_(["vip"]).emit("room2-except-vip"),
        lambda e: e.to("nobody").emit("to-nobody"),
        lambda e: e.to(sid_d).emit("to-sid-node", "d"),
        lambda e: e.to(sid_p).emit("to-sid-py", "p"),
        lambda e: e.of("/admin").emit("admin-all", 2),
        lambda e: e.of("admin").to("room1").emit("admin-room1"),
        lambda e: e.emit("bin", *binary),
        lambda e: e.to("room1").emit("bin-room1", b"\x05"),
        lambda e: e.emit("ünï-☃", UNICODE_TEXT, UNICODE_OBJ),
        lambda e: e.compress(False).to("room2").emit("no-compress", 7),
    )
    await em.pipeline(
        lambda p: p.to("room1").emit("pipe-1", 1),
        lambda p: p.emit("pipe-2", 2),
        lambda p: p.of("/admin").emit("pipe-3", 3),
        lambda p: p.except_("vip").emit("pipe-4", b"\x09"),
    )
    await c.barrier(em, "marker")

    everyone = ["a", "d", "b", "c", "p", "r", "n_py"]
    c.assert_got("to-all", everyone, [1, "two", {"three": [3]}])
    c.assert_got("to-room1", ["a", "c", "p"], ["x"])
    c.assert_got("to-rooms", ["a", "b", "c", "p", "r", "n_py"], [])  # c is in both: once
    c.assert_got("to-rooms-chained", ["a", "b", "c", "p", "r", "n_py"], [])
    c.assert_got("except-vip", ["a", "d", "b", "r"], [])
    c.assert_got("room2-except-vip", ["b", "r"], [])
    c.assert_got("to-nobody", [])
    c.assert_got("to-sid-node", ["d"], ["d"])
    c.assert_got("to-sid-py", ["p"], ["p"])
    c.assert_got("admin-all", ["a_adm", "p_adm"], [2])
    c.assert_got("admin-room1", ["a_adm", "p_adm"], [])
    c.assert_got("bin", everyone, binary)
    c.assert_got("bin-room1", ["a", "c", "p"], [b"\x05"])
    c.assert_got("ünï-☃", everyone, [UNICODE_TEXT, UNICODE_OBJ])
    c.assert_got("no-compress", ["b", "c", "r", "n_py"], [7])
    c.assert_got("pipe-1", ["a", "c", "p"], [1])
    c.assert_got("pipe-2", everyone, [2])
    c.assert_got("pipe-3", ["a_adm", "p_adm"], [3])
    c.assert_got("pipe-4", ["a", "d", "b", "r"], [b"\x09"])
    for name in everyone:  # binary really is bytes, not a list or a {"type":"Buffer"} object
        args = c.got("bin")[name][0]
        assert type(args[0]) is bytes and type(args[1]["nested"]) is bytes, (name, args)

    # volatile on its own, once every transport is idle (Node drops volatile packets
    # for a transport that is still writing)
    await em(lambda e: e.volatile.emit("volatile", "v"),
             lambda e: e.volatile.of("/admin").to("room1").emit("volatile-admin"))
    await c.wait_all(everyone, "volatile")
    await c.wait_all(["a_adm", "p_adm"], "volatile-admin")
    await c.barrier(em, "marker-2")
    c.assert_got("volatile", everyone, ["v"])
    c.assert_got("volatile-admin", ["a_adm", "p_adm"], [])
    assert_no_node_errors(n1, n2)


@pytest.mark.parametrize("kind", KINDS)
async def test_classic_server_side_emit_rooms_and_disconnect(
    kind: str, py_server: Any, py_client: Any, mux_client: Any, node_peer: Any,
    make_emitter: Any, key: str,
) -> None:
    n1, n2, py = await classic_cluster(node_peer, py_server, key)
    for peer in (n1, n2):
        for nsp in NSPS:
            await peer.call("listen", nsp=nsp, event="sse")
    for nsp in NSPS:
        py.listen("sse", nsp=nsp)
    c = Clients(py_client)
    await c.on_node(n1, "a", ["room1"])
    await c.on_node(n2, "b", ["room1", "vip"])
    await c.on_node(n2, "c", ["room2"])
    await c.on_py(py, "p", ["room1"])
    await c.on_py(py, "q", ["room1", "vip"])
    await c.on_node(n1, "a_adm", nsp="/admin")
    await c.on_py(py, "p_adm", nsp="/admin")
    em = make_emitter(kind)

    # --- server_side_emit: Node listeners and the Python on_server_side_emit handler
    payload = ["x", 1, {"k": "é", "l": [1.5, None, True]}]
    await em(lambda e: e.server_side_emit("sse", *payload),
             lambda e: e.of("/admin").server_side_emit("sse", "admin", 2))
    for server in (n1, n2, py):
        ev = await wait_sse(server, "sse", "/admin")
        assert ev["args"] == ["admin", 2]
        assert sse_events(server, "sse", "/") == [payload]  # sent first, so already there
        assert sse_events(server, "sse", "/admin") == [["admin", 2]]
    assert not any(e.get("withAck") for e in n1.events + n2.events
                   if e.get("kind") == "server-side-emit")

    # --- sockets_join
    await em(lambda e: e.to("room1").sockets_join(["joined", "j2"]),
             lambda e: e.to("joined").emit("after-join"))
    await c.wait_all(["a", "b", "p", "q"], "after-join")
    for name in ("a", "b"):
        assert {"joined", "j2", "room1"} <= await node_rooms(c, name)
    for name in ("p", "q"):
        assert {"joined", "j2", "room1"} <= py_rooms(py, c, name)
    assert "joined" not in await node_rooms(c, "c")

    # --- sockets_leave (those in "joined" but not "vip")
    await em(lambda e: e.in_("joined").except_("vip").sockets_leave("joined"),
             lambda e: e.to("joined").emit("after-leave"),
             lambda e: e.to("j2").emit("after-leave-j2"))
    await c.barrier(em, "marker-1")
    c.assert_got("after-join", ["a", "b", "p", "q"], [])
    c.assert_got("after-leave", ["b", "q"], [])
    c.assert_got("after-leave-j2", ["a", "b", "p", "q"], [])
    assert "joined" not in await node_rooms(c, "a")
    assert "joined" in await node_rooms(c, "b")
    assert "joined" not in py_rooms(py, c, "p")
    assert "joined" in py_rooms(py, c, "q")
    assert "j2" in py_rooms(py, c, "p")

    # --- close=False drops one namespace, close=True the whole connection (Node and Python)
    soft = [await mux_client(n2.url, "mux_n_soft", ["soft"]),
            await mux_client(py.url, "mux_py_soft", ["soft"])]
    hard = [await mux_client(n1.url, "mux_n_hard", ["hard"]),
            await mux_client(py.url, "mux_py_hard", ["hard"])]
    await check_close_semantics(em, soft, hard)

    # --- disconnect_sockets(close=False) for "vip" only
    await em(lambda e: e.to("vip").disconnect_sockets())
    reasons = {n: await c.wait_disconnect(n) for n in ("b", "q")}
    assert reasons["b"] == "io server disconnect"
    await n2.wait_event(lambda e: e.get("kind") == "server-disconnect"
                        and e.get("sid") == c.sid["b"])
    await py.events.wait(lambda e: e.get("kind") == "server-disconnect"
                         and e.get("sid") == c.sid["q"])
    await c.barrier(em, "marker-2")
    c.assert_got("marker-2", ["a", "c", "p", "a_adm", "p_adm"])

    # --- disconnect_sockets(close=True) for everyone left, on both namespaces
    await em(lambda e: e.disconnect_sockets(close=True),
             lambda e: e.of("/admin").disconnect_sockets(True))
    for name in ("a", "c", "p", "a_adm", "p_adm"):
        reason = await c.wait_disconnect(name)
        if name in c.node:
            assert reason == "io server disconnect", (name, reason)
    for name in ("a", "c"):
        await c.node[name].wait_event(lambda e, n=name: e.get("kind") == "server-disconnect"
                                      and e.get("sid") == c.sid[n])
    await py.events.wait(lambda e: e.get("kind") == "server-disconnect"
                         and e.get("sid") == c.sid["p"])
    assert_no_node_errors(n1, n2)


# ---------------------------------------------------------------------------
# sharded: two Node peers with createShardedAdapter, each subscription mode
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
async def test_sharded_emitter_reaches_node_sharded_cluster(
    kind: str, mode: str, node_peer: Any, mux_client: Any, make_emitter: Any, key: str
) -> None:
    cfg = {"key": key, "mode": "sharded", "subscriptionMode": mode, "namespaces": NSPS}
    n1, n2 = await asyncio.gather(node_peer(cfg, name="n1"), node_peer(cfg, name="n2"))
    for peer in (n1, n2):
        for nsp in NSPS:
            await peer.call("listen", nsp=nsp, event="sse")
    c = Clients()
    await c.on_node(n1, "a", ["room1"])
    sid_d = await c.on_node(n1, "d")
    await c.on_node(n2, "b", ["room1", "vip"])
    sid_c = await c.on_node(n2, "c", ["room2"])
    await c.on_node(n1, "a_adm", ["room1"], nsp="/admin")
    await c.on_node(n2, "b_adm", nsp="/admin")
    assert len(sid_d) == len(sid_c) == 20  # what the dynamic modes rely on
    em = make_emitter(kind, sharded=True, subscription_mode=mode)

    # --- broadcasts
    binary = [b"\x00\xff", {"nested": b"\x01", "list": [b"\x02"]}]
    await em(
        lambda e: e.emit("to-all", 1, {"two": 2}),
        lambda e: e.to("room1").emit("to-room1", "x"),
        lambda e: e.to("room2").emit("to-room2"),
        lambda e: e.to("nobody").emit("to-nobody"),
        lambda e: e.to(sid_d).emit("to-sid-d", "d"),
        lambda e: e.to(sid_c).emit("to-sid-c", "c"),
        lambda e: e.to(["room1", "room2"]).emit("to-rooms"),
        lambda e: e.except_("vip").emit("except-vip"),
        lambda e: e.to("room1").except_("vip").emit("room1-except-vip"),
        lambda e: e.emit("bin", *binary),
        lambda e: e.to("room1").emit("bin-room1", b"\x03"),
        lambda e: e.emit("ünï-☃", UNICODE_TEXT, UNICODE_OBJ),
        lambda e: e.of("/admin").emit("admin-all", 2),
        lambda e: e.of("admin").to("room1").emit("admin-room1"),
        lambda e: e.to("room2").compress(False).emit("no-compress"),
    )
    await em.pipeline(
        lambda p: p.to("room1").emit("pipe-1", 1),
        lambda p: p.of("/admin").emit("pipe-2", b"\x02"),
    )
    await c.barrier(em, "marker")
    everyone = ["a", "d", "b", "c"]
    c.assert_got("to-all", everyone, [1, {"two": 2}])
    c.assert_got("to-room1", ["a", "b"], ["x"])
    c.assert_got("to-room2", ["c"], [])
    c.assert_got("to-nobody", [])
    c.assert_got("to-sid-d", ["d"], ["d"])
    c.assert_got("to-sid-c", ["c"], ["c"])
    c.assert_got("to-rooms", ["a", "b", "c"], [])
    c.assert_got("except-vip", ["a", "d", "c"], [])
    c.assert_got("room1-except-vip", ["a"], [])
    c.assert_got("bin", everyone, binary)
    c.assert_got("bin-room1", ["a", "b"], [b"\x03"])
    c.assert_got("ünï-☃", everyone, [UNICODE_TEXT, UNICODE_OBJ])
    c.assert_got("admin-all", ["a_adm", "b_adm"], [2])
    c.assert_got("admin-room1", ["a_adm"], [])
    c.assert_got("no-compress", ["c"], [])
    c.assert_got("pipe-1", ["a", "b"], [1])
    c.assert_got("pipe-2", ["a_adm", "b_adm"], [b"\x02"])

    await em(lambda e: e.volatile.emit("volatile", "v"))
    await c.wait_all(everyone, "volatile")

    # --- server_side_emit (msgpack when binary, so bytes survive)
    sse = ["x", b"\x01", {"n": b"\x02", "s": "é"}]
    await em(lambda e: e.server_side_emit("sse", *sse),
             lambda e: e.of("/admin").server_side_emit("sse", "admin"))
    for peer in (n1, n2):
        ev = await wait_sse(peer, "sse", "/admin")
        assert ev["args"] == ["admin"] and ev["withAck"] is False
        assert sse_events(peer, "sse", "/") == [sse]
        assert sse_events(peer, "sse", "/admin") == [["admin"]]

    # --- sockets_join; in the dynamic modes the peers then SSUBSCRIBE to the new room,
    # which `sync` makes sure Redis has before we emit to it
    await em(lambda e: e.to("room1").sockets_join(["joined", "j2"]))
    await c.barrier(em, "marker-join", nsps=["/"])
    await asyncio.gather(n1.call("sync"), n2.call("sync"))
    assert {"joined", "j2"} <= await node_rooms(c, "a")
    assert {"joined", "j2"} <= await node_rooms(c, "b")
    assert "joined" not in await node_rooms(c, "d")
    await em(lambda e: e.to("joined").emit("after-join"))
    await c.wait_all(["a", "b"], "after-join")

    # --- sockets_leave
    await em(lambda e: e.in_("joined").except_("vip").sockets_leave("joined"))
    await c.barrier(em, "marker-leave", nsps=["/"])
    await asyncio.gather(n1.call("sync"), n2.call("sync"))
    assert "joined" not in await node_rooms(c, "a")
    assert "j2" in await node_rooms(c, "a")
    assert "joined" in await node_rooms(c, "b")
    await em(lambda e: e.to("joined").emit("after-leave"),
             lambda e: e.to("j2").emit("after-leave-j2"))
    await c.barrier(em, "marker-2")
    c.assert_got("after-join", ["a", "b"], [])
    c.assert_got("after-leave", ["b"], [])
    c.assert_got("after-leave-j2", ["a", "b"], [])

    # --- disconnect_sockets: close=False drops one namespace, close=True the connection
    soft = [await mux_client(n1.url, "mux_soft", ["soft"])]
    hard = [await mux_client(n2.url, "mux_hard", ["hard"])]
    await check_close_semantics(em, soft, hard)
    # close=False for "vip", then close=True for the rest
    await em(lambda e: e.to("vip").disconnect_sockets())
    assert await c.wait_disconnect("b") == "io server disconnect"
    await c.barrier(em, "marker-3")
    c.assert_got("marker-3", ["a", "d", "c", "a_adm", "b_adm"])
    await em(lambda e: e.to(sid_d).disconnect_sockets(close=True))
    assert await c.wait_disconnect("d") == "io server disconnect"
    await em(lambda e: e.disconnect_sockets(True),
             lambda e: e.of("/admin").disconnect_sockets(close=True))
    for name in ("a", "c", "a_adm", "b_adm"):
        assert await c.wait_disconnect(name) == "io server disconnect", name
    assert_no_node_errors(n1, n2)


@pytest.mark.parametrize("kind", KINDS)
async def test_sharded_subscription_mode_must_match_for_single_room_emits(
    kind: str, node_peer: Any, make_emitter: Any, key: str
) -> None:
    # a dynamic cluster (key) and a static one (key2)
    key2 = f"{key}-static"
    dyn = {"key": key, "mode": "sharded", "subscriptionMode": "dynamic"}
    n1, n2, s1 = await asyncio.gather(
        node_peer(dyn, name="dyn1"), node_peer(dyn, name="dyn2"),
        node_peer({"key": key2, "mode": "sharded", "subscriptionMode": "static"}, name="st1"))
    c = Clients()
    await c.on_node(n1, "a", ["room1"])
    await c.on_node(n2, "b", ["room2"])
    await c.on_node(s1, "s", ["room1"])

    # a static emitter publishes everything on the base channel: a dynamic cluster gets it
    static_em = make_emitter(kind, sharded=True, subscription_mode="static")
    await static_em(lambda e: e.to("room1").emit("static-to-dynamic", 1),
                    lambda e: e.to("room2").emit("static-to-dynamic-2", 2))
    assert await c.wait("a", "static-to-dynamic") == [1]
    assert await c.wait("b", "static-to-dynamic-2") == [2]

    # ...but a dynamic emitter's single-room emit goes to P#/#room1#, which no static server
    # subscribes to: lost (documented limitation); its other emits use the base channel
    dyn_em = make_emitter(kind, key2, sharded=True, subscription_mode="dynamic")
    await dyn_em(lambda e: e.to("room1").emit("dynamic-to-static"),
                 lambda e: e.to(["room1", "other"]).emit("dynamic-to-static-multi"),
                 lambda e: e.emit("dynamic-to-static-all"))
    await c.wait("s", "dynamic-to-static-all")
    c.assert_got("dynamic-to-static", [])
    c.assert_got("dynamic-to-static-multi", ["s"])
    await static_em(lambda e: e.emit("marker"))
    await c.wait_all(["a", "b"], "marker")
    c.assert_got("static-to-dynamic", ["a"])
    c.assert_got("static-to-dynamic-2", ["b"])
    assert_no_node_errors(n1, n2, s1)
