"""Shared servers and background scenarios of the integration tests.

Starting a relay (a Python process importing FastAPI and Telethon) takes about a second, and two
failure reproductions sit through SQLite's 5 s busy timeout: one after another they would take most of
the suite's time budget. So the package-scoped fixtures below only *start* a process or a scenario and
return; ``_start_early`` starts every one the selected tests use, all at once, before the first
integration test, and waits until the relays answer. Each test then finds its relay ready or collects
its scenario's outcome. Everything is stopped after the last integration test.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from . import scenarios
from .servers import UNGUARDED_RELAY, Server

#: The fixtures ``_start_early`` starts when a selected test uses them.
EARLY = (
    "load_relay",
    "cancel_relay",
    "deadline_relay",
    "baseline_relay",
    "first_relay",
    "workers_2_server",
    "reload_server",
    "bad_setting_server",
    "unguarded_two_workers",
    "unsafe_relay_run",
    "demo_run",
)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Collects servers a test starts itself; all are killed at teardown."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop(signal.SIGKILL)


@pytest.fixture(scope="package")
def _early_servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop(signal.SIGKILL)


@pytest.fixture(scope="package")
def _background() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="scenario") as pool:
        yield pool


@pytest.fixture(scope="package", autouse=True)
def _start_early(request: pytest.FixtureRequest) -> None:
    wanted = {name for item in request.session.items for name in getattr(item, "fixturenames", ())}
    started = [request.getfixturevalue(name) for name in EARLY if name in wanted]
    for server in started:
        if isinstance(server, Server) and server.serves:
            # A relay that does not come up fails the tests that use it (``_ready``), not all.
            with contextlib.suppress(pytest.fail.Exception):
                server.wait_ready()


@pytest.fixture(autouse=True)
def _ready(request: pytest.FixtureRequest) -> None:
    """Each test starts with the relays it uses answering."""
    for name in request.fixturenames:
        if name in EARLY:
            server = request.getfixturevalue(name)
            if isinstance(server, Server) and server.serves:
                server.wait_ready()


def _early(early: list[Server], server: Server) -> Server:
    early.append(server)
    return server


# --- relays that serve ------------------------------------------------------------------------


@pytest.fixture(scope="package")
def load_relay(tmp_path_factory: pytest.TempPathFactory, _early_servers: list[Server]) -> Server:
    """The guarded relay for the 500-request storm: 2 ms per Telegram request."""
    tmp = tmp_path_factory.mktemp("relay_load")
    return _early(
        _early_servers, Server.relay(tmp, "relay", tmp / "relay.session", RELAY_LATENCY="0.002")
    )


@pytest.fixture(scope="package")
def cancel_relay(tmp_path_factory: pytest.TempPathFactory, _early_servers: list[Server]) -> Server:
    """50 ms per Telegram request: a queue that impatient clients abandon. (The default 30 s request
    deadline never cuts in: that is ``deadline_relay``'s test.)"""
    tmp = tmp_path_factory.mktemp("relay_cancel")
    server = Server.relay(tmp, "relay", tmp / "relay.session", RELAY_LATENCY="0.05")
    return _early(_early_servers, server)


@pytest.fixture(scope="package")
def deadline_relay(
    tmp_path_factory: pytest.TempPathFactory, _early_servers: list[Server]
) -> Server:
    """50 ms per Telegram request, 1 s per HTTP request: more queued work than the deadline allows."""
    tmp = tmp_path_factory.mktemp("relay_deadline")
    server = Server.relay(
        tmp, "relay", tmp / "relay.session", RELAY_LATENCY="0.05", RELAY_REQUEST_TIMEOUT="1"
    )
    return _early(_early_servers, server)


@pytest.fixture(scope="package")
def baseline_relay(
    tmp_path_factory: pytest.TempPathFactory, _early_servers: list[Server]
) -> Server:
    """``benchmarks/_relay_unguarded.py`` (the benchmark's baseline), 200 ms per Telegram request."""
    tmp = tmp_path_factory.mktemp("relay_baseline")
    server = Server.relay(
        tmp, "baseline", tmp / "relay.session", launcher=UNGUARDED_RELAY, RELAY_LATENCY="0.2"
    )
    return _early(_early_servers, server)


@pytest.fixture(scope="package")
def first_relay(tmp_path_factory: pytest.TempPathFactory, _early_servers: list[Server]) -> Server:
    """The first relay on its session file; the takeover test starts the second and the third."""
    tmp = tmp_path_factory.mktemp("relay_takeover")
    return _early(_early_servers, Server.relay(tmp, "first", tmp / "relay.session"))


# --- processes that must refuse to serve ------------------------------------------------------


@pytest.fixture(scope="package")
def workers_2_server(
    tmp_path_factory: pytest.TempPathFactory, _early_servers: list[Server]
) -> Server:
    tmp = tmp_path_factory.mktemp("workers_2")
    server = Server.uvicorn(tmp, "workers", tmp / "relay.session", ["--workers", "2"], serves=False)
    return _early(_early_servers, server)


@pytest.fixture(scope="package")
def reload_server(tmp_path_factory: pytest.TempPathFactory, _early_servers: list[Server]) -> Server:
    tmp = tmp_path_factory.mktemp("reload")
    (tmp / "watched").mkdir()
    flags = ["--reload", "--reload-dir", str(tmp / "watched")]
    server = Server.uvicorn(tmp, "reload", tmp / "relay.session", flags, serves=False)
    return _early(_early_servers, server)


@pytest.fixture(scope="package")
def bad_setting_server(
    tmp_path_factory: pytest.TempPathFactory, _early_servers: list[Server]
) -> Server:
    tmp = tmp_path_factory.mktemp("bad_setting")
    server = Server.relay(
        tmp, "bad", tmp / "relay.session", serves=False, TELETHON_GUARD_MODE="paranoid"
    )
    return _early(_early_servers, server)


# --- scenarios run in the background ----------------------------------------------------------


@pytest.fixture(scope="package")
def unguarded_two_workers(
    tmp_path_factory: pytest.TempPathFactory, _background: ThreadPoolExecutor
) -> Future[scenarios.TwoWorkers]:
    session = tmp_path_factory.mktemp("two_workers") / "shared.session"
    return _background.submit(scenarios.two_workers, session, guard=False)


@pytest.fixture(scope="package")
def unsafe_relay_run(
    tmp_path_factory: pytest.TempPathFactory, _background: ThreadPoolExecutor
) -> Future[scenarios.UnsafeRun]:
    return _background.submit(
        scenarios.unsafe_relay_message_then_me, tmp_path_factory.mktemp("unsafe")
    )


@pytest.fixture(scope="package")
def demo_run(
    tmp_path_factory: pytest.TempPathFactory, _background: ThreadPoolExecutor
) -> tuple[Path, Future[CompletedProcess[str]]]:
    """``python -m examples.botfather_relay demo --requests 60`` in an empty directory."""
    tmp = tmp_path_factory.mktemp("demo")
    return tmp, _background.submit(scenarios.demo, tmp, 60)
