"""Checks on what the adapter logs."""

from __future__ import annotations

import pytest


def assert_state_changes_logged(caplog: pytest.LogCaptureFixture, uid: str) -> None:
    """One line per connection state change, each with the server's uid in ``extra``."""
    mine = [r for r in caplog.records if getattr(r, "uid", None) == uid]
    said = [r.getMessage() for r in mine]
    for phrase in ("subscription lost", "reconnecting to Redis: attempt 1", "re-established"):
        assert any(phrase in m for m in said), (phrase, said)
    assert all(hasattr(r, "nsp") for r in mine)
