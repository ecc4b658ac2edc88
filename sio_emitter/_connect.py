"""Turning a Redis URL into a redis-py client, for the emitter and the managers alike.

Accepted forms:

* ``redis://[user:password@]host[:port][/db]``, ``rediss://...`` (TLS), ``unix://path``
* ``redis+cluster://host:port[,host:port...]`` and ``rediss+cluster://...``: a Redis
  Cluster, the listed nodes used as seeds.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster

__all__ = ["make_async_client", "make_sync_client", "redact_url"]

_PLAIN = ("redis", "rediss", "unix")
_CLUSTER = ("redis+cluster", "rediss+cluster")


def redact_url(url: str) -> str:
    """``url`` with any password replaced, for logs and error messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{netloc}").geturl()


def _scheme(url: str) -> str:
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in _PLAIN + _CLUSTER:
        raise ValueError(
            f"unsupported Redis URL {redact_url(url)!r}: expected redis://, rediss://, "
            "unix://, redis+cluster:// or rediss+cluster://"
        )
    return scheme


def _cluster_seeds(url: str) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    rest = url.split("://", 1)[1]
    auth, _, hosts = rest.rpartition("@")
    hosts = hosts.split("/", 1)[0].split("?", 1)[0]
    seeds: list[tuple[str, int]] = []
    for item in hosts.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"bad cluster node {item!r} in {redact_url(url)!r}: need host:port")
        seeds.append((host.strip("[]"), int(port)))
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


def make_sync_client(url: str, **options: Any) -> redis.Redis | redis.cluster.RedisCluster:
    """A redis-py client for ``url`` (see the module docstring for the forms)."""
    scheme = _scheme(url)
    if scheme in _CLUSTER:
        seeds, auth = _cluster_seeds(url)
        nodes = [redis.cluster.ClusterNode(host, port) for host, port in seeds]  # type: ignore[no-untyped-call]
        return redis.cluster.RedisCluster(startup_nodes=nodes, **auth, **options)
    return redis.Redis.from_url(url, **options)


def make_async_client(
    url: str, **options: Any
) -> redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster:
    """The ``redis.asyncio`` twin of :func:`make_sync_client`."""
    scheme = _scheme(url)
    if scheme in _CLUSTER:
        seeds, auth = _cluster_seeds(url)
        nodes = [redis.asyncio.cluster.ClusterNode(host, port) for host, port in seeds]
        return redis.asyncio.cluster.RedisCluster(startup_nodes=nodes, **auth, **options)
    return redis.asyncio.Redis.from_url(url, **options)
