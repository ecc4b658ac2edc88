"""``sio-emit``: publish one Socket.IO emitter message from the shell.

Usage::

    sio-emit [options] EVENT [JSON_ARG ...]           emit EVENT to clients
    sio-emit [options] emit EVENT [JSON_ARG ...]      the same, for any event name
    sio-emit [options] join ROOM [ROOM ...]           make the targeted sockets join rooms
    sio-emit [options] leave ROOM [ROOM ...]          make the targeted sockets leave rooms
    sio-emit [options] disconnect [--close]           disconnect the targeted sockets
    sio-emit [options] server-side-emit EVENT [JSON_ARG ...]

The first word that is not an option picks the command; when it is not a command name
it is the event to emit. So an event literally named ``join`` is sent with
``sio-emit emit join ...``. Options may come before or after the command name.

Each JSON_ARG is one JSON value: ``'"text"'``, ``42``, ``'{"a": 1}'``, ``null``. A bare
word is not JSON and is refused, so that ``42`` and ``'"42"'`` cannot be confused.
A JSON_ARG starting with ``-`` other than a plain number (``-1e5``) needs ``--`` before it.

Exit codes: 0 published, 1 Redis unreachable or failing, 2 usage error (bad option,
bad JSON, bad URL, reserved event name, value that cannot be encoded).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import redis
import redis.exceptions
from redis.backoff import NoBackoff
from redis.retry import Retry

from ._connect import make_sync_client, redact_url, url_secrets
from ._operator import Publish, Target, normalize_namespace

__all__ = ["main"]

PROG = "sio-emit"
DEFAULT_URL = "redis://localhost:6379/0"
URL_ENV = "SIO_REDIS_URL"
# A shell command should fail within seconds when Redis is down, not hang or retry.
CONNECT_TIMEOUT = 5.0
SOCKET_TIMEOUT = 10.0

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2

COMMANDS = ("emit", "join", "leave", "disconnect", "server-side-emit")
# Options taking a value: needed to find the command word before argparse runs.
_VALUE_OPTIONS = frozenset({"--url", "--key", "--nsp", "--to", "--except", "--subscription-mode"})
# argparse reads these as positionals (negative numbers), so must the command finder.
_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")
_REDIS_ERRORS = (redis.exceptions.RedisError, redis.exceptions.RedisClusterException, OSError)


class UsageError(Exception):
    """Bad command line: reported on one line, exit code 2."""


class _Exit(Exception):
    """argparse asked to stop (``--help``): the status to return instead of exiting."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Parser(argparse.ArgumentParser):
    # argparse prints the usage and calls sys.exit on errors; main() must return a code
    # and print a single line, so both are turned into exceptions.
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
        raise _Exit(status)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        help=f"Redis URL (default: ${URL_ENV}, else {DEFAULT_URL}); "
        "redis://, rediss://, unix://, redis+cluster://host:port,host:port, "
        "redis+sentinel://host:port,host:port/db/service",
    )
    parser.add_argument("--key", default="socket.io", help="adapter key (default: socket.io)")
    parser.add_argument("--nsp", default="/", help="namespace (default: /)")
    parser.add_argument(
        "--to", action="append", default=[], metavar="ROOM", help="target a room (repeatable)"
    )
    parser.add_argument(
        "--except",
        dest="except_",
        action="append",
        default=[],
        metavar="ROOM",
        help="leave out sockets in a room (repeatable)",
    )
    parser.add_argument(
        "--sharded",
        action="store_true",
        help="SPUBLISH for servers using the sharded adapter",
    )
    parser.add_argument(
        "--subscription-mode",
        choices=("static", "dynamic", "dynamic-private"),
        default="dynamic",
        help="the sharded servers' subscriptionMode (default: dynamic)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="say what was published, on stdout"
    )


def _parser(command: str) -> _Parser:
    if command == "emit":
        parser = _Parser(
            prog=PROG,
            usage=f"{PROG} [options] [emit] EVENT [JSON_ARG ...]\n"
            f"       {PROG} [options] {{join,leave}} ROOM [ROOM ...]\n"
            f"       {PROG} [options] disconnect [--close]\n"
            f"       {PROG} [options] server-side-emit EVENT [JSON_ARG ...]",
            description="Publish a Socket.IO emitter message to Redis, as Node's "
            "@socket.io/redis-emitter does. Each JSON_ARG is one JSON value "
            "('\"text\"', 42, '{\"a\": 1}'). An event named like a command is sent with "
            f"'{PROG} emit NAME ...'.",
            allow_abbrev=False,
        )
    else:
        parser = _Parser(prog=f"{PROG} {command}", allow_abbrev=False)
    _common(parser)
    if command in ("join", "leave"):
        parser.add_argument("rooms", metavar="ROOM", nargs="+")
    elif command == "disconnect":
        parser.add_argument(
            "--close", action="store_true", help="also close the underlying connections"
        )
    else:
        if command == "emit":
            parser.add_argument("--volatile", action="store_true", help="set the volatile flag")
        # Optional for argparse so that a missing EVENT gets a clearer message than
        # "required: EVENT, JSON_ARG" (see _publish).
        parser.add_argument("event", metavar="EVENT", nargs="?")
        parser.add_argument("args", metavar="JSON_ARG", nargs="*")
    return parser


def _split_command(argv: Sequence[str]) -> tuple[str, list[str]]:
    """The command and the arguments without the command word."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if arg.startswith("-") and arg != "-" and not _NEGATIVE_NUMBER.match(arg):
            if arg in _VALUE_OPTIONS:
                i += 1
            i += 1
            continue
        break
    if i < len(argv) and argv[i] in COMMANDS:
        return argv[i], [*argv[:i], *argv[i + 1 :]]
    return "emit", list(argv)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not allowed in JSON")


def _json_arg(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        shown = text if len(text) <= 40 else text[:37] + "..."
        hint = ""
        if text and not text.lstrip().startswith(("{", "[", '"')):
            hint = " (strings must be quoted, e.g. '\"text\"')"
        raise UsageError(f"argument {shown!r} is not valid JSON: {exc}{hint}") from None


def _target(ns: argparse.Namespace) -> Target:
    if not ns.key:
        raise UsageError("--key must not be empty")
    target = Target(
        ns.key,
        normalize_namespace(ns.nsp),
        sharded=ns.sharded,
        subscription_mode=ns.subscription_mode,
    )
    if ns.to:
        target = target.to(ns.to)
    if ns.except_:
        target = target.except_rooms(ns.except_)
    if getattr(ns, "volatile", False):
        target = target.with_flag("volatile", True)
    return target


def _publish(command: str, ns: argparse.Namespace) -> Publish:
    target = _target(ns)
    if command == "join":
        return target.sockets_join_publish(ns.rooms)
    if command == "leave":
        return target.sockets_leave_publish(ns.rooms)
    if command == "disconnect":
        return target.disconnect_sockets_publish(ns.close)
    if ns.event is None and command == "server-side-emit":
        raise UsageError("missing EVENT")
    if ns.event is None:
        raise UsageError(f"missing EVENT, or a command: {', '.join(COMMANDS)} (see --help)")
    args = tuple(_json_arg(text) for text in ns.args)
    if command == "server-side-emit":
        return target.server_side_emit_publish(ns.event, args)
    return target.emit_publish(ns.event, args)


def _one_line(message: str, url: str | None) -> str:
    # Error texts of libraries may quote the URL; make sure no password ever shows.
    for secret in url_secrets(url or ""):
        message = message.replace(secret, "***")
    return " ".join(message.split())


def _send(url: str, publish: Publish) -> int:
    options: dict[str, Any] = {
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": SOCKET_TIMEOUT,
    }
    if "+cluster://" not in url.lower():
        # The default policy retries with backoff: too slow for a one-shot command.
        # (A redis+sentinel:// URL's Sentinels are asked with the same policy.)
        options["retry"] = Retry(NoBackoff(), 0)
    client = make_sync_client(url, **options)
    try:
        if publish.command == "SPUBLISH":
            receivers = client.spublish(publish.channel, publish.payload)
        else:
            receivers = client.publish(publish.channel, publish.payload)
    finally:
        client.close()
    return int(receivers)


def _error(message: str, url: str | None) -> None:
    print(f"{PROG}: error: {_one_line(message, url)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run ``sio-emit`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    url: str | None = None
    try:
        command, rest = _split_command(args)
        ns = _parser(command).parse_intermixed_args(rest)
        # An empty --url is a mistake to report; an empty variable is as good as unset.
        url = ns.url if ns.url is not None else os.environ.get(URL_ENV) or DEFAULT_URL
        publish = _publish(command, ns)
        receivers = _send(url, publish)
    except _Exit as exc:
        return exc.status
    except UsageError as exc:
        _error(str(exc), url)
        return EXIT_USAGE
    except _REDIS_ERRORS as exc:
        where = redact_url(url) if url else "Redis"
        _error(f"cannot publish to {where}: {exc}", url)
        return EXIT_RUNTIME
    except (ValueError, TypeError) as exc:
        # Reserved event names, bad URLs, values with no JavaScript form.
        _error(str(exc), url)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    if ns.verbose:
        print(
            f"{publish.command} {publish.channel} ({len(publish.payload)} bytes, "
            f"{receivers} subscriber{'' if receivers == 1 else 's'})"
        )
    return EXIT_OK
