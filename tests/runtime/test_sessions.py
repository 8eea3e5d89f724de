"""Session ownership: claim_session() and the automatic claims of TelegramClient.

Real TelegramClient objects on real SQLite session files (telethon_guard.testing replaces only the
network sender), real subprocesses for cross-process claims, a real fork.
"""

from __future__ import annotations

import fcntl
import gc
import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from telethon import TelegramClient
from telethon.client.telegrambaseclient import TelegramBaseClient
from telethon.crypto import AuthKey
from telethon.sessions import MemorySession, SQLiteSession, StringSession

from telethon_guard import SessionInUseError, TelethonGuardError, claim_session, sessions
from telethon_guard.testing import FakeTelegram

APPS = Path(__file__).parent / "apps"
PY = sys.executable
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
            claim.release()  # explicit claims a failed test left behind


@pytest.fixture
def backend() -> FakeTelegram:
    return FakeTelegram()


def _kernel_lock_free(session: Path) -> bool:
    """Whether the claim file's flock is free, asked of the kernel through a fresh descriptor."""
    fd = os.open(str(session) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing our only descriptor drops our lock again
    return True


def _string_session_with_key(key: bytes) -> str:
    session = StringSession()
    session.set_dc(2, "149.154.167.51", 443)
    session.auth_key = AuthKey(key)
    return str(session.save())


def _line() -> int:
    return sys._getframe(1).f_lineno


# --- same process -------------------------------------------------------------------------------


def test_second_client_in_this_process_is_refused_naming_holder(
    claims: None, backend: FakeTelegram, tmp_path: Path
) -> None:
    line = _line() + 1
    first = backend.client(tmp_path / "acc")
    with pytest.raises(SessionInUseError) as err:
        TelegramClient(str(tmp_path / "acc.session"), *API)  # same file, other spelling
    message = str(err.value)
    assert f"in use in this process (PID {os.getpid()})" in message
    assert f"a TelegramClient created at tests/runtime/test_sessions.py:{line}" in message or (
        f"a TelegramClient created at {__file__}:{line}" in message
    )
    assert "disconnect()" in message  # how to fix it
    assert first.session.filename == str(tmp_path / "acc.session")


def test_refusal_comes_before_sqlite_opens_the_file(
    claims: None, backend: FakeTelegram, tmp_path: Path
) -> None:
    path = tmp_path / "acc.session"
    holder = backend.client(path)  # referenced: a client dropped on the floor holds nothing
    # Another connection holding the write lock would make SQLite wait 5 s, then fail with
    # "database is locked"; the claim must answer before SQLite is asked anything.
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(SessionInUseError):
            TelegramClient(str(path), *API)
        assert time.monotonic() - started < 5  # generous; SQLite's own timeout is 5 s
    finally:
        blocker.rollback()
        blocker.close()
        holder.session.close()


def test_sqlite_session_object_is_claimed_and_shared_object_refused(
    claims: None, tmp_path: Path
) -> None:
    session = SQLiteSession(str(tmp_path / "obj"))
    first = TelegramClient(session, *API)
    with pytest.raises(SessionInUseError):
        TelegramClient(session, *API)
    with pytest.raises(SessionInUseError):
        TelegramClient(tmp_path / "obj", *API)
    assert not _kernel_lock_free(tmp_path / "obj.session")
    del first


async def test_released_on_disconnect_and_reacquired_in_a_loop(
    claims: None, backend: FakeTelegram, tmp_path: Path
) -> None:
    path = tmp_path / "loop.session"
    for _ in range(5):
        client = backend.client(path)
        await client.connect()
        me = await client.get_me()
        assert me.id == backend.me.id
        assert not _kernel_lock_free(path)
        await client.disconnect()
        assert _kernel_lock_free(path)  # released by the time disconnect() returns
    # And the session file is intact: the entities the loop cached are there.
    with sqlite3.connect(path) as db:
        assert db.execute("pragma integrity_check").fetchone() == ("ok",)


async def test_reconnect_claims_again(claims: None, backend: FakeTelegram, tmp_path: Path) -> None:
    path = tmp_path / "re.session"
    first = backend.client(path)
    await first.connect()
    await first.disconnect()
    second = backend.client(path)
    with pytest.raises(SessionInUseError) as err:
        await first.connect()
    assert "in use in this process" in str(err.value)
    assert not first.is_connected()
    await second.disconnect()
    await first.connect()
    assert not _kernel_lock_free(path)
    await first.disconnect()
    assert _kernel_lock_free(path)


def test_released_when_the_client_is_garbage_collected(claims: None, tmp_path: Path) -> None:
    path = tmp_path / "gc.session"
    client = TelegramClient(path, *API)
    assert not _kernel_lock_free(path)
    del client
    gc.collect()
    assert _kernel_lock_free(path)
    TelegramClient(path, *API)  # a new client claims it again


def test_failed_construction_releases_the_claim(claims: None, tmp_path: Path) -> None:
    path = tmp_path / "bad.session"
    with pytest.raises(ValueError):
        TelegramClient(path, 0, "")  # Telethon refuses the API id after we claimed
    assert _kernel_lock_free(path)
    assert TelegramClient(path, *API).session.filename == str(path)


def test_memory_sessions_are_not_claimed(
    claims: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    TelegramClient(None, *API)
    TelegramClient(None, *API)
    shared = MemorySession()
    TelegramClient(shared, *API)
    TelegramClient(shared, *API)
    TelegramClient(StringSession(), *API)  # no auth key yet: nothing to claim
    TelegramClient(StringSession(), *API)
    assert list(tmp_path.iterdir()) == []
    assert len(sessions._registry) == 0


async def test_string_session_auth_key_used_twice_is_refused(claims: None) -> None:
    key = os.urandom(256)
    string = _string_session_with_key(key)
    first = TelegramClient(StringSession(string), *API)
    with pytest.raises(SessionInUseError) as err:
        TelegramClient(StringSession(string), *API)
    message = str(err.value)
    assert "StringSession auth key" in message
    assert string not in message and string[1:40] not in message
    # Another account's key is fine; the first key is free again after disconnect.
    TelegramClient(StringSession(_string_session_with_key(os.urandom(256))), *API)
    await first.disconnect()
    TelegramClient(StringSession(string), *API)
    # The registry never holds the key itself.
    assert all(key.hex() not in name for name in sessions._registry)


# --- explicit claims --------------------------------------------------------------------------


def test_claim_session_normalises_like_telethon(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with claim_session(tmp_path / "link" / "acc") as claim:
        assert claim.path == (tmp_path / "real" / "acc.session").resolve()
        assert claim.owner.pid == os.getpid()
        for spelling in ("acc", "acc.session"):
            with pytest.raises(SessionInUseError) as err:
                claim_session(tmp_path / "real" / spelling)
            assert "claim_session() called at" in str(err.value)
            assert "claim.release()" in str(err.value)
    assert claim.released
    claim_session(tmp_path / "real" / "acc").release()


def test_dropped_claim_is_released(tmp_path: Path) -> None:
    claim = claim_session(tmp_path / "dropped")
    assert not _kernel_lock_free(tmp_path / "dropped.session")
    del claim
    gc.collect()
    assert _kernel_lock_free(tmp_path / "dropped.session")
    claim_session(tmp_path / "dropped").release()


async def test_client_adopts_an_explicit_claim_and_leaves_it_held(
    claims: None, backend: FakeTelegram, tmp_path: Path
) -> None:
    path = tmp_path / "mine.session"
    with claim_session(path) as claim:
        client = backend.client(path)
        with pytest.raises(SessionInUseError) as err:
            backend.client(path)
        assert "claim_session() called at" in str(err.value)
        await client.connect()
        await client.disconnect()
        assert not claim.released  # the user's claim outlives the client
        assert not _kernel_lock_free(path)
        other = backend.client(path)  # the claim is free for one client again
        await other.disconnect()
    assert _kernel_lock_free(path)


def test_claim_file_is_private_and_holds_no_secret(
    claims: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api_hash = "0123456789abcdef0123456789abcdef"
    token = "123456789:" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r"
    monkeypatch.setattr(
        sys, "orig_argv", [PY, "bot.py", "--api-hash", api_hash, f"--bot-token={token}", token]
    )
    path = tmp_path / "acc.session"
    TelegramClient(path, *API)
    lock = Path(str(path) + ".lock")
    assert lock.stat().st_mode & 0o777 == 0o600
    record = json.loads(lock.read_text())
    assert record["pid"] == os.getpid()
    assert record["host"] == socket.gethostname()
    assert record["started"] and record["claimed_at"]
    assert "bot.py" in record["command"]
    assert api_hash not in record["command"]
    assert token.split(":")[1] not in lock.read_text()
    assert "test_sessions.py" in record["holder"]


def test_claim_in_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TelethonGuardError) as err:
        claim_session(tmp_path / "no" / "such" / "dir" / "acc")
    assert "could not be created" in str(err.value)


def test_network_filesystem_is_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/sda1 / ext4 rw 0 0\n"
        f"server:/export {tmp_path} nfs4 rw,relatime 0 0\n"
        "tmpfs /tmp/other tmpfs rw 0 0\n"
    )
    monkeypatch.setattr(sessions, "_MOUNTS_FILE", str(mounts))
    assert sessions._network_filesystem(tmp_path / "x.session") == "nfs4"
    assert sessions._network_filesystem(Path("/var/x.session")) is None
    with caplog.at_level(logging.WARNING, logger="telethon_guard"):
        claim_session(tmp_path / "nfs").release()
    assert "network filesystem (nfs4)" in caplog.text


# --- other processes ----------------------------------------------------------------------------


def _run_try(path: Path) -> dict[str, object]:
    done = subprocess.run(
        [PY, str(APPS / "claim_try.py"), str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_another_process_is_refused_at_once_naming_this_pid(claims: None, tmp_path: Path) -> None:
    path = tmp_path / "acc.session"
    TelegramClient(path, *API)
    # Hold SQLite's write lock too, as a busy holder does: without the claim the other process
    # would wait 5 s for it and then fail with "database is locked".
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        result = _run_try(path)
    finally:
        blocker.rollback()
        blocker.close()
    error = str(result["error"])
    assert f"PID {os.getpid()} on host {socket.gethostname()}" in error
    assert f"ps -p {os.getpid()}" in error
    assert "pytest" in error  # the holder's command line
    assert "test_sessions.py" in error  # and where it built the client
    assert float(str(result["elapsed"])) < 5  # generous: the promise is "at once", not after 5 s


def test_sigkilled_holder_frees_the_session_at_once(tmp_path: Path) -> None:
    path = tmp_path / "acc.session"
    api_hash = "fedcba9876543210fedcba9876543210"
    holder = subprocess.Popen(
        [PY, str(APPS / "claim_holder.py"), str(path), "--api-hash", api_hash],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "CLAIMED"
        with pytest.raises(SessionInUseError) as err:
            claim_session(path)
        message = str(err.value)
        assert f"PID {holder.pid}" in message
        assert "claim_holder.py" in message
        assert api_hash not in message
        assert f"kill {holder.pid}" in message
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        claim = claim_session(path)  # at once: no retry, no timeout
        claim.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)


def test_process_exit_with_a_claimed_client_is_clean(tmp_path: Path) -> None:
    # The client is still alive at interpreter exit: its release must not trip over the claim's
    # own descriptor clean-up (no "Bad file descriptor" noise, nothing closed twice).
    done = subprocess.run(
        [PY, str(APPS / "claim_holder.py"), str(tmp_path / "exit")],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "CLAIMED\n", "")
    assert _kernel_lock_free(tmp_path / "exit.session")


def test_forked_child_does_not_hold_the_claim(tmp_path: Path) -> None:
    path = tmp_path / "fork.session"
    claim = claim_session(path)
    try:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            try:
                report: dict[str, object] = {
                    "released": claim.released,
                    "registry": len(sessions._registry),
                }
                try:
                    claim_session(path)
                    report["second"] = "claimed"
                except SessionInUseError as exc:
                    report["second"] = str(exc)
                os.write(write_end, json.dumps(report).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            report = json.loads(pipe.read())
        os.waitpid(pid, 0)
        assert report["released"] is True and report["registry"] == 0
        # The child could not take it: the parent (this process) still holds the kernel lock...
        assert f"PID {os.getpid()}" in str(report["second"])
        # ...and the child's exit (closing its inherited descriptor) did not release it.
        assert not claim.released
        assert not _kernel_lock_free(path)
    finally:
        claim.release()
    assert _kernel_lock_free(path)


# --- install / uninstall ------------------------------------------------------------------------


def _patched_attributes() -> dict[tuple[type, str], object]:
    return {
        (cls, name): cls.__dict__.get(name)
        for cls in (TelegramBaseClient, TelegramClient)
        for name in ("__init__", "connect", "_disconnect_coro")
    }


def test_uninstall_restores_telethon_exactly(tmp_path: Path) -> None:
    if sessions._originals:
        pytest.skip("session claims are installed for the whole run")
    before = _patched_attributes()
    sessions._install_claims()
    sessions._install_claims()  # idempotent
    try:
        assert _patched_attributes() != before
        auto = TelegramClient(tmp_path / "auto", *API)
        explicit = claim_session(tmp_path / "explicit")
    finally:
        sessions._uninstall_claims()
    assert _patched_attributes() == before
    assert all(after is before[key] for key, after in _patched_attributes().items())
    assert _kernel_lock_free(tmp_path / "auto.session")  # automatic claims are let go
    assert not explicit.released  # the user's own claim is not
    assert not _kernel_lock_free(tmp_path / "explicit.session")
    explicit.release()
    # Without the patch nothing is claimed any more.
    TelegramClient(tmp_path / "free", *API)
    assert not Path(str(tmp_path / "free.session") + ".lock").exists()
    del auto


def test_redacted_command_line() -> None:
    command = sessions._redact_command(
        ["python", "app.py", "--api-hash", "abc", "--password=hunter2", "--port", "8000", "-v"]
    )
    assert command == "python app.py --api-hash '***' '--password=***' --port 8000 -v"
    opaque = "1" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-" * 3
    assert opaque not in sessions._redact_command(["python", "-c", f"S = '{opaque}'"])


def test_telethon_sync_connect_claims_again(tmp_path: Path) -> None:
    # In a subprocess: importing telethon.sync rewrites TelegramClient for the whole process.
    done = subprocess.run(
        [PY, str(APPS / "sync_reconnect.py"), str(tmp_path / "sync")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "reconnect while another client holds it: refused",
        "reconnect after release: ok",
        "restored: True",
        "re-synced original: True",
    ]


async def test_install_claims_sessions_and_uninstall_releases(
    backend: FakeTelegram, tmp_path: Path
) -> None:
    import telethon_guard

    path = tmp_path / "guarded.session"
    telethon_guard.install("serialize", check_deployment=True, claim_sessions=True)
    try:
        client = backend.client(path)
        with pytest.raises(SessionInUseError):
            TelegramClient(path, *API)
        await client.connect()
        assert (await client.get_me()).id == backend.me.id
        assert not _kernel_lock_free(path)
    finally:
        telethon_guard.uninstall()
    assert _kernel_lock_free(path)
    await client.disconnect()
