"""Tests of the test bed itself (tests/support, tests/conftest.py)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.cluster

import tests.support as support
from tests.support import PEERS_KEY, describe_testbed, require
from tests.support.redis import RedisCluster, RedisServer, free_port, redis_server_binary


def _need_redis_server() -> None:
    require(None if redis_server_binary() else "redis-server not found on PATH")


# ---------------------------------------------------------------------------
# require / CI policy
# ---------------------------------------------------------------------------
def test_require_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(support, "in_ci", lambda: True)
    with pytest.raises(pytest.fail.Exception, match="no such service"):
        require("no such service")
    require(None)  # available: no effect


def test_require_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(support, "in_ci", lambda: False)
    with pytest.raises(pytest.skip.Exception, match="no such service"):
        require("no such service")
    require(None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("TRUE", True), ("1", True), ("false", False), ("", False), (None, False)],
)
def test_in_ci_reads_env(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool
) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert support.in_ci() is expected


# ---------------------------------------------------------------------------
# ports, keys, failure report
# ---------------------------------------------------------------------------
def test_free_port_is_unique_and_never_6379() -> None:
    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == len(ports)
    assert 6379 not in ports
    bus_port = free_port(with_bus=True)
    assert bus_port + 10000 <= 65535
    assert bus_port not in ports


def test_key_fixture_is_unique_per_test(key: str) -> None:
    assert re.fullmatch(r"t-[0-9a-f]{8}", key)


def test_failure_section_lists_peers_and_servers(
    request: pytest.FixtureRequest, redis_server: RedisServer
) -> None:
    class FakePeer:
        def __repr__(self) -> str:
            return "<FakePeer p0 pid=1>"

        def stderr_tail(self) -> str:
            return "first\nboom"

    peers = request.node.stash.setdefault(PEERS_KEY, [])
    peers.append(FakePeer())
    try:
        section = describe_testbed(request.node)
    finally:
        peers.clear()
    assert section is not None
    assert "peer: <FakePeer p0 pid=1>" in section
    assert "    | boom" in section
    assert f"port={redis_server.port}" in section
    assert redis_server.url in section


# ---------------------------------------------------------------------------
# standalone servers
# ---------------------------------------------------------------------------
@pytest.mark.redis
def test_shared_server_answers_ping(redis_server: RedisServer, redis_url: str, key: str) -> None:
    assert redis_server.port != 6379
    assert redis_url == f"redis://127.0.0.1:{redis_server.port}/0"
    assert f"port={redis_server.port}" in repr(redis_server)
    assert f"pid={redis_server.pid}" in repr(redis_server)
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.ping() is True
        client.set(f"{key}:probe", "1", ex=60)
        assert client.get(f"{key}:probe") == b"1"
    finally:
        client.delete(f"{key}:probe")
        client.close()


@pytest.mark.redis
async def test_shared_server_async_client(redis_url: str, key: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        assert await client.ping() is True
        pubsub = client.pubsub()
        await pubsub.subscribe(f"{key}#/#")
        assert await client.publish(f"{key}#/#", b"x") == 1
        await pubsub.aclose()
    finally:
        await client.aclose()


@pytest.mark.redis
def test_server_restart_keeps_port() -> None:
    _need_redis_server()
    with RedisServer(name="restart") as server:
        port, pid, directory = server.port, server.pid, server.directory
        client = redis.Redis(port=port, socket_timeout=2)
        try:
            client.set("k", "v")
            server.kill()
            assert not server.running
            assert not server.ping()
            server.restart()
            assert server.running
            assert server.port == port
            assert server.pid != pid
            assert client.ping() is True  # redis-py reconnects
            assert client.get("k") is None  # nothing persisted
            # restart() of a running server stops it first
            pid = server.pid
            server.restart()
            assert server.pid != pid and server.ping()
        finally:
            client.close()
        assert "Ready to accept connections" in server.log_tail()
    assert not server.running
    assert not directory.exists()


# ---------------------------------------------------------------------------
# cluster
# ---------------------------------------------------------------------------
def _cluster_client(cluster: RedisCluster) -> redis.cluster.RedisCluster:
    return redis.cluster.RedisCluster(
        startup_nodes=[redis.cluster.ClusterNode("127.0.0.1", n.port) for n in cluster.nodes],
        socket_timeout=5,
    )


def _next_sharded_message(
    pubsub: Any, node: Any, kind: str, timeout: float = 5.0
) -> dict[str, Any]:
    # Poll the owning node only: without target_node, redis-py blocks for the
    # full timeout on every node that has nothing to say.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = pubsub.get_sharded_message(target_node=node, timeout=deadline - time.monotonic())
        if msg is not None and msg["type"] == kind:
            return dict(msg)
    raise AssertionError(f"no {kind} message within {timeout}s")


@pytest.mark.redis
def test_cluster_spublish(redis_cluster: RedisCluster, key: str) -> None:
    ports = redis_cluster.ports
    assert len(ports) == 3 and 6379 not in ports
    assert redis_cluster.seeds == ",".join(f"127.0.0.1:{p}" for p in ports)
    assert redis_cluster.url == "redis+cluster://" + redis_cluster.seeds
    for i in range(3):
        info = redis_cluster.cluster_info(i)
        assert info["cluster_state"] == "ok"
        assert info["cluster_slots_assigned"] == "16384"

    client = _cluster_client(redis_cluster)
    pubsub = client.pubsub()
    try:
        # spread over several slots (and so, most likely, several nodes)
        channels = [f"{key}#/{room}#" for room in ("a", "b", "c", "d")]
        nodes = {channel: client.get_node_from_key(channel) for channel in channels}
        for channel in channels:
            pubsub.ssubscribe(channel)
            _next_sharded_message(pubsub, nodes[channel], "ssubscribe")
        for n, channel in enumerate(channels):
            node = nodes[channel]
            numsub = client.pubsub_shardnumsub(channel, target_nodes=node)
            assert [(c.decode() if isinstance(c, bytes) else c, k) for c, k in numsub] == [
                (channel, 1)
            ]
            assert client.spublish(channel, f"hello {n}") == 1
            msg = _next_sharded_message(pubsub, node, "smessage")
            assert msg["data"] == f"hello {n}".encode()
    finally:
        pubsub.close()
        client.close()


@pytest.mark.redis
def test_cluster_node_kill_and_rejoin(redis_cluster: RedisCluster) -> None:
    redis_cluster.kill_node(2)
    assert not redis_cluster.nodes[2].running
    assert not redis_cluster.healthy()
    redis_cluster.start_node(2)  # waits for cluster_state:ok everywhere
    assert redis_cluster.healthy()
