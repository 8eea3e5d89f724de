"""``telethon-guard lint`` on the two relays: every problem of the unsafe one, nothing on the guarded one."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .servers import REPO

UNSAFE = "examples/botfather_relay_unsafe"
GUARDED = "examples/botfather_relay"

# (code, file, a snippet of the reported line): each problem the unsafe relay has, and nothing else.
EXPECTED_UNSAFE = [
    # four uvicorn workers, each opening the session
    ("TG201", "Dockerfile", '"--workers", "4"'),
    # reload: the app runs in the reloader child and again after every change
    ("TG200", "__main__.py", "reload=True"),
    # one session, three clients: the module-level one, the per-request one, the cron script's
    ("TG300", "app.py", "client = TelegramClient(SESSION_NAME"),
    ("TG300", "app.py", "async with TelegramClient(SESSION_NAME"),
    ("TG300", "backfill.py", "client = TelegramClient(SESSION_NAME"),
    # a client built per request
    ("TG301", "app.py", "async with TelegramClient(SESSION_NAME"),
    # actions outside the lock (one under a lock of its own, which is not the telethon lock)
    ("TG100", "app.py", "await client.send_message(BOT, body.text)"),
    ("TG100", "app.py", "await client.get_messages(BOT, limit=limit)"),
    ("TG100", "app.py", "await own.get_me()"),
    ("TG100", "backfill.py", "client.iter_messages(BOT)"),
    # the conversation "fixed" with a lock created per call
    ("TG101", "app.py", "async with lock:"),
]


def _cli() -> str:
    script = Path(sys.executable).with_name("telethon-guard")
    found = str(script) if script.exists() else shutil.which("telethon-guard")
    if found is None:
        pytest.fail("the telethon-guard console script is not installed (pip install -e .)")
    return found


@functools.cache
def _lint(path: str) -> tuple[int, list[dict[str, Any]]]:
    done = subprocess.run(
        [_cli(), "lint", "--format", "json", "--no-cache", path],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def _line_of(file: str, snippet: str) -> int:
    lines = (REPO / UNSAFE / file).read_text(encoding="utf-8").splitlines()
    hits = [n for n, line in enumerate(lines, 1) if snippet in line]
    assert len(hits) == 1, f"{snippet!r} is on lines {hits} of {file}: make the snippet unique"
    return hits[0]


def test_unsafe_relay_has_exactly_the_expected_findings() -> None:
    code, findings = _lint(UNSAFE)
    assert code == 1
    got = sorted((f["code"], f["path"], f["line"]) for f in findings)
    expected = sorted(
        (rule, f"{UNSAFE}/{file}", _line_of(file, snippet))
        for rule, file, snippet in EXPECTED_UNSAFE
    )
    assert got == expected


def test_unsafe_relay_messages_point_at_the_other_sites_and_the_fix() -> None:
    _, findings = _lint(UNSAFE)
    shared = [f for f in findings if f["code"] == "TG300"]
    sites = {f"{f['path']}:{f['line']}" for f in shared}
    for finding in shared:
        here = f"{finding['path']}:{finding['line']}"
        # Each TG300 names every other client of the session.
        assert all(site in finding["message"] for site in sites - {here}), finding
    assert all("telethon_lock" in f["message"] for f in findings if f["code"] == "TG100")


def test_guarded_relay_is_clean() -> None:
    code, findings = _lint(GUARDED)
    assert findings == []
    assert code == 0
