"""HTTP clients that give up mid-request never leave telethon_lock held, and the relay keeps serving."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from .servers import Server

pytestmark = pytest.mark.slow


async def _impatient(
    http: httpx.AsyncClient, method: str, path: str, timeout: float, **kw: Any
) -> str:
    try:
        response = await http.request(method, path, timeout=timeout, **kw)
    except httpx.TimeoutException:
        return "gave up"
    return f"answered {response.status_code}"


async def _leave_mid_conversation(http: httpx.AsyncClient, i: int) -> str:
    """``POST /bots``, hanging up as soon as BotFather has the new bot's name: mid-conversation."""
    name = f"Impatient {i}"
    body = {"name": name, "username": f"impatient_{i}_bot"}
    request = asyncio.ensure_future(http.post("/bots", json=body, timeout=60))
    try:
        while not request.done():
            if name in (await http.get("/debug/backend")).json()["sent_texts"]:
                return "left mid-conversation"
            await asyncio.sleep(0.01)
        return f"answered {request.result().status_code}"
    finally:
        request.cancel()  # closes its connection: the server sees the client go


async def _idle_health(http: httpx.AsyncClient) -> dict[str, Any]:
    """/health once the cancelled requests have unwound (polled: the server finishes them on its own)."""
    deadline = time.monotonic() + 15
    while True:
        health: dict[str, Any] = (await http.get("/health")).json()
        guard = health["guard"]
        if (guard["holder"] is None and guard["waiting"] == 0) or time.monotonic() > deadline:
            return health
        await asyncio.sleep(0.05)


async def test_clients_giving_up_never_leave_the_lock_held(cancel_relay: Server) -> None:
    url = cancel_relay.url
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=url, limits=limits) as http:
        jobs = []
        # Impatient clients: timeouts shorter than the queue ahead of them, so many give up while
        # waiting for the lock and some while their Telegram request is in flight.
        for i in range(60):
            timeout = 0.02 + (i % 12) * 0.03
            jobs.append(
                _impatient(http, "POST", "/messages", timeout, json={"text": f"impatient #{i}"})
            )
        for i in range(20):
            jobs.append(_impatient(http, "GET", "/replies", 0.02 + i * 0.02, params={"limit": 5}))
        for i in range(4):
            jobs.append(_leave_mid_conversation(http, i))
        # Patient clients in the same storm: all must be answered.
        for i in range(10):
            jobs.append(_impatient(http, "POST", "/messages", 60, json={"text": f"patient #{i}"}))
        outcomes = await asyncio.gather(*jobs)

        # The scenario really happened.
        assert outcomes.count("gave up") >= 20, outcomes
        assert "left mid-conversation" in outcomes[80:84], outcomes[80:84]
        assert all(o == "answered 200" for o in outcomes[-10:]), outcomes[-10:]

        health = await _idle_health(http)
        guard = health["guard"]
        assert guard["holder"] is None, guard
        assert guard["holder_site"] is None, guard
        assert guard["waiting"] == 0, guard
        assert guard["overlaps"] == 0 and guard["unguarded"] == 0 and guard["deadlocks"] == 0

        # Still serving, conversations included.
        sent = await http.post("/messages", json={"text": "after the storm"}, timeout=30)
        assert sent.status_code == 200, sent.text
        bot = await http.post(
            "/bots", json={"name": "After", "username": "after_storm_bot"}, timeout=30
        )
        assert bot.status_code == 200, bot.text
        replies = await http.get("/replies", params={"limit": 3}, timeout=30)
        assert replies.status_code == 200, replies.text

        backend = (await http.get("/debug/backend")).json()
        after = (await http.get("/health")).json()["guard"]

    assert after["acquisitions"] > guard["acquisitions"]
    assert after["holder"] is None and after["waiting"] == 0
    # A cancelled request sent its text once or not at all -- never twice; the backend never saw two
    # requests at once; nothing is left in flight.
    twice = {t: n for t, n in backend["sent_texts"].items() if n != 1 and t != "/newbot"}
    assert not twice, twice
    # Requests whose client left while they waited for the lock were dropped, not sent late.
    unsent = [i for i in range(60) if f"impatient #{i}" not in backend["sent_texts"]]
    assert len(unsent) >= 10, unsent
    assert backend["max_in_flight"] == 1
    assert backend["in_flight"] == 0
    for i in range(4):
        # /bots is not cancelled when its client leaves: BotFather never sees half a conversation.
        assert backend["sent_texts"].get(f"impatient_{i}_bot") == 1
    assert backend["sent_texts"].get("/newbot") == 5
    log = cancel_relay.log()
    assert "Traceback" not in log
    assert "database is locked" not in log


async def test_server_deadline_cancels_waiters_and_keeps_serving(deadline_relay: Server) -> None:
    """More queued work than RELAY_REQUEST_TIMEOUT allows: the late ones get 504, nothing breaks."""
    deadline_s = float(deadline_relay.env["RELAY_REQUEST_TIMEOUT"])
    latency_s = float(deadline_relay.env["RELAY_LATENCY"])
    n = int(1.5 * deadline_s / latency_s)  # more than the deadline lets through
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=deadline_relay.url, limits=limits, timeout=60) as http:
        texts = [f"deadline #{i}" for i in range(n)]
        responses = await asyncio.gather(*(http.post("/messages", json={"text": t}) for t in texts))
        statuses = [r.status_code for r in responses]
        assert set(statuses) == {200, 504}, statuses
        assert all(r.json()["error"] == "RequestTimeout" for r in responses if r.status_code == 504)

        health = await _idle_health(http)
        backend = (await http.get("/debug/backend")).json()
        again = await http.post("/messages", json={"text": "after the deadline"})

    guard = health["guard"]
    assert guard["holder"] is None and guard["waiting"] == 0, guard
    assert guard["overlaps"] == 0 and guard["unguarded"] == 0
    assert again.status_code == 200, again.text
    sent = backend["sent_texts"]
    for text, r in zip(texts, responses, strict=True):
        # Answered: sent exactly once. Timed out: cancelled while queued (never sent) or, if it was
        # already in flight, finished in the background -- at most once either way.
        assert sent.get(text, 0) == (1 if r.status_code == 200 else sent.get(text, 0))
        assert sent.get(text, 0) <= 1
    assert backend["max_in_flight"] == 1
