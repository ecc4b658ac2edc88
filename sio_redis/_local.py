"""Reading this server's own sockets out of python-socketio's manager state.

Pure functions over ``manager.rooms`` (``rooms[namespace][room] = {sid: eio_sid}``, with
room ``None`` holding every socket of the namespace) and the WSGI/ASGI environ, shared by
the sync and async managers.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from sio_emitter.protocol import BroadcastOptions

__all__ = [
    "all_rooms",
    "handshake",
    "local_keys",
    "room_names",
    "select",
    "wire_room",
    "wire_rooms",
]

Rooms = Mapping[str, Mapping[Any, Mapping[str, str]]]


def select(rooms: Rooms, nsp: str, opts: BroadcastOptions) -> dict[str, str]:
    """``{sid: eio_sid}`` of the local sockets in any of ``opts.rooms`` (every socket
    when empty) and in none of ``opts.except_``: Node's adapter rule."""
    ns = rooms.get(nsp)
    if not ns:
        return {}
    if opts.rooms:
        selected: dict[str, str] = {}
        for room in opts.rooms:
            for name in local_keys(room):
                members = ns.get(name)
                if members:
                    selected.update(members)
    else:
        selected = dict(ns.get(None) or {})
    for room in opts.except_:
        for name in local_keys(room):
            members = ns.get(name)
            if members:
                for sid in members:
                    selected.pop(sid, None)
    return selected


def local_keys(room: str) -> tuple[Any, ...]:
    """The keys wire room ``room`` may have in ``manager.rooms``: itself and, for a
    numeric name, the ``int`` an application entered (:func:`wire_room` sends it as a
    string; Node likewise matches a room stored as a number)."""
    if room.isascii() and room.lstrip("-").isdigit() and str(int(room)) == room:
        return (room, int(room))
    return (room,)


def all_rooms(rooms: Rooms, nsp: str) -> list[str]:
    """Every local room of ``nsp``, socket-id rooms included (Node's ``allRooms``)."""
    return [str(room) for room in rooms.get(nsp, {}) if room is not None]


def room_names(rooms: Rooms, nsp: str, sid: str) -> list[str]:
    """The rooms ``sid`` is in, its own id first, as Node lists them."""
    ns = rooms.get(nsp, {})
    names = [str(room) for room, members in ns.items() if room is not None and sid in members]
    if sid in names:
        names.remove(sid)
        names.insert(0, sid)
    return names


def wire_room(room: Any) -> str:
    """A room name as it can cross the cluster (Node rooms are strings)."""
    if isinstance(room, str):
        return room
    if isinstance(room, int) and not isinstance(room, bool):
        return str(room)
    raise TypeError(f"room names must be str to cross the cluster, not {type(room).__name__}")


def wire_rooms(rooms: Any) -> tuple[str, ...]:
    """``None``, one room or an iterable of rooms, as wire room names (deduplicated)."""
    if rooms is None:
        return ()
    if isinstance(rooms, (str, int)) and not isinstance(rooms, bool):
        return (wire_room(rooms),)
    if isinstance(rooms, Iterable) and not isinstance(rooms, (bytes, bytearray)):
        return tuple(dict.fromkeys(wire_room(room) for room in rooms))
    raise TypeError(f"rooms must be a str or an iterable of str, not {type(rooms).__name__}")


def _js_date(epoch: float) -> str:
    # String(new Date()) on a server running in UTC.
    return time.strftime(
        "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", time.gmtime(epoch)
    )


def handshake(environ: Mapping[str, Any] | None, issued: float, auth: Any) -> dict[str, Any]:
    """Node's ``socket.handshake`` for a python-socketio connection's environ."""
    environ = environ or {}
    headers: dict[str, str] = {}
    for name, value in environ.items():
        if name.startswith("HTTP_"):
            headers[name[5:].lower().replace("_", "-")] = value
    for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(name):
            headers[name.lower().replace("_", "-")] = environ[name]
    query_string = environ.get("QUERY_STRING", "") or ""
    path = environ.get("RAW_URI") or (
        environ.get("PATH_INFO", "/") + (f"?{query_string}" if query_string else "")
    )
    return {
        "headers": headers,
        "time": _js_date(issued),
        "address": environ.get("REMOTE_ADDR", ""),
        "xdomain": "origin" in headers,
        "secure": environ.get("wsgi.url_scheme") in ("https", "wss"),
        "issued": int(issued * 1000),
        "url": path,
        "query": dict(parse_qsl(query_string, keep_blank_values=True)),
        "auth": auth if isinstance(auth, dict) else {},
    }
