"""The README's quick start: ``python -m examples.botfather_relay demo`` serves, checks and stops."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import relay_env

pytestmark = pytest.mark.slow


def test_demo_command_serves_checks_and_leaves_nothing_behind(tmp_path: Path) -> None:
    """The README's quick start: ``python -m examples.botfather_relay demo``."""
    env = relay_env(tmp_path / "unused.session", RELAY_LATENCY="0.001")
    del env["RELAY_SESSION"]  # the demo's own temporary session
    done = subprocess.run(
        [sys.executable, "-m", "examples.botfather_relay", "demo", "--requests", "60"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "60 concurrent requests" in done.stdout
    assert "0 overlaps, 0 unguarded" in done.stdout
    assert "at most 1 in flight" in done.stdout
    assert "integrity ok" in done.stdout and "botfather" in done.stdout
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []
