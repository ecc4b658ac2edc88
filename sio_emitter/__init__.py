"""Emit to Socket.IO clusters over Redis from any Python process.

Wire-compatible with Node's ``@socket.io/redis-emitter`` 5.1 (classic mode) and, with
``sharded=True``, with the sharded adapter's ClusterAdapter messages. This package never
imports python-socketio.

>>> from sio_emitter import Emitter
>>> emitter = Emitter.from_url("redis://localhost:6379/0")    # doctest: +SKIP
>>> emitter.to("room1").emit("hello", "world")                # doctest: +SKIP
"""

from ._chain import RedisUnavailableError
from .aio import AsyncEmitter
from .emitter import Emitter
from .protocol import ProtocolError

__all__ = ["AsyncEmitter", "Emitter", "ProtocolError", "RedisUnavailableError"]
__version__ = "0.1.0"
