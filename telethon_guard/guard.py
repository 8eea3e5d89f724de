"""STUB -- owned by the guard helper. See CONTRIBUTING.md."""

from __future__ import annotations

from typing import Any

from .stats import GuardStats


def install(mode: str = "strict", **kwargs: Any) -> None:
    raise NotImplementedError


def uninstall() -> None:
    raise NotImplementedError


def stats() -> GuardStats:
    return GuardStats()
