"""Sharded mode (SPUBLISH/SSUBSCRIBE, ClusterAdapter messages) on a standalone Redis 7:
a Python and a Node sharded server in one cluster, in each subscription mode."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

MODES = ["static", "dynamic", "dynamic-private"]


def _client(name: str, event: str) -> Any:
    return lambda e: e.get("kind") == "client" and e.get("client") == name and e["event"] == event


@pytest.mark.parametrize("mode", MODES)
async def test_sharded_python_and_node(
    mode: str, py_server: Any, py_client: Any, node_peer: Any, key: str
) -> None:
    py = await py_server(name="py-sharded", sharded=True, subscription_mode=mode)
    node = await node_peer({"key": key, "mode": "sharded", "subscriptionMode": mode})
    pc = await py_client(py.url, name="pc", auth={"rooms": ["room1"], "data": {"who": "py"}})
    nc = (await node.call("connect", name="nc", auth={"rooms": ["room1"], "data": {"who": "js"}}))[
        "sid"
    ]

    assert await py.mgr.server_count() == 2
    assert await node.call("server", action="serverCount") == 2

    # room broadcast from Node reaches the Python client (room channel in dynamic modes)
    await node.call("server", rooms=["room1"], action="emit", args=["n2p", b"\x01"])
    assert (await pc.events.wait(lambda e: e["event"] == "n2p"))["args"] == [b"\x01"]
    # to one socket id (base channel in dynamic, socket-id channel in dynamic-private)
    await node.call("server", rooms=[pc.sid], action="emit", args=["direct", 1])
    assert (await pc.events.wait(lambda e: e["event"] == "direct"))["args"] == [1]

    # Python -> Node client, room and socket id
    await py.mgr.of("/").to("room1").emit("p2n", {"x": [1, 2]})
    ev = await node.wait_event(_client("nc", "p2n"))
    assert ev["args"] == [{"x": [1, 2]}]
    await py.sio.emit("p2n-direct", "hi", to=nc)
    await node.wait_event(_client("nc", "p2n-direct"))

    # fetch sockets both ways
    sockets = await py.mgr.of("/").in_("room1").fetch_sockets()
    assert {s.id for s in sockets} == {pc.sid, nc}
    assert {s.data["who"] for s in sockets} == {"py", "js"}
    node_view = await node.call("server", rooms=["room1"], action="fetchSockets")
    assert {s["id"] for s in node_view} == {pc.sid, nc}

    # broadcast with acks both ways
    acks = await py.mgr.of("/").to("room1").timeout(3).emit_with_ack("ack-me")
    assert sorted(a["client"] for a in acks) == ["nc", "pc"]
    acks = await node.call(
        "server", rooms=["room1"], flags={"timeout": 3000}, action="emitWithAck", args=["ack2"]
    )
    assert sorted(a["client"] for a in acks) == ["nc", "pc"]

    # server-side emits with acks both ways
    py.listen("who", reply="python")
    await node.call("listen", event="who", reply="node")
    assert await py.mgr.server_side_emit_with_ack("who") == ["node"]
    assert await node.call("server", action="serverSideEmitWithAck", args=["who"]) == ["python"]

    # a room created by a remote join gets its channel, then a room broadcast reaches it.
    # The join is fire-and-forget: a marker on the same (base) channel says it was applied,
    # and the manager's subscribe task says the room channel is live (Node has the same gap).
    await node.call("server", rooms=[pc.sid], action="socketsJoin", args=[["fresh"]])
    await node.call("server", action="emit", args=["marker"])
    await pc.events.wait(lambda e: e["event"] == "marker")
    assert "fresh" in py.sio.rooms(pc.sid)
    await asyncio.gather(*list(py.mgr._tasks))
    await node.call("server", rooms=["fresh"], action="emit", args=["fresh-news"])
    await pc.events.wait(lambda e: e["event"] == "fresh-news")

    # leave and disconnect from Python reach the Node socket
    await py.mgr.of("/").in_("room1").except_(pc.sid).sockets_join("vip")
    await py.mgr.of("/").emit("marker2")
    await node.wait_event(_client("nc", "marker2"))
    assert "vip" in await node.call("socket", sid=nc, action="rooms")
    await py.mgr.of("/").to(nc).disconnect_sockets(close=True)
    await node.wait_event(lambda e: e.get("kind") == "client-disconnect" and e["client"] == "nc")
