"""The README's code is code: its examples run and lint clean, so the documentation cannot drift."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lint_rules import lint_paths, lint_source

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def _block(marker: str) -> str:
    found = [b for b in BLOCKS if marker in b]
    assert len(found) == 1, f"expected one README python block containing {marker!r}"
    return found[0]


async def test_the_testing_example_runs(tmp_path: Path) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(_block("async def test_relay"), "README.md", "exec"), namespace)
    await namespace["test_relay"](tmp_path)


def test_the_adoption_example_is_lint_clean() -> None:
    source = "API_ID, API_HASH = 1, '0' * 32\n" + _block("# app.py")
    assert lint_source(source, "app.py") == []


def test_the_lint_output_shown_is_current() -> None:
    """The walk-through's listing is what `telethon-guard lint` prints for the unsafe relay."""
    root = Path(__file__).resolve().parent.parent
    shown = re.search(
        r"\$ telethon-guard lint --no-show-source examples/botfather_relay_unsafe\n(.*?)```",
        README,
        re.S,
    )
    assert shown is not None
    listed = set(re.findall(r"^(\S+):(\d+):(\d+): (TG\d{3}) ", shown.group(1), flags=re.M))
    findings = lint_paths([str(root / "examples/botfather_relay_unsafe")])
    actual = {
        (str(Path(f.path).resolve().relative_to(root)), str(f.line), str(f.column), f.code)
        for f in findings
    }
    assert listed, "the README's lint listing is empty or unreadable"
    assert listed == actual
