"""STUB -- TG000/TG001 docs; owned by the engine helper. See CONTRIBUTING.md."""

from __future__ import annotations

from .base import Rule

META_RULES: tuple[type[Rule], ...] = ()
