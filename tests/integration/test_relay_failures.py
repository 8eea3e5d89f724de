"""The failures the norm is about, reproduced without the guard and refused with it."""

from __future__ import annotations

import signal
import time
from concurrent.futures import Future
from pathlib import Path

import httpx
import pytest

from .scenarios import TwoWorkers, UnsafeRun, two_workers
from .servers import Server, integrity

pytestmark = pytest.mark.slow

SCENARIO_TIMEOUT_S = 90.0


def test_without_guard_two_workers_on_one_session_hit_database_is_locked(
    unguarded_two_workers: Future[TwoWorkers],
) -> None:
    run = unguarded_two_workers.result(SCENARIO_TIMEOUT_S)
    # The second process blocks for SQLite's 5 s timeout, its event loop frozen, then fails.
    assert "OperationalError: database is locked" in run.writer_out, run.writer_out
    assert "OK" in run.holder_out, run.holder_out


def test_with_guard_the_second_worker_is_refused_at_once(tmp_path: Path) -> None:
    run = two_workers(tmp_path / "shared.session", guard=True)
    holder_pid = run.holder_out.split()[1]
    assert "SessionInUseError" in run.writer_out, run.writer_out
    assert holder_pid in run.writer_out, run.writer_out
    # (The guard's message explains "database is locked"; the error itself never happened.)
    assert "OperationalError" not in run.writer_out
    # Not after SQLite's 5 s busy timeout: the claim fails before SQLite is asked (process start
    # and imports included, hence the generous bound).
    assert run.writer_s < 5.0, run.writer_s
    assert "OK" in run.holder_out, run.holder_out


def test_unsafe_relay_breaks_with_one_worker_and_two_requests(
    unsafe_relay_run: Future[UnsafeRun],
) -> None:
    """The unsafe relay, unchanged (on the fake Telegram): a message, then ``GET /me`` -- its
    per-request client on the same session file -- and the second client hits the first one's open
    SQLite transaction. One worker is enough."""
    run = unsafe_relay_run.result(SCENARIO_TIMEOUT_S)
    assert run.message.status_code == 200, run.message.text
    assert run.me.status_code == 500
    assert "sqlite3.OperationalError: database is locked" in run.log, run.log


def test_workers_2_refused(workers_2_server: Server) -> None:
    server = workers_2_server
    # Each worker refuses at startup and uvicorn's supervisor then stops (with status 0: uvicorn's
    # choice for a worker that fails to start).
    server.wait_exit()
    log = server.log()
    assert "UnsafeDeploymentError" in log, log
    assert "--workers 2" in log
    assert "Application startup complete" not in log
    assert "Traceback" not in log
    # Refused before the session was claimed or opened: no file was created.
    assert server.session is not None
    assert list(server.session.parent.glob(server.session.name + "*")) == []


def test_reload_refused(reload_server: Server) -> None:
    server = reload_server
    # The reloader keeps waiting for file changes after its child refused to start.
    log = server.wait_log("Application startup failed")
    assert "UnsafeDeploymentError" in log, log
    assert "reload" in log.split("UnsafeDeploymentError", 1)[1]
    assert "Application startup complete" not in log
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{server.url}/health", timeout=2.0).raise_for_status()
    assert server.session is not None
    assert list(server.session.parent.glob(server.session.name + "*")) == []


def test_second_relay_refused_with_owner_pid_then_takes_over_after_sigkill(
    first_relay: Server, servers: list[Server]
) -> None:
    first = first_relay
    session = first.session
    assert session is not None
    tmp = session.parent
    owner = httpx.get(f"{first.url}/health", timeout=30).json()["session"]["owner"]
    assert owner["pid"] == first.pid

    second = Server.relay(tmp, "second", session)
    servers.append(second)
    # From the start of its lifespan (interpreter start and imports excluded) to its exit.
    second.wait_log("Waiting for application startup.")
    started = time.monotonic()
    code = second.wait_exit()
    elapsed = time.monotonic() - started
    log = second.log()
    assert code != 0, log
    assert "SessionInUseError" in log, log
    # The owner /health reports: its PID and host.
    assert str(owner["pid"]) in log and owner["host"] in log, log
    assert "OperationalError" not in log
    assert "Traceback" not in log
    assert elapsed < 5.0, elapsed  # not SQLite's 5 s busy timeout: the claim fails at once

    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    third = Server.relay(tmp, "third", session)
    servers.append(third)
    third.wait_ready()
    sent = httpx.post(f"{third.url}/messages", json={"text": "after the takeover"}, timeout=30)
    assert sent.status_code == 200, sent.text
    health = httpx.get(f"{third.url}/health", timeout=30).json()
    assert health["session"]["owner"]["pid"] == third.pid
    assert health["session"]["path"] == str(session.resolve())
    # uvicorn shuts down gracefully, then re-raises SIGTERM so its parent sees how it ended.
    assert third.stop(signal.SIGTERM) in (0, -signal.SIGTERM), third.log()
    assert "saved and released" in third.log()
    check, usernames = integrity(session)
    assert check == "ok"
    assert "botfather" in [name.lower() for name in usernames]


def test_bad_setting_stops_startup_with_one_clear_line(bad_setting_server: Server) -> None:
    server = bad_setting_server
    code = server.wait_exit()
    log = server.log()
    assert code == 3, log  # uvicorn's "startup failed"
    assert "BotFather relay cannot start: SettingsError: TELETHON_GUARD_MODE='paranoid'" in log
    assert "Traceback" not in log
    assert server.session is not None
    assert list(server.session.parent.glob(server.session.name + "*")) == []
