"""Fixtures for the linter engine and CLI tests: temporary trees and an in-process CLI runner."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from lint_rules.cli import main

REPO = Path(__file__).resolve().parents[2]


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Create ``files`` (relative path -> text or bytes) under ``root``."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def tree(tmp_path: Path) -> Callable[[Mapping[str, str | bytes]], Path]:
    """``tree({"app.py": "..."})`` writes files into a fresh directory and returns it."""
    counter = iter(range(1000))

    def make(files: Mapping[str, str | bytes]) -> Path:
        root = tmp_path / f"proj{next(counter)}"
        root.mkdir()
        return write_tree(root, files)

    return make


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., CliResult]]:
    """Run ``telethon-guard`` in-process: ``cli(["lint", "."], cwd=path, stdin=b"...")``."""

    def run(
        argv: list[str], cwd: Path | str, stdin: bytes = b"", env: Mapping[str, str] | None = None
    ) -> CliResult:
        with monkeypatch.context() as m:
            m.chdir(cwd)
            for key in ("NO_COLOR", "FORCE_COLOR"):
                m.delenv(key, raising=False)
            for key, value in (env or {}).items():
                m.setenv(key, value)
            out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="")
            err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="")
            m.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
            m.setattr(sys, "stdout", out)
            m.setattr(sys, "stderr", err)
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse usage errors
                code = int(exc.code or 0)
            out.flush()
            err.flush()
            out_b = out.buffer.getvalue()
            err_b = err.buffer.getvalue()
        return CliResult(code, out_b.decode("utf-8"), err_b.decode("utf-8"))

    yield run


def run_console(
    args: list[str], cwd: Path | str, stdin: bytes = b"", env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real console script in a subprocess (exit codes, no tracebacks, lazy imports)."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("FORCE_COLOR", None)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from lint_rules.cli import main; sys.exit(main())",
            *args,
        ],
        cwd=cwd,
        input=stdin.decode(),
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )


UNSAFE = (
    "from telethon import TelegramClient\n"
    "\n"
    "client = TelegramClient('relay', 1, '0' * 32)\n"
    "\n"
    "\n"
    "async def send(text):\n"
    "    await client.send_message('BotFather', text)\n"
)
SAFE = (
    "from telethon import TelegramClient\n"
    "from telethon_guard import telethon_lock\n"
    "\n"
    "client = TelegramClient('relay', 1, '0' * 32)\n"
    "\n"
    "\n"
    "async def send(text):\n"
    "    async with telethon_lock:\n"
    "        await client.send_message('BotFather', text)\n"
)
