"""telethon-guard's linter: the TG rules over Python sources and deployment files.

Python API::

    from lint_rules import lint_paths, lint_source, load_config

    findings = lint_paths(["app/"])          # list[Finding], sorted by path, line, column, code
    findings = lint_source(text, "app.py")   # one source, as if it were that file

The CLI is ``telethon-guard lint`` (:mod:`lint_rules.cli`). Importing this package is cheap: the
names below load their modules on first use (PEP 562), so the CLI's cached path imports nothing
it does not need, and libcst and the rules load only when a file is analysed.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs the CLI's cached path ~2 ms
if TYPE_CHECKING:
    from typing import Any

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

_HOMES = {
    "Config": "config",
    "ConfigError": "config",
    "load_config": "config",
    "LintError": "engine",
    "lint_paths": "engine",
    "lint_source": "engine",
    "Edit": "model",
    "Finding": "model",
    "Fix": "model",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
