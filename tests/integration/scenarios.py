"""Multi-process scenarios the failure tests assert on. Each waits on a real SQLite timeout or a real
process, so ``conftest.py`` runs them in the background from the start of the integration tests and the
tests collect the outcome (see ``_start_early``)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from .servers import REPO, Server, free_port, relay_env

WORKER = str(Path(__file__).with_name("two_workers.py"))


@dataclass(frozen=True)
class TwoWorkers:
    """What the holder and the writer printed, and the writer's wall time (process start included)."""

    holder_out: str
    writer_out: str
    writer_s: float


def two_workers(session: Path, *, guard: bool) -> TwoWorkers:
    """Run a holder and, while it holds the session's write transaction, a writer on the same file."""
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
    return TwoWorkers(first + rest, writer.stdout + writer.stderr, elapsed)


@dataclass(frozen=True)
class UnsafeRun:
    message: httpx.Response
    me: httpx.Response
    log: str


def unsafe_relay_message_then_me(tmp: Path) -> UnsafeRun:
    """The unsafe relay, unchanged, on the fake Telegram with one uvicorn worker: ``POST /messages``,
    then ``GET /me`` -- whose per-request client opens the same session file while the first client's
    SQLite transaction is open."""
    port = free_port()
    env = relay_env(tmp / "unused.session", API_ID="1", API_HASH="0" * 32)
    argv = [sys.executable, "-m", "uvicorn", "tests.integration.unsafe_offline:app"]
    server = Server(
        [*argv, "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        log_path=tmp / "unsafe.log",
        port=port,
        cwd=tmp,  # the unsafe relay's session, botfather_relay.session, lands here
    )
    try:
        server.wait_ready()
        message = httpx.post(f"{server.url}/messages", json={"text": "hello"}, timeout=30)
        me = httpx.get(f"{server.url}/me", timeout=30)
        # uvicorn logs the traceback just after sending the 500.
        log = server.wait_log("sqlite3.OperationalError: database is locked")
    finally:
        server.stop(signal.SIGKILL)
    return UnsafeRun(message, me, log)


def demo(tmp: Path, requests: int) -> subprocess.CompletedProcess[str]:
    """``python -m examples.botfather_relay demo`` in an empty directory, with its own session."""
    env = relay_env(tmp / "unused.session", RELAY_LATENCY="0.001")
    del env["RELAY_SESSION"]
    return subprocess.run(
        [sys.executable, "-m", "examples.botfather_relay", "demo", "--requests", str(requests)],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
