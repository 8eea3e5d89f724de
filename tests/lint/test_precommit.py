"""A real ``pre-commit run --all-files`` with this checkout's hook in a throwaway git repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import REPO, SAFE, UNSAFE

pytestmark = pytest.mark.slow

GIT = [
    "git",
    "-c",
    "user.name=telethon-guard tests",
    "-c",
    "user.email=tests@invalid",
    "-c",
    "commit.gpgsign=false",
]


def _git(cwd: Path, *args: str) -> str:
    out = subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True)
    return out.stdout.strip()


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A copy of the working tree committed in its own repository (the real checkout is untouched)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path_factory.mktemp("hook-repo")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".telethon_guard_cache", "*.session*")
    for name in ("lint_rules", "telethon_guard"):
        shutil.copytree(REPO / name, repo / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy2(REPO / name, repo / name)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "hook under test")
    yield repo, _git(repo, "rev-parse", "HEAD")


def test_pre_commit_hook_fails_on_violations_and_passes_when_clean(
    hook_repo: tuple[Path, str], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    repo, rev = hook_repo
    project = tmp_path / "service"
    project.mkdir()
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {repo}\n    rev: {rev}\n    hooks:\n      - id: telethon-guard\n"
    )
    (project / "relay.py").write_text(UNSAFE)
    (project / "Dockerfile").write_text('CMD ["uvicorn", "app:app", "--workers", "4"]\n')
    (project / "Procfile").write_text("web: uvicorn app:app --reload\n")
    (project / "deploy").mkdir()
    (project / "deploy/relay.service").write_text(
        "[Service]\nExecStart=/usr/bin/uvicorn app:app --workers 2\n"
    )
    (project / "docker-compose.yml").write_text(
        "services:\n  web:\n    command: uvicorn app:app --reload\n"
    )
    (project / "notes.txt").write_text("uvicorn app:app --reload  (not a deployment file)\n")
    (project / "Containerfile").write_text("CMD uvicorn app:app --reload\n")
    (project / ".env").write_text("WEB_CONCURRENCY=4\n")
    (project / "deploy/run.mk").write_text("run:\n\tuvicorn app:app --reload\n")
    (project / "bin").mkdir()
    (project / "bin/serve").write_text("#!/bin/sh\nexec uvicorn app:app --workers 2\n")
    (project / "bin/serve").chmod(0o755)
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path_factory.getbasetemp() / "pre-commit-home"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "NO_COLOR": "1",
    }
    env.pop("FORCE_COLOR", None)
    pre_commit = Path(sys.executable).with_name("pre-commit")
    command = [str(pre_commit), "run", "--all-files", "--color", "never"]

    failing = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    output = failing.stdout + failing.stderr
    assert failing.returncode == 1, output
    assert "relay.py:7:11: TG100" in output
    assert "Dockerfile:1:" in output and "TG201" in output
    assert "Procfile:1:" in output and "TG200" in output
    assert "deploy/relay.service:2:" in output
    assert "docker-compose.yml:3:" in output
    for where in ("Containerfile:1:", ".env:1:", "deploy/run.mk:2:", "bin/serve:2:"):
        assert where in output, (where, output)
    assert "notes.txt" not in output

    (project / "relay.py").write_text(SAFE)
    (project / "Dockerfile").write_text('CMD ["uvicorn", "app:app", "--workers", "1"]\n')
    (project / "Procfile").write_text("web: uvicorn app:app\n")
    (project / "deploy/relay.service").write_text("[Service]\nExecStart=/usr/bin/uvicorn app:app\n")
    (project / "docker-compose.yml").write_text("services:\n  web:\n    command: uvicorn app:app\n")
    for name in ("Containerfile", ".env", "deploy/run.mk", "bin/serve"):
        (project / name).unlink()
    _git(project, "add", "-A")
    passing = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "Passed" in passing.stdout


# Paths file_kind() reads (or, extensionless, reads when the shebang says so) and paths it never does.
DEPLOYMENT_PATHS = (
    "app.py",
    "pkg/types.pyi",
    "Dockerfile",
    "docker/Dockerfile.prod",
    "api.dockerfile",
    "Containerfile",
    "Procfile",
    "Procfile.dev",
    "docker-compose.yml",
    "compose.prod.yaml",
    "k8s/deploy.yaml",
    "run.sh",
    "scripts/start.bash",
    "Makefile",
    "GNUmakefile",
    "build/rules.mk",
    "deploy/relay.service",
    "supervisord.conf",
    "etc/supervisor/conf.d/relay.conf",
    "supervisor.d/relay.ini",
    ".env",
    ".env.production",
    "prod.env",
    "bin/serve",
)
OTHER_PATHS = ("README.md", "notes.txt", "setup.cfg", "data.json", "nginx/site.conf", "logo.png")


def test_hook_file_filter_covers_every_deployment_format() -> None:
    """The hook's `files` and `types_or`, applied as pre-commit applies them (identify's tags and
    `re.search`), pass every file the linter reads and none of the ordinary ones."""
    import re

    from identify.identify import tags_from_filename

    from lint_rules import Config
    from lint_rules.rules.deployment import file_kind

    text = (REPO / ".pre-commit-hooks.yaml").read_text()
    files = re.search(r"^  files: '(.*)'$", text, re.MULTILINE)
    types_or = re.search(r"^  types_or: \[(.*)\]$", text, re.MULTILINE)
    assert files is not None and types_or is not None
    pattern = re.compile(files.group(1))
    wanted = {t.strip() for t in types_or.group(1).split(",")}

    def passes(path: str) -> bool:
        # An extensionless script has no filename tag: pre-commit tags it from its shebang
        # (shell) and content (text); both are in types_or.
        tags = tags_from_filename(path) or {"text", "shell"}
        return bool(pattern.search(path)) and bool(tags & wanted)

    config = Config(deployment_globs=("k8s/*.yaml",))
    for path in DEPLOYMENT_PATHS:
        assert path.endswith((".py", ".pyi")) or file_kind(path, config) is not None, path
        assert passes(path), path
    for path in OTHER_PATHS:
        assert file_kind(path, config) is None, path
        assert not passes(path), path
