"""A raw Redis subscriber for tests that check exactly what was published."""

from __future__ import annotations

import time
from typing import NamedTuple

import redis

__all__ = ["Listener", "Received"]


class Received(NamedTuple):
    kind: str
    channel: str
    data: bytes


class Listener:
    """A raw subscriber; each subscribe call waits for Redis to confirm it."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._pubsub = self._client.pubsub()  # type: ignore[no-untyped-call]

    def _confirmed(self, count: int) -> None:
        deadline = time.monotonic() + 5
        while count:
            assert time.monotonic() < deadline, "subscription not confirmed"
            msg = self._pubsub.get_message(timeout=0.5)
            if msg is not None:
                assert msg["type"] in ("subscribe", "psubscribe", "ssubscribe"), msg
                count -= 1

    def psubscribe(self, *patterns: str) -> Listener:
        self._pubsub.psubscribe(*patterns)
        self._confirmed(len(patterns))
        return self

    def subscribe(self, *channels: str) -> Listener:
        self._pubsub.subscribe(*channels)
        self._confirmed(len(channels))
        return self

    def ssubscribe(self, *channels: str) -> Listener:
        self._pubsub.ssubscribe(*channels)
        self._confirmed(len(channels))
        return self

    def take(self, count: int = 1, timeout: float = 5.0) -> list[Received]:
        got: list[Received] = []
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            msg = self._pubsub.get_message(timeout=0.2)
            if msg is not None and msg["type"] in ("message", "pmessage", "smessage"):
                got.append(Received(msg["type"], msg["channel"].decode(), msg["data"]))
        assert len(got) == count, f"expected {count} messages, got {len(got)}: {got[:5]}"
        return got

    def one(self) -> Received:
        return self.take(1)[0]

    def quiet(self, wait: float = 0.2) -> None:
        msg = self._pubsub.get_message(timeout=wait)
        assert msg is None, f"unexpected message {msg}"

    def close(self) -> None:
        self._pubsub.close()
        self._client.close()
