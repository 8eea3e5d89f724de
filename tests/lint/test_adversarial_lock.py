"""Adversarial review of TG100/TG101/TG102: real service shapes, lock forms, lookalikes, the fix.

Each case is a regression test for a false positive or negative found in review (exact codes and
lines), or pins a decision documented in ``lint_rules/rules/locking.py``.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from lint_rules import lint_paths
from lint_rules.config import Config
from lint_rules.fix import apply_fixes

from ._drive import lint, where


def dd(files: dict[str, str]) -> dict[str, str]:
    return {path: textwrap.dedent(src).lstrip("\n") for path, src in files.items()}


# ---------------------------------------------------------------------------------------- lock forms

LOCK_FORM_CASES = [
    (
        "async-exit-stack-enters-the-lock",
        {
            "app.py": """
            import contextlib
            import telethon_guard as tg
            from telethon import TelegramClient
            client = TelegramClient("s", 1, "x")
            async def f():
                async with contextlib.AsyncExitStack() as stack:
                    await stack.enter_async_context(tg.telethon_lock)
                    await client.get_me()
                await client.get_me()
            """
        },
        [("app.py", "TG100", 9)],
    ),
    (
        "lock-aliased-in-another-module",
        {
            "locks.py": """
            import telethon_guard
            from telethon_guard import telethon_lock
            tg_lock = telethon_lock
            guard = telethon_guard.telethon_lock
            """,
            "app.py": """
            from telethon import TelegramClient
            from telethon_guard import telethon_lock
            from locks import guard, tg_lock
            import locks
            client = TelegramClient("s", 1, "x")
            class Svc:
                def __init__(self):
                    self.lock = tg_lock
                async def a(self):
                    async with self.lock:
                        await client.get_me()
            async def b():
                async with tg_lock:
                    await client.get_me()
                async with locks.tg_lock:
                    await client.get_me()
                async with guard:
                    await client.get_me()
                async with telethon_lock:
                    await client.get_me()
            """,
        },
        [],
    ),
    (
        "own-lock-aliased-in-another-module-is-one-lock",
        {
            "locks.py": """
            import asyncio
            telethon_lock = asyncio.Lock()
            tl = telethon_lock
            """,
            "app.py": """
            from telethon import TelegramClient
            from locks import telethon_lock, tl
            client = TelegramClient("s", 1, "x")
            async def a():
                async with telethon_lock:
                    await client.get_me()
                async with tl:
                    await client.get_me()
            """,
        },
        [],
    ),
    (
        "two-real-locks-are-tg102-at-each-definition",
        {
            "locks.py": """
            import asyncio
            telethon_lock = asyncio.Lock()
            """,
            "app.py": """
            from telethon import TelegramClient
            from locks import telethon_lock
            import telethon_guard
            client = TelegramClient("s", 1, "x")
            async def a():
                async with telethon_lock:
                    await client.get_me()
            async def b():
                async with telethon_guard.telethon_lock:
                    await client.get_me()
            """,
        },
        [("app.py", "TG102", 9), ("locks.py", "TG102", 2)],
    ),
    (
        "imported-context-manager-is-not-a-lock",
        {
            "db.py": """
            session = object()
            """,
            "app.py": """
            from telethon import TelegramClient
            from db import session
            client = TelegramClient("s", 1, "x")
            async def a():
                async with session:
                    await client.get_me()
            """,
        },
        [("app.py", "TG100", 6)],
    ),
    (
        "project-lock-decorators",
        {
            "deco.py": """
            import functools
            from telethon_guard import telethon_lock
            def locked(fn):
                @functools.wraps(fn)
                async def wrapper(*a, **k):
                    async with telethon_lock:
                        return await fn(*a, **k)
                return wrapper
            def with_lock(timeout=5):
                def decorator(fn):
                    async def wrapper(*a, **k):
                        async with telethon_lock:
                            return await fn(*a, **k)
                    return wrapper
                return decorator
            def logged(fn):
                async def wrapper(*a, **k):
                    return await fn(*a, **k)
                return wrapper
            async def call_locked(fn, *a):
                async with telethon_lock:
                    return await fn(*a)
            """,
            "app.py": """
            from telethon import TelegramClient
            from deco import locked, logged, with_lock
            import deco
            client = TelegramClient("s", 1, "x")
            @locked
            async def a():
                await client.get_me()
            @with_lock(timeout=3)
            async def b():
                await client.get_me()
            @deco.locked
            async def c():
                await client.get_me()
            @logged
            async def d():
                await client.get_me()
            class S:
                @locked
                async def m(self):
                    await client.get_me()
                    async def later():
                        await client.get_me()
                    return later
            """,
        },
        [("app.py", "TG100", 16), ("app.py", "TG100", 22)],
    ),
    (
        "project-context-manager-yielding-under-the-lock",
        {
            "tgctx.py": """
            import contextlib
            from telethon import TelegramClient
            from telethon_guard import telethon_lock
            client = TelegramClient("s", 1, "x")
            @contextlib.asynccontextmanager
            async def telegram():
                async with telethon_lock:
                    yield client
            @contextlib.asynccontextmanager
            async def not_locked():
                yield client
            class Svc:
                @contextlib.asynccontextmanager
                async def session(self):
                    async with telethon_lock:
                        yield self
            """,
            "app.py": """
            import httpx
            from tgctx import Svc, client, not_locked, telegram
            async def r(svc: Svc):
                async with telegram() as c:
                    await c.send_message("me", "x")
                    await client.get_me()
                async with not_locked():
                    await client.get_me()
                async with svc.session():
                    await client.get_me()
                async with httpx.AsyncClient():
                    await client.get_me()
                async with client.conversation("x") as conv:
                    await conv.send_message("x")
            """,
        },
        [("app.py", "TG100", 8), ("app.py", "TG100", 12), ("app.py", "TG100", 13)],
    ),
    (
        "class-whose-aenter-acquires-the-lock",
        {
            "tgcm.py": """
            from telethon import TelegramClient
            from telethon_guard import telethon_lock
            client = TelegramClient("s", 1, "x")
            class Telegram:
                async def __aenter__(self):
                    await telethon_lock.acquire()
                    return client
                async def __aexit__(self, *exc):
                    telethon_lock.release()
            """,
            "app.py": """
            from tgcm import Telegram, client
            async def f():
                async with Telegram():
                    await client.get_me()
                await client.get_me()
            """,
        },
        [("app.py", "TG100", 5)],
    ),
    (
        "functions-run-by-a-lock-runner",
        {
            "runner.py": """
            from telethon_guard import telethon_lock
            async def run_locked(job, *args):
                async with telethon_lock:
                    return await job(*args)
            class Worker:
                async def submit(self, job):
                    async with telethon_lock:
                        return await job()
            """,
            "app.py": """
            from telethon import TelegramClient
            from runner import Worker, run_locked
            client = TelegramClient("s", 1, "x")
            async def send(text):
                await client.send_message("me", text)
            async def ping():
                await client.get_me()
            async def unsafe():
                await client.get_me()
            async def route(w: Worker, scheduler):
                await run_locked(send, "x")
                await w.submit(job=ping)
                scheduler.add_job(unsafe)
            """,
        },
        [("app.py", "TG100", 9)],
    ),
    (
        "lock-attribute-set-in-a-base-class-elsewhere",
        {
            "base.py": """
            import asyncio
            from telethon import TelegramClient
            from telethon_guard import telethon_lock
            class Base:
                def __init__(self):
                    self.client = TelegramClient("s", 1, "x")
                    self._send_lock = telethon_lock
                    self._own_lock = asyncio.Lock()
            """,
            "svc.py": """
            from base import Base
            class Svc(Base):
                async def go(self):
                    async with self._send_lock:
                        await self.client.get_me()
                    async with self._own_lock:
                        await self.client.get_me()
            """,
        },
        [("svc.py", "TG100", 7)],
    ),
    (
        "lock-parameter-resolved-from-callers",
        {
            "bot.py": """
            from telethon import TelegramClient
            class Bot:
                def __init__(self, client: TelegramClient, lock):
                    self.client = client
                    self.lock = lock
                async def send(self, text):
                    async with self.lock:
                        await self.client.send_message("me", text)
            async def run_locked(lock, client: TelegramClient):
                async with lock:
                    await client.get_me()
            async def nobody_calls_me(lock, client: TelegramClient):
                async with lock:
                    await client.get_me()
            """,
            "app.py": """
            from telethon import TelegramClient
            from telethon_guard import telethon_lock
            from bot import Bot, run_locked
            client = TelegramClient("s", 1, "x")
            bot = Bot(client, telethon_lock)
            async def a():
                await run_locked(telethon_lock, client)
                await run_locked(lock=telethon_lock, client=client)
            """,
        },
        [],
    ),
    (
        "lock-parameter-given-another-lock",
        {
            "bot.py": """
            import asyncio
            from telethon import TelegramClient
            class Bot:
                def __init__(self, client: TelegramClient, lock):
                    self.client = client
                    self.lock = lock
                async def send(self, text):
                    async with self.lock:
                        await self.client.send_message("me", text)
            async def with_default(client: TelegramClient, lock=asyncio.Lock()):
                async with lock:
                    await client.get_me()
            """,
            "app.py": """
            import asyncio
            from telethon import TelegramClient
            from bot import Bot
            my_lock = asyncio.Lock()
            bot = Bot(TelegramClient("s", 1, "x"), my_lock)
            """,
        },
        # A default is evaluated once: a shared lock that is not the telethon lock (TG100, not TG101).
        [("bot.py", "TG100", 9), ("bot.py", "TG100", 12)],
    ),
]


@pytest.mark.parametrize(
    "files,expected", [c[1:] for c in LOCK_FORM_CASES], ids=[c[0] for c in LOCK_FORM_CASES]
)
def test_lock_forms(files: dict[str, str], expected: list[tuple[str, str, int]]) -> None:
    assert where(dd(files)) == expected


def test_lock_parameter_message_names_what_the_caller_passes() -> None:
    files = dict(LOCK_FORM_CASES[-1][1])
    (f,) = [f for f in lint(dd(files)) if f.line == 9]
    assert "`self.lock`, given `my_lock`" in f.message
    assert "not the telethon lock" in f.message


# ---------------------------------------------------------------------------------------- actions

ACTION_CASES = [
    (
        "bound-methods-run-later-in-another-task-or-thread",
        {
            "app.py": """
            import asyncio, functools
            import anyio
            from telethon import TelegramClient
            from telethon_guard import telethon_lock
            client = TelegramClient("s", 1, "x")
            async def f():
                async with telethon_lock:
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(client.send_message, "me", "x")
                    await asyncio.to_thread(client.get_me)
                    await asyncio.get_running_loop().run_in_executor(None, client.get_me)
                    asyncio.get_running_loop().call_soon(print, "not telethon")
            """
        },
        [("app.py", "TG100", 9), ("app.py", "TG100", 10), ("app.py", "TG100", 11)],
    ),
    (
        "handler-registered-by-calling-on",
        {
            "app.py": """
            from telethon import TelegramClient, events
            class Bot:
                def __init__(self):
                    self.client = TelegramClient("s", 1, "x")
                def register(self):
                    self.client.on(events.NewMessage(pattern="/x"))(self.on_x)
                async def on_x(self, event):
                    await event.respond("x")
            """
        },
        [("app.py", "TG100", 8)],
    ),
    (
        "module-global-set-from-a-lifespan",
        {
            "pkg/__init__.py": "",
            "pkg/state.py": """
            client = None
            """,
            "pkg/life.py": """
            from telethon import TelegramClient
            from . import state
            async def lifespan(app):
                state.client = TelegramClient("s", 1, "x")
                await state.client.connect()
                yield
            """,
            "pkg/routes.py": """
            from . import state
            async def route():
                await state.client.get_me()
            """,
        },
        [("pkg/routes.py", "TG100", 3)],
    ),
    (
        "items-of-get-messages-by-index",
        {
            "app.py": """
            from telethon import TelegramClient
            from telethon_guard import telethon_lock
            client = TelegramClient("s", 1, "x")
            async def f(settings):
                async with telethon_lock:
                    msgs = await client.get_messages("me", limit=3)
                    dialogs = await client.get_dialogs()
                await msgs[0].reply("x")
                await dialogs[-1].send_message("x")
                await settings["x"].send_message("not telethon")
            """
        },
        [("app.py", "TG100", 8), ("app.py", "TG100", 9)],
    ),
    (
        "classic-bot-script",
        {
            "bot.py": """
            from telethon import TelegramClient, events
            bot = TelegramClient("bot", 1, "x").start(bot_token="t")
            @bot.on(events.NewMessage(pattern="/start"))
            async def start(event):
                await event.respond("Hi")
                raise events.StopPropagation
            @bot.on(events.Album)
            async def album(event):
                await event.messages[0].reply("x")
                for m in event.messages:
                    await m.pin()
            async def main():
                me = await bot.get_me()
            with bot:
                bot.loop.run_until_complete(main())
                bot.run_until_disconnected()
            """
        },
        [
            ("bot.py", "TG100", 5),
            ("bot.py", "TG100", 9),
            ("bot.py", "TG100", 11),
            ("bot.py", "TG100", 13),
        ],
    ),
    (
        "multi-account-containers",
        {
            "mgr.py": """
            from typing import Dict
            from telethon import TelegramClient
            from telethon_guard import telethon_lock
            class Bot:
                def __init__(self, c: TelegramClient):
                    self.c = c
                async def hello(self):
                    await self.c.send_message("me", "hi")
            class Manager:
                def __init__(self):
                    self.clients: dict[str, TelegramClient] = {}
                    self.bots: Dict[str, Bot] = {}
                    self.raw = {}
                def add(self, name):
                    self.raw[name] = TelegramClient(name, 1, "x")
                async def a(self, name):
                    await self.clients[name].get_me()
                    await self.clients.get(name).get_me()
                    for c in self.clients.values():
                        await c.get_me()
                    await self.raw[name].get_me()
                    await self.bots[name].hello()
                    async with telethon_lock:
                        await self.clients[name].get_me()
                        await self.bots[name].hello()
            clients = {}
            def load(names):
                for n in names:
                    clients[n] = TelegramClient(n, 1, "x")
            async def b(n, settings: dict[str, str], headers):
                await clients[n].get_me()
                await settings[n].upper()
                headers["x"] = "y"
                await headers["x"].send_message("not telethon")
            """
        },
        [("mgr.py", "TG100", n) for n in (17, 18, 20, 21, 22, 31)],
    ),
    (
        "event-handed-to-helpers",
        {
            "handlers.py": """
            async def handle_start(event):
                await event.reply("hi")
            async def handle_other(event):
                await event.reply("?")
            async def log_it(thing):
                await thing.reply("not an event")
            """,
            "bot.py": """
            from telethon import TelegramClient, events
            from telethon_guard import telethon_lock
            from handlers import handle_other, handle_start, log_it
            client = TelegramClient("s", 1, "x")
            @client.on(events.NewMessage)
            async def on_msg(event):
                if event.raw_text == "/start":
                    await handle_start(event)
                else:
                    async with telethon_lock:
                        await handle_other(event)
            async def elsewhere(obj):
                await log_it(obj)
            """,
        },
        [("bot.py", "TG100", 8)],
    ),
    (
        "lookalikes-are-never-telethon",
        {
            "app.py": """
            import httpx, smtplib, redis
            from aiogram import Bot
            from pyrogram import Client
            from telethon import utils
            class TelegramClient:
                async def send_message(self, *a): ...
            async def f(client, x, pc: Client):
                await httpx.AsyncClient().send(x)
                await Bot("t").send_message(1, "x")
                await Client("s").send_message("me", "x")
                await pc.send_message("me", "x")
                smtplib.SMTP("h").send_message(x)
                redis.Redis().get("x")
                await TelegramClient().send_message("x")
                await client.send_message("x")
                utils.get_peer_id(x)
                async with httpx.AsyncClient() as c:
                    await c.get("x")
            """
        },
        [],
    ),
]


@pytest.mark.parametrize(
    "files,expected", [c[1:] for c in ACTION_CASES], ids=[c[0] for c in ACTION_CASES]
)
def test_actions(files: dict[str, str], expected: list[tuple[str, str, int]]) -> None:
    assert where(dd(files)) == expected


def test_callback_runners_name_thread_or_task_and_offer_no_fix() -> None:
    findings = lint(dd(ACTION_CASES[0][1]))
    assert [f.fix for f in findings] == [None, None, None]
    assert "a new task (start_soon)" in findings[0].message
    assert "another thread (to_thread)" in findings[1].message
    assert "another thread (run_in_executor)" in findings[2].message


# ---------------------------------------------------------------------------------------- a service

SERVICE = {
    "svc/__init__.py": "",
    "svc/settings.py": """
    import os
    SESSION = os.environ.get("RELAY_SESSION", "relay")
    """,
    "svc/tg.py": """
    from __future__ import annotations
    import asyncio
    import contextlib
    from dataclasses import dataclass, field
    from typing import TYPE_CHECKING, AsyncIterator, Optional
    from telethon import TelegramClient, errors, events, functions
    from telethon.tl.custom import Message
    import telethon_guard as tg
    from telethon_guard import serialized, telethon_lock
    if TYPE_CHECKING:
        from telethon.tl.custom import Conversation

    @dataclass
    class BotFatherSession:
        client: TelegramClient
        peer: str = "BotFather"
        history: list[str] = field(default_factory=list)

        async def send_message(self, text: str) -> Message:
            async with telethon_lock:
                msg = await self.client.send_message(self.peer, text)
                await msg.mark_read()
            return msg

        @serialized
        async def get_replies(self, limit: int) -> list[str]:
            out = []
            async for m in self.client.iter_messages(self.peer, limit=limit):
                out.append(m.text)
            return out

        async def _newbot(self, conv: "Conversation", name: str) -> str:
            await conv.send_message("/newbot")
            await conv.get_response()
            await conv.send_message(name)
            r = await asyncio.wait_for(conv.get_response(), 30)
            return r.text

        async def newbot(self, name: str) -> str:
            async with tg.telethon_lock:
                async with self.client.conversation(self.peer, timeout=30) as conv:
                    return await self._newbot(conv, name)

        async def raw(self):
            await tg.telethon_lock.acquire()
            try:
                return await self.client(functions.help.GetConfigRequest())
            finally:
                tg.telethon_lock.release()

        async def entity(self, who):
            async with telethon_lock:
                try:
                    return await self.client.get_entity(who)
                except errors.FloodWaitError as e:
                    await asyncio.sleep(e.seconds)
                    return await self.client.get_entity(who)

        async def stream(self) -> AsyncIterator[str]:
            while True:
                async with telethon_lock:
                    msgs = await self.client.get_messages(self.peer, limit=5)
                for m in msgs:
                    yield m.text

    _session: Optional[BotFatherSession] = None

    def get_session() -> BotFatherSession:
        assert _session is not None
        return _session

    @contextlib.asynccontextmanager
    async def lifespan(app) -> AsyncIterator[None]:
        global _session
        from svc.settings import SESSION
        client = TelegramClient(SESSION, 1, "0" * 32)
        await client.connect()
        async with telethon_lock:
            if not await client.is_user_authorized():
                raise SystemExit("log in first")
        _session = BotFatherSession(client)
        app.state.client = client
        client.add_event_handler(on_message, events.NewMessage(from_users="BotFather"))
        try:
            yield
        finally:
            await client.disconnect()

    async def on_message(event: events.NewMessage.Event) -> None:
        async with telethon_lock:
            sender = await event.get_sender()
            await event.mark_read()
        print(sender, event.raw_text, event.message.text)
    """,
    "svc/app.py": """
    from fastapi import Depends, FastAPI, HTTPException, Request
    from telethon import errors
    from telethon_guard import stats, telethon_lock
    from svc.tg import BotFatherSession, get_session, lifespan

    app = FastAPI(lifespan=lifespan)

    @app.post("/messages")
    async def post_message(text: str, s: BotFatherSession = Depends(get_session)):
        try:
            msg = await s.send_message(text)
        except errors.FloodWaitError as e:
            raise HTTPException(429, str(e))
        return {"id": msg.id}

    @app.get("/replies")
    async def replies(limit: int = 10, s: BotFatherSession = Depends(get_session)):
        return await s.get_replies(limit)

    @app.post("/bots")
    async def bots(name: str, s: BotFatherSession = Depends(get_session)):
        return {"token": await s.newbot(name)}

    @app.get("/me")
    async def me(request: Request):
        async with telethon_lock:
            u = await request.app.state.client.get_me()
        return {"id": u.id}

    @app.get("/health")
    def health():
        return {"overlaps": stats().overlaps}
    """,
}


def _unlock(files: dict[str, str]) -> dict[str, str]:
    """The same service with every lock taken away (`async with <lock>:` -> `if True:`)."""
    out = {}
    for path, src in dd(files).items():
        lines = []
        for line in src.splitlines(keepends=True):
            stripped = line.strip()
            if stripped in ("async with telethon_lock:", "async with tg.telethon_lock:"):
                line = line.replace(stripped, "if True:")
            elif stripped == "@serialized":
                line = line.replace(stripped, "")
            lines.append(line)
        out[path] = "".join(lines)
    return out


def test_guarded_service_is_clean() -> None:
    assert where(dd(SERVICE)) == []


def test_unguarded_service_reports_every_action_once() -> None:
    assert where(_unlock(SERVICE)) == [
        ("svc/app.py", "TG100", 11),  # helper BotFatherSession.send_message
        ("svc/app.py", "TG100", 18),  # helper get_replies
        ("svc/app.py", "TG100", 22),  # helper newbot (its conversation)
        ("svc/app.py", "TG100", 27),  # request.app.state.client.get_me()
        ("svc/tg.py", "TG100", 54),  # entity(): never called, an entry point
        ("svc/tg.py", "TG100", 57),
        ("svc/tg.py", "TG100", 62),  # stream()
        ("svc/tg.py", "TG100", 79),  # is_user_authorized() in the lifespan: an action
        ("svc/tg.py", "TG100", 91),  # event handler
        ("svc/tg.py", "TG100", 92),
    ]


def test_service_through_lint_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for path, src in _unlock(SERVICE).items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(src)
    monkeypatch.chdir(tmp_path)
    findings = lint_paths(["svc"], Config(select=("TG1",)))
    assert [(f.path, f.line) for f in findings] == [
        (p, line) for p, _, line in where(_unlock(SERVICE))
    ]


# ---------------------------------------------------------------------------------------- the fix

FIX_CASES = [
    (
        "compound-statements-comments-continuations",
        '''
        import asyncio
        from telethon import TelegramClient
        client = TelegramClient("s", 1, "x")
        async def f(x, cmd):
            """Doc."""
            y = 1; await client.get_me()
            if x: await client.get_me()
            elif y:
                await client.get_me()  # trailing
            else:
                # comment before
                await client.send_message("me", \\
                    "x")
            match cmd:
                case 1:
                    await client.get_me()
            for i in range(3):
                if await client.get_me():
                    break
                r = await client.send_message("me", f"""a {x}
        b""")
            async with client.conversation("x") as conv:
                await conv.send_message("hi")
                yield 1
            await asyncio.gather(client.get_me())
            return await client.get_me()
        async def one(): await client.get_me()
        ''',
    ),
    (
        "alias-is-reused",
        """
        from telethon import TelegramClient
        from telethon_guard import telethon_lock as tl
        async def f(client: TelegramClient):
            await client.get_me()
        """,
    ),
    (
        "parameter-named-like-the-lock",
        """
        from telethon import TelegramClient
        async def f(client: TelegramClient, telethon_lock):
            await client.get_me()
        async def g(client: TelegramClient):
            await client.get_me()
        """,
    ),
    (
        "crlf-and-tabs",
        "from telethon import TelegramClient\r\nclient = TelegramClient('s', 1, 'x')\r\n"
        "async def f():\r\n\tif True:\r\n\t\tawait client.get_me()\r\n\treturn 1\r\n",
    ),
]


def _fix_loop(source: str) -> str:
    for _ in range(5):
        fixed, n = apply_fixes(source, [f for f in lint({"app.py": source}) if f.code == "TG100"])
        if n == 0:
            break
        source = fixed
    return source


@pytest.mark.parametrize("source", [c[1] for c in FIX_CASES], ids=[c[0] for c in FIX_CASES])
def test_fix_parses_is_idempotent_and_relints_clean(source: str) -> None:
    source = textwrap.dedent(source).lstrip("\n")
    fixed = _fix_loop(source)
    ast.parse(fixed)
    assert _fix_loop(fixed) == fixed
    assert [f.line for f in lint({"app.py": fixed}) if f.code == "TG100" and f.fix] == []
    # Comments survive, and no `yield` is ever wrapped.
    for comment in ("# trailing", "# comment before"):
        assert (comment in source) == (comment in fixed)
    tree = ast.parse(fixed)
    for node in ast.walk(tree):
        if isinstance(node, ast.AsyncWith) and isinstance(node.items[0].context_expr, ast.Name):
            assert not any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in ast.walk(node))


def test_fix_uses_the_alias_and_never_a_shadowing_parameter() -> None:
    alias = textwrap.dedent(FIX_CASES[1][1]).lstrip("\n")
    assert _fix_loop(alias).splitlines()[-2:] == [
        "    async with tl:",
        "        await client.get_me()",
    ]
    shadow = textwrap.dedent(FIX_CASES[2][1]).lstrip("\n")
    findings = lint({"app.py": shadow})
    assert [(f.line, f.fix is not None) for f in findings] == [(3, False), (5, True)]
