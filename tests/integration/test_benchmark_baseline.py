"""The load benchmark's baseline (``benchmarks/_relay_unguarded.py``) is what it claims to be: the same
relay with no lock, so its Telegram requests really overlap -- which the guarded relay's never do
(``test_relay_load.py``: at most one in flight)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from .servers import Server

pytestmark = pytest.mark.slow


async def test_the_baseline_runs_telethon_actions_concurrently(baseline_relay: Server) -> None:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    texts = [f"baseline #{i}" for i in range(10)]
    async with httpx.AsyncClient(base_url=baseline_relay.url, timeout=30, limits=limits) as http:
        responses = await asyncio.gather(*(http.post("/messages", json={"text": t}) for t in texts))
        backend = (await http.get("/debug/backend")).json()
        health = (await http.get("/health")).json()
    assert [r.status_code for r in responses] == [200] * len(texts)
    assert all(backend["sent_texts"].get(t) == 1 for t in texts)
    # 200 ms per request and ten requests at once: without the lock they are in flight together.
    assert backend["max_in_flight"] > 1, backend
    assert health["guard"]["mode"] is None  # the guard is off: it would refuse the overlaps
    assert health["offline"] is True
