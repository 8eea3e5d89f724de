"""``telethon-guard lint``: formats, exit codes, config errors, stdin, --fix/--diff, --explain."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lint_rules import __version__, lint_source
from lint_rules import engine as engine_module
from lint_rules.rules import all_rules

from .conftest import SAFE, UNSAFE, run_console

JSON_KEYS = {"path", "line", "column", "end_line", "end_column", "code", "message", "fix"}


def test_text_output_shows_source_caret_and_summary(tree: Any, cli: Any) -> None:
    root = tree({"app.py": UNSAFE, "ok.py": SAFE.replace("'relay'", "'other'")})
    r = cli(["lint", "--no-cache"], root)
    assert r.code == 1
    lines = r.out.splitlines()
    assert lines[0] == ("app.py:7:11: TG100 [*] " + lint_source(UNSAFE, "app.py")[0].message)
    assert lines[1] == " 7 |     await client.send_message('BotFather', text)"
    assert lines[2] == "   |           " + "^" * len("client.send_message('BotFather', text)")
    assert lines[-1] == "Found 1 finding (1 fixable with --fix)."
    assert "\x1b[" not in r.out  # not a terminal


def test_clean_tree_exits_0(tree: Any, cli: Any) -> None:
    root = tree({"ok.py": SAFE})
    r = cli(["lint", "--no-cache", "."], root)
    assert (r.code, r.out.strip(), r.err) == (0, "All checks passed.", "")


@pytest.mark.parametrize(
    ("env", "colored"),
    [({"FORCE_COLOR": "1"}, True), ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False), ({}, False)],
)
def test_colour_follows_force_color_and_no_color(
    tree: Any, cli: Any, env: dict[str, str], colored: bool
) -> None:
    root = tree({"app.py": UNSAFE})
    r = cli(["lint", "--no-cache"], root, env=env)
    assert ("\x1b[" in r.out) is colored


def test_json_format_exact_shape(tree: Any, cli: Any) -> None:
    root = tree({"sub/app.py": UNSAFE})
    r = cli(["lint", "--no-cache", "--format", "json", "sub"], root)
    assert r.code == 1
    data = json.loads(r.out)
    assert len(data) == 1
    item = data[0]
    assert set(item) == JSON_KEYS
    assert (item["path"], item["line"], item["column"], item["code"]) == (
        "sub/app.py",
        7,
        11,
        "TG100",
    )
    assert set(item["fix"]) == {"message", "edits"}
    for edit in item["fix"]["edits"]:
        assert set(edit) == {"line", "column", "end_line", "end_column", "content"}
    clean = cli(["lint", "--no-cache", "--format", "json"], tree({"ok.py": SAFE}))
    assert (clean.code, json.loads(clean.out)) == (0, [])


def test_github_format(tree: Any, cli: Any) -> None:
    root = tree({"app.py": UNSAFE})
    r = cli(["lint", "--no-cache", "--format", "github"], root)
    f = lint_source(UNSAFE, "app.py")[0]
    assert r.out.strip() == (
        f"::error file=app.py,line=7,col=11,endLine=7,endColumn={f.end_column},title=TG100::TG100 "
        + f.message.replace("%", "%25")
    )


def test_github_format_escapes_properties_and_newlines() -> None:
    from lint_rules.model import Finding
    from lint_rules.output import render_github

    out = render_github([Finding("a,b:c.py", 1, 1, 1, 2, "TG100", "50% done\nnext")])
    assert (
        out
        == "::error file=a%2Cb%3Ac.py,line=1,col=1,endLine=1,endColumn=2,title=TG100::TG100 50%25 done%0Anext"
    )


def test_sarif_has_the_shape_github_code_scanning_accepts(tree: Any, cli: Any) -> None:
    root = tree({"app.py": UNSAFE, "Dockerfile": 'CMD ["uvicorn", "app:app", "--workers", "4"]\n'})
    r = cli(["lint", "--no-cache", "--format", "sarif"], root)
    assert r.code == 1
    log = json.loads(r.out)
    assert log["version"] == "2.1.0" and "sarif-2.1.0" in log["$schema"]
    assert len(log["runs"]) == 1
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "telethon-guard" and driver["version"] == __version__
    assert driver["informationUri"].startswith("https://")
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert rule_ids == list(all_rules())
    for rule in driver["rules"]:
        for key in ("shortDescription", "fullDescription", "help"):
            assert isinstance(rule[key]["text"], str) and rule[key]["text"]
        assert rule["name"]
    assert {res["ruleId"] for res in run["results"]} == {"TG100", "TG201"}
    for res in run["results"]:
        assert rule_ids[res["ruleIndex"]] == res["ruleId"]
        assert res["level"] in ("error", "warning", "note")
        assert res["message"]["text"]
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] in ("app.py", "Dockerfile")
        region = loc["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
        assert (region["endLine"], region["endColumn"]) >= (
            region["startLine"],
            region["startColumn"],
        )


def test_statistics(tree: Any, cli: Any) -> None:
    other = UNSAFE.replace("'relay'", "'other'")
    root = tree({"a.py": UNSAFE, "b.py": other, "Procfile": "web: uvicorn app:app --reload\n"})
    r = cli(["lint", "--no-cache", "--statistics"], root)
    assert r.code == 1
    rows = [line.split("\t") for line in r.out.splitlines()[:-1]]
    assert [(n.strip(), code) for n, code, _ in rows] == [("2", "TG100"), ("1", "TG200")]
    assert rows[0][2] == "[*] telethon-action-outside-lock"
    assert r.out.splitlines()[-1] == "Found 3 findings (2 fixable with --fix)."
    j = cli(["lint", "--no-cache", "--statistics", "--format", "json"], root)
    assert json.loads(j.out)[0] == {
        "code": "TG100",
        "name": "telethon-action-outside-lock",
        "count": 2,
        "fixable": 2,
    }


def test_explain(tmp_path: Path, cli: Any) -> None:
    r = cli(["lint", "--explain", "tg100"], tmp_path)
    assert r.code == 0
    for heading in (
        "# TG100 telethon-action-outside-lock",
        "## What it does",
        "## Why is this bad?",
        "## Example",
        "## Use instead",
    ):
        assert heading in r.out
    bad = cli(["lint", "--explain", "TG999"], tmp_path)
    assert bad.code == 2 and "unknown rule code 'TG999'" in bad.err


def test_stdin_with_filename(tmp_path: Path, cli: Any) -> None:
    r = cli(
        ["lint", "--no-cache", "--format", "json", "-", "--stdin-filename", "svc/relay.py"],
        tmp_path,
        stdin=UNSAFE.encode(),
    )
    assert r.code == 1
    assert [(f["path"], f["code"]) for f in json.loads(r.out)] == [("svc/relay.py", "TG100")]
    text = cli(["lint", "-", "--stdin-filename", "relay.py"], tmp_path, stdin=UNSAFE.encode())
    assert " 7 |     await client.send_message('BotFather', text)" in text.out
    docker = cli(
        ["lint", "-", "--stdin-filename", "Dockerfile"],
        tmp_path,
        stdin=b"CMD uvicorn app:app --reload\n",
    )
    assert docker.code == 1 and "Dockerfile:1:" in docker.out and "TG200" in docker.out
    fixed = cli(
        ["lint", "-", "--stdin-filename", "relay.py", "--fix"], tmp_path, stdin=UNSAFE.encode()
    )
    assert fixed.code == 0 and "async with telethon_lock:" in fixed.out
    assert lint_source(fixed.out, "relay.py") == []


def test_stdin_without_filename_is_python(tmp_path: Path, cli: Any) -> None:
    # "<stdin>" has no extension: it must not be taken for an extensionless shell script.
    r = cli(["lint", "--no-cache", "--format", "json", "-"], tmp_path, stdin=UNSAFE.encode())
    assert r.code == 1
    assert [(f["path"], f["code"]) for f in json.loads(r.out)] == [("<stdin>", "TG100")]
    assert [f.code for f in lint_source(UNSAFE)] == ["TG100"]
    assert [f.code for f in lint_source(UNSAFE, "<string>")] == ["TG100"]
    # An extensionless script with a Python shebang is Python too, a shell shebang is not.
    script = "#!/usr/bin/env python3\n" + UNSAFE
    assert [f.code for f in lint_source(script, "bin/relay")] == ["TG100"]
    shell = "#!/bin/sh\nexec uvicorn app:app --workers 2\n"
    assert [f.code for f in lint_source(shell, "bin/serve")] == ["TG201"]


def test_fix_is_idempotent_and_relints_clean(tree: Any, cli: Any) -> None:
    src = (
        UNSAFE
        + "\n\nasync def read():\n    # keep this comment\n    return await client.get_messages('BotFather', limit=3)\n"
    )
    root = tree({"app.py": src})
    diff = cli(["lint", "--no-cache", "--diff"], root)
    assert diff.code == 1
    assert diff.out.startswith("--- a/app.py\n+++ b/app.py\n")
    assert "+    async with telethon_lock:" in diff.out
    assert (root / "app.py").read_text() == src  # --diff writes nothing
    fixed = cli(["lint", "--no-cache", "--fix"], root)
    assert fixed.code == 0, fixed.out
    assert "All checks passed" in fixed.out and "2 fixes applied" in fixed.out
    once = (root / "app.py").read_text()
    assert (
        "# keep this comment" in once
        and once.count("from telethon_guard import telethon_lock") == 1
    )
    again = cli(["lint", "--no-cache", "--fix"], root)
    assert again.code == 0 and (root / "app.py").read_text() == once
    assert cli(["lint", "--no-cache", "--diff"], root).code == 0
    assert cli(["lint", "--no-cache"], root).code == 0


def test_fix_keeps_crlf_line_endings(tree: Any, cli: Any) -> None:
    root = tree({"app.py": UNSAFE.replace("\n", "\r\n").encode()})
    assert cli(["lint", "--no-cache", "--fix"], root).code == 0
    data = (root / "app.py").read_bytes()
    assert b"async with telethon_lock:" in data
    assert data.count(b"\n") == data.count(b"\r\n")


@pytest.mark.parametrize(
    ("pyproject", "expected"),
    [
        (
            "[tool.telethon-guard]\nlock_names = ['x']\n",
            "unknown key 'lock_names'; did you mean 'lock-names'?",
        ),
        ("[tool.telethon-guard]\nselect = 'TGX'\n", "'TGX' is not a rule code or prefix"),
        (
            "[tool.telethon-guard]\nlock-names = 'telethon_lock'\n",
            "lock-names: expected a list of non-empty strings",
        ),
        ("[tool.telethon-guard]\nper-file-ignores = ['a']\n", "per-file-ignores: expected a table"),
        ("[tool.telethon-guard]\nselect = ['TG999']\n", "unknown rule code 'TG999'"),
        ("[tool.telethon-guard\nselect = []\n", "not valid TOML"),
    ],
)
def test_config_errors_exit_2_naming_file_and_key(
    tree: Any, cli: Any, pyproject: str, expected: str
) -> None:
    root = tree({"pyproject.toml": pyproject, "sub/app.py": UNSAFE})
    r = cli(["lint", "--no-cache", "sub"], root)
    assert r.code == 2
    assert expected in r.err
    if "TG999" not in expected:
        assert str(root / "pyproject.toml") in r.err
    assert r.out == ""


def test_config_from_nearest_pyproject_applies(tree: Any, cli: Any) -> None:
    files = {
        "pyproject.toml": '[tool.telethon-guard]\nlock-names = ["app.locks.big_lock"]\nper-file-ignores = { "legacy/*" = ["TG1"] }\n',
        "legacy/old.py": UNSAFE,
        "app/__init__.py": "",
        "app/run.py": UNSAFE.replace("'relay'", "'x'"),
    }
    root = tree(files)
    r = cli(["lint", "--no-cache", "--format", "json"], root / "app")
    assert [f["code"] for f in json.loads(r.out)] == ["TG100"]
    r = cli(["lint", "--no-cache", "--format", "json", "--select", "TG2,TG3"], root)
    assert json.loads(r.out) == []
    r = cli(["lint", "--no-cache", "--format", "json", "--ignore", "TG100"], root)
    assert json.loads(r.out) == []


def test_bad_option_values_exit_2(tmp_path: Path, cli: Any) -> None:
    assert cli(["lint", "--select", "E501"], tmp_path).code == 2
    assert cli(["lint", "--jobs", "0"], tmp_path).code == 2
    assert cli(["lint", "--format", "xml"], tmp_path).code == 2
    assert cli([], tmp_path).code == 2


def test_missing_path_is_exit_2_and_the_rest_is_linted(tree: Any, cli: Any) -> None:
    root = tree({"app.py": UNSAFE})
    r = cli(["lint", "--no-cache", "nope.py", "app.py"], root)
    assert r.code == 2
    assert "nope.py: no such file or directory" in r.err
    assert "app.py:7:11: TG100" in r.out


def test_internal_error_is_one_line_with_a_hint(
    tree: Any, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree({"app.py": SAFE})

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(engine_module, "run", explode)
    r = cli(["lint", "--no-cache"], root)
    assert r.code == 2
    assert "Traceback" not in r.err
    assert "internal error: ZeroDivisionError: boom" in r.err and "please report" in r.err
    verbose = cli(["lint", "--no-cache", "--verbose"], root)
    assert verbose.code == 2 and "Traceback" in verbose.err


def test_console_script_version_and_exit_codes(tree: Any) -> None:
    root = tree({"app.py": UNSAFE})
    version = run_console(["--version"], root)
    assert (version.returncode, version.stdout.strip()) == (0, f"telethon-guard {__version__}")
    r = run_console(["lint", "--jobs", "2"], root)
    assert r.returncode == 1 and "TG100" in r.stdout
    (root / "app.py").write_text(SAFE)
    assert run_console(["lint"], root).returncode == 0


def test_exclude_option_and_cache_directory(tree: Any, cli: Any) -> None:
    root = tree({"app.py": UNSAFE, "gen/out.py": UNSAFE.replace("'relay'", "'gen'")})
    r = cli(["lint", "--format", "json", "--exclude", "gen"], root)
    assert [f["path"] for f in json.loads(r.out)] == ["app.py"]
    assert (root / ".telethon_guard_cache" / ".gitignore").exists()
    # The cache directory itself is never linted, and a re-run gives the same answer from it.
    again = cli(["lint", "--format", "json", "--exclude", "gen"], root)
    assert again.out == r.out and again.code == 1
    both = cli(["lint", "--format", "json"], root)
    assert [f["path"] for f in json.loads(both.out)] == ["app.py", "gen/out.py"]


# --- replay of an unchanged run -------------------------------------------------------------


@pytest.fixture
def full_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the runs that went through the engine (a replayed run never calls it).

    The trees are written just before each run and nothing writes to them concurrently: the
    racy window (see ``lint_rules.cache._RACY_NS``) is closed.
    """
    monkeypatch.setattr("lint_rules.cache._RACY_NS", 0)
    calls: list[int] = []
    real = engine_module.run

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_module, "run", counting)
    return calls


def _paths_and_codes(out: str) -> set[tuple[str, str]]:
    return {(f["path"], f["code"]) for f in json.loads(out)}


def test_rerun_is_replayed_until_anything_it_depends_on_changes(
    tree: Any, cli: Any, full_runs: list[int]
) -> None:
    root = tree({"app.py": UNSAFE, "pkg/__init__.py": "", "pkg/mod.py": SAFE, "empty/.keep": ""})
    argv = ["lint", "--format", "json", "."]

    def replayed() -> Any:
        cli(argv, root)
        before = len(full_runs)
        first = cli(argv, root)
        second = cli(argv, root)
        assert len(full_runs) == before, "an unchanged tree must be replayed"
        assert (second.out, second.code, second.err) == (first.out, first.code, "")
        return second

    def changed() -> Any:
        before = len(full_runs)
        result = cli(argv, root)
        assert len(full_runs) == before + 1, "a change must never be replayed"
        assert result.out == replayed().out
        return result

    assert ("app.py", "TG100") in _paths_and_codes(replayed().out)
    mod = root / "pkg/mod.py"
    mod.write_text(UNSAFE)
    assert ("pkg/mod.py", "TG100") in _paths_and_codes(changed().out)
    # An edit that keeps the size and the mtime (touch -r) still changes the ctime.
    st = mod.stat()
    mod.write_text(UNSAFE.replace("send_message", "xend_message"))
    os.utime(mod, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert mod.stat().st_size == st.st_size
    assert ("pkg/mod.py", "TG100") not in _paths_and_codes(changed().out)
    # A file added to a directory that had nothing to lint, and one in a new directory.
    (root / "empty/late.py").write_text(UNSAFE)
    assert ("empty/late.py", "TG100") in _paths_and_codes(changed().out)
    (root / "new/deeper").mkdir(parents=True)
    (root / "new/deeper/x.py").write_text(UNSAFE)
    assert ("new/deeper/x.py", "TG100") in _paths_and_codes(changed().out)
    # A file removed; a .gitignore that hides one; a config that silences a code.
    (root / "app.py").unlink()
    assert "app.py" not in {p for p, _ in _paths_and_codes(changed().out)}
    (root / ".gitignore").write_text("empty/\n")
    assert "empty/late.py" not in {p for p, _ in _paths_and_codes(changed().out)}
    (root / "pyproject.toml").write_text('[tool.telethon-guard]\nignore = ["TG100"]\n')
    result = changed()
    assert "TG100" not in {c for _, c in _paths_and_codes(result.out)}
    # Another command line (or colour) is another recording.
    text = cli(["lint", "."], root)
    assert not text.out.startswith("[") and len(full_runs) > 0


def test_git_ignore_rules_invalidate_the_replay(tree: Any, cli: Any, full_runs: list[int]) -> None:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    root = tree({"app.py": UNSAFE, "other.py": UNSAFE.replace("relay", "other")})
    subprocess.run([git, "init", "-q"], cwd=root, check=True)
    argv = ["lint", "--format", "json"]
    for _ in range(2):
        cli(argv, root)
    before = len(full_runs)
    assert {p for p, _ in _paths_and_codes(cli(argv, root).out)} == {"app.py", "other.py"}
    assert len(full_runs) == before
    (root / ".git/info").mkdir(exist_ok=True)
    (root / ".git/info/exclude").write_text("other.py\n")
    assert {p for p, _ in _paths_and_codes(cli(argv, root).out)} == {"app.py"}
    assert len(full_runs) == before + 1


def test_replayed_run_imports_nothing_else_and_spawns_no_git(tree: Any) -> None:
    root = tree({"app.py": UNSAFE, "pyproject.toml": "[tool.telethon-guard]\n"})
    script = (
        "import sys, lint_rules.cache; lint_rules.cache._RACY_NS = 0\n"
        "from lint_rules.cli import main\n"
        "code = main(['lint', '--format', 'json', '.'])\n"
        "loaded = [m for m in ('argparse', 'lint_rules.config', 'lint_rules.discovery',"
        " 'lint_rules.engine', 'subprocess', 'pickle') if m in sys.modules]\n"
        "print(code, *loaded)\n"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True
        ).stdout
        for _ in range(3)
    ]
    assert runs[0].splitlines()[-1].startswith("1 argparse")
    assert runs[2].splitlines()[-1] == "1", runs[2]
    assert runs[2].split("\n]\n")[0] == runs[0].split("\n]\n")[0]  # the same findings


def test_a_file_dated_in_the_future_does_not_disable_the_replay(
    tree: Any, cli: Any, full_runs: list[int]
) -> None:
    root = tree({"app.py": UNSAFE})
    future = (root / "app.py").stat().st_mtime_ns + 10 * 365 * 86_400 * 10**9
    os.utime(root / "app.py", ns=(future, future))
    argv = ["lint", "--format", "json", "app.py"]
    first = cli(argv, root)
    before = len(full_runs)
    again = cli(argv, root)
    assert (again.out, again.code) == (first.out, 1) and len(full_runs) == before
