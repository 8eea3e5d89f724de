"""What a rule family is, and what it is given.

A *family* analyses files and emits findings for one or more *rules* (codes). The engine owns all I/O:
it reads, decodes and parses each file once, hands the family a :class:`PythonModule` (or a
:class:`TextFile` for deployment files), caches the :class:`FileResult` keyed by content hash, tool
version and config, runs files in parallel processes, and finally calls :meth:`Family.check_project`
once with the facts of every file (the project-wide index). Suppressions, select/ignore and
per-file ignores are applied by the engine afterwards: families never filter.

Families never read files, never import telethon and never execute linted code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from ..config import Config
from ..model import Finding, Fix
from ..names import ModuleNames, NodePositions

__all__ = ["Family", "FileResult", "PythonModule", "Rule", "TextFile"]


class Rule:
    """One stable code, with its documentation and examples (Fixit-style, beside the logic).

    Subclasses set the class attributes; ``--explain CODE`` prints them, and the test suite checks
    that every ``valid`` example yields no finding of ``code`` and every ``invalid`` one yields at least one.
    Examples are Python sources unless ``example_filename`` names another file type (``Dockerfile``...).
    """

    code: ClassVar[str]
    name: ClassVar[str]  # kebab-case, e.g. "telethon-action-outside-lock"
    what: ClassVar[str]  # what it does
    why: ClassVar[str]  # why is it bad
    example: ClassVar[str]  # code that triggers it
    instead: ClassVar[str]  # use instead
    fixable: ClassVar[bool] = False
    example_filename: ClassVar[str] = "example.py"
    valid: ClassVar[tuple[str, ...]] = ()
    invalid: ClassVar[tuple[str, ...]] = ()


@dataclass
class PythonModule:
    """One parsed Python file, as a family sees it."""

    path: str  # display path: relative to the working directory, '/'-separated
    module_name: str  # dotted name from the project root ("app.relay"); "" when unknown (stdin)
    is_package: bool  # True for __init__.py
    source: str
    tree: cst.Module
    config: Config
    _positions: NodePositions | None = field(default=None, repr=False)
    _provider: Mapping[cst.CSTNode, CodeRange] | None = field(default=None, repr=False)
    _names: ModuleNames | None = field(default=None, repr=False)

    @property
    def names(self) -> ModuleNames:
        """The module's name resolver, built once and shared by every family."""
        if self._names is None:
            self._names = ModuleNames.build(self.tree, self.module_name, self.is_package)
        return self._names

    def range_of(self, node: cst.CSTNode) -> CodeRange:
        """The source range of ``node`` (positions are computed once per module, on first use)."""
        if self._positions is None:
            # A light codegen pass: libcst's PositionProvider costs ~3x a parse, this ~0.3x.
            self._positions = NodePositions(self.tree)
        found = self._positions.range(node)
        if found is not None:
            return found
        if self._provider is None:
            # Nodes without a syntactic span (operators, whitespace...): ask libcst.
            # unsafe_skip_copy keeps node identity: the nodes families hold are the ones measured.
            wrapper = MetadataWrapper(self.tree, unsafe_skip_copy=True)
            self._provider = wrapper.resolve(PositionProvider)
        return self._provider[node]

    def finding(
        self, node: cst.CSTNode, code: str, message: str, fix: Fix | None = None
    ) -> Finding:
        """A finding spanning ``node``."""
        r = self.range_of(node)
        return Finding(
            self.path,
            r.start.line,
            r.start.column + 1,
            r.end.line,
            r.end.column + 1,
            code,
            message,
            fix,
        )


@dataclass
class TextFile:
    """One non-Python file (Dockerfile, Procfile, compose, shell, Makefile, systemd unit...)."""

    path: str
    source: str
    config: Config

    def finding(
        self,
        line: int,
        column: int,
        end_line: int,
        end_column: int,
        code: str,
        message: str,
    ) -> Finding:
        return Finding(self.path, line, column, end_line, end_column, code, message)


@dataclass
class FileResult:
    """What a family found in one file: local findings plus picklable facts for the project pass."""

    findings: list[Finding] = field(default_factory=list)
    facts: Any = None  # plain picklable data (dataclasses/tuples/dicts); None when nothing to share


class Family:
    """A rule family: the rules it can emit and the analysis that emits them."""

    rules: ClassVar[tuple[type[Rule], ...]] = ()
    #: Byte strings of which at least one must occur in a Python file for it to matter to this family.
    #: The engine skips a file none of whose families' keywords occur, unless it imports a project
    #: module that matters or a module that matters imports it (transitively; see
    #: ``follow_imports`` and ``follow_imported``). Empty: every Python file matters.
    keywords: ClassVar[tuple[bytes, ...]] = ()
    #: Whether a file that imports a project module mattering to this family matters too
    #: (transitively). Leave True when facts flow through imports (helpers, clients, constants
    #: defined elsewhere); False when a file can only matter through its own keywords.
    follow_imports: ClassVar[bool] = True
    #: Whether a project module imported by a file that matters to this family matters too
    #: (transitively). Leave True when the family reads facts a relevant module takes from the
    #: modules it imports (constants, lock or client definitions); False when it never does.
    follow_imported: ClassVar[bool] = True

    def reads_imports(self, data: bytes) -> bool:
        """Whether a file with these raw bytes, mattering to this family by its own keywords, may read
        facts from the modules it imports. The engine follows ``follow_imported`` from such files
        only (and onwards from every module reached). Default: always."""
        return True

    def check_module(self, module: PythonModule) -> FileResult:
        """Analyse one Python module. Runs in a worker process; result is cached."""
        return FileResult()

    def wants_text_file(self, path: str, config: Config) -> bool:
        """Whether this family scans the non-Python file at ``path`` (relative, '/'-separated)."""
        return False

    def check_text_file(self, file: TextFile) -> FileResult:
        """Analyse one non-Python file. Runs in a worker process; result is cached."""
        return FileResult()

    def check_project(self, facts: Mapping[str, Any], config: Config) -> Sequence[Finding]:
        """Project-wide findings from the facts of every file (path -> facts; files without facts absent)."""
        return ()
