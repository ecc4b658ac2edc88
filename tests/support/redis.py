"""Throw-away ``redis-server`` processes for the test suite.

Plain subprocess code (no pytest here) so it can also be used from scripts and
benchmarks.  Every server listens on 127.0.0.1 on a free port (never 6379), keeps
no data on disk and logs to a file in its own temporary directory.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

__all__ = [
    "RedisCluster",
    "RedisError",
    "RedisServer",
    "free_port",
    "redis_cli_binary",
    "redis_server_binary",
]

_FORBIDDEN_PORTS = frozenset({6379, 16379})
_handed_out: set[int] = set()
_port_lock = threading.Lock()
_live: weakref.WeakSet[RedisServer] = weakref.WeakSet()

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class RedisError(RuntimeError):
    """A test Redis server or cluster could not be started or controlled."""


def redis_server_binary() -> str | None:
    """Path of ``redis-server`` (``$REDIS_SERVER`` wins), or None when absent."""
    env = os.environ.get("REDIS_SERVER")
    if env:
        return env if os.access(env, os.X_OK) else None
    return shutil.which("redis-server")


def redis_cli_binary() -> str | None:
    """Path of ``redis-cli`` (``$REDIS_CLI`` wins), or None when absent."""
    env = os.environ.get("REDIS_CLI")
    if env:
        return env if os.access(env, os.X_OK) else None
    return shutil.which("redis-cli")


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, with_bus: bool = False) -> int:
    """A currently free TCP port on 127.0.0.1.

    Never 6379 and never a port already handed out by this process.  With
    ``with_bus`` the port + 10000 (the Redis Cluster bus port) is free too.
    """
    with _port_lock:
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                port: int = s.getsockname()[1]
            if port in _FORBIDDEN_PORTS or port in _handed_out:
                continue
            if with_bus:
                bus = port + 10000
                if bus > 65535 or bus in _FORBIDDEN_PORTS or bus in _handed_out:
                    continue
                if not _bindable(bus):
                    continue
                _handed_out.add(bus)
            _handed_out.add(port)
            return port
    raise RedisError("could not find a free port")


def _command(port: int, *args: str, timeout: float = 2.0) -> bytes:
    """Send one inline-free RESP command and return the raw reply (best effort)."""
    payload = f"*{len(args)}\r\n".encode()
    for a in args:
        b = a.encode()
        payload += b"$" + str(len(b)).encode() + b"\r\n" + b + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        chunks: list[bytes] = []
        data = s.recv(65536)
        chunks.append(data)
        # Bulk replies: read until the announced length is in.
        if data.startswith(b"$"):
            header, _, _rest = data.partition(b"\r\n")
            want = len(header) + 2 + int(header[1:]) + 2
            got = len(data)
            while got < want:
                more = s.recv(65536)
                if not more:
                    break
                chunks.append(more)
                got += len(more)
        return b"".join(chunks)


def _ping(port: int) -> bool:
    try:
        return _command(port, "PING", timeout=0.5).startswith(b"+PONG")
    except OSError:
        return False


def _wait_for(
    what: str,
    cond: Callable[[], bool],
    timeout: float,
    on_fail: Callable[[], str] = lambda: "",
) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        if cond():
            return
        if time.monotonic() >= deadline:
            raise RedisError(f"timed out after {timeout:g}s waiting for {what}{on_fail()}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _set_pdeathsig() -> None:  # pragma: no cover - runs in the child
    # Ask Linux to SIGKILL the server when the test process dies, so a crashed
    # or killed pytest leaves no stray redis-servers behind.
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class RedisServer:
    """One ``redis-server`` child process on 127.0.0.1:port."""

    def __init__(
        self,
        port: int | None = None,
        extra_args: Sequence[str] = (),
        *,
        binary: str | None = None,
        directory: str | os.PathLike[str] | None = None,
        name: str = "redis",
    ) -> None:
        self._port = port if port is not None else free_port()
        if self._port in _FORBIDDEN_PORTS:
            raise ValueError("refusing to run a test Redis on port 6379")
        self.extra_args = list(extra_args)
        self.binary = binary
        self.name = name
        self._own_dir = directory is None
        self._dir: Path | None = Path(directory) if directory is not None else None
        self._proc: subprocess.Popen[bytes] | None = None

    # -- properties ---------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._port}"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self._port}/0"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def directory(self) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix=f"sio-{self.name}-{self._port}-"))
        return self._dir

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<RedisServer {self.name} port={self._port} pid={self.pid} {state}>"

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> RedisServer:
        if self.running:
            raise RedisError(f"{self!r} is already running")
        binary = self.binary or redis_server_binary()
        if binary is None:
            raise RedisError("redis-server not found on PATH")
        argv = [
            binary,
            "--port", str(self._port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "no",
            "--dir", str(self.directory),
            *self.extra_args,
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            log.write(f"--- {' '.join(argv)}\n".encode())
            log.flush()
            main = threading.current_thread() is threading.main_thread()
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                # PDEATHSIG is tied to the spawning *thread*: only use it from
                # the main thread, which lives as long as the process.
                preexec_fn=_set_pdeathsig if main else None,
            )
        _live.add(self)
        proc = self._proc

        def up() -> bool:
            if proc.poll() is not None:
                raise RedisError(
                    f"redis-server on port {self._port} exited with {proc.returncode}"
                    f"\n--- log tail ---\n{self.log_tail()}"
                )
            return _ping(self._port)

        try:
            _wait_for(
                f"redis-server on port {self._port} to answer PING",
                up,
                START_TIMEOUT,
                lambda: f"\n--- log tail ---\n{self.log_tail()}",
            )
        except BaseException:
            self._terminate(force=True)
            raise
        return self

    def _terminate(self, *, force: bool) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            if force:
                proc.kill()
            else:
                proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
        _live.discard(self)

    def stop(self, *, remove_dir: bool = True) -> None:
        """SIGTERM (SIGKILL after 5 s), then delete the temporary directory."""
        self._terminate(force=False)
        self._proc = None
        if remove_dir and self._own_dir and self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def kill(self) -> None:
        """SIGKILL the server (for fault tests); ``restart()`` brings it back."""
        self._terminate(force=True)

    def restart(self) -> RedisServer:
        """(Re)start on the same port and directory; stops it first if running."""
        if self.running:
            self._terminate(force=False)
        self._proc = None
        return self.start()

    def __enter__(self) -> RedisServer:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- helpers ------------------------------------------------------------
    def ping(self) -> bool:
        return _ping(self._port)

    def command(self, *args: str, timeout: float = 2.0) -> bytes:
        """Raw RESP reply of one command (small helper for the test bed itself)."""
        return _command(self._port, *args, timeout=timeout)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


class RedisCluster:
    """Three master-only cluster nodes (16384 slots split by redis-cli)."""

    def __init__(self, size: int = 3, *, node_timeout_ms: int = 2000) -> None:
        if size < 3:
            raise ValueError("redis-cli --cluster create needs at least 3 masters")
        args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        args += ["--cluster-node-timeout", str(node_timeout_ms)]
        self.nodes: list[RedisServer] = [
            RedisServer(free_port(with_bus=True), args, name=f"cluster{i}") for i in range(size)
        ]

    @property
    def seeds(self) -> str:
        return ",".join(n.address for n in self.nodes)

    @property
    def url(self) -> str:
        return f"redis+cluster://{self.seeds}"

    @property
    def ports(self) -> list[int]:
        return [n.port for n in self.nodes]

    def __repr__(self) -> str:
        return f"<RedisCluster {', '.join(repr(n) for n in self.nodes)}>"

    def start(self) -> RedisCluster:
        cli = redis_cli_binary()
        if cli is None:
            raise RedisError("redis-cli not found on PATH")
        try:
            for n in self.nodes:
                n.start()
            argv = [cli, "--cluster", "create", *(n.address for n in self.nodes)]
            argv += ["--cluster-replicas", "0", "--cluster-yes"]
            res = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=60,
                check=False,
            )
            if res.returncode != 0:
                raise RedisError(
                    f"redis-cli --cluster create failed ({res.returncode}):\n"
                    f"{res.stdout.decode(errors='replace')}{res.stderr.decode(errors='replace')}"
                )
            self.wait_ok()
        except BaseException:
            self.stop()
            raise
        return self

    def cluster_info(self, i: int) -> dict[str, str]:
        raw = self.nodes[i].command("CLUSTER", "INFO").decode(errors="replace")
        info: dict[str, str] = {}
        for line in raw.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                info[key.strip()] = value.strip()
        return info

    def healthy(self) -> bool:
        """Every node up, ``cluster_state:ok``, all slots assigned, all nodes known."""
        for i, n in enumerate(self.nodes):
            if not n.running:
                return False
            try:
                info = self.cluster_info(i)
            except OSError:
                return False
            if (
                info.get("cluster_state") != "ok"
                or info.get("cluster_slots_assigned") != "16384"
                or info.get("cluster_slots_ok") != "16384"
                or info.get("cluster_known_nodes") != str(len(self.nodes))
            ):
                return False
        return True

    def wait_ok(self, timeout: float = 20.0) -> None:
        def details() -> str:
            parts = []
            for i, n in enumerate(self.nodes):
                try:
                    state = self.cluster_info(i).get("cluster_state", "?")
                except OSError as e:
                    state = f"unreachable ({e})"
                parts.append(f"\n{n!r}: cluster_state={state}\n{n.log_tail(10)}")
            return "".join(parts)

        _wait_for("cluster_state:ok on every node", self.healthy, timeout, details)

    def kill_node(self, i: int) -> None:
        """SIGKILL node i (its nodes.conf stays, so ``start_node`` rejoins it)."""
        self.nodes[i].kill()

    def start_node(self, i: int, *, wait: bool = True, timeout: float = 20.0) -> None:
        """Restart node i on its port; by default wait for the cluster to heal."""
        self.nodes[i].restart()
        if wait:
            self.wait_ok(timeout)

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@atexit.register
def _kill_leftovers() -> None:
    for server in list(_live):
        try:
            server.stop()
        except Exception:
            pass
