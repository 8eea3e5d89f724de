"""The rule families. Codes are stable: a code never changes meaning."""

from __future__ import annotations

from .base import Family, Rule
from .deployment import DeploymentFamily
from .locking import LockingFamily
from .meta import META_RULES
from .sessions import SessionsFamily

__all__ = ["FAMILIES", "all_rules"]

FAMILIES: tuple[Family, ...] = (LockingFamily(), DeploymentFamily(), SessionsFamily())


def all_rules() -> dict[str, type[Rule]]:
    """Every rule class by code, sorted by code."""
    rules: list[type[Rule]] = list(META_RULES)
    for family in FAMILIES:
        rules.extend(family.rules)
    return {r.code: r for r in sorted(rules, key=lambda r: r.code)}
