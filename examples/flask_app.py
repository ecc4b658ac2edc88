"""A minimal Flask-SocketIO chat whose servers form one cluster over Redis (``RedisManager``).

Run two (or more) from the repository root, on one Redis, and open both pages::

    SIO_REDIS_URL=redis://localhost:6379/0 PORT=5000 python -m examples.flask_app
    SIO_REDIS_URL=redis://localhost:6379/0 PORT=5001 python -m examples.flask_app

A message typed on one page reaches the pages of every server, Node servers running
``@socket.io/redis-adapter`` 8 on the same Redis and key included. ``SIO_KEY`` is the
adapter key (default ``socket.io``), ``ASYNC_MODE`` Flask-SocketIO's async mode:
``threading`` (the default), ``eventlet`` or ``gevent`` (when installed; the module then
monkey-patches the standard library before importing anything else).
"""

from __future__ import annotations

import os

ASYNC_MODE = os.environ.get("ASYNC_MODE", "threading")
if ASYNC_MODE == "eventlet":
    import eventlet

    eventlet.monkey_patch()
elif ASYNC_MODE == "gevent":
    from gevent import monkey

    monkey.patch_all()

from typing import Any  # noqa: E402

from flask import Flask, request  # noqa: E402
from flask_socketio import SocketIO, emit, join_room  # noqa: E402

from sio_redis import RedisManager  # noqa: E402

REDIS_URL = os.environ.get("SIO_REDIS_URL", "redis://localhost:6379/0")

app = Flask(__name__)
mgr = RedisManager(REDIS_URL, key=os.environ.get("SIO_KEY", "socket.io"))
# The manager joins the cluster here, before the first client connects.
socketio = SocketIO(app, client_manager=mgr, async_mode=ASYNC_MODE)

PAGE = """<!doctype html>
<title>sio-redis Flask chat</title>
<ul id="log"></ul>
<form id="f"><input id="m" autocomplete="off"><button>send</button></form>
<script src="https://cdn.socket.io/4.8.1/socket.io.min.js"></script>
<script>
  const socket = io({auth: {name: "guest-" + Math.floor(Math.random() * 1000)}});
  const log = (text) => {
    const li = document.createElement("li"); li.textContent = text;
    document.getElementById("log").appendChild(li);
  };
  socket.on("chat", (msg) => log(`${msg.from} (${msg.server}): ${msg.text}`));
  socket.on("online", (n) => log(`${n} people online in the cluster`));
  document.getElementById("f").onsubmit = (e) => {
    e.preventDefault();
    const input = document.getElementById("m");
    socket.emit("chat", input.value); input.value = "";
  };
</script>
"""


@app.route("/")
def index() -> str:
    return PAGE


@socketio.on("connect")
def connect(auth: Any = None) -> None:
    name = str((auth or {}).get("name") or "guest")[:40]
    join_room("lobby")
    # The python-socketio session is the socket's data cluster-wide (fetch_sockets, Node's
    # socket.data); keep it JSON-serialisable.
    socketio.server.save_session(request.sid, {"name": name})  # type: ignore[attr-defined]
    emit("online", len(mgr.of("/").in_("lobby").fetch_sockets()))


@socketio.on("chat")
def chat(text: Any) -> None:
    session = socketio.server.get_session(request.sid)  # type: ignore[attr-defined]
    message = {"from": session.get("name", "?"), "server": mgr.uid, "text": str(text)[:500]}
    socketio.emit("chat", message, to="lobby")  # every server's lobby, Node servers' too


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "5000"))
    # allow_unsafe_werkzeug: the threading mode's development server, for this example only.
    socketio.run(app, host="127.0.0.1", port=port, allow_unsafe_werkzeug=True)
