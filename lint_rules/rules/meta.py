"""TG000 and TG001: findings the engine itself emits (no family analyses them)."""

from __future__ import annotations

from .base import Rule

__all__ = ["META_RULES", "Unparseable", "UnusedSuppression"]


class Unparseable(Rule):
    code = "TG000"
    name = "unparseable"
    what = (
        "Reports a file that the linter had to analyse but could not read, decode (PEP 263: UTF-8 "
        "unless a BOM or a coding declaration says otherwise) or parse, with the reason and where."
    )
    why = (
        "A file that cannot be parsed cannot be checked: any Telethon action in it escapes every "
        "other rule. The rest of the tree is still linted. Files without any Telethon-related "
        "keyword are not parsed at all (they cannot matter), so their syntax errors are left to "
        "your usual tools."
    )
    example = "from telethon import TelegramClient\n\ndef broken(:\n    pass\n"
    instead = (
        "Fix the syntax error, save the file as UTF-8 (or declare its encoding on the first or "
        "second line: `# -*- coding: latin-1 -*-`), or exclude generated files with `--exclude`."
    )
    valid = ("from telethon import TelegramClient\n\ndef fine():\n    pass\n",)
    invalid = (
        "from telethon import TelegramClient\n\ndef broken(:\n    pass\n",
        "import telethon\nx = (\n",
    )


class UnusedSuppression(Rule):
    code = "TG001"
    name = "unused-suppression"
    what = (
        "Reports a suppression comment (`# noqa: TG100`, `# telethon-guard: ignore[TG100]`, or a "
        "bare `# telethon-guard: ignore`) that suppressed nothing: each listed TG code that no "
        "finding on that line (or statement) had. Codes of other tools (`# noqa: E501`) and a bare "
        "`# noqa` are never reported."
    )
    why = (
        "A stale suppression hides the next real violation on that line: once the code is fixed "
        "or moved, the comment silently exempts whatever comes next."
    )
    example = "import asyncio\n\nx = 1  # noqa: TG100\n"
    instead = "Remove the suppression (or the unused code from its list): `x = 1`."
    valid = (
        "x = 1  # noqa: E501\n",
        "x = 1  # noqa\n",
        "s = '# noqa: TG100'\n",
    )
    invalid = (
        "x = 1  # noqa: TG100\n",
        "x = 1  # telethon-guard: ignore[TG300]\n",
        "x = 1  # telethon-guard: ignore\n",
    )


META_RULES: tuple[type[Rule], ...] = (Unparseable, UnusedSuppression)
