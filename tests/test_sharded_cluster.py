"""Sharded mode on a real 3-master Redis Cluster: SSUBSCRIBE on each channel's slot
owner, one reader per node, SHARDNUMSUB summed over the nodes; three Python processes,
then Python with Node (redis@4 ``createCluster``), in each subscription mode; recovery
after a master restarts and after a slot moves.

Rooms are chosen so their channels land on different nodes. "Is the subscription live?"
is asked of Redis itself (``PUBSUB SHARDNUMSUB`` on the owner, polled with a bound),
never guessed with fixed sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from sio_emitter._connect import make_async_client
from sio_redis import AsyncRedisManager
from sio_redis._aio_cluster import AsyncClusterTransport
from sio_redis._wire import Subscriptions
from tests.support.redis import RedisCluster

MODES = ["static", "dynamic", "dynamic-private"]


# --- the cluster seen from the test ---


@contextlib.contextmanager
def _node(cluster: RedisCluster, i: int) -> Iterator[redis.Redis]:
    client = redis.Redis(port=cluster.ports[i], socket_timeout=2)
    try:
        yield client
    finally:
        client.close()


def _owner(cluster: RedisCluster, channel: str) -> int:
    """Index of the master owning ``channel``'s slot (asked of a running node)."""
    slot = key_slot(channel.encode())
    for i, server in enumerate(cluster.nodes):
        if not server.running:
            continue
        with _node(cluster, i) as client:
            for start, end, primary, *_ in client.execute_command("CLUSTER SLOTS"):
                if start <= slot <= end:
                    return cluster.ports.index(int(primary[1]))
    raise AssertionError(f"no node owns slot {slot}")


def _shard_subscribers(cluster: RedisCluster, channel: str) -> int:
    with _node(cluster, _owner(cluster, channel)) as client:
        _, count = client.execute_command("PUBSUB", "SHARDNUMSUB", channel)
    return int(count)


def _sum_over_nodes(cluster: RedisCluster, *command: str) -> int:
    total = 0
    for i in range(len(cluster.nodes)):
        with _node(cluster, i) as client:
            reply = client.execute_command(*command)
        total += len(reply) if command[1] == "SHARDCHANNELS" else int(reply[1])
    return total


async def _servers_joined(cluster: RedisCluster, key: str, n: int, sharded: bool = True) -> None:
    """Wait until ``n`` servers have their subscriptions live: the Node harness on a
    cluster only sleeps 100 ms before saying it is ready."""
    if sharded:
        # the base channel, and one response channel (``P#N#<16 hex>#``) per server
        responses = f"{key}#/#{'?' * 16}#"
        await _until(
            lambda: (
                _shard_subscribers(cluster, f"{key}#/#") == n
                and _sum_over_nodes(cluster, "PUBSUB", "SHARDCHANNELS", responses) == n
            ),
            f"{n} sharded servers",
        )
    else:
        request = f"{key}-request#/#"
        await _until(
            lambda: _sum_over_nodes(cluster, "PUBSUB", "NUMSUB", request) == n,
            f"{n} classic servers",
        )


def _rooms_by_node(cluster: RedisCluster, key: str, prefix: str = "r") -> list[str]:
    """One room per master, ``rooms[i]``'s channel owned by node ``i``."""
    rooms: dict[int, str] = {}
    for n in itertools.count():
        room = f"{prefix}{n}"
        rooms.setdefault(_owner(cluster, f"{key}#/#{room}#"), room)
        if len(rooms) == len(cluster.nodes):
            return [rooms[i] for i in range(len(cluster.nodes))]
    raise AssertionError("unreachable")


async def _until(cond: Callable[[], Any], what: str, timeout: float = 10.0) -> None:
    """Wait (bounded) until ``cond()`` is true, checking every 20 ms."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


async def _room_channel_live(
    cluster: RedisCluster, key: str, room: str, mode: str, subscribers: int
) -> None:
    """In the dynamic modes a room's channel gets one subscriber per server holding the
    room; wait for that (static mode has no room channels)."""
    if mode != "static":
        channel = f"{key}#/#{room}#"
        await _until(
            lambda: _shard_subscribers(cluster, channel) == subscribers,
            f"{subscribers} subscriber(s) on {channel}",
        )


async def _until_rooms(peer: Any, sid: str, cond: Callable[[list[str]], bool]) -> None:
    """Remote joins/leaves are fire-and-forget: wait until the socket's server applied it."""
    deadline = time.monotonic() + 10
    while not cond(await peer.call("socket", sid=sid, action="rooms")):
        if time.monotonic() > deadline:
            raise TimeoutError(f"rooms of {sid} on {peer.name} did not change")
        await asyncio.sleep(0.02)


def _is(kind: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("kind") == kind and all(e.get(k) == v for k, v in fields.items())


# --- the transport on its own ---


async def test_transport_subscribes_each_channel_on_its_owner(
    redis_cluster: RedisCluster, key: str
) -> None:
    """Channels of many slots: one SSUBSCRIBE each on its owner, one connection (and
    reader) per node, every node's messages delivered; idle node connections closed."""
    client = make_async_client(redis_cluster.url)
    mgr = AsyncRedisManager(client, key=key, sharded=True)  # an existing client is used as is
    transport = mgr.transport
    assert isinstance(transport, AsyncClusterTransport)
    channels = [f"{key}#c{i}#" for i in range(30)]
    assert {_owner(redis_cluster, c) for c in channels} == {0, 1, 2}
    received: dict[str, bytes] = {}

    async def consume() -> None:
        async for channel, payload, _ in transport.messages():
            received[channel] = payload

    reader = asyncio.create_task(consume())
    try:
        await transport.subscribe(Subscriptions(shard_channels=tuple(channels)), confirm=True)
        assert all(_shard_subscribers(redis_cluster, c) == 1 for c in channels)
        assert sorted(transport._links) == sorted(n.address for n in redis_cluster.nodes)
        assert transport.connected
        assert await transport.count("SHARDNUMSUB", channels[0]) == 1
        for channel in channels:
            await client.spublish(channel, channel.encode())
        await _until(lambda: len(received) == len(channels), "a message on every channel")
        assert all(received[c] == c.encode() for c in channels)

        keep = channels[0]
        await transport.unsubscribe(Subscriptions(shard_channels=tuple(channels[1:])))
        await _until(
            lambda: all(_shard_subscribers(redis_cluster, c) == 0 for c in channels[1:]),
            "the unsubscriptions",
        )
        assert list(transport._links) == [redis_cluster.nodes[_owner(redis_cluster, keep)].address]
        assert _shard_subscribers(redis_cluster, keep) == 1
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await mgr.close()
    assert _shard_subscribers(redis_cluster, channels[0]) == 0
    assert await client.ping()  # not the manager's client: left open
    await client.aclose()


# --- three Python processes ---


@pytest.mark.parametrize("mode", MODES)
async def test_python_servers_on_redis_cluster(
    mode: str, redis_cluster: RedisCluster, py_peer: Any, key: str
) -> None:
    cfg = {"redisUrl": redis_cluster.url, "mode": "sharded", "subscriptionMode": mode}
    peers = await asyncio.gather(*(py_peer(cfg, name=f"p{i}") for i in (1, 2, 3)))
    p1, p2, p3 = peers
    rooms = _rooms_by_node(redis_cluster, key)  # rooms[i] lives on node i
    sids = {}
    for i, peer in enumerate(peers, 1):
        auth = {"rooms": ["all", rooms[i - 1]], "data": {"n": i}}
        sids[i] = (await peer.call("connect", name=f"c{i}", auth=auth))["sid"]
    for room in rooms:
        await _room_channel_live(redis_cluster, key, room, mode, 1)

    assert [await p.call("server", action="serverCount") for p in peers] == [3, 3, 3]

    # everyone, from every server, binary intact
    for i, sender in enumerate(peers, 1):
        await sender.call("server", action="emit", args=[f"all{i}", b"\x00\xff", {"i": i}])
    for peer in peers:
        for i in (1, 2, 3):
            ev = await peer.wait_event(_is("client", event=f"all{i}"))
            assert ev["args"] == [b"\x00\xff", {"i": i}]

    # a room on each node, each sent from a server that does not hold it
    for i in range(3):
        sender = peers[(i + 1) % 3]
        await sender.call("server", rooms=[rooms[i]], action="emit", args=[f"room-{i}", i])
    for i in range(3):
        ev = await peers[i].wait_event(_is("client", event=f"room-{i}"))
        assert ev["client"] == f"c{i + 1}" and ev["args"] == [i]

    # one socket id, and except
    await p1.call("server", rooms=[sids[3]], action="emit", args=["direct", b"\x01"])
    assert (await p3.wait_event(_is("client", event="direct")))["args"] == [b"\x01"]
    await p2.call("server", rooms=["all"], **{"except": [rooms[0]]}, action="emit", args=["not1"])
    await p2.call("server", rooms=["all"], action="emit", args=["after-not1"])
    for peer in peers:
        await peer.wait_event(_is("client", event="after-not1"))
    assert [e["client"] for p in peers for e in p.events if e.get("event") == "not1"] == [
        "c2",
        "c3",
    ]

    fetched = await p3.call("server", rooms=["all"], action="fetchSockets")
    assert {s["id"] for s in fetched} == set(sids.values())
    assert sorted(s["data"]["n"] for s in fetched) == [1, 2, 3]

    # remote join into a room whose channel is on another node, then a broadcast to it
    vip = _rooms_by_node(redis_cluster, key, prefix="vip")[2]
    await p1.call("server", rooms=[sids[2]], action="socketsJoin", args=[[vip]])
    await _until_rooms(p2, sids[2], lambda rooms_: vip in rooms_)
    await _room_channel_live(redis_cluster, key, vip, mode, 1)
    await p3.call("server", rooms=[vip], action="emit", args=["vip-news"])
    assert (await p2.wait_event(_is("client", event="vip-news")))["client"] == "c2"
    await p3.call("server", rooms=[vip], action="socketsLeave", args=[[vip]])
    await _until_rooms(p2, sids[2], lambda rooms_: vip not in rooms_)
    await _room_channel_live(redis_cluster, key, vip, mode, 0)

    for peer in (p2, p3):
        await peer.call("listen", event="whoami", reply=peer.name)
    replies = await p1.call("server", action="serverSideEmitWithAck", args=["whoami", 1])
    assert sorted(replies) == ["p2", "p3"]

    acks = await p2.call(
        "server", rooms=["all"], flags={"timeout": 3000}, action="emitWithAck", args=["ack-me"]
    )
    assert sorted(a["client"] for a in acks) == ["c1", "c2", "c3"]

    await p1.call("server", rooms=[sids[3]], action="disconnectSockets", args=[True])
    await p3.wait_event(_is("client-disconnect", client="c3"))
    fetched = await p2.call("server", action="fetchSockets")
    assert {s["id"] for s in fetched} == {sids[1], sids[2]}


# --- Python and Node ---


@pytest.mark.parametrize("mode", MODES)
async def test_python_and_node_on_redis_cluster(
    mode: str, redis_cluster: RedisCluster, py_server: Any, py_client: Any, node_peer: Any, key: str
) -> None:
    py = await py_server(
        name="py", redis_url=redis_cluster.url, sharded=True, subscription_mode=mode
    )
    node = await node_peer(
        {
            "key": key,
            "mode": "sharded",
            "subscriptionMode": mode,
            "clusterNodes": redis_cluster.seeds.split(","),
        }
    )
    await _servers_joined(redis_cluster, key, 2)
    ra, rb, rc = _rooms_by_node(redis_cluster, key)  # one channel on each node
    pc = await py_client(py.url, name="pc", auth={"rooms": [ra, rc], "data": {"who": "py"}})
    nc = (await node.call("connect", name="nc", auth={"rooms": [rb, rc], "data": {"who": "js"}}))[
        "sid"
    ]
    await _room_channel_live(redis_cluster, key, ra, mode, 1)
    await _room_channel_live(redis_cluster, key, rb, mode, 1)
    await _room_channel_live(redis_cluster, key, rc, mode, 2)

    assert await py.mgr.server_count() == 2
    assert await node.call("server", action="serverCount") == 2

    def js(event: str) -> Callable[[dict[str, Any]], bool]:
        return _is("client", client="nc", event=event)

    def pe(event: str) -> Callable[[dict[str, Any]], bool]:
        return lambda e: e["event"] == event

    # Node -> Python: a room on one node, a room both hold on another, a socket id, binary
    await node.call("server", rooms=[ra], action="emit", args=["n-ra", b"\x01\x02"])
    assert (await pc.events.wait(pe("n-ra")))["args"] == [b"\x01\x02"]
    await node.call("server", rooms=[rc], action="emit", args=["n-rc", {"b": b"\xff"}])
    assert (await pc.events.wait(pe("n-rc")))["args"] == [{"b": b"\xff"}]
    await node.wait_event(js("n-rc"))
    await node.call("server", rooms=[pc.sid], action="emit", args=["n-direct", 1])
    assert (await pc.events.wait(pe("n-direct")))["args"] == [1]
    # Python -> Node, the same
    await py.mgr.of("/").to(rb).emit("p-rb", b"\x03")
    assert (await node.wait_event(js("p-rb")))["args"] == [b"\x03"]
    await py.sio.emit("p-direct", "hi", to=nc)
    await node.wait_event(js("p-direct"))
    await py.mgr.of("/").to(rc).emit("p-rc", [1, 2])
    await node.wait_event(js("p-rc"))
    await pc.events.wait(pe("p-rc"))

    # except, both ways; a later broadcast on the same (base) channel says what arrived
    await node.call("server", **{"except": [rb]}, action="emit", args=["n-not-rb"])
    await node.call("server", action="emit", args=["n-after"])
    await pc.events.wait(pe("n-not-rb"))
    await node.wait_event(js("n-after"))
    assert not [e for e in node.events if e.get("event") == "n-not-rb"]
    await py.mgr.of("/").except_(ra).emit("p-not-ra")
    await py.mgr.of("/").emit("p-after")
    await node.wait_event(js("p-not-ra"))
    await pc.events.wait(pe("p-after"))
    assert not pc.events.matching(pe("p-not-ra"))

    # fetch sockets both ways
    sockets = await py.mgr.of("/").in_(rc).fetch_sockets()
    assert {s.id for s in sockets} == {pc.sid, nc}
    assert {s.data["who"] for s in sockets} == {"py", "js"}
    node_view = await node.call("server", rooms=[rc], action="fetchSockets")
    assert {s["id"] for s in node_view} == {pc.sid, nc}

    # broadcast with acks both ways
    acks = await py.mgr.of("/").to(rc).timeout(3).emit_with_ack("ack-me")
    assert sorted(a["client"] for a in acks) == ["nc", "pc"]
    acks = await node.call(
        "server", rooms=[rc], flags={"timeout": 3000}, action="emitWithAck", args=["ack2"]
    )
    assert sorted(a["client"] for a in acks) == ["nc", "pc"]

    # server-side emits with acks both ways
    py.listen("who", reply="python")
    await node.call("listen", event="who", reply="node")
    assert await py.mgr.server_side_emit_with_ack("who") == ["node"]
    assert await node.call("server", action="serverSideEmitWithAck", args=["who"]) == ["python"]

    # joins both ways into rooms on other nodes, then broadcasts to them
    fresh, vip, _ = _rooms_by_node(redis_cluster, key, prefix="join")
    await node.call("server", rooms=[pc.sid], action="socketsJoin", args=[[fresh]])
    await _until(lambda: fresh in py.sio.rooms(pc.sid), "the remote join on Python")
    await _room_channel_live(redis_cluster, key, fresh, mode, 1)
    await node.call("server", rooms=[fresh], action="emit", args=["fresh-news"])
    await pc.events.wait(pe("fresh-news"))
    await py.mgr.of("/").in_(rb).sockets_join(vip)
    await _until_rooms(node, nc, lambda rooms: vip in rooms)
    await _room_channel_live(redis_cluster, key, vip, mode, 1)
    await py.mgr.of("/").to(vip).emit("vip-news")
    await node.wait_event(js("vip-news"))

    # leaves both ways
    await py.mgr.of("/").in_(vip).sockets_leave(vip)
    await _until_rooms(node, nc, lambda rooms: vip not in rooms)
    await node.call("server", rooms=[fresh], action="socketsLeave", args=[[fresh]])
    await _until(lambda: fresh not in py.sio.rooms(pc.sid), "the remote leave on Python")
    await _room_channel_live(redis_cluster, key, fresh, mode, 0)
    await _room_channel_live(redis_cluster, key, vip, mode, 0)

    # disconnects both ways
    await node.call("server", rooms=[pc.sid], action="disconnectSockets", args=[True])
    await pc.events.wait(lambda e: e["kind"] == "client-disconnect")
    await py.mgr.of("/").to(nc).disconnect_sockets(close=True)
    await node.wait_event(_is("client-disconnect", client="nc"))


# --- recovery ---


class _Ticker:
    """Broadcasts ``event`` with a counter to ``room`` every 20 ms until stopped; failures
    (the room's node is down) are counted, not raised."""

    def __init__(self, server: Any, room: str, event: str) -> None:
        self.server, self.room, self.event = server, room, event
        self.sent = 0
        self.failures = 0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            n = self.sent + 1
            try:
                await self.server.mgr.of("/").to(self.room).emit(self.event, n)
                self.sent = n
            except Exception:
                self.failures += 1
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def _received_after(event: str, n: int) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["event"] == event and e["args"][0] > n


async def test_master_restart_resumes_room_broadcasts(
    redis_cluster: RedisCluster, py_server: Any, py_client: Any, key: str
) -> None:
    base_owner = _owner(redis_cluster, f"{key}#/#")
    rooms = _rooms_by_node(redis_cluster, key)
    down = next(i for i in range(3) if i != base_owner)  # keep the base channel up
    room_down, room_up = rooms[down], rooms[base_owner]
    options = {"redis_url": redis_cluster.url, "sharded": True, "subscription_mode": "dynamic"}
    a = await py_server(name="a", **options)
    b = await py_server(name="b", **options)
    await py_client(a.url, name="ca", auth={"rooms": [room_down, room_up]})
    cb = await py_client(b.url, name="cb", auth={"rooms": [room_down, room_up]})
    await _room_channel_live(redis_cluster, key, room_down, "dynamic", 2)
    await _room_channel_live(redis_cluster, key, room_up, "dynamic", 2)

    tickers = [_Ticker(a, room_down, "tick-down"), _Ticker(a, room_up, "tick-up")]
    try:
        await cb.events.wait(_received_after("tick-down", 0))
        await cb.events.wait(_received_after("tick-up", 0))

        redis_cluster.kill_node(down)
        await _until(lambda: not b.mgr.healthy, "b to notice the lost node")
        # the other node's room keeps flowing while one master is down (40 more ticks,
        # ~1 s, long enough for the links to the dead node to retry and fail)
        seen_down = len(cb.events.matching(lambda e: e["event"] == "tick-down"))
        await cb.events.wait(_received_after("tick-up", tickers[1].sent + 40), timeout=15)
        assert len(cb.events.matching(lambda e: e["event"] == "tick-down")) == seen_down

        await asyncio.to_thread(redis_cluster.start_node, down)  # waits for cluster_state:ok
        resumed_from = tickers[0].sent
        await cb.events.wait(_received_after("tick-down", resumed_from), timeout=20)
        await _until(lambda: a.mgr.healthy and b.mgr.healthy, "both managers healthy")
    finally:
        for ticker in tickers:
            await ticker.stop()
        if not redis_cluster.nodes[down].running:
            await asyncio.to_thread(redis_cluster.start_node, down)
    assert await a.mgr.server_count() == 2
    assert await b.mgr.server_count() == 2
    await _room_channel_live(redis_cluster, key, room_down, "dynamic", 2)


def _move_slot(cluster: RedisCluster, slot: int, src: int, dst: int) -> None:
    """Reassign an empty ``slot`` from node ``src`` to ``dst`` (the documented
    IMPORTING/MIGRATING/NODE sequence, with no keys to migrate)."""
    ids = []
    for i in (src, dst):
        with _node(cluster, i) as client:
            ids.append(client.execute_command("CLUSTER", "MYID").decode())
    src_id, dst_id = ids
    with _node(cluster, dst) as d, _node(cluster, src) as s:
        d.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
        s.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
        d.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
        s.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)


def _agreed_owner(cluster: RedisCluster, channel: str) -> int | None:
    """The owner every node reports for ``channel``'s slot, or None while they disagree."""
    slot = key_slot(channel.encode())
    owners = set()
    for i in range(len(cluster.nodes)):
        with _node(cluster, i) as client:
            for start, end, primary, *_ in client.execute_command("CLUSTER SLOTS"):
                if start <= slot <= end:
                    owners.add(cluster.ports.index(int(primary[1])))
    return owners.pop() if len(owners) == 1 else None


async def test_slot_move_resubscribes_on_the_new_owner(
    redis_cluster: RedisCluster, py_server: Any, py_client: Any, key: str
) -> None:
    room = _rooms_by_node(redis_cluster, key, prefix="moving")[0]
    channel = f"{key}#/#{room}#"
    slot = key_slot(channel.encode())
    options = {"redis_url": redis_cluster.url, "sharded": True, "subscription_mode": "dynamic"}
    a = await py_server(name="a", **options)
    b = await py_server(name="b", **options)
    await py_client(a.url, name="ca", auth={"rooms": [room]})
    cb = await py_client(b.url, name="cb", auth={"rooms": [room]})
    await _room_channel_live(redis_cluster, key, room, "dynamic", 2)

    _move_slot(redis_cluster, slot, 0, 1)
    try:
        await _until(lambda: _agreed_owner(redis_cluster, channel) == 1, "the slot to move")
        # node 0 dropped both subscribers (unasked SUNSUBSCRIBE); they are back on node 1
        await _room_channel_live(redis_cluster, key, room, "dynamic", 2)
        await a.mgr.of("/").to(room).emit("after-move", 1)
        await cb.events.wait(lambda e: e["event"] == "after-move")
    finally:
        _move_slot(redis_cluster, slot, 1, 0)
        await _until(lambda: _agreed_owner(redis_cluster, channel) == 0, "the slot to move back")
    await _room_channel_live(redis_cluster, key, room, "dynamic", 2)
    await a.mgr.of("/").to(room).emit("after-move-back", 2)
    await cb.events.wait(lambda e: e["event"] == "after-move-back")
    assert await a.mgr.server_count() == 2


# --- classic mode on a cluster client ---


async def test_classic_mode_on_redis_cluster(
    redis_cluster: RedisCluster, py_server: Any, py_client: Any, node_peer: Any, key: str
) -> None:
    """PUBLISH/PSUBSCRIBE work from any node of a cluster (Redis forwards them); the
    server count is NUMSUB summed over the nodes, as Node counts."""
    py = await py_server(name="py", redis_url=redis_cluster.url)
    node = await node_peer({"key": key, "clusterNodes": redis_cluster.seeds.split(",")})
    await _servers_joined(redis_cluster, key, 2, sharded=False)
    pc = await py_client(py.url, name="pc", auth={"rooms": ["room1"], "data": {"who": "py"}})
    await node.call("connect", name="nc", auth={"rooms": ["room1"], "data": {"who": "js"}})

    assert await py.mgr.server_count() == 2
    assert await node.call("server", action="serverCount") == 2
    await node.call("server", rooms=["room1"], action="emit", args=["n2p", b"\x01"])
    assert (await pc.events.wait(lambda e: e["event"] == "n2p"))["args"] == [b"\x01"]
    await py.mgr.of("/").to("room1").emit("p2n", b"\x02")
    ev = await node.wait_event(_is("client", client="nc", event="p2n"))
    assert ev["args"] == [b"\x02"]
    sockets = await py.mgr.of("/").in_("room1").fetch_sockets()
    assert {s.data["who"] for s in sockets} == {"py", "js"}
    assert len(await node.call("server", rooms=["room1"], action="fetchSockets")) == 2


# --- the emitter against the cluster ---


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("mode", ["static", "dynamic"])
async def test_sharded_emitter_on_redis_cluster(
    flavour: str,
    mode: str,
    redis_cluster: RedisCluster,
    py_server: Any,
    py_client: Any,
    node_peer: Any,
    key: str,
) -> None:
    from sio_emitter import AsyncEmitter, Emitter

    py = await py_server(
        name="py", redis_url=redis_cluster.url, sharded=True, subscription_mode=mode
    )
    node = await node_peer(
        {
            "key": key,
            "mode": "sharded",
            "subscriptionMode": mode,
            "clusterNodes": redis_cluster.seeds.split(","),
        }
    )
    await _servers_joined(redis_cluster, key, 2)
    ra, rb, _ = _rooms_by_node(redis_cluster, key)
    pc = await py_client(py.url, name="pc", auth={"rooms": [ra]})
    nc = (await node.call("connect", name="nc", auth={"rooms": [rb]}))["sid"]
    await _room_channel_live(redis_cluster, key, ra, mode, 1)
    await _room_channel_live(redis_cluster, key, rb, mode, 1)

    if flavour == "sync":
        sync = Emitter.from_url(redis_cluster.url, key, sharded=True, subscription_mode=mode)

        async def send(method: str, *args: Any, to: str | None = None) -> None:
            target = sync.to(to) if to else sync
            await asyncio.to_thread(getattr(target, method), *args)

        close: Any = sync.close
    else:
        aemitter = AsyncEmitter.from_url(
            redis_cluster.url, key, sharded=True, subscription_mode=mode
        )

        async def send(method: str, *args: Any, to: str | None = None) -> None:
            target = aemitter.to(to) if to else aemitter
            await getattr(target, method)(*args)

        close = aemitter.aclose
    try:
        await send("emit", "to-py-room", b"\x01", to=ra)  # a room channel on one node
        await send("emit", "to-node-room", {"n": 1}, to=rb)  # and on another
        await send("emit", "to-all", "x")
        ev = await pc.events.wait(lambda e: e["event"] == "to-py-room")
        assert ev["args"] == [b"\x01"]
        ev = await node.wait_event(_is("client", client="nc", event="to-node-room"))
        assert ev["args"] == [{"n": 1}]
        await pc.events.wait(lambda e: e["event"] == "to-all")
        await node.wait_event(_is("client", client="nc", event="to-all"))

        py.listen("cron", reply=None)
        await node.call("listen", event="cron")
        await send("server_side_emit", "cron", 42)
        await py.events.wait(lambda e: e.get("kind") == "server-side-emit" and e["args"] == [42])
        await node.wait_event(_is("server-side-emit", event="cron"))

        await send("sockets_join", "joined", to=nc)
        await send("emit", "marker", to=nc)
        await node.wait_event(_is("client", client="nc", event="marker"))
        assert "joined" in await node.call("socket", sid=nc, action="rooms")
    finally:
        result = close()
        if asyncio.iscoroutine(result):
            await result


# --- the sync manager against the cluster ---


async def test_sync_manager_on_redis_cluster(
    redis_cluster: RedisCluster, node_peer: Any, key: str
) -> None:
    """RedisManager on a cluster URL runs the same cluster transport (on a private event
    loop thread): room channels on their owners, counts, requests both ways."""
    import socketio

    from sio_redis import RedisManager

    def make() -> RedisManager:
        mgr = RedisManager(redis_cluster.url, key=key, sharded=True)
        socketio.Server(client_manager=mgr, async_mode="threading")
        return mgr

    mgr = await asyncio.to_thread(make)
    node = await node_peer(
        {"key": key, "mode": "sharded", "clusterNodes": redis_cluster.seeds.split(",")}
    )
    try:
        await _servers_joined(redis_cluster, key, 2)
        ra, rb, _ = _rooms_by_node(redis_cluster, key)
        delivered: list[Any] = []
        mgr._deliver_local = lambda nsp, data, opts: delivered.append((opts.rooms, data))  # type: ignore[method-assign]

        def join_locally() -> None:
            sid = mgr.connect("eio-1", "/")  # a socket of this server, without a client
            mgr.enter_room(sid, "/", ra)
            mgr.enter_room(sid, "/", rb)

        await asyncio.to_thread(join_locally)
        await _room_channel_live(redis_cluster, key, ra, "dynamic", 1)
        await _room_channel_live(redis_cluster, key, rb, "dynamic", 1)
        assert await asyncio.to_thread(mgr.server_count) == 2
        assert await node.call("server", action="serverCount") == 2

        await node.call("server", rooms=[ra], action="emit", args=["to-a", 1])
        await node.call("server", rooms=[rb], action="emit", args=["to-b", 2])
        await _until(lambda: len(delivered) == 2, "room broadcasts from Node")
        assert sorted(d for _, d in delivered) == [["to-a", 1], ["to-b", 2]]

        await node.call("listen", event="ping", reply={"pong": True})
        replies = await asyncio.to_thread(mgr.server_side_emit_with_ack, "ping", 1)
        assert replies == [{"pong": True}]
        await node.call("connect", name="nc", auth={"rooms": [ra]})
        sockets = await asyncio.to_thread(lambda: mgr.of("/").in_(ra).fetch_sockets())
        assert len(sockets) == 2  # the local one and Node's client
    finally:
        await asyncio.to_thread(mgr.close)
    assert not any(t.name == "sio-redis cluster loop" for t in threading.enumerate())
