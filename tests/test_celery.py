"""The Celery, script and cron examples (examples/, docs/celery-and-cron.md), run for real:
each publishes through Redis and a Socket.IO client of an in-process cluster server
(``AsyncRedisManager``) receives the event.

The Celery worker is a real ``celery worker`` subprocess with Redis as its broker (the
session Redis, on its own database and a queue of its own).
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.support import PEERS_KEY, require
from tests.support.redis import RedisServer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
BROKER_DB = 15  # the emitter publishes on db 0; Celery's lists live apart from test data
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    # SIGKILL the worker if pytest dies, so no stray worker keeps consuming.
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)
    env.update(extra)
    return env


class CeleryWorker:
    """A ``celery -A examples.celery_app worker`` subprocess logging to a file."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path, queue: str) -> None:
        self.proc = proc
        self.log = log
        self.queue = queue

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"

    def stderr_tail(self) -> str:
        # Shown by conftest's failure report ("sio test bed"), like a Node peer's stderr.
        return self.text()

    async def logged(self, pattern: str, timeout: float = READY_TIMEOUT) -> re.Match[str]:
        """The first match of ``pattern`` in the log, once it is there."""
        deadline = time.monotonic() + timeout
        while not (found := re.search(pattern, self.text())):
            if self.proc.poll() is not None:
                pytest.fail(f"celery worker exited with {self.proc.returncode}:\n{self.text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {pattern!r} in the worker log after {timeout} s:\n{self.text()}")
            await asyncio.sleep(0.05)
        return found

    async def ready(self) -> None:
        # Logged once the worker consumes from its queue ("<queue>@<host> ready.").
        await self.logged(rf"{re.escape(self.queue)}@\S+ ready\.")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # warm shutdown
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)

    def __repr__(self) -> str:
        state = "running" if self.proc.poll() is None else f"exit {self.proc.returncode}"
        return f"CeleryWorker(queue={self.queue!r}, pid={self.proc.pid}, {state}, log={self.log})"


@pytest.fixture(scope="module")
def celery_app() -> Any:
    try:
        from examples import celery_app
    except ImportError as exc:
        require(f"examples.celery_app cannot be imported (is celery installed?): {exc}")
    return celery_app


@pytest.fixture
def broker_url(redis_server: RedisServer) -> str:
    return f"redis://{redis_server.address}/{BROKER_DB}"


@pytest_asyncio.fixture(loop_scope="session")
async def celery_worker(
    request: pytest.FixtureRequest,
    celery_app: Any,
    redis_url: str,
    broker_url: str,
    key: str,
    tmp_path: Path,
) -> AsyncIterator[Callable[..., Awaitable[CeleryWorker]]]:
    """Factory: ``worker = await celery_worker(pool="solo")``, started and ready; its
    queue is ``worker.queue``. Stopped after the test; a failing test's report shows its
    log."""
    workers: list[CeleryWorker] = []

    async def start(pool: str = "solo") -> CeleryWorker:
        queue = f"{key}-{pool}"
        log = tmp_path / f"celery-{pool}.log"
        argv = [
            sys.executable, "-m", "celery", "-A", "examples.celery_app", "worker",
            f"--pool={pool}", "--concurrency=1", "-Q", queue, "-n", f"{queue}@%h",
            # No cluster chatter to wait for: one worker, alone on its queue.
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--loglevel=INFO",
        ]  # fmt: skip
        env = _env(SIO_REDIS_URL=redis_url, SIO_KEY=key, CELERY_BROKER_URL=broker_url)
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        worker = CeleryWorker(proc, log, queue)
        workers.append(worker)
        request.node.stash.setdefault(PEERS_KEY, []).append(worker)
        await worker.ready()
        return worker

    yield start
    for worker in workers:
        await asyncio.to_thread(worker.stop)


@pytest.mark.parametrize("pool", ["solo", "prefork"])
async def test_celery_task_reaches_client(
    pool: str,
    celery_app: Any,
    celery_worker: Callable[..., Awaitable[CeleryWorker]],
    broker_url: str,
    py_server: Any,
    py_client: Any,
) -> None:
    """``notify.apply_async`` from here; a real worker runs it (in its only process with
    the solo pool, in a forked pool process with prefork) and the room's client gets it."""
    server = await py_server(name="py1")
    admin = await py_client(server.url, name="admin", auth={"rooms": ["admins"]})
    other = await py_client(server.url, name="other", auth={"rooms": ["users"]})
    worker = await celery_worker(pool=pool)

    payload = {"ok": True, "pool": pool, "text": "héllo ✓"}

    def send() -> None:
        # The test's broker, explicitly: the example's own default is localhost:6379.
        with celery_app.app.connection_for_write(broker_url) as conn:
            celery_app.notify.apply_async(
                ("admins", "report", payload), queue=worker.queue, connection=conn
            )

    await asyncio.to_thread(send)
    got = await admin.events.wait(lambda e: e.get("event") == "report", timeout=15)
    assert got["args"] == [payload]
    # Same server, same broadcast: had "other" been targeted it would have it by now.
    assert not other.events.matching(lambda e: e.get("event") == "report")
    done = await worker.logged(r" INFO/([\w-]+)\] Task notify\[[-\w]+\] succeeded")
    # prefork: the task ran in a pool process forked from the worker's main process.
    assert done.group(1) == ("MainProcess" if pool == "solo" else "ForkPoolWorker-1")


async def _run(argv: list[str], env: dict[str, str], cwd: Path = ROOT) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}\n{out.decode()}{err.decode()}"


async def test_emit_script_reaches_client(
    redis_url: str, key: str, py_server: Any, py_client: Any
) -> None:
    server = await py_server(name="py1")
    admin = await py_client(server.url, name="admin", auth={"rooms": ["admins"]})
    argv = [sys.executable, str(EXAMPLES / "emit_script.py"), "admins", "report", '{"ok": true}']
    await _run(argv, _env(SIO_REDIS_URL=redis_url, SIO_KEY=key))
    got = await admin.events.wait(lambda e: e.get("event") == "report")
    assert got["args"] == [{"ok": True}]


def _crontab() -> tuple[dict[str, str], list[str]]:
    """examples/crontab: its variable lines and its commands, as cron would run them."""
    variables: dict[str, str] = {}
    commands: list[str] = []
    for line in (EXAMPLES / "crontab").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(None, 5)
        if len(fields) == 6 and all(re.fullmatch(r"[\d*/,-]+", f) for f in fields[:5]):
            command = fields[5]
            # Cron turns an unescaped % into a newline (the rest goes to stdin).
            assert not re.search(r"(?<!\\)%", command), f"unescaped % in {command!r}"
            commands.append(command.replace("\\%", "%"))
        else:
            name, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"[A-Z_]+", name.strip()), f"not a crontab line: {line}"
            variables[name.strip()] = value.strip()
    return variables, commands


async def test_crontab_lines_run(redis_url: str, key: str, py_server: Any, py_client: Any) -> None:
    """Every command of examples/crontab, run by /bin/sh with cron's bare environment,
    paths pointed at this checkout and its virtualenv."""
    variables, commands = _crontab()
    assert len(commands) == 2
    assert "SIO_REDIS_URL" in variables
    server = await py_server(name="py1")
    admin = await py_client(server.url, name="admin", auth={"rooms": ["admins"]})

    venv_bin = Path(sys.executable).parent
    env = {
        "PATH": "/usr/bin:/bin",  # cron's
        "HOME": os.environ.get("HOME", "/"),
        **variables,
        "SIO_REDIS_URL": redis_url,
        "SIO_KEY": key,  # read by emit_script.py
    }
    for command in commands:
        command = command.replace("/opt/app/venv/bin/", f"{venv_bin}/")
        command = command.replace("cd /opt/app ", f"cd {shlex.quote(str(ROOT))} ")
        command = command.replace("sio-emit ", f"sio-emit --key {key} ")
        await _run(["/bin/sh", "-c", command], env)

    report = await admin.events.wait(lambda e: e.get("event") == "report")
    assert report["args"] == [{"ok": True}]
    daily = await admin.events.wait(lambda e: e.get("event") == "daily")
    (at,) = daily["args"]
    assert abs(at["at"] - time.time()) < 60
