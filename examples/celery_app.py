"""A Celery app whose tasks push Socket.IO events to browsers through ``sio_emitter``.

Run a worker from the repository root::

    SIO_REDIS_URL=redis://localhost:6379/0 celery -A examples.celery_app worker

and queue a task from anywhere that can import this module (a web view, a shell)::

    from examples.celery_app import notify
    notify.delay("user:42", "report-ready", {"id": 7})

Configuration comes from the environment: ``SIO_REDIS_URL`` is the Redis the Socket.IO
servers use (also the default broker), ``CELERY_BROKER_URL`` a different broker if you
want one, ``SIO_KEY`` the servers' adapter key (default ``socket.io``).
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

from sio_emitter import Emitter, RedisUnavailableError

REDIS_URL = os.environ.get("SIO_REDIS_URL", "redis://localhost:6379/0")
SIO_KEY = os.environ.get("SIO_KEY", "socket.io")

app = Celery("sio_tasks", broker=os.environ.get("CELERY_BROKER_URL", REDIS_URL))
# Emitting is fire-and-forget (Socket.IO gives no delivery receipt for an emitter
# message), so there is no result worth storing.
app.conf.task_ignore_result = True

_emitter: Emitter | None = None
_emitter_pid = 0


def get_emitter() -> Emitter:
    """This process's emitter, made on first use.

    Not at import time: Celery's main process imports this module and then forks the pool
    processes, and nothing connected to Redis should cross a fork. The pid check makes a
    forked child (prefork pool, multiprocessing, os.fork) build its own emitter and Redis
    connections instead of reusing the parent's, whatever client options are in play.
    """
    global _emitter, _emitter_pid
    if _emitter is None or _emitter_pid != os.getpid():
        # An emitter inherited from the parent is dropped, not closed: its connections
        # are the parent's business.
        _emitter = Emitter.from_url(REDIS_URL, SIO_KEY)
        _emitter_pid = os.getpid()
    return _emitter


# Redis unreachable: try again with a backoff of about 1, 2, 4... s. Drop autoretry_for if
# a late notification is worse than none (or a repeated one: after a reply timeout, the
# first attempt may have gone through).
@app.task(name="notify", autoretry_for=(RedisUnavailableError,), retry_backoff=True, max_retries=5)
def notify(room: str, event: str, payload: Any) -> None:
    """Emit ``event`` with ``payload`` to every client in ``room``, on every server."""
    get_emitter().to(room).emit(event, payload)
