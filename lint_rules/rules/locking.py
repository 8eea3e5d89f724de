"""STUB -- owned by a rule helper. See CONTRIBUTING.md."""

from __future__ import annotations

from .base import Family


class LockingFamily(Family):
    pass
