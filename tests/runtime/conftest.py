"""Fixtures of the runtime tests: a guard that is always uninstalled, and a fake Telegram backend with a
real client on a real SQLite session file (``backend`` / ``client``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from telethon import TelegramClient

import telethon_guard
from telethon_guard import telethon_lock
from telethon_guard.guard import _reset_stats
from telethon_guard.testing import FakeTelegram


@pytest.fixture(autouse=True)
def clean_guard_state() -> Iterator[None]:
    """Every runtime test starts with zeroed counters and leaves no guard installed and no counts
    behind: tests elsewhere (tests/integration) assert absolute numbers such as ``overlaps == 0``."""
    _reset_stats()
    yield
    telethon_guard.uninstall()
    _reset_stats()


@pytest.fixture
def no_guard() -> Iterator[None]:
    """Start the test with the guard uninstalled (even in a run under ``--telethon-guard``, whose
    plugin installs it again before the next test) and leave it uninstalled."""
    telethon_guard.uninstall()
    yield
    telethon_guard.uninstall()


@pytest.fixture
def guard(no_guard: None) -> Iterator[Callable[..., None]]:
    """``guard(mode, **kwargs)`` installs the guard (no deployment check, no session claims unless
    asked); the guard is uninstalled after the test whatever happens."""

    def install(mode: str = "strict", **kwargs: Any) -> None:
        kwargs.setdefault("check_deployment", False)
        kwargs.setdefault("claim_sessions", False)
        telethon_guard.install(mode, **kwargs)

    try:
        yield install
    finally:
        telethon_guard.uninstall()


@pytest.fixture
def fake() -> FakeTelegram:
    """A fake Telegram with @BotFather and a user "alice" who echoes what she is sent."""
    backend = FakeTelegram()
    backend.add_botfather()
    backend.add_user("alice", first_name="Alice")
    backend.on_message("alice", lambda text: f"echo: {text}")
    return backend


@pytest.fixture
async def client(fake: FakeTelegram, tmp_path: Path) -> AsyncIterator[TelegramClient]:
    """A real ``TelegramClient`` of ``fake`` on ``tmp_path / "t.session"``, connected; disconnected at
    teardown."""
    telegram_client = fake.client(tmp_path / "t.session")
    await telegram_client.connect()
    try:
        yield telegram_client
    finally:
        await telegram_client.disconnect()


@pytest.fixture
def backend(fake: FakeTelegram, client: TelegramClient) -> FakeTelegram:
    """The ``fake`` backend once ``client`` is connected to it."""
    return fake


def _reset_lock() -> None:
    telethon_lock._owner = None
    telethon_lock._queue.clear()
    telethon_lock._waiting.clear()


@pytest.fixture
def lock_is_free() -> Iterator[None]:
    """Fail a test that leaves ``telethon_lock`` held or waited for (and free it for the next one)."""
    if telethon_lock._snapshot() != (None, None, 0):
        _reset_lock()  # left over by a test of another area: not this test's business
    yield
    leaked = telethon_lock._snapshot()
    if leaked != (None, None, 0):
        _reset_lock()  # do not cascade into the next tests
    assert leaked == (None, None, 0), "this test leaked telethon_lock"
