"""check_deployment() against real servers on 127.0.0.1: uvicorn, gunicorn, hypercorn, plain scripts.

All servers start at once (one module fixture) and each test waits for its own log line or port.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import gunicorn
import httpx
import pytest

from telethon_guard import check_deployment
from telethon_guard.deployment import _flag

APPS = Path(__file__).parent / "apps"
PY = sys.executable
START_TIMEOUT = 60.0  # generous: many interpreters start at once on 2 cores

pytestmark = pytest.mark.slow

_SERVER_ENV = ("WEB_CONCURRENCY", "UVICORN_RELOAD", "UVICORN_WORKERS", "GUNICORN_CMD_ARGS")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """A subprocess in its own process group whose merged output is collected line by line."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, port: int = 0) -> None:
        full_env = {k: v for k, v in os.environ.items() if k not in _SERVER_ENV}
        full_env.update({"PYTHONUNBUFFERED": "1", "DEPLOY_CHECK_AT": "import"})
        full_env.update(env or {})
        self.port = port
        self.argv = argv
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._eof = False
        self.popen = subprocess.Popen(
            argv,
            cwd=APPS,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    @property
    def output(self) -> str:
        with self._cond:
            return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = START_TIMEOUT) -> bool:
        """Wait until a line matches ``pattern`` (regex); False at EOF or timeout."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if any(regex.search(line) for line in self.lines):
                    return True
                remaining = deadline - time.monotonic()
                if self._eof or remaining <= 0:
                    return False
                self._cond.wait(remaining)

    def stop(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)  # stragglers: workers, reload children
        except ProcessLookupError:
            pass
        self.popen.wait(5)


def _uvicorn(*args: str, env: dict[str, str] | None = None) -> Proc:
    port = _free_port()
    argv = [PY, "-m", "uvicorn", "deploy_app:app", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--timeout-graceful-shutdown", "1", *args]
    return Proc(argv, env, port)


def _uvicorn_worker_class() -> str | None:
    # uvicorn.workers is deprecated in favour of the separate uvicorn-worker package.
    for module in ("uvicorn_worker", "uvicorn.workers"):
        if importlib.util.find_spec(module) is not None:
            return f"{module}.UvicornWorker"
    return None


WORKER_CLASS = _uvicorn_worker_class()


def _gunicorn(*args: str, env: dict[str, str] | None = None) -> Proc:
    port = _free_port()
    assert WORKER_CLASS is not None
    argv = [PY, "-m", "gunicorn", "-k", WORKER_CLASS]
    if tuple(gunicorn.version_info) >= (25, 1):
        argv.append("--no-control-socket")  # its default path is shared by every gunicorn
    argv += ["-b", f"127.0.0.1:{port}", "--graceful-timeout", "1", *args, "deploy_app:app"]
    return Proc(argv, env, port)


def _programmatic() -> Proc:
    port = _free_port()
    return Proc([PY, "deploy_run.py", str(port), "2"], port=port)


def _script_reload() -> Proc:
    port = _free_port()
    env = {"DEPLOY_CHECK_AT": "none", "TELETHON_GUARD_MODE": "strict"}
    return Proc([PY, "deploy_script.py", str(port)], env, port=port)


def _server_by_hand() -> Proc:
    port = _free_port()
    env = {"DEPLOY_CHECK_AT": "lifespan", "WEB_CONCURRENCY": "4"}
    return Proc([PY, "server_by_hand.py", str(port)], env, port=port)


def _hypercorn() -> Proc:
    port = _free_port()
    argv = [PY, "-m", "hypercorn", "--workers", "2", "--bind", f"127.0.0.1:{port}"]
    return Proc([*argv, "deploy_app:app"], port=port)


@pytest.fixture(scope="module")
def procs() -> Iterator[dict[str, Proc]]:
    started: dict[str, Proc] = {}
    scenarios = {
        "reload": lambda: _uvicorn("--reload"),
        "workers": lambda: _uvicorn("--workers", "2", env={"DEPLOY_CHECK_AT": "lifespan"}),
        "single": lambda: _uvicorn("--workers", "1", env={"WEB_CONCURRENCY": "4"}),
        "env_reload": lambda: _uvicorn(
            env={"UVICORN_RELOAD": "true", "DEPLOY_CHECK_AT": "lifespan"}
        ),
        "web_concurrency": lambda: _uvicorn(
            env={"WEB_CONCURRENCY": "2", "DEPLOY_CHECK_AT": "thread"}
        ),
        "programmatic": _programmatic,
        "script_reload": _script_reload,
        "by_hand": _server_by_hand,
        "gunicorn2": lambda: _gunicorn("-w", "2"),
        "gunicorn_env": lambda: _gunicorn(
            env={"GUNICORN_CMD_ARGS": "--workers 2", "DEPLOY_CHECK_AT": "lifespan"}
        ),
        "gunicorn_conf": lambda: _gunicorn("-c", "gunicorn_reload.conf.py"),
        "gunicorn_preload": lambda: _gunicorn("--preload", "-w", "2"),
        "gunicorn1": lambda: _gunicorn("-w", "1", env={"WEB_CONCURRENCY": "4"}),
        "hypercorn2": _hypercorn,
        "plain": lambda: Proc([PY, "spawn_helper.py"], env={"WEB_CONCURRENCY": "4"}),
    }
    if WORKER_CLASS is None:
        scenarios = {k: v for k, v in scenarios.items() if not k.startswith("gunicorn")}
    try:
        for name, start in scenarios.items():
            started[name] = start()
        yield started
    finally:
        for proc in started.values():
            proc.stop()


def _proc(procs: dict[str, Proc], name: str) -> Proc:
    if name not in procs:
        pytest.skip("no gunicorn worker class for uvicorn is installed")
    return procs[name]


def _served(port: int) -> bool:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/", timeout=1.0)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def _assert_refused(proc: Proc, *expected: str) -> None:
    assert proc.wait_for(r"UnsafeDeploymentError"), proc.output
    # The message spans several lines, read one by one: wait for its last line before looking.
    assert proc.wait_for(r"Fix: run exactly one process per Telegram session"), proc.output
    output = proc.output
    for text in expected:
        assert text in output, output
    # The message explains the problem and the fix, not only the detection.
    assert "database is locked" in output
    assert "Fix: run exactly one process per Telegram session" in output
    assert not _served(proc.port), output
    assert "Application startup complete" not in output


def test_uvicorn_reload_flag_is_refused_at_import(procs: dict[str, Proc]) -> None:
    _assert_refused(procs["reload"], "uvicorn runs with auto-reload, set by the --reload flag")


def test_uvicorn_workers_flag_is_refused_in_lifespan(procs: dict[str, Proc]) -> None:
    _assert_refused(procs["workers"], "one of 2 uvicorn worker processes, set by the --workers 2")


def test_uvicorn_reload_from_environment_is_refused(procs: dict[str, Proc]) -> None:
    _assert_refused(procs["env_reload"], "UVICORN_RELOAD=true in the environment")


def test_uvicorn_workers_from_web_concurrency_is_refused_in_a_thread(
    procs: dict[str, Proc],
) -> None:
    _assert_refused(procs["web_concurrency"], "one of 2 uvicorn", "WEB_CONCURRENCY=2")


def test_programmatic_uvicorn_run_with_workers_is_refused(procs: dict[str, Proc]) -> None:
    _assert_refused(procs["programmatic"], "workers=2 given to uvicorn.run()")


def test_enforce_in_a_script_running_uvicorn_with_reload_is_refused(
    procs: dict[str, Proc],
) -> None:
    # The guard runs while multiprocessing re-imports the script in the child, before the child
    # knows it is a reload child; the check is completed when the child bootstraps.
    _assert_refused(procs["script_reload"], "reload=True given to uvicorn.run()")


def test_gunicorn_with_two_uvicorn_workers_is_refused(procs: dict[str, Proc]) -> None:
    proc = _proc(procs, "gunicorn2")
    _assert_refused(proc, "one of 2 gunicorn worker processes, set by the -w/--workers 2 flag")
    # Not the UvicornWorker's own Config(workers=1): gunicorn's cfg decides.
    assert "uvicorn worker processes" not in proc.output


def test_gunicorn_preload_is_refused_in_the_master_before_forking(procs: dict[str, Proc]) -> None:
    # --preload imports the app in the master (Arbiter.setup): refused there, before any worker
    # exists, and the message says it is the master, not "one of 2 workers".
    # gunicorn prints a preload failure as "Error: <message>", without the exception's class.
    proc = _proc(procs, "gunicorn_preload")
    assert proc.wait_for(r"Refusing to run Telethon"), proc.output
    assert proc.popen.wait(START_TIMEOUT) != 0
    output = proc.output
    assert (
        "this process is the gunicorn master, which loads the app (--preload) and then forks 2"
        in (output)
    )
    assert "Fix: run exactly one process per Telegram session" in output
    assert "Booting worker" not in output


def test_gunicorn_workers_from_gunicorn_cmd_args_is_refused(procs: dict[str, Proc]) -> None:
    _assert_refused(
        _proc(procs, "gunicorn_env"), "one of 2 gunicorn", "GUNICORN_CMD_ARGS='--workers 2'"
    )


def test_gunicorn_reload_from_config_file_is_refused(procs: dict[str, Proc]) -> None:
    _assert_refused(
        _proc(procs, "gunicorn_conf"),
        "gunicorn runs with auto-reload, set by reload = True in the gunicorn config file",
    )


def test_hypercorn_with_two_workers_is_refused(procs: dict[str, Proc]) -> None:
    _assert_refused(procs["hypercorn2"], "one of 2 hypercorn worker processes")


def test_single_uvicorn_worker_serves_despite_web_concurrency(procs: dict[str, Proc]) -> None:
    proc = procs["single"]
    assert proc.wait_for(r"Application startup complete"), proc.output
    response = httpx.get(f"http://127.0.0.1:{proc.port}/", timeout=10)
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert "UnsafeDeploymentError" not in proc.output


def test_single_gunicorn_worker_serves_despite_web_concurrency(procs: dict[str, Proc]) -> None:
    proc = _proc(procs, "gunicorn1")
    assert proc.wait_for(r"Application startup complete"), proc.output
    response = httpx.get(f"http://127.0.0.1:{proc.port}/", timeout=10)
    assert response.status_code == 200
    assert "UnsafeDeploymentError" not in proc.output


def test_uvicorn_server_run_by_hand_in_a_spawned_helper_serves(procs: dict[str, Proc]) -> None:
    proc = procs["by_hand"]
    assert proc.wait_for(r"Application startup complete"), proc.output
    assert httpx.get(f"http://127.0.0.1:{proc.port}/", timeout=10).status_code == 200
    assert "UnsafeDeploymentError" not in proc.output


def test_plain_script_and_spawned_helper_are_not_refused(procs: dict[str, Proc]) -> None:
    proc = procs["plain"]
    assert proc.popen.wait(START_TIMEOUT) == 0, proc.output
    assert proc.wait_for("child ok", timeout=5), proc.output
    assert "parent ok" in proc.output
    assert "refused" not in proc.output


# In-process checks -----------------------------------------------------------------------------


def test_this_process_with_web_concurrency_is_not_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "8")
    monkeypatch.setenv("UVICORN_WORKERS", "8")
    check_deployment()  # pytest is no server: the environment alone never refuses


def test_check_from_a_worker_thread_is_not_refused() -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            check_deployment()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert errors == []


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["uvicorn", "app:app", "--workers", "4"], "4"),
        (["uvicorn", "app:app", "--workers=3"], "3"),
        (["gunicorn", "-w", "2", "app:app"], "2"),
        (["gunicorn", "-w5", "app:app"], "5"),
        (["gunicorn", "--workers", "2", "--workers", "1"], "1"),
        (["gunicorn", "--worker-class", "x", "app:app"], None),
        (None, None),
    ],
)
def test_flag_parsing(argv: list[str] | None, expected: str | None) -> None:
    assert _flag(argv, "--workers", "-w") == expected
