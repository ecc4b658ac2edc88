"""Secure connections (issue #7): TLS (``rediss://``), ACL users, Redis Sentinel, and
passwords kept out of logs and error messages.

Each kind of Redis is a session fixture started by the test bed (tests/support/redis.py):
a TLS-only server with a throw-away CA (tests/support/tls.py), a server whose only user
is an ACL user, and a master + replica watched by one Sentinel. The emitters
(``Emitter``, ``AsyncEmitter``) and the adapter (``AsyncRedisManager`` inside real
``socketio.AsyncServer``s, with a Socket.IO client) are checked end to end over each.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import redis.exceptions
import socketio
from redis.backoff import NoBackoff
from redis.retry import Retry

from sio_emitter import AsyncEmitter, Emitter, RedisUnavailableError
from sio_emitter._connect import (
    make_async_client,
    make_sync_client,
    redact_url,
    url_secrets,
)
from sio_emitter.cli import main as sio_emit
from sio_redis import AsyncRedisManager
from tests.support import require
from tests.support.redis import (
    RedisError,
    RedisSentinel,
    RedisServer,
    TlsFiles,
    free_port,
    redis_server_binary,
)
from tests.support.tls import cryptography_missing, make_tls_files

pytestmark = pytest.mark.redis

# Made at run time, so that no source line a traceback quotes can contain them.
ACL_USER = "sio-app"
ACL_PASSWORD = f"acl-{secrets.token_hex(8)}"
SENTINEL_DATA_PASSWORD = f"data-{secrets.token_hex(8)}"
WRONG_PASSWORD = f"wrong-{secrets.token_hex(8)}"
SERVICE = "sio-primary"


def _need_redis_server() -> None:
    require(None if redis_server_binary() else "redis-server not found on PATH")


# ---------------------------------------------------------------------------
# Servers (session-scoped; a failing test's report lists them with their logs)
# ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A throw-away CA, a server certificate for 127.0.0.1 and a client certificate."""
    require(cryptography_missing())
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def _start_tls(server: RedisServer) -> RedisServer:
    try:
        return server.start()
    except RedisError as e:
        log = server.log_tail(10)
        if "tls" in log.lower() and "support" in log.lower():
            # A redis-server built without TLS: skip locally, fail under CI.
            server.stop()
            require(f"redis-server was built without TLS support: {log}")
        raise e


@pytest.fixture(scope="session")
def tls_redis(tls_files: TlsFiles) -> Iterator[RedisServer]:
    """TLS only (``--port 0 --tls-port``); no client certificate asked for."""
    _need_redis_server()
    server = _start_tls(RedisServer(name="tls", tls=tls_files))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mtls_redis(tls_files: TlsFiles) -> Iterator[RedisServer]:
    """TLS only, and every client must present a certificate signed by the test CA."""
    _need_redis_server()
    server = _start_tls(RedisServer(name="mtls", tls=tls_files, tls_auth_clients="yes"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def acl_redis() -> Iterator[RedisServer]:
    """Only the ACL user ``sio-app`` can log in (``user default off``)."""
    _need_redis_server()
    server = RedisServer(name="acl", username=ACL_USER, password=ACL_PASSWORD).start()
    try:
        yield server
    finally:
        server.stop()


def _data_node(name: str, replica_of: RedisServer | None = None) -> RedisServer:
    args = ["--masterauth", SENTINEL_DATA_PASSWORD, "--repl-diskless-sync-delay", "0"]
    if replica_of is not None:
        args += ["--replicaof", "127.0.0.1", str(replica_of.port)]
    return RedisServer(extra_args=args, name=name, password=SENTINEL_DATA_PASSWORD)


@pytest.fixture(scope="session")
def sentinel_node1() -> Iterator[RedisServer]:
    """The first master of the Sentinel set (requirepass); a replica after a failover."""
    _need_redis_server()
    server = _data_node("sentinel-node1").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sentinel_node2(sentinel_node1: RedisServer) -> Iterator[RedisServer]:
    """The first replica of the Sentinel set."""
    server = _data_node("sentinel-node2", replica_of=sentinel_node1).start()
    try:
        yield server
    finally:
        server.stop()


def _wait(what: str, cond: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


async def eventually(
    what: str, cond: Callable[[], Any], timeout: float = 20.0, every: float = 0.05
) -> Any:
    """Poll ``cond`` (sync or async) until it returns something truthy, or fail."""
    deadline = time.monotonic() + timeout
    while True:
        result = cond()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(every)


def _replication_online(master: RedisServer) -> bool:
    try:
        info = master.command("INFO", "replication").decode(errors="replace")
    except (OSError, RedisError):
        return False
    return "role:master" in info and "connected_slaves:1" in info and "state=online" in info


@pytest.fixture(scope="session")
def redis_sentinel(
    sentinel_node1: RedisServer, sentinel_node2: RedisServer
) -> Iterator[RedisSentinel]:
    """One Sentinel watching node1 (master) and node2 (replica) as ``sio-primary``;
    a master down for 1 s is failed over."""
    _wait("the replica to be in sync", lambda: _replication_online(sentinel_node1))
    sentinel = RedisSentinel(sentinel_node1, service=SERVICE, name="sentinel").start()
    try:
        _wait("the Sentinel to know the replica", lambda: sentinel.replica_count() >= 1)
        yield sentinel
    finally:
        sentinel.stop()


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
async def _round_trip(
    py_server: Any,
    py_client: Any,
    key: str,
    servers: list[dict[str, Any]],
    emitter_urls: list[tuple[str, dict[str, Any]]],
    tag: str,
) -> list[Any]:
    """Two Python servers (options per entry of ``servers``) with a client each: both
    managers count each other, each server's broadcast reaches the other's client, and
    a message from each emitter reaches the first one's client."""
    started = [await py_server(name=f"{tag}-{i}", **opts) for i, opts in enumerate(servers)]
    a, b = started
    client = await py_client(a.url, name=f"{tag}-client", auth={"rooms": ["secure"]})
    client_b = await py_client(b.url, name=f"{tag}-client-b", auth={"rooms": ["secure-b"]})
    assert await a.mgr.server_count() == 2
    assert await b.mgr.server_count() == 2

    await b.sio.emit("from-b", {"via": tag}, to="secure")
    ev = await client.events.wait(lambda e: e["event"] == "from-b")
    assert ev["args"] == [{"via": tag}]
    await a.sio.emit("from-a", {"via": tag}, to="secure-b")
    ev = await client_b.events.wait(lambda e: e["event"] == "from-a")
    assert ev["args"] == [{"via": tag}]

    for n, (url, options) in enumerate(emitter_urls):
        sync_emitter = Emitter.from_url(url, key=key, **options)
        try:
            sync_emitter.to("secure").emit("from-sync-emitter", n)
        finally:
            sync_emitter.close()
        ev = await client.events.wait(
            lambda e, n=n: e["event"] == "from-sync-emitter" and e["args"] == [n]
        )
        async_emitter = AsyncEmitter.from_url(url, key=key, **options)
        try:
            await async_emitter.to("secure").emit("from-async-emitter", n)
        finally:
            await async_emitter.aclose()
        ev = await client.events.wait(
            lambda e, n=n: e["event"] == "from-async-emitter" and e["args"] == [n]
        )
    return started


# ---------------------------------------------------------------------------
# TLS
# ---------------------------------------------------------------------------
def _plain_tls_url(server: RedisServer) -> str:
    return f"rediss://127.0.0.1:{server.port}/0"


async def test_tls_emitters_and_managers(
    tls_redis: RedisServer, tls_files: TlsFiles, py_server: Any, py_client: Any, key: str
) -> None:
    # The CA both ways users give it: in the URL's query, and as a keyword option.
    in_query = f"{_plain_tls_url(tls_redis)}?ssl_ca_certs={tls_files.ca}&ssl_cert_reqs=required"
    as_option = {"ssl_ca_certs": str(tls_files.ca)}
    await _round_trip(
        py_server,
        py_client,
        key,
        servers=[
            {"redis_url": in_query},
            {"redis_url": _plain_tls_url(tls_redis), "redis_options": as_option},
        ],
        emitter_urls=[(in_query, {}), (_plain_tls_url(tls_redis), as_option)],
        tag="tls",
    )


async def test_tls_verifies_the_server_certificate(tls_redis: RedisServer, key: str) -> None:
    # Without the CA, the system store does not trust the test CA: nothing is sent.
    with pytest.raises(RedisUnavailableError, match=r"(?i)certificate"):
        emitter = Emitter.from_url(_plain_tls_url(tls_redis), key=key)
        try:
            emitter.emit("never", 1)
        finally:
            emitter.close()
    with pytest.raises(RedisUnavailableError, match=r"(?i)certificate"):
        aemitter = AsyncEmitter.from_url(_plain_tls_url(tls_redis), key=key)
        try:
            await aemitter.emit("never", 1)
        finally:
            await aemitter.aclose()
    # A plain-text client cannot talk to the TLS port either.
    with pytest.raises(RedisUnavailableError):
        plain = Emitter.from_url(f"redis://127.0.0.1:{tls_redis.port}/0", key=key)
        try:
            plain.emit("never", 1)
        finally:
            plain.close()


async def test_tls_client_certificate(
    mtls_redis: RedisServer, tls_files: TlsFiles, py_server: Any, key: str
) -> None:
    assert tls_files.client_cert is not None and tls_files.client_key is not None
    base = f"{_plain_tls_url(mtls_redis)}?ssl_ca_certs={tls_files.ca}"
    with_cert = f"{base}&ssl_certfile={tls_files.client_cert}&ssl_keyfile={tls_files.client_key}"
    emitter = Emitter.from_url(with_cert, key=key)
    try:
        emitter.emit("with-cert", 1)
    finally:
        emitter.close()
    srv = await py_server(
        name="mtls",
        redis_url=base,
        redis_options={
            "ssl_certfile": str(tls_files.client_cert),
            "ssl_keyfile": str(tls_files.client_key),
        },
    )
    assert srv.mgr.healthy and await srv.mgr.server_count() == 1
    # The server refuses a client without a certificate.
    with pytest.raises(RedisUnavailableError):
        bare = Emitter.from_url(base, key=key)
        try:
            bare.emit("without-cert", 1)
        finally:
            bare.close()


# ---------------------------------------------------------------------------
# ACL users
# ---------------------------------------------------------------------------
async def test_acl_user_emitters_and_managers(
    acl_redis: RedisServer, py_server: Any, py_client: Any, key: str
) -> None:
    url = f"redis://{ACL_USER}:{ACL_PASSWORD}@127.0.0.1:{acl_redis.port}/0"
    assert url == acl_redis.url
    # The default user is off: only the ACL user gets in.
    with pytest.raises(redis.exceptions.AuthenticationError):
        default_user = redis.Redis(
            port=acl_redis.port, password=ACL_PASSWORD, retry=Retry(NoBackoff(), 0)
        )
        try:
            default_user.ping()
        finally:
            default_user.close()
    who = make_sync_client(url)
    try:
        assert who.acl_whoami() in (ACL_USER, ACL_USER.encode())  # type: ignore[union-attr]
    finally:
        who.close()
    started = await _round_trip(
        py_server,
        py_client,
        key,
        servers=[
            {"redis_url": url},
            # credentials as keyword options work as well
            {
                "redis_url": f"redis://127.0.0.1:{acl_redis.port}/0",
                "redis_options": {"username": ACL_USER, "password": ACL_PASSWORD},
            },
        ],
        emitter_urls=[(url, {})],
        tag="acl",
    )
    for srv in started:
        assert ACL_PASSWORD not in repr(srv.mgr)
        assert ACL_PASSWORD not in srv.mgr.url


def minimal_acl(key: str) -> list[str]:
    """The ACL rules docs/secure.md gives for a classic-mode user of ``key`` (namespace
    ``/``): PSUBSCRIBE needs its pattern listed literally, the rest match by glob."""
    return [
        "resetchannels", f"&{key}#*", f"&{key}-request#*", f"&{key}-response#*",
        f"&{key}#/#*",
        "resetkeys", "-@all",
        "+publish", "+subscribe", "+psubscribe", "+unsubscribe", "+punsubscribe",
        "+pubsub|numsub", "+ping", "+hello",
    ]  # fmt: skip


async def test_acl_least_privilege_user(
    acl_redis: RedisServer, py_server: Any, py_client: Any, key: str
) -> None:
    # What docs/secure.md says the adapter and the emitter need, and nothing more.
    user, password = f"min-{key}", secrets.token_hex(8)
    reply = acl_redis.command("ACL", "SETUSER", user, "on", f">{password}", *minimal_acl(key))
    assert reply.startswith(b"+OK"), reply
    url = f"redis://{user}:{password}@127.0.0.1:{acl_redis.port}/0"
    try:
        await _round_trip(
            py_server,
            py_client,
            key,
            servers=[{"redis_url": url}, {"redis_url": url}],
            emitter_urls=[(url, {})],
            tag="acl-min",
        )
        # ... and really nothing more: another key's channels are refused
        emitter = Emitter.from_url(url, key=f"other-{key}")
        try:
            with pytest.raises(redis.exceptions.NoPermissionError):
                emitter.emit("ev", 1)
        finally:
            emitter.close()
    finally:
        acl_redis.command("ACL", "DELUSER", user)


# ---------------------------------------------------------------------------
# Sentinel
# ---------------------------------------------------------------------------
def test_sentinel_url_forms() -> None:
    from sio_emitter._connect import DEFAULT_SENTINEL_SERVICE

    client = make_sync_client(
        "redis+sentinel://u%40x:p%3Aw@10.0.0.1:26379,[::1]:26380/2/orders?socket_timeout=1.5",
        socket_connect_timeout=3,
    )
    try:
        pool = client.connection_pool
        assert pool.service_name == "orders"  # type: ignore[attr-defined]
        kw = pool.connection_kwargs
        assert (kw["username"], kw["password"], kw["db"]) == ("u@x", "p:w", 2)
        assert (kw["socket_timeout"], kw["socket_connect_timeout"]) == (1.5, 3)
        manager = pool.sentinel_manager  # type: ignore[attr-defined]
        hosts = [s.connection_pool.connection_kwargs for s in manager.sentinels]
        assert [(h["host"], h["port"]) for h in hosts] == [("10.0.0.1", 26379), ("::1", 26380)]
        # The Sentinels get the socket options, not the master's credentials.
        assert hosts[0].get("password") is None and hosts[0]["socket_timeout"] == 1.5
    finally:
        client.close()
    # No service name: Redis's conventional one. rediss+sentinel: TLS everywhere.
    aclient = make_async_client("rediss+sentinel://127.0.0.1:26379?ssl_ca_certs=/ca.pem")
    pool = aclient.connection_pool
    assert pool.service_name == DEFAULT_SENTINEL_SERVICE == "mymaster"  # type: ignore[attr-defined]
    assert "SSL" in pool.connection_class.__name__
    sentinel_kw = pool.sentinel_manager.sentinel_kwargs  # type: ignore[attr-defined]
    assert sentinel_kw == {"ssl": True, "ssl_ca_certs": "/ca.pem"}
    for bad in ("redis+sentinel://host-without-port/0", "redis+sentinel://h:1/not-a-db/x"):
        with pytest.raises(ValueError, match="Sentinel"):
            make_sync_client(bad)


async def test_sentinel_emitters_and_managers(
    redis_sentinel: RedisSentinel, py_server: Any, py_client: Any, key: str
) -> None:
    url = redis_sentinel.url
    assert url.startswith("redis+sentinel://:") and url.endswith(f"/0/{SERVICE}")
    # A dead Sentinel listed first is skipped (no retries for it, via sentinel_kwargs).
    dead_first = url.replace("@", f"@127.0.0.1:{free_port()},", 1)
    fast = {"sentinel_kwargs": {"retry": Retry(NoBackoff(), 0), "socket_connect_timeout": 1}}
    await _round_trip(
        py_server,
        py_client,
        key,
        servers=[{"redis_url": url}, {"redis_url": dead_first, "redis_options": fast}],
        emitter_urls=[(url, {}), (dead_first, fast)],
        tag="sentinel",
    )


async def test_sentinel_failover(
    redis_sentinel: RedisSentinel,
    sentinel_node1: RedisServer,
    sentinel_node2: RedisServer,
    py_server: Any,
    py_client: Any,
    key: str,
) -> None:
    nodes = {n.port: n for n in (sentinel_node1, sentinel_node2)}
    address = redis_sentinel.master_address()
    assert address is not None
    master = nodes[address[1]]
    (replica,) = (n for n in nodes.values() if n is not master)
    await eventually(
        "the replica in sync and known to the Sentinel",
        lambda: _replication_online(master) and redis_sentinel.replica_count() >= 1,
    )
    url = redis_sentinel.url
    a = await py_server(name="fo-a", redis_url=url)
    b = await py_server(name="fo-b", redis_url=url)
    client = await py_client(a.url, name="fo-client", auth={"rooms": ["fo"]})
    emitter = AsyncEmitter.from_url(url, key=key)
    try:
        await b.sio.emit("before", 0, to="fo")
        await client.events.wait(lambda e: e["event"] == "before")

        master.kill()
        await eventually(
            f"the Sentinel to promote {replica!r}",
            lambda: redis_sentinel.master_address() == ("127.0.0.1", replica.port),
            timeout=30,
        )
        # Both subscriptions come back, re-resolving the master through the Sentinel.
        await eventually(
            "both managers to resubscribe on the new master",
            lambda: a.mgr.healthy and b.mgr.healthy,
            timeout=30,
        )
        assert await a.mgr.server_count() == 2

        async def emitted() -> bool:
            try:
                await emitter.to("fo").emit("after-emitter", 1)
            except RedisUnavailableError:
                return False
            return True

        await eventually("a publish through the Sentinel to succeed", emitted)
        await client.events.wait(lambda e: e["event"] == "after-emitter", timeout=10)
        await b.sio.emit("after-b", 2, to="fo")
        ev = await client.events.wait(lambda e: e["event"] == "after-b", timeout=10)
        assert ev["args"] == [2]
        # a's own publishes work again too (another server's client sees them)
        other = await py_client(b.url, name="fo-client-b", auth={"rooms": ["fo-b"]})
        await a.sio.emit("after-a", 3, to="fo-b")
        await other.events.wait(lambda e: e["event"] == "after-a", timeout=10)
    finally:
        await emitter.aclose()
        if not master.running:
            # Back as a replica of the new master, so the set can fail over again.
            master.restart()
            master.command("REPLICAOF", "127.0.0.1", str(replica.port))


# ---------------------------------------------------------------------------
# Passwords never shown
# ---------------------------------------------------------------------------
def test_redaction_of_every_url_form() -> None:
    pw = WRONG_PASSWORD
    cases = [
        f"redis://:{pw}@h:6379/0",
        f"redis://user:{pw}@h:6379/0",
        f"rediss://user:{pw}@h:6380/0?ssl_ca_certs=/etc/ca.pem",
        f"redis+cluster://user:{pw}@h1:7000,h2:7001",
        f"redis+sentinel://:{pw}@h1:26379,h2:26379/0/mymaster",
        f"rediss+sentinel://u:{pw}@h1:26379/0/mymaster",
        f"redis://h:6379/0?password={pw}",
        f"rediss://h:6380/0?ssl_ca_certs=/ca.pem&ssl_password={pw}",
    ]
    for url in cases:
        shown = redact_url(url)
        assert pw not in shown and "***" in shown, shown
        assert pw in url_secrets(url)
    assert redact_url("redis+sentinel://h1:1,h2:2/0/m") == "redis+sentinel://h1:1,h2:2/0/m"
    # The host list survives, so the message still says where.
    assert redact_url(cases[4]) == "redis+sentinel://:***@h1:26379,h2:26379/0/mymaster"


def _texts(exc: BaseException) -> str:
    """str and repr of an exception and everything it chains to."""
    parts: list[str] = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        parts += [str(e), repr(e), repr(e.args)]
        todo += [e.__cause__, e.__context__]
    return "\n".join(parts)


def _log_blob(caplog: pytest.LogCaptureFixture) -> str:
    return caplog.text + "\n".join(repr(vars(r)) for r in caplog.records)


def _bad_urls(request: pytest.FixtureRequest, which: str) -> str:
    pw = WRONG_PASSWORD
    if which == "acl-wrong-password":
        server: RedisServer = request.getfixturevalue("acl_redis")
        return f"redis://{ACL_USER}:{pw}@127.0.0.1:{server.port}/0"
    if which == "sentinel-master-wrong-password":
        sentinel: RedisSentinel = request.getfixturevalue("redis_sentinel")
        return f"redis+sentinel://:{pw}@127.0.0.1:{sentinel.port}/0/{SERVICE}"
    if which == "unreachable-host":
        return f"redis://{ACL_USER}:{pw}@127.0.0.1:{free_port()}/0"
    if which == "unreachable-sentinel":
        return f"redis+sentinel://:{pw}@127.0.0.1:{free_port()}/0/{SERVICE}"
    if which == "password-in-query":
        return f"redis://127.0.0.1:{free_port()}/0?password={pw}"
    raise AssertionError(which)


BAD = [
    "acl-wrong-password",
    "sentinel-master-wrong-password",
    "unreachable-host",
    "unreachable-sentinel",
    "password-in-query",
]
FAST = {"socket_connect_timeout": 2, "retry": Retry(NoBackoff(), 0)}


@pytest.mark.parametrize("which", BAD)
async def test_password_never_in_errors_or_logs(
    which: str,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    key: str,
) -> None:
    url = _bad_urls(request, which)
    options: dict[str, Any] = dict(FAST)
    if "sentinel" in which:
        options["sentinel_kwargs"] = dict(FAST)
    caplog.set_level(logging.DEBUG)
    for name in ("sio_redis", "sio_emitter", "redis"):
        caplog.set_level(logging.DEBUG, logger=name)
    texts: list[str] = []

    # sync emitter
    emitter = Emitter.from_url(url, key=key, **options)
    try:
        with pytest.raises(RedisUnavailableError) as sync_error:
            emitter.to("r").emit("ev", 1)
    finally:
        emitter.close()
    texts += [_texts(sync_error.value), repr(emitter)]

    # async emitter
    aemitter = AsyncEmitter.from_url(url, key=key, **options)
    try:
        with pytest.raises(RedisUnavailableError) as async_error:
            await aemitter.to("r").emit("ev", 1)
    finally:
        await aemitter.aclose()
    texts += [_texts(async_error.value), repr(aemitter)]

    # the adapter: start (logs that Redis is unavailable), a broadcast, a cluster call
    mgr = AsyncRedisManager(url, key=key, redis_options=options, requests_timeout=1)
    socketio.AsyncServer(client_manager=mgr, async_mode="aiohttp")
    try:
        texts.append(repr(mgr))
        await mgr.start()
        with pytest.raises(RedisUnavailableError) as mgr_error:
            await mgr.of("/").to("r").emit("ev", 1)
        texts.append(_texts(mgr_error.value))
        with pytest.raises(Exception) as count_error:
            await mgr.server_count()
        texts.append(_texts(count_error.value))
        await eventually(
            "the manager to log its connection trouble",
            lambda: any(
                r.name == "sio_redis" and r.levelno >= logging.WARNING for r in caplog.records
            ),
            timeout=10,
        )
    finally:
        await mgr.close()

    # the command line
    assert sio_emit(["--url", url, "--key", key, "--to", "r", "ev", "1"]) == 1
    out, err = capsys.readouterr()
    assert err.startswith("sio-emit: error: cannot publish to "), err
    texts += [out, err]

    blob = "\n".join(texts) + _log_blob(caplog)
    assert WRONG_PASSWORD not in blob
    # ... and the messages still say what failed and where
    assert "127.0.0.1" in err


async def test_manager_repr_and_logs_with_a_working_password(
    acl_redis: RedisServer, caplog: pytest.LogCaptureFixture, key: str
) -> None:
    caplog.set_level(logging.DEBUG)
    mgr = AsyncRedisManager(acl_redis.url, key=key)
    socketio.AsyncServer(client_manager=mgr, async_mode="aiohttp")
    try:
        await mgr.start()
        assert mgr.healthy
        await mgr.of("/").emit("ev", 1)
        assert f"{ACL_USER}:***@" in repr(mgr)
    finally:
        await mgr.close()
    assert ACL_PASSWORD not in repr(mgr) + _log_blob(caplog)


def test_cli_reaches_redis_over_tls_acl_and_sentinel(
    tls_redis: RedisServer,
    tls_files: TlsFiles,
    acl_redis: RedisServer,
    redis_sentinel: RedisSentinel,
    capsys: pytest.CaptureFixture[str],
    key: str,
) -> None:
    urls = [
        f"{_plain_tls_url(tls_redis)}?ssl_ca_certs={tls_files.ca}",
        acl_redis.url,
        redis_sentinel.url,
    ]
    for url in urls:
        assert sio_emit(["--url", url, "--key", key, "-v", "ev", "1"]) == 0, url
        out, err = capsys.readouterr()
        assert err == "" and out.startswith("PUBLISH "), (url, out, err)


@pytest.mark.parametrize("flavour", ["async", "sync"])
async def test_refused_subscription_is_one_clear_error(
    acl_redis: RedisServer, key: str, caplog: pytest.LogCaptureFixture, flavour: str
) -> None:
    """An ACL user that may publish but not subscribe: the manager says so at error level,
    once, without tracebacks or listener restarts; the server itself keeps working."""
    import asyncio
    import logging

    import socketio

    from sio_redis import RedisManager

    caplog.set_level(logging.INFO, logger="sio_redis")
    user, password = f"pub-only-{flavour}", f"pw-{secrets.token_hex(6)}"
    acl_redis.command(
        "ACL", "SETUSER", user, "on", f">{password}", "resetchannels", "&nothing-here", "+@all"
    )
    url = f"redis://{user}:{password}@127.0.0.1:{acl_redis.port}/0"
    if flavour == "async":
        amgr = AsyncRedisManager(url, key=key)
        socketio.AsyncServer(client_manager=amgr)
        await amgr.start()
        await asyncio.sleep(1.0)  # a refused subscription produces no event to wait on
        mgr: Any = amgr
    else:
        def build() -> Any:
            smgr = RedisManager(url, key=key)
            socketio.Server(client_manager=smgr, async_mode="threading")
            return smgr

        mgr = await asyncio.to_thread(build)
        await asyncio.sleep(1.0)
    try:
        refused = [r for r in caplog.records if "refused a subscription" in r.getMessage()]
        assert len(refused) == 1 and refused[0].levelno == logging.ERROR
        assert password not in refused[0].getMessage()
        assert mgr.listener_restarts == 0
        assert not [r for r in caplog.records if r.exc_info]
        assert not mgr.healthy
    finally:
        if flavour == "async":
            await mgr.close()
        else:
            await asyncio.to_thread(mgr.close)


def _sync_pair_round_trip(url: str, key: str, options: dict[str, Any] | None = None) -> None:
    """Two sync RedisManagers over ``url``: counted, and a server-side emit with ack
    crosses between them both ways."""
    from sio_redis import RedisManager

    made = []
    try:
        for name in ("a", "b"):
            mgr = RedisManager(url, key=key, redis_options=options)
            made.append(mgr)
            socketio.Server(client_manager=mgr, async_mode="threading")
            mgr.on_server_side_emit("who", handler=lambda name=name: name)
        a, b = made
        assert a.server_count() == 2
        assert a.server_side_emit_with_ack("who") == ["b"]
        assert b.server_side_emit_with_ack("who") == ["a"]
    finally:
        for mgr in made:
            mgr.close()


async def test_sync_managers_over_tls_acl_and_sentinel(
    tls_redis: RedisServer,
    tls_files: TlsFiles,
    acl_redis: RedisServer,
    redis_sentinel: RedisSentinel,
    key: str,
) -> None:
    """The sync manager uses the same client factory: TLS, ACL users and Sentinel work."""
    in_query = f"{_plain_tls_url(tls_redis)}?ssl_ca_certs={tls_files.ca}&ssl_cert_reqs=required"
    await asyncio.to_thread(_sync_pair_round_trip, in_query, key)
    await asyncio.to_thread(
        _sync_pair_round_trip,
        _plain_tls_url(tls_redis),
        key,
        {"ssl_ca_certs": str(tls_files.ca)},
    )
    acl_url = f"redis://{ACL_USER}:{ACL_PASSWORD}@127.0.0.1:{acl_redis.port}/0"
    await asyncio.to_thread(_sync_pair_round_trip, acl_url, key)
    await asyncio.to_thread(_sync_pair_round_trip, redis_sentinel.url, key)
