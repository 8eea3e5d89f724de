"""Load benchmark of the BotFather relay: guarded vs unguarded, side by side in one run.

For each backend latency (0, 5 and 50 ms) it starts real relays (``python -m examples.botfather_relay``,
offline, one uvicorn worker) on the same fake Telegram settings:

* **guarded** -- ``TELETHON_GUARD_MODE=strict``, every action under ``telethon_lock``;
* **unguarded** -- the same app served by ``benchmarks/_relay_unguarded.py``: no guard, and the lock
  replaced by a no-op (what the service did before; offline only);
* at 0 ms also **lock-only** -- ``TELETHON_GUARD_MODE=off``: the lock without the Telethon patch,
  which splits the guarded relay's cost into serialisation (lock-only vs unguarded) and the guard's
  own bookkeeping (guarded vs lock-only);

(all three claim the session file once, at startup: that costs nothing per request);

and drives each with 1, 10, 100 and 1,000 concurrent HTTP clients (closed loop: each client sends
``POST /messages`` again as soon as it has its answer; every message is one Telegram request). The
variants alternate cell by cell; 0 ms cells run ``--repeats`` times and report the median req/s.

Reported per cell: requests/s, p50/p99 latency as the HTTP client sees it, p99 lock wait (measured in
the relay around ``async with telethon_lock``), the fraction of the serial ceiling ``1/latency`` the
guarded relay reaches, and the guarded relay's req/s divided by each other variant's.

    .venv/bin/python benchmarks/relay_load.py            # the full table, a few minutes
    .venv/bin/python benchmarks/relay_load.py --quick    # a quarter of the requests per cell
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
LATENCIES_S = (0.0, 0.005, 0.05)
CONCURRENCY = (1, 10, 100, 1000)
# Requests per cell (at least one per client): fewer where the serial ceiling is low.
REQUESTS = {0.0: 400, 0.005: 400, 0.05: 100}
VARIANTS = ("guarded", "unguarded")


@dataclass
class Cell:
    variant: str
    latency_s: float
    clients: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    lock_p99_ms: float | None
    errors: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Relay:
    def __init__(self, variant: str, latency_s: float, workdir: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RELAY_", "API_"))}
        env.update(
            PYTHONPATH=str(REPO),
            RELAY_OFFLINE="1",
            RELAY_LATENCY=str(latency_s),
            RELAY_SESSION=str(workdir / f"{variant}-{latency_s}.session"),
            TELETHON_GUARD_MODE="strict",
            # Measure queueing, not the relay's 30 s default deadline (1,000 clients at 50 ms queue
            # for 50 s behind the one lock).
            RELAY_REQUEST_TIMEOUT="600",
        )
        if variant == "lock-only":
            env["TELETHON_GUARD_MODE"] = "off"
        if variant == "unguarded":
            launcher = [str(REPO / "benchmarks" / "_relay_unguarded.py")]
        else:
            launcher = ["-m", "examples.botfather_relay"]
        self.log = open(workdir / f"{variant}-{latency_s}.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, *launcher, "--port", str(self.port), "--log-level", "warning"],
            cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    async def ready(self) -> None:
        async with httpx.AsyncClient(base_url=self.url) as http:
            for _ in range(600):
                if self.proc.poll() is not None:
                    raise RuntimeError(f"relay exited: see {self.log.name}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/health")).status_code == 200:
                        return
                await asyncio.sleep(0.05)
        raise RuntimeError(f"relay not ready: see {self.log.name}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class _Run:
    seconds: float
    latencies: list[float]
    lock_waits: list[float]
    errors: int


async def _drain_waits(relay: Relay) -> list[float]:
    # A fresh connection: pooled ones may have idled past uvicorn's keep-alive timeout.
    async with httpx.AsyncClient(base_url=relay.url, timeout=60) as http:
        r = await http.get("/debug/backend", params={"drain_waits": "true"})
        waits: list[float] = r.json().get("lock_waits_s") or []
    return waits


async def _drive(relay: Relay, clients: int, total: int, tag: str) -> _Run:
    """``clients`` closed-loop clients share ``total`` POST /messages; returns what they saw."""
    await _drain_waits(relay)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))
    async with httpx.AsyncClient(base_url=relay.url, timeout=900, limits=limits) as http:

        async def client(cid: int) -> None:
            nonlocal errors
            for n in counter:
                started = time.perf_counter()
                try:
                    r = await http.post("/messages", json={"text": f"{tag} {cid} #{n}"})
                except httpx.TransportError:
                    errors += 1
                    continue
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(clients)))
        seconds = time.perf_counter() - started
    return _Run(seconds, latencies, await _drain_waits(relay), errors)


def _cell(variant: str, latency_s: float, clients: int, runs: list[_Run]) -> Cell:
    latencies = [x for run in runs for x in run.latencies]
    waits = [x for run in runs for x in run.lock_waits]
    return Cell(
        variant=variant,
        latency_s=latency_s,
        clients=clients,
        requests=len(latencies),
        rps=statistics.median(len(run.latencies) / run.seconds for run in runs),
        p50_ms=statistics.median(latencies) * 1000 if latencies else float("nan"),
        p99_ms=_pct(latencies, 0.99) * 1000 if latencies else float("nan"),
        lock_p99_ms=_pct(waits, 0.99) * 1000 if variant != "unguarded" and waits else None,
        errors=sum(run.errors for run in runs),
    )


async def run(quick: bool, repeats: int) -> list[Cell]:
    cells: list[Cell] = []
    with tempfile.TemporaryDirectory(prefix="relay_load-") as tmp:
        for latency_s in LATENCIES_S:
            variants = ("guarded", "lock-only", "unguarded") if latency_s == 0 else VARIANTS
            relays = {v: Relay(v, latency_s, Path(tmp)) for v in variants}
            try:
                await asyncio.gather(*(r.ready() for r in relays.values()))
                for relay in relays.values():  # the first requests resolve and cache the peer
                    await _drive(relay, 1, 5, "warm-up")
                for clients in CONCURRENCY:
                    base = REQUESTS[latency_s] // (4 if quick else 1)
                    total = max(clients, base)
                    # Side by side: the variants alternate, so drift (CPU heat, other load) hits
                    # both; at 0 ms, where the difference is the guard's own cost, several times.
                    n = repeats if latency_s == 0 else 1
                    runs: dict[str, list[_Run]] = {v: [] for v in relays}
                    for i in range(n):
                        for variant, relay in relays.items():
                            tag = f"c{clients} r{i}"
                            runs[variant].append(await _drive(relay, clients, total, tag))
                    for variant in relays:
                        cells.append(_cell(variant, latency_s, clients, runs[variant]))
                        print(_row(cells[-1], cells), flush=True)
            finally:
                for relay in relays.values():
                    relay.stop()
    return cells


HEADER = (
    "| latency | clients | variant   | requests | req/s   | p50 ms  | p99 ms   | p99 lock wait ms "
    "| of 1/latency | guarded req/s ÷ this |\n"
    "|--------:|--------:|-----------|---------:|--------:|--------:|---------:|-----------------:"
    "|-------------:|---------------------:|"
)


def _row(cell: Cell, cells: list[Cell]) -> str:
    ceiling = f"{cell.rps * cell.latency_s:6.1%}" if cell.latency_s else "   n/a"
    ratio = ""
    if cell.variant != "guarded":
        guarded = next(
            c for c in cells
            if c.variant == "guarded" and c.latency_s == cell.latency_s and c.clients == cell.clients
        )  # fmt: skip
        ratio = f"{guarded.rps / cell.rps:.2f}"
    lock = f"{cell.lock_p99_ms:.1f}" if cell.lock_p99_ms is not None else "-"
    errors = f" ({cell.errors} errors)" if cell.errors else ""
    return (
        f"| {cell.latency_s * 1000:5.0f} ms | {cell.clients:7d} | {cell.variant:9s} | "
        f"{cell.requests:8d} | {cell.rps:7.1f} | {cell.p50_ms:7.1f} | {cell.p99_ms:8.1f} | "
        f"{lock:>16s} | {ceiling if cell.variant == 'guarded' else '':>12s} | {ratio:>20s} |{errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the requests per cell")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per 0 ms cell, median reported (default 3)"
    )
    args = parser.parse_args()
    print(f"relay_load: python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print(HEADER, flush=True)
    started = time.perf_counter()
    cells = asyncio.run(run(args.quick, max(1, args.repeats)))
    print(f"\n{len(cells)} cells in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
