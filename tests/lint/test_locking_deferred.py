"""TG100 where the request runs elsewhere than where it is written, and messages that fit the code.

Coroutines and ``iter_*`` iterators created outside the lock and awaited inside it, ``functools.partial``
of a client method, lambda event handlers, aiohttp ``request.app[...]``, ``acquire()`` without a
``finally`` release, and sync (``telethon.sync``) code. Exact codes and lines.
"""

from __future__ import annotations

import textwrap

import pytest

from ._drive import apply_fixes, codes, lint, where

HEAD = """\
import asyncio
import functools
from telethon import TelegramClient, events
from telethon_guard import telethon_lock
client = TelegramClient("s", 1, "0" * 32)
"""  # lines 1-5


def src(body: str) -> str:
    return HEAD + textwrap.dedent(body)


CASES = [
    # ---- a coroutine / iterator runs where it is awaited / iterated
    (
        "coroutine-and-iterator-consumed-under-the-lock",
        src("""
        async def f(chat):
            coro = client.send_message(chat, "hi")
            it = client.iter_messages(chat)
            raw = client(object())
            async with telethon_lock:
                await coro
                async for m in it:
                    print(m)
                await raw
        """),
        [],
    ),
    (
        "action-context-entered-under-the-lock-and-items-of-a-deferred-iterator",
        src("""
        async def f(chat):
            act = client.action(chat, "typing")
            it = client.iter_messages(chat)
            async with telethon_lock:
                async with act:
                    pass
                async for m in it:
                    print(m)
            await m.reply("x")
        """),
        [("TG100", 15)],
    ),
    (
        "coroutine-awaited-after-the-block",
        src("""
        async def f(chat):
            coro = client.send_message(chat, "hi")
            async with telethon_lock:
                pass
            await coro
        """),
        [("TG100", 8)],
    ),
    (
        "iterator-iterated-twice-once-unlocked",
        src("""
        async def f(chat):
            it = client.iter_messages(chat)
            async with telethon_lock:
                async for m in it:
                    print(m)
            async for m in it:
                print(m)
        """),
        [("TG100", 8)],
    ),
    (
        "coroutine-handed-to-a-task-under-the-lock",
        src("""
        async def f(chat):
            coro = client.send_message(chat, "hi")
            async with telethon_lock:
                asyncio.create_task(coro)
        """),
        [("TG100", 8)],
    ),
    (
        "rebound-name-is-not-the-coroutine",
        src("""
        async def f(chat, other):
            coro = client.send_message(chat, "hi")
            coro = other()
            async with telethon_lock:
                await coro
        """),
        [("TG100", 8)],
    ),
    (
        "never-consumed-here-stays-at-the-call",
        src("""
        async def f(chat):
            coro = client.send_message(chat, "hi")
            return coro
        """),
        [("TG100", 8)],
    ),
    (
        "helper-coroutine-awaited-under-the-lock",
        src("""
        async def send(chat):
            await client.send_message(chat, "hi")
        async def f(chat):
            pending = send(chat)
            async with telethon_lock:
                await pending
        async def g(chat):
            pending = send(chat)
            await pending
        """),
        [("TG100", 14)],
    ),
    # ---- functools.partial of a client method
    (
        "partial-called-unlocked-locked-and-in-a-task",
        src("""
        async def f(chat):
            send = functools.partial(client.send_message, chat)
            await send("a")
            async with telethon_lock:
                await send("b")
                asyncio.create_task(send("c"))
            await functools.partial(client.get_me)()
        """),
        [("TG100", 9), ("TG100", 12), ("TG100", 13)],
    ),
    (
        "partial-handed-to-a-thread-or-callback",
        src("""
        async def f(chat):
            loop = asyncio.get_running_loop()
            async with telethon_lock:
                await loop.run_in_executor(None, functools.partial(client.get_me))
                p = functools.partial(client.send_message, chat, "x")
                loop.call_soon(p)
        """),
        [("TG100", 10), ("TG100", 12)],
    ),
    (
        "sync-code-runs-at-the-call-and-partials-there",
        src("""
        def f(chat):
            msg = client.send_message(chat, "hi")
            send = functools.partial(client.send_message, chat)
            send("x")
            return msg
        """),
        [("TG100", 8), ("TG100", 10)],
    ),
    (
        "partial-of-something-else",
        src("""
        async def f(chat, http):
            get = functools.partial(http.get, chat)
            await get()
            p = functools.partial(print, chat)
            p()
        """),
        [],
    ),
    # ---- lambda event handlers
    (
        "lambda-event-handlers",
        src("""
        client.add_event_handler(lambda e: e.reply("x"), events.NewMessage)
        client.on(events.NewMessage(pattern="/a"))(lambda event: event.respond("a"))
        client.add_event_handler(lambda e: client.send_message(e.chat_id, "x"), events.NewMessage)
        """),
        [("TG100", 7), ("TG100", 8), ("TG100", 9)],
    ),
    (
        "lambda-not-a-handler",
        src("""
        async def f(msgs, http):
            msgs.sort(key=lambda m: m.reply)
            await asyncio.gather(*map(lambda e: e.reply("x"), http))
        """),
        [],
    ),
    # ---- acquire(): only with a finally release
    (
        "acquire-without-finally",
        src("""
        async def f():
            await telethon_lock.acquire()
            await client.get_me()
            telethon_lock.release()
            await client.get_me()
        """),
        [("TG100", 9), ("TG100", 11)],
    ),
    (
        "acquire-then-later-try-finally",
        src("""
        async def f():
            await telethon_lock.acquire()
            me = await client.get_me()
            try:
                await client.send_message(me, "x")
            finally:
                telethon_lock.release()
            await client.get_me()
        """),
        [("TG100", 14)],
    ),
    (
        "acquire-inside-try-finally-and-in-aenter",
        src("""
        async def f():
            try:
                await telethon_lock.acquire()
                await client.get_me()
            finally:
                telethon_lock.release()
        class Tg:
            async def __aenter__(self):
                await telethon_lock.acquire()
                await client.get_me()
                return client
            async def __aexit__(self, *exc):
                telethon_lock.release()
        async def g():
            async with Tg():
                await client.get_me()
        """),
        [],
    ),
    (
        "finally-releasing-another-lock",
        src("""
        other = asyncio.Lock()
        async def f():
            await telethon_lock.acquire()
            try:
                await client.get_me()
            finally:
                other.release()
        """),
        [("TG100", 11)],
    ),
]


@pytest.mark.parametrize("source, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_codes_and_lines(source: str, expected: list[tuple[str, int]]) -> None:
    assert codes(source) == expected


def test_deferred_coroutine_fix_wraps_the_await_not_the_creation() -> None:
    source = src("""
    async def f(chat):
        coro = client.send_message(chat, "hi")
        await coro
    """)
    findings = lint(source)
    assert [(f.code, f.line) for f in findings] == [("TG100", 8)]
    fixed = apply_fixes(source, findings)
    assert fixed == src("""
    async def f(chat):
        coro = client.send_message(chat, "hi")
        async with telethon_lock:
            await coro
    """)
    assert codes(fixed) == []


def test_acquire_without_finally_says_why() -> None:
    (finding,) = lint(
        src("""
        async def f():
            await telethon_lock.acquire()
            await client.get_me()
            telethon_lock.release()
        """)
    )
    assert "finally: telethon_lock.release()" in finding.message
    assert "leak" in finding.message
    assert finding.fix is None  # wrapping in `async with` would not make the shape right


def test_sync_code_gets_advice_it_can_follow() -> None:
    source = textwrap.dedent("""\
        import threading
        from telethon.sync import TelegramClient
        client = TelegramClient("s", 1, "0" * 32)
        def report(chat):
            client.send_message(chat, "x")
        async def relay(chat):
            await client.send_message(chat, "x")
        with client:
            report("me")
    """)
    findings = {f.line: f for f in lint(source)}
    awaited = '    await client.send_message(chat, "x")'
    # report() is a helper: its unlocked call at module level (sync code too) is reported.
    assert sorted(findings) == [7, 9]
    coro, sync = findings[7], findings[9]
    assert sync.code == coro.code == "TG100"
    assert "sync code cannot take the lock" in sync.message
    assert "serialize" in sync.message
    assert sync.fix is None
    assert "wrap it in `async with telethon_lock:`" in coro.message
    assert coro.fix is not None
    # Module level (report() is now never called: an entry point, reported inside).
    direct = lint(
        source.replace('    report("me")', "    client.get_me()").replace(awaited, "    pass")
    )
    assert [f.line for f in direct] == [5, 9]
    assert all("sync code cannot take the lock" in f.message for f in direct)
    # An entry point (never called by project code: a thread target) is reported inside the def.
    threaded = source.replace('    report("me")', "    threading.Thread(target=report)")
    (in_def,) = lint(threaded.replace(awaited, "    pass"))
    assert in_def.line == 5 and "sync code cannot take the lock" in in_def.message


def test_lambda_handler_message_does_not_ask_to_wrap_the_lambda() -> None:
    (finding,) = lint(src('client.add_event_handler(lambda e: e.reply("x"), events.NewMessage)\n'))
    assert "lambda cannot take the lock" in finding.message
    assert finding.fix is None


def test_aiohttp_app_keys_across_modules() -> None:
    files = {
        "keys.py": """\
from aiohttp import web
from telethon import TelegramClient
CLIENT = web.AppKey("client", TelegramClient)
""",
        "app.py": """\
import httpx
from aiohttp import web
from telethon import TelegramClient
from telethon_guard import telethon_lock
from keys import CLIENT
async def on_startup(app: web.Application) -> None:
    app[CLIENT] = TelegramClient("s", 1, "0" * 32)
    app["http"] = httpx.AsyncClient()
def make() -> web.Application:
    app = web.Application()
    app["tg"] = TelegramClient("t", 1, "0" * 32)
    app.on_startup.append(on_startup)
    return app
""",
        "views.py": """\
from keys import CLIENT
from telethon_guard import telethon_lock
async def send(request):
    await request.app[CLIENT].send_message("me", "x")
    await request.app["tg"].get_me()
    await request.app["http"].delete("x")
    await request.app["nothing"].get_me()
    async with telethon_lock:
        await request.app[CLIENT].send_message("me", "x")
""",
    }
    assert where(files) == [("views.py", "TG100", 4), ("views.py", "TG100", 5)]


def test_key_of_something_not_an_application_is_not_followed() -> None:
    source = textwrap.dedent("""\
        from telethon import TelegramClient
        registry = {}
        registry["client"] = TelegramClient("s", 1, "0" * 32)
        async def f(cache):
            await cache["client"].get_me()
    """)
    assert codes(source) == []
