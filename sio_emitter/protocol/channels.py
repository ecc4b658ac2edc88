"""Redis channel names of the Node Socket.IO Redis family (protocol map, section 2).

Every name ends in ``#`` except the classic pattern; the key/prefix and namespace are
used verbatim (Node does not escape glob characters in the pattern either).
"""

from __future__ import annotations

from typing import Literal

from .messages import Broadcast, BroadcastOptions, Message

__all__ = [
    "SOCKET_ID_LENGTH",
    "ClassicChannels",
    "ShardedChannels",
    "SubscriptionMode",
]

SubscriptionMode = Literal["static", "dynamic", "dynamic-private"]

#: Node's sharded sender treats a room name of this length as a socket id (private room).
SOCKET_ID_LENGTH = 20


class ClassicChannels:
    """Channels of the classic adapter and the emitter for one key and namespace."""

    __slots__ = (
        "_room_prefix",
        "broadcast",
        "key",
        "nsp",
        "pattern",
        "request",
        "response",
    )

    def __init__(self, key: str, nsp: str) -> None:
        self.key = key
        self.nsp = nsp
        self.broadcast = f"{key}#{nsp}#"
        self._room_prefix = self.broadcast
        self.pattern = f"{self.broadcast}*"
        self.request = f"{key}-request#{nsp}#"
        self.response = f"{key}-response#{nsp}#"

    def room(self, room: str) -> str:
        return f"{self._room_prefix}{room}#"

    def specific_response(self, uid: str) -> str:
        return f"{self.response}{uid}#"

    def for_broadcast(self, opts: BroadcastOptions) -> str:
        """Where a broadcast goes: its room's channel when it targets exactly one room."""
        if len(opts.rooms) == 1:
            return self.room(opts.rooms[0])
        return self.broadcast

    def room_of(self, channel: str) -> str | None:
        """The room a broadcast channel names (``""`` for the namespace channel), read as
        Node does: whatever lies between the prefix and the last character. ``None`` when
        the channel is not one of this namespace's broadcast channels."""
        if not channel.startswith(self._room_prefix):
            return None
        return channel[len(self._room_prefix) : -1]

    def __repr__(self) -> str:
        return f"ClassicChannels(key={self.key!r}, nsp={self.nsp!r})"


class ShardedChannels:
    """Channels of the sharded adapter (``SPUBLISH``/``SSUBSCRIBE``) for one namespace."""

    __slots__ = ("base", "mode", "nsp", "prefix")

    def __init__(self, prefix: str, nsp: str, mode: SubscriptionMode = "dynamic") -> None:
        if mode not in ("static", "dynamic", "dynamic-private"):
            raise ValueError(f"unknown subscription mode {mode!r}")
        self.prefix = prefix
        self.nsp = nsp
        self.mode: SubscriptionMode = mode
        self.base = f"{prefix}#{nsp}#"

    def room(self, room: str) -> str:
        return f"{self.base}{room}#"

    def response(self, uid: str) -> str:
        return f"{self.base}{uid}#"

    def for_message(self, msg: Message) -> str:
        """The channel a sender publishes ``msg`` on (responses: see :meth:`response`)."""
        if (
            self.mode != "static"
            and type(msg) is Broadcast
            and msg.request_id is None
            and len(msg.opts.rooms) == 1
        ):
            room = msg.opts.rooms[0]
            if self.mode == "dynamic-private" or len(room) != SOCKET_ID_LENGTH:
                return self.room(room)
        return self.base

    def subscribes_to_room(self, room: str, is_local_socket_id: bool) -> bool:
        """Whether a receiver holding ``room`` locally subscribes to the room's channel."""
        if self.mode == "static":
            return False
        return self.mode == "dynamic-private" or not is_local_socket_id

    def __repr__(self) -> str:
        return f"ShardedChannels(prefix={self.prefix!r}, nsp={self.nsp!r}, mode={self.mode!r})"
