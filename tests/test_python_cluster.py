"""Three Python server processes on one Redis form one cluster (no Node involved)."""

from __future__ import annotations

import asyncio
from typing import Any


def _is(kind: str, **fields: Any) -> Any:
    return lambda e: e.get("kind") == kind and all(e.get(k) == v for k, v in fields.items())


async def test_three_python_processes(py_peer: Any) -> None:
    p1, p2, p3 = await asyncio.gather(py_peer(name="p1"), py_peer(name="p2"), py_peer(name="p3"))
    peers = (p1, p2, p3)
    sids = {}
    for i, peer in enumerate(peers, 1):
        result = await peer.call(
            "connect", name=f"c{i}", auth={"rooms": ["all", f"room{i}"], "data": {"n": i}}
        )
        sids[i] = result["sid"]

    assert [await p.call("server", action="serverCount") for p in peers] == [3, 3, 3]

    # a broadcast from each server reaches the clients of all three
    for i, sender in enumerate(peers, 1):
        await sender.call("server", rooms=["all"], action="emit", args=[f"from{i}", b"\x00\xff"])
    for peer in peers:
        for i in (1, 2, 3):
            ev = await peer.wait_event(_is("client", event=f"from{i}"))
            assert ev["args"] == [b"\x00\xff"]

    # except + one room
    await p1.call("server", rooms=["all"], **{"except": ["room2"]}, action="emit", args=["not2"])
    await p1.call("server", rooms=["room2"], action="emit", args=["only2"])
    await p2.wait_event(_is("client", event="only2"))
    await p1.wait_event(_is("client", event="not2"))
    await p3.wait_event(_is("client", event="not2"))
    assert not [e for e in p2.events if e.get("event") == "not2"]

    fetched = await p1.call("server", rooms=["all"], action="fetchSockets")
    assert {s["id"] for s in fetched} == set(sids.values())
    assert sorted(s["data"]["n"] for s in fetched) == [1, 2, 3]
    assert all(s["id"] in s["rooms"] for s in fetched)

    rooms = await p2.call("server", action="allRooms")
    assert {"all", "room1", "room2", "room3", *sids.values()} <= set(rooms)

    # remote join, then a broadcast to the new room reaches the remote socket only
    await p1.call("server", rooms=[sids[3]], action="socketsJoin", args=[["vip"]])
    assert "vip" in await p3.call("socket", sid=sids[3], action="rooms")
    await p2.call("server", rooms=["vip"], action="emit", args=["vip-only"])
    await p3.wait_event(_is("client", event="vip-only"))

    # server-side emit with acks from the two other servers
    for peer in (p2, p3):
        await peer.call("listen", event="whoami", reply=peer.name)
    replies = await p1.call("server", action="serverSideEmitWithAck", args=["whoami", 1])
    assert sorted(replies) == ["p2", "p3"]

    # broadcast with acks across the three servers
    acks = await p2.call(
        "server", rooms=["all"], flags={"timeout": 3000}, action="emitWithAck", args=["ack-me"]
    )
    assert sorted(a["client"] for a in acks) == ["c1", "c2", "c3"]

    # remote disconnect
    await p1.call("server", rooms=[sids[2]], action="disconnectSockets", args=[True])
    await p2.wait_event(_is("client-disconnect", client="c2"))
    fetched = await p3.call("server", action="fetchSockets")
    assert {s["id"] for s in fetched} == {sids[1], sids[3]}
