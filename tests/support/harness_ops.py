"""What the Python server harnesses (``py_harness.py``, ``sync_harness.py``) share: reading
a ``server`` command of the Node harness protocol into a broadcast operator, and writing
fetched sockets back in the protocol's shape. Pure: the harnesses do the waiting."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def operator_for(mgr: Any, cmd: dict[str, Any]) -> Any:
    """``mgr.of(nsp)`` narrowed by the command's ``rooms``, ``except`` and ``flags``."""
    op = mgr.of(cmd.get("nsp", "/"))
    if cmd.get("rooms"):
        op = op.to(cmd["rooms"])
    if cmd.get("except"):
        op = op.except_(cmd["except"])
    flags = cmd.get("flags") or {}
    if flags.get("volatile"):
        op = op.volatile
    if "compress" in flags:
        op = op.compress(flags["compress"])
    if flags.get("local"):
        op = op.local
    if flags.get("timeout"):
        op = op.timeout(flags["timeout"] / 1000)
    return op


def socket_rows(sockets: Iterable[Any]) -> list[dict[str, Any]]:
    """``fetchSockets`` results as the Node harness reports them."""
    return [
        {"id": s.id, "handshake": s.handshake, "rooms": sorted(s.rooms), "data": s.data}
        for s in sockets
    ]
