"""``sio-emit`` against the session Redis: what lands on which channel, and how it fails.

A raw redis-py subscriber (PSUBSCRIBE ``{key}*``, SUBSCRIBE on request channels,
SSUBSCRIBE for ``--sharded``) sees exactly what the command published.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sio_emitter import cli
from sio_emitter._operator import Target
from sio_emitter.protocol import (
    EMITTER_UID,
    Broadcast,
    BroadcastOptions,
    DisconnectSockets,
    Packet,
    ServerSideEmit,
    SocketsJoin,
    SocketsLeave,
    classic,
    cluster,
)
from tests.support.listener import Listener
from tests.support.redis import RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "hunter2-s3cr3t"


@pytest.fixture
def listen(redis_url: str, key: str) -> Iterator[Listener]:
    """Every broadcast channel of ``key`` and the request channels of ``/`` and ``/admin``."""
    listener = Listener(redis_url).psubscribe(f"{key}#*")
    listener.subscribe(f"{key}-request#/#", f"{key}-request#/admin#")
    try:
        yield listener
    finally:
        listener.close()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``sio-emit argv`` run in this process."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(err: str, *, contains: str = "") -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sio-emit: error: "), err
    assert "Traceback" not in err
    assert contains.lower() in lines[0].lower(), err


# ---------------------------------------------------------------------------
# broadcasts
# ---------------------------------------------------------------------------
def test_emit_to_all(
    capsys: pytest.CaptureFixture[str], listen: Listener, redis_url: str, key: str
) -> None:
    code, out, err = run(
        capsys, "--url", redis_url, "--key", key, "hello", '"world"', "42", '{"a":1}'
    )
    assert (code, out, err) == (0, "", "")
    got = listen.one()
    assert (got.kind, got.channel) == ("pmessage", f"{key}#/#")
    assert classic.decode_broadcast(got.data) == Broadcast(
        EMITTER_UID, "/", Packet(["hello", "world", 42, {"a": 1}], "/")
    )
    # Byte for byte what the library's emitter would publish.
    assert got.data == Target(key).emit_publish("hello", ("world", 42, {"a": 1})).payload


def test_json_argument_kinds(
    capsys: pytest.CaptureFixture[str], listen: Listener, redis_url: str, key: str
) -> None:
    values = ['"text"', "42", "-7", "1.5", "true", "false", "null", "[1,[2]]", '{"a":{"b":[]}}']
    assert run(capsys, "--url", redis_url, "--key", key, "kinds", *values)[0] == 0
    data = classic.decode_broadcast(listen.one().data).packet.data
    assert data == ["kinds", "text", 42, -7, 1.5, True, False, None, [1, [2]], {"a": {"b": []}}]


def test_emit_to_one_room(
    capsys: pytest.CaptureFixture[str], listen: Listener, redis_url: str, key: str
) -> None:
    assert run(capsys, "--url", redis_url, "--key", key, "--to", "room1", "hi")[0] == 0
    got = listen.one()
    assert got.channel == f"{key}#/#room1#"
    assert classic.decode_broadcast(got.data).opts == BroadcastOptions(("room1",))


def test_emit_to_two_rooms_uses_the_namespace_channel(
    capsys: pytest.CaptureFixture[str], listen: Listener, redis_url: str, key: str
) -> None:
    argv = ["--url", redis_url, "--key", key, "--to", "r1", "hi", "--to", "r2", "--to", "r1"]
    assert run(capsys, *argv)[0] == 0
    got = listen.one()
    assert got.channel == f"{key}#/#"
    assert classic.decode_broadcast(got.data).opts.rooms == ("r1", "r2")


def test_emit_except_and_volatile(
    capsys: pytest.CaptureFixture[str], listen: Listener, redis_url: str, key: str
) -> None:
    argv = ["--url", redis_url, "--key", key, "--except", "r3", "--volatile", "hi", "1"]
    assert run(capsys, *argv)[0] == 0
    got = listen.one()
    assert got.channel == f"{key}#/#"
    msg = classic.decode_broadcast(got.data)
    assert msg.opts == BroadcastOptions((), ("r3",), {"volatile": True})
    expected = Target(key).except_rooms("r3").with_flag("volatile", True)
    assert got.data == expected.emit_publish("hi", (1,)).payload


@pytest.mark.parametrize("nsp", ["admin", "/admin"])
def test_namespace(
    capsys: pytest.CaptureFixture[str], listen: Listener, redis_url: str, key: str, nsp: str
) -> None:
    assert run(capsys, "--url", redis_url, "--key", key, "--nsp", nsp, "--to", "a", "hi")[0] == 0
    got = listen.one()
    assert got.channel == f"{key}#/admin#a#"
    msg = classic.decode_broadcast(got.data)
    assert (msg.nsp, msg.packet.nsp) == ("/admin", "/admin")


def test_explicit_emit_sends_an_event_named_like_a_command(
    capsys: pytest.CaptureFixture[str], listen: Listener, redis_url: str, key: str
) -> None:
    assert run(capsys, "emit", "join", '"x"', "--url", redis_url, "--key", key)[0] == 0
    got = listen.one()
    assert got.channel == f"{key}#/#"
    assert classic.decode_broadcast(got.data).packet.data == ["join", "x"]


def test_double_dash_lets_json_start_with_a_dash(
    capsys: pytest.CaptureFixture[str], listen: Listener, redis_url: str, key: str
) -> None:
    assert run(capsys, "--url", redis_url, "--key", key, "n", "-1", "--", "-1e3")[0] == 0
    assert classic.decode_broadcast(listen.one().data).packet.data == ["n", -1, -1000]


def test_url_from_environment(
    capsys: pytest.CaptureFixture[str],
    listen: Listener,
    redis_url: str,
    key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SIO_REDIS_URL", redis_url)
    assert run(capsys, "--key", key, "hi")[0] == 0
    assert listen.one().channel == f"{key}#/#"


def test_verbose_prints_one_line(
    capsys: pytest.CaptureFixture[str], listen: Listener, redis_url: str, key: str
) -> None:
    code, out, err = run(capsys, "-v", "--url", redis_url, "--key", key, "--to", "r", "hi")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"PUBLISH {key}#/#r# (")
    assert "1 subscriber" in lines[0]  # our pattern subscriber
    listen.one()


# ---------------------------------------------------------------------------
# requests
# ---------------------------------------------------------------------------
def test_join(
    capsys: pytest.CaptureFixture[str], listen: Listener, redis_url: str, key: str
) -> None:
    # Options before and after the command name.
    argv = ["--url", redis_url, "--to", "room1", "join", "room2", "room3", "--key", key]
    assert run(capsys, *argv) == (0, "", "")
    got = listen.one()
    assert (got.kind, got.channel) == ("message", f"{key}-request#/#")
    assert got.data == (
        b'{"type":2,"opts":{"rooms":["room1"],"except":[]},"rooms":["room2","room3"]}'
    )
    assert classic.decode_request(got.data, "/") == SocketsJoin(
        None, "/", BroadcastOptions(("room1",)), ("room2", "room3")
    )


def test_leave(
    capsys: pytest.CaptureFixture[str], listen: Listener, redis_url: str, key: str
) -> None:
    argv = ["leave", "room2", "--url", redis_url, "--key", key, "--nsp", "admin", "--except", "x"]
    assert run(capsys, *argv)[0] == 0
    got = listen.one()
    assert got.channel == f"{key}-request#/admin#"
    assert classic.decode_request(got.data, "/admin") == SocketsLeave(
        None, "/admin", BroadcastOptions((), ("x",)), ("room2",)
    )


@pytest.mark.parametrize("close", [True, False])
def test_disconnect(
    capsys: pytest.CaptureFixture[str], listen: Listener, redis_url: str, key: str, close: bool
) -> None:
    argv = ["--url", redis_url, "--key", key, "--to", "victims", "disconnect"]
    assert run(capsys, *argv, *(["--close"] if close else []))[0] == 0
    got = listen.one()
    assert got.channel == f"{key}-request#/#"
    assert classic.decode_request(got.data, "/") == DisconnectSockets(
        None, "/", BroadcastOptions(("victims",)), close
    )


def test_server_side_emit(
    capsys: pytest.CaptureFixture[str], listen: Listener, redis_url: str, key: str
) -> None:
    argv = ["--url", redis_url, "--key", key, "server-side-emit", "ping", '"x"', "1"]
    assert run(capsys, *argv)[0] == 0
    got = listen.one()
    assert got.channel == f"{key}-request#/#"
    assert got.data == b'{"uid":"emitter","type":6,"data":["ping","x",1]}'
    assert classic.decode_request(got.data, "/") == ServerSideEmit(
        EMITTER_UID, "/", ["ping", "x", 1]
    )


# ---------------------------------------------------------------------------
# sharded
# ---------------------------------------------------------------------------
def test_sharded_emit_uses_spublish_on_the_base_channel(
    capsys: pytest.CaptureFixture[str], redis_url: str, key: str
) -> None:
    sharded = Listener(redis_url).ssubscribe(f"{key}#/#")
    classic_side = Listener(redis_url).psubscribe(f"{key}#*")
    try:
        assert run(capsys, "--sharded", "--url", redis_url, "--key", key, "hi", '"x"')[0] == 0
        got = sharded.one()
        assert (got.kind, got.channel) == ("smessage", f"{key}#/#")
        msg = cluster.decode_message(got.data)
        assert msg == Broadcast(EMITTER_UID, "/", Packet(["hi", "x"], "/"))
        classic_side.quiet()  # SPUBLISH never reaches pattern subscribers
    finally:
        sharded.close()
        classic_side.close()


def test_sharded_room_and_request(
    capsys: pytest.CaptureFixture[str], redis_url: str, key: str
) -> None:
    sharded = Listener(redis_url).ssubscribe(f"{key}#/#", f"{key}#/#room1#")
    try:
        base = ["--sharded", "--url", redis_url, "--key", key]
        assert run(capsys, *base, "--to", "room1", "hi")[0] == 0
        assert run(capsys, *base, "--to", "room1", "join", "room2")[0] == 0
        assert run(capsys, *base, "--to", "room1", "--subscription-mode", "static", "hi")[0] == 0
        room, join, static = sharded.take(3)
        assert room.channel == f"{key}#/#room1#"
        assert join.channel == f"{key}#/#"
        assert static.channel == f"{key}#/#"
        assert cluster.decode_message(join.data) == SocketsJoin(
            EMITTER_UID, "/", BroadcastOptions(("room1",)), ("room2",)
        )
    finally:
        sharded.close()


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "contains"),
    [
        (["hi", "not-json"], "not valid JSON"),
        (["hi", "{'a': 1}"], "not valid JSON"),
        (["hi", "NaN"], "not valid JSON"),
        (["connect"], "reserved"),
        (["emit", "disconnect"], "reserved"),
        (["emit", "newListener", "1"], "reserved"),
        (["hi", "18446744073709551616"], "out of range"),
        ([], "missing EVENT"),
        (["server-side-emit"], "missing EVENT"),
        (["join"], "ROOM"),
        (["--bogus", "hi"], "--bogus"),
        (["--key", "", "hi"], "key"),
    ],
)
def test_usage_errors(
    capsys: pytest.CaptureFixture[str],
    listen: Listener,
    redis_url: str,
    key: str,
    argv: list[str],
    contains: str,
) -> None:
    code, out, err = run(capsys, "--url", redis_url, "--key", key, *argv)
    assert code == 2
    assert out == ""
    assert_one_error_line(err, contains=contains)
    listen.quiet()


@pytest.mark.parametrize(
    "url",
    [
        f"http://user:{PASSWORD}@localhost/",
        f"redis://user:{PASSWORD}@localhost:notaport/0",
        "localhost:6379",
        "",
    ],
)
def test_bad_url(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, out, err = run(capsys, "--url", url, "hi")
    assert (code, out) == (2, "")
    assert_one_error_line(err)
    assert PASSWORD not in err


def test_unreachable_redis(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()  # nothing listens there
    started = time.monotonic()
    code, out, err = run(capsys, "--url", f"redis://user:{PASSWORD}@127.0.0.1:{port}/0", "hi")
    assert time.monotonic() - started < 6
    assert (code, out) == (1, "")
    assert_one_error_line(err, contains=f"127.0.0.1:{port}")
    assert PASSWORD not in err
    assert "***" in err


def test_volatile_to_unreachable_redis_still_fails(capsys: pytest.CaptureFixture[str]) -> None:
    # Unlike the library, a shell user wants to hear that nothing was sent.
    code, _, err = run(capsys, "--url", f"redis://127.0.0.1:{free_port()}/0", "--volatile", "hi")
    assert code == 1
    assert_one_error_line(err)


def test_wrong_password(capsys: pytest.CaptureFixture[str]) -> None:
    # RedisServer waits for +PONG, which a server started with --requirepass never gives.
    with RedisServer(name="auth") as server:
        assert server.command("CONFIG", "SET", "requirepass", "right-one").startswith(b"+OK")
        code, out, err = run(capsys, "--url", f"redis://:{PASSWORD}@{server.address}/0", "hi")
        assert (code, out) == (1, "")
        assert_one_error_line(err)
        assert PASSWORD not in err
        ok = run(capsys, "--url", f"redis://:right-one@{server.address}/0", "hi")
        assert ok == (0, "", "")


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--help")
    assert (code, err) == (0, "")
    assert "server-side-emit" in out and "JSON_ARG" in out
    code, out, _ = run(capsys, "join", "-h")
    assert code == 0 and "ROOM" in out


# ---------------------------------------------------------------------------
# as a real process
# ---------------------------------------------------------------------------
def _subprocess(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SIO_REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "sio_emitter", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_python_dash_m(listen: Listener, redis_url: str, key: str) -> None:
    res = _subprocess("--url", redis_url, "--key", key, "--to", "room1", "hello", '"world"')
    assert (res.returncode, res.stdout, res.stderr) == (0, "", "")
    got = listen.one()
    assert got.channel == f"{key}#/#room1#"
    assert classic.decode_broadcast(got.data).packet.data == ["hello", "world"]


def test_python_dash_m_error() -> None:
    res = _subprocess("--url", f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0", "hi")
    assert res.returncode == 1
    assert res.stdout == ""
    assert_one_error_line(res.stderr)
    assert PASSWORD not in res.stderr
