"""``python -m examples.botfather_relay demo``: the guarded relay under concurrent load, offline.

Serves the relay with real uvicorn on 127.0.0.1 (one worker, no reload, a free port) on
``telethon_guard.testing``'s fake Telegram, fires concurrent mixed requests at it (messages, reply
queries, ``/newbot`` conversations, health checks), checks every answer, prints what happened and the
guard's statistics, stops the server and checks the session file. Needs no Telegram account; leaves no
file behind (the session lives in a temporary directory unless ``RELAY_SESSION`` is set).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import uvicorn


def _check(ok: bool) -> str:
    return "yes" if ok else "NO"


async def _fire(url: str, requests: int) -> tuple[bool, list[str]]:
    """Send ``requests`` concurrent mixed requests; return (all correct, report lines)."""
    n_bots = max(1, requests // 10)
    n_replies = max(1, requests // 5)
    n_health = max(1, requests // 10)
    n_messages = max(1, requests - n_bots - n_replies - n_health)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        jobs: list[tuple[str, Any, Any]] = []
        jobs += [
            ("POST /messages", f"demo message #{i}", http.post("/messages", json={"text": f"demo message #{i}"}))
            for i in range(n_messages)
        ]  # fmt: skip
        jobs += [
            ("GET /replies", None, http.get("/replies", params={"limit": 1 + i % 10}))
            for i in range(n_replies)
        ]
        jobs += [
            ("POST /bots", f"demo_{i}_bot", http.post("/bots", json={"name": f"Demo Bot {i}", "username": f"demo_{i}_bot"}))
            for i in range(n_bots)
        ]  # fmt: skip
        jobs += [("GET /health", None, http.get("/health")) for _ in range(n_health)]
        # Interleave the endpoints (deterministically), then send everything at once.
        jobs = jobs[::3] + jobs[1::3] + jobs[2::3]
        started = time.perf_counter()
        responses = await asyncio.gather(*(job for _, _, job in jobs))
        elapsed = time.perf_counter() - started
        health = (await http.get("/health")).json()
        backend = (await http.get("/debug/backend")).json()

    from telethon_guard.testing import FakeTelegram

    statuses = Counter(r.status_code for r in responses)
    kinds = Counter(kind for kind, _, _ in jobs)
    ids = [
        r.json()["id"]
        for (k, _, _), r in zip(jobs, responses, strict=True)
        if k == "POST /messages"
    ]
    tokens_ok = all(
        r.status_code == 200 and r.json()["token"] == FakeTelegram.bot_token(asked)
        for (k, asked, _), r in zip(jobs, responses, strict=True)
        if k == "POST /bots"
    )
    sent = backend["sent_texts"]
    once = all(sent.get(f"demo message #{i}") == 1 for i in range(n_messages))
    guard = health["guard"]
    wait = health["lock_wait"]
    owner = health["session"]["owner"]
    example = next(
        (r.json() for (k, _, _), r in zip(jobs, responses, strict=True) if k == "POST /bots"), None
    )
    all_ok = (
        set(statuses) == {200}
        and len(set(ids)) == len(ids)
        and once
        and tokens_ok
        and backend["max_in_flight"] == 1
        and guard["overlaps"] == 0
        and guard["unguarded"] == 0
    )
    answered = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
    lines = [
        f"{len(jobs)} concurrent requests in {elapsed:.1f} s: {answered}",
        "  HTTP statuses: " + ", ".join(f"{n} x {code}" for code, n in sorted(statuses.items())),
        f"  sent message ids distinct: {_check(len(set(ids)) == len(ids))}; each text sent exactly "
        f"once: {_check(once)}; each token belongs to the username asked: {_check(tokens_ok)}",
        f"  fake Telegram: {sum(backend['requests'].values())} requests, at most "
        f"{backend['max_in_flight']} in flight at once",
        f"  guard ({guard['mode']}): {guard['actions']} Telethon actions, {guard['overlaps']} overlaps, "
        f"{guard['unguarded']} unguarded, {guard['deadlocks']} deadlocks; lock wait p50 "
        f"{wait['p50_ms']:.1f} ms, p99 {wait['p99_ms']:.1f} ms; longest hold "
        f"{guard['max_hold_s'] * 1000:.1f} ms",
        f"  session owner: PID {owner['pid']} on {owner['host']}, started {owner['started'] or '?'}",
    ]
    if example is not None:
        lines.append(f"  e.g. POST /bots -> {example}")
    return all_ok, lines


async def _demo(requests: int) -> int:
    from .app import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
        url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(create_app(), log_level="warning", workers=1, reload=False)
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if serving.done():
                serving.result()  # startup failed: the reason is in the log above
                return 1
            await asyncio.sleep(0.01)
        latency = float(os.environ.get("RELAY_LATENCY", "0"))
        print(
            f"BotFather relay demo: offline (telethon_guard.testing's fake Telegram, "
            f"latency {latency * 1000:g} ms), {url}, PID {os.getpid()}, one worker, no reload"
        )
        try:
            ok, lines = await _fire(url, requests)
            print("\n".join(lines), flush=True)
        finally:
            server.should_exit = True
            await serving
    session = os.environ["RELAY_SESSION"]
    with contextlib.closing(sqlite3.connect(session)) as db:
        check = db.execute("PRAGMA integrity_check").fetchone()[0]
        cached = [row[0] for row in db.execute("SELECT username FROM entities") if row[0]]
    print(
        f"stopped; session file {Path(session).name}: integrity {check}, "
        f"cached entities: {', '.join(cached) or 'none'}"
    )
    ok = ok and check == "ok"
    print("all good" if ok else "SOMETHING WENT WRONG: see above")
    return 0 if ok else 1


def run(requests: int = 200) -> int:
    """Run the demo; returns the process exit status."""
    os.environ["RELAY_OFFLINE"] = "1"
    os.environ.setdefault("RELAY_LATENCY", "0.005")
    with tempfile.TemporaryDirectory(prefix="botfather-relay-demo-") as tmp:
        os.environ.setdefault("RELAY_SESSION", str(Path(tmp) / "demo.session"))
        return asyncio.run(_demo(requests))


if __name__ == "__main__":
    sys.exit(run())
