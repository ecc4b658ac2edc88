"""A first Python + Node cluster on one Redis: broadcast both ways."""

from __future__ import annotations

from typing import Any


async def test_python_and_node_serve_one_cluster(py_server: Any, py_client: Any, node_peer: Any,
                                                  key: str) -> None:
    py = await py_server(name="py1")
    node = await node_peer({"key": key})
    pc = await py_client(py.url, name="pc", auth={"rooms": ["room1"], "data": {"user": "ann"}})
    await node.call("connect", name="nc", auth={"rooms": ["room1"], "data": {"user": "bob"}})

    assert await py.mgr.server_count() == 2
    assert await node.call("server", action="serverCount") == 2

    # Node -> Python client
    await node.call("server", rooms=["room1"], action="emit", args=["hello", "from node", 1])
    ev = await pc.events.wait(lambda e: e["event"] == "hello")
    assert ev["args"] == ["from node", 1]

    # Python -> Node client
    await py.sio.emit("hi", ("from py", b"\x01\x02"), to="room1")
    ev = await node.wait_event(lambda e: e.get("kind") == "client" and e.get("event") == "hi")
    assert ev["args"] == ["from py", b"\x01\x02"]

    sockets = await py.mgr.of("/").in_("room1").fetch_sockets()
    assert sorted(s.handshake["auth"].get("data", {}).get("user", "?") for s in sockets) == [
        "ann", "bob"] or len(sockets) == 2
    node_view = await node.call("server", rooms=["room1"], action="fetchSockets")
    assert {s["id"] for s in node_view} == {s.id for s in sockets}
    assert {str(s["data"]) for s in node_view} == {str({"user": "ann"}), str({"user": "bob"})}
