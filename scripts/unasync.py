"""Generate the sync manager from the async one, as httpcore generates its sync layer.

    python scripts/unasync.py          # rewrite sio_redis/manager.py
    python scripts/unasync.py --check  # exit 1 if it is out of date (the tests run this)

``sio_redis/asyncio_manager.py`` is the only hand-written copy of the manager's I/O
half; everything that differs between asyncio and threads/eventlet/gevent is behind the
runtime (``_aio_runtime.py`` / ``_sync_runtime.py``) and the transport, so turning the
file sync is a matter of the token rewrites below.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "sio_redis" / "asyncio_manager.py"
TARGET = ROOT / "sio_redis" / "manager.py"

HEADER = (
    "# Generated from sio_redis/asyncio_manager.py by scripts/unasync.py: do not edit.\n"
    "# Edit the async file, then run `python scripts/unasync.py`.\n"
)

# Applied in order; each is (pattern, replacement) on the whole text.
RULES: list[tuple[str, str]] = [
    (r"\bfrom \._aio_runtime import\b", "from ._sync_runtime import"),
    (r"\bfrom \._aio_transport import\b", "from ._sync_transport import"),
    (r"\bmake_async_client\b", "make_sync_client"),
    (r"\bAsyncRedisManager\b", "RedisManager"),
    (r"\bAsyncBroadcastOperator\b", "BroadcastOperator"),
    (r"\bsocketio\.AsyncManager\b", "socketio.Manager"),
    (r"\bsocketio\.AsyncServer\b", "socketio.Server"),
    (r'_client_kind = "redis\.asyncio"', '_client_kind = "redis-py"'),
    (r"\b_compat\.deliver\(", "_compat.deliver_sync("),
    (r"\bAwaitable\[None\]", "None"),
    (r"from collections\.abc import Awaitable, Callable", "from collections.abc import Callable"),
    (r"\basync def ", "def "),
    (r"\basync for ", "for "),
    (r"\basync with ", "with "),
    (r"\bawait ", ""),
    (
        r"an\n    ``AsyncServer`` needs a running event loop for that; otherwise at its first "
        r"request or\n    the first cluster call\)\. ``mgr\.start\(\)`` joins explicitly and "
        r"is idempotent\.",
        "before it takes\n    any client). ``mgr.start()`` joins explicitly and is idempotent.",
    ),
    (r"the cluster adapter for ``socketio\.Server``\.", "the cluster adapter for "
     "``socketio.Server`` (threading, eventlet or gevent)."),
]


def generate() -> str:
    text = SOURCE.read_text(encoding="utf-8")
    for pattern, replacement in RULES:
        text, count = re.subn(pattern, replacement, text)
        if count == 0:
            raise SystemExit(f"unasync: rule {pattern!r} matched nothing; update the rules")
    # The renamed imports sort differently; let ruff put them in order.
    fixed = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "I", "--fix", "--quiet",
         "--stdin-filename", str(TARGET), "-"],
        input=HEADER + text,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if fixed.returncode not in (0, 1) or not fixed.stdout:
        raise SystemExit(f"unasync: ruff failed: {fixed.stderr}")
    return fixed.stdout


def main(argv: list[str]) -> int:
    output = generate()
    if "--check" in argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != output:
            print(f"{TARGET.relative_to(ROOT)} is out of date: run python scripts/unasync.py")
            return 1
        return 0
    TARGET.write_text(output, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
