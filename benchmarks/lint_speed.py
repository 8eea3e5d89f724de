"""How fast is ``telethon-guard lint``? Side by side with fixit, ruff and bare libcst parsing.

Usage::

    .venv/bin/python benchmarks/lint_speed.py [--modules 200] [--repeat 3] [--skip-fixit]

Two corpora, built in a temporary directory:

(a) Telethon service code: ``examples/`` plus ``--modules`` generated service modules (clients,
    handlers, locks, helpers across modules, FastAPI endpoints and plain logic);
(b) a large ordinary tree: the installed sources of fastapi, starlette, pydantic, uvicorn, httpx
    and libcst.

For each: this linter cold (``--no-cache``) with ``--jobs 1`` and with every core, a cached re-run,
``fixit lint``, ``ruff check --select ASYNC --no-cache`` and bare ``libcst.parse_module`` of every
file (in one process, after imports); then the one-file latency of each tool. Wall-clock seconds
are the best of ``--repeat`` runs; every tool runs in the same session, so ratios are comparable
even on a busy machine. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PACKAGES = ("fastapi", "starlette", "pydantic", "uvicorn", "httpx", "libcst")

PARSE_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    import libcst
    files = []
    for root, dirs, names in os.walk(sys.argv[1]):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        files += [os.path.join(root, n) for n in names if n.endswith(".py")]
    sources = [open(f, encoding="utf-8").read() for f in files]
    start, cpu = time.perf_counter(), time.process_time()
    for source in sources:
        libcst.parse_module(source)
    print(time.perf_counter() - start, time.process_time() - cpu)
    """
)


# --- corpora --------------------------------------------------------------------------------

_SERVICE = '''\
"""Generated service module {n}."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, HTTPException
from telethon import TelegramClient, events
from telethon_guard import telethon_lock

from svc.tg import client
from svc.helpers{h} import notify{h}, fetch_recent{h}

log = logging.getLogger(__name__)
router = APIRouter()
SESSION_{n} = "svc-{n}.session"


def render_{n}(items: list[dict[str, object]]) -> str:
    lines = []
    for index, item in enumerate(items):
        text = str(item.get("text", "")).strip()
        if not text:
            continue
        lines.append(f"{{index + 1}}. {{text[:80]}}")
    return "\\n".join(lines) or "(nothing)"


def score_{n}(values: list[int]) -> float:
    if not values:
        return 0.0
    total = sum(v * v for v in values if v > 0)
    return total / len(values) + max(values) - min(values)


@router.post("/send/{n}")
async def send_{n}(text: str) -> dict[str, object]:
    if not text:
        raise HTTPException(status_code=422, detail="empty")
    async with telethon_lock:
        message = await client.send_message("BotFather", text)
    return {{"id": message.id}}


@router.get("/recent/{n}")
async def recent_{n}(limit: int = 10) -> dict[str, object]:
    async with telethon_lock:
        messages = await fetch_recent{h}(limit)
    return {{"text": render_{n}([{{"text": m}} for m in messages])}}


@router.get("/unsafe/{n}")
async def unsafe_{n}() -> dict[str, object]:
    me = await client.get_me()
    await notify{h}("checked")
    return {{"me": getattr(me, "username", None)}}


async def background_{n}() -> None:
    while True:
        async with telethon_lock:
            async for message in client.iter_messages("BotFather", limit=5):
                log.info("seen %s", message.id)
        await asyncio.sleep(60)


@client.on(events.NewMessage(pattern="/ping{n}"))
async def on_ping_{n}(event: events.NewMessage.Event) -> None:
    async with telethon_lock:
        await event.reply("pong {n}")


class Worker{n}:
    def __init__(self, tg: TelegramClient) -> None:
        self.tg = tg
        self.sent = 0

    async def run(self, texts: list[str]) -> int:
        for text in texts:
            async with telethon_lock:
                await self.tg.send_message("me", text)
            self.sent += 1
        return self.sent

    async def careless(self) -> None:
        await self.tg.get_dialogs(limit=3)
'''

_HELPERS = '''\
"""Generated helpers {h}: Telethon actions behind project functions."""

from svc.tg import client


async def notify{h}(text: str) -> None:
    await client.send_message("me", text)


async def fetch_recent{h}(limit: int) -> list[str]:
    return [m.text async for m in client.iter_messages("BotFather", limit=limit)]
'''

_TG = """\
from telethon import TelegramClient

client = TelegramClient("svc", 1, "0" * 32)
"""


def build_service_corpus(root: Path, modules: int) -> Path:
    """examples/ plus generated service modules in the package ``svc``."""
    corpus = root / "service"
    shutil.copytree(
        REPO / "examples",
        corpus / "examples",
        ignore=shutil.ignore_patterns("__pycache__", "*.session*", ".telethon_guard_cache"),
    )
    pkg = corpus / "svc"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "tg.py").write_text(_TG)
    helpers = max(1, modules // 10)
    for h in range(helpers):
        (pkg / f"helpers{h}.py").write_text(_HELPERS.format(h=h))
    rng = random.Random(1)
    for n in range(modules):
        (pkg / f"service{n}.py").write_text(_SERVICE.format(n=n, h=rng.randrange(helpers)))
    return corpus


def build_ordinary_corpus(root: Path) -> Path:
    corpus = root / "ordinary"
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        source = Path(next(iter(spec.submodule_search_locations)))
        for path in source.rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            target = corpus / name / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return corpus


def count_py(path: Path) -> int:
    return sum(1 for p in path.rglob("*.py") if "__pycache__" not in p.parts)


# --- measuring ------------------------------------------------------------------------------


Timing = tuple[float, float]  # (wall seconds, CPU seconds of the process and its children)


def wall(command: list[str], cwd: Path, repeat: int, ok: tuple[int, ...] = (0, 1)) -> Timing:
    """Best wall time of ``repeat`` runs, with the CPU time (user + sys) of that run.

    CPU time is what makes single-process ratios meaningful on a machine shared with other work.
    """
    best: Timing = (float("inf"), float("inf"))
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode not in ok:
            raise RuntimeError(f"{command} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best = min(best, (elapsed, cpu))
    return best


def parse_time(path: Path, repeat: int) -> Timing:
    best: Timing = (float("inf"), float("inf"))
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", PARSE_SCRIPT, str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        elapsed, cpu = (float(x) for x in out.stdout.split())
        best = min(best, (elapsed, cpu))
    return best


def tg(*args: str) -> list[str]:
    return [str(BIN / "telethon-guard"), "lint", "--format", "json", *args]


def measure(corpus: Path, repeat: int, skip_fixit: bool) -> dict[str, Timing]:
    cache = corpus / ".telethon_guard_cache"
    results: dict[str, Timing] = {}
    results["telethon-guard cold, --jobs 1"] = wall(
        tg("--no-cache", "--jobs", "1", "."), corpus, repeat
    )
    results["telethon-guard cold, all cores"] = wall(tg("--no-cache", "."), corpus, repeat)
    shutil.rmtree(cache, ignore_errors=True)
    # Fill, then re-run at once: an edit of any lint_rules module in between (the cache is keyed
    # by the linter's own code) would turn the re-run into a cold run, so retry a few times.
    cached: Timing = (float("inf"), float("inf"))
    for _ in range(3):
        wall(tg("."), corpus, 1)
        cached = min(cached, wall(tg("."), corpus, 1))
    results["telethon-guard cached re-run"] = cached
    results["ruff check --select ASYNC --no-cache"] = wall(
        [str(BIN / "ruff"), "check", "--select", "ASYNC", "--no-cache", "--exit-zero", "."],
        corpus,
        max(repeat, 3),
    )
    if not skip_fixit:
        results["fixit lint"] = wall([str(BIN / "fixit"), "lint", "."], corpus, 1, ok=(0, 1, 2))
    results["bare libcst.parse_module (in-process)"] = parse_time(corpus, repeat)
    return results


def one_file(path: Path, repeat: int, skip_fixit: bool) -> dict[str, Timing]:
    cwd = path.parent
    name = path.name
    results = {
        "telethon-guard (no cache)": wall(tg("--no-cache", name), cwd, repeat),
    }
    wall(tg(name), cwd, 1)
    results["telethon-guard (cached)"] = wall(tg(name), cwd, repeat)
    results["ruff --select ASYNC"] = wall(
        [str(BIN / "ruff"), "check", "--select", "ASYNC", "--no-cache", "--exit-zero", name],
        cwd,
        repeat,
    )
    if not skip_fixit:
        results["fixit lint"] = wall([str(BIN / "fixit"), "lint", name], cwd, repeat, ok=(0, 1, 2))
    results["python -c 'import libcst; parse'"] = wall(
        [sys.executable, "-c", f"import libcst; libcst.parse_module(open({name!r}).read())"],
        cwd,
        repeat,
    )
    return results


BREAKDOWN_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    import libcst
    from lint_rules import engine
    from lint_rules.config import Config
    from lint_rules.rules import FAMILIES
    from lint_rules.rules.base import PythonModule
    config = Config()
    cost = {"read + decode + safety scan": 0.0, "libcst.parse_module": 0.0}
    cost.update({type(f).__name__ + ".check_module": 0.0 for f in FAMILIES})
    facts = {type(f).__name__: {} for f in FAMILIES}
    for root, dirs, names in os.walk(sys.argv[1]):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if not name.endswith(".py"):
                continue
            path = os.path.join(root, name)
            t = time.process_time()
            data = open(path, "rb").read()
            text, _, _ = engine.decode_python(data, path)
            if engine._risky(text):  # what the engine does: CPython checks risky files only
                engine._cpython_check(text, path)
            t1 = time.process_time()
            tree = libcst.parse_module(text)
            t2 = time.process_time()
            cost["read + decode + safety scan"] += t1 - t
            cost["libcst.parse_module"] += t2 - t1
            module = PythonModule(path, name[:-3], False, text, tree, config)
            for family in FAMILIES:
                t = time.process_time()
                result = family.check_module(module)
                cost[type(family).__name__ + ".check_module"] += time.process_time() - t
                if result.facts is not None:
                    facts[type(family).__name__][path] = result.facts
    for family in FAMILIES:
        t = time.process_time()
        family.check_project(facts[type(family).__name__], config)
        cost[type(family).__name__ + ".check_project"] = time.process_time() - t
    for key, value in cost.items():
        print(f"{key}\t{value:.3f}")
    """
)


def breakdown(corpus: Path) -> str:
    """Where the CPU time of a cold run goes: the engine's own steps and each family."""
    out = subprocess.run(
        [sys.executable, "-c", BREAKDOWN_SCRIPT, str(corpus)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    parse = next(float(v) for k, v in rows if k == "libcst.parse_module")
    lines = ["| step | CPU s | x libcst parse |", "|---|---:|---:|"]
    lines += [f"| {k} | {float(v):.2f} | {float(v) / parse:.2f} |" for k, v in rows]
    return "\n".join(lines)


def table(title: str, files: int, results: dict[str, Timing], base: str) -> str:
    lines = [
        f"### {title} ({files} files)",
        "",
        "| tool | wall s | CPU s | files/s (wall) | wall x | CPU x |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    bw, bc = results[base]
    for tool, (w, c) in results.items():
        lines.append(
            f"| {tool} | {w:.2f} | {c:.2f} | {files / w:,.0f} | {w / bw:.2f} | {c / bc:.2f} |"
        )
    lines.append("")
    lines.append(f"(x columns: relative to {base}.)")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--modules", type=int, default=200, help="generated service modules in (a)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement (best is kept)")
    parser.add_argument("--skip-fixit", action="store_true")
    parser.add_argument("--only", choices=("a", "b"), help="measure one corpus")
    parser.add_argument("--breakdown", action="store_true", help="CPU per engine step and family")
    parser.add_argument(
        "--no-compile",
        action="store_true",
        help="do not byte-compile lint_rules first (measure start-up from sources)",
    )
    args = parser.parse_args()
    if not args.no_compile:
        # An installed wheel ships byte-compiled modules; an editable checkout under
        # PYTHONDONTWRITEBYTECODE=1 would compile lint_rules from source on every run (~6 ms),
        # which is all of the cached path's own cost. Compile once, as `pip install` does.
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(REPO / "lint_rules")], check=True
        )

    print(
        f"cores: {len(os.sched_getaffinity(0))}, python {sys.version.split()[0]}, "
        f"load {os.getloadavg()[0]:.1f}, lint_rules byte-compiled: {not args.no_compile}"
    )
    with tempfile.TemporaryDirectory(prefix="lint-speed-") as tmp:
        root = Path(tmp)
        corpora = []
        if args.only in (None, "a"):
            corpora.append(("(a) Telethon service code", build_service_corpus(root, args.modules)))
        if args.only in (None, "b"):
            corpora.append(
                (
                    "(b) fastapi, starlette, pydantic, uvicorn, httpx, libcst",
                    build_ordinary_corpus(root),
                )
            )
        summaries = []
        for title, corpus in corpora:
            results = measure(corpus, args.repeat, args.skip_fixit)
            n = count_py(corpus)
            print(table(title, n, results, "telethon-guard cold, --jobs 1"), "\n", flush=True)
            if args.breakdown:
                print(f"CPU breakdown of a cold analysis of every file, {title}:\n")
                print(breakdown(corpus), "\n", flush=True)
            summaries.append((title, results))
        if corpora:
            sample = corpora[0][1]
            target = next(sample.rglob("app.py"), None) or next(sample.rglob("*.py"))
            latency = one_file(target, max(args.repeat, 3), args.skip_fixit)
            print(
                f"### One-file latency ({target.name}, {len(target.read_text().splitlines())} lines)\n"
            )
            print("| tool | wall s | CPU s |\n|---|---:|---:|")
            for tool, (w, c) in latency.items():
                print(f"| {tool} | {w:.3f} | {c:.3f} |")
            print()
        print("### Targets\n")
        for title, r in summaries:
            cold_w, cold_c = r["telethon-guard cold, --jobs 1"]
            all_w, all_c = r["telethon-guard cold, all cores"]
            cached_w, cached_c = r["telethon-guard cached re-run"]
            ruff_w, ruff_c = r["ruff check --select ASYNC --no-cache"]
            parse_w, parse_c = r["bare libcst.parse_module (in-process)"]
            if "fixit lint" in r:
                fixit_w, fixit_c = r["fixit lint"]
                print(
                    f"- {title}: fixit / this linter cold: wall {fixit_w / min(cold_w, all_w):.1f}x, "
                    f"CPU {fixit_c / min(cold_c, all_c):.1f}x (target >= 10x on (b))"
                )
            print(
                f"- {title}: this linter cold (--jobs 1) / bare parse: wall {cold_w / parse_w:.2f}x, "
                f"CPU {cold_c / parse_c:.2f}x (target <= 2x on (a))"
            )
            print(
                f"- {title}: cached re-run / ruff cold: wall {cached_w / ruff_w:.2f}x, "
                f"CPU {cached_c / max(ruff_c, 1e-3):.2f}x (target <= 2x)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
