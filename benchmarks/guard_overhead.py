"""Per-action cost of the telethon-guard modes, side by side in one run (not a test).

    .venv/bin/python benchmarks/guard_overhead.py            # full run (about a minute)
    .venv/bin/python benchmarks/guard_overhead.py --quick    # smoke run

Every variant makes the same Telethon action -- ``await client(GetStateRequest())`` on a real
``TelegramClient`` with a real SQLite session -- through:

* ``unpatched``       Telethon as is, no lock;
* ``asyncio.Lock``    Telethon as is, a bare ``asyncio.Lock`` around each call (the baseline);
* ``telethon_lock``   Telethon as is, ``async with telethon_lock:`` around each call;
* ``strict`` / ``detect`` / ``warn``   the guard installed, ``telethon_lock`` around each call;
* ``serialize``       the guard installed, no lock in user code: the guard takes ``telethon_lock``.

Two back ends: ``fake`` is ``telethon_guard.testing.FakeTelegram`` with zero latency (each answer comes
back on a later loop iteration, as from a socket); ``instant`` answers inside ``send()`` (an already
completed future), which leaves only the CPU cost of ``_call``, the guard and the lock. Each cell is the
median over ``--runs`` rounds (variants interleaved in every round, so drift hits all alike) of
ns/action in CPU time of the process (``--wall`` for wall-clock time), with 1, 4 and 64 tasks sharing the actions. ``+ns`` is the cost over the ``asyncio.Lock``
baseline; the target is at most 2,000 ns for an uncontended action.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from telethon import TelegramClient, functions, types

import telethon_guard
from telethon_guard import telethon_lock
from telethon_guard.testing import FakeTelegram

VARIANTS = ("unpatched", "asyncio.Lock", "telethon_lock", "strict", "detect", "warn", "serialize")
BASELINE = "asyncio.Lock"

# CPU time of this process: the event loop is one thread, so this is the work done, and other
# processes competing for the cores (a loaded CI box) do not inflate it. --wall switches to wall time.
_clock = time.process_time_ns


def make_instant(client: TelegramClient) -> None:
    """Answer every request inside ``send()``: ``_call``'s ``await future`` then never suspends."""
    state = types.updates.State(
        pts=1, qts=0, date=datetime.datetime.now(tz=datetime.timezone.utc), seq=1, unread_count=0
    )
    loop = asyncio.get_running_loop()

    def send(request: Any, ordered: bool = False) -> asyncio.Future[Any]:
        future = loop.create_future()
        future.set_result(state)
        return future

    client._sender.send = send


def action_for(variant: str, client: TelegramClient) -> Callable[[], Awaitable[Any]]:
    request = functions.updates.GetStateRequest()
    if variant == "asyncio.Lock":
        bare = asyncio.Lock()

        async def locked_bare() -> Any:
            async with bare:
                return await client(request)

        return locked_bare
    if variant in ("unpatched", "serialize"):

        async def plain() -> Any:
            return await client(request)

        return plain

    async def locked() -> Any:
        async with telethon_lock:
            return await client(request)

    return locked


async def run_variant(variant: str, client: TelegramClient, actions: int, tasks: int) -> float:
    """ns per action for ``actions`` actions shared by ``tasks`` concurrent tasks."""
    if variant in ("strict", "detect", "warn", "serialize"):
        telethon_guard.install(variant, check_deployment=False, claim_sessions=False)
    try:
        action = action_for(variant, client)
        per_task = actions // tasks

        async def worker() -> None:
            for _ in range(per_task):
                await action()

        gc.collect()
        gc.disable()  # a collection landing in one cell and not another is noise, not cost
        try:
            start = _clock()
            await asyncio.gather(*(worker() for _ in range(tasks)))
            elapsed = _clock() - start
        finally:
            gc.enable()
    finally:
        telethon_guard.uninstall()
    return elapsed / (per_task * tasks)


async def measure(
    backend_kind: str, actions: int, runs: int, task_counts: list[int], session: Path
) -> dict[tuple[str, int], float]:
    fake = FakeTelegram(latency=0.0)
    client = fake.client(session)
    await client.connect()
    try:
        if backend_kind == "instant":
            make_instant(client)
        samples: dict[tuple[str, int], list[float]] = {}
        for variant in VARIANTS:  # warm-up: caches, code paths, the session's statements
            await run_variant(variant, client, min(actions, 500), 1)
        for _ in range(runs):
            for tasks in task_counts:
                for variant in VARIANTS:
                    ns = await run_variant(variant, client, actions, tasks)
                    samples.setdefault((variant, tasks), []).append(ns)
                    fake.requests.clear()  # the fake's request log would grow without bound
        return {key: statistics.median(values) for key, values in samples.items()}
    finally:
        await client.disconnect()


def table(backend_kind: str, result: dict[tuple[str, int], float], task_counts: list[int]) -> str:
    head = "| variant | " + " | ".join(
        f"{n} task{'s' if n > 1 else ''}: ns/action (x, +ns)" for n in task_counts
    )
    lines = [
        f"backend: {backend_kind}",
        head + " |",
        "|---|" + "---|" * len(task_counts),
    ]
    for variant in VARIANTS:
        cells = []
        for n in task_counts:
            ns = result[(variant, n)]
            base = result[(BASELINE, n)]
            cells.append(f"{ns:,.0f} ({ns / base:.2f}x, {ns - base:+,.0f})")
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--actions", type=int, default=4096, help="actions per cell and run")
    parser.add_argument("--runs", type=int, default=7, help="rounds; each cell is their median")
    parser.add_argument("--tasks", default="1,4,64", help="comma-separated task counts")
    parser.add_argument("--backend", choices=("fake", "instant", "both"), default="both")
    parser.add_argument("--wall", action="store_true", help="wall-clock time instead of CPU time")
    parser.add_argument("--quick", action="store_true", help="a smoke run (few actions, 3 rounds)")
    args = parser.parse_args(argv)
    if args.quick:
        args.actions, args.runs = 256, 3
    if args.wall:
        global _clock
        _clock = time.perf_counter_ns
    task_counts = [int(n) for n in args.tasks.split(",")]
    kinds = ("fake", "instant") if args.backend == "both" else (args.backend,)
    print(
        f"Python {sys.version.split()[0]}, {args.actions} actions per cell, "
        f"median of {args.runs} runs, {'wall' if args.wall else 'CPU'} time; "
        "+ns is the cost over a bare asyncio.Lock"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            result = asyncio.run(
                measure(kind, args.actions, args.runs, task_counts, Path(tmp) / f"{kind}.session")
            )
            print()
            print(table(kind, result, task_counts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
