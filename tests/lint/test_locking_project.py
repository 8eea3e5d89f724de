"""TG100/TG102 across modules: helpers, clients and locks defined in one module, used in another."""

from __future__ import annotations

from lint_rules.config import Config

from ._drive import lint, where

TG = """\
from telethon import TelegramClient
client = TelegramClient("relay", 1, "0" * 32)
"""


def test_client_imported_from_another_module() -> None:
    files = {
        "app/__init__.py": "",
        "app/tg.py": TG,
        "app/api.py": (
            "from .tg import client\n"
            "from app import tg\n"
            "async def post():\n"
            "    await client.send_message('me', 'x')\n"
            "    await tg.client.get_me()\n"
        ),
    }
    assert where(files) == [("app/api.py", "TG100", 4), ("app/api.py", "TG100", 5)]


def test_reexported_client_and_factory_function() -> None:
    files = {
        "app/__init__.py": "from .tg import client, make\n",
        "app/tg.py": TG + "def make():\n    return TelegramClient('other', 1, 'x')\n",
        "app/api.py": (
            "import app\n"
            "async def post():\n"
            "    await app.client.get_me()\n"
            "    c = app.make()\n"
            "    await c.get_me()\n"
        ),
    }
    assert where(files) == [("app/api.py", "TG100", 3), ("app/api.py", "TG100", 5)]


def test_configured_client_factory() -> None:
    files = {
        "svc/deps.py": "def get_client(settings):\n    return settings.build()\n",
        "svc/api.py": (
            "from svc.deps import get_client\n"
            "async def post(settings):\n"
            "    client = get_client(settings)\n"
            "    await client.get_me()\n"
        ),
    }
    assert where(files) == []
    config = Config(client_factories=("svc.deps.get_client",))
    assert where(files, config) == [("svc/api.py", "TG100", 4)]


def test_subclass_in_another_module() -> None:
    files = {
        "app/client.py": ("import telethon\nclass Relay(telethon.TelegramClient):\n    pass\n"),
        "app/svc.py": (
            "from app.client import Relay\n"
            "class Service:\n"
            "    def __init__(self, relay: Relay):\n"
            "        self.relay = relay\n"
            "    async def send(self):\n"
            "        await self.relay.send_message('me', 'x')\n"
        ),
    }
    assert where(files) == [("app/svc.py", "TG100", 6)]


HELPER = """\
from app.tg import client
async def send(text):
    await client.send_message("BotFather", text)
async def relay(text):
    await send(text)
"""


def test_helper_called_unlocked_across_modules() -> None:
    files = {
        "app/tg.py": TG,
        "app/relay.py": HELPER,
        "app/api.py": (
            "from fastapi import FastAPI\n"
            "from telethon_guard import telethon_lock\n"
            "from app import relay\n"
            "from app.relay import send\n"
            "app = FastAPI()\n"
            "@app.post('/a')\n"
            "async def a():\n"
            "    await relay.relay('x')\n"
            "@app.post('/b')\n"
            "async def b():\n"
            "    async with telethon_lock:\n"
            "        await send('y')\n"
        ),
    }
    found = lint(files)
    # The outermost unlocked call site, naming the action and where it is; nothing inside helpers.
    assert [(f.path, f.code, f.line) for f in found] == [("app/api.py", "TG100", 8)]
    assert found[0].message.startswith(
        "call to helper relay.relay() performs client.send_message() (app/relay.py:3) "
        "outside telethon_lock"
    )


def test_helper_called_only_locked_is_fine() -> None:
    files = {
        "app/tg.py": TG,
        "app/relay.py": HELPER,
        "app/api.py": (
            "from telethon_guard import telethon_lock\n"
            "from app.relay import relay\n"
            "async def a():\n"
            "    async with telethon_lock:\n"
            "        await relay('x')\n"
        ),
    }
    assert where(files) == []


def test_helper_call_in_create_task_is_unlocked() -> None:
    files = {
        "app/tg.py": TG,
        "app/relay.py": HELPER,
        "app/api.py": (
            "import asyncio\n"
            "from telethon_guard import telethon_lock\n"
            "from app.relay import send\n"
            "async def a():\n"
            "    async with telethon_lock:\n"
            "        asyncio.create_task(send('x'))\n"
        ),
    }
    found = lint(files)
    # relay.relay() is never called: an entry point whose own unlocked call of send() is reported.
    assert [(f.path, f.line) for f in found] == [("app/api.py", 6), ("app/relay.py", 5)]
    assert "in a new task (create_task)" in found[0].message


def test_function_used_as_callback_is_an_entry_point() -> None:
    files = {
        "app/tg.py": TG,
        "app/jobs.py": (
            "from app.tg import client\n"
            "async def job():\n"
            "    await client.get_me()\n"
            "async def direct():\n"
            "    await job()\n"
            "def schedule(scheduler):\n"
            "    scheduler.add_job(job)\n"
        ),
    }
    # Reported in place (it runs from the scheduler), not at the call.
    assert where(files) == [("app/jobs.py", "TG100", 3)]


def test_never_called_functions_are_entry_points() -> None:
    files = {
        "app/tg.py": TG,
        "app/handlers.py": "from app.tg import client\nasync def h():\n    await client.get_me()\n",
    }
    assert where(files) == [("app/handlers.py", "TG100", 3)]


def test_method_helpers_via_self_and_known_instances() -> None:
    files = {
        "app/tg.py": TG,
        "app/session.py": (
            "from app.tg import client\n"
            "class BotFatherSession:\n"
            "    async def _send(self, text):\n"
            "        await client.send_message('BotFather', text)\n"
            "    async def send_message(self, text):\n"
            "        await self._send(text)\n"
            "session = BotFatherSession()\n"
        ),
        "app/api.py": (
            "from app.session import session, BotFatherSession\n"
            "async def a():\n"
            "    await session.send_message('x')\n"
            "async def b(s: BotFatherSession):\n"
            "    await s.send_message('y')\n"
        ),
    }
    assert where(files) == [("app/api.py", "TG100", 3), ("app/api.py", "TG100", 5)]


def test_recursive_helpers_terminate() -> None:
    files = {
        "app/tg.py": TG,
        "app/r.py": (
            "from app.tg import client\n"
            "async def a(n):\n"
            "    if n:\n"
            "        await b(n - 1)\n"
            "    await client.get_me()\n"
            "async def b(n):\n"
            "    await a(n)\n"
            "async def entry():\n"
            "    await a(3)\n"
        ),
    }
    assert where(files) == [("app/r.py", "TG100", 9)]


def test_two_locks_across_modules() -> None:
    files = {
        "app/tg.py": TG,
        "app/locks.py": "import asyncio\ntg_lock = asyncio.Lock()\n",
        "app/a.py": (
            "from telethon_guard import telethon_lock\n"
            "from app.tg import client\n"
            "async def a():\n"
            "    async with telethon_lock:\n"
            "        await client.get_me()\n"
        ),
        "app/b.py": (
            "from app.locks import tg_lock\n"
            "from app.tg import client\n"
            "async def b():\n"
            "    async with tg_lock:\n"
            "        await client.get_me()\n"
        ),
        "app/c.py": (
            "from app import locks\n"
            "from app.tg import client\n"
            "async def c():\n"
            "    async with locks.tg_lock:\n"
            "        await client.get_me()\n"
        ),
    }
    config = Config(lock_names=("telethon_lock", "tg_lock"))
    found = lint(files, config)
    assert [(f.path, f.code, f.line) for f in found] == [
        ("app/a.py", "TG102", 4),
        ("app/locks.py", "TG102", 2),
    ]
    assert "app.locks.tg_lock` (app/locks.py:2)" in found[0].message
    # One lock object, however it is imported: no TG102.
    del files["app/a.py"]
    assert where(files, config) == []


def test_dotted_lock_names() -> None:
    files = {
        "app/tg.py": TG,
        "app/locks.py": "import asyncio\nLOCK = asyncio.Lock()\n",
        "app/b.py": (
            "from app.locks import LOCK\n"
            "from app.tg import client\n"
            "async def b():\n"
            "    async with LOCK:\n"
            "        await client.get_me()\n"
        ),
    }
    assert [c for _, c, _ in where(files)] == ["TG100"]
    assert where(files, Config(lock_names=("app.locks.LOCK",))) == []


def test_through_the_engine_on_a_tree(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The real engine (worker processes, prefilter by keywords, fix loop) over two modules."""
    from lint_rules import Config as EngineConfig
    from lint_rules import lint_paths
    from lint_rules.rules.locking import LockingFamily

    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "tg.py").write_text(TG + "async def send(t):\n    await client.get_me()\n")
    # No "telethon" in this file: it matters only because it imports a module that does.
    (tmp_path / "app" / "api.py").write_text(
        "from app.tg import send\nasync def route():\n    await send('x')\n"
    )
    monkeypatch.chdir(tmp_path)
    config = EngineConfig(root=str(tmp_path))
    found = lint_paths(["."], config, jobs=2, families=[LockingFamily()])
    assert [(f.path, f.code, f.line) for f in found] == [("app/api.py", "TG100", 3)]
    assert found == lint_paths(["."], config, jobs=1, families=[LockingFamily()])


def test_attribute_locks_are_not_counted_as_distinct_locks() -> None:
    files = {
        "app/tg.py": TG,
        "app/a.py": (
            "from telethon_guard import telethon_lock\n"
            "from app.tg import client\n"
            "class S:\n"
            "    def __init__(self, lock=telethon_lock):\n"
            "        self.telethon_lock = lock\n"
            "    async def a(self):\n"
            "        async with self.telethon_lock:\n"
            "            await client.get_me()\n"
            "async def b():\n"
            "    async with telethon_lock:\n"
            "        await client.get_me()\n"
        ),
    }
    assert where(files) == []


def test_app_state_client_and_class_attribute() -> None:
    files = {
        "svc/main.py": (
            "from contextlib import asynccontextmanager\n"
            "from fastapi import FastAPI, Request\n"
            "from telethon import TelegramClient\n"
            "@asynccontextmanager\n"
            "async def lifespan(app):\n"
            "    app.state.tg = TelegramClient('s', 1, 'x')\n"
            "    await app.state.tg.connect()\n"
            "    yield\n"
            "app = FastAPI(lifespan=lifespan)\n"
            "class Holder:\n"
            "    client = TelegramClient('t', 1, 'x')\n"
        ),
        "svc/routes.py": (
            "from fastapi import Request\n"
            "from svc.main import Holder\n"
            "async def send(request: Request):\n"
            "    await request.app.state.tg.send_message('me', 'x')\n"
            "    await request.app.state.other.send_message('me', 'x')\n"
            "    await Holder.client.get_me()\n"
        ),
    }
    assert where(files) == [("svc/routes.py", "TG100", 4), ("svc/routes.py", "TG100", 6)]


def test_conversation_waits_in_wait_for_are_not_requests() -> None:
    files = {
        "app/tg.py": TG,
        "app/bots.py": (
            "import asyncio\n"
            "from telethon_guard import telethon_lock\n"
            "from app.tg import client\n"
            "async def newbot():\n"
            "    async with telethon_lock:\n"
            "        async with client.conversation('BotFather') as conv:\n"
            "            await conv.send_message('/newbot')\n"
            "            return await asyncio.wait_for(conv.get_response(), 10)\n"
        ),
    }
    assert where(files) == []


def test_task_started_inside_a_helper_is_reported_in_place() -> None:
    files = {
        "app/tg.py": TG,
        "app/h.py": (
            "import asyncio\n"
            "from telethon_guard import telethon_lock\n"
            "from app.tg import client\n"
            "async def fire():\n"
            "    asyncio.create_task(client.get_me())\n"
            "async def route():\n"
            "    async with telethon_lock:\n"
            "        await fire()\n"
        ),
    }
    # The caller's lock does not reach the new task.
    assert where(files) == [("app/h.py", "TG100", 5)]


SERVICE = """\
import asyncio
from typing import Annotated
from fastapi import Depends, FastAPI, Request
from telethon import TelegramClient
from telethon_guard import serialized, telethon_lock


class TG:
    def __init__(self, session: str):
        self._client = TelegramClient(session, 1, "x")
        self._lock = telethon_lock

    @property
    def client(self) -> TelegramClient:
        return self._client

    async def resolve(self, who):
        async with self._lock:
            return await self._client.get_entity(who)

    async def send(self, who, text):
        entity = await self.resolve(who)
        return await self.client.send_message(entity, text)


tg = TG("main")


def get_tg() -> TG:
    return tg


app = FastAPI()


@app.post("/send")
async def send(who: str, text: str, t: Annotated[TG, Depends(get_tg)]):
    msg = await t.send(who, text)
    return {"id": msg.id}


@app.get("/me")
async def me(request: Request):
    client: TelegramClient = request.app.state.client
    return (await client.get_me()).to_dict()


@serialized
async def history(chat):
    return [m async for m in tg.client.iter_messages(chat, limit=10)]


async def bulk(chats):
    return await asyncio.gather(*(history(c) for c in chats))


async def direct(chat):
    await tg.client.get_messages(chat)
    await get_tg().client.get_dialogs()
"""


def test_a_realistic_service() -> None:
    found = lint({"svc/app.py": SERVICE})
    assert [(f.line, f.code) for f in found] == [
        (38, "TG100"),
        (45, "TG100"),
        (58, "TG100"),
        (59, "TG100"),
    ]
    assert (
        "call to helper TG.send() performs self.client.send_message() (svc/app.py:23)"
        in found[0].message
    )


def test_deep_diamond_of_helpers_is_fast_and_exact() -> None:
    # 40 layers of two helpers each calling both helpers of the next layer: 2**40 paths.
    lines = ["from app.tg import client"]
    for i in range(40):
        for side in "ab":
            lines.append(f"async def h{i}{side}():")
            if i < 39:
                lines += [f"    await h{i + 1}a()", f"    await h{i + 1}b()"]
            else:
                lines.append("    await client.get_me()")
    lines += ["async def entry():", "    await h0a()", "    await h0b()"]
    files = {"app/tg.py": TG, "app/deep.py": "\n".join(lines) + "\n"}
    found = lint(files)
    assert [(f.path, f.line) for f in found] == [
        ("app/deep.py", len(lines) - 1),
        ("app/deep.py", len(lines)),
    ]


def test_event_handler_registered_from_another_module() -> None:
    files = {
        "bot/handlers.py": (
            "from telethon_guard import telethon_lock\n"
            "async def on_message(event):\n"
            "    await event.reply('hi')\n"
            "    await event.client.send_read_acknowledge(event.chat_id)\n"
            "async def on_other(event):\n"
            "    async with telethon_lock:\n"
            "        await event.respond('x')\n"
            "async def not_a_handler(repo):\n"
            "    await repo.delete(1)\n"
        ),
        "bot/main.py": (
            "from telethon import TelegramClient, events\n"
            "from bot import handlers\n"
            "from bot.handlers import on_other\n"
            "client = TelegramClient('s', 1, 'x')\n"
            "client.add_event_handler(handlers.on_message, events.NewMessage())\n"
            "client.add_event_handler(on_other, events.NewMessage())\n"
        ),
    }
    assert where(files) == [("bot/handlers.py", "TG100", 3), ("bot/handlers.py", "TG100", 4)]


def test_helper_call_under_another_lock() -> None:
    files = {
        "app/tg.py": TG,
        "app/relay.py": HELPER,
        "app/api.py": (
            "import asyncio\n"
            "from app.relay import send\n"
            "send_lock = asyncio.Lock()\n"
            "async def a():\n"
            "    async with send_lock:\n"
            "        await send('x')\n"
        ),
    }
    found = lint(files)
    assert [(f.path, f.line, f.fix) for f in found] == [
        ("app/api.py", 6, None),
        ("app/relay.py", 5, found[1].fix),
    ]
    assert "under `send_lock`, which is not the telethon lock" in found[0].message


def test_event_handler_methods_registered_in_init() -> None:
    files = {
        "bot/app.py": (
            "from telethon import TelegramClient, events\n"
            "class Bot:\n"
            "    def __init__(self, client: TelegramClient):\n"
            "        self.client = client\n"
            "        client.add_event_handler(self.on_message, events.NewMessage())\n"
            "    async def on_message(self, event):\n"
            "        await event.reply('hi')\n"
            "    async def other(self, thing):\n"
            "        await thing.reply('x')\n"
        ),
    }
    assert where(files) == [("bot/app.py", "TG100", 7)]
