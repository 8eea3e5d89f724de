"""Bad input: a clear finding or message for each, never a traceback, and the rest still linted."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lint_rules import lint_source

from .conftest import UNSAFE, run_console

HUGE = (
    "from telethon import TelegramClient\n"
    "client = TelegramClient('huge', 1, '0' * 32)\n"
    "DOC = '''\n"
    + "".join(f"line {n}\n" for n in range(25_000))
    + "'''\n"
    + "".join(f"# comment {n}\n" for n in range(25_000))
    + "x = 1\n\n\nasync def f():\n    await client.get_me()\n"
)

BAD_FILES: dict[str, bytes] = {
    "syntax.py": b"import telethon\n\ndef broken(:\n    pass\n",
    "indent.py": b"import telethon\nx = 1\n    y = 2\n",
    "latin.py": b"import telethon\nname = '\xe9t\xe9'\n",
    "badcookie.py": b"# -*- coding: klingon -*-\nimport telethon\n",
    "nul.py": b"import telethon\nx = 1\x00\n",
    "deep.py": b"import telethon\nx = " + b"(" * 5000 + b"1" + b")" * 5000 + b"\n",
    "chain.py": b"import telethon\nx = 1" + b" + 1" * 5000 + b"\n",
    "attrs.py": b"import telethon\nx = a" + b".b" * 20000 + b"\n",
}
EXPECTED = {
    "syntax.py": (3, "syntax error"),
    "indent.py": (3, "syntax error"),
    "latin.py": (
        2,
        "cannot decode as UTF-8, and there is no coding declaration (PEP 263): byte 0xe9 at line 2, column 9",
    ),
    "badcookie.py": (1, "unknown encoding: klingon"),
    "nul.py": (2, "NUL bytes"),
    "deep.py": (2, "nested"),
    "chain.py": (1, "nested too deeply"),
    "attrs.py": (1, "nested too deeply"),
}
FINE_FILES: dict[str, bytes] = {
    "empty.py": b"",
    "declared.py": b"# -*- coding: latin-1 -*-\nimport telethon\nname = '\xe9t\xe9'\n",
    "bom.py": b"\xef\xbb\xbfimport telethon\nx = 1\n",
    "crlf.py": b"import telethon\r\nx = 1\r\n",
    "huge.py": HUGE.encode(),
}


@pytest.fixture
def bad_tree(tmp_path: Path) -> Path:
    root = tmp_path / "bad"
    root.mkdir()
    for name, data in {**BAD_FILES, **FINE_FILES}.items():
        (root / name).write_bytes(data)
    (root / "good.py").write_text(UNSAFE)
    os.symlink("loop_b.py", root / "loop_a.py")
    os.symlink("loop_a.py", root / "loop_b.py")
    os.symlink("nowhere.py", root / "dangling.py")
    os.mkfifo(root / "fifo.py")
    return root


def test_every_bad_file_gets_one_clear_finding_and_the_rest_is_linted(
    bad_tree: Path, cli: Any
) -> None:
    r = cli(["lint", "--no-cache", "--format", "json", ".", "missing.py"], bad_tree)
    import json

    findings = json.loads(r.out)
    assert r.code == 2  # the missing path is a usage error; everything else was linted
    assert "missing.py: no such file or directory" in r.err
    assert "Traceback" not in r.err
    by_path: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        by_path.setdefault(f["path"], []).append(f)
    for name, (line, text) in EXPECTED.items():
        (only,) = by_path.pop(name)
        assert only["code"] == "TG000" and only["line"] == line and text in only["message"], only
    for name in ("loop_a.py", "loop_b.py"):
        (only,) = by_path.pop(name)
        assert only["code"] == "TG000" and "Too many levels of symbolic links" in only["message"]
    (dangling,) = by_path.pop("dangling.py")
    assert "No such file or directory" in dangling["message"]
    (fifo,) = by_path.pop("fifo.py")
    assert "not a regular file" in fifo["message"]
    # The good file's real finding and the huge file's finding at its last lines are still there.
    assert [f["code"] for f in by_path.pop("good.py")] == ["TG100"]
    (huge,) = by_path.pop("huge.py")
    assert huge["code"] == "TG100" and huge["line"] == len(HUGE.splitlines())
    assert by_path == {}  # empty, declared-encoding, BOM and CRLF files are fine


def test_syntax_error_position_and_text_output(tmp_path: Path, cli: Any) -> None:
    (tmp_path / "syntax.py").write_bytes(BAD_FILES["syntax.py"])
    r = cli(["lint", "--no-cache"], tmp_path)
    assert r.code == 1
    assert r.out.splitlines()[0] == "syntax.py:3:12: TG000 syntax error: invalid syntax"
    assert r.out.splitlines()[1] == " 3 | def broken(:"


def test_newer_syntax_than_this_python_still_parses() -> None:
    # PEP 695 (Python 3.12): CPython 3.11 rejects it, libcst parses it, so it is linted.
    src = "import telethon\n\ntype Alias = int\n"
    assert lint_source(src, "new.py") == []


def test_missing_and_broken_path_arguments(tmp_path: Path, cli: Any) -> None:
    os.symlink("self_loop", tmp_path / "self_loop")
    r = cli(["lint", "--no-cache", "nope/", "self_loop"], tmp_path)
    assert r.code == 2
    assert "nope/: no such file or directory" in r.err
    assert "self_loop: cannot open: Too many levels of symbolic links" in r.err
    assert "Traceback" not in r.err


def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "secret.py").write_text(UNSAFE)
    (tmp_path / "good.py").write_text(UNSAFE.replace("'relay'", "'other'"))
    (tmp_path / "secret.py").chmod(0)
    prefix: list[str] = []
    if os.geteuid() == 0:
        # root reads anything: drop the capabilities that bypass file permissions.
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv")
        prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]
    code = (
        "import sys; from lint_rules.cli import main; sys.exit(main(['lint', '--no-cache', '.']))"
    )
    r = subprocess.run(
        [*prefix, sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 1
    assert "secret.py:1:1: TG000 cannot read: Permission denied" in r.stdout
    assert "good.py:7:11: TG100" in r.stdout
    assert "Traceback" not in r.stderr


def test_deep_nesting_never_crashes_a_serial_run(tmp_path: Path) -> None:
    """libcst's native parser dies (SIGSEGV) on ~1,500 nested brackets; with --jobs 1 that would be
    the whole run. Such files are refused before libcst sees them, with the reason."""
    body = "".join(f"    x{n} = {n}\n" for n in range(50_000))
    files = {
        "deep1500.py": "import telethon\nx = " + "(" * 1500 + "1" + ")" * 1500 + "\n",
        "deeplist.py": "import telethon\nx = " + "[" * 3000 + "]" * 3000 + "\n",
        # A long expression over many short lines, inside one bracket pair.
        "longchain.py": "import telethon\nx = (\n" + "    1 +\n" * 60_000 + "    1\n)\n",
        # Accepted by CPython: nested just below its limit, and a 50,000-statement function.
        "deep190.py": "import telethon\nx = " + "(" * 190 + "1" + ")" * 190 + "\n",
        "long.py": "import telethon\n\n\ndef f():\n" + body,
        "good.py": UNSAFE,
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    r = run_console(["lint", "--no-cache", "--jobs", "1", "--format", "json", "."], tmp_path)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    import json

    by_path: dict[str, list[dict[str, Any]]] = {}
    for f in json.loads(r.stdout):
        by_path.setdefault(f["path"], []).append(f)
    for name in ("deep1500.py", "deeplist.py"):
        (only,) = by_path.pop(name)
        assert only["code"] == "TG000" and "Python allows at most 200" in only["message"], only
    (chain,) = by_path.pop("longchain.py")
    assert chain["code"] == "TG000" and "nested too deeply" in chain["message"]
    assert [f["code"] for f in by_path.pop("good.py")] == ["TG100"]
    assert by_path == {}  # deep190.py and long.py are fine
