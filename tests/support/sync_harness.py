"""A sync Python Socket.IO server process (``RedisManager``) driven like ``tests/node/harness.js``.

``python -m tests.support.sync_harness '<json config>'`` (from the repo root) starts a
``socketio.Server(client_manager=RedisManager(...), async_mode=...)`` behind the WSGI server of
its async mode and speaks the Node harness's JSON-lines protocol (the subset documented in
``tests/node/README.md`` that the cluster tests use; ``tests/support/py_harness.py`` is the
asyncio twin), so ``NodePeer.start(config, argv=[python, "-m", "tests.support.sync_harness"])``
drives it.

Config: ``redisUrl``, ``key``, ``mode`` (classic|sharded), ``subscriptionMode``, ``namespaces``,
``requestsTimeout`` (ms), and

- ``asyncMode``: ``"threading"`` (werkzeug's threaded server, websockets through
  simple-websocket), ``"eventlet"`` (``eventlet.wsgi``) or ``"gevent"`` (``gevent.pywsgi``,
  websockets through simple-websocket, or gevent-websocket when installed);
- ``flask``: build the app with Flask-SocketIO (``SocketIO(app, client_manager=mgr)``,
  handlers with ``@socketio.on``);
- ``joinCall`` (default true): before "ready", call ``mgr.start()`` and ``server_count`` for
  every namespace. With false, "ready" follows the server's creation at once, which proves
  that the manager joins the cluster from ``socketio.Server(client_manager=mgr)`` itself.

Under eventlet and gevent the process monkey-patches before anything else is imported: when
the config asks for one of them, ``python -m`` re-executes itself through a bootstrap that
patches first (``python -m`` imports ``tests.support`` -- pytest, subprocess, threading --
before this module's first line runs).

Beyond the Node harness's ops (``server``, ``listen``, ``connect``, ``clientEmit``,
``clientClose``, ``socket``, ``sync``, ``exit``), ``closeManager`` runs ``mgr.close()`` and
reports ``{seconds, before, after, healthy}`` (``before``/``after``: the threads -- or green
threads -- running sio_redis code, by function name), and one Python-only op drives the
``socketio.Server`` API (Flask-SocketIO's under ``flask``) on any sid of the cluster:
``{"op": "sio", "action": "emit"|"call"|"enter_room"|"leave_room"|"close_room"|"disconnect",
"nsp", "sid", "room", "rooms", "skip", "event", "args", "callback": bool}``; ``emit`` with
``callback`` returns the callback's arguments, ``call`` the client's answer (10 s timeouts).
Server handlers ack a client's event with ``{"echo": args}``, except ``cluster-fetch``: the ids
of the sockets in room ``args[0]``, fetched cluster-wide from inside the event handler.
"""

from __future__ import annotations

import json
import os
import sys

_PATCHED_ENV = "SIO_SYNC_HARNESS_PATCHED"
_BOOT = """\
import json, os, sys
mode = json.loads(sys.argv[1]).get("asyncMode")
if mode == "eventlet":
    import eventlet
    eventlet.monkey_patch()
elif mode == "gevent":
    from gevent import monkey
    monkey.patch_all()
os.environ["SIO_SYNC_HARNESS_PATCHED"] = mode
import runpy
runpy.run_module("tests.support.sync_harness", run_name="__main__", alter_sys=True)
"""

if __name__ == "__main__" and len(sys.argv) > 1:
    _mode = json.loads(sys.argv[1]).get("asyncMode", "threading")
    if _mode in ("eventlet", "gevent") and os.environ.get(_PATCHED_ENV) != _mode:
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-c", _BOOT, *sys.argv[1:]])

import threading  # noqa: E402  (patched above under eventlet/gevent)
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import socketio  # noqa: E402

from sio_redis import AckTimeoutError, RedisManager, RequestTimeoutError  # noqa: E402
from tests.support.harness_ops import operator_for, socket_rows  # noqa: E402
from tests.support.node import from_wire, to_wire  # noqa: E402

_out_lock = threading.Lock()


def out(message: dict[str, Any]) -> None:
    line = json.dumps(to_wire(message)) + "\n"
    with _out_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def event(kind: str, **fields: Any) -> None:
    out({"type": "event", "kind": kind, **fields})


def log(text: str) -> None:
    sys.stderr.write(f"[sync_harness] {text}\n")
    sys.stderr.flush()


# ---------------------------------------------------------------------------
# one WSGI server and one stdin reader per async mode
# ---------------------------------------------------------------------------
class _Serving:
    """A running WSGI server: ``port`` and ``stop()``."""

    def __init__(self, port: int, stop: Callable[[], None]) -> None:
        self.port = port
        self.stop = stop


def serve(app: Any, mode: str) -> _Serving:
    if mode == "threading":
        from werkzeug.serving import make_server

        srv = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=srv.serve_forever, name="wsgi", daemon=True)
        thread.start()
        return _Serving(srv.server_port, srv.shutdown)
    if mode == "eventlet":
        import eventlet
        import eventlet.wsgi

        sock = eventlet.listen(("127.0.0.1", 0))
        green = eventlet.spawn(eventlet.wsgi.server, sock, app, log_output=False)
        return _Serving(sock.getsockname()[1], green.kill)
    if mode == "gevent":
        from gevent import pywsgi

        try:  # gevent-websocket when installed, else engine.io uses simple-websocket
            from geventwebsocket.handler import WebSocketHandler

            handler: dict[str, Any] = {"handler_class": WebSocketHandler}
        except ImportError:
            handler = {}
        srv = pywsgi.WSGIServer(("127.0.0.1", 0), app, log=None, **handler)
        srv.start()
        return _Serving(srv.server_port, srv.stop)
    raise ValueError(f"unknown asyncMode {mode!r}")


def stdin_lines(mode: str) -> Any:
    """Yield stdin lines without blocking the server: in threading mode the main thread
    simply blocks; eventlet reads in its OS thread pool; gevent through a cooperative
    FileObject."""
    if mode == "eventlet":
        from eventlet import tpool

        def read() -> bytes:
            return tpool.execute(sys.stdin.buffer.readline)  # type: ignore[no-any-return]
    elif mode == "gevent":
        from gevent.fileobject import FileObjectPosix

        stream = FileObjectPosix(sys.stdin.fileno(), "rb", close=False)
        read = stream.readline
    else:
        read = sys.stdin.buffer.readline
    while True:
        line = read()
        if not line:
            return
        yield line


# ---------------------------------------------------------------------------
# the harness
# ---------------------------------------------------------------------------
class Harness:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.mode = config.get("asyncMode", "threading")
        self.flask = bool(config.get("flask"))
        self.namespaces = list(config.get("namespaces", ["/"]))
        self.mgr = RedisManager(
            config["redisUrl"],
            key=config.get("key", "socket.io"),
            sharded=config.get("mode") == "sharded",
            subscription_mode=config.get("subscriptionMode", "dynamic"),
            requests_timeout=config.get("requestsTimeout", 5000) / 1000,
        )
        self.clients: dict[str, socketio.Client] = {}
        self.port = 0
        self.ext: Any = None  # the flask_socketio.SocketIO under "flask"
        if self.flask:
            import flask
            from flask_socketio import SocketIO

            self.app: Any = flask.Flask(__name__)
            self.ext = SocketIO(
                self.app,
                client_manager=self.mgr,
                async_mode=self.mode,
                namespaces=self.namespaces,
            )
            self.sio: socketio.Server = self.ext.server
            for nsp in self.namespaces:
                self._install_flask(nsp)
        else:
            self.sio = socketio.Server(
                client_manager=self.mgr, async_mode=self.mode, namespaces=self.namespaces
            )
            self.app = socketio.WSGIApp(self.sio)
            for nsp in self.namespaces:
                self._install(nsp)
        if self.sio.async_mode != self.mode:
            raise RuntimeError(f"asked for {self.mode}, got {self.sio.async_mode}")

    # -- server handlers ---------------------------------------------------------------------
    def _install(self, nsp: str) -> None:
        sio = self.sio

        def connect(sid: str, environ: Any, auth: Any = None) -> None:
            auth = auth or {}
            for room in auth.get("rooms", []):
                sio.enter_room(sid, room, namespace=nsp)
            if "data" in auth:
                sio.save_session(sid, auth["data"], namespace=nsp)
            event("connection", nsp=nsp, sid=sid)

        def disconnect(sid: str, reason: Any = None) -> None:
            event("server-disconnect", nsp=nsp, sid=sid, reason=str(reason))

        def any_event(name: str, sid: str, *args: Any) -> Any:
            event("server-received", nsp=nsp, sid=sid, event=name, args=list(args))
            return self._answer(nsp, name, args)

        sio.on("connect", connect, namespace=nsp)
        sio.on("disconnect", disconnect, namespace=nsp)
        sio.on("*", any_event, namespace=nsp)

    def _install_flask(self, nsp: str) -> None:
        import flask
        from flask_socketio import join_room

        ext, sio = self.ext, self.sio

        @ext.on("connect", namespace=nsp)
        def connect(auth: Any = None) -> None:
            sid = flask.request.sid  # type: ignore[attr-defined]
            auth = auth or {}
            for room in auth.get("rooms", []):
                join_room(room)
            if "data" in auth:
                sio.save_session(sid, auth["data"], namespace=nsp)
            event("connection", nsp=nsp, sid=sid)

        @ext.on("disconnect", namespace=nsp)
        def disconnect(reason: Any = None) -> None:
            sid = flask.request.sid  # type: ignore[attr-defined]
            event("server-disconnect", nsp=nsp, sid=sid, reason=str(reason))

        @ext.on("*", namespace=nsp)
        def any_event(name: str, *args: Any) -> Any:
            sid = flask.request.sid  # type: ignore[attr-defined]
            event("server-received", nsp=nsp, sid=sid, event=name, args=list(args))
            return self._answer(nsp, name, args)

    def _answer(self, nsp: str, name: str, args: tuple[Any, ...]) -> Any:
        """A client event's ack: ``{"echo": args}``; for ``cluster-fetch`` (a cluster request
        made from inside an event handler), the ids of the sockets in room ``args[0]``."""
        if name == "cluster-fetch":
            return sorted(s.id for s in self.mgr.of(nsp).in_(args[0]).fetch_sockets())
        return {"echo": list(args)}

    # -- ops ---------------------------------------------------------------------------------
    def op_server(self, cmd: dict[str, Any]) -> Any:
        nsp = cmd.get("nsp", "/")
        op = operator_for(self.mgr, cmd)
        action, args = cmd["action"], cmd.get("args", [])
        if action == "emit":
            op.emit(*args)
            return True
        if action == "emitWithAck":
            return op.emit_with_ack(*args)
        if action == "fetchSockets":
            return socket_rows(op.fetch_sockets())
        if action == "socketsJoin":
            op.sockets_join(args[0])
            return None
        if action == "socketsLeave":
            op.sockets_leave(args[0])
            return None
        if action == "disconnectSockets":
            op.disconnect_sockets(bool(args[0]) if args else False)
            return None
        if action == "serverSideEmit":
            self.mgr.server_side_emit(*args, namespace=nsp)
            return None
        if action == "serverSideEmitWithAck":
            return self.mgr.server_side_emit_with_ack(*args, namespace=nsp)
        if action == "allRooms":
            return sorted(self.mgr.all_rooms(nsp))
        if action == "serverCount":
            return self.mgr.server_count(nsp)
        raise ValueError(f"unknown action {action!r}")

    def op_listen(self, cmd: dict[str, Any]) -> Any:
        nsp, name, reply = cmd.get("nsp", "/"), cmd["event"], cmd.get("reply")

        def handler(*args: Any) -> Any:
            event("server-side-emit", nsp=nsp, event=name, args=list(args))
            return reply

        self.mgr.on_server_side_emit(name, nsp, handler)
        return None

    def op_connect(self, cmd: dict[str, Any]) -> Any:
        name = cmd["name"]
        nsp = cmd.get("nsp", "/")
        client = socketio.Client(reconnection=False)
        ack = cmd.get("ack", {"client": name})

        def any_event(ev: str, namespace: str, *args: Any) -> Any:
            event("client", client=name, event=ev, args=list(args))
            return ack

        def disconnect(namespace: str, reason: Any = None) -> None:
            event("client-disconnect", client=name, reason=str(reason))

        client.on("*", any_event, namespace="*")
        client.on("disconnect", disconnect, namespace="*")
        url = cmd.get("url") or f"http://127.0.0.1:{self.port}"
        client.connect(
            url,
            namespaces=[nsp],
            transports=["websocket"],
            auth=cmd.get("auth") or {},
            wait_timeout=10,
        )
        self.clients[name] = client
        return {"sid": client.get_sid(nsp)}

    def op_clientEmit(self, cmd: dict[str, Any]) -> Any:
        client = self.clients[cmd["client"]]
        nsp = cmd.get("nsp", "/")
        args = cmd.get("args", [])
        data = tuple(args) if len(args) != 1 else args[0]
        if cmd.get("ack"):
            return client.call(cmd["event"], data, namespace=nsp, timeout=5)
        client.emit(cmd["event"], data, namespace=nsp)
        return None

    def op_clientClose(self, cmd: dict[str, Any]) -> Any:
        self.clients.pop(cmd["client"]).disconnect()
        return None

    def op_socket(self, cmd: dict[str, Any]) -> Any:
        nsp, sid, action = cmd.get("nsp", "/"), cmd["sid"], cmd["action"]
        if not self.mgr.is_connected(sid, nsp):
            raise ValueError(f"socket {sid} is not on this server")
        if action == "join":
            for room in cmd.get("rooms", []):
                self.sio.enter_room(sid, room, namespace=nsp)
        elif action == "leave":
            for room in cmd.get("rooms", []):
                self.sio.leave_room(sid, room, namespace=nsp)
        elif action == "setData":
            self.sio.save_session(sid, cmd.get("data"), namespace=nsp)
        elif action == "emit":
            args = cmd.get("args", [])
            self.sio.emit(args[0], tuple(args[1:]), to=sid, namespace=nsp)
            return None
        elif action == "disconnect":
            self.sio.disconnect(sid, namespace=nsp)
            return None
        elif action != "rooms":
            raise ValueError(f"unsupported socket action {action!r}")
        return sorted(self.sio.rooms(sid, namespace=nsp))

    def op_sio(self, cmd: dict[str, Any]) -> Any:
        """The ``socketio.Server`` (or Flask-SocketIO) API on any sid of the cluster."""
        nsp, action, sio = cmd.get("nsp", "/"), cmd["action"], self.sio
        if action == "enter_room":
            sio.enter_room(cmd["sid"], cmd["room"], namespace=nsp)
        elif action == "leave_room":
            sio.leave_room(cmd["sid"], cmd["room"], namespace=nsp)
        elif action == "close_room":
            sio.close_room(cmd["room"], namespace=nsp)
        elif action == "disconnect":
            sio.disconnect(cmd["sid"], namespace=nsp)
        elif action == "emit":
            return self._sio_emit(cmd, nsp)
        elif action == "call":
            args = list(cmd.get("args", []))
            data = tuple(args) if len(args) != 1 else args[0]
            call = self.ext.call if self.ext is not None else self.sio.call
            return call(cmd["event"], data, to=cmd["sid"], namespace=nsp, timeout=10)
        else:
            raise ValueError(f"unsupported sio action {action!r}")
        return None

    def _sio_emit(self, cmd: dict[str, Any], nsp: str) -> Any:
        to = cmd.get("sid") or cmd.get("rooms")
        skip = cmd.get("skip")
        args = list(cmd.get("args", []))
        done = self.sio.eio.create_event()
        got: list[Any] = []

        def callback(*ack: Any) -> None:
            got.extend(ack)
            done.set()

        cb = callback if cmd.get("callback") else None
        data = tuple(args) if len(args) != 1 else args[0]
        if self.ext is not None:  # Flask-SocketIO's socketio.emit(event, data, to=...)
            payload = [data] if args else []
            self.ext.emit(
                cmd["event"], *payload, to=to, skip_sid=skip, namespace=nsp, callback=cb
            )
        else:
            self.sio.emit(cmd["event"], data, to=to, skip_sid=skip, namespace=nsp, callback=cb)
        if cb is None:
            return None
        if not done.wait(10):
            raise TimeoutError("no callback within 10 s")
        return got

    def op_sync(self, cmd: dict[str, Any]) -> Any:
        return None

    def op_closeManager(self, cmd: dict[str, Any]) -> Any:
        """``mgr.close()``: how long it took, and the threads or green threads running
        sio_redis code before and after it (by the innermost sio_redis function)."""
        before = self._sio_redis_tasks()
        started = time.monotonic()
        self.mgr.close()
        took = time.monotonic() - started
        return {"seconds": took, "before": before, "after": self._sio_redis_tasks(),
                "healthy": self.mgr.healthy}

    def _sio_redis_tasks(self) -> list[str]:
        import sio_redis

        package = os.path.dirname(os.path.abspath(sio_redis.__file__))

        def running(frame: Any) -> str | None:
            while frame is not None:
                if frame.f_code.co_filename.startswith(package):
                    return str(frame.f_code.co_name)
                frame = frame.f_back
            return None

        frames: list[Any] = []
        if self.mode == "threading":
            me = threading.get_ident()
            frames = [f for ident, f in sys._current_frames().items() if ident != me]
        else:
            import gc

            import greenlet

            current = greenlet.getcurrent()
            frames = [
                g.gr_frame
                for g in gc.get_objects()
                if isinstance(g, greenlet.greenlet) and g is not current and not g.dead
            ]
        return sorted(name for name in map(running, frames) if name is not None)

    def handle(self, cmd: dict[str, Any]) -> None:
        try:
            result = getattr(self, f"op_{cmd['op']}")(cmd)
            out({"type": "reply", "id": cmd["id"], "ok": True, "result": result})
        except (AckTimeoutError, RequestTimeoutError) as exc:
            partial = getattr(exc, "responses", None) or getattr(exc, "partial", None)
            out({"type": "reply", "id": cmd["id"], "ok": False, "error": str(exc),
                 "partial": partial})
        except Exception as exc:
            log(traceback.format_exc())
            out({"type": "reply", "id": cmd["id"], "ok": False,
                 "error": f"{type(exc).__name__}: {exc}"})

    # -- life cycle --------------------------------------------------------------------------
    def run(self) -> None:
        serving = serve(self.app, self.mode)
        self.port = serving.port
        if self.config.get("joinCall", True):
            self.mgr.start()
            for nsp in self.namespaces:
                self.mgr.server_count(nsp)  # subscribes every namespace before "ready"
        out({"type": "ready", "port": self.port, "pid": os.getpid()})
        for raw in stdin_lines(self.mode):
            try:
                cmd = from_wire(json.loads(raw))
            except ValueError:
                log(f"bad command line {raw[:200]!r}")
                continue
            if cmd.get("op") == "exit":
                out({"type": "reply", "id": cmd["id"], "ok": True, "result": None})
                break
            self.sio.start_background_task(self.handle, cmd)
        self.shutdown(serving)

    def shutdown(self, serving: _Serving) -> None:
        # Clients leave concurrently, at most 1 s: a sync client waits up to 3 s for the
        # websocket close frame, which simple-websocket servers do not send back.
        events = []
        for client in list(self.clients.values()):
            done = self.sio.eio.create_event()
            events.append(done)
            self.sio.start_background_task(self._disconnect_client, client, done)
        for done in events:
            done.wait(1.0)
        try:
            self.mgr.close()
        except Exception:
            log(f"mgr.close() failed:\n{traceback.format_exc()}")
        try:
            serving.stop()
        except Exception:
            log(f"stopping the WSGI server failed:\n{traceback.format_exc()}")

    @staticmethod
    def _disconnect_client(client: socketio.Client, done: Any) -> None:
        try:
            client.disconnect()
        except Exception:
            log(f"client disconnect failed:\n{traceback.format_exc()}")
        finally:
            done.set()


def main() -> None:
    config = json.loads(sys.argv[1])
    try:
        harness = Harness(config)
    except Exception:
        log(traceback.format_exc())
        sys.exit(2)
    harness.run()
    sys.stdout.flush()
    sys.stderr.flush()
    # Client/WSGI worker threads are daemons, but green hubs and pools may linger: the
    # clean part of the shutdown is above, the process ends here.
    os._exit(0)


if __name__ == "__main__":
    main()
