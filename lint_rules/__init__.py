"""STUB -- owned by the engine helper: exports lint_paths, lint_source, Finding, Fix, Edit, Config."""

from __future__ import annotations

from .config import Config
from .model import Edit, Finding, Fix

__all__ = ["Config", "Edit", "Finding", "Fix"]
