"""STUB -- owned by the lock helper. See CONTRIBUTING.md."""

from __future__ import annotations

from typing import Any


class TelethonLock:
    """Placeholder."""


telethon_lock = TelethonLock()


def serialized(fn: Any) -> Any:
    raise NotImplementedError
