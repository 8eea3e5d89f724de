"""Adversarial cases of session ownership found in review: clients dropped without disconnect() and
re-created, the in-memory session Telethon makes of an empty name, and the ways one file can be named.

Real TelegramClient objects on real SQLite session files; each test failed before its fix (or guards
a behaviour users rely on that the fixes touch).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from telethon import TelegramClient
from telethon.sessions import SQLiteSession

from telethon_guard import SessionInUseError, sessions, telethon_lock
from telethon_guard.testing import FakeTelegram

API = (1, "0" * 32)


@pytest.fixture
def claims() -> Iterator[None]:
    already = bool(sessions._originals)  # e.g. the pytest plugin installed the guard for the run
    sessions._install_claims()
    try:
        yield
    finally:
        if not already:
            sessions._uninstall_claims()
        for claim in list(sessions._registry.values()):
            claim.release()


@pytest.fixture
def no_automatic_gc() -> Iterator[None]:
    """The cyclic GC runs only when the code under test asks for it: deterministic tests."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def test_client_dropped_without_connecting_does_not_block_the_next_one(
    claims: None, no_automatic_gc: None, tmp_path: Path
) -> None:
    path = tmp_path / "retry"
    for _ in range(3):  # a retry loop, a factory called again, a notebook cell run twice ...
        client = TelegramClient(path, *API)
        assert client.session.filename == str(path) + ".session"
        del client  # unreachable, but kept alive by the client's own reference cycles
    last = TelegramClient(path, *API)
    # The one live client still owns the session exclusively.
    with pytest.raises(SessionInUseError, match="already in use in this process"):
        TelegramClient(str(path), *API)
    last.session.close()


class _FailsAfterSuper(TelegramClient):
    """A subclass whose own set-up fails once Telethon's constructor has opened the session."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        raise RuntimeError("bad configuration")


def test_subclass_failing_after_super_init_does_not_hold_the_session(
    claims: None, no_automatic_gc: None, tmp_path: Path
) -> None:
    path = tmp_path / "subclass"
    for _ in range(2):
        with pytest.raises(RuntimeError, match="bad configuration"):
            _FailsAfterSuper(path, *API)
    client = TelegramClient(path, *API)
    client.session.close()


async def test_client_dropped_after_disconnect_or_connected_is_judged_correctly(
    claims: None, no_automatic_gc: None, tmp_path: Path
) -> None:
    backend = FakeTelegram()
    path = tmp_path / "live"
    first = backend.client(path)
    await first.connect()
    # Connected and still referenced by its own background tasks: really in use.
    with pytest.raises(SessionInUseError):
        backend.client(path)
    async with telethon_lock:
        await first.get_me()
    await first.disconnect()
    del first
    second = backend.client(path)
    await second.connect()
    await second.disconnect()


def test_empty_session_name_is_an_in_memory_session_like_telethon_makes_it(
    claims: None, tmp_path: Path
) -> None:
    # telethon/sessions/sqlite.py:38-43: an empty name is ':memory:' -- nothing to claim, no error.
    first = TelegramClient("", *API)
    second = TelegramClient("", *API)
    assert isinstance(first.session, SQLiteSession)
    assert first.session.filename == second.session.filename == ":memory:"


def test_every_name_of_one_file_is_one_claim(
    claims: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "alias.session").symlink_to(tmp_path / "real" / "acct.session")
    monkeypatch.chdir(tmp_path)
    first = TelegramClient(Path("real/acct"), *API)
    names = [
        "real/acct",
        "real/acct.session",
        str(tmp_path / "real" / "acct"),
        "link/acct",
        "real/../real/./acct",
        "alias",
    ]
    for name in names:
        with pytest.raises(SessionInUseError, match=r"real/acct\.session"):
            TelegramClient(name, *API)
    with pytest.raises(SessionInUseError):
        TelegramClient(SQLiteSession("link/acct"), *API)
    first.session.close()
    assert os.path.exists(tmp_path / "real" / "acct.session.lock")
