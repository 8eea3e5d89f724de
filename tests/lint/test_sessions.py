"""TG300 shared-session / TG301 client-per-call, within a module and across a tree."""

from __future__ import annotations

import pytest

from lint_rules.config import Config
from lint_rules.model import Finding
from lint_rules.rules.sessions import ClientPerCall, SessionsFamily, SharedSession

from ._drive_r2 import lint as drive

FAMILY = (SessionsFamily(),)
HEAD = "from telethon import TelegramClient\n"


def lint(files: dict[str, str], config: Config | None = None) -> list[Finding]:
    return drive(files, config, FAMILY)


def found(files: dict[str, str], config: Config | None = None) -> list[tuple[str, str, int]]:
    return [(f.path, f.code, f.line) for f in lint(files, config)]


@pytest.mark.parametrize("rule", [SharedSession, ClientPerCall])
def test_rule_examples(rule: type) -> None:
    for source in (*rule.valid, rule.instead):
        assert [f for f in lint({"example.py": source}) if f.code == rule.code] == [], source
    for source in (*rule.invalid, rule.example):
        assert [f for f in lint({"example.py": source}) if f.code == rule.code], source


# --- TG300 ------------------------------------------------------------------------------------


def test_service_and_script_beside_it_name_each_other() -> None:
    files = {
        "relay/__init__.py": "",
        "relay/config.py": 'SESSION = "data/relay"\n',
        "relay/service.py": (
            "from contextlib import asynccontextmanager\n"
            + HEAD
            + "from .config import SESSION\n\n"
            "@asynccontextmanager\n"
            "async def lifespan(app):\n"
            "    app.state.client = TelegramClient(SESSION, 1, '0' * 32)\n"
            "    yield\n"
        ),
        "backfill.py": (
            "from telethon.sync import TelegramClient\n"
            "\n"
            "with TelegramClient('./data/relay.session', 1, '0' * 32) as client:\n"
            "    pass\n"
        ),
    }
    findings = lint(files)
    assert [(f.path, f.code, f.line, f.column) for f in findings] == [
        ("backfill.py", "TG300", 3, 6),
        ("relay/service.py", "TG300", 7, 24),
    ]
    assert "is also opened at relay/service.py:7" in findings[0].message
    assert 'session "./data/relay.session"' in findings[0].message
    assert "is also opened at backfill.py:3" in findings[1].message


def test_constant_forms_across_modules() -> None:
    files = {
        "app/__init__.py": "",
        "app/settings.py": "import os\nBASE = 'data'\nNAME = 'relay'\nSESSION = os.getenv('RELAY_SESSION', BASE + '/relay')\n",
        "app/a.py": HEAD
        + "from app.settings import SESSION\nc = TelegramClient(SESSION, 1, 'x')\n",
        "app/b.py": HEAD
        + "import app.settings as s\nc = TelegramClient(f'{s.BASE}/{s.NAME}', 1, 'x')\n",
        "app/c.py": HEAD
        + "import os\nc = TelegramClient(os.path.join('data', 'relay.session'), 1, 'x')\n",
        "app/d.py": HEAD
        + "from pathlib import Path\nc = TelegramClient(str(Path('data') / 'relay'), 1, 'x')\n",
        "app/e.py": HEAD + "import os\nc = TelegramClient(os.environ['RELAY_SESSION'], 1, 'x')\n",
        "app/f.py": HEAD + "from app import settings\nc = TelegramClient(settings.BASE, 1, 'x')\n",
    }
    assert found(files) == [
        ("app/a.py", "TG300", 3),
        ("app/b.py", "TG300", 3),
        ("app/c.py", "TG300", 3),
        ("app/d.py", "TG300", 3),
        ("app/e.py", "TG300", 3),
    ]


def test_environment_variable_without_default() -> None:
    files = {
        "a.py": HEAD + "import os\nc = TelegramClient(os.environ['TG_SESSION'], 1, 'x')\n",
        "b.py": HEAD + "import os\nc = TelegramClient(os.getenv('TG_SESSION'), 1, 'x')\n",
        "c.py": HEAD + "import os\nc = TelegramClient(os.getenv('OTHER_SESSION'), 1, 'x')\n",
    }
    findings = lint(files)
    assert [(f.path, f.line) for f in findings] == [("a.py", 3), ("b.py", 3)]
    assert "session $TG_SESSION is also opened at b.py:3" in findings[0].message


def test_sessions_that_never_collide() -> None:
    src = (
        HEAD + "from telethon.sessions import MemorySession, StringSession\n"
        "a = TelegramClient(None, 1, 'x')\n"
        "b = TelegramClient(None, 1, 'x')\n"
        "c = TelegramClient(MemorySession(), 1, 'x')\n"
        "d = TelegramClient(MemorySession(), 1, 'x')\n"
        "e = TelegramClient(StringSession(), 1, 'x')\n"
        "f = TelegramClient(StringSession(), 1, 'x')\n"
        "g = TelegramClient('', 1, 'x')\n"
        "h = TelegramClient('', 1, 'x')\n"
        "i = TelegramClient('relay', 1, 'x')\n"
        "j = TelegramClient('relay2', 1, 'x')\n"
        "k = TelegramClient('sub/relay', 1, 'x')\n"
    )
    assert found({"m.py": src}) == []


def test_string_session_of_the_same_string() -> None:
    src = (
        HEAD + "import os\nfrom telethon.sessions import StringSession\n"
        "KEY = os.environ['TG_STRING']\n"
        "a = TelegramClient(StringSession(KEY), 1, 'x')\n"
        "b = TelegramClient(StringSession(os.environ['TG_STRING']), 1, 'x')\n"
        "c = TelegramClient(StringSession('1AbC'), 1, 'x')\n"
        "d = TelegramClient(StringSession('1AbC'), 1, 'x')\n"
        "e = TelegramClient('1AbC', 1, 'x')\n"
    )
    assert found({"m.py": src}) == [
        ("m.py", "TG300", 5),
        ("m.py", "TG300", 6),
        ("m.py", "TG300", 7),
        ("m.py", "TG300", 8),
    ]


def test_client_classes_aliases_subclasses_factories() -> None:
    files = {
        "tg/__init__.py": "",
        "tg/client.py": "import telethon\n\nclass Relay(telethon.TelegramClient):\n    pass\n\nclass Special(Relay):\n    pass\n",
        "tg/factory.py": "from tg.client import Relay\n\ndef make_client(name):\n    return Relay(name, 1, 'x')\n",
        "one.py": "from tg.client import Special\nc = Special(session='relay', api_id=1, api_hash='x')\n",
        "two.py": "import telethon.sync as ts\nc = ts.TelegramClient('relay', 1, 'x')\n",
        "three.py": "from tg.factory import make_client\nc = make_client('relay')\n",
        "four.py": "from myapp import Lookalike\nc = Lookalike('relay')\nd = Lookalike('relay')\n",
    }
    # make_client builds the client from its parameter: each call with a literal is a construction.
    assert found(files) == [
        ("one.py", "TG300", 2),
        ("three.py", "TG300", 2),
        ("two.py", "TG300", 2),
    ]
    config = Config(client_factories=("tg.factory.make_client",))
    assert found(files, config) == [
        ("one.py", "TG300", 2),
        ("three.py", "TG300", 2),
        ("two.py", "TG300", 2),
    ]


def test_local_class_named_telegramclient_is_not_telethon() -> None:
    src = "class TelegramClient:\n    def __init__(self, s):\n        pass\n\na = TelegramClient('x')\nb = TelegramClient('x')\n"
    assert found({"m.py": src}) == []


# --- TG301 ------------------------------------------------------------------------------------


def test_route_handlers() -> None:
    src = (
        HEAD + "from fastapi import FastAPI, APIRouter, Depends\n"  # 2
        "from flask import Flask\n"  # 3
        "app = FastAPI()\n"  # 4
        "router = APIRouter()\n"  # 5
        "web = Flask(__name__)\n"  # 6
        "SESSION = 'relay'\n"  # 7
        "@app.get('/a')\n"  # 8
        "async def a():\n"  # 9
        "    client = TelegramClient(SESSION, 1, 'x')\n"  # 10
        "@router.post('')\n"  # 11
        "async def b():\n"  # 12
        "    client = TelegramClient('other', 1, 'x')\n"  # 13
        "@web.route('/c')\n"  # 14
        "def c():\n"  # 15
        "    client = TelegramClient('third', 1, 'x')\n"  # 16
        "@app.websocket('/ws')\n"  # 17
        "async def ws(socket):\n"  # 18
        "    client = TelegramClient('fourth', 1, 'x')\n"  # 19
        "def dep():\n"  # 20
        "    return TelegramClient('fifth', 1, 'x')\n"  # 21
        "@app.get('/e')\n"  # 22
        "async def e(client=Depends(dep)):\n"  # 23
        "    pass\n"  # 24
        "@app.get('/f/{name}')\n"  # 25
        "async def f(name: str):\n"  # 26
        "    client = TelegramClient(name, 1, 'x')\n"  # 27
        "@cache.get('key')\n"  # 28
        "def g():\n"  # 29
        "    client = TelegramClient('sixth', 1, 'x')\n"  # 30
    )
    findings = lint({"m.py": src})
    assert [(f.code, f.line) for f in findings] == [
        ("TG301", 10),
        ("TG301", 13),
        ("TG301", 16),
        ("TG301", 19),
        ("TG301", 21),
    ]
    assert "request handler `a`" in findings[0].message
    assert "request dependency `dep`" in findings[4].message
    assert "create one client in the lifespan" in findings[0].message


def test_starlette_routes_and_event_handlers() -> None:
    src = (
        HEAD + "from telethon import events\n"  # 2
        "from starlette.routing import Route\n"  # 3
        "bot = TelegramClient('bot', 1, 'x')\n"  # 4
        "async def endpoint(request):\n"  # 5
        "    TelegramClient('relay', 1, 'x')\n"  # 6
        "routes = [Route('/x', endpoint)]\n"  # 7
        "async def on_message(event):\n"  # 8
        "    TelegramClient('relay2', 1, 'x')\n"  # 9
        "bot.add_event_handler(on_message, events.NewMessage())\n"  # 10
        "@events.register(events.NewMessage)\n"  # 11
        "async def registered(event):\n"  # 12
        "    TelegramClient('relay3', 1, 'x')\n"  # 13
    )
    assert [(f.code, f.line) for f in lint({"m.py": src})] == [
        ("TG301", 6),
        ("TG301", 9),
        ("TG301", 13),
    ]


def test_loops_and_comprehensions() -> None:
    src = (
        HEAD + "NAMES = ['a', 'b']\n"  # 2
        "async def main():\n"  # 3
        "    while True:\n"  # 4
        "        async with TelegramClient('relay', 1, 'x') as c:\n"  # 5
        "            pass\n"  # 6
        "    for name in NAMES:\n"  # 7
        "        c = TelegramClient(name, 1, 'x')\n"  # 8
        "        d = TelegramClient(f'{name}.session', 1, 'x')\n"  # 9
        "        label = 'acc-' + name\n"  # 10
        "        e = TelegramClient(label, 1, 'x')\n"  # 11
        "    clients = {n: TelegramClient(n, 1, 'x') for n in NAMES}\n"  # 12
        "    same = [TelegramClient('fixed', 1, 'x') for n in NAMES]\n"  # 13
        "    fixed = 'one'\n"  # 14
        "    for _ in range(2):\n"  # 15
        "        TelegramClient(fixed, 1, 'x')\n"  # 16
    )
    findings = lint({"m.py": src})
    assert [(f.code, f.line) for f in findings] == [("TG301", 5), ("TG301", 13), ("TG301", 16)]
    assert "inside a loop" in findings[0].message


def test_functions_that_run_more_than_once() -> None:
    files = {
        "app/__init__.py": "",
        "app/tg.py": (
            HEAD + "def make():\n"  # 2
            "    return TelegramClient('relay', 1, 'x')\n"  # 3
            "def make_once():\n"  # 4
            "    return TelegramClient('once', 1, 'x')\n"  # 5
            "def make_looped():\n"  # 6
            "    return TelegramClient('looped', 1, 'x')\n"  # 7
            "def make_deep():\n"  # 8
            "    return TelegramClient('deep', 1, 'x')\n"  # 9
            "def middle():\n"  # 10
            "    return make_deep()\n"  # 11
            "class Relay:\n"  # 12
            "    def __init__(self):\n"  # 13
            "        self.client = TelegramClient('per-instance', 1, 'x')\n"  # 14
        ),
        "app/a.py": "from app.tg import make, make_once\n\nasync def lifespan(app):\n    make()\n    make_once()\n",
        "app/b.py": (
            "from app import tg\nfrom fastapi import FastAPI\napp = FastAPI()\n"
            "def job():\n    tg.make()\n"
            "for _ in range(3):\n    tg.make_looped()\n"
            "@app.post('/x')\nasync def handler():\n    tg.middle()\n    tg.Relay()\n"
        ),
    }
    findings = lint(files)
    assert [(f.path, f.code, f.line) for f in findings] == [
        ("app/tg.py", "TG301", 3),
        ("app/tg.py", "TG301", 7),
        ("app/tg.py", "TG301", 9),
        ("app/tg.py", "TG301", 14),
    ]
    messages = [f.message for f in findings]
    assert "`make`, which is called from 2 places" in messages[0]
    assert "called in a loop or a handler" in messages[1]
    assert "called from `middle` which runs more than once" in messages[2]


def test_once_patterns_are_fine() -> None:
    src = (
        HEAD + "import functools\n"  # 2
        "from fastapi import FastAPI\n"  # 3
        "app = FastAPI()\n"  # 4
        "_client = None\n"  # 5
        "def get_client():\n"  # 6
        "    global _client\n"  # 7
        "    if _client is None:\n"  # 8
        "        _client = TelegramClient('relay', 1, 'x')\n"  # 9
        "    return _client\n"  # 10
        "@functools.lru_cache(maxsize=None)\n"  # 11
        "def cached():\n"  # 12
        "    return TelegramClient('cached', 1, 'x')\n"  # 13
        "class Holder:\n"  # 14
        "    def get(self):\n"  # 15
        "        if not self._client:\n"  # 16
        "            self._client = TelegramClient('held', 1, 'x')\n"  # 17
        "        return self._client\n"  # 18
        "@app.on_event('startup')\n"  # 19
        "async def startup():\n"  # 20
        "    app.state.client = TelegramClient('startup', 1, 'x')\n"  # 21
        "@app.get('/a')\n"  # 22
        "async def a():\n"  # 23
        "    get_client(); cached(); Holder().get()\n"  # 24
        "@app.get('/b')\n"  # 25
        "async def b():\n"  # 26
        "    get_client(); cached(); Holder().get()\n"  # 27
        "if __name__ == '__main__':\n"  # 28
        "    for _ in range(1):\n"  # 29
        "        pass\n"  # 30
        "    client = TelegramClient('main', 1, 'x')\n"  # 31
    )
    assert found({"m.py": src}) == []


def test_subclass_in_a_loop_is_decided_in_the_project_pass() -> None:
    files = {
        "tg.py": HEAD + "class Relay(TelegramClient):\n    pass\n",
        "loop.py": "from tg import Relay\nfrom other import Thing\nfor _ in range(2):\n    Relay('relay', 1, 'x')\n    Thing('relay')\n",
    }
    assert found(files) == [("loop.py", "TG301", 4)]


def test_tg300_and_tg301_both_apply() -> None:
    files = {
        "a.py": HEAD + "for _ in range(2):\n    TelegramClient('relay', 1, 'x')\n",
        "b.py": HEAD + "client = TelegramClient('relay', 1, 'x')\n",
    }
    assert found(files) == [("a.py", "TG300", 3), ("a.py", "TG301", 3), ("b.py", "TG300", 2)]


def test_exclusive_branches_do_not_share() -> None:
    files = {
        "bot.py": (
            HEAD + "import os\n"  # 2
            "PROXY = os.getenv('PROXY')\n"  # 3
            "if PROXY:\n"  # 4
            "    client = TelegramClient('relay', 1, 'x', proxy=PROXY)\n"  # 5
            "elif os.getenv('IPV6'):\n"  # 6
            "    client = TelegramClient('relay', 1, 'x', use_ipv6=True)\n"  # 7
            "else:\n"  # 8
            "    client = TelegramClient('relay', 1, 'x')\n"  # 9
            "try:\n"  # 10
            "    other = TelegramClient('other', 1, 'x')\n"  # 11
            "except ValueError:\n"  # 12
            "    other = TelegramClient('other', 1, 'x')\n"  # 13
            "if PROXY:\n"  # 14
            "    again = TelegramClient('again', 1, 'x')\n"  # 15
            "again2 = TelegramClient('again', 1, 'x')\n"  # 16
        )
    }
    assert found(files) == [("bot.py", "TG300", 15), ("bot.py", "TG300", 16)]
    files["script.py"] = HEAD + "c = TelegramClient('relay', 1, 'x')\n"
    findings = lint(files)
    assert [(f.path, f.line) for f in findings if "relay" in f.message] == [
        ("bot.py", 5),
        ("bot.py", 7),
        ("bot.py", 9),
        ("script.py", 2),
    ]
    assert findings[0].message.count("is also opened at script.py:2:") == 1


def test_self_referencing_locals_terminate() -> None:
    src = (
        HEAD + "def f():\n"
        "    name = 'a'\n"
        "    while True:\n"
        "        name = name + '1'\n"
        "        TelegramClient(name, 1, 'x')\n"
    )
    assert found({"m.py": src}) == []


ODD_PYTHON = [
    HEAD
    + "TelegramClient()\nTelegramClient(*a)\nTelegramClient(**kw)\nTelegramClient(session=None)\n",
    HEAD
    + "import os\nTelegramClient(os.environ[k])\nTelegramClient(os.getenv())\nTelegramClient(os.path.join())\n",
    HEAD
    + "from telethon.sessions import StringSession\nTelegramClient(StringSession(*a))\nTelegramClient(1 / 0)\n",
    HEAD
    + "x = lambda: TelegramClient('a')\n[TelegramClient(s) for s in 'ab' if TelegramClient('b')]\n",
    HEAD
    + "class A(TelegramClient, metaclass=M):\n    def m(self):\n        self.m()\n        self.x.y()\n",
    HEAD + "try:\n    pass\nexcept* ValueError:\n    TelegramClient('a')\n",
    "from fastapi import Depends\n@app.get(1)\ndef f(x=Depends()):\n    pass\napp.add_api_route()\napp.add_url_rule('/x')\n",
    "def f():\n    global g\n    if g is None:\n        g = 1\n",
]


@pytest.mark.parametrize("source", ODD_PYTHON)
def test_odd_python_never_raises(source: str) -> None:
    lint({"m.py": source, "n.py": source})


def test_calls_from_tests_do_not_count() -> None:
    files = {
        "app/__init__.py": "",
        "app/tg.py": HEAD + "def make():\n    return TelegramClient('relay', 1, 'x')\n",
        "app/main.py": "from app.tg import make\n\nasync def lifespan(app):\n    make()\n    yield\n",
        "tests/test_tg.py": "from app.tg import make\n\ndef test_make():\n    make()\n",
        "app/conftest.py": "from app.tg import make\n\ndef fixture():\n    make()\n",
    }
    assert found(files) == []
    files["app/other.py"] = "from app.tg import make\n\ndef job():\n    make()\n"
    assert found(files) == [("app/tg.py", "TG301", 3)]


def test_module_level_loops_over_accounts() -> None:
    src = (
        HEAD + "ACCOUNTS = ['a', 'b']\n"  # 2
        "SESSION = 'relay'\n"  # 3
        "clients = []\n"  # 4
        "for name in ACCOUNTS:\n"  # 5
        "    clients.append(TelegramClient(name, 1, 'x'))\n"  # 6
        "    label = f'{name}-{SESSION}'\n"  # 7
        "    clients.append(TelegramClient(label, 1, 'x'))\n"  # 8
        "    clients.append(TelegramClient(f'{SESSION}/{SESSION}', 1, 'x'))\n"  # 9
        "def handler(session):\n"  # 10
        "    for _ in range(2):\n"  # 11
        "        TelegramClient(session.name, 1, 'x')\n"  # 12
    )
    assert [(f.code, f.line) for f in lint({"m.py": src})] == [("TG301", 9)]


def test_cli_subcommands_are_one_place() -> None:
    files = {
        "tool/__init__.py": "",
        "tool/tg.py": HEAD + "def make():\n    return TelegramClient('relay', 1, 'x')\n",
        "tool/cli.py": (
            "import click\n"
            "from tool.tg import make\n"
            "@click.group()\n"
            "def cli():\n    pass\n"
            "@cli.command()\n"
            "def send():\n    make()\n"
            "@cli.command()\n"
            "def fetch():\n    make()\n"
        ),
    }
    assert found(files) == []
    files["tool/job.py"] = "from tool.tg import make\n\ndef job():\n    make()\n"
    findings = lint(files)
    assert [(f.path, f.line) for f in findings] == [("tool/tg.py", 3)]
    assert "called from 2 places" in findings[0].message
