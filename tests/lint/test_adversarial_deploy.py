"""Adversarial cases for TG200/TG201 (deployment) and TG300/TG301 (sessions): regressions for false
negatives and false positives found by attacking the rules with real-world shapes of code."""

from __future__ import annotations

from pathlib import Path

import pytest

from lint_rules import lint_paths
from lint_rules.config import Config
from lint_rules.model import Finding
from lint_rules.rules.deployment import DeploymentFamily
from lint_rules.rules.sessions import SessionsFamily

from ._drive_r2 import lint as drive

HEAD = "from telethon import TelegramClient\n"


def lint(files: dict[str, str], config: Config | None = None) -> list[Finding]:
    return drive(files, config, (DeploymentFamily(), SessionsFamily()))


def found(files: dict[str, str], config: Config | None = None) -> list[tuple[str, str, int]]:
    """(path, code, line) of every finding."""
    return [(f.path, f.code, f.line) for f in lint(files, config)]


def token(source: str, f: Finding) -> str:
    """The text a one-line finding spans."""
    assert f.line == f.end_line
    return source.split("\n")[f.line - 1][f.column - 1 : f.end_column - 1]


# --- TG200/TG201 in Python ----------------------------------------------------------------------


def test_uvicorn_options_spread_from_a_dict() -> None:
    src = (
        "import uvicorn\n"
        'opts = {"host": "0.0.0.0", "reload": True, "workers": 2}\n'
        'uvicorn.run("app:app", **opts)\n'
        'uvicorn.run("app:app", **{"workers": 3})\n'
        "kw = dict(reload=True, port=8000)\n"
        'config = uvicorn.Config("app:app", **kw)\n'
        'uvicorn.run("app:app", **{"reload": False, "workers": 1, "host": "h"})\n'
    )
    findings = lint({"main.py": src})
    assert [(f.code, f.line, token(src, f)) for f in findings] == [
        ("TG200", 3, "**opts"),  # reported where the server starts, naming the setting
        ("TG201", 3, "**opts"),
        ("TG201", 4, '"workers": 3'),
        ("TG200", 6, "**kw"),
    ]
    assert "(`reload=True`)" in findings[0].message
    assert "2 worker processes (`workers=2`)" in findings[1].message


def test_argv_built_by_concatenation_and_mutation() -> None:
    src = (
        "import shlex, subprocess, sys\n"
        'base = [sys.executable, "-m", "uvicorn", "app:app"]\n'
        'subprocess.run(base + ["--workers", "4"])\n'
        'args = ["gunicorn", "app:app"]\n'
        'args += ["-w", "3"]\n'
        "subprocess.run(args)\n"
        'argv = ["uvicorn", "app:app"]\n'
        "if '--dev' in sys.argv:\n"
        '    argv.append("--reload")\n'
        "subprocess.Popen(argv)\n"
        'line = "uvicorn app:app --workers 2"\n'
        "subprocess.run(line.split())\n"
        "subprocess.run(shlex.split(line))\n"
        "def extra(opts):\n"
        '    subprocess.run(["uvicorn", "app:app"] + opts)\n'
    )
    assert [(c, n) for _, c, n in found({"main.py": src})] == [
        ("TG201", 3),
        ("TG201", 6),
        ("TG200", 10),
        ("TG201", 12),
        ("TG201", 13),
    ]


def test_argv_mutations_of_another_binding_do_not_leak() -> None:
    src = (
        "import subprocess\n"
        "def serve():\n"
        '    args = ["uvicorn", "app:app"]\n'
        "    subprocess.run(args)\n"
        "def test():\n"
        '    args = ["pytest"]\n'
        '    args.append("--reload")\n'
        '    args += ["-w", "4"]\n'
        "    subprocess.run(args)\n"
    )
    assert found({"main.py": src}) == []


def test_python_dash_m_of_a_server_submodule() -> None:
    assert found({"Procfile": "web: python -m gunicorn.app.wsgiapp -w 3 app:app\n"}) == [
        ("Procfile", "TG201", 1)
    ]
    assert found({"run.sh": "#!/bin/sh\nexec python -m uvicorn.main app:app --reload\n"}) == [
        ("run.sh", "TG200", 2)
    ]


def test_makefile_recipe_on_the_rule_line() -> None:
    src = "WORKERS ?= 3\nrun: deps ; gunicorn app:app -w $(WORKERS)\ndev: ; uvicorn app:app --reload\nX := a:b;c\n"
    assert found({"Makefile": src}) == [("Makefile", "TG201", 2), ("Makefile", "TG200", 3)]


@pytest.mark.parametrize(
    "line",
    [
        "pytest -n 4",
        "celery -A app worker -c 4 --autoscale=10,3",
        'nginx -g "daemon off; worker_processes 4;"',
        "flask run --reload",
        "gunicorn --threads 4 --worker-connections 1000 -b 0.0.0.0:80 app:app",
        "uvicorn app:app --limit-concurrency 4 --reload-dir src",
        'echo "uvicorn app:app --workers 4"',
        "gunicorn app:app --workers ${WEB_CONCURRENCY:-1}",
        "# uvicorn app:app --reload",
    ],
)
def test_lookalike_commands_stay_quiet(line: str) -> None:
    files = {
        "Makefile": f"run:\n\t{line}\n",
        "Procfile": f"web: {line}\n",
        "run.sh": f"#!/bin/sh\n{line}\n",
        "Dockerfile": f"FROM python\nCMD {line}\n",
    }
    assert found(files) == []


# --- TG300 --------------------------------------------------------------------------------------


def test_pathlib_forms_name_the_same_file() -> None:
    src = (
        HEAD + "from pathlib import Path\n"
        "a = TelegramClient(Path('sessions') / 'relay.session', 1, 'x')\n"
        "b = TelegramClient(str(Path('sessions', 'relay')), 1, 'x')\n"
        "c = TelegramClient(Path('sessions').joinpath('relay'), 1, 'x')\n"
        "d = TelegramClient(Path('sessions', 'other'), 1, 'x')\n"
    )
    assert found({"a.py": src}) == [
        ("a.py", "TG300", 3),
        ("a.py", "TG300", 4),
        ("a.py", "TG300", 5),
    ]


def test_file_anchored_paths_resolve_to_the_module_directory() -> None:
    files = {
        "svc/main.py": HEAD
        + "from pathlib import Path\nclient = TelegramClient(Path(__file__).resolve().parent / 'relay', 1, 'x')\n",
        "backfill.py": HEAD + "client = TelegramClient('svc/relay.session', 1, 'x')\n",
        "tools/x.py": HEAD + "import os\nHERE = os.path.dirname(os.path.abspath(__file__))\n"
        "client = TelegramClient(os.path.join(HERE, 'relay'), 1, 'x')\n",
    }
    findings = lint(files)
    assert [(f.path, f.code) for f in findings] == [
        ("backfill.py", "TG300"),
        ("svc/main.py", "TG300"),
    ]
    assert 'session "svc/relay"' in findings[1].message
    assert "backfill.py:2" in findings[1].message


def test_same_unresolvable_project_reference_is_one_session() -> None:
    files = {
        "config.py": (
            "from pydantic_settings import BaseSettings\nfrom vault import secret\n"
            "class Settings(BaseSettings):\n    session_name: str = secret('session')\n"
            "settings = Settings()\n"
        ),
        "app.py": HEAD
        + "from config import settings\nclient = TelegramClient(settings.session_name, 1, 'x')\n",
        "backfill.py": HEAD
        + "import config\nclient = TelegramClient(config.settings.session_name, 1, 'x')\n",
        "other.py": HEAD
        + "from config import settings\nclient = TelegramClient(settings.other, 1, 'x')\n",
    }
    findings = lint(files)
    assert [(f.path, f.code) for f in findings] == [("app.py", "TG300"), ("backfill.py", "TG300")]
    assert "session `settings.session_name` is also opened at backfill.py:3" in findings[0].message


def test_module_constant_computed_at_import_is_shared_by_importers() -> None:
    files = {
        "names.py": "import json\nSESSION = json.load(open('conf.json'))['session']\n",
        "a.py": HEAD + "from names import SESSION\nclient = TelegramClient(SESSION, 1, 'x')\n",
        "b.py": HEAD + "import names\nclient = TelegramClient(names.SESSION, 1, 'x')\n",
    }
    assert found(files) == [("a.py", "TG300", 3), ("b.py", "TG300", 3)]


def test_fresh_and_per_process_values_never_collide() -> None:
    src = (
        HEAD + "import sys\nfrom telethon.sessions import MemorySession, StringSession\n"
        "import flask\n"
        "NONE = None\nMEM = MemorySession()\nNEW = StringSession()\n"
        "a = TelegramClient(NONE, 1, 'x')\nb = TelegramClient(NONE, 1, 'x')\n"
        "c = TelegramClient(MEM, 1, 'x')\nd = TelegramClient(MEM, 1, 'x')\n"
        "e = TelegramClient(NEW, 1, 'x')\nf = TelegramClient(NEW, 1, 'x')\n"
        "g = TelegramClient(flask.g.session, 1, 'x')\nh = TelegramClient(flask.g.session, 1, 'x')\n"
        "x = y\ny = x\ni = TelegramClient(x, 1, 'x')\n"
    )
    scripts = {
        "one.py": HEAD + "import sys\nS = sys.argv[1]\nc = TelegramClient(S, 1, 'x')\n",
        "two.py": HEAD + "import sys\nS = sys.argv[1]\nc = TelegramClient(S, 1, 'x')\n",
    }
    assert found({"a.py": src, **scripts}) == []


def test_match_cases_are_exclusive_branches() -> None:
    src = (
        HEAD + "import sys\nmatch sys.argv[1]:\n"
        "    case 'login':\n        c = TelegramClient('relay', 1, 'x')\n"
        "    case 'run':\n        c = TelegramClient('relay', 1, 'x')\n"
    )
    assert found({"cli.py": src}) == []


def test_settings_module_without_keywords_through_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The engine may skip a module that mentions no family keyword (`config.py` below); the shared
    # reference is still one session.
    (tmp_path / "config.py").write_text("name = 'relay'\n")
    (tmp_path / "a.py").write_text(
        HEAD + "import config\nc = TelegramClient(config.name, 1, 'x')\n"
    )
    (tmp_path / "b.py").write_text(
        HEAD + "from config import name\nc = TelegramClient(name, 1, 'x')\n"
    )
    monkeypatch.chdir(tmp_path)
    findings = lint_paths(["."], Config(root=str(tmp_path)))
    assert [(f.path, f.code, f.line) for f in findings] == [
        ("a.py", "TG300", 3),
        ("b.py", "TG300", 3),
    ]


# --- TG301 --------------------------------------------------------------------------------------


def test_clients_built_per_event_in_other_frameworks() -> None:
    per_call = "    async with TelegramClient('relay', 1, 'x') as c:\n        pass\n"
    files = {
        "web.py": HEAD + "from fastapi import FastAPI\napp = FastAPI()\n"
        "@app.middleware('http')\nasync def mw(request, call_next):\n" + per_call + ""
        "@app.exception_handler(ValueError)\nasync def on_error(request, exc):\n" + per_call + ""
        "@app.on_event('startup')\nasync def startup():\n"
        "    app.state.client = TelegramClient('relay', 1, 'x')\n",
        "bot.py": HEAD + "from aiogram import Router\nrouter = Router()\n"
        "@router.message()\nasync def on_message(message):\n" + per_call,
        "ptb.py": HEAD + "from telegram.ext import Application, CommandHandler\n"
        "async def start(update, context):\n" + per_call + ""
        "application = Application.builder().token('x').build()\n"
        "application.add_handler(CommandHandler('start', start))\n",
        "tasks.py": HEAD + "from celery import Celery, shared_task\napp = Celery('x')\n"
        "@app.task\nasync def send(text):\n" + per_call + ""
        "@shared_task(bind=True)\nasync def send2(self, text):\n" + per_call,
        "jobs.py": HEAD + "from apscheduler.schedulers.asyncio import AsyncIOScheduler\n"
        "scheduler = AsyncIOScheduler()\nasync def job():\n" + per_call + ""
        "scheduler.add_job(job, 'interval', minutes=5)\n",
        "tasks_cli.py": HEAD + "import invoke\n@invoke.task\ndef login(c):\n"
        "    TelegramClient('cli', 1, 'x')\n",
    }
    findings = [f for f in lint(files) if f.code == "TG301"]
    assert [(f.path, f.line) for f in findings] == [
        ("bot.py", 6),
        ("jobs.py", 5),
        ("ptb.py", 4),
        ("tasks.py", 6),
        ("tasks.py", 10),
        ("web.py", 6),
        ("web.py", 10),
    ]
    messages = {f.path + str(f.line): f.message for f in findings}
    assert "in middleware `mw`" in messages["web.py6"]
    assert "in bot message handler `on_message`" in messages["bot.py6"]
    assert "in task `send2`" in messages["tasks.py10"]
    assert "in scheduled job `job`" in messages["jobs.py5"]


def test_settings_class_defaults_are_the_values_the_source_shows() -> None:
    files = {
        "config.py": (
            "from pydantic_settings import BaseSettings\n"
            "class Settings(BaseSettings):\n"
            "    debug: bool = False\n    workers: int = 1\n    session_name: str = 'relay'\n"
            "settings = Settings()\nprod = Settings(workers=4)\n"
        ),
        "main.py": (
            "import os, uvicorn\nfrom config import settings, prod\n"
            "uvicorn.run('a:app', reload=settings.debug, workers=settings.workers)\n"
            "uvicorn.run('a:app', workers=prod.workers)\n"
            "uvicorn.run('a:app', reload=os.getenv('ENV', 'prod').lower() == 'dev')\n"
            "uvicorn.run('a:app', reload=os.getenv('ENV', 'prod') in ('dev', 'local'))\n"
            "uvicorn.run('a:app', reload=os.getenv('RELOAD', 'TRUE').strip().lower() == 'true')\n"
            "uvicorn.run('a:app', workers=int(os.getenv('WORKERS')))\n"
        ),
        "app.py": HEAD
        + "from config import settings\nclient = TelegramClient(settings.session_name, 1, 'x')\n",
        "backfill.py": HEAD + "client = TelegramClient('relay.session', 1, 'x')\n",
    }
    findings = lint(files)
    assert [(f.path, f.code, f.line) for f in findings] == [
        ("app.py", "TG300", 3),
        ("backfill.py", "TG300", 2),
        ("main.py", "TG201", 4),
        ("main.py", "TG200", 7),
        ("main.py", "TG201", 8),
    ]
    assert "uvicorn runs 4 worker processes (`workers=prod.workers`)" in findings[2].message
    assert "cannot be verified" in findings[4].message


@pytest.mark.parametrize(
    "getter",
    [
        "_c = None\ndef get():\n    global _c\n    _c = _c or TelegramClient('relay', 1, 'x')\n    return _c\n",
        "_cache = {}\ndef get():\n    if 'c' not in _cache:\n"
        "        _cache['c'] = TelegramClient('relay', 1, 'x')\n    return _cache['c']\n",
        "from async_lru import alru_cache\n@alru_cache()\nasync def get():\n"
        "    return TelegramClient('relay', 1, 'x')\n",
    ],
)
def test_lazy_singletons_called_from_many_places_are_built_once(getter: str) -> None:
    src = HEAD + getter + "def a():\n    get()\ndef b():\n    get()\n"
    assert found({"m.py": src}) == []


def test_hasattr_singleton_on_self() -> None:
    src = HEAD + (
        "class S:\n    def get(self):\n        if not hasattr(self, '_client'):\n"
        "            self._client = TelegramClient('relay', 1, 'x')\n        return self._client\n"
        "    def a(self):\n        self.get()\n    def b(self):\n        self.get()\n"
    )
    assert found({"m.py": src}) == []
    unguarded = src.replace("if not hasattr(self, '_client')", "if True")
    assert found({"m.py": unguarded}) == [("m.py", "TG301", 5)]


def test_a_factory_without_memo_called_from_many_places_is_still_reported() -> None:
    src = (
        HEAD
        + "_c = None\ndef get():\n    c = _c or TelegramClient('relay', 1, 'x')\n    return c\n"
        "def a():\n    get()\ndef b():\n    get()\n"
    )
    assert found({"m.py": src}) == [("m.py", "TG301", 4)]


def test_supervisord_programs() -> None:
    src = (
        "[supervisord]\nnodaemon=true\n\n"
        "[program:web]\n"
        "command=/app/.venv/bin/gunicorn app:app -w 4 -k uvicorn.workers.UvicornWorker\n"
        'environment=WEB_CONCURRENCY="2",PATH="/a,/b"\n\n'
        "[program:bot]\ncommand=python -m bot\nnumprocs=2\n"
        "process_name=%(program_name)s_%(process_num)02d\n\n"
        "[program:celery]\ncommand=celery -A tasks worker\nnumprocs=4\n\n"
        "[program:one]\ncommand=uvicorn app:app\nnumprocs=1\n"
    )
    files = {"deploy/supervisord.conf": src, "supervisor/relay.conf": src}
    findings = [f for f in lint(files) if f.path == "deploy/supervisord.conf"]
    assert [(f.code, f.line, token(src, f)) for f in findings] == [
        ("TG201", 5, "-w 4"),
        ("TG201", 6, 'WEB_CONCURRENCY="2"'),
        ("TG201", 10, "numprocs=2"),
    ]
    assert "supervisord (python) runs 2 worker processes (`numprocs=2`)" in findings[2].message
    assert len(lint(files)) == 6
    assert found({"deploy/nginx.conf": src}) == []


def test_factory_wrappers_are_constructions_at_their_call_sites() -> None:
    files = {
        "pkg/__init__.py": "",
        "pkg/tg.py": HEAD + "import os\nDIR = 'sessions'\n"
        "def make_client(name, api_id=1):\n"
        "    return TelegramClient(os.path.join(DIR, name), api_id, 'x')\n"
        "class Relay:\n    def __init__(self, session='relay'):\n"
        "        self.client = TelegramClient(session, 1, 'x')\n"
        "def default_relay():\n    return Relay()\n"
        "def other_relay():\n    return Relay('relay')\n",
        "pkg/main.py": "from contextlib import asynccontextmanager\nfrom pkg.tg import make_client\n"
        "@asynccontextmanager\nasync def lifespan(app):\n"
        "    app.state.c = make_client('relay')\n    yield\n",
        "scripts/backfill.py": "from pkg.tg import make_client\n"
        "c = make_client(name='relay.session')\nd = make_client('other')\n",
        "pkg/api.py": "from fastapi import APIRouter\nfrom pkg import tg\nrouter = APIRouter()\n"
        "@router.get('/x')\nasync def x():\n    c = tg.make_client('per_request')\n",
    }
    findings = lint(files)
    assert [(f.path, f.code, f.line) for f in findings] == [
        ("pkg/api.py", "TG301", 6),
        ("pkg/main.py", "TG300", 5),
        ("pkg/tg.py", "TG300", 10),  # Relay() takes the default "relay"
        ("pkg/tg.py", "TG300", 12),
        ("scripts/backfill.py", "TG300", 2),
    ]
    assert 'session "sessions/relay" is also opened at scripts/backfill.py:2' in findings[1].message
    assert "of `tg.make_client('per_request')`" in findings[0].message
    assert "through `make_client` in a loop or a handler" in findings[0].message


def test_configured_factory_with_a_parameter_is_not_counted_twice() -> None:
    files = {
        "tg.py": HEAD + "def make_client(name):\n    return TelegramClient(name, 1, 'x')\n",
        "a.py": "from tg import make_client\nc = make_client('relay')\n",
        "b.py": HEAD + "c = TelegramClient('relay', 1, 'x')\n",
    }
    findings = lint(files, Config(client_factories=("tg.make_client",)))
    assert [(f.path, f.line) for f in findings] == [("a.py", 2), ("b.py", 2)]
    assert "is also opened at b.py:2:" in findings[0].message


def test_factory_call_sites_are_located_exactly() -> None:
    tg = HEAD + "def make_client(name, api_id=1):\n    return TelegramClient(name, api_id, 'x')\n"
    a = (
        "from tg import make_client\n"
        "def main():\n"
        '    """Calls make_client("relay") twice."""\n'  # the text also occurs in a docstring
        "    if True:\n"
        "        one = make_client(\n"
        "            'relay',\n"
        "            api_id=2,\n"
        "        )\n"
        "    two = make_client('relay')\n"
        "    three = make_client('relay')\n"
    )
    b = "from tg import make_client\nfour = make_client('relay')\nfive = make_client('relay')\n"
    findings = lint({"tg.py": tg, "a.py": a, "b.py": b})
    assert [(f.path, f.line, f.column, f.end_line, f.end_column) for f in findings] == [
        ("a.py", 5, 15, 8, 10),
        ("a.py", 9, 11, 9, 31),
        ("a.py", 10, 13, 10, 33),
        ("b.py", 2, 8, 2, 28),
        ("b.py", 3, 8, 3, 28),
    ]
    assert "is also opened at a.py:9, a.py:10, b.py:2, b.py:3" in findings[0].message


def test_compose_anchors_aliases_and_merges() -> None:
    src = (
        "x-env: &env\n"
        "  WEB_CONCURRENCY: 3\n"
        "  UVICORN_RELOAD: 'false'\n"
        "x-base: &base\n"
        "  build:\n    context: .\n"
        "services:\n"
        "  web:\n"
        "    <<: *base\n"
        "    environment:\n"
        "      <<: *env\n"
        "    deploy:\n      replicas: 2\n"
        "  pinned:\n"
        "    image: other\n"
        "    environment:\n"
        "      <<: *env\n"
        "      WEB_CONCURRENCY: 1\n"
        "    command: *cmd\n"
    )
    findings = lint({"docker-compose.yml": src})
    assert [(f.code, f.line, token(src, f)) for f in findings] == [
        ("TG201", 2, "WEB_CONCURRENCY: 3"),  # merged into `web`; `pinned` overrides it
        ("TG201", 13, "replicas: 2"),  # `build:` merged from x-base: the project's own image
    ]
    pinned_only = src.replace("      <<: *env\n    deploy", "    deploy")
    assert found({"docker-compose.yml": pinned_only}) == [("docker-compose.yml", "TG201", 12)]


def test_yaml_alias_bomb_stays_linear() -> None:
    lines = ["a0: &a0 [uvicorn, app:app, --reload]"]
    for k in range(1, 40):
        lines.append(f"a{k}: &a{k}\n  - *a{k - 1}\n  - *a{k - 1}")
    src = "\n".join(lines) + "\nservices:\n  web:\n    command: *a0\n"
    assert found({"compose.yaml": src}) == [("compose.yaml", "TG200", 1)]


def test_crlf_line_endings_keep_continuations_and_positions() -> None:
    files = {
        "run.sh": "#!/bin/sh\nuvicorn app:app \\\n  --reload\nW=4\ngunicorn -w $W app:app\n",
        "relay.service": "[Service]\nExecStart=/usr/bin/uvicorn app:app \\\n  --workers 2\n",
        "Makefile": "run:\n\tuvicorn app:app \\\n\t  --workers 2\n",
        "Dockerfile": "FROM python\nCMD uvicorn app:app \\\n  --workers 2\n",
        "compose.yml": "services:\n  web:\n    command: >\n      uvicorn app:app\n      --reload\n",
    }
    unix = lint(files)
    windows = lint({p: s.replace("\n", "\r\n") for p, s in files.items()})
    assert [(f.path, f.code, f.line, f.column, f.end_column) for f in windows] == [
        (f.path, f.code, f.line, f.column, f.end_column) for f in unix
    ]
    assert [(f.path, f.code, f.line) for f in unix] == [
        ("Dockerfile", "TG201", 3),
        ("Makefile", "TG201", 3),
        ("compose.yml", "TG200", 5),
        ("relay.service", "TG201", 3),
        ("run.sh", "TG200", 3),
        ("run.sh", "TG201", 5),
    ]


@pytest.mark.parametrize("grow", ["args += args\n", "args.extend(args)\n"])
def test_self_extending_argv_is_analysed_once(grow: str) -> None:
    # Each self-reference used to re-expand the list: exponential in the number of statements.
    src = (
        "import subprocess\nargs = ['uvicorn', 'app:app']\n"
        + grow * 40
        + "args.append('--reload')\nsubprocess.run(args)\n"
    )
    assert found({"m.py": src}) == [("m.py", "TG200", 44)]


@pytest.mark.parametrize("step", ["os.path.join(x{p}, x{p})", "Path(x{p}) / x{p}"])
@pytest.mark.parametrize("root", ["x0 = 'a'", "from conf import x0"])
def test_session_built_from_a_dag_of_names_is_resolved_once(step: str, root: str) -> None:
    # Each name read twice by the next used to double the work (and the value): 2**29 here.
    lines = ["import os", "from pathlib import Path", HEAD.strip(), root]
    lines += [f"x{k} = " + step.format(p=k - 1) for k in range(1, 30)]
    lines += [
        "def f():",
        "    return TelegramClient(x29, 1, 'x')",
        "def g():",
        "    f()",
        "    f()",
    ]
    findings = found({"m.py": "\n".join(lines) + "\n", "conf.py": "x0 = 'a'\n"})
    assert findings == [("m.py", "TG301", 35)]


def test_argv_elements_converted_with_str() -> None:
    src = (
        "import os, subprocess\nN = 4\n"
        'subprocess.run(["uvicorn", "a:app", "--workers", str(N)])\n'
        'subprocess.run(["uvicorn", "a:app", "--workers", str(1)])\n'
        'subprocess.run(["gunicorn", "-w", str(os.cpu_count() * 2), "a:app"])\n'
    )
    findings = lint({"m.py": src})
    assert [(f.code, f.line) for f in findings] == [("TG201", 3), ("TG201", 5)]
    assert "4 worker processes (`--workers 4`)" in findings[0].message
    assert "per CPU core (`-w str(os.cpu_count() * 2)`)" in findings[1].message


@pytest.mark.parametrize(
    "factory",
    [
        "import functools\n@functools.lru_cache\ndef get(name):\n    return TelegramClient(name, 1, 'x')\n",
        "_clients = {}\ndef get(name):\n    if name not in _clients:\n"
        "        _clients[name] = TelegramClient(name, 1, 'x')\n    return _clients[name]\n",
    ],
)
def test_memoised_factories_share_one_client_per_argument(factory: str) -> None:
    files = {
        "tg.py": HEAD + factory,
        "a.py": "from tg import get\nc = get('relay')\n",
        "b.py": "from tg import get\nc = get('relay')\n",
    }
    assert found(files) == []


def test_granian() -> None:
    files = {
        "Procfile": "web: granian --interface asgi --workers 4 --workers-lifetime 60 app:app\n"
        "dev: granian --interface asgi --reload app:app\n"
        "one: granian --interface asgi --workers 1 --no-reload app:app\n",
        ".env": "GRANIAN_WORKERS=2\nGRANIAN_RELOAD=false\n",
        "serve.py": "from granian import Granian\n"
        "Granian('app:app', interface='asgi', workers=3, reload=True).serve()\n",
    }
    assert found(files) == [
        (".env", "TG201", 1),
        ("Procfile", "TG201", 1),
        ("Procfile", "TG200", 2),
        ("serve.py", "TG201", 2),
        ("serve.py", "TG200", 2),
    ]


def test_views_registered_by_reference() -> None:
    per_call = "    with TelegramClient('relay', 1, 'x') as c:\n        pass\n"
    files = {
        "views.py": HEAD + "def index(request):\n" + per_call,
        "urls.py": "from django.urls import path\nfrom views import index\n"
        "urlpatterns = [path('x/', index)]\n",
        "aio.py": HEAD + "from aiohttp import web\nasync def one(request):\n" + per_call + ""
        "async def two(request):\n" + per_call + ""
        "async def three(request):\n" + per_call + ""
        "app = web.Application()\napp.add_routes([web.get('/1', one)])\n"
        "app.router.add_post('/2', two)\napp.router.add_route('GET', '/3', three)\n",
    }
    findings = [f for f in lint(files) if f.code == "TG301"]
    assert [(f.path, f.line) for f in findings] == [
        ("aio.py", 4),
        ("aio.py", 7),
        ("aio.py", 10),
        ("views.py", 3),
    ]


def test_class_with_its_own_init_is_not_read_as_settings() -> None:
    src = (
        "import uvicorn\nclass S:\n    workers = 1\n"
        "    def __init__(self, workers=4):\n        self.workers = workers\n"
        "s = S()\nuvicorn.run('a:app', workers=s.workers)\n"
    )
    findings = lint({"m.py": src})
    assert [(f.code, f.line) for f in findings] == [("TG201", 7)]
    assert "cannot be verified statically" in findings[0].message


def test_home_directory_forms_are_one_path() -> None:
    files = {
        "a.py": HEAD
        + "from pathlib import Path\nc = TelegramClient(Path.home() / '.relay', 1, 'x')\n",
        "b.py": HEAD
        + "import os\nc = TelegramClient(os.path.expanduser('~/.relay.session'), 1, 'x')\n",
        "c.py": HEAD
        + "from pathlib import Path\nc = TelegramClient(str(Path('~/.relay').expanduser()), 1, 'x')\n",
        "d.py": HEAD
        + "from pathlib import Path\nc = TelegramClient(Path.home() / '.other', 1, 'x')\n",
    }
    assert found(files) == [("a.py", "TG300", 3), ("b.py", "TG300", 3), ("c.py", "TG300", 3)]
