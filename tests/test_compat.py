"""The delivery seam into python-engineio (``sio_redis/_compat.py``): straight into each
socket's queue when engine.io looks as expected, ``send_packet`` (the public path)
otherwise, and nothing for sockets that are gone. Live delivery through both paths is in
``test_manager_interop.py::test_broadcasts_both_ways``."""

from __future__ import annotations

import asyncio
import queue
from typing import Any

from sio_redis import _compat


class _Sock:
    def __init__(self, q: Any, closed: bool = False) -> None:
        self.queue = q
        self.closed = closed


class _Eio:
    def __init__(self, sockets: Any) -> None:
        self.sockets = sockets
        self.sent: list[tuple[str, Any]] = []

    def send_packet(self, sid: str, pkt: Any) -> None:
        if sid == "boom":
            raise RuntimeError("socket went away")
        self.sent.append((sid, pkt))


class _AsyncEio(_Eio):
    async def send_packet(self, sid: str, pkt: Any) -> None:  # type: ignore[override]
        _Eio.send_packet(self, sid, pkt)


class _Server:
    def __init__(self, eio: Any) -> None:
        self.eio = eio


def _table() -> tuple[dict[str, Any], queue.Queue[Any], queue.Queue[Any]]:
    a: queue.Queue[Any] = queue.Queue()
    full: queue.Queue[Any] = queue.Queue(maxsize=1)
    full.put("x")
    return (
        {
            "a": _Sock(a),
            "closed": _Sock(queue.Queue(), closed=True),
            "odd": _Sock(object()),
            "full": _Sock(full),
        },
        a,
        full,
    )


def test_sync_delivery_queues_directly_and_falls_back() -> None:
    sockets, a, _ = _table()
    eio = _Eio(sockets)
    _compat.deliver_sync(_Server(eio), ["a", "closed", "odd", "full", "gone"], ["p1", "p2"])
    assert [a.get_nowait(), a.get_nowait()] == ["p1", "p2"]
    # unfamiliar queue and a full one: the public path; closed and unknown: skipped
    assert eio.sent == [("odd", "p1"), ("odd", "p2"), ("full", "p1"), ("full", "p2")]


def test_async_delivery_without_a_socket_table_uses_send_packet() -> None:
    eio = _AsyncEio(sockets=None)
    asyncio.run(_compat.deliver(_Server(eio), ["x", "boom", "y"], ["p"]))
    assert eio.sent == [("x", "p"), ("y", "p")]  # a failing socket does not stop the rest
