"""The only place that touches python-socketio / python-engineio internals.

Two things need more than python-socketio's public API:

* **fast delivery**: a broadcast from Redis is encoded once with ``server.packet_class``
  and queued to each engine.io socket through ``server.eio.send_packet``, with no task
  per recipient (``AsyncManager.emit`` makes one per recipient);
* **handshake auth**: Node's ``socket.handshake.auth`` is the CONNECT payload, which
  python-socketio hands to the connect handler but does not keep.

Each is feature-checked when the manager meets its server; if a python-socketio release
changes what is checked, the manager falls back to the public path (``AsyncManager.emit``
/ ``Manager.emit``, and ``auth = {}``) instead of breaking delivery. Tests run both paths.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any

# Both ship with python-socketio; imported once here, not per broadcast.
from engineio import packet as eio_packet
from socketio import packet as sio_packet

__all__ = ["capture_auth", "deliver", "deliver_sync", "fast_delivery_available", "prepare_event"]

logger = logging.getLogger("sio_redis")


def fast_delivery_available(server: Any) -> bool:
    """Whether :func:`prepare_event` and ``server.eio.send_packet`` can be used."""
    return (
        callable(getattr(server, "packet_class", None))
        and callable(getattr(getattr(server, "eio", None), "send_packet", None))
        and hasattr(sio_packet, "EVENT")
        and hasattr(eio_packet, "MESSAGE")
        and callable(getattr(eio_packet, "Packet", None))
    )


def prepare_event(server: Any, nsp: str, data: list[Any]) -> list[Any]:
    """The engine.io packets of one EVENT, encoded once for every recipient."""
    encoded = server.packet_class(sio_packet.EVENT, namespace=nsp, data=data).encode()
    parts: Iterable[Any] = encoded if isinstance(encoded, list) else [encoded]
    return [eio_packet.Packet(eio_packet.MESSAGE, part) for part in parts]


def _queue_directly(server: Any, eio_sids: Iterable[str], packets: list[Any]) -> list[str]:
    """Put ``packets`` (from :func:`prepare_event`) straight into each engine.io socket's
    queue, which its writer drains: what ``server.eio.send_packet`` does for an open
    socket, minus a coroutine, two lookups and a log call per packet. A socket that is gone
    or closed is skipped, as ``send_packet`` skips it. Returns the sockets whose table
    entry or queue is not what this expects: those take the public path."""
    sockets = getattr(server.eio, "sockets", None)
    if not isinstance(sockets, dict):
        return list(eio_sids)
    public: list[str] = []
    for eio_sid in eio_sids:
        sock = sockets.get(eio_sid)
        if sock is None or getattr(sock, "closed", False):
            continue
        put = getattr(getattr(sock, "queue", None), "put_nowait", None)
        if put is None:
            public.append(eio_sid)
            continue
        try:
            for pkt in packets:
                put(pkt)
        except Exception:  # a bounded or unfamiliar queue
            public.append(eio_sid)
    return public


async def deliver(server: Any, eio_sids: Iterable[str], packets: list[Any]) -> None:
    """Send one prepared EVENT to many sockets of an ``AsyncServer``."""
    for eio_sid in _queue_directly(server, eio_sids, packets):
        for pkt in packets:
            try:
                await server.eio.send_packet(eio_sid, pkt)
            except Exception:  # a socket closing mid-broadcast is not an error
                logger.debug("delivery to %s failed", eio_sid, exc_info=True)


def deliver_sync(server: Any, eio_sids: Iterable[str], packets: list[Any]) -> None:
    """:func:`deliver` for a ``socketio.Server``."""
    for eio_sid in _queue_directly(server, eio_sids, packets):
        for pkt in packets:
            try:
                server.eio.send_packet(eio_sid, pkt)
            except Exception:
                logger.debug("delivery to %s failed", eio_sid, exc_info=True)


def capture_auth(
    server: Any,
    store: Callable[[str, str, Any], None],
    discard: Callable[[str, str], None] = lambda eio_sid, nsp: None,
) -> bool:
    """Wrap ``server._handle_connect`` so ``store(eio_sid, namespace, auth)`` sees each
    CONNECT payload, and ``discard(eio_sid, namespace)`` runs once it is handled (the
    manager takes the payload in ``pre_connect``; a refused CONNECT never gets there).
    ``False`` (and nothing changed) when the hook point is not there."""
    original = getattr(server, "_handle_connect", None)
    if original is None or getattr(original, "_sio_redis_wrapped", False):
        return original is not None
    try:
        params = list(inspect.signature(original).parameters)
    except (TypeError, ValueError):
        return False
    if params[:3] != ["eio_sid", "namespace", "data"]:
        return False
    wrapper: Any
    if inspect.iscoroutinefunction(original):

        async def wrapper(eio_sid: str, namespace: str | None, data: Any, *a: Any) -> Any:
            store(eio_sid, namespace or "/", data)
            try:
                return await original(eio_sid, namespace, data, *a)
            finally:
                discard(eio_sid, namespace or "/")

    else:

        def wrapper(eio_sid: str, namespace: str | None, data: Any, *a: Any) -> Any:
            store(eio_sid, namespace or "/", data)
            try:
                return original(eio_sid, namespace, data, *a)
            finally:
                discard(eio_sid, namespace or "/")

    wrapper._sio_redis_wrapped = True
    server._handle_connect = wrapper
    return True
