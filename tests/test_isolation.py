"""Isolation (issue 7): two clusters with different keys on ONE Redis never see each
other's messages, in classic and sharded mode, including keys that are a prefix of
each other or hold a glob character (classic servers PSUBSCRIBE ``<key>#<nsp>#*``,
unescaped as Node does); and a namespace never receives another namespace's broadcasts.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import require
from tests.support.faults import sharded_pubsub_missing

CASES = [
    pytest.param(False, "2", id="classic-prefix-key"),
    pytest.param(False, "*", id="classic-glob-key"),
    pytest.param(True, "2", id="sharded-prefix-key"),
    pytest.param(True, "*", id="sharded-glob-key"),
]


def _events(client: Any) -> list[str]:
    return [e["event"] for e in client.events.items if e.get("kind") == "client"]


async def _cluster(
    py_server: Any, py_client: Any, key: str, tag: str, sharded: bool
) -> dict[str, Any]:
    s1 = await py_server(name=f"{tag}1", key=key, sharded=sharded, namespaces=("/", "/admin"))
    s2 = await py_server(name=f"{tag}2", key=key, sharded=sharded, namespaces=("/", "/admin"))
    s2.listen("who", reply=f"{tag}2")
    c1 = await py_client(s1.url, name=f"{tag}-c1", auth={"rooms": ["r"]})
    c2 = await py_client(s2.url, name=f"{tag}-c2", auth={"rooms": ["r"]})
    admin = await py_client(s2.url, name=f"{tag}-admin", nsp="/admin", auth={"rooms": ["r"]})
    return {"s1": s1, "s2": s2, "c1": c1, "c2": c2, "admin": admin, "tag": tag}


async def _traffic(c: dict[str, Any]) -> None:
    """Everything a cluster may send: to all, to a room, to a socket id, to /admin."""
    op = c["s1"].mgr.of("/")
    tag = c["tag"]
    await op.emit(f"{tag}-all", 1)
    await op.to("r").emit(f"{tag}-room", 2)
    await op.to(c["c2"].sid).emit(f"{tag}-sid", 3)
    await c["s1"].mgr.of("/admin").to("r").emit(f"{tag}-admin-room", 4)
    await c["s1"].mgr.server_side_emit("who", "no-ack")


async def _barrier(c: dict[str, Any]) -> None:
    tag = c["tag"]
    await c["s1"].mgr.of("/").emit(f"{tag}-barrier")
    await c["s1"].mgr.of("/admin").emit(f"{tag}-barrier")
    for client in (c["c1"], c["c2"], c["admin"]):
        await client.events.wait(lambda e: e.get("event") == f"{tag}-barrier")


@pytest.mark.parametrize(("sharded", "suffix"), CASES)
async def test_two_clusters_on_one_redis_are_isolated(
    sharded: bool, suffix: str, py_server: Any, py_client: Any, redis_url: str, key: str
) -> None:
    if sharded:
        require(sharded_pubsub_missing(redis_url))
    a = await _cluster(py_server, py_client, key, "A", sharded)
    b = await _cluster(py_server, py_client, key + suffix, "B", sharded)

    await _traffic(a)
    await _traffic(b)
    await _barrier(a)
    await _barrier(b)

    for c in (a, b):
        tag = c["tag"]
        assert _events(c["c1"]) == [f"{tag}-all", f"{tag}-room", f"{tag}-barrier"]
        assert _events(c["c2"]) == [f"{tag}-all", f"{tag}-room", f"{tag}-sid", f"{tag}-barrier"]
        # the /admin socket shares the connection's rooms' names, not the broadcasts
        assert _events(c["admin"]) == [f"{tag}-admin-room", f"{tag}-barrier"]
        listened = c["s2"].events.matching(lambda e: e["kind"] == "server-side-emit")
        assert [e["args"] for e in listened] == [["no-ack"]]

        mgr = c["s1"].mgr
        assert await mgr.server_count() == 2
        assert await mgr.server_count("/admin") == 2
        fetched = await mgr.of("/").timeout(3).fetch_sockets()
        assert sorted(s.id for s in fetched) == sorted([c["c1"].sid, c["c2"].sid])
        admins = await mgr.of("/admin").timeout(3).fetch_sockets()
        assert [s.id for s in admins] == [c["admin"].sid]
        assert await mgr.server_side_emit_with_ack("who", timeout=3) == [f"{tag}2"]
        if not sharded:
            rooms = await mgr.all_rooms()
            assert rooms == {"r", c["c1"].sid, c["c2"].sid}
        acks = await mgr.of("/").to("r").timeout(3).emit_with_ack("ack-me")
        assert sorted(x["client"] for x in acks) == sorted([f"{tag}-c1", f"{tag}-c2"])


@pytest.mark.parametrize("sharded", [False, True], ids=["classic", "sharded"])
async def test_namespace_never_receives_another_namespaces_broadcasts(
    sharded: bool, py_server: Any, py_client: Any, redis_url: str
) -> None:
    if sharded:
        require(sharded_pubsub_missing(redis_url))
    names = ("/", "/a", "/ab", "/a#b")
    s1 = await py_server(name="s1", sharded=sharded, namespaces=names)
    s2 = await py_server(name="s2", sharded=sharded, namespaces=names)
    clients = {
        nsp: await py_client(s2.url, name=f"c{nsp}", nsp=nsp, auth={"rooms": ["r"]})
        for nsp in names
    }
    for nsp in names:
        await s1.mgr.of(nsp).emit("all", nsp)
        await s1.mgr.of(nsp).to("r").emit("room", nsp)
    for nsp in names:
        await s1.mgr.of(nsp).emit("barrier", nsp)
    for nsp, client in clients.items():
        await client.events.wait(lambda e: e.get("event") == "barrier")
        got = [(e["event"], e["args"]) for e in client.events.items if e.get("kind") == "client"]
        assert got == [("all", [nsp]), ("room", [nsp]), ("barrier", [nsp])], nsp
