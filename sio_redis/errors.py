"""Exceptions of the cluster adapter."""

from __future__ import annotations

from typing import Any

from sio_emitter import ProtocolError, RedisUnavailableError

__all__ = ["AckTimeoutError", "ProtocolError", "RedisUnavailableError", "RequestTimeoutError"]


class RequestTimeoutError(TimeoutError):
    """Not every server answered a cluster request in time.

    ``partial`` holds what did arrive (replies, sockets or room names), since a caller
    that can live with a partial answer should not have to ask again.
    """

    def __init__(self, message: str, partial: list[Any] | None = None) -> None:
        super().__init__(message)
        self.partial: list[Any] = list(partial or [])


class AckTimeoutError(TimeoutError):
    """``emit_with_ack`` did not get every client's ack in time; ``responses`` holds the
    acks received (Node's ``"operation has timed out"``)."""

    def __init__(self, message: str, responses: list[Any] | None = None) -> None:
        super().__init__(message)
        self.responses: list[Any] = list(responses or [])
