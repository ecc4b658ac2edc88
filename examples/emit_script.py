"""A plain script that pushes one event to the Socket.IO clients of a room, then exits.

    export SIO_REDIS_URL=redis://localhost:6379/0 SIO_KEY=socket.io
    python examples/emit_script.py admins report '{"ok": true}'

The same as ``sio-emit --to admins report '{"ok": true}'``, written as Python you can
grow: compute the payload, emit to several rooms, batch with ``emitter.pipeline()``.
"""

from __future__ import annotations

import json
import os
import sys

from sio_emitter import Emitter, RedisUnavailableError


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {sys.argv[0]} ROOM EVENT JSON_PAYLOAD", file=sys.stderr)
        return 2
    room, event, payload = argv[0], argv[1], json.loads(argv[2])
    emitter = Emitter.from_url(
        os.environ.get("SIO_REDIS_URL", "redis://localhost:6379/0"),
        os.environ.get("SIO_KEY", "socket.io"),
    )
    try:
        emitter.to(room).emit(event, payload)
    except RedisUnavailableError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        emitter.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
