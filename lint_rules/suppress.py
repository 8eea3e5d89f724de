"""Suppression comments: ``# noqa: TG100`` and ``# telethon-guard: ignore[TG100]``.

In Python files comments come from the tokenizer (a ``# noqa`` inside a string is text, not a
comment). A suppression covers findings on its own line and, when it sits on the first line of a
statement (a logical line: a simple statement or a compound statement's header), findings anywhere
in that statement. In deployment files a ``#`` comment covers its own line.

``# noqa`` without codes suppresses every code and is never reported as unused (other linters use
it); a TG code listed in a suppression that suppressed nothing is reported as TG001, as is a bare
``# telethon-guard: ignore`` that suppressed nothing.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .model import Finding

__all__ = [
    "Suppression",
    "apply_suppressions",
    "has_markers",
    "has_tg_markers",
    "scan_python",
    "scan_text",
]

_NOQA = re.compile(
    r"#\s*noqa(?![\w-])(?:\s*:\s*(?P<codes>[A-Za-z]+\d+(?:[\s,]+[A-Za-z]+\d+)*))?", re.IGNORECASE
)
_IGNORE = re.compile(r"#\s*telethon-guard\s*:\s*ignore(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE)
_CODE = re.compile(r"[A-Za-z]+\d+")
_MARKER = re.compile(rb"noqa|telethon-guard\s*:\s*ignore", re.IGNORECASE)
#: A suppression that names a TG code or is ours: only these make a file worth parsing by itself.
_TG_MARKER = re.compile(rb"noqa\s*:[^\n]*TG\d|telethon-guard\s*:\s*ignore", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Suppression:
    """One suppression comment. ``codes`` None means every code."""

    line: int  # where the comment is (1-based)
    column: int  # 1-based column of '#'
    end_column: int  # exclusive
    first: int  # first and last line it covers
    last: int
    codes: tuple[str, ...] | None
    kind: str  # "noqa" or "ignore"

    def covers(self, finding: Finding) -> bool:
        if not self.first <= finding.line <= self.last:
            return False
        return self.codes is None or finding.code in self.codes


def has_markers(data: bytes) -> bool:
    """Whether raw file contents may hold a suppression comment (cheap pre-check)."""
    return _MARKER.search(data) is not None


def has_tg_markers(data: bytes) -> bool:
    """Whether raw file contents may hold a suppression that TG001 could report as unused."""
    return _TG_MARKER.search(data) is not None


def _parse_comment(text: str, line: int, column: int, first: int, last: int) -> list[Suppression]:
    out = []
    for regex, kind in ((_NOQA, "noqa"), (_IGNORE, "ignore")):
        for m in regex.finditer(text):
            raw = m.group("codes")
            codes = None if raw is None else tuple(c.upper() for c in _CODE.findall(raw))
            out.append(
                Suppression(
                    line,
                    column + m.start(),
                    column + m.end(),
                    first,
                    last,
                    codes,
                    kind,
                )
            )
    return out


def scan_python(source: str) -> tuple[Suppression, ...]:
    """The suppression comments of a Python source (tokenizer-based)."""
    import tokenize

    if not _MARKER.search(source.encode("utf-8", "surrogatepass")):
        return ()
    out: list[Suppression] = []
    pending: list[tuple[str, int, int]] = []
    start: int | None = None
    skip = {tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                if start is None:  # a comment on a line of its own covers that line
                    line = tok.start[0]
                    out.extend(_parse_comment(tok.string, line, tok.start[1] + 1, line, line))
                else:
                    pending.append((tok.string, tok.start[0], tok.start[1] + 1))
            elif tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                if start is not None:
                    end = tok.start[0]
                    for text, line, col in pending:
                        first, last = (start, end) if line == start else (line, line)
                        out.extend(_parse_comment(text, line, col, first, last))
                pending.clear()
                start = None
            elif tok.type not in skip and start is None:
                start = tok.start[0]
    except (tokenize.TokenError, SyntaxError, IndentationError):
        # The tokenizer of this Python rejects something libcst accepted (newer syntax):
        # fall back to line comments found by a simple scan, each covering its own line.
        return scan_text(source)
    for text, line, col in pending:
        out.extend(_parse_comment(text, line, col, line, line))
    return tuple(out)


def scan_text(source: str) -> tuple[Suppression, ...]:
    """The suppression comments of a deployment file (``#`` comments; each covers its line)."""
    if not _MARKER.search(source.encode("utf-8", "surrogatepass")):
        return ()
    out: list[Suppression] = []
    for number, line in enumerate(source.splitlines(), 1):
        hash_at = line.find("#")
        if hash_at == -1:
            continue
        out.extend(_parse_comment(line[hash_at:], number, hash_at + 1, number, number))
    return tuple(out)


def apply_suppressions(
    findings: Iterable[Finding],
    suppressions: tuple[Suppression, ...],
    path: str,
    enabled: Callable[[str], bool],
) -> tuple[list[Finding], list[Finding]]:
    """Split off suppressed findings; return (kept findings, TG001 findings for unused suppressions).

    ``enabled`` tells whether a code is reported at all in this file (select/ignore/per-file
    ignores): a suppression of a disabled code is not reported as unused.
    """
    kept = []
    used: set[tuple[int, str | None]] = set()  # (suppression index, code or None for "any")
    for finding in findings:
        hit = False
        for i, sup in enumerate(suppressions):
            if sup.covers(finding):
                hit = True
                used.add((i, finding.code if sup.codes is not None else None))
        if not hit:
            kept.append(finding)
    unused = []
    for i, sup in enumerate(suppressions):
        if sup.codes is None:
            if sup.kind == "ignore" and (i, None) not in used:
                unused.append(
                    Finding(
                        path,
                        sup.line,
                        sup.column,
                        sup.line,
                        sup.end_column,
                        "TG001",
                        "unused suppression: this `telethon-guard: ignore` suppresses nothing",
                    )
                )
            continue
        stale = [
            c
            for c in sup.codes
            if c.startswith("TG") and c != "TG001" and enabled(c) and (i, c) not in used
        ]
        if stale:
            listed = ", ".join(f"`{c}`" for c in stale)
            unused.append(
                Finding(
                    path,
                    sup.line,
                    sup.column,
                    sup.line,
                    sup.end_column,
                    "TG001",
                    f"unused suppression: {listed} reported nothing here; remove it from the comment",
                )
            )
    return kept, unused
