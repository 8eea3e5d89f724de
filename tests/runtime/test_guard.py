"""install()/uninstall()/stats() and the four modes, on real TelegramClients with the fake backend."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from telethon import TelegramClient, events, functions, types
from telethon.client.users import UserMethods

import telethon_guard
from telethon_guard import (
    LockDeadlockError,
    TelethonOverlapError,
    UnguardedCallError,
    install,
    stats,
    telethon_lock,
    uninstall,
)
from telethon_guard import guard as _guard
from telethon_guard.testing import FakeTelegram

# Telethon's own function (the guard may already be installed: a run under --telethon-guard).
ORIGINAL_CALL = (
    _guard._original
    if vars(UserMethods)["_call"] is _guard._guarded_call
    else vars(UserMethods)["_call"]
)

# These tests install the guard themselves and provoke violations on purpose.
pytestmark = [pytest.mark.usefixtures("no_guard"), pytest.mark.telethon_guard_allow]


def line_of(marker: str) -> str:
    """``"test_guard.py:N"`` for the line of this file carrying ``marker``."""
    with open(__file__, encoding="utf-8") as f:
        for number, text in enumerate(f, 1):
            if text.rstrip().endswith(f"# <{marker}>"):
                return f"{os.path.basename(__file__)}:{number}"
    raise AssertionError(marker)


class InFlight:
    """Keeps one ``help.GetNearestDcRequest`` in flight: ``entered`` is set when it reaches the fake
    network, and its answer arrives only after the backend's (long) latency -- the holder is cancelled
    long before that."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.entered = asyncio.Event()
        fake.answer(functions.help.GetNearestDcRequest, self._answer)

    def _answer(self, request: Any) -> types.NearestDc:
        self.entered.set()
        return types.NearestDc(country="NL", this_dc=2, nearest_dc=2)


async def cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# --- install / uninstall ------------------------------------------------------------------------------


def test_install_patches_the_class_and_uninstall_restores_the_original_function(
    guard: Callable[..., None],
) -> None:
    guard("strict")
    assert vars(UserMethods)["_call"] is not ORIGINAL_CALL
    assert TelegramClient._call is vars(UserMethods)["_call"]

    class MyClient(TelegramClient):
        pass

    assert MyClient._call is vars(UserMethods)["_call"]
    uninstall()
    assert vars(UserMethods)["_call"] is ORIGINAL_CALL
    assert TelegramClient._call is ORIGINAL_CALL
    assert stats().mode is None
    uninstall()  # a second uninstall is harmless
    assert vars(UserMethods)["_call"] is ORIGINAL_CALL


def test_install_is_idempotent_and_switches_mode(guard: Callable[..., None]) -> None:
    guard("strict")
    patched = vars(UserMethods)["_call"]
    guard("strict")
    assert vars(UserMethods)["_call"] is patched  # not wrapped twice
    assert stats().mode == "strict"
    guard("warn")
    assert vars(UserMethods)["_call"] is patched
    assert stats().mode == "warn"
    uninstall()  # one uninstall undoes any number of installs
    assert vars(UserMethods)["_call"] is ORIGINAL_CALL


@pytest.mark.parametrize("mode", ["STRICT", "off", "", None, "serialise"])
def test_bad_mode_is_a_value_error_listing_the_modes(mode: Any) -> None:
    with pytest.raises(ValueError) as info:
        install(mode, check_deployment=False, claim_sessions=False)
    for name in ("'strict'", "'detect'", "'serialize'", "'warn'"):
        assert name in str(info.value)
    assert vars(UserMethods)["_call"] is ORIGINAL_CALL


@pytest.mark.parametrize("value", [0, -1.0, "10", True])
def test_bad_hold_warning_is_a_value_error(value: Any) -> None:
    with pytest.raises(ValueError, match="hold_warning_s"):
        install("strict", check_deployment=False, claim_sessions=False, hold_warning_s=value)
    assert vars(UserMethods)["_call"] is ORIGINAL_CALL


async def test_install_with_defaults_claims_sessions_and_checks_deployment(
    guard: Callable[..., None], fake: FakeTelegram, tmp_path: Path
) -> None:
    # install()'s own defaults: the deployment check passes in a plain pytest process, and a second
    # client on a claimed session file is refused.
    guard("strict", check_deployment=True, claim_sessions=True)
    first = fake.client(tmp_path / "claimed.session")
    await first.connect()
    try:
        with pytest.raises(telethon_guard.SessionInUseError):
            fake.client(tmp_path / "claimed.session")
    finally:
        await first.disconnect()


def test_a_refused_deployment_leaves_telethon_unpatched(
    guard: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What check_deployment() detects is the deployment helper's business (tested there); here: install()
    # checks before it patches anything, and a failure half-way leaves nothing behind.
    from telethon_guard import deployment, sessions

    def refuse() -> None:
        raise telethon_guard.UnsafeDeploymentError("uvicorn --reload")

    monkeypatch.setattr(deployment, "check_deployment", refuse)
    with pytest.raises(telethon_guard.UnsafeDeploymentError):
        guard("strict", check_deployment=True)
    assert vars(UserMethods)["_call"] is ORIGINAL_CALL and stats().mode is None

    def broken() -> None:
        raise OSError("no lock directory")

    monkeypatch.setattr(sessions, "_install_claims", broken)
    with pytest.raises(OSError):
        guard("strict", claim_sessions=True)
    assert vars(UserMethods)["_call"] is ORIGINAL_CALL and stats().mode is None


# --- strict --------------------------------------------------------------------------------------------


async def test_nested_call_under_the_lock_with_an_uncached_username_is_one_action(
    guard: Callable[..., None], backend: FakeTelegram, client: TelegramClient
) -> None:
    guard("strict")
    before = stats()
    backend.reset_stats()
    async with telethon_lock:
        # resolve() re-enters _call from the same task for ResolveUsername (users.py:43)
        await client(functions.messages.SendMessageRequest(peer="alice", message="hi"))
    after = stats()
    assert [r.name for r in backend.requests if not r.background][:2] == [
        "ResolveUsernameRequest",
        "SendMessageRequest",
    ]
    assert after.actions - before.actions == 1
    assert after.overlaps == before.overlaps and after.unguarded == before.unguarded
    assert backend.sent_messages("alice") == ["hi"]


async def test_strict_raises_on_an_unguarded_action(
    guard: Callable[..., None], backend: FakeTelegram, client: TelegramClient
) -> None:
    guard("strict")
    before = stats()
    with pytest.raises(UnguardedCallError) as info:
        await client.send_message("alice", "unguarded")  # <unguarded-site>
    message = str(info.value)
    assert line_of("unguarded-site") in message
    assert repr(asyncio.current_task().get_name()) in message  # type: ignore[union-attr]
    assert f"PID {os.getpid()}" in message
    assert "async with telethon_lock:" in message
    assert stats().unguarded == before.unguarded + 1
    assert backend.sent_messages("alice") == []
    async with telethon_lock:
        await client.send_message("alice", "guarded")
    assert backend.sent_messages("alice") == ["guarded"]


async def test_strict_names_the_holder_when_another_task_holds_the_lock(
    guard: Callable[..., None], client: TelegramClient
) -> None:
    guard("strict")
    holding, done = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with telethon_lock:  # <holder-site>
            holding.set()
            await done.wait()

    task = asyncio.create_task(holder(), name="the-holder")
    await holding.wait()
    try:
        with pytest.raises(UnguardedCallError) as info:
            await client.get_messages("alice", limit=1)
        assert "'the-holder'" in str(info.value)
        assert line_of("holder-site") in str(info.value)
    finally:
        done.set()
        await task


async def test_strict_a_task_created_by_the_holder_does_not_hold_the_lock(
    guard: Callable[..., None], backend: FakeTelegram, client: TelegramClient
) -> None:
    guard("strict")
    async with telethon_lock:
        child = asyncio.create_task(client.send_message("alice", "from child"), name="child")
        with pytest.raises(UnguardedCallError) as info:
            await child
        with pytest.raises(UnguardedCallError):
            await asyncio.gather(client.get_messages("alice", limit=1))
    assert "'child'" in str(info.value)
    # No user frame in that task: the message points at its root coroutine instead.
    assert "send_message" in str(info.value)
    assert backend.sent_messages("alice") == []


async def test_strict_an_overlap_with_connect_names_the_users_line_and_says_to_wrap_it(
    guard: Callable[..., None], fake: FakeTelegram, client: TelegramClient, tmp_path: Path
) -> None:
    # In strict mode every user action holds the lock, so the only overlap left is a lifecycle call
    # (exempt from the unguarded check) racing an action: connect() of a second client here. With the
    # session claims installed, connect() runs through their wrapper: the message must still name the
    # user's line, never telethon_guard/sessions.py.
    guard("strict", claim_sessions=True)
    in_flight = InFlight(fake)
    fake.latency = 60

    async def hold() -> None:
        async with telethon_lock:
            await client(functions.help.GetNearestDcRequest())  # <holder-in-flight>

    holder = asyncio.create_task(hold(), name="holder")
    await in_flight.entered.wait()
    fake.latency = 0  # the held answer stays due in 60 s; the second connection answers at once
    second = fake.client(tmp_path / "second.session")
    try:
        with pytest.raises(TelethonOverlapError) as info:
            await second.connect()  # <connect-site>
    finally:
        await cancel(holder)
        await second.disconnect()
    message = str(info.value)
    assert "'holder'" in message and line_of("holder-in-flight") in message
    assert line_of("connect-site") in message
    assert "telethon_guard/" not in message
    assert re.search(r"is in connect\(\) at \S*" + line_of("connect-site"), message)
    assert "`async with telethon_lock: await client.connect()`" in message
    assert "reentrant" in message
    assert telethon_lock.owner is None


async def test_strict_connect_wrapped_in_the_lock_waits_its_turn_and_passes(
    guard: Callable[..., None], fake: FakeTelegram, client: TelegramClient, tmp_path: Path
) -> None:
    guard("strict", claim_sessions=True)
    in_flight = InFlight(fake)
    fake.latency = 60
    release = asyncio.Event()

    async def hold() -> None:
        async with telethon_lock:
            with contextlib.suppress(asyncio.CancelledError):
                await client(functions.help.GetNearestDcRequest())
            await release.wait()

    holder = asyncio.create_task(hold(), name="holder")
    await in_flight.entered.wait()
    fake.latency = 0
    second = fake.client(tmp_path / "second.session")
    queued = asyncio.Event()

    async def connect() -> None:
        queued.set()
        async with telethon_lock:  # the fix the message gives
            await second.connect()  # connect's get_me and GetState re-enter the lock: one action
            assert await second.get_me() is not None

    before = stats()
    connecting = asyncio.create_task(connect(), name="connecting")
    await queued.wait()
    assert not connecting.done() and telethon_lock.owner is holder
    holder.cancel()  # cancels the held request; the holder then leaves the lock
    release.set()
    await holder
    try:
        await connecting
    finally:
        await second.disconnect()
    after = stats()
    assert (after.overlaps, after.unguarded) == (before.overlaps, before.unguarded)
    assert telethon_lock.owner is None


@pytest.mark.parametrize("bare", [False, True], ids=["from-user-code", "create_task-connect"])
async def test_detect_an_action_overlapping_a_connect_in_flight_says_to_wrap_connect(
    guard: Callable[..., None],
    fake: FakeTelegram,
    client: TelegramClient,
    tmp_path: Path,
    bare: bool,
) -> None:
    guard("detect", claim_sessions=True)
    entered = asyncio.Event()

    def held_state(request: Any) -> types.updates.State:
        fake.latency = 60  # connect()'s update-state request stays in flight
        entered.set()
        now = datetime.datetime.now(tz=datetime.timezone.utc)
        return types.updates.State(pts=1, qts=0, date=now, seq=1, unread_count=0)

    fake.answer(functions.updates.GetStateRequest, held_state)
    second = fake.client(tmp_path / "second.session")

    async def connect() -> None:
        await second.connect()  # <connect-in-flight>

    # A task running connect() itself has no user frame: its site is Telethon's connect(), never the
    # session claims' wrapper it runs through.
    connecting = asyncio.create_task(second.connect() if bare else connect(), name="connecting")
    await entered.wait()
    fake.latency = 0
    fake.answer(functions.updates.GetStateRequest, None)
    try:
        with pytest.raises(TelethonOverlapError) as info:
            await client(functions.help.GetNearestDcRequest())  # <overlapping-action>
    finally:
        await cancel(connecting)
        await second.disconnect()
    message = str(info.value)
    assert line_of("overlapping-action") in message
    site = r"\S*telegrambaseclient\.py:\d+ \(the task's root coroutine \S*connect\)"
    if not bare:
        site = r"\S*" + line_of("connect-in-flight")
    assert re.search(r"Task 'connecting' is in connect\(\) at " + site, message)
    assert "`async with telethon_lock: await client.connect()`" in message
    assert "telethon_guard/" not in message


# --- detect --------------------------------------------------------------------------------------------


async def test_detect_allows_unguarded_actions_but_raises_on_overlap_naming_both_tasks(
    guard: Callable[..., None], fake: FakeTelegram, client: TelegramClient
) -> None:
    guard("detect")
    before = stats()
    await client.send_message("alice", "unguarded is fine in detect mode")
    in_flight = InFlight(fake)
    fake.latency = 60

    async def first() -> None:
        await client(functions.help.GetNearestDcRequest())  # <first-site>

    async def second() -> None:
        await client.get_messages("alice", limit=1)  # <second-site>

    a = asyncio.create_task(first(), name="task-A")
    await in_flight.entered.wait()
    try:
        with pytest.raises(TelethonOverlapError) as info:
            await asyncio.create_task(second(), name="task-B")
    finally:
        await cancel(a)
    message = str(info.value)
    assert "'task-A'" in message and "'task-B'" in message
    assert line_of("first-site") in message and line_of("second-site") in message
    assert f"PID {os.getpid()}" in message and "async with telethon_lock:" in message
    after = stats()
    assert after.overlaps == before.overlaps + 1
    assert after.unguarded == before.unguarded


async def test_detect_an_overlap_across_two_clients_and_none_once_the_first_is_done(
    guard: Callable[..., None], fake: FakeTelegram, client: TelegramClient, tmp_path: Path
) -> None:
    other = fake.client(tmp_path / "other.session")
    await other.connect()
    guard("detect")
    try:
        in_flight = InFlight(fake)
        fake.latency = 60  # the fake answers each connection in order: only `client` is held up
        a = asyncio.create_task(client(functions.help.GetNearestDcRequest()), name="task-A")
        await in_flight.entered.wait()
        fake.latency = 0
        try:
            with pytest.raises(TelethonOverlapError, match="'task-A'"):
                await other.get_messages("alice", limit=1)
        finally:
            await cancel(a)
        assert await other.get_messages("alice", limit=1) is not None
    finally:
        await other.disconnect()


# --- serialize -----------------------------------------------------------------------------------------


async def _two_concurrent_sends(fake: FakeTelegram, client: TelegramClient) -> None:
    fake.latency = 0.01
    fake.reset_stats()
    await asyncio.gather(client.send_message("alice", "one"), client.send_message("alice", "two"))


async def test_without_the_guard_two_unguarded_sends_overlap(
    backend: FakeTelegram, client: TelegramClient
) -> None:
    await client.get_input_entity("alice")  # cached: each send is then one request
    await _two_concurrent_sends(backend, client)
    assert backend.max_in_flight == 2


async def test_serialize_runs_two_unguarded_sends_one_at_a_time(
    guard: Callable[..., None], backend: FakeTelegram, client: TelegramClient
) -> None:
    await client.get_input_entity("alice")  # cached: each send is then one request
    guard("serialize")
    before = stats()
    await _two_concurrent_sends(backend, client)
    assert backend.max_in_flight == 1
    assert sorted(backend.sent_messages("alice")) == ["one", "two"]
    after = stats()
    assert after.unguarded - before.unguarded == 2
    assert after.overlaps == before.overlaps
    assert after.acquisitions - before.acquisitions == 2
    assert telethon_lock.owner is None


async def test_serialize_a_users_gather_under_the_lock_is_a_deadlock_and_create_task_waits(
    guard: Callable[..., None], backend: FakeTelegram, client: TelegramClient
) -> None:
    # Only Telethon's own fan-outs (edit_folder, inline answers) are part of the holder's action: the
    # user's gather of a Telethon coroutine is a task of its own that needs the lock the holder keeps.
    await client.get_input_entity("alice")
    guard("serialize")
    async with telethon_lock:  # <gather-holder>
        with pytest.raises(LockDeadlockError) as info:
            await asyncio.gather(client.send_message("alice", "gathered"))
        later = asyncio.create_task(client.send_message("alice", "later"), name="later")
        await client.send_message("alice", "first")
    assert line_of("gather-holder") in str(info.value)
    await later  # it waited its turn
    assert backend.sent_messages("alice") == ["first", "later"]


async def test_serialize_leaves_guarded_actions_alone(
    guard: Callable[..., None], backend: FakeTelegram, client: TelegramClient
) -> None:
    guard("serialize")
    before = stats()
    async with telethon_lock:
        await client.send_message("alice", "guarded")
    after = stats()
    assert after.unguarded == before.unguarded
    assert after.acquisitions - before.acquisitions == 1


# --- warn ----------------------------------------------------------------------------------------------


async def test_warn_logs_once_per_call_site_and_never_raises(
    guard: Callable[..., None],
    backend: FakeTelegram,
    client: TelegramClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard("warn")
    before = stats()
    with caplog.at_level(logging.WARNING, logger="telethon_guard"):
        for i in range(3):
            await client.send_message("alice", f"loop {i}")  # <warn-loop>
        await client.get_messages("alice", limit=1)  # <warn-other>
    records = [r for r in caplog.records if r.name == "telethon_guard"]
    assert len(records) == 2
    assert line_of("warn-loop") in records[0].getMessage()
    assert line_of("warn-other") in records[1].getMessage()
    assert all(r.levelno == logging.WARNING for r in records)
    assert "Unguarded Telethon action" in records[0].getMessage()
    assert backend.sent_messages("alice") == ["loop 0", "loop 1", "loop 2"]
    # every event counts (resolve + 3 sends + 1 read), the log is once per site
    assert stats().unguarded - before.unguarded == 5


async def test_warn_logs_an_overlap(
    guard: Callable[..., None],
    fake: FakeTelegram,
    client: TelegramClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    other = fake.client(tmp_path / "other.session")
    await other.connect()
    guard("warn")
    try:
        in_flight = InFlight(fake)
        fake.latency = 60
        a = asyncio.create_task(client(functions.help.GetNearestDcRequest()), name="task-A")
        await in_flight.entered.wait()
        fake.latency = 0
        try:
            with caplog.at_level(logging.WARNING, logger="telethon_guard"):
                assert await other.get_messages("alice", limit=1) is not None
        finally:
            await cancel(a)
    finally:
        await other.disconnect()
    overlaps = [r for r in caplog.records if "Overlapping Telethon actions" in r.getMessage()]
    assert len(overlaps) == 1 and "'task-A'" in overlaps[0].getMessage()


# --- hold warning, stats, uninstall --------------------------------------------------------------------


async def test_hold_warning_names_the_holder(
    guard: Callable[..., None], client: TelegramClient
) -> None:
    guard("strict", hold_warning_s=0.05)
    loop = asyncio.get_running_loop()
    warned = asyncio.Event()
    messages: list[str] = []

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())
            loop.call_soon_threadsafe(warned.set)  # the lock's watchdog thread logs

    handler = Handler(logging.WARNING)
    logging.getLogger("telethon_guard").addHandler(handler)
    try:

        async def slow() -> None:
            async with telethon_lock:  # <slow-holder>
                await client.send_message("alice", "slow")
                await asyncio.wait_for(warned.wait(), 5)

        await asyncio.create_task(slow(), name="slow-holder")
    finally:
        logging.getLogger("telethon_guard").removeHandler(handler)
    assert "'slow-holder'" in messages[0] and line_of("slow-holder") in messages[0]


async def test_stats_counts_actions_and_reports_the_holder(
    guard: Callable[..., None], client: TelegramClient
) -> None:
    assert stats().mode is None  # works without install
    guard("strict")
    before = stats()
    async with telethon_lock:  # <stats-holder>
        now = stats()
        assert now.holder == asyncio.current_task().get_name()  # type: ignore[union-attr]
        assert now.holder_site is not None and line_of("stats-holder") in now.holder_site
        await client.send_message("alice", "a")  # resolve + send: one action each
        await client.get_messages("alice", limit=2)
    with pytest.raises(UnguardedCallError):
        await client.get_messages("alice", limit=1)
    after = stats()
    assert after.mode == "strict"
    assert after.actions - before.actions == 4
    assert after.unguarded - before.unguarded == 1
    assert after.holder is None and after.waiting == 0
    assert after.max_hold_s >= 0.0


async def test_uninstall_makes_a_failing_case_pass(
    guard: Callable[..., None], backend: FakeTelegram, client: TelegramClient
) -> None:
    guard("strict")
    with pytest.raises(UnguardedCallError):
        await client.send_message("alice", "refused")
    uninstall()
    await client.send_message("alice", "accepted")
    assert backend.sent_messages("alice") == ["accepted"]


async def test_user_get_state_request_is_a_user_action(
    guard: Callable[..., None], client: TelegramClient
) -> None:
    guard("strict")
    with pytest.raises(UnguardedCallError, match="GetStateRequest"):
        await client(functions.updates.GetStateRequest())
    before = stats()
    async with telethon_lock:
        state = await client(functions.updates.GetStateRequest())
    assert isinstance(state, types.updates.State)
    assert stats().actions == before.actions + 1
    assert isinstance(state.date, datetime.datetime)


async def test_reset_stats_zeroes_the_counters_and_forgets_logged_call_sites(
    guard: Callable[..., None],
    backend: FakeTelegram,
    client: TelegramClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Order-independent tests elsewhere (tests/integration) assert absolute counts after calling it.
    guard("warn")
    with caplog.at_level(logging.WARNING, logger="telethon_guard"):
        for _ in range(2):
            await client.send_message("alice", "unguarded")  # <reset-site>
            assert stats().unguarded > 0 and stats().actions > 0
            _guard._reset_stats()
            after = stats()
            assert (after.actions, after.overlaps, after.unguarded, after.deadlocks) == (0, 0, 0, 0)
            assert (after.timeouts, after.acquisitions, after.max_hold_s) == (0, 0, 0.0)
            assert after.mode == "warn"  # the guard stays installed
    logged = [r for r in caplog.records if line_of("reset-site") in r.getMessage()]
    assert len(logged) == 2  # the call site was forgotten: logged again after the reset


def test_each_runtime_test_starts_from_zero() -> None:
    # The autouse fixture of tests/runtime/conftest.py: whatever ran before, nothing is left over.
    assert stats() == telethon_guard.GuardStats()


# --- hunted cases: telethon.sync, threads, iterators, conversations with handlers, FloodWait -----------

SYNC_SCRIPT = """
import os, sys, tempfile
import telethon.sync  # noqa: F401 -- blocking style: each call runs the loop until it is done
import telethon_guard
from telethon_guard.testing import FakeTelegram

fake = FakeTelegram()
fake.add_user("alice")
client = fake.client(os.path.join(tempfile.mkdtemp(), "sync.session"))
client.connect()
telethon_guard.install("strict", check_deployment=False, claim_sessions=False)
try:
    client.send_message("alice", "strict")  # <sync-call>
except telethon_guard.UnguardedCallError as exc:
    print("REFUSED", exc)


async def locked():
    async with telethon_guard.telethon_lock:
        await client.send_message("alice", "locked")


client.loop.run_until_complete(locked())  # strict is satisfied by a coroutine holding the lock
telethon_guard.install("serialize", check_deployment=False, claim_sessions=False)
client.send_message("alice", "serialized")
print("SENT", fake.sent_messages("alice"), telethon_guard.stats().holder)
client.disconnect()
"""


def test_telethon_sync_calls_name_the_script_line_and_work_in_serialize_mode(
    tmp_path: Path,
) -> None:
    # In a subprocess: importing telethon.sync rewrites TelegramClient for the whole process.
    script = tmp_path / "sync_script.py"
    script.write_text(SYNC_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    refused = next(line for line in result.stdout.splitlines() if line.startswith("REFUSED"))
    number = 1 + SYNC_SCRIPT.splitlines().index(
        '    client.send_message("alice", "strict")  # <sync-call>'
    )
    assert f"sync_script.py:{number} (a blocking telethon.sync call)" in refused
    assert "install(mode='serialize')" in refused
    assert "SENT ['locked', 'serialized'] None" in result.stdout


async def test_an_action_from_another_thread_via_run_coroutine_threadsafe(
    guard: Callable[..., None], backend: FakeTelegram, client: TelegramClient
) -> None:
    await client.get_input_entity("alice")  # cached: each send is one request
    guard("strict")
    loop = asyncio.get_running_loop()

    async def locked() -> Any:
        async with telethon_lock:
            return await client.send_message("alice", "from a thread, locked")

    def from_thread() -> tuple[BaseException | None, Any]:
        bare = asyncio.run_coroutine_threadsafe(client.send_message("alice", "bare"), loop)
        error = bare.exception(timeout=10)
        return error, asyncio.run_coroutine_threadsafe(locked(), loop).result(timeout=10)

    error, message = await asyncio.to_thread(from_thread)
    assert isinstance(error, UnguardedCallError)
    assert message.text == "from a thread, locked"
    assert backend.sent_messages("alice") == ["from a thread, locked"]
    assert stats().unguarded == 1


async def test_an_iterator_continued_outside_the_lock_is_unguarded(
    guard: Callable[..., None], backend: FakeTelegram, client: TelegramClient
) -> None:
    for i in range(120):  # more than one chunk of 100 (client/messages.py, _MAX_CHUNK_SIZE)
        backend.push_message("alice", f"m{i}")
    guard("strict")
    messages = client.iter_messages("alice").__aiter__()  # `async for` would start it over
    async with telethon_lock:
        texts = [(await messages.__anext__()).text for _ in range(100)]  # the first chunk, locked
    with pytest.raises(UnguardedCallError, match="GetHistoryRequest") as info:
        await messages.__anext__()  # <iter-continued>
    assert line_of("iter-continued") in str(info.value)
    async with telethon_lock:
        with contextlib.suppress(StopAsyncIteration):
            while True:
                texts.append((await messages.__anext__()).text)
    assert texts[0] == "m119" and texts[-1] == "m0" and len(texts) == 120


@pytest.mark.parametrize("mode", ["strict", "serialize"])
async def test_a_handler_waits_for_a_conversation_holding_the_lock(
    mode: str, guard: Callable[..., None], backend: FakeTelegram, client: TelegramClient
) -> None:
    # The BotFather reply both completes the conversation and fires a handler that needs the lock:
    # the handler waits its turn, the update loop is never blocked, and nothing deadlocks.
    guard(mode)
    order: list[str] = []
    handled = asyncio.Event()

    @client.on(events.NewMessage(chats="BotFather"))
    async def handler(event: Any) -> None:
        async with telethon_lock:
            order.append("handler")
            await client.send_message("alice", "seen a BotFather message")
        handled.set()

    async with telethon_lock:
        async with client.conversation("BotFather") as conv:
            await conv.send_message("/start")
            reply = await asyncio.wait_for(conv.get_response(), 5)
            order.append("conversation")
    await asyncio.wait_for(handled.wait(), 5)
    assert "I can help you" in reply.text
    assert order == ["conversation", "handler"]
    assert backend.sent_messages("alice") == ["seen a BotFather message"]
    assert stats().unguarded == 0 and stats().overlaps == 0 and stats().deadlocks == 0


async def test_flood_wait_sleeping_under_the_guards_lock_warns_naming_the_call_site(
    guard: Callable[..., None], backend: FakeTelegram, client: TelegramClient
) -> None:
    # Telethon sleeps through a short FloodWait inside _call (client/users.py:105-124): in serialize
    # mode that sleep holds telethon_lock, and the hold warning names the user's call, not the guard.
    from telethon import errors

    await client.get_input_entity("alice")
    guard("serialize", hold_warning_s=0.2)
    loop = asyncio.get_running_loop()
    warned = asyncio.Event()
    messages: list[str] = []

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())
            loop.call_soon_threadsafe(warned.set)  # the lock's watchdog thread logs

    handler = Handler(logging.WARNING)
    logging.getLogger("telethon_guard").addHandler(handler)
    backend.fail_next("SendMessageRequest", errors.FloodWaitError(request=None, capture=1))
    try:

        async def unguarded_send() -> None:
            await client.send_message("alice", "after the flood wait")  # <flood-site>

        send = asyncio.create_task(unguarded_send(), name="flooded")
        await asyncio.wait_for(warned.wait(), 5)
        assert stats().holder == "flooded"
        await send
    finally:
        logging.getLogger("telethon_guard").removeHandler(handler)
    assert "'flooded'" in messages[0] and line_of("flood-site") in messages[0]
    assert "FloodWait" in messages[0]
    assert backend.sent_messages("alice") == ["after the flood wait"]
