"""The README's quick start: ``python -m examples.botfather_relay demo`` serves, checks and stops."""

from __future__ import annotations

import re
from concurrent.futures import Future
from pathlib import Path
from subprocess import CompletedProcess

import pytest

pytestmark = pytest.mark.slow


def test_demo_command_serves_checks_and_leaves_nothing_behind(
    demo_run: tuple[Path, Future[CompletedProcess[str]]],
) -> None:
    workdir, running = demo_run  # started in an empty directory, with 60 requests
    done = running.result(timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "60 concurrent requests" in done.stdout
    assert "HTTP statuses: 60 x 200" in done.stdout
    assert "0 overlaps, 0 unguarded" in done.stdout
    assert "at most 1 in flight" in done.stdout
    assert re.search(r"session owner: PID \d+ on \S+, started ", done.stdout), done.stdout
    assert "integrity ok" in done.stdout and "botfather" in done.stdout
    assert done.stdout.rstrip().endswith("all good")
    assert "Traceback" not in done.stderr
    assert list(workdir.iterdir()) == []
