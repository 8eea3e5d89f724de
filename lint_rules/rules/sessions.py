"""TG300 shared-session and TG301 client-per-call: one client per session, built once.

Each module contributes facts: its ``TelegramClient`` constructions (with the session they open, the
context they run in), its class bases, its calls to project functions and its constants. The project
pass resolves constants imported across modules, project subclasses of ``TelegramClient``, configured
client factories, and which functions run more than once.

What counts as the same session (TG300): the same string after resolving literals, module constants
(also imported from another module), f-strings and ``+`` of constants, ``os.path.join``/``pathlib``
``/`` of constants and ``os.environ.get("X", "default")``/``os.getenv`` defaults; the same environment
variable read twice (with or without a default); ``"relay"`` and ``"relay.session"`` (Telethon appends
``.session``, telethon/sessions/sqlite.py:44). Relative paths are compared as written (normalised:
``./relay`` is ``relay``), since the working directory is unknown. ``None``, ``""``, ``MemorySession()``
and ``StringSession()`` (a fresh login) never collide; ``StringSession(X)`` twice with the same ``X``
does: it is one auth key used by two clients, which Telegram revokes (``AuthKeyDuplicatedError``).
The session is the first positional argument or ``session=`` (also for project subclasses and
configured client factories).

Also the same session: ``pathlib`` forms (``Path("a", "b")``, ``.joinpath``, ``.resolve()``);
``__file__``-anchored directories (``Path(__file__).parent / "relay"`` in ``svc/main.py`` is
``svc/relay``); literal class attributes of settings classes and their module-level instances
(``settings.session_name`` with ``session_name: str = "relay"``: the default, as for ``os.getenv``);
the same project reference whose value cannot be computed (``settings.session_name`` read by two
modules, a module constant computed at import); and *factory calls*: a project function or class
that builds the client from one of its parameters (``def make_client(name): return
TelegramClient(name, ...)``) is a construction at each call with literal arguments, reported there
(memoised factories excepted: ``@lru_cache``, ``if name not in _clients:``).
"""

from __future__ import annotations

import bisect
import posixpath
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import libcst as cst

from ..config import Config
from ..model import Finding
from ..names import UNKNOWN, iter_child_nodes, resolve_constant
from ._commands import ConstantTable, class_constants
from .base import Family, FileResult, PythonModule, Rule

__all__ = ["ClientPerCall", "SessionsFamily", "SharedSession"]

TELETHON_CLIENTS = frozenset(
    {
        "telethon.TelegramClient",
        "telethon.sync.TelegramClient",
        "telethon.client.TelegramClient",
        "telethon.client.telegramclient.TelegramClient",
    }
)
_SQLITE_SESSIONS = {"telethon.sessions.SQLiteSession", "telethon.sessions.sqlite.SQLiteSession"}
_STRING_SESSIONS = {"telethon.sessions.StringSession", "telethon.sessions.string.StringSession"}
_MEMORY_SESSIONS = {"telethon.sessions.MemorySession", "telethon.sessions.memory.MemorySession"}
_ROUTE_METHODS = frozenset(
    {
        "get",
        "post",
        "put",
        "delete",
        "patch",
        "options",
        "head",
        "trace",
        "api_route",
        "route",
        "websocket",
        "websocket_route",
    }
)
_ROUTE_CLASSES = {
    "starlette.routing.Route",
    "starlette.routing.WebSocketRoute",
    "fastapi.routing.APIRoute",
    "fastapi.routing.APIWebSocketRoute",
}
_DEPENDS = {"fastapi.Depends", "fastapi.Security", "fastapi.params.Depends"}
_PATH_VIEWS = {
    "django.urls.path",
    "django.urls.re_path",
    "aiohttp.web.get",
    "aiohttp.web.post",
    "aiohttp.web.put",
    "aiohttp.web.patch",
    "aiohttp.web.delete",
    "aiohttp.web.view",
}
_AIOHTTP_ADDERS = {"add_get", "add_post", "add_put", "add_patch", "add_delete", "add_view"}
#: Decorator attribute names that register a function the framework runs per event, message or job:
#: ASGI middleware and exception handlers, bot frameworks (aiogram ``@router.message``, pyTelegramBotAPI
#: ``@bot.message_handler``, pyrogram ``@app.on_message``, Slack bolt ``@app.message``), task queues
#: (Celery ``@app.task``, dramatiq ``@actor``) and schedulers (APScheduler ``@scheduled_job``).
_EVENT_DECORATORS: Mapping[str, str] = {
    "middleware": "middleware",
    "exception_handler": "exception handler",
    "message": "bot message handler",
    "edited_message": "bot message handler",
    "channel_post": "bot message handler",
    "callback_query": "bot callback handler",
    "inline_query": "bot inline handler",
    "message_handler": "bot message handler",
    "edited_message_handler": "bot message handler",
    "channel_post_handler": "bot message handler",
    "callback_query_handler": "bot callback handler",
    "inline_handler": "bot inline handler",
    "on_message": "bot message handler",
    "on_edited_message": "bot message handler",
    "on_callback_query": "bot callback handler",
    "on_inline_query": "bot inline handler",
    "task": "task",
    "periodic_task": "periodic task",
    "actor": "task",
    "scheduled_job": "scheduled job",
    "crontab": "scheduled job",
}
_EVENT_FUNCTIONS = {
    "celery.shared_task": "task",
    "dramatiq.actor": "task",
    "aiocron.crontab": "scheduled job",
}
_ONCE_DECORATORS = {
    "functools.cache",
    "functools.lru_cache",
    "functools.cached_property",
    "async_lru.alru_cache",
    "aiocache.cached",
    "cachetools.cached",
    "cachetools.func.lru_cache",
}


class SharedSession(Rule):
    code = "TG300"
    name = "shared-session"
    what = (
        "Reports two or more `TelegramClient` constructions (also subclasses and configured client "
        "factories) on the same session anywhere in the linted tree -- the same literal, module "
        "constant (also imported from another module), f-string of constants, environment "
        "variable or environment default, settings-class default, `pathlib`/`os.path` join, "
        "`__file__`-relative path, or the same project reference -- and names the other sites. A "
        "project factory that builds the client from its parameter (`make_client(name)`) counts "
        "as a construction at each call with a literal argument. `relay` and "
        "`relay.session` are the same file; relative paths are compared as written. `None`, "
        '`""`, `MemorySession()` and `StringSession()` never collide; `StringSession(X)` twice is '
        "one auth key used twice and is reported. Clients in test files count like any other: a "
        "test that opens the service's own session file collides with the running service."
    )
    why = (
        "Two clients on one `.session` file are two SQLite connections to one database: the second "
        "writer blocks for 5 s and fails with `database is locked`, freezing its event loop; a "
        "script beside the service does the same from another process. One auth key used from two "
        "places at once gets revoked by Telegram."
    )
    example = (
        "from telethon import TelegramClient\n\n"
        'client = TelegramClient("relay", 1, "0" * 32)\n'
        'backfill = TelegramClient("relay.session", 1, "0" * 32)\n'
    )
    instead = (
        "from telethon import TelegramClient\n\n"
        "# One client per session; a script uses its own session (or talks to the service).\n"
        'client = TelegramClient("relay", 1, "0" * 32)\n'
        'backfill = TelegramClient("backfill", 1, "0" * 32)\n'
    )
    valid = (
        'from telethon import TelegramClient\n\na = TelegramClient("relay", 1, "x")\nb = TelegramClient("backfill", 1, "x")\n',
        "from telethon import TelegramClient\n\na = TelegramClient(None, 1, 'x')\nb = TelegramClient(None, 1, 'x')\n",
        "from telethon import TelegramClient\nfrom telethon.sessions import MemorySession\n\n"
        "a = TelegramClient(MemorySession(), 1, 'x')\nb = TelegramClient(MemorySession(), 1, 'x')\n",
        "class TelegramClient:\n    def __init__(self, name):\n        pass\n\na = TelegramClient('relay')\nb = TelegramClient('relay')\n",
    )
    invalid = (
        'from telethon import TelegramClient\n\na = TelegramClient("relay", 1, "x")\nb = TelegramClient("relay.session", 1, "x")\n',
        'import telethon as tg\n\nSESSION = "relay"\na = tg.TelegramClient(SESSION, 1, "x")\nb = tg.TelegramClient(f"{SESSION}", 1, "x")\n',
        "import os\nfrom telethon.sync import TelegramClient\n\n"
        'a = TelegramClient(os.environ.get("SESSION", "relay"), 1, "x")\nb = TelegramClient("relay", 1, "x")\n',
        "from telethon import TelegramClient\n\nclass Relay(TelegramClient):\n    pass\n\n"
        'a = Relay("relay", 1, "x")\nb = TelegramClient(session="relay", api_id=1, api_hash="x")\n',
    )


class ClientPerCall(Rule):
    code = "TG301"
    name = "client-per-call"
    what = (
        "Reports a `TelegramClient` on a fixed session (one that does not vary with the call's "
        "arguments or the loop variable) constructed where it runs more than once: in a request "
        "handler (`@app.get(...)`, `@router.post(...)`, `@app.route(...)`, `@app.websocket(...)`, "
        "Starlette `Route`, a FastAPI `Depends` dependency, `@app.middleware`, an exception "
        "handler, a Django `path()` view, an aiohttp `web.get()`/`add_get()` handler), a Telethon "
        "event handler, a bot-framework handler (aiogram `@router.message`, "
        "pyTelegramBotAPI `@bot.message_handler`, pyrogram `@app.on_message`, "
        "python-telegram-bot `add_handler(CommandHandler(..., f))`), a task-queue task (Celery "
        "`@app.task`/`@shared_task`, dramatiq `@actor`), a scheduled job (APScheduler "
        "`@scheduled_job`/`add_job`, aiocron), a `for`/"
        "`while` loop or comprehension, or a function called from more than one place, from a loop "
        "or from such a function (across modules). Not reported: the lifespan, startup handlers, "
        "`__main__` blocks, module level, a factory called once, a cached factory "
        "(`functools.cache`) and the lazy singleton `if _client is None: _client = TelegramClient(...)`. "
        "Calls from test files (`tests/`, `test_*.py`, `*_test.py`, `conftest.py`) are not counted, and "
        "calls from several click/typer subcommands count as one place (one process runs one)."
    )
    why = (
        "Each construction opens the session file again: while an earlier client is still "
        "connected (or being garbage-collected) the two fight over the SQLite database, and every "
        "request pays a fresh connection and login to Telegram."
    )
    example = (
        "from fastapi import FastAPI\nfrom telethon import TelegramClient\n\napp = FastAPI()\n\n\n"
        '@app.post("/messages")\nasync def send(text: str):\n'
        '    async with TelegramClient("relay", 1, "0" * 32) as client:\n'
        '        await client.send_message("BotFather", text)\n'
    )
    instead = (
        "from contextlib import asynccontextmanager\n\nfrom fastapi import FastAPI\n"
        "from telethon import TelegramClient\nfrom telethon_guard import telethon_lock\n\n\n"
        "@asynccontextmanager\nasync def lifespan(app):\n"
        '    app.state.client = TelegramClient("relay", 1, "0" * 32)\n'
        "    await app.state.client.start()\n    yield\n    await app.state.client.disconnect()\n\n\n"
        'app = FastAPI(lifespan=lifespan)\n\n\n@app.post("/messages")\nasync def send(text: str):\n'
        "    async with telethon_lock:\n"
        '        await app.state.client.send_message("BotFather", text)\n'
    )
    valid = (
        "from telethon import TelegramClient\n\nSESSIONS = ['a', 'b']\n"
        "clients = [TelegramClient(name, 1, 'x') for name in SESSIONS]\n",
        "from telethon import TelegramClient\n\n\ndef make():\n    return TelegramClient('relay', 1, 'x')\n\n\n"
        "async def lifespan(app):\n    client = make()\n    yield\n",
        "from telethon import TelegramClient\n\n_client = None\n\n\ndef get_client():\n    global _client\n"
        "    if _client is None:\n        _client = TelegramClient('relay', 1, 'x')\n    return _client\n\n\n"
        "def a():\n    get_client()\n\n\ndef b():\n    get_client()\n",
        "from telethon import TelegramClient\n\nif __name__ == '__main__':\n"
        "    with TelegramClient('relay', 1, 'x') as client:\n        client.run_until_disconnected()\n",
        "from fastapi import FastAPI\nfrom telethon import TelegramClient\n\napp = FastAPI()\n\n\n"
        "@app.post('/login')\nasync def login(phone: str):\n    client = TelegramClient(phone, 1, 'x')\n",
    )
    invalid = (
        example,
        "from telethon import TelegramClient\n\nfor chat in ['a', 'b']:\n"
        "    client = TelegramClient('relay', 1, 'x')\n",
        "from telethon import TelegramClient, events\n\nbot = TelegramClient('bot', 1, 'x')\n\n\n"
        "@bot.on(events.NewMessage)\nasync def handler(event):\n"
        "    async with TelegramClient('relay', 1, 'x') as user:\n        pass\n",
        "from telethon import TelegramClient\n\n\ndef make():\n    return TelegramClient('relay', 1, 'x')\n\n\n"
        "def a():\n    make()\n\n\ndef b():\n    make()\n",
        "from telethon import TelegramClient\n\nclients = [TelegramClient('relay', 1, 'x') for _ in range(3)]\n",
    )


# --- facts ------------------------------------------------------------------------------------


@dataclass
class Site:
    """One construction of a (possible) Telegram client."""

    callee: str  # qualified name of what is called
    where: tuple[int, int, int, int]
    file_keys: tuple[object, ...] = ()  # str values or markers (resolved in the project pass)
    string_keys: tuple[object, ...] = ()  # StringSession contents
    env: str | None = None  # environment variable the session name comes from
    function: str | None = None  # qualified name of the enclosing function (None: module level)
    fixed: bool = False  # the session does not vary with arguments/loop variables
    reported: bool = False  # TG301 already reported by check_module (handler/loop)
    once: bool = False  # singleton/cached construction
    #: Runs per iteration/request, found locally for a callee not yet known to be a client.
    reason: str | None = None
    text: str = ""  # the session argument as written
    branches: tuple[tuple[int, int], ...] = ()  # see _Context.branches
    #: A factory template (the session comes from a parameter of ``function``): its parameters in
    #: call order (``self``/``cls`` dropped) and their literal defaults. Each call with literal
    #: arguments is one construction, at the call site (see ``_instances``).
    params: tuple[str, ...] = ()
    defaults: tuple[tuple[str, object], ...] = ()


@dataclass
class CallEdge:
    callee: str
    caller: str | None  # None: module level or __main__
    many: bool  # in a loop, or in a handler of its own
    #: In a CLI subcommand (``@cli.command()``): one process runs one of them, so calls from several
    #: subcommands count as one place.
    entry: bool = False
    #: Literal (or project-constant) arguments: (position or keyword, value); only recorded with
    #: ``where`` when there is one, for factories that build a client from a parameter.
    args: tuple[tuple[int | str, object], ...] = ()
    where: tuple[int, int, int, int] | None = None
    branches: tuple[tuple[int, int], ...] = ()
    text: str = ""


@dataclass
class SessionFacts:
    module_name: str
    path: str
    sites: list[Site] = field(default_factory=list)
    bases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    calls: list[CallEdge] = field(default_factory=list)
    handlers: list[str] = field(
        default_factory=list
    )  # functions the framework runs per request/event
    constants: dict[str, object] = field(default_factory=dict)
    #: Module constants read from the environment: NAME -> variable (``SESSION = os.getenv("S", "x")``).
    env_constants: dict[str, str] = field(default_factory=dict)


# --- the module scan --------------------------------------------------------------------------


@dataclass
class _Context:
    function: cst.FunctionDef | cst.Lambda | None = None
    qualname: str | None = None
    handler: str | None = None  # "request handler `send`", ...
    loops: tuple[cst.CSTNode, ...] = ()
    main: bool = False
    conditions: tuple[cst.If, ...] = ()
    branches: tuple[tuple[int, int], ...] = ()  # (if/try number, branch taken) from the outside in


#: Roots that are never the linted project: a class from them cannot subclass TelegramClient in it.
_EXTERNAL_ROOTS = frozenset(sys.stdlib_module_names) | {
    "builtins",
    "telethon",
    "pydantic",
    "pydantic_settings",
    "fastapi",
    "starlette",
    "httpx",
    "aiohttp",
    "requests",
    "sqlalchemy",
    "django",
    "flask",
    "typing_extensions",
    "attr",
    "attrs",
}


_STRUCTURAL = frozenset(
    {
        cst.Call,
        cst.FunctionDef,
        cst.Lambda,
        cst.If,
        cst.Try,
        cst.TryStar,
        cst.Match,
        cst.For,
        cst.While,
        cst.ListComp,
        cst.SetComp,
        cst.GeneratorExp,
        cst.DictComp,
    }
)


def _maybe_client_class(q: str) -> bool:
    """Whether calling ``q`` may construct a project subclass of TelegramClient (decided later)."""
    last = q.rsplit(".", 1)[-1]
    return bool(last) and last[0].isupper() and q.split(".", 1)[0] not in _EXTERNAL_ROOTS


class _Scan:
    def __init__(self, module: PythonModule) -> None:
        self.module = module
        self.names = module.names
        self.factories = set(module.config.client_factories)
        self.facts = SessionFacts(module.module_name, module.path)
        self.findings: list[Finding] = []
        self.handler_names: dict[str, str] = {}  # function qualname -> description
        #: Sites with their node and context: handlers registered later in the module count too.
        self.local: list[tuple[Site, cst.Call, _Context]] = []
        self.branch_count = 0
        #: Call edges with literal arguments, located in one cheap pass at the end.
        self.located_edges: list[tuple[CallEdge, cst.Call]] = []
        #: Calls without arguments: located only when they call a factory template of this module.
        self.bare_calls: list[tuple[CallEdge, cst.Call]] = []
        #: The function whose construction is being analysed (its parameters make a template).
        self.current: cst.FunctionDef | None = None
        self._keys_memo: dict[
            tuple[int, int], tuple[tuple[object, ...], tuple[object, ...], str | None]
        ] = {}
        self._varies_memo: dict[int, bool] = {}
        self._assign_of: dict[int, cst.Assign] | None = None

    def where(self, node: cst.CSTNode) -> tuple[int, int, int, int]:
        r = self.module.range_of(node)
        return r.start.line, r.start.column + 1, r.end.line, r.end.column + 1

    def run(self) -> FileResult:
        names = self.names
        for cls, _ in names.classes:
            q = f"{names.scope_of(cls).child_prefix}.{cls.name.value}"
            bases = tuple(
                b
                for b in (names.qualified_name(a.value) for a in cls.bases if a.keyword is None)
                if b
            )
            if bases:
                self.facts.bases[q.lstrip(".")] = bases
        self.walk(self.module.tree)
        local_templates = {s.function for s in self.facts.sites if s.params or s.defaults}
        for edge, node in self.bare_calls:
            if edge.callee in local_templates or edge.callee + ".__init__" in local_templates:
                edge.text = _code(self.module, node)
                self.located_edges.append((edge, node))
        self.locate(self.located_edges)
        for site, node, ctx in self.local:
            self.decide_locally(site, node, ctx)
        self.facts.handlers = sorted(self.handler_names)
        self.facts.constants = {
            k: v
            for k, v in {
                **class_constants(self.module, names),
                **names.module_constants,
            }.items()
            if isinstance(v, (str, tuple)) or v is None
        }
        for name, bindings in names.module_scope.bindings.items():
            if len(bindings) == 1 and bindings[0].kind in ("assign", "annassign"):
                value = bindings[0].value
                if value is not None:
                    env = self.session_keys(value)[2]
                    if env is not None:
                        self.facts.env_constants[name] = env
        return FileResult(sorted(self.findings), self.facts)

    # handlers

    def register(self, node: cst.Call, q: str | None) -> None:
        """Functions handed to the framework by reference: ``Route("/x", f)``, ``Depends(f)``..."""
        attr = node.func.attr.value if isinstance(node.func, cst.Attribute) else None
        positional = [a.value for a in node.args if a.keyword is None and not a.star]
        keywords = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
        target: cst.BaseExpression | None = None
        what = "request handler"
        if q in _ROUTE_CLASSES or attr in ("add_api_route", "add_route", "add_websocket_route"):
            target = keywords.get("endpoint") or keywords.get("route") or keywords.get("handler")
            if target is None and len(positional) > 1:
                # Starlette add_route(path, endpoint); aiohttp add_route(method, path, handler).
                named = [p for p in positional[1:] if isinstance(p, (cst.Name, cst.Attribute))]
                target = named[-1] if named else None
        elif q in _PATH_VIEWS or attr in _AIOHTTP_ADDERS:
            # Django path("x/", views.index); aiohttp web.get("/", handler), router.add_get("/", h).
            target = keywords.get("view") or keywords.get("handler")
            if target is None and len(positional) > 1:
                target = positional[1]
        elif attr == "add_url_rule":  # Flask: add_url_rule(rule, endpoint=None, view_func=None)
            target = keywords.get("view_func") or (positional[2] if len(positional) > 2 else None)
        elif q in _DEPENDS and positional:
            target = positional[0]
            what = "request dependency"
        elif attr == "add_event_handler" and positional and self.is_event_arg(node.args[1:]):
            target = positional[0]
            what = "event handler"
        elif attr == "add_exception_handler" and len(positional) > 1:
            target = positional[1]
            what = "exception handler"
        elif attr == "add_job" and positional:  # APScheduler: scheduler.add_job(job, "interval")
            target = positional[0]
            what = "scheduled job"
        elif attr is not None and attr.startswith("register_") and attr.endswith("_handler"):
            target = keywords.get("callback") or (positional[0] if positional else None)
            what = "bot handler"  # aiogram 2: dp.register_message_handler(handler, ...)
        elif attr == "add_handler" and positional and isinstance(positional[0], cst.Call):
            # python-telegram-bot: app.add_handler(CommandHandler("start", start))
            inner = positional[0]
            inner_positional = [a.value for a in inner.args if a.keyword is None and not a.star]
            name = inner.func.attr.value if isinstance(inner.func, cst.Attribute) else None
            name = inner.func.value if isinstance(inner.func, cst.Name) else name
            if name is not None and name.endswith("Handler"):
                target = next(
                    (a.value for a in inner.args if a.keyword and a.keyword.value == "callback"),
                    None,
                ) or next((v for v in reversed(inner_positional) if isinstance(v, cst.Name)), None)
                what = "bot handler"
        if target is not None:
            tq = self.names.qualified_name(target)
            if tq:
                self.handler_names[tq] = f"{what} `{tq.rsplit('.', 1)[-1]}`"

    def is_event_arg(self, args: Sequence[cst.Arg]) -> bool:
        for arg in args:
            value = arg.value.func if isinstance(arg.value, cst.Call) else arg.value
            q = self.names.qualified_name(value)
            if q and q.startswith("telethon.events"):
                return True
        return not args

    def decorator_kind(self, fn: cst.FunctionDef) -> str | None:
        name = fn.name.value
        for dec in fn.decorators:
            d = dec.decorator
            func = d.func if isinstance(d, cst.Call) else d
            q = self.names.qualified_name(func)
            if q in _EVENT_FUNCTIONS:
                return f"{_EVENT_FUNCTIONS[q]} `{name}`"
            if (
                isinstance(func, cst.Attribute)
                and func.attr.value in _EVENT_DECORATORS
                and not (q or "").startswith(("invoke.", "fabric."))  # CLI tasks run once
            ):
                return f"{_EVENT_DECORATORS[func.attr.value]} `{name}`"
            if isinstance(d, cst.Call):
                q = self.names.qualified_name(d.func)
                if q == "telethon.events.register" or (
                    isinstance(d.func, cst.Attribute)
                    and d.func.attr.value == "on"
                    and self.is_event_arg(d.args)
                ):
                    return f"event handler `{name}`"
                if isinstance(d.func, cst.Attribute) and d.func.attr.value in _ROUTE_METHODS:
                    first = d.args[0].value if d.args and d.args[0].keyword is None else None
                    path = next(
                        (
                            a.value
                            for a in d.args
                            if a.keyword is not None and a.keyword.value == "path"
                        ),
                        first,
                    )
                    value = self.names.constant_value(path) if path is not None else UNKNOWN
                    if isinstance(value, str) and (value == "" or value.startswith("/")):
                        return f"request handler `{name}`"
        return None

    def is_cli_command(self, fn: cst.FunctionDef) -> bool:
        """``@cli.command()``/``@click.command()``/typer's ``@app.command()`` in a click/typer module."""
        if "click" not in self.module.source and "typer" not in self.module.source:
            return False
        for dec in fn.decorators:
            d = dec.decorator.func if isinstance(dec.decorator, cst.Call) else dec.decorator
            if isinstance(d, cst.Attribute) and d.attr.value == "command":
                return True
        return False

    def is_once(self, fn: cst.FunctionDef) -> bool:
        for dec in fn.decorators:
            d = dec.decorator.func if isinstance(dec.decorator, cst.Call) else dec.decorator
            if self.names.qualified_name(d) in _ONCE_DECORATORS:
                return True
        return False

    # the walk

    def walk(self, root: cst.CSTNode) -> None:
        """Visit every node once, with the context it runs in (iterative: modules can be deep)."""
        stack: list[tuple[cst.CSTNode, _Context]] = [(root, _Context())]
        push = stack.append
        while stack:
            node, ctx = stack.pop()
            t = type(node)
            if t not in _STRUCTURAL:
                for child in iter_child_nodes(node):
                    push((child, ctx))
                continue
            if t is cst.Call:
                assert isinstance(node, cst.Call)
                self.call(node, ctx)
                for child in iter_child_nodes(node):
                    push((child, ctx))
            elif t is cst.FunctionDef:
                assert isinstance(node, cst.FunctionDef)
                for dec in node.decorators:
                    push((dec, ctx))
                push((node.params, ctx))  # defaults run once, outside: `Depends(f)` lives here
                scope = self.names.inner_scope(node)
                qualname = scope.qualname if scope is not None else None
                inner = _Context(node, qualname, self.decorator_kind(node), branches=ctx.branches)
                push((node.body, inner))
            elif t is cst.Lambda:
                assert isinstance(node, cst.Lambda)
                push((node.params, ctx))
                push((node.body, replace(ctx, function=node, qualname=None)))
            elif t is cst.If:
                assert isinstance(node, cst.If)
                push((node.test, ctx))
                if ctx.function is None and node in self.names.main_blocks:
                    push((node.body, _Context(main=True, loops=ctx.loops, branches=ctx.branches)))
                    if node.orelse is not None:
                        push((node.orelse, ctx))
                    continue
                # Branches of one if/else (or try/except) never both run: their sites cannot share.
                self.branch_count += 1
                n = self.branch_count
                conditions = (*ctx.conditions, node)
                push(
                    (
                        node.body,
                        replace(ctx, conditions=conditions, branches=(*ctx.branches, (n, 0))),
                    )
                )
                if node.orelse is not None:
                    push((node.orelse, replace(ctx, branches=(*ctx.branches, (n, 1)))))
            elif t is cst.Try or t is cst.TryStar:
                assert isinstance(node, (cst.Try, cst.TryStar))
                self.branch_count += 1
                n = self.branch_count
                push((node.body, replace(ctx, branches=(*ctx.branches, (n, 0)))))
                for k, handler_node in enumerate(node.handlers):
                    push((handler_node, replace(ctx, branches=(*ctx.branches, (n, k + 1)))))
                for extra in (node.orelse, node.finalbody):
                    if extra is not None:
                        push((extra, ctx))
            elif t is cst.Match:
                assert isinstance(node, cst.Match)
                push((node.subject, ctx))
                self.branch_count += 1
                n = self.branch_count
                for k, case in enumerate(node.cases):
                    push((case, replace(ctx, branches=(*ctx.branches, (n, k)))))
            elif t is cst.For or t is cst.While:
                assert isinstance(node, (cst.For, cst.While))
                push((node.iter if isinstance(node, cst.For) else node.test, ctx))
                push((node.body, replace(ctx, loops=(*ctx.loops, node))))
                if node.orelse is not None:
                    push((node.orelse, ctx))
            else:  # comprehensions
                looped = replace(ctx, loops=(*ctx.loops, node))
                for child in iter_child_nodes(node):
                    push((child, looped))

    def call(self, node: cst.Call, ctx: _Context) -> None:
        q = self.names.qualified_name(node.func)
        if (
            q is None
            and isinstance(node.func, cst.Attribute)
            and isinstance(node.func.value, cst.Name)
        ):
            q = self.method_of_self(node.func)
        self.register(node, q)
        if q is None:
            return
        if q in TELETHON_CLIENTS or q in self.factories or _maybe_client_class(q):
            self.construction(q, node, ctx)
        if q.split(".", 1)[0] not in _EXTERNAL_ROOTS:  # a project function, maybe
            many = bool(ctx.loops) or ctx.handler is not None
            entry = isinstance(ctx.function, cst.FunctionDef) and self.is_cli_command(ctx.function)
            edge = CallEdge(q, None if ctx.main else ctx.qualname, many, entry)
            # Arguments matter for factories (`make_client("relay")`); locating a call costs a
            # codegen pass, so only calls of imported or defined names are kept.
            if self.direct_callee(node.func):
                args = self.literal_args(node)
                if args:
                    edge.args, edge.branches = args, ctx.branches
                    edge.text = _code(self.module, node)
                    self.located_edges.append((edge, node))
                elif not node.args:
                    edge.branches = ctx.branches
                    self.bare_calls.append((edge, node))
            self.facts.calls.append(edge)

    def locate(self, edges: list[tuple[CallEdge, cst.Call]]) -> None:
        """Set ``where`` of each edge. libcst reproduces a node's text exactly, so calls are found by
        a text search when each occurrence of their text is one of them (identical calls in the same
        context are interchangeable); the rest cost one shared codegen pass (``range_of``)."""
        if self.module._positions is not None:  # already computed for a finding: free
            for edge, node in edges:
                edge.where = self.where(node)
            return
        source = self.module.source
        groups: dict[str, list[tuple[CallEdge, cst.Call]]] = {}
        for edge, node in edges:
            groups.setdefault(self.module.tree.code_for_node(node), []).append((edge, node))
        line_starts: list[int] | None = None
        for text, members in groups.items():
            found: list[tuple[int, int]] = []
            if "\n" in text:
                # A nested node's continuation lines are indented relative to its block.
                lines = text.split("\n")
                pattern = r"\n[ \t]*".join(re.escape(line.lstrip(" \t")) for line in lines)
                for m in re.finditer(pattern, source):
                    found.append((m.start(), m.end()))
                    if len(found) > len(members):
                        break
            else:
                at = source.find(text)
                while at >= 0 and len(found) <= len(members):
                    found.append((at, at + len(text)))
                    at = source.find(text, at + 1)
            contexts = {(e.caller, e.many, e.entry, e.branches) for e, _ in members}
            if len(found) != len(members) or len(contexts) != 1:
                for edge, node in members:
                    edge.where = self.where(node)
                continue
            if line_starts is None:
                line_starts = [0, *(m.end() for m in re.finditer(r"\r\n?|\n", source))]
            for (edge, _), (start, end) in zip(members, found, strict=True):
                sl = bisect.bisect_right(line_starts, start)
                el = bisect.bisect_right(line_starts, end)
                edge.where = (
                    sl,
                    start - line_starts[sl - 1] + 1,
                    el,
                    end - line_starts[el - 1] + 1,
                )

    def direct_callee(self, func: cst.BaseExpression) -> bool:
        """``make()``, ``tg.make()``, ``Relay()``: a name bound by an import, def or class."""
        root = func
        while isinstance(root, cst.Attribute):
            root = root.value
        if not isinstance(root, cst.Name):
            return False
        bindings = self.names.bindings_of(root) or []
        return bool(bindings) and all(b.kind in ("import", "def", "class") for b in bindings)

    def literal_args(self, node: cst.Call) -> tuple[tuple[int | str, object], ...]:
        """Arguments whose value is a usable session value (a string or project constant)."""
        out: list[tuple[int | str, object]] = []
        position = 0
        for arg in node.args:
            if arg.star:
                break  # positions after *args are unknown
            key: int | str = arg.keyword.value if arg.keyword is not None else position
            if arg.keyword is None:
                position += 1
            value = self.names.constant_value(arg.value)
            if isinstance(value, str) and value:
                out.append((key, value))
            elif _usable(value) and _project_marker(value):
                out.append((key, value))
        return tuple(out)

    def method_of_self(self, func: cst.Attribute) -> str | None:
        """``self.method`` inside a class body's method -> ``module.Class.method``."""
        assert isinstance(func.value, cst.Name)
        bindings = self.names.bindings_of(func.value)
        if not bindings or bindings[0].kind != "param":
            return None
        scope = self.names.scope_of(func.value).enclosing_function()
        parent = scope.parent if scope is not None else None
        if parent is None or parent.kind != "class":
            return None
        fn = scope.node if scope is not None else None
        if not isinstance(fn, cst.FunctionDef) or not fn.params.params:
            return None
        if fn.params.params[0].name.value != func.value.value:
            return None
        return f"{parent.qualname}.{func.attr.value}"

    def construction(self, q: str, node: cst.Call, ctx: _Context) -> None:
        session = _session_arg(node)
        if session is None:
            return
        self.current = ctx.function if isinstance(ctx.function, cst.FunctionDef) else None
        try:
            file_keys, string_keys, env = self.session_keys(session)
        finally:
            self.current = None
        params: tuple[str, ...] = ()
        defaults: tuple[tuple[str, object], ...] = ()
        template = any(_is_param(k) for k in (*file_keys, *string_keys))
        if template:
            assert isinstance(ctx.function, cst.FunctionDef)
            params, defaults = self.template_params(ctx.function)
        has_key = bool(file_keys or string_keys or env is not None)
        fixed = (has_key or self.is_fixed(session)) and not self.varies(session)
        if not has_key and not fixed:
            return  # nothing to compare and nothing per-call: keep facts small
        once = self.singleton(node, ctx) or (
            isinstance(ctx.function, cst.FunctionDef) and self.is_once(ctx.function)
        )
        site = Site(
            q,
            # A template is reported at its calls, never itself: skip the positions pass.
            (0, 0, 0, 0) if template else self.where(node),
            tuple(file_keys),
            tuple(string_keys),
            env,
            None if ctx.main else ctx.qualname,
            bool(fixed),
            False,
            once,
            text=_code(self.module, session),
            branches=ctx.branches,
            params=params,
            defaults=defaults,
        )
        self.facts.sites.append(site)
        self.local.append((site, node, ctx))

    def template_params(
        self, fn: cst.FunctionDef
    ) -> tuple[tuple[str, ...], tuple[tuple[str, object], ...]]:
        """Parameters in call order (``self``/``cls`` of a method dropped) and literal defaults."""
        plain = [*fn.params.posonly_params, *fn.params.params]
        scope = self.names.scope_of(fn)
        if (
            scope.kind == "class"
            and plain
            and not any(
                self.names.qualified_name(d.decorator) == "builtins.staticmethod"
                for d in fn.decorators
            )
        ):
            plain = plain[1:]
        names = tuple(p.name.value for p in plain)
        defaults = []
        for p in (*plain, *fn.params.kwonly_params):
            if p.default is not None:
                value = self.names.constant_value(p.default)
                if _usable(value):
                    defaults.append((p.name.value, value))
        return names, tuple(defaults)

    def decide_locally(self, site: Site, node: cst.Call, ctx: _Context) -> None:
        """TG301 for a construction in a loop or a handler of this module."""
        if not site.fixed or site.once:
            return
        handler = ctx.handler or self.handler_names.get(site.function or "")
        if ctx.loops:
            reason = "inside a loop (one new client per iteration)"
        elif handler is not None and site.function is not None:
            reason = f"in {handler}, which runs on every request or event"
        else:
            return
        if site.callee in TELETHON_CLIENTS or site.callee in self.factories:
            site.reported = True
            message = _per_call_message(site.text, reason)
            self.findings.append(self.module.finding(node, "TG301", message))
        else:
            site.reason = reason  # a project subclass? decided in the project pass

    # sessions

    def session_keys(
        self, expr: cst.BaseExpression, depth: int = 0
    ) -> tuple[list[object], list[object], str | None]:
        """(file session values, StringSession values, environment variable name)."""
        if depth > 20:
            return [], [], None
        # Memoised: names bound to expressions of other names form a DAG (`b = join(a, a)`), which
        # a plain recursion walks in exponential time.
        key = (id(expr), id(self.current))
        cached = self._keys_memo.get(key)
        if cached is None:
            files, strings, env = self._session_keys(expr, depth)
            cached = self._keys_memo[key] = (tuple(files), tuple(strings), env)
        return list(cached[0]), list(cached[1]), cached[2]

    def _session_keys(
        self, expr: cst.BaseExpression, depth: int
    ) -> tuple[list[object], list[object], str | None]:
        anchored = self.file_dir(expr)
        if anchored is not None:
            return [anchored], [], None
        if isinstance(expr, cst.Call):
            q = self.names.qualified_name(expr.func)
            if q in _MEMORY_SESSIONS:
                return [], [], None
            if q in _STRING_SESSIONS:
                if not expr.args:
                    return [], [], None
                files, _, env = self.session_keys(expr.args[0].value, depth + 1)
                return [], [v for v in files if v != ""], env
            if (
                q in ("pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath")
                and len(expr.args) > 1
            ):
                return self.joined([a.value for a in expr.args], depth)  # Path("data", "relay")
            if q in _SQLITE_SESSIONS or q in (
                "builtins.str",
                "pathlib.Path",
                "pathlib.PurePath",
                "pathlib.PosixPath",
                "os.fspath",
                "os.path.abspath",
                "os.path.normpath",
                "os.path.realpath",
                "os.path.expanduser",
            ):
                if not expr.args:
                    return [], [], None
                return self.session_keys(expr.args[0].value, depth + 1)
            if q in ("pathlib.Path.home", "pathlib.PosixPath.home") and not expr.args:
                return ["~"], [], None  # Path.home() / ".relay" is "~/.relay" everywhere
            if q in ("os.environ.get", "os.getenv"):
                name = self.names.constant_value(expr.args[0].value) if expr.args else UNKNOWN
                env = name if isinstance(name, str) else None
                default = self.names.constant_value(expr)
                return ([default] if _usable(default) else []), [], env
            if q == "os.path.join":
                return self.joined([a.value for a in expr.args], depth)
            if (
                isinstance(expr.func, cst.Attribute)
                and expr.func.attr.value in ("joinpath", "resolve", "absolute", "expanduser")
                and all(a.keyword is None and not a.star for a in expr.args)
            ):
                # Path(...).joinpath("relay"), Path("relay").resolve(): the same file.
                return self.joined([expr.func.value, *(a.value for a in expr.args)], depth)
        if (
            isinstance(expr, cst.Subscript)
            and self.names.qualified_name(expr.value) == "os.environ"
        ):
            if len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index):
                name = self.names.constant_value(expr.slice[0].slice.value)
                return [], [], name if isinstance(name, str) else None
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Divide):
            return self.joined([expr.left, expr.right], depth)
        if isinstance(expr, cst.Name):
            found = self.names.lookup(expr.value, self.names.scope_of(expr))
            bindings = found[1] if found is not None else None
            if (
                found is not None
                and self.current is not None
                and len(found[1]) == 1
                and found[1][0].kind == "param"
                and found[0] is self.names.inner_scope(self.current)
            ):
                # `def make(name): return TelegramClient(name, ...)`: a factory template.
                return [("ref", _PARAM + expr.value)], [], None
            if (
                bindings
                and len(bindings) == 1
                and bindings[0].kind in ("assign", "annassign")
                and bindings[0].value is not None
            ):
                bound = bindings[0].value
                if not isinstance(
                    bound, (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString)
                ):
                    keys = self.session_keys(bound, depth + 1)
                    if any(keys[:2]) or keys[2] is not None:
                        return keys
                    if (
                        found is not None
                        and found[0] is self.names.module_scope
                        and self.names.constant_value(bound) is UNKNOWN
                        and not self.fresh_session(bound)
                    ):
                        # A module constant computed at import (`SESSION = load_name()`): one
                        # value per process; importers of it name the same reference.
                        return [("ref", _qual(self.module.module_name, expr.value))], [], None
                    return keys
        value = self.names.constant_value(expr)
        return ([value] if _usable(value) else []), [], None

    def fresh_session(self, expr: cst.BaseExpression) -> bool:
        """``MemorySession()`` or ``StringSession()``: a new in-memory session, never shared."""
        if not isinstance(expr, cst.Call):
            return False
        q = self.names.qualified_name(expr.func)
        return q in _MEMORY_SESSIONS or (q in _STRING_SESSIONS and not expr.args)

    def joined(
        self, parts: Sequence[cst.BaseExpression], depth: int
    ) -> tuple[list[object], list[object], str | None]:
        values = []
        for part in parts:
            files, _, _ = self.session_keys(part, depth + 1)
            values.append(files[0] if files else UNKNOWN)
        joined = _join(values)
        return ([joined] if _usable(joined) else []), [], None

    def file_dir(self, expr: cst.BaseExpression) -> str | None:
        """The directory of a ``__file__``-anchored expression, relative like the module's path:
        ``Path(__file__).parent``, ``Path(__file__).resolve().parent.parent``,
        ``os.path.dirname(os.path.abspath(__file__))``. None for anything else."""
        levels = 0
        e: cst.BaseExpression = expr
        for _ in range(20):
            if isinstance(e, cst.Attribute) and e.attr.value == "parent":
                levels += 1
                e = e.value
            elif isinstance(e, cst.Call) and e.args:
                q = self.names.qualified_name(e.func)
                if q == "os.path.dirname":
                    levels += 1
                    e = e.args[0].value
                elif q in (
                    "os.path.abspath",
                    "os.path.realpath",
                    "os.path.normpath",
                    "pathlib.Path",
                    "pathlib.PurePath",
                    "builtins.str",
                    "os.fspath",
                ):
                    e = e.args[0].value
                else:
                    return None
            elif (
                isinstance(e, cst.Call)
                and isinstance(e.func, cst.Attribute)
                and e.func.attr.value in ("resolve", "absolute")
            ):
                e = e.func.value
            elif isinstance(e, cst.Name) and e.value == "__file__" and levels:
                if self.names.bindings_of(e):
                    return None  # a local named __file__
                directory = self.module.path
                for _ in range(levels):
                    directory = posixpath.dirname(directory)
                return directory if not directory.startswith("..") else None
            else:
                return None
        return None

    def path_value(self, expr: cst.BaseExpression) -> object:
        files, _, _ = self.session_keys(expr)
        return files[0] if files else UNKNOWN

    def varies(self, expr: cst.BaseExpression, active: set[int] | None = None) -> bool:
        """Whether the session depends on parameters, loop variables or other per-call values.

        A name bound by an assignment varies when its value does; parameters, loop and
        comprehension targets, ``with``/``except`` targets vary; imports, defs and classes do not.
        """
        active = set() if active is None else active
        for n in _names_in(expr):
            found = self.names.lookup(n.value, self.names.scope_of(n))
            if found is None:
                continue  # a builtin or an unknown global
            for b in found[1]:
                if b.kind in ("import", "def", "class"):
                    continue
                if b.kind not in ("assign", "annassign") or b.value is None:
                    return True
                if id(b) in active:
                    return True  # `x = x + 1`: changes every time round
                known = self._varies_memo.get(id(b))
                if known is None:
                    active.add(id(b))
                    try:
                        # Safe to keep: False means nothing it reads varies, cycles included.
                        known = self._varies_memo[id(b)] = self.varies(b.value, active)
                    finally:
                        active.discard(id(b))
                if known:
                    return True
        return False

    def is_fixed(self, expr: cst.BaseExpression) -> bool:
        """A non-literal session built only from module-level names (``settings.SESSION``)."""
        if isinstance(expr, cst.Name) and expr.value == "None":
            return False
        if isinstance(expr, cst.Call):
            q = self.names.qualified_name(expr.func)
            if q in _MEMORY_SESSIONS or (q in _STRING_SESSIONS and not expr.args):
                return False
        return any(isinstance(n, cst.Name) for n in _walk(expr))

    def singleton(self, node: cst.Call, ctx: _Context) -> bool:
        """A lazy singleton: ``if _client is None: _client = TelegramClient(...)`` (global, attribute
        or dict-entry target; ``hasattr`` tests too) or ``_client = _client or TelegramClient(...)``."""
        assign = self._assignment_of(node, ctx)
        if assign is None:
            return False
        target, value = assign
        code = self.module.tree.code_for_node
        wanted = code(target).strip()
        if isinstance(value, cst.BooleanOperation) and isinstance(value.operator, cst.Or):
            if code(value.left).strip() == wanted and not any(n is node for n in _walk(value.left)):
                return True
        base = code(target.value).strip() if isinstance(target, cst.Subscript) else None
        for cond in ctx.conditions:
            for n in _walk(cond.test):
                if isinstance(n, (cst.Name, cst.Attribute)):
                    text = code(n).strip()
                    if text == wanted or (base is not None and text == base):
                        return True
                elif (
                    isinstance(n, cst.Call)
                    and isinstance(target, cst.Attribute)
                    and self.names.qualified_name(n.func)
                    in ("builtins.hasattr", "builtins.getattr")
                    and len(n.args) >= 2
                    and code(n.args[0].value).strip() == code(target.value).strip()
                    and self.names.constant_value(n.args[1].value) == target.attr.value
                ):
                    return True
        return False

    def _assignment_of(
        self, node: cst.Call, ctx: _Context
    ) -> tuple[cst.BaseExpression, cst.BaseExpression] | None:
        """(target, value) of the assignment whose value holds ``node``, when its target outlives
        the call: an attribute, a dict entry, a module-level or ``global`` name."""
        # An expression holds no statement: the one assignment whose value holds `node` lies in
        # the innermost block around it. Indexed once per module (a search per construction was
        # quadratic: 8 s on a 50,000-statement module).
        if self._assign_of is None:
            self._assign_of = {}
            for found in _walk(self.module.tree):
                if type(found) is cst.Assign:
                    assert isinstance(found, cst.Assign)
                    for n in _walk(found.value):
                        if type(n) is cst.Call:
                            self._assign_of[id(n)] = found
        assign = self._assign_of.get(id(node))
        if assign is None:
            return None
        t = assign.targets[0].target
        if isinstance(t, (cst.Attribute, cst.Subscript)):
            return t, assign.value
        if isinstance(t, cst.Name) and ctx.function is not None:
            scope = self.names.inner_scope(ctx.function)
            if scope is not None and t.value in scope.global_names | scope.nonlocal_names:
                return t, assign.value
        return (t, assign.value) if ctx.function is None else None


#: Reference prefix of a factory's parameter in a template site's session value.
_PARAM = "\x00param:"


def _is_param(value: object) -> bool:
    if type(value) is not tuple or len(value) != 2:
        return False
    if value[0] == "ref":
        return isinstance(value[1], str) and value[1].startswith(_PARAM)
    return value[0] == "concat" and any(_is_param(p) for p in value[1])


def _project_marker(value: object) -> bool:
    """A ``ref``/``concat`` marker naming no module outside the project (``settings.SESSION``,
    not ``logging.INFO``)."""
    if type(value) is not tuple or len(value) != 2:
        return False
    if value[0] == "ref":
        return isinstance(value[1], str) and value[1].split(".", 1)[0] not in _EXTERNAL_ROOTS
    return value[0] == "concat" and all(isinstance(p, str) or _project_marker(p) for p in value[1])


def _qual(module_name: str, name: str) -> str:
    return f"{module_name}.{name}" if module_name else name


def _usable(value: object) -> bool:
    """A session value that can collide: a non-empty string or a marker."""
    if isinstance(value, str):
        return value != ""
    return type(value) is tuple and len(value) == 2 and value[0] in ("ref", "concat")


#: Longer computed session paths are not real paths: giving up keeps facts small.
_MAX_PATH = 4096


def _join(parts: list[object]) -> object:
    if any(p is UNKNOWN for p in parts) or not parts:
        return UNKNOWN
    if sum(len(p) for p in parts if isinstance(p, str)) > _MAX_PATH:
        return UNKNOWN
    if all(isinstance(p, str) for p in parts):
        return posixpath.join(*[p for p in parts if isinstance(p, str)])
    out: list[object] = []
    for n, p in enumerate(parts):
        if n:
            out.append("/")
        if type(p) is tuple and p[0] == "concat":
            out.extend(p[1])  # flat: a marker never nests, so its size is bounded below
        else:
            out.append(p)
    if len(out) > 64:
        return UNKNOWN
    return ("concat", tuple(out))


def _session_arg(node: cst.Call) -> cst.BaseExpression | None:
    for arg in node.args:
        if arg.keyword is not None and arg.keyword.value == "session":
            return arg.value
    for arg in node.args:
        if arg.keyword is None and not arg.star:
            return arg.value
        break
    return None


def _names_in(expr: cst.CSTNode) -> Iterator[cst.Name]:
    """Names read by ``expr`` (not attribute names or keyword-argument names)."""
    stack = [expr]
    while stack:
        n = stack.pop()
        if isinstance(n, cst.Name):
            yield n
        elif isinstance(n, cst.Attribute):
            stack.append(n.value)
        elif isinstance(n, cst.Arg):
            stack.append(n.value)
        else:
            stack.extend(iter_child_nodes(n))


def _walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(iter_child_nodes(n))


def _code(module: PythonModule, node: cst.CSTNode) -> str:
    text = module.tree.code_for_node(node).strip()
    return text if len(text) <= 60 else text[:57] + "..."


def _per_call_message(session: str, reason: str) -> str:
    return (
        f"TelegramClient on the fixed session {session} is constructed {reason}: every construction "
        "opens the session file again while another client may hold it (database is locked) and "
        "logs in anew; create one client in the lifespan or at startup and reuse it"
    )


def _places(edges: Sequence[CallEdge]) -> int:
    entries = sum(1 for e in edges if e.entry)
    return len(edges) - entries + (1 if entries else 0)


def _is_test_file(path: str) -> bool:
    parts = path.split("/")
    name = parts[-1]
    return (
        any(p in ("tests", "test") for p in parts[:-1])
        or name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
    )


def _normalise(value: str) -> str:
    # Telethon appends ".session" unless present (telethon/sessions/sqlite.py:44).
    path = posixpath.normpath(value)
    return path[: -len(".session")] if path.endswith(".session") else path


# --- the family -------------------------------------------------------------------------------


class SessionsFamily(Family):
    rules = (SharedSession, ClientPerCall)
    # Every construction names TelegramClient or imports telethon, or calls a project subclass or
    # factory defined in a module that does (the engine follows importers). A configuration module
    # holding the session constant (`NAME = "relay"`) matters because a module that matters
    # imports it (the engine follows imported modules): no keyword of its own is needed.
    keywords = (b"TelegramClient", b"telethon")

    def check_module(self, module: PythonModule) -> FileResult:
        return _Scan(module).run()

    def check_project(self, facts: Mapping[str, Any], config: Config) -> Sequence[Finding]:
        modules = {p: f for p, f in facts.items() if isinstance(f, SessionFacts)}
        table = ConstantTable()
        env_table = ConstantTable()
        bases: dict[str, tuple[str, ...]] = {}
        for f in modules.values():
            for name, value in f.constants.items():
                table.add(f.module_name, name, value)
            for name, env in f.env_constants.items():
                env_table.add(f.module_name, name, env)
            bases.update(f.bases)
        clients = set(TELETHON_CLIENTS) | set(config.client_factories)
        changed = True
        while changed:
            changed = False
            for cls, cls_bases in bases.items():
                if cls not in clients and any(b in clients for b in cls_bases):
                    clients.add(cls)
                    changed = True
        sites = [(p, s) for p, f in modules.items() for s in f.sites if s.callee in clients]
        sites.extend(_instances(modules, sites))
        project = _ProjectModules(f.module_name for f in modules.values())
        findings = list(_shared(sites, table, env_table, project))
        findings.extend(_per_call(modules, sites, clients))
        return sorted(set(findings))


def _instances(
    modules: Mapping[str, SessionFacts], sites: list[tuple[str, Site]]
) -> Iterator[tuple[str, Site]]:
    """One site per call of a factory template with literal arguments, at the call site:
    ``make_client("relay")`` in two files is two clients on one session."""
    templates: dict[str, list[Site]] = {}
    for _, site in sites:
        # A memoised factory (`@lru_cache`, `if name not in _clients:`) returns one client per
        # argument: its calls share that client.
        if (
            site.function is not None
            and not site.once
            and any(_is_param(k) for k in (*site.file_keys, *site.string_keys))
        ):
            templates.setdefault(site.function, []).append(site)
    if not templates:
        return
    # A configured factory's call is already a site of its own.
    taken = {(path, site.where) for path, site in sites}
    for path, f in modules.items():
        for edge in f.calls:
            if edge.where is None or (path, edge.where) in taken:
                continue
            for t in templates.get(edge.callee, []) + templates.get(edge.callee + ".__init__", []):
                bound: dict[str, object] = dict(t.defaults)
                for key, value in edge.args:
                    if isinstance(key, int):
                        if key < len(t.params):
                            bound[t.params[key]] = value
                    else:
                        bound[key] = value

                def substitute(value: object, bound: dict[str, object] = bound) -> object:
                    if type(value) is tuple and value[0] == "ref" and _is_param(value):
                        return bound.get(value[1][len(_PARAM) :], UNKNOWN)
                    if type(value) is tuple and value[0] == "concat":
                        parts = [substitute(p) for p in value[1]]
                        return UNKNOWN if UNKNOWN in parts else ("concat", tuple(parts))
                    return value

                file_keys = tuple(substitute(k) for k in t.file_keys)
                string_keys = tuple(substitute(k) for k in t.string_keys)
                if all(k is UNKNOWN for k in (*file_keys, *string_keys)):
                    continue
                short = edge.callee.rsplit(".", 1)[-1]
                yield (
                    path,
                    Site(
                        t.callee,
                        edge.where,
                        tuple(k for k in file_keys if k is not UNKNOWN),
                        tuple(k for k in string_keys if k is not UNKNOWN),
                        None,
                        edge.caller,
                        fixed=True,
                        once=False,
                        reason=f"through `{short}` in a loop or a handler" if edge.many else None,
                        text=f"of `{edge.text}`",
                        branches=edge.branches,
                    ),
                )


def _keys(
    site: Site, table: ConstantTable, env_table: ConstantTable, project: _ProjectModules
) -> tuple[set[tuple[str, str]], str]:
    keys: set[tuple[str, str]] = set()
    shown = ""
    for value in (*site.file_keys, *site.string_keys):
        if type(value) is tuple and value[0] == "ref":
            env = env_table(value[1])
            if isinstance(env, str):
                keys.add(("env", env))
    for value in site.file_keys:
        v = resolve_constant(value, table)
        if isinstance(v, str) and v:
            keys.add(("file", _normalise(v)))
            shown = shown or repr(v).replace("'", '"')
        elif v is UNKNOWN:
            symbol = _symbolic(value, table, project)
            if symbol:
                keys.add(("file", _normalise(symbol)))
                shown = shown or _written(site)
    for value in site.string_keys:
        v = resolve_constant(value, table)
        if isinstance(v, str) and v:
            keys.add(("string", v))
            shown = (
                shown or "StringSession(" + (repr(v[:12] + "...") if len(v) > 15 else repr(v)) + ")"
            )
        elif v is UNKNOWN:
            symbol = _symbolic(value, table, project)
            if symbol:
                keys.add(("string", symbol))
                shown = shown or _written(site)
    if site.env is not None:
        keys.add(("env", site.env))
        shown = shown or f"${site.env}"
    return keys, shown


class _ProjectModules:
    """Whether a qualified name may lie in the linted project (also by suffix, as in ConstantTable)."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = {n for n in names if n}

    def __contains__(self, qualified: str) -> bool:
        parts = qualified.split(".")
        if parts[0] not in _EXTERNAL_ROOTS:
            # A settings module outside the linted paths (a subdirectory linted alone) has no
            # facts: any module outside the standard library and the well-known frameworks counts
            # as the project's. (Inside the linted paths the engine analyses every module a
            # module that matters imports.)
            return True
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix in self.names or any(n.endswith("." + prefix) for n in self.names):
                return True
        return False


def _written(site: Site) -> str:
    """The session as written: `settings.name`, or "of `make_client(settings.name)`" for a call."""
    return site.text if site.text.startswith("of `") else f"`{site.text}`"


def _symbolic(value: object, table: ConstantTable, project: _ProjectModules) -> str | None:
    """A session value whose project references cannot be computed, spelled with the references
    themselves: ``settings.session_name`` imported in two modules is one session, whatever its
    value. None when a part is not a reference into the linted project."""
    if isinstance(value, str):
        return value
    if type(value) is not tuple or len(value) != 2:
        return None
    if value[0] == "ref":
        resolved = resolve_constant(value, table)
        if isinstance(resolved, (str, int)) and not isinstance(resolved, bool):
            return str(resolved)
        name = value[1]
        if not isinstance(name, str) or name.startswith(_PARAM) or name not in project:
            return None
        return f"\x00{{{name}}}\x00"
    if value[0] == "concat":
        parts = [_symbolic(p, table, project) for p in value[1]]
        return None if any(p is None for p in parts) else "".join(p for p in parts if p)
    return None


def _shared(
    sites: list[tuple[str, Site]],
    table: ConstantTable,
    env_table: ConstantTable,
    project: _ProjectModules,
) -> Iterator[Finding]:
    keyed = [(p, s, *_keys(s, table, env_table, project)) for p, s in sites]
    parent = list(range(len(keyed)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[str, str], int] = {}
    for i, (_, _, keys, _) in enumerate(keyed):
        for key in keys:
            if key in owner:
                parent[find(i)] = find(owner[key])
            else:
                owner[key] = i
    groups: dict[int, list[int]] = {}
    for i, (_, _, keys, _) in enumerate(keyed):
        if keys:
            groups.setdefault(find(i), []).append(i)
    for members in groups.values():
        if len(members) < 2:
            continue
        for i in members:
            path, site, _, shown = keyed[i]
            others = sorted(
                (keyed[j][0], keyed[j][1].where[0])
                for j in members
                if j != i and not _exclusive(keyed[i][0], site, keyed[j][0], keyed[j][1])
            )
            if not others:
                continue
            where = ", ".join(f"{p}:{n}" for p, n in others)
            yield Finding(
                path,
                *site.where,
                "TG300",
                f"session {shown} is also opened at {where}: two clients on one session "
                "fight over its SQLite file (database is locked) and share one auth key; use one "
                "client per session (a script needs its own session or must go through the service)",
            )


def _exclusive(path_a: str, a: Site, path_b: str, b: Site) -> bool:
    """Two sites in different branches of one if/else or try/except never both run."""
    if path_a != path_b:
        return False
    for (na, ba), (nb, bb) in zip(a.branches, b.branches, strict=False):
        if na != nb:
            return False
        if ba != bb:
            return True
    return False


def _per_call(
    modules: Mapping[str, SessionFacts], sites: list[tuple[str, Site]], clients: set[str]
) -> Iterator[Finding]:
    functions_calls: dict[str, list[CallEdge]] = {}
    handlers: set[str] = set()
    for path, f in modules.items():
        handlers.update(f.handlers)
        if _is_test_file(path):
            continue  # tests call a factory to test it; they do not run inside the service
        for edge in f.calls:
            callee = edge.callee
            functions_calls.setdefault(callee, []).append(edge)
            if callee in clients or callee.rsplit(".", 1)[-1][:1].isupper():
                # Instantiating a project class runs its __init__.
                functions_calls.setdefault(callee + ".__init__", []).append(edge)
    memo: dict[str, str | None] = {}

    def runs_many(fn: str, depth: int = 0) -> str | None:
        if fn in memo:
            return memo[fn]
        memo[fn] = None  # recursion guard
        reason: str | None = None
        edges = functions_calls.get(fn, [])
        short = fn.rsplit(".", 1)[-1] if not fn.endswith(".__init__") else fn.rsplit(".", 2)[-2]
        if fn in handlers:
            reason = f"in `{short}`, which the framework runs on every request or event"
        elif _places(edges) > 1:
            reason = f"in `{short}`, which is called from {_places(edges)} places"
        elif any(e.many for e in edges):
            reason = f"in `{short}`, which is called in a loop or a handler"
        elif depth < 20:
            for e in edges:
                if e.caller is not None and runs_many(e.caller, depth + 1):
                    reason = f"in `{short}`, called from `{e.caller.rsplit('.', 1)[-1]}` which runs more than once"
                    break
        memo[fn] = reason
        return reason

    for path, site in sites:
        if site.reported or not site.fixed or site.once:
            continue
        reason = site.reason
        if reason is None and site.function is not None:
            reason = runs_many(site.function)
        if reason is None:
            continue
        yield Finding(path, *site.where, "TG301", _per_call_message(site.text, reason))
