"""``RedisManager`` on a Redis Cluster: the asyncio cluster transport, run on a private
event loop thread and called through the sync transport's five operations.

Following slot owners, one reader per node, recovery after restarts and slot moves:
``_aio_cluster.py`` already does all of it and is tested against a real cluster. A
thread-based copy would be a second implementation to keep in step, so the sync side
borrows the asyncio one instead. Publishing goes straight through the sync client.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import redis.asyncio.cluster
import redis.cluster

from sio_emitter._operator import Publish

from ._aio_cluster import AsyncClusterTransport
from ._aio_transport import Incoming
from ._sync_runtime import Runtime
from ._sync_transport import publish_with
from ._wire import Subscriptions

__all__ = ["ClusterBridge"]

T = TypeVar("T")

_READ_TIMEOUT = 0.25
# What a node connection needs to reach the same cluster the same way.
_CONNECTION_KEYS = (
    "username",
    "password",
    "credential_provider",
    "ssl",
    "ssl_ca_certs",
    "ssl_ca_data",
    "ssl_ca_path",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_password",
    "ssl_cert_reqs",
    "ssl_check_hostname",
    "socket_connect_timeout",
    "socket_keepalive",
    "socket_keepalive_options",
    "protocol",
    "client_name",
)


def _async_twin(client: redis.cluster.RedisCluster) -> redis.asyncio.cluster.RedisCluster:
    kwargs = dict(getattr(client.nodes_manager, "connection_kwargs", {}) or {})
    options = {k: kwargs[k] for k in _CONNECTION_KEYS if kwargs.get(k) is not None}
    nodes = [
        redis.asyncio.cluster.ClusterNode(node.host, node.port)
        for node in client.get_nodes()  # type: ignore[no-untyped-call]
    ]
    return redis.asyncio.cluster.RedisCluster(startup_nodes=nodes, **options)


class ClusterBridge:
    """The sync transport's interface over :class:`AsyncClusterTransport`."""

    def __init__(self, client: Any, *, owns_client: bool, runtime: Runtime) -> None:
        encoder = getattr(client, "encoder", None)
        if getattr(encoder, "decode_responses", False):
            raise ValueError(
                "the Redis client must not use decode_responses=True: payloads are binary"
            )
        self.client = client
        self.owns_client = owns_client
        self._rt = runtime
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="sio-redis cluster loop", daemon=True
        )
        self._thread.start()
        self._inner = self._call(self._create(client))
        self._queue: queue.Queue[Incoming] = queue.Queue(1024)
        self._pump = asyncio.run_coroutine_threadsafe(self._forward(), self._loop)
        self._closed = False

    async def _create(self, client: Any) -> AsyncClusterTransport:
        return AsyncClusterTransport(_async_twin(client), owns_client=True)

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _forward(self) -> None:
        async for item in self._inner.messages():
            while True:
                try:
                    self._queue.put_nowait(item)
                    break
                except queue.Full:  # the listener is behind: hold the node readers back
                    await asyncio.sleep(0.01)

    @property
    def log_extra(self) -> dict[str, Any]:
        return self._inner.log_extra

    @log_extra.setter
    def log_extra(self, value: dict[str, Any]) -> None:
        self._inner.log_extra = value

    @property
    def connected(self) -> bool:
        return self._inner.connected

    def publish(self, publish: Publish) -> None:
        publish_with(self.client, publish)

    def count(self, command: str, channel: str) -> int:
        return self._call(self._inner.count(command, channel))

    def subscribe(self, subs: Subscriptions, *, confirm: bool, timeout: float = 10.0) -> None:
        if self._closed:
            return
        self._call(self._inner.subscribe(subs, confirm=confirm, timeout=timeout), timeout + 5)

    def unsubscribe(self, subs: Subscriptions) -> None:
        if not self._closed:
            self._call(self._inner.unsubscribe(subs))

    def messages(self) -> Iterator[Incoming]:
        while not self._closed:
            try:
                yield self._queue.get(timeout=_READ_TIMEOUT)
            except queue.Empty:
                continue

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pump.cancel()
        try:
            self._call(self._inner.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            if not self._loop.is_running():
                self._loop.close()
            if self.owns_client:
                self.client.close()
