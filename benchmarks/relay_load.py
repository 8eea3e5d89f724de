"""Load benchmark of the BotFather relay: guarded vs unguarded, side by side in one run.

For each backend latency (0, 5 and 50 ms) it starts two real relays (``python -m
examples.botfather_relay``, offline, one uvicorn worker) on the same fake Telegram settings:

* **guarded** -- ``TELETHON_GUARD_MODE=strict``, every action under ``telethon_lock``;
* **unguarded** -- ``RELAY_UNGUARDED=1``: no guard, no lock (what the service did before; offline only).

and drives each with 1, 10, 100 and 1,000 concurrent HTTP clients (closed loop: each client sends
``POST /messages`` again as soon as it has its answer). Every message is one Telegram request.

Reported per cell: requests/s, p50/p99 latency as the HTTP client sees it, p99 lock wait (measured in
the relay around ``async with telethon_lock``), the fraction of the serial ceiling ``1/latency`` the
guarded relay reaches, and the guarded/unguarded throughput ratio (the guard's cost at 0 ms).

    .venv/bin/python benchmarks/relay_load.py            # the full table, a few minutes
    .venv/bin/python benchmarks/relay_load.py --quick    # fewer requests per cell
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
REQUESTS = {0.0: 2000, 0.005: 600, 0.05: 100}


@dataclass
class Cell:
    variant: str
    latency_s: float
    clients: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    lock_p99_ms: float | None
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


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
        )
        if variant == "unguarded":
            env["RELAY_UNGUARDED"] = "1"
        self.log = open(workdir / f"{variant}-{latency_s}.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "examples.botfather_relay", "--port", str(self.port),
             "--log-level", "warning"],
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


async def _cell(relay: Relay, variant: str, latency_s: float, clients: int, total: int) -> Cell:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=relay.url, timeout=300, limits=limits) as http:
        await http.get("/debug/backend", params={"drain_waits": "true"})
        latencies: list[float] = []
        errors = 0
        counter = iter(range(total))

        async def client(cid: int) -> None:
            nonlocal errors
            for n in counter:
                started = time.perf_counter()
                r = await http.post("/messages", json={"text": f"c{clients} {cid} #{n}"})
                latencies.append(time.perf_counter() - started)
                if r.status_code != 200:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(clients)))
        seconds = time.perf_counter() - started
        waits = (await http.get("/debug/backend", params={"drain_waits": "true"})).json()
    lock_waits = waits.get("lock_waits_s") or []
    return Cell(
        variant=variant,
        latency_s=latency_s,
        clients=clients,
        requests=len(latencies),
        seconds=seconds,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=_pct(latencies, 0.99) * 1000,
        lock_p99_ms=_pct(lock_waits, 0.99) * 1000 if variant == "guarded" and lock_waits else None,
        errors=errors,
    )


async def run(quick: bool) -> list[Cell]:
    cells: list[Cell] = []
    with tempfile.TemporaryDirectory(prefix="relay_load-") as tmp:
        for latency_s in LATENCIES_S:
            relays = {v: Relay(v, latency_s, Path(tmp)) for v in ("guarded", "unguarded")}
            try:
                await asyncio.gather(*(r.ready() for r in relays.values()))
                for clients in CONCURRENCY:
                    base = REQUESTS[latency_s] // (4 if quick else 1)
                    total = max(clients, base)
                    for variant, relay in relays.items():  # side by side, same conditions
                        # Warm-up: first requests resolve and cache the peer.
                        await _cell(relay, variant, latency_s, 1, 5)
                        cell = await _cell(relay, variant, latency_s, clients, total)
                        cells.append(cell)
                        print(_row(cell, cells), flush=True)
            finally:
                for relay in relays.values():
                    relay.stop()
    return cells


HEADER = (
    "| latency | clients | variant   | requests | req/s   | p50 ms  | p99 ms   | p99 lock wait ms "
    "| of 1/latency | guarded/unguarded |\n"
    "|--------:|--------:|-----------|---------:|--------:|--------:|---------:|-----------------:"
    "|-------------:|------------------:|"
)


def _row(cell: Cell, cells: list[Cell]) -> str:
    ceiling = f"{cell.rps * cell.latency_s:6.1%}" if cell.latency_s else "   n/a"
    ratio = ""
    if cell.variant == "unguarded":
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
        f"{lock:>16s} | {ceiling if cell.variant == 'guarded' else '':>12s} | {ratio:>17s} |{errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the requests per cell")
    args = parser.parse_args()
    print(f"relay_load: python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print(HEADER, flush=True)
    started = time.perf_counter()
    cells = asyncio.run(run(args.quick))
    print(f"\n{len(cells)} cells in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
