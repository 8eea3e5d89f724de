"""Findings and fixes: the data every part of the linter exchanges.

Positions are 1-based lines and 1-based columns; ``end_column`` is exclusive (the column just past
the last character), as in SARIF and ruff's JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Edit", "Finding", "Fix"]


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace the text between two positions of the original file with ``content``."""

    line: int
    column: int
    end_line: int
    end_column: int
    content: str


@dataclass(frozen=True, slots=True)
class Fix:
    """An automatic fix: a description and non-overlapping edits of one file."""

    message: str
    edits: tuple[Edit, ...]


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    """One rule violation at one place."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    code: str
    message: str
    fix: Fix | None = field(default=None, compare=False)
