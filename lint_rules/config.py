"""``[tool.telethon-guard]`` configuration: the settings, where they come from, and their validation.

Rule families read the :class:`Config` fields; the field names are stable. :func:`load_config` finds the
nearest ``pyproject.toml`` that has a ``[tool.telethon-guard]`` table (walking up from a path) and
validates every key: an unknown key, a wrong type or a malformed code raises :class:`ConfigError` with a
message naming the file, the key and what is expected (the CLI prints it and exits 2).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["CODE_SELECTOR", "Config", "ConfigError", "find_pyproject", "load_config", "parse_codes"]

#: A code or a code prefix: ``TG``, ``TG1``, ``TG10``, ``TG100``.
CODE_SELECTOR = re.compile(r"TG\d{0,3}")


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


class ConfigError(Exception):
    """Invalid configuration or options; the message says where and what is expected."""


_TABLE = "tool.telethon-guard"
_LIST_KEYS = {
    "lock-names": "lock_names",
    "client-factories": "client_factories",
    "exempt-methods": "exempt_methods",
    "deployment-globs": "deployment_globs",
    "select": "select",
    "ignore": "ignore",
    "exclude": "exclude",
}
_CODE_KEYS = {"select", "ignore"}
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_IDENT = re.compile(r"[A-Za-z_]\w*")
_ALL_KEYS = (*_LIST_KEYS, "per-file-ignores")


def parse_codes(values: Any, where: str) -> tuple[str, ...]:
    """Validate a list of codes or prefixes (``TG100``, ``TG1``); ``where`` names the source in errors."""
    if isinstance(values, str):
        values = [v for v in re.split(r"[,\s]+", values) if v]
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        raise ConfigError(f'{where}: expected a list of rule codes such as ["TG100", "TG2"]')
    out = []
    for v in values:
        code = v.strip().upper()
        if not CODE_SELECTOR.fullmatch(code):
            raise ConfigError(
                f"{where}: {v!r} is not a rule code or prefix (expected TG followed by up to "
                "three digits, e.g. TG100 or TG1)"
            )
        out.append(code)
    return tuple(out)


def find_pyproject(start: str | os.PathLike[str] | None = None) -> str | None:
    """The nearest ``pyproject.toml`` at or above ``start`` that mentions ``[tool.telethon-guard]``.

    Files that do not contain the text ``telethon-guard`` are skipped without being parsed.
    """
    from .cache import find_pyproject as nearest

    found = nearest(start)
    return None if found is None else found[0]


def load_config(start: str | os.PathLike[str] | None = None) -> Config:
    """Settings from the nearest ``pyproject.toml`` with a ``[tool.telethon-guard]`` table.

    ``start`` is a file or directory (default: the working directory); without such a file the
    defaults apply (``root`` None). Raises :class:`ConfigError` for a broken file or bad values.
    """
    path = find_pyproject(start)
    if path is None:
        return Config()
    return config_from_file(path)


def config_from_file(path: str | os.PathLike[str]) -> Config:
    """Settings from one ``pyproject.toml`` (defaults when it has no ``[tool.telethon-guard]``)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            document = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    table = document.get("tool", {}).get("telethon-guard")
    root = os.path.dirname(os.path.abspath(path))
    if table is None:
        return Config(root=root)
    return config_from_mapping(table, source=str(path), root=root)


def config_from_mapping(table: Any, *, source: str = "<config>", root: str | None = None) -> Config:
    """Validate a ``[tool.telethon-guard]`` table; ``source`` names it in error messages."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: [{_TABLE}] must be a table")
    values: dict[str, Any] = {"root": root}
    for key, value in table.items():
        where = f"{source}: [{_TABLE}] {key}"
        if key in _LIST_KEYS:
            if key in _CODE_KEYS:
                values[_LIST_KEYS[key]] = parse_codes(value, where)
            else:
                values[_LIST_KEYS[key]] = _strings(key, value, where)
        elif key == "per-file-ignores":
            values["per_file_ignores"] = _per_file_ignores(value, where)
        else:
            import difflib

            hint = difflib.get_close_matches(key.replace("_", "-"), _ALL_KEYS, n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
            raise ConfigError(
                f"{source}: [{_TABLE}] unknown key {key!r}{suggestion} "
                f"(known keys: {', '.join(sorted(_ALL_KEYS))})"
            )
    return Config(**values)


def _strings(key: str, value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: expected a list of non-empty strings, got {value!r}")
    if key in ("lock-names", "client-factories"):
        for v in value:
            if not _DOTTED.fullmatch(v):
                raise ConfigError(f"{where}: {v!r} is not a (dotted) Python name")
    if key == "exempt-methods":
        for v in value:
            if not _IDENT.fullmatch(v):
                raise ConfigError(f"{where}: {v!r} is not a method name")
    return tuple(value)


def _per_file_ignores(value: Any, where: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(value, Mapping):
        raise ConfigError(
            f'{where}: expected a table of glob = [codes], e.g. "scripts/*.py" = ["TG100"]'
        )
    out = []
    for glob, codes in value.items():
        if not isinstance(codes, list):
            raise ConfigError(f"{where}: {glob!r} must map to a list of codes, got {codes!r}")
        out.append((glob, parse_codes(codes, f"{where} {glob!r}")))
    return tuple(out)


def with_overrides(
    config: Config,
    *,
    select: tuple[str, ...] | None = None,
    ignore: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
) -> Config:
    """Command-line options over the file: ``select`` replaces, ``ignore``/``exclude`` extend."""
    return replace(
        config,
        select=config.select if select is None else select,
        ignore=config.ignore + ignore,
        exclude=config.exclude + exclude,
    )
