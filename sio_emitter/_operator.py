"""What an emitter publishes, decided without doing any I/O.

:class:`Target` is the immutable state of a chain like ``emitter.of("/chat").to("r1")
.volatile``; its ``*_publish`` methods return :class:`Publish` values (command, channel,
payload). The sync and asyncio emitters only send those.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .protocol import (
    EMITTER_UID,
    Broadcast,
    BroadcastOptions,
    ClassicChannels,
    DisconnectSockets,
    Message,
    Packet,
    ServerSideEmit,
    ShardedChannels,
    SocketsJoin,
    SocketsLeave,
    SubscriptionMode,
    classic,
    cluster,
)
from .protocol._values import pack

__all__ = [
    "RESERVED_EVENTS",
    "Publish",
    "Target",
    "check_event",
    "check_key_and_mode",
    "normalize_namespace",
    "room_tuple",
]

#: Event names Socket.IO uses itself; Node's emitter refuses them, and so do we.
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)


@dataclass(frozen=True, slots=True)
class Publish:
    """One Redis command to run: ``PUBLISH`` (classic) or ``SPUBLISH`` (sharded)."""

    command: Literal["PUBLISH", "SPUBLISH"]
    channel: str
    payload: bytes


def check_event(event: str) -> None:
    """An event name a client may receive: a str, and not one Socket.IO reserves."""
    if not isinstance(event, str):
        raise TypeError(f"event name must be a str, not {type(event).__name__}")
    if event in RESERVED_EVENTS:
        raise ValueError(f'"{event}" is a reserved event name')


def check_key_and_mode(key: str, subscription_mode: str) -> None:
    """The checks every emitter and manager makes of its ``key`` and ``subscription_mode``."""
    if not isinstance(key, str) or not key:
        raise ValueError("key must be a non-empty str")
    if subscription_mode not in ("static", "dynamic", "dynamic-private"):
        raise ValueError(f"unknown subscription_mode {subscription_mode!r}")


def normalize_namespace(nsp: str) -> str:
    if not isinstance(nsp, str):
        raise TypeError(f"namespace must be a str, not {type(nsp).__name__}")
    return nsp if nsp.startswith("/") else "/" + nsp


def room_tuple(rooms: str | Iterable[str]) -> tuple[str, ...]:
    """A room name or an iterable of them, checked, as a tuple."""
    if isinstance(rooms, str):
        return (rooms,)
    if isinstance(rooms, (bytes, bytearray)) or not isinstance(rooms, Iterable):
        raise TypeError(f"rooms must be a str or an iterable of str, not {type(rooms).__name__}")
    result = tuple(rooms)
    for room in result:
        if not isinstance(room, str):
            raise TypeError(f"room names must be str, not {type(room).__name__}")
    return result


def _dedupe(items: tuple[str, ...]) -> tuple[str, ...]:
    # Node keeps rooms in a Set: insertion order, no repeats.
    return tuple(dict.fromkeys(items))


@functools.lru_cache(maxsize=512)
def _classic_frame(
    key: str, nsp: str, rooms: tuple[str, ...], except_: tuple[str, ...], flags: tuple[Any, ...]
) -> tuple[str, bytes, bytes]:
    """Channel and the encoded frame of an emitter broadcast to one target: computed once
    per target, so each emit packs only its own data."""
    opts = BroadcastOptions(rooms, except_, dict(flags))
    head, tail = classic.broadcast_frame(EMITTER_UID, nsp, opts)
    return ClassicChannels(key, nsp).for_broadcast(opts), head, tail


@dataclass(frozen=True, slots=True)
class Target:
    """Namespace, rooms and flags of one emitter chain, plus how to reach the cluster."""

    key: str = "socket.io"
    nsp: str = "/"
    rooms: tuple[str, ...] = ()
    except_: tuple[str, ...] = ()
    flags: dict[str, Any] = field(default_factory=dict)
    sharded: bool = False
    subscription_mode: SubscriptionMode = "dynamic"

    # --- chaining (each returns a new Target) ---

    def of(self, nsp: str) -> Target:
        return Target(
            self.key,
            normalize_namespace(nsp),
            sharded=self.sharded,
            subscription_mode=self.subscription_mode,
        )

    def to(self, rooms: str | Iterable[str]) -> Target:
        # The constructor, not dataclasses.replace: this runs once per emit in a loop.
        return Target(
            self.key,
            self.nsp,
            _dedupe(self.rooms + room_tuple(rooms)),
            self.except_,
            self.flags,
            self.sharded,
            self.subscription_mode,
        )

    def except_rooms(self, rooms: str | Iterable[str]) -> Target:
        return replace(self, except_=_dedupe(self.except_ + room_tuple(rooms)))

    def with_flag(self, name: str, value: Any) -> Target:
        return replace(self, flags={**self.flags, name: value})

    # --- what to publish ---

    def _opts(self) -> BroadcastOptions:
        return BroadcastOptions(self.rooms, self.except_, self.flags)

    def _request(self, msg: Message) -> Publish:
        if self.sharded:
            channels = ShardedChannels(self.key, self.nsp, self.subscription_mode)
            return Publish("SPUBLISH", channels.for_message(msg), cluster.encode_message(msg))
        return Publish(
            "PUBLISH",
            ClassicChannels(self.key, self.nsp).request,
            classic.encode_request(msg),  # type: ignore[arg-type]
        )

    def emit_publish(self, event: str, args: tuple[Any, ...]) -> Publish:
        check_event(event)
        if args and callable(args[-1]):
            raise ValueError("acknowledgements are not supported by the emitter")
        if not self.sharded:
            try:
                frame = _classic_frame(
                    self.key, self.nsp, self.rooms, self.except_, tuple(self.flags.items())
                )
            except TypeError:  # an unhashable flag value: no cached frame
                pass
            else:
                channel, head, tail = frame
                return Publish("PUBLISH", channel, head + pack([event, *args]) + tail)
        msg = Broadcast(EMITTER_UID, self.nsp, Packet([event, *args], self.nsp), self._opts())
        if self.sharded:
            channels = ShardedChannels(self.key, self.nsp, self.subscription_mode)
            return Publish("SPUBLISH", channels.for_message(msg), cluster.encode_message(msg))
        channel = ClassicChannels(self.key, self.nsp).for_broadcast(msg.opts)
        return Publish("PUBLISH", channel, classic.encode_broadcast(msg))

    def server_side_emit_publish(self, event: str, args: tuple[Any, ...]) -> Publish:
        if not isinstance(event, str):
            raise TypeError(f"event name must be a str, not {type(event).__name__}")
        if args and callable(args[-1]):
            raise ValueError("acknowledgements are not supported by the emitter")
        return self._request(ServerSideEmit(EMITTER_UID, self.nsp, [event, *args]))

    def _uid(self) -> str | None:
        # Node's classic emitter sends join/leave/disconnect without a uid; the
        # ClusterAdapter envelope always has one.
        return EMITTER_UID if self.sharded else None

    def _room_opts(self) -> BroadcastOptions:
        return BroadcastOptions(self.rooms, self.except_, {})

    def sockets_join_publish(self, rooms: str | Iterable[str]) -> Publish:
        return self._request(
            SocketsJoin(self._uid(), self.nsp, self._room_opts(), room_tuple(rooms))
        )

    def sockets_leave_publish(self, rooms: str | Iterable[str]) -> Publish:
        msg = SocketsLeave(self._uid(), self.nsp, self._room_opts(), room_tuple(rooms))
        return self._request(msg)

    def disconnect_sockets_publish(self, close: bool) -> Publish:
        if not isinstance(close, bool):
            raise TypeError("close must be a bool")
        return self._request(DisconnectSockets(self._uid(), self.nsp, self._room_opts(), close))
