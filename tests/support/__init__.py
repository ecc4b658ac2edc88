"""Shared helpers for the test suite (fixtures live in tests/conftest.py)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, NoReturn

import pytest

from .redis import RedisCluster, RedisServer

__all__ = ["PEERS_KEY", "describe_testbed", "in_ci", "require", "unavailable"]

#: Node peers started for the current test (filled by the ``node_peer`` fixture).
PEERS_KEY = pytest.StashKey[list[Any]]()


def in_ci() -> bool:
    """True when running in CI (``CI=true``), where missing services are errors."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def unavailable(reason: str) -> NoReturn:
    """Fail (in CI) or skip (locally) the current test because of ``reason``."""
    if in_ci():
        pytest.fail(f"required in CI but unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


def require(reason: str | None) -> None:
    """``reason`` is None when a needed service is available; otherwise skip,
    or fail under ``CI=true`` so CI can never go green by skipping."""
    if reason is not None:
        unavailable(reason)


def _safe(fn: Callable[[], object]) -> str:
    try:
        return str(fn())
    except Exception as e:
        return f"(unavailable: {e!r})"


def _indent(text: str, limit: int) -> list[str]:
    return [f"    | {line}" for line in text.rstrip().splitlines()[-limit:]]


def describe_testbed(item: pytest.Item) -> str | None:
    """What the test bed gave ``item``: Node peers (+ stderr tails) and Redis servers."""
    lines: list[str] = []
    for peer in item.stash.get(PEERS_KEY, []):
        lines.append(f"peer: {_safe(functools.partial(repr, peer))}")
        lines.extend(_indent(_safe(getattr(peer, "stderr_tail", lambda: "")), 30))
    funcargs: dict[str, Any] = getattr(item, "funcargs", {})
    for value in funcargs.values():
        servers: list[RedisServer] = []
        if isinstance(value, RedisServer):
            servers = [value]
        elif isinstance(value, RedisCluster):
            lines.append(f"redis cluster: {value.url}")
            servers = value.nodes
        for server in servers:
            lines.append(f"redis server: {server!r} {server.url} log={server.log_path}")
            lines.extend(_indent(server.log_tail(5), 5))
    return "\n".join(lines) if lines else None
