"""The lint engine: read, decode, parse once, run the families, cache, parallelise, filter.

Flow of :func:`run`:

1. Discover files (:mod:`.discovery`). If the cache holds a run with the same listing (path, size,
   mtime, inode of every file), the same config and the same linter code, return its findings:
   nothing is read or parsed and neither libcst nor the rules are imported.
2. Classify: ``*.py``/``*.pyi`` are Python; other files go to the families whose
   ``wants_text_file`` says yes (deployment files).
3. Pre-filter (the only thing that makes a large ordinary tree cheap): a Python file is analysed
   only if its raw bytes contain a family keyword or a suppression comment, or it imports (by a cheap
   regex) a project module that is analysed, transitively to a fixpoint. Skipped files could not
   produce a finding or project fact: families promise their keywords are necessary for either.
   A skipped file is still checked for TG000, by CPython's parser (a fraction of libcst's cost).
4. Analyse each remaining file once (cache by content hash, else in a process pool for many files):
   decode per PEP 263, guard against inputs that crash or hang libcst, parse with libcst, hand one
   :class:`~lint_rules.rules.base.PythonModule` to every family.
5. ``check_project`` of every family with the facts of every analysed file.
6. Apply select/ignore, per-file ignores and suppression comments; report unused suppressions (TG001).

Bad input never stops a run: an unreadable, undecodable or unparseable file is one TG000 finding; a
family that raises is an internal error reported for that file while the rest is linted.
"""

from __future__ import annotations

import errno
import io
import os
import re
import stat
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .cache import Cache, code_version, digest
from .config import Config, load_config
from .discovery import PYTHON_SUFFIXES, Candidate, discover, glob_match, to_display
from .model import Edit, Finding, Fix
from .suppress import (
    Suppression,
    apply_suppressions,
    has_markers,
    has_tg_markers,
    scan_python,
    scan_text,
)

if TYPE_CHECKING:
    from .rules.base import Family, FileResult

__all__ = [
    "InternalError",
    "LintError",
    "LintResult",
    "default_jobs",
    "is_enabled",
    "lint_paths",
    "lint_source",
    "run",
]

#: Below this much source to analyse, a process pool costs more than it saves.
PARALLEL_MIN_BYTES = 256 * 1024
PARALLEL_MIN_FILES = 8
#: Bracket depth beyond which libcst's native parser may overflow its stack.
_MAX_SAFE_DEPTH = 150
#: Beyond these, a file is checked by CPython's parser before libcst sees it (see _risky).
_RISKY_DEPTH = 100
_RISKY_LINE = 4_096
_RISKY_SPAN = 32_768
_BRACKET = re.compile(r"[()\[\]{}]")

#: Whitespace inside a statement: blanks and backslash continuations.
_BLANK = rb"(?:[ \t]|\\\r?\n)"
_FROM_IMPORT = re.compile(
    rb"\bfrom" + _BLANK + rb"+(\.*)" + _BLANK + rb"*([\w.\x80-\xff]*?)" + _BLANK + rb"*\bimport\b"
)
_PLAIN_IMPORT = re.compile(rb"\bimport\b")
_TAIL = re.compile(rb"" + _BLANK + rb"*(?:\(([^)]*)|((?:[^\r\n\\;#]|\\\r?\n|\\)*))")
_COMMENT = re.compile(rb"#[^\r\n]*")
#: A dotted name (non-ASCII identifiers are bytes >= 0x80 in UTF-8).
_WORD = re.compile(rb"[A-Za-z_\x80-\xff][\w.\x80-\xff]*")
_SHEBANG = re.compile(rb"#![^\n]*\bpython[\d.]*\b")


@dataclass(frozen=True)
class InternalError:
    """A family (or the engine) failed on a file; ``detail`` is the traceback for ``--verbose``."""

    message: str
    detail: str


@dataclass
class FileRecord:
    """Everything the analysis of one file produced (what the cache stores)."""

    results: dict[str, FileResult] = field(default_factory=dict)  # family id -> result
    suppressions: tuple[Suppression, ...] = ()
    problems: list[Finding] = field(default_factory=list)  # TG000
    errors: list[InternalError] = field(default_factory=list)


@dataclass
class LintResult:
    """The outcome of :func:`run`."""

    findings: list[Finding]
    #: Path arguments that could not be used (missing, broken links): usage errors.
    errors: list[str] = field(default_factory=list)
    internal: list[InternalError] = field(default_factory=list)
    #: display path -> absolute path of every file considered.
    files: dict[str, str] = field(default_factory=dict)
    #: How many files were analysed (parsed or scanned), from the cache or not.
    analysed: int = 0
    cached_run: bool = False


class LintError(RuntimeError):
    """Raised by :func:`lint_paths`/:func:`lint_source` for missing paths or internal errors.

    ``findings`` holds what was found in the rest of the files.
    """

    def __init__(self, message: str, findings: list[Finding]) -> None:
        super().__init__(message)
        self.findings = findings


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _families(families: Sequence[Family] | None) -> tuple[Family, ...]:
    if families is not None:
        return tuple(families)
    from .rules import FAMILIES

    return FAMILIES


def _family_id(family: Family) -> str:
    cls = type(family)
    return f"{cls.__module__}.{cls.__qualname__}"


def _config_digest(config: Config) -> str:
    return digest(repr(config), repr(config.root))


# --- selection ------------------------------------------------------------------------------


def is_enabled(code: str, select: Sequence[str], ignore: Sequence[str]) -> bool:
    """Whether ``code`` is reported: the most specific matching selector wins, ties go to ignore."""
    selected = max((len(p) for p in select if code.startswith(p)), default=-1) if select else 0
    ignored = max((len(p) for p in ignore if code.startswith(p)), default=-1)
    return selected >= 0 and selected > ignored


def _enabled_for(config: Config, relpath: str) -> Callable[[str], bool]:
    extra = tuple(
        code
        for glob, codes in config.per_file_ignores
        if glob_match(glob, relpath)
        for code in codes
    )
    ignore = config.ignore + extra
    memo: dict[str, bool] = {}

    def enabled(code: str) -> bool:
        if code not in memo:
            memo[code] = is_enabled(code, config.select, ignore)
        return memo[code]

    return enabled


# --- decoding and parsing -------------------------------------------------------------------


def _position(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return line, column


def _problem(path: str, line: int, column: int, message: str) -> Finding:
    return Finding(path, line, column, line, column + 1, "TG000", message)


def decode_python(data: bytes, path: str) -> tuple[str | None, str, Finding | None]:
    """(text, encoding, problem): decode per PEP 263 (BOM, coding declaration, else UTF-8)."""
    import tokenize

    nul = data.find(b"\x00")
    if nul != -1:
        line, column = _position(data, nul)
        return (
            None,
            "",
            _problem(
                path,
                line,
                column,
                "cannot lint: the file contains NUL bytes (binary or corrupt file?)",
            ),
        )
    declared = True
    try:
        encoding, cookie = tokenize.detect_encoding(io.BytesIO(data).readline)
        declared = any(b"coding" in raw for raw in cookie)
    except SyntaxError as exc:
        # detect_encoding also fails when the first lines are not UTF-8: say where, if so.
        encoding, declared = "utf-8", False
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return None, "", _problem(path, 1, 1, f"cannot decode: {exc.msg}")
    try:
        return data.decode(encoding), encoding, None
    except UnicodeDecodeError as exc:
        line, column = _position(data, exc.start)
        bad = data[exc.start : exc.start + 1].hex()
        how = (
            f"with its declared encoding {encoding!r}"
            if declared
            else "as UTF-8, and there is no coding declaration (PEP 263)"
        )
        return (
            None,
            encoding,
            _problem(
                path,
                line,
                column,
                f"cannot decode {how}: byte 0x{bad} at line {line}, column {column}; save the file "
                "as UTF-8 or declare its encoding (e.g. `# -*- coding: latin-1 -*-`)",
            ),
        )


def _bracket_depth(text: str) -> int:
    depth = best = 0
    for m in _BRACKET.finditer(text):
        if m.group() in "([{":
            depth += 1
            if depth > best:
                best = depth
        elif depth:
            depth -= 1
    return best


def _risky(text: str) -> bool:
    """Whether libcst's native parser could overflow its stack on ``text`` (and kill the process).

    Its recursion grows with the nesting and the length of one expression: only files with deep
    brackets, a very long line or a very long bracketed span can reach it. A cheap scan (brackets
    only) spares the CPython check for every other file.
    """
    if len(text) > _RISKY_LINE and max(map(len, text.splitlines())) > _RISKY_LINE:
        return True
    opened: list[int] = []
    for m in _BRACKET.finditer(text):
        if m.group() in "([{":
            opened.append(m.start())
            if len(opened) > _RISKY_DEPTH:
                return True
        elif opened and m.start() - opened.pop() > _RISKY_SPAN:
            return True
    return False


def _cpython_check(text: str, path: str) -> tuple[SyntaxError | None, Finding | None]:
    """(CPython's syntax error or None, a TG000 when libcst must not see the file)."""
    import ast
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
    except (RecursionError, MemoryError):
        return None, _problem(
            path,
            1,
            1,
            "cannot parse: expressions are nested too deeply (Python cannot compile it either)",
        )
    except SyntaxError as exc:
        if "too many nested" in str(exc.msg) or _bracket_depth(text) > _MAX_SAFE_DEPTH:
            # CPython allows 200 nested brackets (Parser/tokenizer.h MAXLEVEL); libcst's parser
            # overflows its stack and kills the process on about 1,500.
            return exc, _problem(
                path,
                exc.lineno or 1,
                exc.offset or 1,
                f"syntax error: {exc.msg} (brackets nested {_bracket_depth(text)} deep; "
                "Python allows at most 200)",
            )
        return exc, None
    except ValueError as exc:  # e.g. NUL bytes slipped through a non-UTF-8 decode
        return None, _problem(path, 1, 1, f"cannot parse: {exc}")
    return None, None


def parse_python(text: str, path: str) -> tuple[Any, Finding | None]:
    """(libcst Module, None) or (None, TG000 finding).

    libcst's native parser overflows its stack and kills the process on deeply nested input, which
    CPython rejects cleanly: files that could reach that depth (:func:`_risky`) go through CPython's
    parser first. When CPython rejects a file for another reason, libcst still gets it (newer syntax
    than this Python); when libcst rejects one, CPython's message (more precise) is reported.
    """
    import libcst

    cpython_error: SyntaxError | None = None
    checked = _risky(text)
    if checked:
        cpython_error, problem = _cpython_check(text, path)
        if problem is not None:
            return None, problem
    try:
        return libcst.parse_module(text), None
    except libcst.ParserSyntaxError as exc:
        if not checked:
            cpython_error, problem = _cpython_check(text, path)
            if problem is not None:
                return None, problem
        if cpython_error is not None:  # CPython's message and position are the more precise
            return None, _problem(
                path,
                cpython_error.lineno or 1,
                cpython_error.offset or 1,
                f"syntax error: {cpython_error.msg}",
            )
        return None, _problem(
            path, exc.raw_line, exc.raw_column + 1, f"syntax error: {exc.message}"
        )
    except RecursionError:
        return None, _problem(path, 1, 1, "cannot parse: expressions are nested too deeply")


# --- analysing one file -----------------------------------------------------------------------


@dataclass(frozen=True)
class WorkItem:
    kind: str  # "python" or "text"
    display: str
    relpath: str
    module_name: str
    is_package: bool
    data: bytes
    families: tuple[int, ...]  # indices of the families to run on it (none: only the TG000 check)


def _internal(family: Family, path: str, exc: BaseException) -> InternalError:
    import traceback

    return InternalError(
        f"{path}: internal error in {type(family).__name__}: {type(exc).__name__}: {exc}",
        "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    )


def analyse(item: WorkItem, config: Config, families: Sequence[Family]) -> FileRecord:
    """Analyse one file with every (relevant) family. Never raises for bad input."""
    from .rules.base import PythonModule, TextFile

    record = FileRecord()
    if item.kind == "text":
        data = item.data
        if b"\x00" in data:
            return record  # binary: not a deployment file after all
        content = data.decode("utf-8-sig", errors="replace")
        record.suppressions = scan_text(content) if has_markers(data) else ()
        file = TextFile(item.display, content, config)
        for index in item.families:
            family = families[index]
            try:
                record.results[_family_id(family)] = family.check_text_file(file)
            except Exception as exc:  # one family failing never stops the run
                record.errors.append(_internal(family, item.display, exc))
        return record

    text, _, problem = decode_python(item.data, item.display)
    if text is None:
        assert problem is not None
        record.problems.append(problem)
        return record
    if not item.families:
        # No rule needs this file, but a file that cannot be parsed is still a TG000: CPython's
        # parser finds that at a fraction of libcst's cost; libcst confirms a rejection (it accepts
        # syntax newer than this Python).
        cpython_error, problem = _cpython_check(text, item.display)
        if problem is None and cpython_error is not None:
            _, problem = parse_python(text, item.display)
        if problem is not None:
            record.problems.append(problem)
        return record
    tree, problem = parse_python(text, item.display)
    if tree is None:
        assert problem is not None
        record.problems.append(problem)
        return record
    if has_markers(item.data):
        record.suppressions = scan_python(text)
    module = PythonModule(item.display, item.module_name, item.is_package, text, tree, config)
    for index in item.families:
        family = families[index]
        try:
            record.results[_family_id(family)] = family.check_module(module)
        except RecursionError:
            record.problems.append(
                _problem(
                    item.display,
                    1,
                    1,
                    f"cannot analyse: nesting too deep for {type(family).__name__}; "
                    "split the deepest expression",
                )
            )
        except Exception as exc:  # one family failing never stops the run
            record.errors.append(_internal(family, item.display, exc))
    return record


def _analyse_batch(
    items: list[WorkItem], config: Config, families: tuple[Family, ...]
) -> list[FileRecord]:
    import gc

    # libcst trees are large and short-lived: with the default thresholds the cyclic collector
    # rescans them over and over (about a quarter of a cold run). Collect the young generations
    # every few files instead, so cycles a family creates are still freed.
    enabled = gc.isenabled()
    gc.disable()
    try:
        records = []
        for n, item in enumerate(items, 1):
            records.append(analyse(item, config, families))
            if n % 256 == 0:
                gc.collect(1)
        return records
    finally:
        if enabled:
            gc.enable()


def _analyse_all(
    items: list[WorkItem], config: Config, families: tuple[Family, ...], jobs: int
) -> list[FileRecord]:
    total = sum(len(i.data) for i in items)
    if jobs <= 1 or len(items) < PARALLEL_MIN_FILES or total < PARALLEL_MIN_BYTES:
        return _analyse_batch(items, config, families)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    # Largest files first, dealt round-robin: chunks of similar cost, few round trips.
    order = sorted(range(len(items)), key=lambda i: -len(items[i].data))
    n_chunks = min(len(items), jobs * 4)
    chunks = [order[k::n_chunks] for k in range(n_chunks)]
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    results: list[FileRecord | None] = [None] * len(items)
    failed: list[int] = []
    with ProcessPoolExecutor(max_workers=min(jobs, n_chunks), mp_context=context) as pool:
        futures = [
            (chunk, pool.submit(_analyse_batch, [items[i] for i in chunk], config, families))
            for chunk in chunks
        ]
        for chunk, future in futures:
            try:
                for i, record in zip(chunk, future.result(), strict=True):
                    results[i] = record
            except BrokenProcessPool:
                failed.extend(chunk)
    for i in failed:  # a worker died (a crash in native code): isolate the culprit file by file
        results[i] = _analyse_isolated(items[i], config, families, context)
    return [r if r is not None else FileRecord() for r in results]


def _analyse_isolated(
    item: WorkItem, config: Config, families: tuple[Family, ...], context: Any
) -> FileRecord:
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        try:
            return pool.submit(_analyse_batch, [item], config, families).result()[0]
        except BrokenProcessPool:
            return FileRecord(
                problems=[
                    _problem(
                        item.display,
                        1,
                        1,
                        "cannot analyse: the worker process died on this file (a crash in libcst "
                        "or a rule); please report it",
                    )
                ]
            )


# --- the pre-filter ---------------------------------------------------------------------------


def module_name_of(abspath: str, has_init: Callable[[str], bool]) -> tuple[str, bool]:
    """Dotted module name from the nearest directory above the packages (no ``__init__.py``)."""
    directory, base = os.path.split(abspath)
    stem = base.rsplit(".", 1)[0]
    is_package = stem == "__init__"
    parts = [] if is_package else [stem]
    while has_init(directory):
        parent, name = os.path.split(directory)
        parts.insert(0, name)
        if parent == directory:
            break
        directory = parent
    return ".".join(parts), is_package


def _statement_tail(data: bytes, start: int) -> bytes:
    """What an import statement imports, from ``start`` (just after ``import``): a parenthesised
    list over lines, else the rest of the logical line up to a ``;`` or ``#``; comments dropped."""
    m = _TAIL.match(data, start)
    if m is None:  # pragma: no cover - the pattern matches the empty string
        return b""
    tail = m.group(1) if m.group(1) is not None else m.group(2)
    return _COMMENT.sub(b"", tail) if b"#" in tail else tail


def _imports(data: bytes, module_name: str, is_package: bool) -> tuple[list[str], list[str]]:
    """(modules a file may read names from, dotted names of its plain ``import X.Y``).

    A cheap over-approximation from the raw bytes: every ``from X import a, b`` gives ``X``,
    ``X.a`` and ``X.b`` (relative imports resolved against ``module_name``), every ``import X.Y``
    gives ``X`` and ``X.Y``. Imports anywhere count (inside functions, after ``;`` or ``:``, over
    parenthesised or continued lines); a match inside a string or comment only adds a module.
    """
    targets: list[str] = []
    plain: list[str] = []
    package = module_name if is_package else module_name.rpartition(".")[0]
    from_keywords: set[int] = set()
    for m in _FROM_IMPORT.finditer(data):
        dots, base = m.group(1), m.group(2).decode("ascii", "replace")
        from_keywords.add(m.end() - len(b"import"))
        if dots:
            parts = package.split(".") if package else []
            up = len(dots) - 1
            parts = parts[: len(parts) - up] if up <= len(parts) else []
            base = ".".join([*parts, base] if base else parts)
        if not base:
            continue
        targets.append(base)
        for piece in _statement_tail(data, m.end()).split(b","):
            w = _WORD.match(piece.strip(b" \t\\\r\n"))
            if w and w.group() != b"as":
                targets.append(f"{base}.{w.group().decode('ascii', 'replace')}")
    for m in _PLAIN_IMPORT.finditer(data):
        if m.start() in from_keywords:
            continue
        for piece in _statement_tail(data, m.end()).split(b","):
            w = _WORD.match(piece.strip(b" \t\\\r\n"))
            if w:
                name = w.group().decode("ascii", "replace").strip(".")
                if name:
                    plain.append(name)
                    targets.extend(_prefixes(name))
    return targets, plain


def _prefixes(name: str) -> Iterable[str]:
    parts = name.split(".")
    for n in range(1, len(parts) + 1):
        yield ".".join(parts[:n])


def _suffixes(name: str) -> Iterable[str]:
    parts = name.split(".")
    for n in range(len(parts)):
        yield ".".join(parts[n:])


class _ImportGraph:
    """Which project files a file may import (over-approximated), and the reverse.

    A module name matches a file whose dotted name is that name or ends with ``.`` + it: rules
    resolve names by the same suffix match (a script directory without ``__init__.py`` imports
    ``config`` while the engine names the file ``examples.relay.config``).
    """

    def __init__(self, files: Sequence[tuple[str, bytes, str, bool]]) -> None:
        self.files = files
        self.by_suffix: dict[str, list[int]] = {}
        self.by_package_suffix: dict[str, list[int]] = {}  # `import app` may reach app.clients
        for i, (_, _, name, _) in enumerate(files):
            if not name:
                continue
            for s in _suffixes(name):
                self.by_suffix.setdefault(s, []).append(i)
            for p in list(_prefixes(name))[:-1]:
                for s in _suffixes(p):
                    self.by_package_suffix.setdefault(s, []).append(i)
        self._imported: dict[int, frozenset[int]] = {}
        self._importers: list[list[int]] | None = None

    def _edges(self, i: int) -> tuple[frozenset[int], frozenset[int]]:
        _, data, name, is_package = self.files[i]
        targets, plain = _imports(data, name, is_package)
        down = {j for t in targets for j in self.by_suffix.get(t, ())}
        down.discard(i)
        up = set(down)
        for p in plain:
            up.update(self.by_package_suffix.get(p, ()))
        up.discard(i)
        return frozenset(down), frozenset(up)

    def imported(self, i: int) -> frozenset[int]:
        """Files whose names file ``i`` may read (what it imports)."""
        if i not in self._imported:
            self._imported[i] = self._edges(i)[0]
        return self._imported[i]

    def importers(self, j: int) -> list[int]:
        """Files that may import file ``j`` (or, through ``import pkg``, read it as ``pkg.mod``)."""
        if self._importers is None:
            self._importers = [[] for _ in self.files]
            for i in range(len(self.files)):
                down, up = self._edges(i)
                self._imported[i] = down
                for j2 in up:
                    self._importers[j2].append(i)
        return self._importers[j]

    @staticmethod
    def closure(start: set[int], step: Callable[[int], Iterable[int]]) -> set[int]:
        seen = set(start)
        todo = list(start)
        while todo:
            for j in step(todo.pop()):
                if j not in seen:
                    seen.add(j)
                    todo.append(j)
        return seen


def select_relevant(
    files: Sequence[tuple[str, bytes, str, bool]],
    keyword_sets: Sequence[tuple[bytes, ...] | None],
    follow_imports: Sequence[bool] | None = None,
    follow_imported: Sequence[bool] | None = None,
    reads_imports: Sequence[Callable[[bytes], bool]] | None = None,
) -> list[tuple[int, ...]]:
    """For each Python file ``(display, data, module_name, is_package)``, the families it matters to.

    ``keyword_sets[k]`` is family ``k``'s keywords: None means every file matters to it, ``()``
    that it analyses no Python. For a family, a file matters if

    1. its bytes contain one of the family's keywords (its *seeds*), or a suppression naming a TG
       code (bare ``# noqa`` comments cannot produce TG001 and suppress nothing elsewhere);
    2. unless ``follow_imports[k]`` is False: it imports a file that matters, transitively -- it
       may call a helper, subclass a client class or use a client defined there;
    3. unless ``follow_imported[k]`` is False: a file that matters imports it, transitively -- it
       may define the constants, locks or clients a file that matters reads. The walk starts from
       the files of 1-2 for which ``reads_imports[k](data)`` holds (the family says whether a file
       can read anything imported) and continues from every module it reaches.

    Why nothing else can matter: a family's local findings need its keywords (its promise), and
    its project findings come from facts; a fact of file F changes a finding only if a finding's
    file reads a name from F (3) or F reads a name from a file that matters (2). Names cross files
    only through imports, which :func:`_imports` over-approximates and which match file names by
    suffix exactly as the rules' constant tables do.
    """
    n_files = len(files)
    relevant: list[set[int]] = [set() for _ in range(n_files)]
    marked = [has_tg_markers(data) for _, data, _, _ in files]
    graph: _ImportGraph | None = None
    for k, keywords in enumerate(keyword_sets):
        if keywords is None:
            for i in range(n_files):
                relevant[i].add(k)
            continue
        if not keywords:
            continue
        chosen = {
            i
            for i, (_, data, _, _) in enumerate(files)
            if marked[i] or any(w in data for w in keywords)
        }
        up = follow_imports is None or follow_imports[k]
        down = follow_imported is None or follow_imported[k]
        if chosen and len(chosen) < n_files and (up or down):
            if graph is None:
                graph = _ImportGraph(files)
            if up:
                chosen = graph.closure(chosen, graph.importers)
            if down:
                reads = reads_imports[k] if reads_imports is not None else None
                start = {i for i in chosen if reads is None or reads(files[i][1])}
                chosen |= graph.closure(start, graph.imported)
        for i in chosen:
            relevant[i].add(k)
    for i in range(n_files):
        if marked[i] and not relevant[i]:
            relevant[i].update(k for k, kw in enumerate(keyword_sets) if kw != ())
    return [tuple(sorted(r)) for r in relevant]


def keyword_sets(
    families: Sequence[Family], config: Config, prefilter: bool = True
) -> list[tuple[bytes, ...] | None]:
    """Each family's keywords (see :func:`select_relevant`), plus the configured lock and factory names."""
    from .rules.base import Family

    extra = tuple(
        name.rsplit(".", 1)[-1].encode() for name in (*config.lock_names, *config.client_factories)
    )
    out: list[tuple[bytes, ...] | None] = []
    for family in families:
        if type(family).check_module is Family.check_module:
            out.append(())  # analyses no Python
        elif not prefilter or not family.keywords:
            out.append(None)
        else:
            out.append(tuple(family.keywords) + extra)
    return out


# --- the run ----------------------------------------------------------------------------------


def _is_python(candidate: Candidate) -> bool:
    if candidate.abspath.endswith(PYTHON_SUFFIXES):
        return True
    if (
        candidate.explicit
        and "." not in os.path.basename(candidate.abspath)
        and os.path.isfile(candidate.abspath)
    ):
        try:
            with open(candidate.abspath, "rb") as f:
                return _SHEBANG.match(f.readline(200)) is not None
        except OSError:
            return False
    return False


def _relpath(abspath: str, root: str) -> str:
    rel = to_display(abspath, root)
    return os.path.basename(abspath) if rel.startswith("../") else rel


def _stat_key(candidates: Sequence[Candidate], since_ns: int) -> list[str] | None:
    """Stat data of every file, or None when one is missing or changed around ``since_ns``.

    A file changed shortly before the run started (file systems stamp with a coarse clock) could
    change again without a new stamp: such a run is not recorded.
    """
    from .cache import _RACY_NS

    limit = since_ns - _RACY_NS
    parts = []
    for c in candidates:
        try:
            st = os.stat(c.abspath)
        except OSError:
            return None
        if st.st_ctime_ns >= limit:  # see cache._RACY_NS
            return None
        parts.append(
            f"{c.display}\0{c.abspath}\0{c.explicit}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}"
        )
    return parts


def run(
    paths: Sequence[str] = (".",),
    config: Config | None = None,
    *,
    jobs: int | None = 1,
    cache: bool = False,
    prefilter: bool = True,
    overlay: Mapping[str, bytes] | None = None,
    families: Sequence[Family] | None = None,
    cwd: str | None = None,
) -> LintResult:
    """Lint files and directories; see the module docstring for the steps.

    ``overlay`` maps absolute paths to contents used instead of the files' (``--diff`` loops);
    ``jobs`` None means every core; ``cache`` uses ``.telethon_guard_cache/`` at the project root.
    """
    import time

    started = time.time_ns()
    cwd = os.path.abspath(cwd or os.getcwd())
    paths = list(paths) or ["."]
    if config is None:
        config = load_config(os.path.join(cwd, paths[0]))
    root = config.root or cwd
    jobs = default_jobs() if jobs is None else max(1, jobs)
    found = discover(paths, exclude=config.exclude, root=root, cwd=cwd)
    store = Cache(root) if cache else None
    config_key = _config_digest(config)

    run_key = None
    if store is not None and not overlay:
        stats = _stat_key(found.files, started)
        if stats is not None:
            fams = "builtin" if families is None else ",".join(_family_id(f) for f in families)
            run_key = digest(code_version(), config_key, fams, cwd, str(prefilter), *stats)
            hit = store.get("runs", run_key)
            if isinstance(hit, tuple) and len(hit) == 2:
                rows, analysed = hit
                return LintResult(
                    [_from_row(row) for row in rows],
                    list(found.errors),
                    [],
                    {c.display: c.abspath for c in found.files},
                    analysed,
                    cached_run=True,
                )

    fams_t = _families(families)
    if families is None:
        validate_codes(config)
    result = _run_uncached(found.files, config, root, fams_t, jobs, store, prefilter, overlay)
    result.errors = list(found.errors)
    if store is not None and run_key is not None and not result.internal:
        store.put("runs", run_key, ([_to_row(f) for f in result.findings], result.analysed))
        store.prune_runs()
    return result


def _to_row(f: Finding) -> tuple[Any, ...]:
    """A finding as plain tuples: unpickling these is several times faster than dataclasses."""
    fix = None if f.fix is None else (f.fix.message, tuple(_edit_row(e) for e in f.fix.edits))
    return (f.path, f.line, f.column, f.end_line, f.end_column, f.code, f.message, fix)


def _edit_row(e: Edit) -> tuple[int, int, int, int, str]:
    return (e.line, e.column, e.end_line, e.end_column, e.content)


def _from_row(row: tuple[Any, ...]) -> Finding:
    path, line, column, end_line, end_column, code, message, fix = row
    return Finding(
        path,
        line,
        column,
        end_line,
        end_column,
        code,
        message,
        None if fix is None else Fix(fix[0], tuple(Edit(*e) for e in fix[1])),
    )


def validate_codes(config: Config) -> None:
    """Full codes in select/ignore/per-file-ignores must exist (prefixes need not).

    Runs on every uncached run; a cached run implies an earlier run validated the same config.
    """
    from .config import ConfigError
    from .rules import all_rules

    known = all_rules()
    selectors = [*config.select, *config.ignore]
    selectors += [c for _, codes in config.per_file_ignores for c in codes]
    for code in selectors:
        if len(code) == 5 and code not in known:
            where = (
                f"{config.root}/pyproject.toml or the command line"
                if config.root
                else "the command line"
            )
            raise ConfigError(f"unknown rule code {code!r} (in {where}; known: {', '.join(known)})")


def _read(candidate: Candidate, overlay: Mapping[str, bytes] | None) -> bytes | OSError:
    if overlay and candidate.abspath in overlay:
        return overlay[candidate.abspath]
    try:
        # Never open a FIFO or device (it would block or stream forever); a directory is skipped.
        mode = os.stat(candidate.abspath).st_mode
        if stat.S_ISDIR(mode):
            return IsADirectoryError(errno.EISDIR, "is a directory")
        if not stat.S_ISREG(mode):
            return OSError(errno.EINVAL, "not a regular file (FIFO, socket or device)")
        with open(candidate.abspath, "rb") as f:
            return f.read()
    except OSError as exc:
        return exc


def _run_uncached(
    candidates: Sequence[Candidate],
    config: Config,
    root: str,
    families: tuple[Family, ...],
    jobs: int,
    store: Cache | None,
    prefilter: bool,
    overlay: Mapping[str, bytes] | None,
) -> LintResult:
    init_memo: dict[str, bool] = {}

    def has_init(directory: str) -> bool:
        if directory not in init_memo:
            init_memo[directory] = os.path.isfile(os.path.join(directory, "__init__.py"))
        return init_memo[directory]

    problems: list[Finding] = []
    python: list[tuple[Candidate, bytes, str, bool]] = []
    items: list[WorkItem] = []
    for c in candidates:
        rel = _relpath(c.abspath, root)
        if _is_python(c):
            data = _read(c, overlay)
            if isinstance(data, OSError):
                if isinstance(data, IsADirectoryError):
                    continue
                reason = data.strerror or str(data)
                problems.append(_problem(c.display, 1, 1, f"cannot read: {reason}"))
                continue
            name, is_package = module_name_of(c.abspath, has_init)
            python.append((c, data, name, is_package))
            continue
        wanted = tuple(i for i, f in enumerate(families) if f.wants_text_file(rel, config))
        if not wanted:
            continue
        data = _read(c, overlay)
        if isinstance(data, OSError):
            if not isinstance(data, IsADirectoryError):
                problems.append(_problem(c.display, 1, 1, f"cannot read: {data.strerror or data}"))
            continue
        items.append(WorkItem("text", c.display, rel, "", False, data, wanted))

    relevant = select_relevant(
        [(c.display, data, name, pkg) for c, data, name, pkg in python],
        keyword_sets(families, config, prefilter),
        [family.follow_imports for family in families],
        [family.follow_imported for family in families],
        [family.reads_imports for family in families],
    )
    for (c, data, name, pkg), which in zip(python, relevant, strict=True):
        # A file no family needs is still checked for TG000 (``which`` empty: syntax only).
        rel = _relpath(c.abspath, root)
        items.append(WorkItem("python", c.display, rel, name, pkg, data, which))

    records: list[FileRecord | None] = [None] * len(items)
    keys: list[str] = [""] * len(items)
    if store is not None:
        base = digest(code_version(), _config_digest(config), *(_family_id(f) for f in families))
        for n, item in enumerate(items):
            keys[n] = digest(
                base,
                item.kind,
                item.display,
                item.module_name,
                str(item.is_package),
                repr(item.families),
                item.data,
            )
            hit = store.get("files", keys[n])
            if isinstance(hit, FileRecord):
                records[n] = hit
    missing = [n for n, r in enumerate(records) if r is None]
    fresh = _analyse_all([items[n] for n in missing], config, families, jobs)
    for n, record in zip(missing, fresh, strict=True):
        records[n] = record
        if store is not None and not record.errors:
            store.put("files", keys[n], record)

    return _finish(
        items, [r or FileRecord() for r in records], problems, config, root, families, candidates
    )


def _finish(
    items: Sequence[WorkItem],
    records: Sequence[FileRecord],
    problems: list[Finding],
    config: Config,
    root: str,
    families: tuple[Family, ...],
    candidates: Sequence[Candidate],
) -> LintResult:
    findings: list[Finding] = list(problems)
    internal: list[InternalError] = []
    suppressions: dict[str, tuple[Suppression, ...]] = {}
    relpaths: dict[str, str] = {}
    facts: dict[str, dict[str, Any]] = {_family_id(f): {} for f in families}
    for item, record in sorted(zip(items, records, strict=True), key=lambda p: p[0].display):
        relpaths[item.display] = item.relpath
        suppressions[item.display] = record.suppressions
        findings.extend(record.problems)
        internal.extend(record.errors)
        for fid, result in record.results.items():
            findings.extend(result.findings)
            if result.facts is not None and fid in facts:
                facts[fid][item.display] = result.facts
    for family in families:
        try:
            findings.extend(family.check_project(facts[_family_id(family)], config))
        except Exception as exc:  # report and keep the other families' findings
            internal.append(_internal(family, "<project>", exc))

    by_path: dict[str, list[Finding]] = {}
    for f in findings:
        by_path.setdefault(f.path, []).append(f)
    kept: list[Finding] = []
    for path, group in by_path.items():
        enabled = _enabled_for(config, relpaths.get(path, path))
        group = [f for f in group if enabled(f.code)]
        sups = suppressions.get(path, ())
        if not sups:
            kept.extend(group)
            continue
        survivors, unused = apply_suppressions(group, sups, path, enabled)
        kept.extend(survivors)
        if enabled("TG001"):
            # A suppression naming TG001 itself may silence the report of another one.
            kept.extend(
                u
                for u in unused
                if not any(s.codes and "TG001" in s.codes and s.covers(u) for s in sups)
            )
    for path, sups in suppressions.items():
        if path in by_path or not sups:
            continue
        enabled = _enabled_for(config, relpaths.get(path, path))
        if enabled("TG001"):
            _, unused = apply_suppressions([], sups, path, enabled)
            kept.extend(
                u
                for u in unused
                if not any(s.codes and "TG001" in s.codes and s.covers(u) for s in sups)
            )
    return LintResult(
        _sorted(kept),
        [],
        internal,
        {c.display: c.abspath for c in candidates},
        sum(1 for item in items if item.families),  # files only checked for TG000 were not analysed
    )


def _sorted(findings: Iterable[Finding]) -> list[Finding]:
    unique = {(f, f.fix): f for f in findings}
    return sorted(
        unique.values(),
        key=lambda f: (f.path, f.line, f.column, f.code, f.end_line, f.end_column, f.message),
    )


# --- the Python API ---------------------------------------------------------------------------


def lint_paths(
    paths: Sequence[str | os.PathLike[str]] = (".",),
    config: Config | None = None,
    *,
    jobs: int | None = 1,
    cache: bool = False,
    prefilter: bool = True,
    families: Sequence[Family] | None = None,
) -> list[Finding]:
    """Lint files and directories; return the findings sorted by path, line, column and code.

    ``config`` defaults to the nearest ``pyproject.toml``'s ``[tool.telethon-guard]``. Paths in
    findings are relative to the working directory. Raises :class:`LintError` (carrying the
    findings of everything else) when a path does not exist or a rule failed internally.
    """
    result = run(
        [os.fspath(p) for p in paths],
        config,
        jobs=jobs,
        cache=cache,
        prefilter=prefilter,
        families=families,
    )
    problems = result.errors + [e.message for e in result.internal]
    if problems:
        raise LintError("; ".join(problems), result.findings)
    return result.findings


def lint_source(
    source: str | bytes,
    path: str = "<stdin>",
    config: Config | None = None,
    *,
    families: Sequence[Family] | None = None,
    module_name: str | None = None,
) -> list[Finding]:
    """Lint one source as if it were the file ``path`` (display path; it need not exist).

    Python unless ``path`` is a deployment file a family wants (``Dockerfile``, ``Procfile``...);
    the default ``"<stdin>"`` and other ``<...>`` pseudo paths are Python. Raises :class:`LintError` if a rule failed internally.
    """
    result = lint_source_result(source, path, config, families=families, module_name=module_name)
    if result.internal:
        raise LintError("; ".join(e.message for e in result.internal), result.findings)
    return result.findings


def lint_source_result(
    source: str | bytes,
    path: str = "<stdin>",
    config: Config | None = None,
    *,
    families: Sequence[Family] | None = None,
    module_name: str | None = None,
) -> LintResult:
    """:func:`lint_source` returning the whole :class:`LintResult` (internal errors included)."""
    config = config or Config()
    fams = _families(families)
    display = path.replace(os.sep, "/")
    data = source.encode("utf-8") if isinstance(source, str) else source
    root = config.root or os.getcwd()
    rel = _relpath(os.path.abspath(path), root) if not path.startswith("<") else display
    wanted: tuple[int, ...] = ()
    # A pseudo path ("<stdin>", "<string>") names no file type: the source is Python, as is an
    # extensionless name whose first line is a Python shebang (as for files on disk).
    if not (
        display.endswith(PYTHON_SUFFIXES)
        or display.startswith("<")
        or ("." not in os.path.basename(display) and _SHEBANG.match(data[:200]))
    ):
        wanted = tuple(i for i, f in enumerate(fams) if f.wants_text_file(rel, config))
    if wanted:
        item = WorkItem("text", display, rel, "", False, data, wanted)
    else:
        if module_name is None:
            base = os.path.basename(display)
            stem = base.rsplit(".", 1)[0] if base.endswith(PYTHON_SUFFIXES) else ""
            module_name = "" if stem in ("", "__init__") or display.startswith("<") else stem
        is_package = os.path.basename(display) == "__init__.py"
        every = tuple(range(len(fams)))
        item = WorkItem("python", display, rel, module_name, is_package, data, every)
    record = analyse(item, config, fams)
    abspath = os.path.abspath(path)
    return _finish([item], [record], [], config, root, fams, [Candidate(abspath, display, True)])


def _python_version() -> str:  # pragma: no cover - used by --version
    return sys.version.split()[0]
