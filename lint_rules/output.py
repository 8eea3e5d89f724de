"""Output formats: text (with the source line), JSON, GitHub annotations, SARIF 2.1.0, statistics."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing's: the CLI's cached path imports this module, and little else
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from re import Pattern
    from typing import IO, Any

    from .model import Finding

__all__ = [
    "FORMATS",
    "finding_to_json",
    "render_github",
    "render_json",
    "render_sarif",
    "render_statistics",
    "render_text",
    "summary",
    "use_color",
]

FORMATS = ("text", "json", "github", "sarif")
INFORMATION_URI = "https://github.com/telethon-guard/telethon-guard"
_LINE_BREAK: list[Pattern[str]] = []


def use_color(stream: IO[str]) -> bool:
    """Colour only on a terminal; ``NO_COLOR`` turns it off and ``FORCE_COLOR`` on (as CPython)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _Style:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled else text


def split_lines(text: str) -> list[str]:
    """Lines as the parser counts them (``\\r\\n``, ``\\r`` and ``\\n`` end a line)."""
    if not _LINE_BREAK:
        import re

        _LINE_BREAK.append(re.compile(r"\r\n|\r|\n"))
    return _LINE_BREAK[0].split(text)


def _plural(n: int, word: str) -> str:
    suffix = "es" if word.endswith(("x", "s")) else "s"
    return f"{n} {word}{'' if n == 1 else suffix}"


def summary(findings: Sequence[Finding], *, fixed: int = 0) -> str:
    """``Found N findings (M fixable with --fix).`` or ``All checks passed.``"""
    fixable = sum(1 for f in findings if f.fix is not None)
    done = f" ({_plural(fixed, 'fix')} applied)" if fixed else ""
    if not findings:
        return f"All checks passed.{done}" if not fixed else f"All checks passed{done}."
    tail = f" ({fixable} fixable with --fix)" if fixable else ""
    return f"Found {_plural(len(findings), 'finding')}{tail}.{done}"


def render_text(
    findings: Sequence[Finding],
    lines_of: Callable[[str], list[str] | None],
    *,
    color: bool = False,
    show_source: bool = True,
) -> str:
    """``path:line:col: CODE message`` per finding, each followed by its source line underlined."""
    style = _Style(color)
    out: list[str] = []
    for f in findings:
        marker = " [*]" if f.fix is not None else ""
        out.append(
            f"{style(f.path, '1')}:{f.line}:{f.column}: {style(f.code, '1;31')}"
            f"{style(marker, '36')} {f.message}"
        )
        if not show_source:
            continue
        lines = lines_of(f.path)
        if not lines or not 1 <= f.line <= len(lines):
            continue
        text = lines[f.line - 1]
        start = max(0, min(f.column - 1, len(text)))
        end = f.end_column - 1 if f.end_line == f.line else len(text)
        end = max(start + 1, min(end, len(text)))
        gutter = str(f.line)
        pad = " " * len(gutter)
        prefix = "".join("\t" if ch == "\t" else " " for ch in text[:start])
        out.append(f" {style(gutter, '34')} {style('|', '34')} {text}")
        out.append(f" {pad} {style('|', '34')} {prefix}{style('^' * (end - start), '1;31')}")
        out.append("")
    return "\n".join(out)


def finding_to_json(f: Finding) -> dict[str, Any]:
    return {
        "path": f.path,
        "line": f.line,
        "column": f.column,
        "end_line": f.end_line,
        "end_column": f.end_column,
        "code": f.code,
        "message": f.message,
        "fix": None
        if f.fix is None
        else {
            "message": f.fix.message,
            "edits": [
                {
                    "line": e.line,
                    "column": e.column,
                    "end_line": e.end_line,
                    "end_column": e.end_column,
                    "content": e.content,
                }
                for e in f.fix.edits
            ],
        },
    }


def render_json(findings: Sequence[Finding]) -> str:
    """A JSON array, one finding per line (the C encoder: indent would use the slow one)."""
    import json

    if not findings:
        return "[]"
    body = ",\n  ".join(json.dumps(finding_to_json(f), ensure_ascii=False) for f in findings)
    return f"[\n  {body}\n]"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(findings: Sequence[Finding]) -> str:
    """GitHub Actions workflow commands: one ``::error`` annotation per finding."""
    out = []
    for f in findings:
        out.append(
            f"::error file={_escape_property(f.path)},line={f.line},col={f.column},"
            f"endLine={f.end_line},endColumn={f.end_column},title={_escape_property(f.code)}"
            f"::{_escape_data(f'{f.code} {f.message}')}"
        )
    return "\n".join(out)


def _rule_text(rule: Any, attr: str) -> str:
    return " ".join(str(getattr(rule, attr, "")).split())


def render_sarif(findings: Sequence[Finding], rules: Mapping[str, Any], version: str) -> str:
    """A SARIF 2.1.0 log with one run, as GitHub code scanning accepts it."""
    import json

    ids = list(rules)
    index = {code: i for i, code in enumerate(ids)}
    driver_rules = []
    for code in ids:
        rule = rules[code]
        help_text = (
            f"{_rule_text(rule, 'what')}\n\nWhy: {_rule_text(rule, 'why')}\n\n"
            f"Example:\n{getattr(rule, 'example', '')}\n\nInstead: {_rule_text(rule, 'instead')}"
        )
        driver_rules.append(
            {
                "id": code,
                "name": getattr(rule, "name", code),
                "shortDescription": {"text": f"{code} {getattr(rule, 'name', '')}".strip()},
                "fullDescription": {"text": _rule_text(rule, "what")},
                "help": {
                    "text": help_text,
                    "markdown": f"**{code} {getattr(rule, 'name', '')}**\n\n{_rule_text(rule, 'what')}"
                    f"\n\n**Why:** {_rule_text(rule, 'why')}\n\n**Example:**\n```python\n"
                    f"{getattr(rule, 'example', '')}\n```\n\n**Instead:** {_rule_text(rule, 'instead')}",
                },
                "defaultConfiguration": {"level": "error"},
                "properties": {"tags": ["telethon", "concurrency"]},
            }
        )
    results = []
    for f in findings:
        result: dict[str, Any] = {
            "ruleId": f.code,
            "level": "error",
            "message": {"text": f.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.path, "uriBaseId": "%SRCROOT%"},
                        "region": {
                            "startLine": f.line,
                            "startColumn": f.column,
                            "endLine": f.end_line,
                            "endColumn": f.end_column,
                        },
                    }
                }
            ],
        }
        if f.code in index:
            result["ruleIndex"] = index[f.code]
        results.append(result)
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "telethon-guard",
                        "version": version,
                        "semanticVersion": version,
                        "informationUri": INFORMATION_URI,
                        "rules": driver_rules,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False)


def render_statistics(
    findings: Sequence[Finding], rules: Mapping[str, Any], *, as_json: bool = False
) -> str:
    """Count per code, most frequent first: ``count  CODE  [*]  name``."""
    import json
    from collections import Counter

    counts = Counter(f.code for f in findings)
    fixable = Counter(f.code for f in findings if f.fix is not None)
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if as_json:
        return json.dumps(
            [
                {
                    "code": code,
                    "name": getattr(rules.get(code), "name", ""),
                    "count": n,
                    "fixable": fixable[code],
                }
                for code, n in rows
            ],
            indent=2,
        )
    width = max((len(str(n)) for _, n in rows), default=1)
    return "\n".join(
        f"{n:>{width}}\t{code}\t{'[*]' if fixable[code] else '   '} "
        f"{getattr(rules.get(code), 'name', '')}"
        for code, n in rows
    )
