"""The sync manager is generated from the async one: fail when they have drifted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_sync_manager_is_generated_from_the_async_one() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/unasync.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_managers_share_the_core_and_differ_only_in_io() -> None:
    from sio_redis import AsyncRedisManager, RedisManager
    from sio_redis._base import ManagerBase

    assert issubclass(AsyncRedisManager, ManagerBase)
    assert issubclass(RedisManager, ManagerBase)
    shared = set(vars(ManagerBase))
    # Nothing the base defines is redefined by a twin: the twins hold I/O only.
    dunder = {"__init__", "__doc__", "__module__", "__annotations__"}
    abstract = {"_ready"}  # declared by the base, implemented by each twin
    assert not shared & (set(vars(AsyncRedisManager)) - dunder - abstract)
    assert not shared & (set(vars(RedisManager)) - dunder - abstract)
    assert set(vars(AsyncRedisManager)) == set(vars(RedisManager))
