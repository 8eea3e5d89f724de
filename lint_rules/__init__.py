"""telethon-guard's linter: the TG rules over Python sources and deployment files.

Python API::

    from lint_rules import lint_paths, lint_source, load_config

    findings = lint_paths(["app/"])          # list[Finding], sorted by path, line, column, code
    findings = lint_source(text, "app.py")   # one source, as if it were that file

The CLI is ``telethon-guard lint`` (:mod:`lint_rules.cli`). Importing this package is cheap: libcst
and the rules load on first use.
"""

from __future__ import annotations

from .config import Config, ConfigError, load_config
from .engine import LintError, lint_paths, lint_source
from .model import Edit, Finding, Fix

__all__ = [
    "Config",
    "ConfigError",
    "Edit",
    "Finding",
    "Fix",
    "LintError",
    "__version__",
    "lint_paths",
    "lint_source",
    "load_config",
]

__version__ = "0.1.0"
