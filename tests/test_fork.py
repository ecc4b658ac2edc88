"""Emitters across ``os.fork()``: a child emits while the parent keeps using its own
connection, and every message from both arrives intact (docs/celery-and-cron.md).

The parent's redis-py client is built without retries, so a connection the child had
disturbed would fail loudly instead of being silently replaced, and its ``CLIENT ID`` is
compared before and after: the parent must still be on the very same TCP connection.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sio_emitter import AsyncEmitter, Emitter
from sio_emitter.protocol import classic
from tests.support import require
from tests.support.listener import Listener

N = 50
CHILD_TIMEOUT = 15.0


def _fork(child: Callable[[], None]) -> int:
    """Run ``child`` in a forked process; its pid. Exit status 0 means it returned."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        status = 1
        try:
            child()
            status = 0
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            # Never run pytest's (or anyone's) exit handlers in the copy.
            os._exit(status)
    return pid


def _wait_child(pid: int, timeout: float = CHILD_TIMEOUT) -> int:
    """The child's exit code, waiting at most ``timeout`` (then it is killed)."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"forked child {pid} still running after {timeout} s")
        time.sleep(0.01)


def _broadcasts(listener: Listener, count: int) -> list[tuple[str, list[Any], tuple[str, ...]]]:
    """``count`` broadcasts, decoded: (event, args, rooms)."""
    out = []
    for received in listener.take(count, timeout=10):
        msg = classic.decode_broadcast(received.data)
        event, *args = msg.packet.data
        out.append((event, args, tuple(msg.opts.rooms)))
    return out


def _strict_client(url: str) -> redis.Redis:
    # No retries: a broken connection must surface, not be quietly reconnected.
    return redis.Redis.from_url(url, retry=Retry(NoBackoff(), 0))


@pytest.fixture
def listen(redis_url: str, key: str) -> Iterator[Listener]:
    listener = Listener(redis_url).psubscribe(f"{key}#*")
    try:
        yield listener
    finally:
        listener.close()


def test_child_emits_after_parent_connected(redis_url: str, key: str, listen: Listener) -> None:
    client = _strict_client(redis_url)
    emitter = Emitter(client, key)
    parent_conn = client.client_id()
    emitter.to("room").emit("msg", {"from": "parent", "n": -1})  # the connection is open

    def child() -> None:
        # redis-py's pool notices the new pid and leaves the inherited connection alone.
        assert client.client_id() != parent_conn
        for n in range(N // 2):
            emitter.to("room").emit("msg", {"from": "child", "n": n})
        with emitter.pipeline() as batch:
            for n in range(N // 2, N):
                batch.to("room").emit("msg", {"from": "child", "n": n})
        # Finalize whatever the child dropped: closing its copies of the parent's
        # sockets must not shut the parent's connection down.
        gc.collect()

    pid = _fork(child)
    # The parent keeps emitting while the child does, on its own connection.
    for n in range(N):
        emitter.to("room").emit("msg", {"from": "parent", "n": n})
    assert _wait_child(pid) == 0

    emitter.to("room").emit("msg", {"from": "parent", "n": N})
    assert client.client_id() == parent_conn, "the parent had to reconnect"

    got = _broadcasts(listen, 1 + N + N + 1)
    assert {event for event, _, _ in got} == {"msg"}
    assert {rooms for _, _, rooms in got} == {("room",)}
    payloads = [args[0] for _, args, _ in got]
    parent = [p["n"] for p in payloads if p["from"] == "parent"]
    child_ns = [p["n"] for p in payloads if p["from"] == "child"]
    # Each process's messages arrive complete and in its own order.
    assert parent == list(range(-1, N + 1))
    assert child_ns == list(range(N))
    listen.quiet()
    client.close()


def test_emitter_made_from_url_survives_fork(redis_url: str, key: str, listen: Listener) -> None:
    """The form the docs recommend: ``Emitter.from_url``; the parent closes it at the end."""
    emitter = Emitter.from_url(redis_url, key, retry=Retry(NoBackoff(), 0))
    emitter.emit("hello", "parent")

    pid = _fork(lambda: emitter.emit("hello", "child"))
    assert _wait_child(pid) == 0
    emitter.emit("hello", "parent again")

    got = _broadcasts(listen, 3)
    assert [args for _, args, _ in got] == [["parent"], ["child"], ["parent again"]]
    emitter.close()


def test_async_emitter_made_before_fork(redis_url: str, key: str, listen: Listener) -> None:
    """An ``AsyncEmitter`` made before a fork (not yet connected: redis.asyncio connects on
    first use) serves the child's event loop and, afterwards, the parent's."""
    emitter = AsyncEmitter.from_url(redis_url, key)
    sync_client = _strict_client(redis_url)
    sync_emitter = Emitter(sync_client, key)
    sync_emitter.emit("hello", "parent sync")

    async def burst(who: str) -> None:
        async with emitter.pipeline() as batch:
            for n in range(N):
                await batch.to("room").emit("async", {"from": who, "n": n})
        await emitter.to("room").emit("async", {"from": who, "n": N})
        await emitter.aclose()

    pid = _fork(lambda: asyncio.run(burst("child")))
    assert _wait_child(pid) == 0
    # A fresh loop, not asyncio.run: pytest-asyncio's loop must stay this thread's loop.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(burst("parent"))
    finally:
        loop.close()
    sync_emitter.emit("hello", "parent sync again")

    got = _broadcasts(listen, 1 + (N + 1) * 2 + 1)
    assert got[0] == ("hello", ["parent sync"], ())
    assert got[-1] == ("hello", ["parent sync again"], ())
    bursts = [args[0] for event, args, _ in got if event == "async"]
    for who in ("child", "parent"):
        assert [p["n"] for p in bursts if p["from"] == who] == list(range(N + 1))
    sync_client.close()


def test_celery_example_makes_one_emitter_per_process(
    redis_url: str, key: str, listen: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """examples/celery_app.py: ``get_emitter()`` is cached per process; a forked child
    (a prefork pool process) gets its own, and the task emits through it."""
    try:
        from examples import celery_app
    except ImportError as exc:
        require(f"examples.celery_app cannot be imported: {exc}")
        return
    monkeypatch.setattr(celery_app, "REDIS_URL", redis_url)
    monkeypatch.setattr(celery_app, "SIO_KEY", key)
    monkeypatch.setattr(celery_app, "_emitter", None)
    monkeypatch.setattr(celery_app, "_emitter_pid", 0)

    first = celery_app.get_emitter()
    assert celery_app.get_emitter() is first
    celery_app.notify("room", "note", {"from": "parent"})  # runs the task in-process

    def child() -> None:
        mine = celery_app.get_emitter()
        assert mine is not first
        assert celery_app.get_emitter() is mine
        celery_app.notify("room", "note", {"from": "child"})

    pid = _fork(child)
    assert _wait_child(pid) == 0
    assert celery_app.get_emitter() is first
    celery_app.notify("room", "note", {"from": "parent", "again": True})

    got = _broadcasts(listen, 3)
    assert got == [
        ("note", [{"from": "parent"}], ("room",)),
        ("note", [{"from": "child"}], ("room",)),
        ("note", [{"from": "parent", "again": True}], ("room",)),
    ]
    first.close()
