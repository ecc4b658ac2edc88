"""Where the demo cluster's Redis comes from: a URL, a throw-away ``redis-server``, or an
embedded fakeredis server when the machine has no Redis at all."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from sio_emitter._connect import redact_url

__all__ = [
    "EMBEDDED_NOTICE",
    "DemoRedis",
    "EmbeddedRedis",
    "ExternalRedis",
    "RedisServerProcess",
    "RedisUnavailable",
    "choose_redis",
    "free_port",
]

EMBEDDED_NOTICE = "no redis-server found: using an embedded fakeredis server (demo only)"

START_TIMEOUT = 10.0


class RedisUnavailable(RuntimeError):
    """No Redis could be provided; the message says what to do."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free now (for a child that needs one on its command line)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
    return port


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class DemoRedis:
    """A Redis the demo uses; ``stop()`` releases whatever the demo started for it."""

    url: str
    description: str
    notice: str | None = None

    def stop(self) -> None:
        pass


class ExternalRedis(DemoRedis):
    """A Redis the user runs (``--redis`` / ``$SIO_REDIS_URL``): nothing to start or stop."""

    def __init__(self, url: str, origin: str) -> None:
        self.url = url
        self.description = f"{redact_url(url)} ({origin})"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    # Linux only: SIGKILL redis-server if the launcher dies without cleaning up (kill -9).
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class RedisServerProcess(DemoRedis):
    """A private ``redis-server`` on a free local port that keeps nothing on disk.

    Start it before any thread exists: it is spawned with a ``preexec_fn``, which is only
    safe in a single-threaded process.
    """

    def __init__(self, binary: str) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = Path(tempfile.mkdtemp(prefix="sio-demo-redis-"))
        self._log = self._dir / "redis.log"
        argv = [
            binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no",
            "--dir", str(self._dir), "--logfile", str(self._log),
        ]  # fmt: skip
        self._proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        self.description = f"{self.url} (redis-server {binary}, pid {self._proc.pid})"
        deadline = time.monotonic() + START_TIMEOUT
        while not _ping(self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                log = self._log_tail()
                self.stop()
                raise RedisUnavailable(f"redis-server did not start on port {self.port}:\n{log}")
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _log_tail(self) -> str:
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-10:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)


class EmbeddedRedis(DemoRedis):
    """fakeredis's TCP server in a thread of the launcher: enough Redis (pub/sub included)
    for a demo, with nothing to install but a Python package."""

    def __init__(self, *, forced: bool = False) -> None:
        try:
            from fakeredis import TcpFakeServer
        except ImportError as exc:
            raise RedisUnavailable(
                "no redis-server found and fakeredis (>= 2.34) is not installed: install "
                "redis-server, set SIO_REDIS_URL, or pip install 'sio-redis[demo]'"
            ) from exc
        self._server = TcpFakeServer(("127.0.0.1", 0))
        self.port = int(self._server.server_address[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.description = f"{self.url} (embedded fakeredis, in the launcher process)"
        self.notice = (
            "--embedded-redis: using an embedded fakeredis server (demo only)"
            if forced
            else EMBEDDED_NOTICE
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fakeredis", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        # shutdown() also tells the per-connection handler threads to finish.
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def choose_redis(url: str | None, env_url: str | None, *, embedded: bool) -> DemoRedis:
    """``--redis`` URL, else ``$SIO_REDIS_URL``, else a private ``redis-server`` if one is on
    PATH, else fakeredis (``embedded`` skips straight to fakeredis)."""
    if embedded:
        return EmbeddedRedis(forced=True)
    if url:
        return ExternalRedis(url, "--redis")
    if env_url:
        return ExternalRedis(env_url, "$SIO_REDIS_URL")
    binary = shutil.which("redis-server")
    if binary is not None:
        return RedisServerProcess(binary)
    return EmbeddedRedis()
