"""A tiny driver for the deployment and sessions families, shaped like the engine.

Parses each file once, runs ``check_module``/``check_text_file``, round-trips the facts through pickle
(the engine runs files in worker processes and caches results), then ``check_project``. The engine's
suppression handling is not involved: these tests look at what the families emit.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Mapping

import libcst as cst

from lint_rules.config import Config
from lint_rules.model import Finding
from lint_rules.rules.base import Family, PythonModule, TextFile
from lint_rules.rules.deployment import DeploymentFamily
from lint_rules.rules.sessions import SessionsFamily

FAMILIES: tuple[Family, ...] = (DeploymentFamily(), SessionsFamily())


def module_name(path: str, files: Mapping[str, str]) -> tuple[str, bool]:
    """Dotted name from the outermost package: directories count while they hold ``__init__.py``."""
    parts = path[: -len(".py")].split("/")
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    dirs = path.split("/")[:-1]
    keep = 0
    while keep < len(dirs) and "/".join([*dirs[: len(dirs) - keep], "__init__.py"]) in files:
        keep += 1
    name_parts = parts[len(dirs) - keep :]
    return ".".join(name_parts), is_package


def lint(
    files: Mapping[str, str],
    config: Config | None = None,
    families: Iterable[Family] = FAMILIES,
) -> list[Finding]:
    config = config or Config()
    findings: list[Finding] = []
    for family in families:
        facts = {}
        for path, source in files.items():
            if path.endswith(".py"):
                name, is_package = module_name(path, files)
                module = PythonModule(
                    path, name, is_package, source, cst.parse_module(source), config
                )
                result = family.check_module(module)
            elif family.wants_text_file(path, config):
                result = family.check_text_file(TextFile(path, source, config))
            else:
                continue
            result = pickle.loads(pickle.dumps(result))
            findings.extend(result.findings)
            if result.facts is not None:
                facts[path] = result.facts
        findings.extend(family.check_project(facts, config))
    return sorted(findings)


def codes(files: Mapping[str, str], **kw: object) -> list[tuple[str, int, str]]:
    """(code, line, path) of every finding."""
    return [(f.code, f.line, f.path) for f in lint(files, **kw)]  # type: ignore[arg-type]
