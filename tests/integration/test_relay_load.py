"""The guarded relay under real uvicorn, 500 concurrent mixed HTTP requests, then a clean shutdown."""

from __future__ import annotations

import asyncio
import random
import signal
from typing import Any

import httpx
import pytest

from telethon_guard.testing import FakeTelegram

from .servers import Server, integrity

pytestmark = pytest.mark.slow

N_MESSAGES = 250
N_REPLIES = 100
N_BOTS = 50
N_HEALTH = 100


async def _storm(url: str) -> dict[str, list[tuple[Any, httpx.Response]]]:
    """Fire every request at once; return (what was asked, response) by kind."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=url, timeout=120.0, limits=limits) as http:
        jobs: list[tuple[str, Any, Any]] = []
        for i in range(N_MESSAGES):
            text = f"hello #{i}"
            jobs.append(("message", text, http.post("/messages", json={"text": text})))
        for i in range(N_REPLIES):
            limit = 1 + i % 20
            jobs.append(("replies", limit, http.get("/replies", params={"limit": limit})))
        for i in range(N_BOTS):
            asked = {"name": f"Load Bot {i}", "username": f"load_{i}_bot"}
            jobs.append(("bot", asked, http.post("/bots", json=asked)))
        for _ in range(N_HEALTH):
            jobs.append(("health", None, http.get("/health")))
        # Interleaved, so conversations queue between plain messages whose replies arrive late.
        random.Random(4).shuffle(jobs)
        responses = await asyncio.gather(*(job for _, _, job in jobs))
    by_kind: dict[str, list[tuple[Any, httpx.Response]]] = {}
    for (kind, asked, _), response in zip(jobs, responses, strict=True):
        by_kind.setdefault(kind, []).append((asked, response))
    return by_kind


async def test_500_concurrent_mixed_requests(load_relay: Server) -> None:
    server = load_relay
    results = await _storm(server.url)
    assert sum(map(len, results.values())) == 500

    bad = [
        (kind, asked, r.status_code, r.text)
        for kind, pairs in results.items()
        for asked, r in pairs
        if r.status_code != 200
    ]
    assert not bad, bad[:5]

    sent_ids = [r.json()["id"] for _, r in results["message"]]
    assert len(set(sent_ids)) == N_MESSAGES, "two messages got the same id"
    assert all(r.json()["text"] == text for text, r in results["message"])

    for limit, r in results["replies"]:
        replies = r.json()  # possibly served before any message was sent: maybe empty
        assert len(replies) <= limit
        assert all(not reply["outgoing"] and reply["text"] for reply in replies)

    tokens = set()
    for asked, r in results["bot"]:
        body = r.json()
        assert body["username"] == asked["username"]
        # The token BotFather gave for *this* username, not another conversation's.
        assert body["token"] == FakeTelegram.bot_token(asked["username"])
        tokens.add(body["token"])
    assert len(tokens) == N_BOTS, "two conversations got the same token"

    for _, r in results["health"]:
        assert r.json()["guard"]["overlaps"] == 0

    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        health = (await http.get("/health")).json()
        backend = (await http.get("/debug/backend")).json()
        latest = (await http.get("/replies", params={"limit": 100})).json()

    # BotFather's replies, newest first: its answers to the last messages and conversations.
    assert len(latest) == 100
    assert [r["id"] for r in latest] == sorted((r["id"] for r in latest), reverse=True)
    assert not any(r["outgoing"] for r in latest)

    guard = health["guard"]
    assert guard["mode"] == "strict"
    assert guard["overlaps"] == 0
    assert guard["unguarded"] == 0
    assert guard["deadlocks"] == 0
    assert guard["holder"] is None and guard["waiting"] == 0
    # Every message, reply query and conversation step is at least one user action.
    assert guard["actions"] >= N_MESSAGES + N_REPLIES + 3 * N_BOTS
    assert health["session"]["owner"]["pid"] == server.pid

    # The fake Telegram's own log: each text sent exactly once, never two requests in flight.
    sent = backend["sent_texts"]
    for i in range(N_MESSAGES):
        assert sent.get(f"hello #{i}") == 1, f"hello #{i} sent {sent.get(f'hello #{i}')} times"
    for i in range(N_BOTS):
        assert sent.get(f"load_{i}_bot") == 1
        assert sent.get(f"Load Bot {i}") == 1
    assert sent.get("/newbot") == N_BOTS
    assert backend["max_in_flight"] == 1
    assert backend["in_flight"] == 0

    log = server.log()
    assert "database is locked" not in log
    assert "Traceback" not in log


async def test_bad_requests_get_clear_4xx(load_relay: Server) -> None:
    server = load_relay
    async with httpx.AsyncClient(base_url=server.url) as http:
        cases = [
            await http.post("/messages", json={}),
            await http.post("/messages", json={"text": ""}),
            await http.post("/messages", json={"text": "   "}),
            await http.post(
                "/messages", content=b"not json", headers={"content-type": "application/json"}
            ),
            await http.get("/replies", params={"limit": 0}),
            await http.get("/replies", params={"limit": 101}),
            await http.get("/replies", params={"limit": "many"}),
            await http.post("/bots", json={"name": "x", "username": "no_suffix"}),
            await http.post("/bots", json={"name": "", "username": "fine_bot"}),
            await http.post("/bots", json={"username": "fine_bot"}),
        ]
        for r in cases:
            assert r.status_code == 422, (r.request.url, r.text)
            assert r.json()["detail"], r.text
        health = (await http.get("/health")).json()
    assert "Traceback" not in server.log()
    assert health["guard"]["unguarded"] == 0


async def test_botfather_refusal_is_409_not_500(load_relay: Server) -> None:
    server = load_relay
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        first = await http.post("/bots", json={"name": "Twice", "username": "twice_taken_bot"})
        second = await http.post("/bots", json={"name": "Twice", "username": "twice_taken_bot"})
    assert first.status_code == 200, first.text
    assert second.status_code == 409, second.text
    assert second.json()["error"] == "BotFatherRefused"
    assert second.json()["reply"].lower().startswith("sorry")


def test_sigint_shuts_down_cleanly_and_session_is_intact(load_relay: Server) -> None:
    server = load_relay
    assert server.stop(signal.SIGINT) == 0, server.log()
    log = server.log()
    assert "Application shutdown complete" in log
    assert "saved and released" in log
    assert "database is locked" not in log
    assert "Traceback" not in log
    assert server.session is not None
    check, usernames = integrity(server.session)
    assert check == "ok"
    assert "botfather" in [name.lower() for name in usernames]
