"""Throw-away ``redis-server`` processes for the test suite.

Plain subprocess code (no pytest here) so it can also be used from scripts and
benchmarks.  Every server listens on 127.0.0.1 on a free port (never 6379), keeps
no data on disk and logs to a file in its own temporary directory.

A server may require a password (``requirepass``), an ACL user, and/or TLS (then it
listens *only* with TLS on its port); :class:`RedisSentinel` runs ``redis-server
--sentinel`` monitoring one of them.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO
from urllib.parse import quote

__all__ = [
    "RedisCluster",
    "RedisError",
    "RedisSentinel",
    "RedisServer",
    "TlsFiles",
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


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a test CA and a server certificate it signed (see ``tests.support.tls``).

    The server certificate must be valid for ``127.0.0.1``; ``client_cert``/``client_key``
    are only needed for mutual TLS."""

    ca: Path
    cert: Path
    key: Path
    client_cert: Path | None = None
    client_key: Path | None = None

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts the CA (and presents the client cert, if any)."""
        ctx = ssl.create_default_context(cafile=str(self.ca))
        if self.client_cert is not None and self.client_key is not None:
            ctx.load_cert_chain(str(self.client_cert), str(self.client_key))
        return ctx


def _encode(args: Sequence[str]) -> bytes:
    payload = f"*{len(args)}\r\n".encode()
    for a in args:
        b = a.encode()
        payload += b"$" + str(len(b)).encode() + b"\r\n" + b + b"\r\n"
    return payload


def _read_reply(f: BinaryIO) -> bytes:
    """One complete RESP2 reply, raw (nested arrays included)."""
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed before a full reply")
    kind, body = line[:1], line[1:-2]
    if kind == b"$":
        n = int(body)
        return line if n < 0 else line + f.read(n + 2)
    if kind == b"*":
        parts = [line]
        for _ in range(max(int(body), 0)):
            parts.append(_read_reply(f))
        return b"".join(parts)
    return line


def _command(
    port: int,
    *args: str,
    timeout: float = 2.0,
    password: str | None = None,
    username: str | None = None,
    tls: TlsFiles | None = None,
) -> bytes:
    """Send one command (after ``AUTH`` when a password is given, over TLS when ``tls``)
    and return its complete raw RESP reply (best effort)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        s: socket.socket = raw
        if tls is not None:
            s = tls.client_context().wrap_socket(raw, server_hostname="127.0.0.1")
        with s, s.makefile("rb") as f:
            if password is not None:
                auth = ["AUTH", password] if username is None else ["AUTH", username, password]
                s.sendall(_encode(auth))
                reply = _read_reply(f)
                if not reply.startswith(b"+OK"):
                    # Never echo the password; the reply is Redis's own text.
                    text = reply.decode(errors="replace").strip()
                    raise RedisError(f"AUTH on port {port} failed: {text}")
            s.sendall(_encode(args))
            return _read_reply(f)


def _ping(
    port: int,
    *,
    password: str | None = None,
    username: str | None = None,
    tls: TlsFiles | None = None,
) -> bool:
    try:
        reply = _command(port, "PING", timeout=0.5, password=password, username=username, tls=tls)
    except (OSError, ValueError):
        return False
    return reply.startswith(b"+PONG")


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
    """One ``redis-server`` child process on 127.0.0.1:port.

    ``password`` alone sets ``requirepass`` (the ``default`` user's password). With
    ``username`` too, an ACL user ``username`` with every permission is created and the
    ``default`` user is switched off, so every client must authenticate as that user.
    ``tls`` (a :class:`TlsFiles`) makes the server listen with TLS only (``--port 0
    --tls-port port``), without asking clients for certificates unless
    ``tls_auth_clients`` says so (``"yes"``/``"optional"``). The test bed's own PINGs and
    :meth:`command` authenticate and use TLS accordingly; :attr:`url` carries the
    credentials and, for TLS, ``rediss://`` and ``ssl_ca_certs``.
    """

    def __init__(
        self,
        port: int | None = None,
        extra_args: Sequence[str] = (),
        *,
        binary: str | None = None,
        directory: str | os.PathLike[str] | None = None,
        name: str = "redis",
        password: str | None = None,
        username: str | None = None,
        tls: TlsFiles | None = None,
        tls_auth_clients: str = "no",
    ) -> None:
        self._port = port if port is not None else free_port()
        if self._port in _FORBIDDEN_PORTS:
            raise ValueError("refusing to run a test Redis on port 6379")
        if username is not None and password is None:
            raise ValueError("an ACL user needs a password")
        if tls_auth_clients not in ("no", "yes", "optional"):
            raise ValueError("tls_auth_clients must be 'no', 'yes' or 'optional'")
        self.password = password
        self.username = username
        self.tls = tls
        self.tls_auth_clients = tls_auth_clients
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
        """``redis://127.0.0.1:<port>/0``; with the credentials as userinfo when there are
        some, and ``rediss://...?ssl_ca_certs=<ca>`` for a TLS server."""
        scheme = "rediss" if self.tls is not None else "redis"
        userinfo = ""
        if self.password is not None:
            user = quote(self.username or "", safe="")
            userinfo = f"{user}:{quote(self.password, safe='')}@"
        query = ""
        if self.tls is not None:
            query = f"?ssl_ca_certs={quote(str(self.tls.ca), safe='/')}"
        return f"{scheme}://{userinfo}127.0.0.1:{self._port}/0{query}"

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
        extras = "".join(
            f" {flag}"
            for flag, on in (
                ("tls", self.tls is not None),
                (f"user={self.username}", self.username is not None),
                ("auth", self.password is not None and self.username is None),
            )
            if on
        )
        name = type(self).__name__
        return f"<{name} {self.name} port={self._port} pid={self.pid} {state}{extras}>"

    def _auth(self) -> dict[str, Any]:
        return {"password": self.password, "username": self.username, "tls": self.tls}

    def _argv(self, binary: str) -> list[str]:
        if self.tls is None:
            listen = ["--port", str(self._port)]
        else:
            listen = [
                "--port", "0",
                "--tls-port", str(self._port),
                "--tls-cert-file", str(self.tls.cert),
                "--tls-key-file", str(self.tls.key),
                "--tls-ca-cert-file", str(self.tls.ca),
                "--tls-auth-clients", self.tls_auth_clients,
            ]  # fmt: skip
        auth: list[str] = []
        if self.username is not None and self.password is not None:
            auth = ["--user", self.username, "on", f">{self.password}", "~*", "&*", "+@all"]
            auth += ["--user", "default", "off"]
        elif self.password is not None:
            auth = ["--requirepass", self.password]
        return [
            binary,
            *listen,
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "no",
            "--dir", str(self.directory),
            *auth,
            *self.extra_args,
        ]  # fmt: skip

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> RedisServer:
        if self.running:
            raise RedisError(f"{self!r} is already running")
        binary = self.binary or redis_server_binary()
        if binary is None:
            raise RedisError("redis-server not found on PATH")
        argv = self._argv(binary)
        with open(self.log_path, "ab") as log:
            log.write(f"--- {' '.join(self._shown(argv))}\n".encode())
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
            return _ping(self._port, **self._auth())

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
        return _ping(self._port, **self._auth())

    def command(self, *args: str, timeout: float = 2.0) -> bytes:
        """Raw RESP reply of one command (small helper for the test bed itself); it
        authenticates first and uses TLS when the server was started that way."""
        return _command(self._port, *args, timeout=timeout, **self._auth())

    def _shown(self, argv: Sequence[str]) -> list[str]:
        # The start line goes to the log: keep the password out of it.
        if self.password is None:
            return list(argv)
        return [a.replace(self.password, "***") for a in argv]

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


class RedisSentinel(RedisServer):
    """``redis-server sentinel.conf --sentinel`` monitoring ``master`` as ``service``.

    The sentinel itself needs no password and speaks plain TCP; it authenticates to the
    monitored servers with ``master``'s credentials (``sentinel auth-user/auth-pass``).
    Low ``down_after_ms``/``failover_timeout_ms`` make a failover take seconds. The
    sentinel rewrites its ``sentinel.conf`` (in :attr:`directory`) as it learns.
    """

    def __init__(
        self,
        master: RedisServer,
        *,
        service: str = "mymaster",
        quorum: int = 1,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
        port: int | None = None,
        name: str = "sentinel",
        binary: str | None = None,
    ) -> None:
        super().__init__(port, name=name, binary=binary)
        self.master = master
        self.service = service
        self.quorum = quorum
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms

    @property
    def config_path(self) -> Path:
        return self.directory / "sentinel.conf"

    @property
    def url(self) -> str:
        """``redis+sentinel://[user:password@]127.0.0.1:<port>/0/<service>``, with the
        monitored servers' credentials (the sentinel itself has none)."""
        userinfo = ""
        if self.master.password is not None:
            user = quote(self.master.username or "", safe="")
            userinfo = f"{user}:{quote(self.master.password, safe='')}@"
        return f"redis+sentinel://{userinfo}127.0.0.1:{self._port}/0/{self.service}"

    def _argv(self, binary: str) -> list[str]:
        if not self.config_path.exists():  # a restart keeps what the sentinel learnt
            lines = [
                f"port {self._port}",
                "bind 127.0.0.1",
                "protected-mode no",
                f"dir {self.directory}",
                f"sentinel monitor {self.service} 127.0.0.1 {self.master.port} {self.quorum}",
                f"sentinel down-after-milliseconds {self.service} {self.down_after_ms}",
                f"sentinel failover-timeout {self.service} {self.failover_timeout_ms}",
                f"sentinel parallel-syncs {self.service} 1",
            ]
            if self.master.password is not None:
                lines.append(f"sentinel auth-pass {self.service} {self.master.password}")
            if self.master.username is not None:
                lines.append(f"sentinel auth-user {self.service} {self.master.username}")
            self.config_path.write_text("\n".join(lines) + "\n")
        return [binary, str(self.config_path), "--sentinel"]

    def _auth(self) -> dict[str, Any]:
        return {"password": None, "username": None, "tls": None}

    def _shown(self, argv: Sequence[str]) -> list[str]:
        return list(argv)

    def master_address(self) -> tuple[str, int] | None:
        """What this sentinel currently reports as the master of :attr:`service`."""
        raw = self.command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
        lines = raw.split(b"\r\n")
        if not raw.startswith(b"*2"):
            return None
        return lines[2].decode(), int(lines[4])

    def replica_count(self) -> int:
        """How many replicas of :attr:`service` this sentinel knows (``num-slaves``)."""
        raw = self.command("SENTINEL", "MASTER", self.service)
        items = [x for x in raw.split(b"\r\n") if x and x[:1] not in b"*$"]
        fields = dict(zip(items[0::2], items[1::2], strict=False))
        return int(fields.get(b"num-slaves", b"0"))


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
