"""Real relay servers in subprocesses: start on a free 127.0.0.1 port, wait, log to a file, stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def relay_env(session: Path, **extra: str) -> dict[str, str]:
    """The environment of an offline relay on ``session``: no credentials, no inherited settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RELAY_", "TELETHON_GUARD", "UVICORN_", "API_"))
        and k not in ("WEB_CONCURRENCY", "GUNICORN_CMD_ARGS", "SERVER_SOFTWARE")
    }
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env["RELAY_OFFLINE"] = "1"
    env["RELAY_SESSION"] = str(session)
    env.update(extra)
    return env


#: How the relay is started by default (``launcher=`` of :meth:`Server.relay` replaces it).
RELAY = ("-m", "examples.botfather_relay")
#: The benchmark's baseline: the same relay with its lock removed (offline only).
UNGUARDED_RELAY = (str(REPO / "benchmarks" / "_relay_unguarded.py"),)


class Server:
    """One subprocess (a relay, or uvicorn with flags), its port, its session file and its log file.

    ``serves`` says whether the process is expected to answer on its port (a relay that refuses to
    start is not).
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        port: int,
        session: Path | None = None,
        serves: bool = True,
        cwd: Path = REPO,
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.env = dict(env)
        self.session = session
        self.serves = serves
        self._ready = False
        self._log_file = open(log_path, "wb")  # closed in stop()
        self.proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=self.env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @classmethod
    def relay(
        cls,
        tmp: Path,
        name: str,
        session: Path,
        *,
        launcher: Sequence[str] = RELAY,
        serves: bool = True,
        **env: str,
    ) -> Server:
        """``python -m examples.botfather_relay --port N`` (offline), started, not yet ready."""
        port = free_port()
        argv = [sys.executable, *launcher, "--port", str(port)]
        return cls(
            argv,
            env=relay_env(session, **env),
            log_path=tmp / f"{name}.log",
            port=port,
            session=session,
            serves=serves,
        )

    @classmethod
    def uvicorn(
        cls,
        tmp: Path,
        name: str,
        session: Path,
        flags: Sequence[str],
        *,
        serves: bool = True,
        **env: str,
    ) -> Server:
        """``uvicorn examples.botfather_relay.app:app --port N <flags>`` (offline)."""
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "examples.botfather_relay.app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *flags,
        ]
        return cls(
            argv,
            env=relay_env(session, **env),
            log_path=tmp / f"{name}.log",
            port=port,
            session=session,
            serves=serves,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Poll ``/health`` until it answers 200 (once: later calls return at once); fail with the
        log if the process dies first."""
        deadline = time.monotonic() + timeout
        while not self._ready and time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=2.0).status_code == 200:
                    self._ready = True
                    return
            time.sleep(0.05)
        if self._ready:
            return
        pytest.fail(f"server not ready after {timeout} s:\n{self.log()}")

    def wait_log(self, text: str, timeout: float = READY_TIMEOUT_S) -> str:
        """Wait until ``text`` appears in the log (or the process exits); return the log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log()
            if text in log:
                return log
            if self.proc.poll() is not None:
                return self.log()
            time.sleep(0.05)
        return self.log()

    def wait_exit(self, timeout: float = STOP_TIMEOUT_S) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"server still running after {timeout} s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGINT) -> int | None:
        """Send ``sig`` to the process group and wait; kill it if it does not exit. Idempotent."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log_file.close()
        return self.proc.returncode


def integrity(session: Path) -> tuple[str, list[str]]:
    """``PRAGMA integrity_check`` of a session file and the usernames cached in it."""
    with contextlib.closing(sqlite3.connect(session)) as db:
        check = db.execute("PRAGMA integrity_check").fetchone()[0]
        names = [row[0] for row in db.execute("SELECT username FROM entities") if row[0]]
    return check, names
