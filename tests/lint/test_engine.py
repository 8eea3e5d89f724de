"""The engine: discovery, pre-filter, parallelism, cache, suppressions, selection, module names."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from lint_rules import Config, Finding, LintError, engine, lint_paths, lint_source
from lint_rules.rules.base import Family, FileResult, PythonModule, Rule, TextFile

from .conftest import REPO, SAFE, UNSAFE, write_tree

# --- small families used only here --------------------------------------------------------------

_DEF = re.compile(r"^def (\w+)\(", re.MULTILINE)
_FROM = re.compile(r"^from ([\w.]+) import (\w+)", re.MULTILINE)
_CALL = re.compile(r"(\w+)\(")


class Boom(Rule):
    code = "TG901"
    name = "boom"


class BoomFamily(Family):
    """TG901: a call of ``boom(``; TG902: a call of a project function that (transitively) booms.

    Facts cross modules like the real helper analysis: which functions call what, and the imports.
    """

    rules: ClassVar[tuple[type[Rule], ...]] = (Boom,)
    keywords: ClassVar[tuple[bytes, ...]] = (b"boom",)
    analysed: ClassVar[list[str]] = []

    def check_module(self, module: PythonModule) -> FileResult:
        type(self).analysed.append(module.path)
        src = module.source
        findings = []
        for number, line in enumerate(src.splitlines(), 1):
            col = line.find("boom(")
            if col != -1 and not line.lstrip().startswith("def "):
                findings.append(
                    Finding(module.path, number, col + 1, number, col + 6, "TG901", "boom")
                )
        functions: dict[str, list[str]] = {}
        for chunk in re.split(r"(?=^def )", src, flags=re.MULTILINE):
            m = _DEF.match(chunk)
            if m:
                functions[m.group(1)] = [c for c in _CALL.findall(chunk)[1:] if c != m.group(1)]
        calls = [
            (number, call)
            for number, line in enumerate(src.splitlines(), 1)
            if line.startswith("    ")
            for call in _CALL.findall(line)
        ]
        facts = {
            "module": module.module_name,
            "is_package": module.is_package,
            "functions": functions,
            "imports": {name: mod for mod, name in _FROM.findall(src)},
            "calls": calls,
            "pid": os.getpid(),
        }
        return FileResult(findings, facts)

    def check_project(self, facts: Mapping[str, Any], config: Config) -> Sequence[Finding]:
        by_module = {f["module"]: f for f in facts.values()}

        def booms(module: str, name: str, seen: frozenset[tuple[str, str]] = frozenset()) -> bool:
            f = by_module.get(module)
            if f is None or (module, name) in seen or name not in f["functions"]:
                return False
            seen = seen | {(module, name)}
            for call in f["functions"][name]:
                if call == "boom":
                    return True
                target = f["imports"].get(call)
                if (target is not None and booms(target, call, seen)) or booms(module, call, seen):
                    return True
            return False

        out = []
        for path, f in facts.items():
            for number, call in f["calls"]:
                target = f["imports"].get(call)
                if target is not None and booms(target, call):
                    out.append(Finding(path, number, 1, number, 2, "TG902", f"{call} booms"))
        return out


class CfgFamily(Family):
    """TG903 on every line with ``boom`` in ``*.cfg`` files."""

    def wants_text_file(self, path: str, config: Config) -> bool:
        return path.endswith(".cfg")

    def check_text_file(self, file: TextFile) -> FileResult:
        return FileResult(
            [
                file.finding(n, 1, n, len(line) + 1, "TG903", "cfg boom")
                for n, line in enumerate(file.source.splitlines(), 1)
                if "boom" in line
            ]
        )


class CrashFamily(Family):
    """Raises on files that mention ``crash``: an internal error that must not stop the run."""

    def check_module(self, module: PythonModule) -> FileResult:
        if "crash" in module.source:
            raise KeyError("crash")
        return FileResult()


class PidFamily(BoomFamily):
    """Collects the process ids the files were analysed in."""

    pids: ClassVar[set[int]] = set()

    def check_project(self, facts: Mapping[str, Any], config: Config) -> Sequence[Finding]:
        self.pids.update(f["pid"] for f in facts.values())
        return ()


TEST_FAMILIES = (BoomFamily(), CfgFamily())


@pytest.fixture(autouse=True)
def _reset_counter() -> None:
    BoomFamily.analysed.clear()


def codes(findings: Sequence[Finding]) -> list[tuple[str, str, int]]:
    return [(f.path, f.code, f.line) for f in findings]


HELPER_TREE = {
    "pkg/__init__.py": "",
    "pkg/a.py": "def helper():\n    boom()\n",
    "pkg/b.py": "from pkg.a import helper\n\ndef relay():\n    helper()\n",
    "pkg/c.py": "from pkg.b import relay\n\ndef top():\n    relay()\n",
    "pkg/d.py": "import json\n\ndef other():\n    json.dumps(1)\n",
    "pkg/e.py": "from . import b\n\ndef viaattr():\n    b.relay()\n",
    "settings.cfg": "x = 1\nboom = yes\n",
}


# --- the API --------------------------------------------------------------------------------


def test_lint_source_reports_real_rule_with_fix_and_nothing_on_safe_code() -> None:
    findings = lint_source(UNSAFE, "relay.py")
    assert [(f.code, f.line, f.column) for f in findings] == [("TG100", 7, 11)]
    assert findings[0].path == "relay.py"
    assert findings[0].fix is not None and findings[0].fix.edits
    assert lint_source(SAFE, "relay.py") == []


def test_lint_paths_paths_are_relative_to_cwd_and_sorted(
    tree: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree(
        {
            "sub/z.py": UNSAFE.replace("'relay'", "'z'"),
            "sub/a.py": UNSAFE.replace("'relay'", "'a'"),
            "ok.py": SAFE,
        }
    )
    monkeypatch.chdir(root)
    findings = lint_paths(["sub", "ok.py"])
    assert codes(findings) == [("sub/a.py", "TG100", 7), ("sub/z.py", "TG100", 7)]
    monkeypatch.chdir(root / "sub")
    assert [f.path for f in lint_paths(["."])] == ["a.py", "z.py"]


def test_missing_path_raises_with_the_other_findings(
    tree: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree({"a.py": UNSAFE})
    monkeypatch.chdir(root)
    with pytest.raises(LintError, match=r"nope\.py: no such file") as info:
        lint_paths(["nope.py", "a.py"])
    assert codes(info.value.findings) == [("a.py", "TG100", 7)]


def test_family_crash_is_an_internal_error_and_the_rest_is_linted(
    tree: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree({"a.py": "boom()\n# crash\n", "b.py": "boom()\n"})
    monkeypatch.chdir(root)
    result = engine.run(["."], Config(), families=(CrashFamily(), BoomFamily()))
    assert codes(result.findings) == [("a.py", "TG901", 1), ("b.py", "TG901", 1)]
    assert len(result.internal) == 1
    assert "a.py: internal error in CrashFamily: KeyError" in result.internal[0].message
    assert "Traceback" in result.internal[0].detail


# --- pre-filter -----------------------------------------------------------------------------


def test_prefilter_follows_imports_transitively_and_loses_nothing(
    tree: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree(HELPER_TREE)
    monkeypatch.chdir(root)
    with_filter = engine.run(["."], Config(), families=TEST_FAMILIES)
    analysed = sorted(BoomFamily.analysed)
    BoomFamily.analysed.clear()
    without = engine.run(["."], Config(), families=TEST_FAMILIES, prefilter=False)
    assert with_filter.findings == without.findings
    assert codes(with_filter.findings) == [
        ("pkg/a.py", "TG901", 2),
        ("pkg/b.py", "TG902", 4),
        ("pkg/c.py", "TG902", 4),
        ("settings.cfg", "TG903", 2),
    ]
    # b, c and e never say "boom": they are analysed because they import what does; pkg/__init__
    # because e reads names from it (`from . import b`); d is skipped.
    assert analysed == ["pkg/__init__.py", "pkg/a.py", "pkg/b.py", "pkg/c.py", "pkg/e.py"]
    assert "pkg/d.py" in BoomFamily.analysed


def _mixed_tree(root: Path) -> None:
    """examples/ plus ordinary modules and a cross-module helper chain without Telethon keywords."""
    shutil.copytree(
        REPO / "examples", root / "examples", ignore=shutil.ignore_patterns("__pycache__")
    )
    files: dict[str, str] = {
        "svc/__init__.py": "",
        "svc/tg.py": "from telethon import TelegramClient\n\nclient = TelegramClient('svc', 1, '0' * 32)\n",
        "svc/helpers.py": "from svc.tg import client\n\n\nasync def notify(text):\n    await client.send_message('me', text)\n",
        "svc/jobs.py": "from svc.helpers import notify\n\n\nasync def nightly():\n    await notify('done')\n",
        "svc/relative.py": "from .helpers import notify\n\n\nasync def go():\n    await notify('x')\n",
        "svc/worker.sh": "#!/bin/sh\nexec uvicorn svc.app:app --workers 3\n",
        "Procfile": "web: uvicorn svc.app:app --reload\n",
        # Facts a module that matters reads from modules without any keyword of their own:
        # a session constant (TG300 across a service and a script) ...
        "svc/names.py": "ACCOUNT = 'relay'\nOTHER = ACCOUNT\n",
        "svc/service.py": (
            "from telethon import TelegramClient\n\nfrom svc import names\n\n"
            "client = TelegramClient(names.OTHER, 1, '0' * 32)\n"
        ),
        "scripts/backfill.py": (
            "from telethon import TelegramClient\n\nclient = TelegramClient('relay', 1, '0' * 32)\n"
        ),
        # ... a lock defined elsewhere (TG102: two locks guard Telethon actions) ...
        "svc/locks.py": "import asyncio\n\nLOCK = asyncio.Lock()\n",
        "svc/guarded.py": (
            "from svc.locks import LOCK\nfrom svc.tg import client\n"
            "from telethon_guard import telethon_lock\n\n\n"
            "async def a():\n    async with LOCK:\n        await client.send_message('me', 'a')\n\n\n"
            "async def b():\n    async with telethon_lock:\n        await client.send_message('me', 'b')\n"
        ),
        # ... a worker count (TG201 names the resolved value) ...
        "svc/knobs.py": "N = 4\n",
        "gunicorn.conf.py": "from svc.knobs import N\n\nworkers = N\n",
        "svc/serve.py": "import uvicorn\n\nfrom svc.knobs import N\n\nuvicorn.run('svc.app:app', workers=N)\n",
        # ... and a client reached through a module that only re-exports it.
        "svc/deps.py": "from svc.tg import client as tg_client\n",
        "svc/views.py": (
            "from svc.deps import tg_client\n\n\nasync def view():\n    await tg_client.get_me()\n"
        ),
    }
    for n in range(30):
        files[f"util/mod{n}.py"] = (
            f"import json\n\n\ndef f{n}(x):\n    return json.dumps({{'n': x + {n}}})\n"
        )
    write_tree(root, files)


def test_prefilter_loses_no_finding_of_the_real_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _mixed_tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    filtered = engine.run(["."], Config())
    unfiltered = engine.run(["."], Config(), prefilter=False)
    assert filtered.findings == unfiltered.findings
    found = {f.code for f in filtered.findings}
    assert {"TG100", "TG200", "TG201", "TG300"} <= found
    # The helper chain crosses modules that never name Telethon.
    assert any(f.path == "svc/jobs.py" and f.code == "TG100" for f in filtered.findings)
    # Constants come from modules without a keyword: they are analysed because a module that
    # matters imports them (a session name, a worker count).
    by_code = {(f.path, f.code): f.message for f in filtered.findings}
    assert "scripts/backfill.py" in by_code[("svc/service.py", "TG300")]
    assert "svc/service.py" in by_code[("scripts/backfill.py", "TG300")]
    assert "runs 4 worker processes" in by_code[("svc/serve.py", "TG201")]
    assert "workers = N" in by_code[("gunicorn.conf.py", "TG201")]
    assert ("svc/views.py", "TG100") in by_code
    # ... and ordinary modules nobody relevant imports are still skipped.
    assert filtered.analysed < unfiltered.analysed - 25


# --- parallel runs --------------------------------------------------------------------------


def test_jobs_2_equals_jobs_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _mixed_tree(tmp_path)
    write_tree(tmp_path, HELPER_TREE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(engine, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(engine, "PARALLEL_MIN_FILES", 2)
    families = (*engine._families(None), *TEST_FAMILIES)
    one = engine.run(["."], Config(), jobs=1, families=families)
    two = engine.run(["."], Config(), jobs=2, families=families)
    assert one.findings == two.findings
    assert [(f, f.fix) for f in one.findings] == [(f, f.fix) for f in two.findings]
    assert one.findings
    # Proof that the second run used worker processes: the families ran elsewhere.
    assert BoomFamily.analysed.count("pkg/a.py") == 1  # only the in-process run counted here


def test_worker_processes_really_analyse(tree: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tree({f"m{n}.py": f"def f{n}():\n    boom()\n" for n in range(12)})
    monkeypatch.chdir(root)
    monkeypatch.setattr(engine, "PARALLEL_MIN_BYTES", 0)
    PidFamily.pids.clear()
    engine.run(["."], Config(), jobs=2, families=(PidFamily(),))
    assert PidFamily.pids and os.getpid() not in PidFamily.pids


# --- cache ----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs are recorded only when no file changed within ``_RACY_NS`` of their start; the
    trees here are written just before each run, and nothing writes to them concurrently."""
    monkeypatch.setattr("lint_rules.cache._RACY_NS", 0)


def _cached(root: Path, config: Config | None = None) -> engine.LintResult:
    return engine.run(["."], config or Config(), cache=True, families=TEST_FAMILIES, cwd=str(root))


def test_cache_rerun_does_no_analysis_and_gives_the_same_findings(tree: Any) -> None:
    root = tree(HELPER_TREE)
    first = _cached(root)
    assert BoomFamily.analysed
    assert (root / ".telethon_guard_cache" / ".gitignore").read_text().strip().endswith("*")
    BoomFamily.analysed.clear()
    second = _cached(root)
    assert second.cached_run and BoomFamily.analysed == []
    assert second.findings == first.findings


def test_cache_invalidation_on_content_config_and_version(
    tree: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree(HELPER_TREE)
    before = _cached(root)
    # Content: only the edited file is analysed again (the others come from per-file entries).
    (root / "pkg/d.py").write_text("def other():\n    boom()\n")
    BoomFamily.analysed.clear()
    after = _cached(root)
    assert BoomFamily.analysed == ["pkg/d.py"]
    assert ("pkg/d.py", "TG901", 2) in codes(after.findings)
    assert ("pkg/d.py", "TG901", 2) not in codes(before.findings)
    # Config: every file again.
    BoomFamily.analysed.clear()
    _cached(root, Config(lock_names=("other_lock",)))
    assert "pkg/a.py" in BoomFamily.analysed and "pkg/d.py" in BoomFamily.analysed
    # Version of the tool or of any rule module.
    BoomFamily.analysed.clear()
    _cached(root)
    assert BoomFamily.analysed == []
    monkeypatch.setattr(engine, "code_version", lambda: "another-version")
    _cached(root)
    assert "pkg/a.py" in BoomFamily.analysed


def test_a_run_over_just_changed_files_is_not_recorded(
    tree: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file stamped within the racy window of the run's start could change again with the same
    # stamp (coarse file-system clocks): its stat data proves nothing, so the run is not recorded.
    root = tree(HELPER_TREE)
    monkeypatch.setattr("lint_rules.cache._RACY_NS", 3_600 * 10**9)
    _cached(root)
    BoomFamily.analysed.clear()
    again = _cached(root)
    assert not again.cached_run and BoomFamily.analysed == []  # per-file entries still serve it


def test_corrupt_cache_entries_are_ignored(tree: Any) -> None:
    root = tree(HELPER_TREE)
    first = _cached(root)
    entries = [
        p
        for p in (root / ".telethon_guard_cache").rglob("*")
        if p.is_file() and p.parent.name != ".telethon_guard_cache"
    ]
    assert entries
    for n, p in enumerate(entries):
        p.write_bytes(b"garbage" if n % 2 else b"")
    BoomFamily.analysed.clear()
    again = _cached(root)
    assert again.findings == first.findings and not again.internal
    assert BoomFamily.analysed  # recomputed, not fatal


def test_unwritable_cache_directory_is_not_fatal(tree: Any) -> None:
    root = tree({"a.py": "boom()\n", ".telethon_guard_cache": "a file, not a directory\n"})
    result = _cached(root)
    assert codes(result.findings) == [("a.py", "TG901", 1)]


def test_fully_cached_cli_run_imports_neither_libcst_nor_the_rules(tree: Any) -> None:
    root = tree({"app.py": UNSAFE, "pyproject.toml": "[tool.telethon-guard]\n"})
    script = (
        "import sys, lint_rules.cache; lint_rules.cache._RACY_NS = 0;"
        "from lint_rules.cli import main; code = main(['lint', '.']);"
        "print(code, 'libcst' in sys.modules, 'lint_rules.rules' in sys.modules)"
    )
    outputs = [
        subprocess.run(
            [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    ]
    assert outputs[0].strip().endswith("1 True True")
    assert "TG100" in outputs[1] and outputs[1].strip().endswith("1 False False")


# --- suppressions ---------------------------------------------------------------------------


def test_suppressions_on_line_and_statement_start() -> None:
    src = (
        "boom()  # noqa: TG901\n"
        "boom()  # telethon-guard: ignore[TG901]\n"
        "x = [  # noqa: TG901\n"
        "    boom(),\n"
        "]\n"
        "y = [\n"
        "    boom(),\n"
        "]  # noqa: TG901\n"
        "s = '# noqa: TG901'; boom()\n"
        "boom()  # noqa\n"
        "boom()  # NOQA:TG901,TG903\n"
    )
    found = lint_source(src, "a.py", families=TEST_FAMILIES)
    assert [(f.code, f.line) for f in found] == [
        ("TG901", 7),  # a comment on the statement's last line covers only that line
        ("TG001", 8),  # ... and is therefore unused
        ("TG901", 9),  # a noqa inside a string is not a comment
        ("TG001", 11),  # TG903 was listed but never reported there
    ]
    assert "`TG901`" in found[1].message
    assert "`TG903`" in found[3].message and "TG901" not in found[3].message


def test_unused_suppression_reports_only_our_enabled_codes() -> None:
    src = (
        "x = 1  # noqa: E501\n"
        "x = 2  # noqa: TG901, E501\n"
        "x = 3  # telethon-guard: ignore[TG901, TG300]\n"
        "x = 4  # telethon-guard: ignore\n"
        "x = 5  # noqa\n"
        "x = 6  # noqa: TG300  # noqa: TG001\n"
    )
    found = lint_source(src, "a.py", families=TEST_FAMILIES)
    assert [(f.code, f.line) for f in found] == [("TG001", 2), ("TG001", 3), ("TG001", 4)]
    assert "`TG901`, `TG300`" in found[1].message
    assert found[0].column == src.splitlines()[1].index("#") + 1
    quiet = lint_source(src, "a.py", Config(ignore=("TG9", "TG3")), families=TEST_FAMILIES)
    assert [(f.code, f.line) for f in quiet] == [("TG001", 4)]
    assert lint_source(src, "a.py", Config(ignore=("TG001",)), families=TEST_FAMILIES) == []


def test_suppression_in_deployment_file(tree: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tree({"a.cfg": "boom  # noqa: TG903\nboom\nx  # telethon-guard: ignore[TG903]\n"})
    monkeypatch.chdir(root)
    found = engine.run(["."], Config(), families=TEST_FAMILIES).findings
    assert [(f.code, f.line) for f in found] == [("TG903", 2), ("TG001", 3)]


def test_real_rule_suppressed_on_first_line_of_a_multiline_statement() -> None:
    src = UNSAFE.replace(
        "    await client.send_message('BotFather', text)\n",
        "    await client.send_message(  # noqa: TG100\n        'BotFather',\n        text,\n    )\n",
    )
    assert lint_source(src, "relay.py") == []


# --- selection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("select", "ignore", "expected"),
    [
        ((), (), {"TG901", "TG902"}),
        (("TG9",), ("TG902",), {"TG901"}),
        (("TG902",), ("TG9",), {"TG902"}),  # the more specific selector wins
        ((), ("TG90",), set()),
        (("TG1",), (), set()),
    ],
)
def test_select_and_ignore_prefixes(
    tree: Any,
    monkeypatch: pytest.MonkeyPatch,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    expected: set[str],
) -> None:
    root = tree(HELPER_TREE)
    monkeypatch.chdir(root)
    found = engine.run(
        ["pkg"], Config(select=select, ignore=ignore), families=TEST_FAMILIES
    ).findings
    assert {f.code for f in found} == expected


def test_per_file_ignores_match_root_relative_globs(
    tree: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree({**HELPER_TREE, "scripts/x.py": "boom()\n"})
    monkeypatch.chdir(root / "pkg")
    config = Config(
        per_file_ignores=(("pkg/a.py", ("TG9",)), ("scripts/*", ("TG901",))), root=str(root)
    )
    found = engine.run([".", "../scripts"], config, families=TEST_FAMILIES).findings
    assert codes(found) == [("b.py", "TG902", 4), ("c.py", "TG902", 4)]


# --- discovery and module names ----------------------------------------------------------------


def test_module_names_come_from_the_package_structure(
    tree: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree(
        {
            "src/app/__init__.py": "boom()\n",
            "src/app/core/__init__.py": "",
            "src/app/core/relay.py": "boom()\n",
            "scripts/tool.py": "boom()\n",
        }
    )
    monkeypatch.chdir(root)
    seen: dict[str, tuple[str, bool]] = {}

    class Names(BoomFamily):
        def check_project(self, facts: Mapping[str, Any], config: Config) -> Sequence[Finding]:
            seen.update({p: (f["module"], f["is_package"]) for p, f in facts.items()})
            return ()

    engine.run(["."], Config(), families=(Names(),))
    assert seen == {
        "src/app/__init__.py": ("app", True),
        "src/app/core/relay.py": ("app.core.relay", False),
        "scripts/tool.py": ("tool", False),
    }


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.mark.parametrize("in_git", [True, False])
def test_gitignore_default_and_user_excludes(
    tree: Any, monkeypatch: pytest.MonkeyPatch, in_git: bool
) -> None:
    files = {
        ".gitignore": "ignored/\n*.gen.py\n!keep.gen.py\n",
        "a.py": "boom()\n",
        "ignored/x.py": "boom()\n",
        "z.gen.py": "boom()\n",
        "keep.gen.py": "boom()\n",
        ".venv/lib/x.py": "boom()\n",
        "build/x.py": "boom()\n",
        "node_modules/x.py": "boom()\n",
        "thing.egg-info/x.py": "boom()\n",
        "migrations/m1.py": "boom()\n",
        "sub/legacy_x.py": "boom()\n",
    }
    root = tree(files)
    if in_git:
        _git(root, "init", "-q")
    monkeypatch.chdir(root)
    config = Config(exclude=("migrations", "sub/legacy_*.py"))
    found = engine.run(["."], config, families=TEST_FAMILIES).findings
    assert sorted({f.path for f in found}) == ["a.py", "keep.gen.py"]
    # Named files are linted even where a directory walk skips them; user excludes still hold.
    named = engine.run(
        ["build/x.py", "ignored/x.py", "migrations/m1.py"], config, families=TEST_FAMILIES
    )
    assert sorted({f.path for f in named.findings}) == ["build/x.py", "ignored/x.py"]


class BangFamily(BoomFamily):
    """Like BoomFamily with another keyword: files relevant only to one family skip the other."""

    keywords: ClassVar[tuple[bytes, ...]] = (b"bang",)
    seen: ClassVar[list[str]] = []

    def check_module(self, module: PythonModule) -> FileResult:
        self.seen.append(module.path)
        return FileResult()


def test_only_the_families_a_file_matters_to_analyse_it(
    tree: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree(
        {
            "a.py": "boom()\n",
            "b.py": "bang = 1\n",
            "c.py": "x = 1  # noqa: TG901\n",
            "d.py": "x = 1\n",
        }
    )
    monkeypatch.chdir(root)
    BangFamily.seen.clear()
    result = engine.run(["."], Config(), families=(BoomFamily(), BangFamily()))
    assert sorted(BoomFamily.analysed) == ["a.py", "c.py"]
    assert sorted(BangFamily.seen) == ["b.py", "c.py"]
    assert codes(result.findings) == [("a.py", "TG901", 1), ("c.py", "TG001", 1)]
    # Configured lock names are keywords of every family.
    BoomFamily.analysed.clear()
    engine.run(
        ["."], Config(lock_names=("telethon_lock", "app.locks.bang")), families=(BoomFamily(),)
    )
    assert sorted(BoomFamily.analysed) == ["a.py", "b.py", "c.py"]


def test_git_listing_skips_tracked_files_deleted_from_the_work_tree(
    tree: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree({"a.py": "boom()\n", "gone.py": "boom()\n", "new.py": "boom()\n"})
    _git(root, "init", "-q")
    _git(root, "add", "a.py", "gone.py")
    (root / "gone.py").unlink()
    monkeypatch.chdir(root)
    result = engine.run(["."], Config(), families=TEST_FAMILIES)
    assert codes(result.findings) == [("a.py", "TG901", 1), ("new.py", "TG901", 1)]


class DyingFamily(BoomFamily):
    """Kills its worker process on files that say ``die`` (like a crash in native code)."""

    def check_module(self, module: PythonModule) -> FileResult:
        if "die" in module.source:
            os._exit(3)
        return super().check_module(module)


def test_a_worker_dying_costs_one_file_not_the_run(
    tree: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"m{n}.py": f"def f{n}():\n    boom()\n" for n in range(10)}
    files["m5.py"] = "boom()  # die\n"
    root = tree(files)
    monkeypatch.chdir(root)
    monkeypatch.setattr(engine, "PARALLEL_MIN_BYTES", 0)
    result = engine.run(["."], Config(), jobs=2, families=(DyingFamily(),))
    by_path = {f.path: f for f in result.findings}
    assert by_path["m5.py"].code == "TG000" and "worker process died" in by_path["m5.py"].message
    assert sorted(p for p, f in by_path.items() if f.code == "TG901") == sorted(
        f"m{n}.py" for n in range(10) if n != 5
    )


class LocalBoomFamily(BoomFamily):
    """BoomFamily for which only files with the keyword matter (no import closure)."""

    follow_imports: ClassVar[bool] = False


def test_a_family_may_opt_out_of_the_import_closure(
    tree: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree(HELPER_TREE)
    monkeypatch.chdir(root)
    engine.run(["."], Config(), families=(LocalBoomFamily(),))
    assert sorted(BoomFamily.analysed) == ["pkg/a.py"]


def test_import_scan_sees_every_import_form() -> None:
    """The pre-filter's import scan over-approximates: a missed import would lose findings."""
    src = (
        b"import os, app.tg as tg\n"
        b"from app.cfg import (ONE,  # comment\n    TWO as two,\n    THREE)\n"
        b"from . import sibling\nfrom ..up import thing; import z.y\n"
        b"try: import orjson\nexcept ImportError: pass\n"
        b"from app.more import \\\n    four, five\n"
        b"def f():\n    from inner import v\n"
    )
    targets, plain = engine._imports(src, "pkg.sub.mod", False)
    for name in (
        "app.tg",
        "app.cfg.ONE",
        "app.cfg.TWO",
        "app.cfg.THREE",
        "pkg.sub.sibling",
        "pkg.up.thing",
        "z.y",
        "orjson",
        "app.more.four",
        "app.more.five",
        "inner.v",
    ):
        assert name in targets, name
    assert plain == ["os", "app.tg", "z.y", "orjson"]


def test_imported_modules_are_followed_only_from_files_that_read_them() -> None:
    files = [
        ("a.py", b"KEY\nfrom cfg import X\n", "a", False),
        ("b.py", b"KEY\nfrom other import Y\n", "b", False),
        ("cfg.py", b"from deeper import X\n", "cfg", False),
        ("deeper.py", b"X = 1\n", "deeper", False),
        ("other.py", b"Y = 2\n", "other", False),
        ("user.py", b"import a\n", "user", False),
    ]
    keywords: list[tuple[bytes, ...] | None] = [(b"KEY",)]
    both = engine.select_relevant(files, keywords, [True], [True])
    assert [f[0] for f, r in zip(files, both, strict=True) if r] == [
        "a.py",
        "b.py",
        "cfg.py",
        "deeper.py",
        "other.py",
        "user.py",
    ]
    # Only a.py reads its imports; the walk goes on from cfg.py to deeper.py. No importers.
    narrow = engine.select_relevant(files, keywords, [False], [True], [lambda data: b"cfg" in data])
    assert [f[0] for f, r in zip(files, narrow, strict=True) if r] == [
        "a.py",
        "b.py",
        "cfg.py",
        "deeper.py",
    ]
