"""The relay app in-process (its real lifespan, the guard in strict mode, the fake Telegram): Telethon
errors become HTTP answers, settings are validated, and nothing leaks a traceback."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from telethon import errors

from examples.botfather_relay.app import RelayApp, create_app
from examples.botfather_relay.settings import Settings, SettingsError, load_settings
from telethon_guard import SessionInUseError, claim_session, stats


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[tuple[RelayApp, httpx.AsyncClient]]:
    settings = Settings(
        session=str(tmp_path / "app.session"), offline=True, conversation_timeout=0.5
    )
    app = create_app(lambda: settings)
    before = stats().mode
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://relay") as http:
            yield app, http
    # Shutdown undid what startup installed (and kept a guard someone else installed).
    assert stats().mode == before


def _backend(app: RelayApp) -> Any:
    return app.state.backend


async def test_flood_wait_is_429_with_retry_after(
    relay: tuple[RelayApp, httpx.AsyncClient],
) -> None:
    app, http = relay
    _backend(app).fail_next("SendMessageRequest", errors.FloodWaitError(None, capture=120))
    r = await http.post("/messages", json={"text": "too fast"})
    assert r.status_code == 429, r.text
    assert r.headers["Retry-After"] == "120"
    assert r.json()["error"] == "FloodWaitError"
    assert r.json()["retry_after"] == 120
    # No sleeping through it while holding the one lock (flood_sleep_threshold=0): the lock is free,
    # and Telethon answers the next SendMessage itself, without sending it, until the wait is over.
    sent_before = len(_backend(app).sent_messages("BotFather"))
    again = await http.post("/messages", json={"text": "still too fast"})
    assert again.status_code == 429, again.text
    assert 0 < int(again.headers["Retry-After"]) <= 120
    assert len(_backend(app).sent_messages("BotFather")) == sent_before
    health = (await http.get("/health")).json()
    assert health["guard"]["holder"] is None
    # Other requests are not held up.
    assert (await http.get("/replies", params={"limit": 1})).status_code == 200


async def test_other_rpc_errors_are_502_with_their_name(
    relay: tuple[RelayApp, httpx.AsyncClient],
) -> None:
    app, http = relay
    _backend(app).fail_next("GetHistoryRequest", errors.PeerIdInvalidError)
    r = await http.get("/replies", params={"limit": 5})
    assert r.status_code == 502, r.text
    assert r.json()["error"] == "PeerIdInvalidError"
    assert "Traceback" not in r.text


async def test_connection_loss_is_503(relay: tuple[RelayApp, httpx.AsyncClient]) -> None:
    app, http = relay
    _backend(app).fail_next("SendMessageRequest", ConnectionError("connection reset"))
    r = await http.post("/messages", json={"text": "lost"})
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "TelegramUnavailable"


async def test_botfather_silent_is_504_and_the_lock_is_free_again(
    relay: tuple[RelayApp, httpx.AsyncClient],
) -> None:
    app, http = relay
    _backend(app).on_message("BotFather", None)
    r = await http.post("/bots", json={"name": "Mute", "username": "mute_bot"})
    assert r.status_code == 504, r.text
    assert r.json()["error"] == "BotFatherTimeout"
    health = (await http.get("/health")).json()
    assert health["guard"]["holder"] is None and health["guard"]["waiting"] == 0


async def test_refused_username_is_409_with_botfathers_words(
    relay: tuple[RelayApp, httpx.AsyncClient],
) -> None:
    _, http = relay
    r = await http.post("/bots", json={"name": "Bad", "username": "bad__name_bot"})
    first = await http.post("/bots", json={"name": "Good", "username": "good_name_bot"})
    taken = await http.post("/bots", json={"name": "Good", "username": "good_name_bot"})
    assert first.status_code == 200, first.text
    assert taken.status_code == 409, taken.text
    assert "already taken" in taken.json()["reply"]
    assert r.status_code in (200, 409)  # whatever BotFather says about it, never a 500


async def test_health_reports_the_guard_and_owner(
    relay: tuple[RelayApp, httpx.AsyncClient],
) -> None:
    _, http = relay
    # The guard's counters are process-wide (other tests count too): compare before and after.
    before = (await http.get("/health")).json()
    await asyncio.gather(*(http.post("/messages", json={"text": f"m{i}"}) for i in range(20)))
    after = (await http.get("/health")).json()
    guard, was = after["guard"], before["guard"]
    assert guard["mode"] is not None
    assert guard["actions"] - was["actions"] >= 20
    assert guard["overlaps"] == was["overlaps"] and guard["unguarded"] == was["unguarded"]
    assert guard["holder"] is None and guard["waiting"] == 0
    assert after["lock_wait"]["samples"] - before["lock_wait"]["samples"] == 20
    # The owner is the session's claim: this process, as another process would be told.
    owner = after["session"]["owner"]
    assert owner["pid"] == os.getpid()
    assert owner["host"] == socket.gethostname()
    assert owner["started"] is None or owner["started"].endswith("Z")


async def test_the_session_is_claimed_while_serving_and_released_on_shutdown(
    tmp_path: Path,
) -> None:
    settings = Settings(session=str(tmp_path / "claimed"), offline=True)
    app = create_app(lambda: settings)
    async with app.router.lifespan_context(app):
        health = (await _get(app, "/health")).json()
        assert health["session"]["path"] == str((tmp_path / "claimed.session").resolve())
        with pytest.raises(SessionInUseError, match=f"PID {os.getpid()}"):
            claim_session(tmp_path / "claimed.session")
    with claim_session(tmp_path / "claimed.session") as claim:  # free again
        assert not claim.released


async def test_a_taken_session_stops_startup_with_one_clear_line(tmp_path: Path) -> None:
    mode = stats().mode
    app = create_app(lambda: Settings(session=str(tmp_path / "taken.session"), offline=True))
    with claim_session(tmp_path / "taken.session"):
        with pytest.raises(SessionInUseError):
            async with app.router.lifespan_context(app):
                pytest.fail("the relay started on a session someone else holds")
    assert app.startup_error is not None
    assert app.startup_error.startswith("BotFather relay cannot start: SessionInUseError: ")
    assert stats().mode == mode  # what startup installed, it uninstalled
    assert not (tmp_path / "taken.session").exists()  # refused before SQLite opened it


async def _get(app: RelayApp, path: str) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://relay"
    ) as http:
        return await http.get(path)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TELETHON_GUARD_MODE": "paranoid"}, "TELETHON_GUARD_MODE"),
        ({"RELAY_OFFLINE": "0"}, "API_ID and API_HASH"),
        ({"RELAY_OFFLINE": "maybe"}, "RELAY_OFFLINE"),
        ({"RELAY_LATENCY": "fast"}, "RELAY_LATENCY"),
        ({"RELAY_LATENCY": "-1"}, "RELAY_LATENCY"),
        ({"RELAY_REQUEST_TIMEOUT": "0"}, "RELAY_REQUEST_TIMEOUT"),
        ({"API_ID": "twelve", "API_HASH": "0" * 32}, "API_ID"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(env)


def test_settings_defaults() -> None:
    offline = load_settings({})
    assert offline.offline and offline.session == "botfather_relay-offline.session"
    assert offline.guard_mode == "strict" and offline.flood_sleep_threshold == 0
    online = load_settings(
        {"API_ID": "1", "API_HASH": "0" * 32, "TELETHON_GUARD_MODE": " Serialize "}
    )
    assert not online.offline and online.session == "botfather_relay.session"
    assert online.api_id == 1 and online.guard_mode == "serialize"
    forced = load_settings({"API_ID": "1", "API_HASH": "0" * 32, "RELAY_OFFLINE": "1"})
    assert forced.offline and forced.api_hash == ""
