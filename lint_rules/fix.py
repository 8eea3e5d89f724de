"""Applying fixes (``--fix``) and showing them (``--diff``).

Each finding's :class:`~lint_rules.model.Fix` is applied whole or not at all: fixes are taken in
source order and one that overlaps an edit already taken waits for the next round (identical edits
shared by several fixes, such as the added import, count once). Edits are applied from the end of
the file backwards so earlier positions stay valid. After each round the tree is re-linted (in
memory) and the loop repeats until nothing fixable is left or nothing changes, at most
:data:`MAX_ROUNDS` times. Files keep their encoding, BOM and line endings.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .engine import LintResult, decode_python
from .model import Finding

__all__ = ["MAX_ROUNDS", "FixOutcome", "apply_fixes", "fix_loop", "unified_diff"]

MAX_ROUNDS = 5
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _line_starts(text: str) -> list[int]:
    return [0, *(m.end() for m in _LINE_BREAK.finditer(text))]


def apply_fixes(text: str, findings: Sequence[Finding]) -> tuple[str, int]:
    """``text`` with the non-overlapping fixes of ``findings`` applied; (new text, fixes applied)."""
    starts = _line_starts(text)

    def offset(line: int, column: int) -> int:
        if line - 1 >= len(starts):
            return len(text)
        return min(starts[line - 1] + column - 1, len(text))

    taken: dict[tuple[int, int], str] = {}
    applied = 0
    for finding in sorted(findings, key=lambda f: (f.line, f.column, f.code)):
        if finding.fix is None or not finding.fix.edits:
            continue
        spans = {}
        for edit in finding.fix.edits:
            spans[(offset(edit.line, edit.column), offset(edit.end_line, edit.end_column))] = (
                edit.content
            )
        if any(_clashes(span, content, taken) for span, content in spans.items()):
            continue
        taken.update(spans)
        applied += 1
    out = text
    for (start, end), content in sorted(taken.items(), reverse=True):
        out = out[:start] + content + out[end:]
    return out, applied


def _clashes(span: tuple[int, int], content: str, taken: Mapping[tuple[int, int], str]) -> bool:
    start, end = span
    for (s, e), c in taken.items():
        if (s, e) == span:
            if c != content:
                return True
            continue
        # Two insertions at one point, or any overlap of real ranges, conflict.
        if (start < e and s < end) or (start == end == s == e):
            return True
        if (start == end and s < start < e) or (s == e and start < s < end):
            return True
    return False


@dataclass
class FixOutcome:
    """What :func:`fix_loop` did: new contents by absolute path, and the final lint."""

    originals: dict[str, bytes] = field(default_factory=dict)
    changed: dict[str, bytes] = field(default_factory=dict)
    applied: int = 0
    result: LintResult | None = None


def _encode(text: str, encoding: str) -> bytes:
    return text.encode(encoding)


def fix_loop(lint: Callable[[Mapping[str, bytes]], LintResult]) -> FixOutcome:
    """Fix until stable. ``lint(overlay)`` lints with ``overlay`` (abspath -> bytes) over the files."""
    outcome = FixOutcome()
    overlay: dict[str, bytes] = {}
    result = lint(overlay)
    for _ in range(MAX_ROUNDS):
        by_path: dict[str, list[Finding]] = {}
        for f in result.findings:
            if f.fix is not None:
                by_path.setdefault(f.path, []).append(f)
        progress = False
        for display, findings in by_path.items():
            abspath = result.files.get(display) or os.path.abspath(display)
            if abspath in overlay:
                data = overlay[abspath]
            else:
                try:
                    with open(abspath, "rb") as fh:
                        data = fh.read()
                except OSError:
                    continue
                outcome.originals.setdefault(abspath, data)
            text, encoding, _ = decode_python(data, display)
            if text is None:
                continue
            new, applied = apply_fixes(text, findings)
            if new != text:
                overlay[abspath] = _encode(new, encoding)
                outcome.applied += applied
                progress = True
        if not progress:
            break
        result = lint(overlay)
    outcome.changed = {p: d for p, d in overlay.items() if d != outcome.originals.get(p)}
    outcome.result = result
    return outcome


def unified_diff(display: str, before: bytes, after: bytes) -> str:
    """A ``diff -u`` style patch of one file."""
    old = before.decode("utf-8", "replace").splitlines(keepends=True)
    new = after.decode("utf-8", "replace").splitlines(keepends=True)
    lines = difflib.unified_diff(old, new, f"a/{display}", f"b/{display}")
    out = []
    for line in lines:
        out.append(
            line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n"
        )
    return "".join(out)
