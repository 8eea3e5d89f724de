"""The TG100 fix: wrap the statement in `async with telethon_lock:` and add the import."""

from __future__ import annotations

import libcst as cst

from ._drive import apply_fixes, lint


def fix(source: str, path: str = "example.py") -> str:
    return apply_fixes(source, [f for f in lint({path: source}) if f.code == "TG100"])


SERVICE = '''\
"""The relay."""
import asyncio

from telethon import TelegramClient

client = TelegramClient("s", 1, "0" * 32)


async def relay(text):
    # say it
    await client.send_message("BotFather", text)  # the action
    if text:
        await client.send_message(
            "BotFather",
            """two
lines""",
        )
    return await client.get_messages("BotFather", limit=1)
'''

FIXED = '''\
"""The relay."""
import asyncio

from telethon import TelegramClient
from telethon_guard import telethon_lock

client = TelegramClient("s", 1, "0" * 32)


async def relay(text):
    # say it
    async with telethon_lock:
        await client.send_message("BotFather", text)  # the action
    if text:
        async with telethon_lock:
            await client.send_message(
                "BotFather",
                """two
lines""",
            )
    async with telethon_lock:
        return await client.get_messages("BotFather", limit=1)
'''


def test_fix_wraps_statements_keeps_comments_and_strings_and_adds_import() -> None:
    fixed = fix(SERVICE)
    assert fixed == FIXED
    cst.parse_module(fixed)
    assert [f for f in lint(fixed) if f.code == "TG100"] == []


def test_fix_is_idempotent() -> None:
    once = fix(SERVICE)
    assert fix(once) == once


def test_fix_of_helper_call_site_and_existing_import() -> None:
    source = (
        "from telethon import TelegramClient\n"
        "from telethon_guard import telethon_lock\n"
        "client = TelegramClient('s', 1, 'x')\n"
        "async def send():\n"
        "    await client.get_me()\n"
        "async def route():\n"
        "    x = await send()\n"
        "    return x\n"
    )
    fixed = fix(source)
    assert fixed == source.replace(
        "    x = await send()\n", "    async with telethon_lock:\n        x = await send()\n"
    )
    assert lint(fixed) == []


def test_no_fix_where_unsound() -> None:
    source = (
        "import asyncio\n"
        "from telethon import TelegramClient\n"
        "from telethon_guard import telethon_lock\n"
        "client = TelegramClient('s', 1, 'x')\n"
        "def sync():\n"
        "    client.get_me()\n"
        "async def gen():\n"
        "    yield await client.get_me()\n"
        "async def task():\n"
        "    async with telethon_lock:\n"
        "        asyncio.create_task(client.get_me())\n"
        "client.get_me()\n"
        "async def both():\n"
        "    return await client.get_me(), await asyncio.gather(task())\n"
    )
    found = [f for f in lint(source) if f.code == "TG100"]
    # Sync code, an async generator, another task, module level, and a statement that awaits
    # tasks (holding the lock while they wait for it would deadlock).
    assert [(f.line, f.fix) for f in found] == [
        (6, None),
        (8, None),
        (11, None),
        (12, None),
        (14, None),
    ]


def test_fix_of_compound_header_and_tabs_and_no_imports() -> None:
    source = "async def f(client: 'telethon.TelegramClient'):\n\tasync for m in client.iter_messages('me'):\n\t\tprint(m)\nimport telethon\n"
    fixed = fix(source)
    assert fixed == (
        "async def f(client: 'telethon.TelegramClient'):\n"
        "\tasync with telethon_lock:\n"
        "\t\tasync for m in client.iter_messages('me'):\n"
        "\t\t\tprint(m)\n"
        "import telethon\n"
        "from telethon_guard import telethon_lock\n"
    )
    assert lint(fixed) == []


def test_fix_inserts_after_docstring_when_no_imports() -> None:
    source = '"""Doc."""\nasync def f(client: "TelegramClient"):\n    await client.get_me()\n'
    # Without an import of TelegramClient the annotation names nothing: no finding, no fix.
    assert lint(source) == []
    source = '"""Doc."""\nasync def f(c: "telethon.TelegramClient"):\n    await c.get_me()\n'
    assert lint(source) == []  # `telethon` is not imported either: never guess from spelling


def test_fix_keeps_crlf_line_endings_and_unicode_columns() -> None:
    source = (
        "from telethon import TelegramClient\r\n"
        "client = TelegramClient('s', 1, 'x')\r\n"
        "async def f():\r\n"
        "    ü = 'é'; await client.send_message('me', 'ü')\r\n"
    )
    (finding,) = lint({"example.py": source})
    assert (finding.line, finding.column) == (4, 20)  # columns count characters
    fixed = apply_fixes(source, [finding])
    assert fixed == (
        "from telethon import TelegramClient\r\n"
        "from telethon_guard import telethon_lock\r\n"
        "client = TelegramClient('s', 1, 'x')\r\n"
        "async def f():\r\n"
        "    async with telethon_lock:\r\n"
        "        ü = 'é'; await client.send_message('me', 'ü')\r\n"
    )
    assert lint({"example.py": fixed}) == []


def test_fix_counts_lines_like_python_with_form_feeds() -> None:
    source = (
        "from telethon import TelegramClient\n"
        "\x0c\n"
        "client = TelegramClient('s', 1, 'x')  # a \x0c page break and \u2028 in a comment\n"
        "async def f():\n"
        "    await client.get_me()\n"
    )
    fixed = fix(source)
    assert fixed.endswith(
        "async def f():\n    async with telethon_lock:\n        await client.get_me()\n"
    )
    assert lint({"example.py": fixed}) == []
