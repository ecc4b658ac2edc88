"""Turning a Redis URL into a redis-py client, for the emitter and the managers alike.

Accepted forms:

* ``redis://[[user]:password@]host[:port][/db][?option=value...]``, ``rediss://...``
  (TLS), ``unix://path``: redis-py's own ``from_url`` forms, query options included
  (``rediss://host:6380/0?ssl_ca_certs=/etc/ca.pem&ssl_cert_reqs=required``).
* ``redis+cluster://[[user]:password@]host:port[,host:port...]`` and
  ``rediss+cluster://...``: a Redis Cluster, the listed nodes used as seeds.
* ``redis+sentinel://[[user]:password@]host:port[,host:port...][/db[/service_name]]
  [?option=value...]`` and ``rediss+sentinel://...``: the master of ``service_name``
  (default ``mymaster``) as the listed Sentinels report it; python-socketio's
  ``redis+sentinel://`` form. A client re-asks the Sentinels whenever it (re)connects,
  so it follows a failover. The credentials and query options are those of the master
  (and replicas); the Sentinels get the ``socket_*`` options only, plus for
  ``rediss+sentinel`` the TLS ones. Sentinels that need a password of their own take
  ``sentinel_kwargs={"password": ...}`` among the keyword options.

Keyword options (``redis_options``) go to redis-py; for a Sentinel URL,
``sentinel_kwargs``, ``min_other_sentinels`` and ``force_master_ip`` go to
``Sentinel()``, the rest to the master's connections. As with ``from_url``, an option
given in the URL's query wins over the same keyword option.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.connection
import redis.asyncio.sentinel
import redis.cluster
import redis.connection
import redis.sentinel

__all__ = [
    "DEFAULT_SENTINEL_SERVICE",
    "make_async_client",
    "make_sync_client",
    "redact_url",
    "url_secrets",
]

_PLAIN = ("redis", "rediss", "unix")
_CLUSTER = ("redis+cluster", "rediss+cluster")
_SENTINEL = ("redis+sentinel", "rediss+sentinel")
#: The service name of a ``redis+sentinel://`` URL that names none (Redis's own example).
DEFAULT_SENTINEL_SERVICE = "mymaster"
# Options of Sentinel() itself, not of the master's connections.
_SENTINEL_OPTIONS = ("sentinel_kwargs", "min_other_sentinels", "force_master_ip")
_MASK = "***"


def _secret_query_key(name: str) -> bool:
    return "password" in name.lower()


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for logs and error messages: the
    userinfo's password (every URL form, Sentinel and Cluster lists of hosts included)
    and query options named like ``password`` (``?password=``, ``?ssl_password=``)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except (ValueError, TypeError, AttributeError):
        return "<unparseable URL>"
    if password is not None:
        netloc = parts.netloc.rsplit("@", 1)[-1]
        user = parts.username or ""
        parts = parts._replace(netloc=f"{user}:{_MASK}@{netloc}")
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if any(_secret_query_key(k) for k, _ in pairs):
            masked = [(k, _MASK if _secret_query_key(k) else v) for k, v in pairs]
            parts = parts._replace(query=urlencode(masked, safe="/*:,"))
    return parts.geturl()


def url_secrets(url: str) -> list[str]:
    """The passwords ``url`` carries (raw and percent-decoded), to scrub from any text
    that might quote them (error messages of libraries, say)."""
    found: set[str] = set()
    try:
        parts = urlsplit(url)
        password = parts.password
    except (ValueError, TypeError, AttributeError):
        return []
    if password:
        found.update({password, unquote(password)})
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        if _secret_query_key(k) and v:
            found.add(v)
    for raw in parts.query.split("&"):
        k, _, v = raw.partition("=")
        if _secret_query_key(unquote(k)) and v:
            found.add(v)
    # Longest first, so that replacing one never leaves part of another behind.
    return sorted((s for s in found if s), key=len, reverse=True)


def _scheme(url: str) -> str:
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in _PLAIN + _CLUSTER + _SENTINEL:
        raise ValueError(
            f"unsupported Redis URL {redact_url(url)!r}: expected redis://, rediss://, "
            "unix://, redis+cluster://, rediss+cluster://, redis+sentinel:// or "
            "rediss+sentinel://"
        )
    return scheme


def _host_list(hosts: str, what: str, shown: str) -> list[tuple[str, int]]:
    """``host:port,host:port`` (IPv6 hosts in brackets) as pairs; ``what`` names them in
    the error."""
    pairs: list[tuple[str, int]] = []
    for item in hosts.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"bad {what} {item!r} in {shown!r}: need host:port")
        pairs.append((host.strip("[]"), int(port)))
    return pairs


def _cluster_seeds(url: str) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    rest = url.split("://", 1)[1]
    auth, _, hosts = rest.rpartition("@")
    hosts = hosts.split("/", 1)[0].split("?", 1)[0]
    seeds = _host_list(hosts, "cluster node", redact_url(url))
    options: dict[str, Any] = {}
    if auth:
        user, _, password = auth.partition(":")
        if password:
            options["username"] = unquote(user) or None
            options["password"] = unquote(password)
        else:
            options["password"] = unquote(user)
    if url.lower().startswith("rediss+"):
        options["ssl"] = True
    return seeds, options


class _SentinelSpec:
    """What a ``redis+sentinel://`` URL says: where the Sentinels are, which service,
    and the options of ``Sentinel()`` and of the master's connections."""

    def __init__(self, url: str, options: dict[str, Any], parse_url: Callable[[str], Any]) -> None:
        shown = redact_url(url)
        parts = urlsplit(url)
        tls = parts.scheme.lower() == "rediss+sentinel"
        userinfo, _, hosts = parts.netloc.rpartition("@")
        self.sentinels = _host_list(hosts, "Sentinel", shown)
        segments = parts.path.split("/")[1:] if parts.path else []
        if len(segments) > 2 or (segments and segments[0] and not segments[0].isdigit()):
            raise ValueError(
                f"bad path in Sentinel URL {shown!r}: expected /db/service_name, e.g. /0/mymaster"
            )
        db = segments[0] if segments and segments[0] else None
        service = unquote(segments[1]) if len(segments) == 2 and segments[1] else None
        self.service = service or DEFAULT_SENTINEL_SERVICE
        # redis-py parses the credentials and the query options (types included),
        # from the same URL pointed at a placeholder host.
        synthetic = f"redis://{userinfo + '@' if userinfo else ''}sentinel/{db or ''}"
        if parts.query:
            synthetic += f"?{parts.query}"
        from_url: dict[str, Any] = dict(parse_url(synthetic))
        for name in ("host", "port", "connection_class", "path"):
            from_url.pop(name, None)
        given = dict(options)
        self.sentinel_options: dict[str, Any] = {
            k: given.pop(k) for k in _SENTINEL_OPTIONS if k in given
        }
        connection = {**given, **from_url}
        if tls:
            connection["ssl"] = True
        self.connection = connection
        if "sentinel_kwargs" not in self.sentinel_options:
            # redis-py's default is the socket_* options; TLS everywhere for rediss+,
            # and the caller's retry policy (a one-shot command must not linger).
            self.sentinel_options["sentinel_kwargs"] = {
                k: v
                for k, v in connection.items()
                if k.startswith("socket_")
                or k == "retry"
                or (tls and (k == "ssl" or k.startswith("ssl_")))
            }


class _SyncSentinelMaster(redis.Redis):
    """The master's client; closing it also closes the connections to the Sentinels."""

    def close(self) -> None:
        super().close()
        manager = getattr(self.connection_pool, "sentinel_manager", None)
        for sentinel in getattr(manager, "sentinels", ()):
            sentinel.close()


class _AsyncSentinelMaster(redis.asyncio.Redis):
    """The master's client; closing it also closes the connections to the Sentinels."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        manager = getattr(self.connection_pool, "sentinel_manager", None)
        for sentinel in getattr(manager, "sentinels", ()):
            await sentinel.aclose()


#: Connections of a manager's pool (``blocking_pool=True``): a burst of concurrent cluster
#: calls waits up to ``POOL_TIMEOUT`` s for a free one instead of failing with "Too many
#: connections" (redis-py's default pool refuses the 101st).
POOL_SIZE = 50
POOL_TIMEOUT = 10.0


def make_sync_client(url: str, **options: Any) -> redis.Redis | redis.cluster.RedisCluster:
    """A redis-py client for ``url`` (see the module docstring for the forms)."""
    scheme = _scheme(url)
    blocking = bool(options.pop("blocking_pool", False))
    if scheme in _CLUSTER:
        seeds, auth = _cluster_seeds(url)
        nodes = [redis.cluster.ClusterNode(host, port) for host, port in seeds]  # type: ignore[no-untyped-call]
        return redis.cluster.RedisCluster(startup_nodes=nodes, **auth, **options)
    if scheme in _SENTINEL:
        spec = _SentinelSpec(url, options, redis.connection.parse_url)
        sentinel = redis.sentinel.Sentinel(spec.sentinels, **spec.sentinel_options)  # type: ignore[no-untyped-call]
        client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
            spec.service, redis_class=_SyncSentinelMaster, **spec.connection
        )
        return client
    if blocking:
        options.setdefault("max_connections", POOL_SIZE)
        options.setdefault("timeout", POOL_TIMEOUT)
        return redis.Redis.from_pool(redis.BlockingConnectionPool.from_url(url, **options))
    return redis.Redis.from_url(url, **options)


def make_async_client(
    url: str, **options: Any
) -> redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster:
    """The ``redis.asyncio`` twin of :func:`make_sync_client`."""
    scheme = _scheme(url)
    blocking = bool(options.pop("blocking_pool", False))
    if scheme in _CLUSTER:
        seeds, auth = _cluster_seeds(url)
        nodes = [redis.asyncio.cluster.ClusterNode(host, port) for host, port in seeds]
        return redis.asyncio.cluster.RedisCluster(startup_nodes=nodes, **auth, **options)
    if scheme in _SENTINEL:
        spec = _SentinelSpec(url, options, redis.asyncio.connection.parse_url)
        sentinel = redis.asyncio.sentinel.Sentinel(spec.sentinels, **spec.sentinel_options)  # type: ignore[no-untyped-call]
        client: redis.asyncio.Redis = sentinel.master_for(
            spec.service, redis_class=_AsyncSentinelMaster, **spec.connection
        )
        return client
    if blocking:
        options.setdefault("max_connections", POOL_SIZE)
        options.setdefault("timeout", POOL_TIMEOUT)
        pool = redis.asyncio.BlockingConnectionPool.from_url(url, **options)
        return redis.asyncio.Redis.from_pool(pool)
    return redis.asyncio.Redis.from_url(url, **options)
