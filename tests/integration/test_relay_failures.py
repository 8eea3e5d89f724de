"""The failures the norm is about, reproduced without the guard and refused with it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .conftest import REPO, Server, free_port, integrity, relay_env

pytestmark = pytest.mark.slow

WORKER = str(Path(__file__).with_name("two_workers.py"))


def _two_workers(session: Path, guard: bool) -> tuple[str, str, float]:
    """Run a holder and, while it holds, a writer on one session; return both outputs and the
    writer's wall time."""
    flags = ["--guard"] if guard else []
    env = relay_env(session)
    holder = subprocess.Popen(
        [sys.executable, WORKER, str(session), "hold", *flags],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        first = holder.stdout.readline()
        assert first.startswith("HOLDING"), first + holder.stdout.read()
        started = time.monotonic()
        writer = subprocess.run(
            [sys.executable, WORKER, str(session), "write", *flags],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        elapsed = time.monotonic() - started
        holder.stdin.write("\n")
        holder.stdin.flush()
        rest, _ = holder.communicate(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    return first + rest, writer.stdout + writer.stderr, elapsed


def test_without_guard_two_workers_on_one_session_hit_database_is_locked(tmp_path: Path) -> None:
    session = tmp_path / "shared.session"
    holder_out, writer_out, _ = _two_workers(session, guard=False)
    # The second process blocks for SQLite's 5 s timeout, its event loop frozen, then fails.
    assert "OperationalError: database is locked" in writer_out, writer_out
    assert "OK" in holder_out, holder_out


def test_with_guard_the_second_worker_is_refused_at_once(tmp_path: Path) -> None:
    session = tmp_path / "shared.session"
    holder_out, writer_out, elapsed = _two_workers(session, guard=True)
    holder_pid = holder_out.split()[1]
    assert "SessionInUseError" in writer_out, writer_out
    assert holder_pid in writer_out, writer_out
    # (The guard's message explains "database is locked"; the error itself never happened.)
    assert "OperationalError" not in writer_out
    # Not after SQLite's 5 s busy timeout: the claim fails before SQLite is asked (process start
    # and imports included, hence the generous bound).
    assert elapsed < 5.0, elapsed
    assert "OK" in holder_out, holder_out


def test_unsafe_relay_breaks_with_one_worker_and_two_requests(
    tmp_path: Path, servers: list[Server]
) -> None:
    """The unsafe relay, unchanged (on the fake Telegram): a message, then ``GET /me`` -- its
    per-request client on the same session file -- and the second client hits the first one's open
    SQLite transaction. One worker is enough."""
    port = free_port()
    env = relay_env(tmp_path / "unused.session", API_ID="1", API_HASH="0" * 32)
    argv = [sys.executable, "-m", "uvicorn", "tests.integration.unsafe_offline:app"]
    server = Server(
        [*argv, "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        log_path=tmp_path / "unsafe.log",
        port=port,
        cwd=tmp_path,  # the unsafe relay's session, botfather_relay.session, lands here
    )
    servers.append(server)
    server.wait_ready()
    sent = httpx.post(f"{server.url}/messages", json={"text": "hello"}, timeout=30)
    assert sent.status_code == 200, sent.text
    me = httpx.get(f"{server.url}/me", timeout=30)
    assert me.status_code == 500
    # uvicorn logs the traceback just after sending the 500.
    log = server.wait_log("sqlite3.OperationalError: database is locked")
    assert "sqlite3.OperationalError: database is locked" in log, log


def test_workers_2_refused(tmp_path: Path, servers: list[Server]) -> None:
    session = tmp_path / "relay.session"
    server = Server.uvicorn(tmp_path, "workers", session, ["--workers", "2"])
    servers.append(server)
    # Each worker refuses at startup and uvicorn's supervisor then stops (with status 0: uvicorn's
    # choice for a worker that fails to start).
    server.wait_exit()
    log = server.log()
    assert "UnsafeDeploymentError" in log, log
    assert "--workers 2" in log
    assert "Application startup complete" not in log
    assert "Traceback" not in log
    # Refused before the client existed: the session file was never opened.
    assert not session.exists()


def test_reload_refused(tmp_path: Path, servers: list[Server]) -> None:
    session = tmp_path / "relay.session"
    watched = tmp_path / "watched"
    watched.mkdir()
    server = Server.uvicorn(tmp_path, "reload", session, ["--reload", "--reload-dir", str(watched)])
    servers.append(server)
    # The reloader keeps waiting for file changes after its child refused to start.
    log = server.wait_log("Application startup failed")
    assert "UnsafeDeploymentError" in log, log
    assert "reload" in log.split("UnsafeDeploymentError", 1)[1]
    assert "Application startup complete" not in log
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{server.url}/health", timeout=2.0).raise_for_status()
    assert not session.exists()


def test_second_relay_refused_with_owner_pid_then_takes_over_after_sigkill(
    tmp_path: Path, servers: list[Server]
) -> None:
    session = tmp_path / "relay.session"
    first = Server.relay(tmp_path, "first", session)
    servers.append(first)
    first.wait_ready()

    second = Server.relay(tmp_path, "second", session)
    servers.append(second)
    # From the start of its lifespan (interpreter start and imports excluded) to its exit.
    second.wait_log("Waiting for application startup.")
    started = time.monotonic()
    code = second.wait_exit()
    elapsed = time.monotonic() - started
    log = second.log()
    assert code != 0, log
    assert "SessionInUseError" in log, log
    assert str(first.pid) in log, log
    assert "OperationalError" not in log
    assert "Traceback" not in log
    assert elapsed < 5.0, elapsed  # not SQLite's 5 s busy timeout: the claim fails at once

    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    third = Server.relay(tmp_path, "third", session)
    servers.append(third)
    third.wait_ready()
    sent = httpx.post(f"{third.url}/messages", json={"text": "after the takeover"}, timeout=30)
    assert sent.status_code == 200, sent.text
    health = httpx.get(f"{third.url}/health", timeout=30).json()
    assert health["session"]["owner_pid"] == third.pid
    # uvicorn shuts down gracefully, then re-raises SIGTERM so its parent sees how it ended.
    assert third.stop(signal.SIGTERM) in (0, -signal.SIGTERM), third.log()
    assert "saved and released" in third.log()
    check, usernames = integrity(session)
    assert check == "ok"
    assert "botfather" in [name.lower() for name in usernames]


def test_bad_setting_stops_startup_with_one_clear_line(
    tmp_path: Path, servers: list[Server]
) -> None:
    session = tmp_path / "relay.session"
    server = Server.relay(tmp_path, "bad", session, TELETHON_GUARD_MODE="paranoid")
    servers.append(server)
    code = server.wait_exit()
    log = server.log()
    assert code == 3, log  # uvicorn's "startup failed"
    assert "BotFather relay cannot start: SettingsError: TELETHON_GUARD_MODE='paranoid'" in log
    assert "Traceback" not in log
    assert not session.exists()
