"""Socket.IO cluster adapter over Redis, wire-compatible with Node's
``@socket.io/redis-adapter`` 8: Python and Node servers on one Redis serve one cluster.

>>> import socketio
>>> from sio_redis import AsyncRedisManager, RedisManager
>>> mgr = AsyncRedisManager("redis://localhost:6379/0")         # doctest: +SKIP
>>> sio = socketio.AsyncServer(client_manager=mgr)              # doctest: +SKIP
>>> sync_mgr = RedisManager("redis://localhost:6379/0")          # doctest: +SKIP
>>> sync_sio = socketio.Server(client_manager=sync_mgr)         # doctest: +SKIP
"""

from .asyncio_manager import AsyncRedisManager
from .errors import AckTimeoutError, ProtocolError, RedisUnavailableError, RequestTimeoutError
from .manager import RedisManager
from .operators import AsyncBroadcastOperator, BroadcastOperator, RemoteSocket

__all__ = [
    "AckTimeoutError",
    "AsyncBroadcastOperator",
    "AsyncRedisManager",
    "BroadcastOperator",
    "ProtocolError",
    "RedisManager",
    "RedisUnavailableError",
    "RemoteSocket",
    "RequestTimeoutError",
]
__version__ = "0.1.0"
