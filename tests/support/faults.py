"""Helpers for fault and hostile-input tests: phantom cluster members, frozen processes,
deadline polling, and a recorder for the event loop's exception handler.

Nothing here sleeps for a fixed time: waits poll a condition until a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import redis

__all__ = [
    "LoopErrors",
    "Phantom",
    "eventually",
    "freeze",
    "kill",
    "loop_errors",
    "sharded_pubsub_missing",
    "thaw",
]


async def eventually(
    condition: Callable[[], Any],
    timeout: float = 5.0,
    what: str = "condition",
    interval: float = 0.01,
) -> float:
    """Poll ``condition()`` (sync, or returning an awaitable) until it is truthy; how long
    it took. Raises ``AssertionError`` after ``timeout`` seconds."""
    start = time.monotonic()
    while True:
        value = condition()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what} not true within {timeout} s")
        await asyncio.sleep(interval)


class Phantom:
    """A cluster member that is counted but never answers: a raw Redis connection
    subscribed to the channel servers are counted on (classic ``<key>-request#<nsp>#``
    via ``NUMSUB``, sharded ``<key>#<nsp>#`` via ``SHARDNUMSUB``). Every cluster request
    then waits for one answer that never comes: a request is guaranteed to be in flight
    until its timeout, as with a hung peer."""

    def __init__(self, url: str, key: str, nsp: str = "/", *, sharded: bool = False) -> None:
        self._client = redis.Redis.from_url(url)
        self._pubsub = self._client.pubsub()  # type: ignore[no-untyped-call]
        if sharded:
            self.channel = f"{key}#{nsp}#"
            self._pubsub.ssubscribe(self.channel)
        else:
            self.channel = f"{key}-request#{nsp}#"
            self._pubsub.subscribe(self.channel)
        deadline = time.monotonic() + 5
        while True:  # wait for Redis to confirm, so NUMSUB counts us
            assert time.monotonic() < deadline, "phantom subscription not confirmed"
            msg = self._pubsub.get_message(timeout=0.5)
            if msg is not None and msg["type"] in ("subscribe", "ssubscribe"):
                break

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._pubsub.close()
        with contextlib.suppress(Exception):
            self._client.close()


def freeze(pid: int) -> None:
    """SIGSTOP a process we started: it stays connected (and counted) but does nothing."""
    os.kill(pid, signal.SIGSTOP)


def thaw(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)


def kill(pid: int) -> None:
    """SIGKILL a process we started (no clean shutdown, no goodbye to Redis)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


class LoopErrors:
    """What reached the event loop's exception handler (unhandled task exceptions,
    callbacks that raised, ...)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.calls.append(context)

    def describe(self) -> str:
        return "; ".join(f"{c.get('message')}: {c.get('exception')!r}" for c in self.calls[:5])


@contextlib.contextmanager
def loop_errors() -> Iterator[LoopErrors]:
    """Install a recording exception handler on the running loop for the block."""
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    recorder = LoopErrors()
    loop.set_exception_handler(recorder)
    try:
        yield recorder
    finally:
        loop.set_exception_handler(previous)


def sharded_pubsub_missing(url: str) -> str | None:
    """None when the Redis at ``url`` has sharded pub/sub (7+), else why not (for
    :func:`tests.support.require`)."""
    client = redis.Redis.from_url(url)
    try:
        version = str(client.info("server").get("redis_version", "0"))
    finally:
        client.close()
    major = int(version.split(".", 1)[0] or 0)
    return None if major >= 7 else f"sharded pub/sub needs Redis 7+, found {version}"
