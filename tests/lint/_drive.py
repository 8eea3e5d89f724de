"""Drive the locking family like the engine does, without the engine.

Parses each source once, runs ``LockingFamily.check_module``, round-trips the result through pickle
(the engine runs files in worker processes and caches results), then ``check_project``. Suppressions
are the engine's business and are not applied here.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping

import libcst as cst

from lint_rules.config import Config
from lint_rules.model import Finding
from lint_rules.rules.base import PythonModule
from lint_rules.rules.locking import LockingFamily


def module_name(path: str) -> tuple[str, bool]:
    parts = path[: -len(".py")].split("/")
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def lint(files: Mapping[str, str] | str, config: Config | None = None) -> list[Finding]:
    """Findings of the locking family over ``{path: source}`` (or one source as ``example.py``)."""
    if isinstance(files, str):
        files = {"example.py": files}
    config = config or Config()
    family = LockingFamily()
    facts = {}
    for path, source in files.items():
        name, is_package = module_name(path)
        module = PythonModule(path, name, is_package, source, cst.parse_module(source), config)
        result = pickle.loads(pickle.dumps(family.check_module(module)))
        assert not result.findings
        facts[path] = result.facts
    return sorted(family.check_project(facts, config))


def codes(files: Mapping[str, str] | str, config: Config | None = None) -> list[tuple[str, int]]:
    """(code, line) of every finding."""
    return [(f.code, f.line) for f in lint(files, config)]


def where(
    files: Mapping[str, str] | str, config: Config | None = None
) -> list[tuple[str, str, int]]:
    """(path, code, line) of every finding."""
    return [(f.path, f.code, f.line) for f in lint(files, config)]


def apply_fixes(source: str, findings: list[Finding]) -> str:
    """Apply the fixes of ``findings`` like the engine: non-overlapping edits, identical ones once."""
    # Line starts as Python counts them (str.splitlines also splits on form feeds and others).
    offsets = [0, *(m.end() for m in re.finditer(r"\r\n|\r|\n", source))]

    def offset(line: int, column: int) -> int:
        return offsets[line - 1] + column - 1 if line - 1 < len(offsets) else len(source)

    edits = {}
    for f in findings:
        if f.fix is None:
            continue
        for e in f.fix.edits:
            edits[(offset(e.line, e.column), offset(e.end_line, e.end_column))] = e.content
    out = source
    last_start = len(source) + 1
    for (start, end), content in sorted(edits.items(), reverse=True):
        if end > last_start:
            continue  # overlaps an edit already applied
        out = out[:start] + content + out[end:]
        last_start = start
    return out
