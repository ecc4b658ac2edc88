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

__all__ = ["capture_auth", "fast_delivery_available", "prepare_event"]


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


def capture_auth(server: Any, store: Callable[[str, str, Any], None]) -> bool:
    """Wrap ``server._handle_connect`` so ``store(eio_sid, namespace, auth)`` sees each
    CONNECT payload; ``False`` (and nothing changed) when the hook point is not there."""
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
            return await original(eio_sid, namespace, data, *a)

    else:

        def wrapper(eio_sid: str, namespace: str | None, data: Any, *a: Any) -> Any:
            store(eio_sid, namespace or "/", data)
            return original(eio_sid, namespace, data, *a)

    wrapper._sio_redis_wrapped = True
    server._handle_connect = wrapper
    return True
