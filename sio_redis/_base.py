"""What the async and sync managers share beyond the core: configuration, identity,
python-socketio's synchronous room hooks, and the bookkeeping that never waits.

``AsyncRedisManager`` and ``RedisManager`` are ``ManagerBase`` plus their I/O twin
(``asyncio_manager.py``, and ``manager.py`` generated from it by ``scripts/unasync.py``).
Anything here must neither wait nor do I/O itself; it may *schedule* I/O with
``self._spawn``, which both twins provide.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sio_emitter._connect import redact_url
from sio_emitter._operator import check_key_and_mode, normalize_namespace
from sio_emitter.protocol import (
    BroadcastOptions,
    SocketEntry,
    SubscriptionMode,
    dumps_json,
)

from . import _compat
from ._local import handshake, local_keys, room_names, select, wire_room
from ._wire import ClassicWire, ShardedWire, Subscriptions
from .core import ClusterCore
from .operators import Selection

__all__ = ["ManagerBase", "ServerSideHandler"]

logger = logging.getLogger("sio_redis")

ServerSideHandler = Callable[..., Any]


class ManagerBase:
    """Mixed into a python-socketio manager class (``AsyncManager`` or ``Manager``)."""

    # Provided by python-socketio's manager classes.
    rooms: dict[str, dict[Any, dict[str, str]]]
    server: Any
    is_connected: Callable[[str, str], bool]
    is_pre_connected: Callable[[str, str], bool]

    # Provided by each twin.
    _operator_class: type[Any]
    _client_kind: str

    def _setup(
        self,
        url: Any,
        *,
        key: str,
        sharded: bool,
        subscription_mode: SubscriptionMode,
        requests_timeout: float,
        publish_on_specific_response_channel: bool,
        write_only: bool,
        redis_options: dict[str, Any] | None,
        max_payload: int,
        logger: logging.Logger | None,
        make_client: Callable[..., Any],
        make_transport: Callable[..., Any],
        runtime: Any,
    ) -> None:
        check_key_and_mode(key, subscription_mode)
        if isinstance(requests_timeout, bool) or not isinstance(requests_timeout, (int, float)):
            raise TypeError("requests_timeout must be a number of seconds")
        if requests_timeout <= 0:
            raise ValueError("requests_timeout must be positive")
        if logger is not None and not isinstance(logger, logging.Logger):
            raise TypeError("logger must be a logging.Logger")
        if isinstance(url, str):
            # Blocking pool: many concurrent requests wait for a connection, not fail.
            client = make_client(url, **{"blocking_pool": True, **(redis_options or {})})
            owns = True
            self.url = redact_url(url)
        elif hasattr(url, "publish") and hasattr(url, "pubsub"):
            client, owns, self.url = url, False, repr(url)
        else:
            raise TypeError(f"url must be a Redis URL or a {self._client_kind} client")
        wire = (
            ShardedWire(key, subscription_mode)
            if sharded
            else ClassicWire(key, publish_on_specific_response_channel)
        )
        self.key = key
        self.sharded = bool(sharded)
        self.requests_timeout = float(requests_timeout)
        self.write_only = bool(write_only)
        self.logger = logger
        self.core = ClusterCore(wire, has_room=self._has_room, max_payload=max_payload)
        self._rt = runtime
        self.transport = make_transport(client, owns_client=owns, runtime=runtime)
        self.transport.log_extra = self._log_extra()
        self._started = False
        self._closed = False
        self._start_lock = runtime.lock()
        self._listener: Any = None
        self._listening = False
        #: How many times the listener was restarted after failing (logged each time).
        self.listener_restarts = 0
        self._waiters: dict[str, Any] = {}
        self._handlers: dict[tuple[str, str], ServerSideHandler] = {}
        self._tasks: set[Any] = set()
        # (namespace, sid) -> (connect time, CONNECT payload), for handshakes
        self._socket_info: dict[tuple[str, str], tuple[float, Any]] = {}
        self._connect_auth: dict[tuple[str, str], Any] = {}
        self._fast = False

    # --- identity and health ---

    @property
    def uid(self) -> str:
        """This server's uid in the cluster (what peers see in messages)."""
        return self.core.uid

    @property
    def healthy(self) -> bool:
        """Whether the Redis subscription is live (always ``False`` when write-only)."""
        return (
            self._listening and self._rt.alive(self._listener) and bool(self.transport.connected)
        )

    def __repr__(self) -> str:
        mode = "sharded" if self.sharded else "classic"
        name = type(self).__name__
        return f"{name}(url={self.url!r}, key={self.key!r}, {mode}, uid={self.uid!r})"

    def _log(self) -> logging.Logger:
        return self.logger or logger

    def _log_extra(self, nsp: str | None = None) -> dict[str, Any]:
        """``extra`` of every log line about this manager's connection state."""
        return {"uid": self.uid, "nsp": nsp, "key": self.key}

    # --- binding to the server ---

    def _bind(self, server: Any) -> None:
        self._rt.bind(server)
        self._fast = _compat.fast_delivery_available(server)
        _compat.capture_auth(server, self._store_auth, self._drop_auth)

    def _known_namespaces(self) -> set[str]:
        # server-side listeners make a namespace, as Node's io.of(nsp).on(event) does
        names = {"/", *self.rooms.keys(), *(nsp for nsp, _ in self._handlers)}
        server = self.server
        if server is not None:
            names.update(n for n in getattr(server, "handlers", {}) if isinstance(n, str))
            names.update(n for n in getattr(server, "namespace_handlers", {}) if isinstance(n, str))
            declared = getattr(server, "namespaces", None)
            if isinstance(declared, (list, tuple, set)):
                names.update(n for n in declared if isinstance(n, str))
        names.discard("*")
        return names

    def _register_rooms(self, nsp: str) -> tuple[str, ...]:
        """Room channels (sharded dynamic modes) for rooms that existed before ``nsp`` was
        served; the caller subscribes them."""
        channels: list[str] = []
        if self.sharded:
            for room, members in self.rooms.get(nsp, {}).items():
                if isinstance(room, (str, int)) and not isinstance(room, bool):
                    subs = self.core.room_created(nsp, wire_room(room), room in members)
                    if subs is not None:
                        channels.extend(subs.shard_channels)
        return tuple(channels)

    # --- background work ---

    def _spawn(self, fn: Callable[..., Any], *args: Any) -> Any:
        task = self._rt.spawn(fn, *args, on_done=self._task_done)
        self._tasks.add(task)
        return task

    def _task_done(self, task: Any) -> None:
        self._tasks.discard(task)
        error = self._rt.failure(task)
        if error is not None:
            self._log().error("sio-redis background task failed", exc_info=error)

    # --- python-socketio's room hooks (synchronous in both managers) ---

    def _has_room(self, nsp: str, room: str) -> bool:
        local = self.rooms.get(nsp, ())
        return any(name in local for name in local_keys(room))

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: Any = None) -> Any:
        created = room is not None and room not in self.rooms.get(namespace, {})
        result = super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)  # type: ignore[misc]
        if created and self.sharded:
            self._room_created(namespace, room, is_socket_id=room == sid)
        return result

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> Any:
        result = super().basic_leave_room(sid, namespace, room)  # type: ignore[misc]
        if self.sharded and room is not None and room not in self.rooms.get(namespace, {}):
            subs = self.core.room_deleted(namespace, wire_room(room))
            if subs is not None and self._started and not self.write_only:
                self._spawn(self.transport.unsubscribe, subs)
        return result

    def _room_created(self, nsp: str, room: Any, is_socket_id: bool) -> None:
        # Sharded dynamic modes: a room gets its own channel while it has local members.
        if not isinstance(room, (str, int)) or isinstance(room, bool):
            return
        subs = self.core.room_created(nsp, wire_room(room), is_socket_id)
        if subs is not None and self._started and not self.write_only:
            self._spawn(self._subscribe, subs)

    def _subscribe(self, subs: Subscriptions) -> Any:
        return self.transport.subscribe(subs, confirm=True)

    def _store_auth(self, eio_sid: str, nsp: str, auth: Any) -> None:
        self._connect_auth[(eio_sid, nsp)] = auth

    def _drop_auth(self, eio_sid: str, nsp: str) -> None:
        # A refused CONNECT never reaches pre_connect: forget its payload here.
        self._connect_auth.pop((eio_sid, nsp), None)

    def _note_connect(self, eio_sid: str, namespace: str, sid: Any) -> bool:
        """Remember a new socket's handshake; whether its namespace is new here."""
        auth = self._connect_auth.pop((eio_sid, namespace), None)
        if sid is None:
            return False
        self._socket_info[(namespace, sid)] = (time.time(), auth)
        return namespace not in self.core.namespaces

    def _is_local(self, sid: str, nsp: str) -> bool:
        return bool(self.is_connected(sid, nsp) or self.is_pre_connected(sid, nsp))

    # --- local sockets, as fetch_sockets reports them ---

    def _checked_session(self, sid: str, data: Any) -> Any:
        # One unserialisable session must not sink the whole fetch reply.
        try:
            dumps_json(data)
        except (TypeError, ValueError):
            self._log().warning("session of %s cannot cross the cluster; sent as {}", sid)
            return {}
        return data

    def _entry(self, nsp: str, sid: str, eio_sid: str, session: Any) -> SocketEntry:
        environs = getattr(self.server, "environ", {})
        issued, auth = self._socket_info.get((nsp, sid), (time.time(), {}))
        return SocketEntry(
            sid,
            handshake(environs.get(eio_sid), issued, auth),
            tuple(room_names(self.rooms, nsp, sid)),
            session,
        )

    def _targets(self, nsp: str, opts: BroadcastOptions) -> dict[str, str]:
        return select(self.rooms, nsp, opts)

    def _encode_reply(self, make: Callable[..., Any], reply: Any, value: Any) -> Any:
        try:
            return make(reply, value)
        except (TypeError, ValueError) as exc:
            # An unencodable session or ack must not leave the requester waiting forever
            # with no clue: say so here; the requester times out.
            self._log().warning("sio-redis could not encode a reply: %s", exc)
            return None

    # --- Node-style API that never waits ---

    def of(self, namespace: str = "/") -> Any:
        """An operator on ``namespace`` (``"chat"`` and ``"/chat"`` alike)."""
        return self._operator_class(self, Selection(normalize_namespace(namespace)))

    def on_server_side_emit(
        self, event: str, namespace: str = "/", handler: ServerSideHandler | None = None
    ) -> Any:
        """Register ``handler(*args)`` for server-side emits of ``event`` from other
        servers (Node's ``io.on(event, ...)`` for ``serverSideEmit``). With an ack
        requested, its return value is the reply. Usable as a decorator."""
        if not isinstance(event, str):
            raise TypeError("event must be a str")
        nsp = normalize_namespace(namespace)

        def register(fn: ServerSideHandler) -> ServerSideHandler:
            if not callable(fn):
                raise TypeError("handler must be callable")
            self._handlers[(nsp, event)] = fn
            if self._started and nsp not in self.core.namespaces:
                self._spawn(self._ready, nsp)
            return fn

        return register if handler is None else register(handler)

    def _ready(self, nsp: str) -> Any:
        raise NotImplementedError

    def _check_requests_allowed(self) -> None:
        if self.write_only:
            raise RuntimeError(
                "write_only=True: this manager only publishes; cluster requests (fetch_sockets, "
                "all_rooms, acks) need a manager that subscribes"
            )

    def _timeout(self, selection: Selection) -> float:
        ms = selection.flags.get("timeout")
        return self.requests_timeout if ms is None else float(ms) / 1000

    def _done(self, request_id: str) -> bool:
        pending = self.core.pending.get(request_id)
        return pending is None or pending.done
