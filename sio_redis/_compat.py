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
from collections.abc import Callable, Iterable
from typing import Any

# Both ship with python-socketio; imported once here, not per broadcast.
from engineio import packet as eio_packet
from socketio import packet as sio_packet

__all__ = ["capture_auth", "deliver", "fast_delivery_available", "prepare_event"]


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


async def deliver(server: Any, eio_sids: Iterable[str], packets: list[Any]) -> None:
    """Queue ``packets`` (from :func:`prepare_event`) to each engine.io socket in ``eio_sids``.

    What ``server.eio.send_packet`` does for an open socket, minus its coroutine, lookups
    and per-packet log call: the packets go straight into the socket's queue, which its
    writer task drains. A socket that is gone or closed is skipped (``send_packet`` logs
    and skips it too). Where python-engineio's socket table or queue is not what is
    expected, each packet goes through ``send_packet``, the public path.
    """
    eio = server.eio
    sockets = getattr(eio, "sockets", None)
    if not isinstance(sockets, dict):
        for eio_sid in eio_sids:
            for pkt in packets:
                await eio.send_packet(eio_sid, pkt)
        return
    for eio_sid in eio_sids:
        sock = sockets.get(eio_sid)
        if sock is None or getattr(sock, "closed", False):
            continue
        put = getattr(getattr(sock, "queue", None), "put_nowait", None)
        try:
            if put is None:
                raise LookupError
            for pkt in packets:
                put(pkt)
        except Exception:  # a bounded or unfamiliar queue: the public path for this socket
            for pkt in packets:
                await eio.send_packet(eio_sid, pkt)


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
