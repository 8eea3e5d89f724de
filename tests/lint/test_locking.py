"""TG100/TG101/TG102 on single modules: exact codes and lines."""

from __future__ import annotations

import textwrap

import pytest

from lint_rules.config import Config
from lint_rules.rules.locking import LockingFamily

from ._drive import codes, lint

HEAD = """\
from telethon import TelegramClient
from telethon_guard import telethon_lock
client = TelegramClient("s", 1, "0" * 32)
"""  # lines 1-3


def src(body: str) -> str:
    return HEAD + textwrap.dedent(body)


# (id, source, expected [(code, line)])
CASES = [
    # ---- what holds the lock
    (
        "locked",
        src("""
        async def f():
            async with telethon_lock:
                await client.send_message("me", "x")
        """),
        [],
    ),
    (
        "unlocked",
        src("""
        async def f():
            await client.send_message("me", "x")
        """),
        [("TG100", 6)],
    ),
    (
        "plain-with-is-not-the-lock",
        src("""
        def f():
            with telethon_lock:
                client.send_message("me", "x")
        """),
        [("TG100", 7)],
    ),
    (
        "after-the-block",
        src("""
        async def f():
            async with telethon_lock:
                pass
            await client.get_me()
        """),
        [("TG100", 8)],
    ),
    (
        "several-items",
        src("""
        async def f(other):
            async with other, telethon_lock:
                await client.get_me()
        """),
        [],
    ),
    (
        "item-before-the-lock-is-unlocked",
        src("""
        async def f():
            async with client.conversation("me") as conv, telethon_lock:
                await conv.send_message("x")
        """),
        [("TG100", 6)],
    ),
    (
        "wait-timeout-call",
        src("""
        async def f():
            async with telethon_lock(wait_timeout=5):
                await client.get_me()
        """),
        [],
    ),
    (
        "acquire-finally-release",
        src("""
        async def f():
            await telethon_lock.acquire()
            try:
                await client.get_me()
            finally:
                telethon_lock.release()
            await client.get_me()
        """),
        [("TG100", 11)],
    ),
    (
        "acquire-inside-try",
        src("""
        async def f():
            try:
                await telethon_lock.acquire()
                await client.get_me()
            finally:
                telethon_lock.release()
        """),
        [],
    ),
    (
        "serialized",
        """\
from telethon import TelegramClient
from telethon_guard import serialized as ser
client = TelegramClient("s", 1, "x")
@ser
async def f():
    await client.get_me()
async def g():
    await client.get_me()
""",
        [("TG100", 8)],
    ),
    (
        "lock-alias-module",
        """\
import telethon_guard as tg
import telethon
client = telethon.TelegramClient("s", 1, "x")
async def f():
    async with tg.telethon_lock:
        await client.get_me()
""",
        [],
    ),
    (
        "any-name-called-telethon_lock",
        """\
import telethon
from app.locks import telethon_lock
client = telethon.TelegramClient("s", 1, "x")
async def f(state):
    async with telethon_lock:
        await client.get_me()
    async with state.telethon_lock:
        await client.get_me()
""",
        [],
    ),
    (
        "nested-def-and-lambda-inside-block",
        src("""
        async def f(loop):
            async with telethon_lock:
                async def later():
                    await client.get_me()
                loop.call_soon(lambda: client.get_me())
                return later
        """),
        [("TG100", 8), ("TG100", 9)],
    ),
    (
        "nested-def-called-under-the-lock-is-a-locked-helper",
        src("""
        async def f():
            async with telethon_lock:
                async def now():
                    await client.get_me()
                await now()
        """),
        [],
    ),
    (
        "class-inside-block",
        src("""
        async def f():
            async with telethon_lock:
                class Later:
                    async def run(self):
                        await client.get_me()
        """),
        [("TG100", 9)],
    ),
    (
        "tasks-under-the-lock",
        src("""
        import asyncio
        async def f(tg, loop):
            async with telethon_lock:
                asyncio.create_task(client.send_message("me", "1"))
                asyncio.ensure_future(client.send_message("me", "2"))
                loop.create_task(client.send_message("me", "3"))
                await asyncio.gather(client.get_me(), client.get_me())
                tg.create_task(client.get_me())
                asyncio.run_coroutine_threadsafe(client.get_me(), loop)
                await asyncio.wait_for(client.get_me(), 5)
                await client.get_me()
        """),
        [
            ("TG100", 8),
            ("TG100", 9),
            ("TG100", 10),
            ("TG100", 11),
            ("TG100", 11),
            ("TG100", 12),
            ("TG100", 13),
            ("TG100", 14),
        ],
    ),
    # ---- what is a client
    (
        "telethon-sync-alias",
        """\
from telethon.sync import TelegramClient as TC
c = TC("s", 1, "x")
async def f():
    await c.get_messages("me")
""",
        [("TG100", 4)],
    ),
    (
        "telethon-client-module",
        """\
import telethon.client.telegramclient as tcm
from telethon import client as tclient
a = tcm.TelegramClient("s", 1, "x")
b = tclient.TelegramClient("t", 1, "x")
async def f():
    await a.get_me()
    await b.get_me()
""",
        [("TG100", 6), ("TG100", 7)],
    ),
    (
        "subclass-self-and-instance",
        """\
import telethon
class Relay(telethon.TelegramClient):
    async def relay(self, text):
        await self.send_message("BotFather", text)
relay = Relay("s", 1, "x")
async def route():
    await relay.get_dialogs()
""",
        [("TG100", 4), ("TG100", 7)],
    ),
    (
        "subclass-super",
        """\
from telethon import TelegramClient
class Relay(TelegramClient):
    async def send_message(self, *args, **kwargs):
        return await super().send_message(*args, **kwargs)
""",
        [("TG100", 4)],
    ),
    (
        "attribute-from-init-and-class-annotation",
        """\
from telethon import TelegramClient
class Service:
    def __init__(self):
        self.client = TelegramClient("s", 1, "x")
    async def a(self):
        await self.client.send_message("me", "x")
class Holder:
    tg: TelegramClient
    async def b(self):
        await self.tg.get_entity("me")
""",
        [("TG100", 6), ("TG100", 10)],
    ),
    (
        "annotated-parameters",
        """\
from __future__ import annotations
from typing import TYPE_CHECKING, Optional, Union
if TYPE_CHECKING:
    from telethon import TelegramClient
async def a(client: TelegramClient):
    await client.get_me()
async def b(client: "TelegramClient"):
    await client.get_me()
async def c(client: Optional[TelegramClient] = None):
    await client.get_me()
async def d(client: TelegramClient | None):
    await client.get_me()
async def e(client: "Union[TelegramClient, None]"):
    await client.get_me()
""",
        [("TG100", 6), ("TG100", 8), ("TG100", 10), ("TG100", 12), ("TG100", 14)],
    ),
    (
        "return-annotation-and-factory-return",
        """\
from telethon import TelegramClient
_client = TelegramClient("s", 1, "x")
def get_client() -> TelegramClient:
    return _client
def other():
    return _client
async def f():
    await get_client().get_me()
    c = other()
    await c.get_me()
""",
        [("TG100", 8), ("TG100", 10)],
    ),
    (
        "raw-request-and-iterators-and-contexts",
        src("""
        from telethon.tl.functions.messages import GetDialogsRequest
        async def f(req):
            await client(GetDialogsRequest())
            async for m in client.iter_messages("me"):
                pass
            async with client.action("me", "typing"):
                pass
            async with client.takeout() as takeout:
                await takeout.get_messages("me")
        """),
        # The body of an unlocked `async with client.takeout()` is reported once, at the `async with`.
        [("TG100", 7), ("TG100", 8), ("TG100", 10), ("TG100", 12)],
    ),
    (
        "conversation-reported-once",
        src("""
        async def f():
            async with client.conversation("BotFather") as conv:
                await conv.send_message("/newbot")
                reply = await conv.get_response()
                await reply.click(0)
        """),
        [("TG100", 6)],
    ),
    (
        "conversation-locked",
        src("""
        async def f():
            async with telethon_lock:
                async with client.conversation("BotFather") as conv:
                    await conv.send_message("/newbot")
                    return (await conv.get_response()).text
        """),
        [],
    ),
    (
        "messages-returned-by-actions",
        src("""
        async def f():
            async with telethon_lock:
                msg = await client.send_message("me", "x")
            await msg.edit("y")
            async with telethon_lock:
                async for m in client.iter_messages("me"):
                    pass
            await m.reply("z")
        """),
        [("TG100", 8), ("TG100", 12)],
    ),
    (
        "dialogs-and-iterated-messages",
        src("""
        async def f():
            async with telethon_lock:
                dialogs = await client.get_dialogs()
                messages = await client.get_messages("me", limit=3)
            for d in dialogs:
                await d.send_message("hi")
            for m in messages:
                await m.delete()
            async with telethon_lock:
                async for d in client.iter_dialogs():
                    await d.archive()
        """),
        [("TG100", 10), ("TG100", 12)],
    ),
    (
        "event-handlers",
        """\
from telethon import TelegramClient, events
from telethon_guard import telethon_lock
client = TelegramClient("s", 1, "x")
@client.on(events.NewMessage(pattern="/start"))
async def on_start(event):
    await event.reply("hi")
    await event.client.send_message("me", "x")
    sender = await event.get_sender()
    print(event.raw_text, event.chat_id, sender)
async def on_cb(event: events.CallbackQuery.Event):
    await event.answer("ok")
async def registered(ev):
    async with telethon_lock:
        await ev.respond("x")
    await ev.delete()
client.add_event_handler(registered, events.NewMessage)
""",
        [("TG100", 6), ("TG100", 7), ("TG100", 8), ("TG100", 11), ("TG100", 15)],
    ),
    (
        "module-annotation-then-global-assignment",
        """\
from telethon import TelegramClient
client: TelegramClient
async def start():
    global client
    client = TelegramClient("s", 1, "x")
    await client.get_me()
""",
        [("TG100", 6)],
    ),
    (
        "not-actions",
        src("""
        from telethon import utils
        async def f(handler):
            client.add_event_handler(handler)
            client.remove_event_handler(handler)
            client.list_event_handlers()
            client.is_connected()
            client.build_reply_markup(None)
            utils.get_peer_id(1)
            client.parse_mode = "md"
            print(client.loop, client.flood_sleep_threshold)
        """),
        [],
    ),
    (
        "lookalike-clients",
        """\
import httpx
import smtplib
from aiogram import Bot
from pyrogram import Client
async def f(client, bot: Bot):
    async with httpx.AsyncClient() as http:
        await http.delete("x")
        await http.get("x")
    await bot.send_message(1, "x")
    app = Client("s")
    await app.send_message("me", "x")
    await app.get_messages("me", 1)
    smtp = smtplib.SMTP("h")
    smtp.send_message(None)
    await client.send_message("me", "x")
    await client.get_entity("me")
""",
        [],
    ),
    (
        "shadowed-import-is-not-a-client",
        """\
from telethon import TelegramClient
async def f(TelegramClient):
    c = TelegramClient("s")
    await c.send_message("me", "x")
""",
        [],
    ),
    (
        "exempt-methods",
        src("""
        async def f():
            await client.get_me()
            await client.send_message("me", "x")
        """),
        [("TG100", 7)],
    ),
    # ---- lifecycle
    (
        "lifecycle-lifespan-startup-main",
        """\
import asyncio
from contextlib import asynccontextmanager
from fastapi import FastAPI
from telethon import TelegramClient
client = TelegramClient("s", 1, "x")
@asynccontextmanager
async def lifespan(app):
    await client.connect()
    yield
    await client.disconnect()
app = FastAPI(lifespan=lifespan)
@app.on_event("startup")
async def startup():
    await client.start()
async def main():
    await client.start()
    await client.run_until_disconnected()
if __name__ == "__main__":
    client.start()
    asyncio.run(main())
""",
        [],
    ),
    (
        "lifecycle-in-request-handler",
        """\
from fastapi import FastAPI
from telethon import TelegramClient
app = FastAPI()
client = TelegramClient("s", 1, "x")
@app.post("/messages")
async def post():
    await client.connect()
""",
        [("TG100", 7)],
    ),
    # ---- TG101
    (
        "tg101-inline-and-local",
        src("""
        import asyncio
        import anyio
        async def a():
            async with asyncio.Lock():
                await client.get_me()
        async def b():
            lock = anyio.Lock()
            async with lock:
                await client.get_me()
        async def c(http):
            async with asyncio.Lock():
                await http.get("x")
        """),
        [("TG101", 8), ("TG101", 12)],
    ),
    (
        "module-level-other-lock-is-tg100",
        src("""
        import asyncio
        send_lock = asyncio.Lock()
        class S:
            def __init__(self):
                self._lock = asyncio.Lock()
            async def a(self):
                async with self._lock:
                    await client.get_me()
        async def b():
            async with send_lock:
                await client.get_me()
        """),
        [("TG100", 12), ("TG100", 15)],
    ),
    # ---- TG102
    (
        "tg102-two-locks",
        """\
import asyncio
from telethon import TelegramClient
from telethon_guard import telethon_lock
client = TelegramClient("s", 1, "x")
tg_lock = asyncio.Lock()
async def a():
    async with telethon_lock:
        await client.get_me()
async def b():
    async with tg_lock:
        await client.get_me()
""",
        [("TG102", 5), ("TG102", 7)],
    ),
]


@pytest.mark.parametrize(("source", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_cases(
    source: str, expected: list[tuple[str, int]], request: pytest.FixtureRequest
) -> None:
    config = Config()
    if request.node.callspec.id == "exempt-methods":
        config = Config(exempt_methods=("get_me",))
    if request.node.callspec.id == "tg102-two-locks":
        config = Config(lock_names=("telethon_lock", "tg_lock"))
    assert codes(source, config) == expected


def test_rule_examples() -> None:
    for rule in LockingFamily.rules:
        for example in rule.valid:
            assert [f for f in lint(example) if f.code == rule.code] == [], example
        for example in rule.invalid:
            assert [f for f in lint(example) if f.code == rule.code], example
        assert [f for f in lint(rule.example) if f.code == rule.code] or rule.code == "TG102"
        assert not [f for f in lint(rule.instead) if f.code.startswith("TG10")]


def test_tg102_example_with_config() -> None:
    from lint_rules.rules.locking import SeveralTelethonLocks

    config = Config(lock_names=("telethon_lock", "tg_lock"))
    found = lint(SeveralTelethonLocks.example, config)
    assert [(f.code, f.line) for f in found] == [("TG102", 6), ("TG102", 9)]
    assert "tg_lock" in found[1].message and "example.py:6" in found[1].message


def test_messages_say_what_where_and_how() -> None:
    (f,) = lint(src("async def f():\n    await client.send_message('me', 'x')\n"))
    assert f.message == (
        "Telethon action client.send_message() runs outside telethon_lock; "
        "wrap it in `async with telethon_lock:`"
    )
    assert (f.line, f.column, f.end_line, f.end_column) == (5, 11, 5, 41)


@pytest.mark.parametrize("depth", [400])
def test_deeply_nested_expressions(depth: int) -> None:
    source = src(
        "async def f():\n    x = " + "g(" * depth + ")" * depth + "\n    await client.get_me()\n"
    )
    assert codes(source) == [("TG100", 6)]
