"""Node-style broadcast operators: ``mgr.of("/chat").to("room1").except_("r2").emit(...)``.

Each chaining call returns a new operator; the actions run across the whole cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sio_emitter.protocol import BroadcastOptions

from ._local import wire_rooms

if TYPE_CHECKING:
    from .asyncio_manager import AsyncRedisManager
    from .manager import RedisManager

__all__ = ["AsyncBroadcastOperator", "BroadcastOperator", "RemoteSocket", "Selection"]


@dataclass(frozen=True, slots=True)
class Selection:
    """Namespace, rooms and flags an operator targets (flag names are Node's)."""

    nsp: str
    rooms: tuple[str, ...] = ()
    except_: tuple[str, ...] = ()
    flags: Mapping[str, Any] = field(default_factory=dict)

    @property
    def opts(self) -> BroadcastOptions:
        return BroadcastOptions(self.rooms, self.except_, dict(self.flags))

    def to(self, rooms: str | Iterable[str]) -> Selection:
        return replace(self, rooms=tuple(dict.fromkeys(self.rooms + wire_rooms(rooms))))

    def except_rooms(self, rooms: str | Iterable[str]) -> Selection:
        return replace(self, except_=tuple(dict.fromkeys(self.except_ + wire_rooms(rooms))))

    def flag(self, name: str, value: Any) -> Selection:
        return replace(self, flags={**self.flags, name: value})


class _Chaining:
    __slots__ = ("_manager", "_selection")

    def __init__(self, manager: Any, selection: Selection) -> None:
        self._manager = manager
        self._selection = selection

    def _with(self, selection: Selection) -> Any:
        return type(self)(self._manager, selection)

    @property
    def namespace(self) -> str:
        return self._selection.nsp

    def to(self, rooms: str | Iterable[str]) -> Any:
        """Target sockets in ``rooms``; repeated calls add up."""
        return self._with(self._selection.to(rooms))

    def in_(self, rooms: str | Iterable[str]) -> Any:
        """Alias of :meth:`to` (Node's ``in``)."""
        return self.to(rooms)

    def except_(self, rooms: str | Iterable[str]) -> Any:
        """Leave out sockets in ``rooms``."""
        return self._with(self._selection.except_rooms(rooms))

    @property
    def volatile(self) -> Any:
        """The packet may be dropped for clients that cannot take it now."""
        return self._with(self._selection.flag("volatile", True))

    def compress(self, flag: bool = True) -> Any:
        if not isinstance(flag, bool):
            raise TypeError("compress flag must be a bool")
        return self._with(self._selection.flag("compress", flag))

    @property
    def local(self) -> Any:
        """Act on this server's sockets only; nothing is published."""
        return self._with(self._selection.flag("local", True))

    def timeout(self, seconds: float) -> Any:
        """How long :meth:`emit_with_ack` and requests wait for the cluster."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        return self._with(self._selection.flag("timeout", round(seconds * 1000)))

    def __repr__(self) -> str:
        s = self._selection
        return (
            f"{type(self).__name__}(nsp={s.nsp!r}, rooms={list(s.rooms)}, "
            f"except={list(s.except_)}, flags={dict(s.flags)})"
        )


class AsyncBroadcastOperator(_Chaining):
    """Operator of an :class:`~sio_redis.AsyncRedisManager`; actions are coroutines.

    >>> await mgr.of("/").to("room1").emit("hello", "world")          # doctest: +SKIP
    >>> acks = await mgr.of("/").timeout(2).emit_with_ack("ping")      # doctest: +SKIP
    >>> sockets = await mgr.of("/").in_("room1").fetch_sockets()       # doctest: +SKIP
    """

    __slots__ = ()
    _manager: AsyncRedisManager

    async def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to the targeted clients on every server."""
        await self._manager._op_emit(self._selection, event, args)

    async def emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        """Send ``event`` and return every targeted client's ack (first argument of each).

        Raises :class:`~sio_redis.AckTimeoutError` (its ``responses`` hold the acks
        received) if not all arrive within :meth:`timeout` (default: the manager's
        ``requests_timeout``)."""
        return await self._manager._op_emit_with_ack(self._selection, event, args)

    async def fetch_sockets(self) -> list[RemoteSocket]:
        """The targeted sockets of every server."""
        return await self._manager._op_fetch_sockets(self._selection)

    async def sockets_join(self, rooms: str | Iterable[str]) -> None:
        """Make the targeted sockets join ``rooms``, on every server."""
        await self._manager._op_sockets_join(self._selection, wire_rooms(rooms))

    async def sockets_leave(self, rooms: str | Iterable[str]) -> None:
        """Make the targeted sockets leave ``rooms``, on every server."""
        await self._manager._op_sockets_leave(self._selection, wire_rooms(rooms))

    async def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect the targeted sockets; ``close=True`` also closes the connection."""
        if not isinstance(close, bool):
            raise TypeError("close must be a bool")
        await self._manager._op_disconnect_sockets(self._selection, close)


class BroadcastOperator(_Chaining):
    """Operator of a :class:`~sio_redis.RedisManager`; actions block until done.

    >>> mgr.of("/").to("room1").emit("hello", "world")                # doctest: +SKIP
    >>> acks = mgr.of("/").timeout(2).emit_with_ack("ping")            # doctest: +SKIP
    >>> sockets = mgr.of("/").in_("room1").fetch_sockets()             # doctest: +SKIP
    """

    __slots__ = ()
    _manager: RedisManager

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to the targeted clients on every server."""
        self._manager._op_emit(self._selection, event, args)

    def emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        """Send ``event`` and return every targeted client's ack (first argument of each);
        :class:`~sio_redis.AckTimeoutError` as for the async operator."""
        return self._manager._op_emit_with_ack(self._selection, event, args)

    def fetch_sockets(self) -> list[RemoteSocket]:
        """The targeted sockets of every server."""
        return self._manager._op_fetch_sockets(self._selection)

    def sockets_join(self, rooms: str | Iterable[str]) -> None:
        """Make the targeted sockets join ``rooms``, on every server."""
        self._manager._op_sockets_join(self._selection, wire_rooms(rooms))

    def sockets_leave(self, rooms: str | Iterable[str]) -> None:
        """Make the targeted sockets leave ``rooms``, on every server."""
        self._manager._op_sockets_leave(self._selection, wire_rooms(rooms))

    def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect the targeted sockets; ``close=True`` also closes the connection."""
        if not isinstance(close, bool):
            raise TypeError("close must be a bool")
        self._manager._op_disconnect_sockets(self._selection, close)


class RemoteSocket:
    """A socket anywhere in the cluster, as ``fetch_sockets()`` reports it (Node's
    ``RemoteSocket``): ``id``, ``handshake``, ``rooms`` (a set, its own id included),
    ``data`` (for Python servers: the socket's session), and actions that reach it
    wherever it lives. Its actions are coroutines from an ``AsyncRedisManager`` and
    blocking calls from a ``RedisManager``."""

    __slots__ = ("_operator", "data", "handshake", "id", "namespace", "rooms")

    def __init__(
        self,
        operator: AsyncBroadcastOperator | BroadcastOperator,
        id: str,
        handshake: Mapping[str, Any],
        rooms: Iterable[str],
        data: Any,
    ) -> None:
        self.id = id
        self.namespace = operator.namespace
        self.handshake = dict(handshake)
        self.rooms = set(rooms)
        self.data = data
        self._operator = operator.to(id)._with(
            operator.to(id)._selection.flag("expectSingleResponse", True)
        )

    def emit(self, event: str, *args: Any) -> Any:
        return self._operator.emit(event, *args)

    def join(self, rooms: str | Iterable[str]) -> Any:
        return self._operator.sockets_join(rooms)

    def leave(self, rooms: str | Iterable[str]) -> Any:
        return self._operator.sockets_leave(rooms)

    def disconnect(self, close: bool = False) -> Any:
        return self._operator.disconnect_sockets(close)

    def __repr__(self) -> str:
        return f"RemoteSocket(id={self.id!r}, nsp={self.namespace!r}, rooms={sorted(self.rooms)})"
