"""The two wire flavours the core speaks: classic (``createAdapter``) and sharded
(``createShardedAdapter``). Each knows its channels, encodings and reply addressing; the
core above them handles messages the same way whatever the flavour.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Literal

from sio_emitter._operator import Publish
from sio_emitter.protocol import (
    Broadcast,
    ClassicChannels,
    LegacySocketRequest,
    Message,
    ServerSideEmit,
    ShardedChannels,
    SubscriptionMode,
    classic,
    cluster,
)

__all__ = ["ClassicWire", "ReplyTo", "Route", "ShardedWire", "Subscriptions", "Wire"]

RouteKind = Literal["broadcast", "request", "response", "message"]


@dataclass(frozen=True, slots=True)
class Route:
    """What a subscribed channel (or pattern) carries, for one namespace."""

    nsp: str
    kind: RouteKind


@dataclass(frozen=True, slots=True)
class Subscriptions:
    """What a server subscribes to for one namespace, by Redis command."""

    channels: tuple[str, ...] = ()  # SUBSCRIBE
    patterns: tuple[str, ...] = ()  # PSUBSCRIBE
    shard_channels: tuple[str, ...] = ()  # SSUBSCRIBE


@dataclass(frozen=True, slots=True)
class ReplyTo:
    """Where the answer to a remote request goes."""

    nsp: str
    request_id: str
    command: Literal["PUBLISH", "SPUBLISH"]
    channel: str


def _url_safe_id(length: int) -> str:
    # uid2's alphabet (URL-safe base64), as Node's classic adapter uses.
    return secrets.token_urlsafe(length)[:length]


@dataclass
class ClassicWire:
    key: str
    publish_on_specific_response_channel: bool = True
    uid: str = field(default_factory=lambda: _url_safe_id(6))
    _channels: dict[str, ClassicChannels] = field(default_factory=dict)

    sharded = False

    def new_request_id(self) -> str:
        return _url_safe_id(6)

    def channels(self, nsp: str) -> ClassicChannels:
        chans = self._channels.get(nsp)
        if chans is None:
            chans = self._channels[nsp] = ClassicChannels(self.key, nsp)
        return chans

    def subscriptions(self, nsp: str) -> tuple[Subscriptions, dict[str, Route]]:
        c = self.channels(nsp)
        # Node subscribes both response channels whatever its own option, so replies
        # from peers configured either way arrive.
        routes = {
            c.pattern: Route(nsp, "broadcast"),
            c.request: Route(nsp, "request"),
            c.response: Route(nsp, "response"),
            c.specific_response(self.uid): Route(nsp, "response"),
        }
        subs = Subscriptions(
            channels=(c.request, c.response, c.specific_response(self.uid)),
            patterns=(c.pattern,),
        )
        return subs, routes

    def count_command(self, nsp: str) -> tuple[Literal["NUMSUB", "SHARDNUMSUB"], str]:
        return "NUMSUB", self.channels(nsp).request

    def publish(self, msg: Message) -> Publish:
        c = self.channels(msg.nsp)
        if type(msg) is Broadcast and msg.request_id is None:
            return Publish("PUBLISH", c.for_broadcast(msg.opts), classic.encode_broadcast(msg))
        return Publish("PUBLISH", c.request, classic.encode_request(msg))  # type: ignore[arg-type]

    def reply_to(self, msg: Message, request_id: str) -> ReplyTo:
        c = self.channels(msg.nsp)
        # serverSideEmit replies always use the shared channel, as Node's do.
        specific = (
            self.publish_on_specific_response_channel
            and msg.uid is not None
            and type(msg) is not ServerSideEmit
            and type(msg) is not LegacySocketRequest
        )
        channel = c.specific_response(msg.uid) if specific and msg.uid else c.response
        return ReplyTo(msg.nsp, request_id, "PUBLISH", channel)

    def reply(self, to: ReplyTo, msg: Message) -> Publish:
        return Publish(to.command, to.channel, classic.encode_response(msg))  # type: ignore[arg-type]

    def decode(self, route: Route, channel: str, payload: bytes, max_size: int) -> Message | None:
        """Decode, or ``None`` when Node would drop the message unread (see core)."""
        if route.kind == "broadcast":
            return classic.decode_broadcast(payload, max_size)
        if route.kind == "request":
            return classic.decode_request(payload, route.nsp, max_size)
        return classic.decode_response(payload, route.nsp, max_size)


@dataclass
class ShardedWire:
    key: str
    subscription_mode: SubscriptionMode = "dynamic"
    uid: str = field(default_factory=lambda: secrets.token_hex(8))
    _channels: dict[str, ShardedChannels] = field(default_factory=dict)

    sharded = True

    def new_request_id(self) -> str:
        return secrets.token_hex(8)

    def channels(self, nsp: str) -> ShardedChannels:
        chans = self._channels.get(nsp)
        if chans is None:
            chans = self._channels[nsp] = ShardedChannels(self.key, nsp, self.subscription_mode)
        return chans

    def subscriptions(self, nsp: str) -> tuple[Subscriptions, dict[str, Route]]:
        c = self.channels(nsp)
        routes = {c.base: Route(nsp, "message"), c.response(self.uid): Route(nsp, "response")}
        return Subscriptions(shard_channels=(c.base, c.response(self.uid))), routes

    def room_route(self, nsp: str, room: str) -> tuple[str, Route]:
        return self.channels(nsp).room(room), Route(nsp, "message")

    def count_command(self, nsp: str) -> tuple[Literal["NUMSUB", "SHARDNUMSUB"], str]:
        return "SHARDNUMSUB", self.channels(nsp).base

    def publish(self, msg: Message) -> Publish:
        channel = self.channels(msg.nsp).for_message(msg)
        return Publish("SPUBLISH", channel, cluster.encode_message(msg))

    def reply_to(self, msg: Message, request_id: str) -> ReplyTo:
        channel = self.channels(msg.nsp).response(msg.uid or "")
        return ReplyTo(msg.nsp, request_id, "SPUBLISH", channel)

    def reply(self, to: ReplyTo, msg: Message) -> Publish:
        return Publish(to.command, to.channel, cluster.encode_message(msg))

    def decode(self, route: Route, channel: str, payload: bytes, max_size: int) -> Message | None:
        return cluster.decode_message(payload, max_size)


Wire = ClassicWire | ShardedWire
