"""TG200/TG201/TG300/TG301 through the public API on a real tree (engine, pre-filter, pickled facts)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lint_rules import Config, lint_paths

TREE = {
    "relay/__init__.py": "",
    "relay/config.py": 'import os\n\nSESSION = os.getenv("RELAY_SESSION", "data/relay")\n',
    "relay/app.py": (
        "from contextlib import asynccontextmanager\n"
        "\n"
        "from fastapi import FastAPI\n"
        "from telethon import TelegramClient\n"
        "\n"
        "from .config import SESSION\n"
        "\n"
        "\n"
        "@asynccontextmanager\n"
        "async def lifespan(app):\n"
        '    app.state.client = TelegramClient(SESSION, 1, "0" * 32)\n'
        "    yield\n"
        "\n"
        "\n"
        "app = FastAPI(lifespan=lifespan)\n"
        "\n"
        "\n"
        '@app.get("/me")\n'
        "async def me():\n"
        '    async with TelegramClient(SESSION, 1, "0" * 32) as own:\n'
        "        return await own.get_me()\n"
    ),
    "scripts/backfill.py": (
        "from telethon.sync import TelegramClient\n"
        "\n"
        "from relay.config import SESSION\n"
        "\n"
        'with TelegramClient(SESSION + ".session", 1, "0" * 32) as client:\n'
        "    pass\n"
    ),
    "scripts/other.py": (
        "import os\n"
        "from telethon import TelegramClient\n"
        "\n"
        'client = TelegramClient(os.environ["RELAY_SESSION"], 1, "0" * 32)\n'
    ),
    "Dockerfile": 'FROM python\nCMD ["uvicorn", "relay.app:app", "--workers", "2"]\n',
    "scripts/dev": "#!/bin/sh\nexec uvicorn relay.app:app --reload\n",
    "scripts/notes": "uvicorn relay.app:app --reload\n",
    "docker-compose.yml": "services:\n  web:\n    environment:\n      WEB_CONCURRENCY: 3\n",
    "lib/unrelated.py": "def run(reload=False):\n    return reload\n",
}


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for rel, text in TREE.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_tree(tree: Path) -> None:
    findings = lint_paths(["."], Config(root=str(tree)))
    got = [(f.path, f.line, f.code) for f in findings if f.code[:3] in ("TG2", "TG3")]
    assert got == [
        ("Dockerfile", 2, "TG201"),
        ("docker-compose.yml", 4, "TG201"),
        ("relay/app.py", 11, "TG300"),
        ("relay/app.py", 20, "TG300"),
        ("relay/app.py", 20, "TG301"),
        ("scripts/backfill.py", 5, "TG300"),
        ("scripts/dev", 2, "TG200"),
        ("scripts/other.py", 4, "TG300"),
    ]
    by_place = {(f.path, f.line, f.code): f.message for f in findings}
    assert (
        "is also opened at relay/app.py:11, relay/app.py:20, scripts/other.py:4"
        in by_place[("scripts/backfill.py", 5, "TG300")]
    )
    assert "request handler `me`" in by_place[("relay/app.py", 20, "TG301")]


def test_tree_with_jobs_matches_serial(tree: Path) -> None:
    config = Config(root=str(tree))
    assert lint_paths(["."], config, jobs=2) == lint_paths(["."], config, jobs=1)


def test_suppression_on_the_reported_line(tree: Path) -> None:
    (tree / "scripts" / "other.py").write_text(
        "import os\nfrom telethon import TelegramClient\n\n"
        'client = TelegramClient(os.environ["RELAY_SESSION"], 1, "0" * 32)  # noqa: TG300\n',
        encoding="utf-8",
    )
    findings = lint_paths([os.path.join("scripts", "other.py"), "relay"], Config(root=str(tree)))
    assert [(f.path, f.code) for f in findings if f.code == "TG300"] == [
        ("relay/app.py", "TG300")
    ] * 2


def _visits(constructions: int, monkeypatch: pytest.MonkeyPatch) -> int:
    """Nodes the sessions scan visits on a module of ``constructions`` assigned project-class
    constructions (each one a possible client, checked for the lazy-singleton shape)."""
    import libcst as cst

    from lint_rules.rules import sessions
    from lint_rules.rules.base import PythonModule

    source = "from telethon import TelegramClient\nfrom app.kinds import Thing\n\n" + "".join(
        f"x{n} = Thing('s{n}', 1, 'x')\n" for n in range(constructions)
    )
    count = 0
    real = sessions.iter_child_nodes

    def counting(node: cst.CSTNode) -> object:
        nonlocal count
        count += 1
        return real(node)

    with monkeypatch.context() as m:
        m.setattr(sessions, "iter_child_nodes", counting)
        module = PythonModule("big.py", "big", False, source, cst.parse_module(source), Config())
        result = sessions.SessionsFamily().check_module(module)
    assert len(result.facts.sites) == constructions
    return count


def test_scan_is_linear_in_module_size(monkeypatch: pytest.MonkeyPatch) -> None:
    # Looking up each construction's assignment by walking the whole block was quadratic
    # (a 50,000-statement module took minutes): doubling the module must about double the work.
    small, large = _visits(300, monkeypatch), _visits(600, monkeypatch)
    assert large < 2.5 * small, (small, large)
