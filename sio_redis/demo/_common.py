"""What the demo's launcher, servers and ticker share: names, paths, message checks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = [
    "CLIENT_JS",
    "DEFAULT_KEY",
    "DEFAULT_REDIS_URL",
    "NODE_DEMO_SERVER",
    "NODE_DIR",
    "PAGE",
    "READY_MARK",
    "chat_message",
    "default_redis_url",
    "now_iso",
    "page_url",
    "stop_on_signals",
]

HERE = Path(__file__).resolve().parent
PAGE = HERE / "static" / "index.html"
# Only a source checkout has tests/node; an installed package runs without the Node server
# and without the browser client library (the page then says what is missing).
REPO_ROOT = HERE.parent.parent
NODE_DIR = REPO_ROOT / "tests" / "node"
NODE_DEMO_SERVER = NODE_DIR / "demo-server.js"
CLIENT_JS = NODE_DIR / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"

# Not the adapter's default "socket.io": pointed at a real Redis with $SIO_REDIS_URL, the
# demo must not talk to the applications already using it.
DEFAULT_KEY = "sio-demo"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

#: Every server prints ``<name> ready at <url> (pid N)`` once it serves and has joined the
#: cluster; the launcher waits for this mark (the Node server prints the same).
READY_MARK = " ready at "

MAX_NAME = 32
MAX_TEXT = 500


def default_redis_url() -> str:
    return os.environ.get("SIO_REDIS_URL") or DEFAULT_REDIS_URL


def page_url(host: str, port: int) -> str:
    """The URL to open for a server listening on ``host``: a wildcard address is not
    something a browser can open, so show localhost then."""
    if host in ("", "0.0.0.0", "::"):
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def now_iso() -> str:
    """Local time with its UTC offset, to the second."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def chat_message(data: Any, server: str) -> dict[str, str] | None:
    """The message to rebroadcast for a client's ``chat`` payload, or None if it is not
    ``{name, text}`` with a non-empty text (browsers are not trusted to send either)."""
    if not isinstance(data, dict):
        return None
    name, text = data.get("name"), data.get("text")
    if not isinstance(text, str) or not text.strip():
        return None
    if not isinstance(name, str) or not name.strip():
        name = "anonymous"
    return {
        "name": name.strip()[:MAX_NAME],
        "text": text.strip()[:MAX_TEXT],
        "server": server,
        "time": now_iso(),
    }


def stop_on_signals(stop: asyncio.Event, *, watch_stdin: bool = False) -> None:
    """Set ``stop`` on SIGINT/SIGTERM and, with ``watch_stdin``, when stdin reaches EOF.

    The launcher gives each member a stdin pipe it never writes to: the pipe closes when
    the launcher goes away, however it dies, so a member cannot outlive it.
    """
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - not on Unix
            pass
    if watch_stdin:
        fd = sys.stdin.fileno()

        def on_readable() -> None:
            # Raw reads: nothing is ever written, so any read returns b"" at EOF.
            try:
                eof = not os.read(fd, 4096)
            except OSError:
                eof = True
            if eof:
                loop.remove_reader(fd)
                stop.set()

        try:
            loop.add_reader(fd, on_readable)
        except (OSError, NotImplementedError):  # not a pipe (a file cannot be polled)

            def wait_for_eof() -> None:
                # os.read, not sys.stdin: a daemon thread blocked in a buffered reader
                # would abort the interpreter at exit.
                with contextlib.suppress(OSError):
                    while os.read(fd, 4096):
                        pass
                loop.call_soon_threadsafe(stop.set)

            threading.Thread(target=wait_for_eof, name="stdin-watch", daemon=True).start()
