"""Socket.IO cluster adapter over Redis, wire-compatible with Node's
``@socket.io/redis-adapter`` 8: Python and Node servers on one Redis serve one cluster.

>>> import socketio
>>> from sio_redis import AsyncRedisManager
>>> mgr = AsyncRedisManager("redis://localhost:6379/0")         # doctest: +SKIP
>>> sio = socketio.AsyncServer(client_manager=mgr)              # doctest: +SKIP
"""

from .asyncio_manager import AsyncRedisManager
from .errors import AckTimeoutError, ProtocolError, RedisUnavailableError, RequestTimeoutError
from .operators import AsyncBroadcastOperator, RemoteSocket

__all__ = [
    "AckTimeoutError",
    "AsyncBroadcastOperator",
    "AsyncRedisManager",
    "ProtocolError",
    "RedisUnavailableError",
    "RemoteSocket",
    "RequestTimeoutError",
]
__version__ = "0.1.0"
