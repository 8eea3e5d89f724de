"""``[tool.telethon-guard]`` configuration.

STUB of the dataclass only -- the engine helper owns loading and validation (see CONTRIBUTING.md).
Rule families read these fields; the field names are stable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Config"]


@dataclass(frozen=True)
class Config:
    """Linter settings. Every field has the default a project without configuration gets."""

    #: Names (bare or dotted qualified names) that hold the Telethon lock in ``async with``.
    lock_names: tuple[str, ...] = ("telethon_lock",)
    #: Qualified names of project functions that return a ``TelegramClient`` (e.g. ``app.tg.make_client``).
    client_factories: tuple[str, ...] = ()
    #: Client method names never treated as Telethon actions.
    exempt_methods: tuple[str, ...] = ()
    #: Glob (relative to the project root) -> codes or prefixes ignored in matching files.
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: Extra globs of deployment files (scanned for TG200/TG201) besides the built-in ones.
    deployment_globs: tuple[str, ...] = ()
    #: Codes or prefixes to report (empty: all) and to ignore.
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    #: Extra path globs to exclude from linting.
    exclude: tuple[str, ...] = ()
    #: Directory of the pyproject.toml the settings came from (None: defaults).
    root: str | None = field(default=None, compare=False)
