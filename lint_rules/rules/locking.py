"""TG100 telethon-action-outside-lock, TG101 lock-serialises-nothing, TG102 several-telethon-locks.

How it works. ``check_module`` walks each module once (after the shared one-pass resolver,
``lint_rules.names``) and records plain facts: every call that *may* be a Telethon action (the
receiver as a descriptor, the lock held there, its position and a ready fix), every call of something
that may be a project function, each function's and class's facts, and the locks used.
``check_project`` resolves descriptors across modules (clients imported from another module, project
subclasses of ``TelegramClient``, attributes set in ``__init__``, functions returning clients), decides
which functions are helpers, and reports.

Decisions (documented in the rule docs too):

* A project function with unlocked actions is a *helper* when project code calls it and never uses it as
  a value (a callback) and no decorator registers it; its unlocked actions are reported at each unlocked
  call site instead (transitively). Every other function (route/event handlers, callbacks, tasks,
  ``main``) is an *entry point*: its unlocked actions are reported where they happen.
* Lifecycle calls (``connect``, ``start``, ``disconnect``, ``run_until_disconnected``) are reported only
  inside request handlers and Telethon event handlers; never in a lifespan, startup/shutdown handler,
  ``__main__`` block or any other function.
* A call inside ``create_task``/``ensure_future``/``gather``/``shield``/``wait_for``/``TaskGroup.create_task``
  /``run_coroutine_threadsafe``/``start_soon`` runs in another task, which does not hold the lock, even
  when written under it; such an action is reported where it is, whoever calls its function.
  ``asyncio.wait_for`` runs its coroutine in a new task before Python 3.12, so it counts as one (use
  ``asyncio.timeout()`` inside the lock instead); conversation waits (``get_response``...) send no
  request and are exempt there. ``asyncio.run(main())`` / ``run_until_complete(main())`` make ``main``
  an entry point.
* The fix wraps the smallest enclosing statement, one per finding; never in sync code, at module level,
  in another task, around a ``yield``, or around a statement that starts or gathers tasks (holding the
  lock while awaiting tasks that wait for it would deadlock).
* An action under another lock (a module-level ``asyncio.Lock``...) is still TG100: the norm is one
  global lock; the message suggests ``telethon_lock`` or adding the name to ``lock-names``.
* An action under a lock created per call is TG101 (reported at the lock), not TG100.
* What is the telethon lock is settled in the project pass: a project-module alias
  (``guard = telethon_lock``, imported elsewhere) is the lock; a lock received as a parameter
  (``async def f(lock)``, ``self.lock = lock`` in ``__init__``) is what the callers pass, across
  modules -- another lock is reported (naming it), and when every known caller passes the telethon
  lock, or no caller is known, it counts as held (the runtime guard checks the rest). A parameter
  default is evaluated once: a shared lock, not one per call. ``await stack.enter_async_context(L)``
  holds L to the end of the block; ``await L.acquire()`` holds it only in the shape the issue names:
  followed by (or inside) a ``try`` whose ``finally`` releases L (outside ``__aenter__``); without it an
  error leaks the lock, so what follows is reported, with a message saying why.
* The request of a coroutine or ``iter_*`` iterator runs where it is awaited/iterated (``_call`` runs
  when awaited): ``coro = client.send_message(x)`` ... ``async with telethon_lock: await coro`` is
  locked. Followed within one function (``await name``, ``async for _ in name``, ``create_task(name)``);
  a name never consumed there stays reported where the call is written.
* ``p = functools.partial(client.send_message, ...)`` is an action where ``p(...)`` is called (or the
  partial is handed to a callback runner); lambdas registered with ``add_event_handler``/``on`` get an
  event as first parameter; aiohttp ``request.app["k"]``/``app[KEY]`` resolves to what the project
  stores under that key of an Application (like Starlette's ``app.state.k``).
* In sync code (``telethon.sync``) and lambdas, where ``async with`` cannot be written, the message
  suggests an ``async def`` under the lock or the runtime guard's serialize mode instead.
* A project decorator whose wrapper calls the decorated function under the lock
  (``def locked(fn): ... async with telethon_lock: return await fn(*a)``, also as a factory
  ``@with_lock(...)``) makes the decorated function's body hold the lock.
* A bound Telethon method passed uncalled to ``start_soon``/``to_thread``/``run_in_executor``/
  ``call_soon``... runs later in another task or thread: reported like a spawned coroutine.
* A project context manager that yields holding the lock (``@asynccontextmanager async def tg():
  async with telethon_lock: yield client``) holds it for ``async with tg():``.
* Containers of clients (multi-account services) are followed: annotations (``dict[str,
  TelegramClient]``, ``list[Bot]``) and ``clients[key] = TelegramClient(...)`` assignments make
  ``clients[k]``, ``clients.get(k)`` and ``for c in clients.values()`` clients; album events'
  ``event.messages`` and items of ``get_messages()``/``get_dialogs()`` results are messages/dialogs.
* An unannotated first parameter of a helper every caller hands an event to (``await
  handle(event)`` from a handler) is an event; a lock attribute set in a base class in another
  module (``self._lock = telethon_lock``) is looked up there.
"""

from __future__ import annotations

import builtins
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import libcst as cst
from libcst import CSTNode

from .. import telethon_api as api
from ..config import Config
from ..model import Edit, Finding, Fix
from ..names import (
    Binding,
    Scope,
    dotted_name,
    iter_child_nodes,
)
from .base import Family, FileResult, PythonModule, Rule

__all__ = [
    "LockSerialisesNothing",
    "LockingFamily",
    "SeveralTelethonLocks",
    "TelethonActionOutsideLock",
]

# What an expression denotes, as plain tuples the project pass resolves:
#   ("client",) ("event",) ("message",) ("conv",) ("dialog",)  known Telethon objects
#   ("inst", Q)        an instance of the class named Q (annotations, `self`)
#   ("call", Q)        the result of calling what Q names (class, function, client factory)
#   ("qual", Q)        the object named Q (a module global, maybe in another module)
#   ("attr", C, a)     attribute a of instances of class C (`self.client`)
#   ("mcall", C, m)    the result of method m of class C
#   ("dot", a, *D)     attribute a of the object D; ("res", m, *D): the result of D.m()
#   ("state", a)       `<app>.state.a`; ("param0", F): the event parameter of function F
#   ("any", D1, D2..)  one of several bindings
Desc = tuple[Any, ...]
Pos = tuple[int, int, int, int]  # line, column (1-based), end line, end column (exclusive)
# None: no lock; ("telethon", ident, text); ("other", ident, text); ("local", lock use index);
# ("param", "F#index#name", text): a lock received as parameter `name` of function F (resolved from
# F's callers in the project pass)
LockState = tuple[object, ...] | None

CLIENT: Desc = ("client",)
EVENT: Desc = ("event",)
MESSAGE: Desc = ("message",)
CONV: Desc = ("conv",)
MESSAGES: Desc = ("messages",)  # a list of messages (`event.messages` of an album)


@dataclass(frozen=True)
class Site:
    """A call that is a Telethon action if its receiver turns out to be a Telethon object."""

    recv: Desc
    method: str | None  # None: ``client(request)``
    func: str | None  # enclosing function's qualified name; None at module level
    lock: LockState
    spawn: str | None  # "create_task" when the call runs in another task
    cover: int | None  # index of the enclosing unlocked action context (``async with conv``)
    text: str  # "client.send_message()"
    pos: Pos
    fix: Fix | None
    # Why the usual advice does not fit: "sync" (in sync code), or the text of a lock acquired with
    # `await L.acquire()` and no `try: ... finally: L.release()` around what follows.
    note: str | None = None


@dataclass(frozen=True)
class CallSite:
    """A call of something that may be a project function (a helper candidate)."""

    callee: tuple[object, ...]  # ("func", Q) or ("method", Desc, name)
    func: str | None
    lock: LockState
    spawn: str | None
    cover: int | None
    text: str  # "relay.send()"
    pos: Pos | None  # None when locked (never reported)
    fix: Fix | None
    # Locks passed as arguments: (position or -1, keyword or None, lock state), for parameter locks.
    lock_args: tuple[tuple[int, str | None, LockState], ...] = ()
    # Functions passed as arguments: (position or -1, keyword or None, qualified name)
    func_args: tuple[tuple[int, str | None, str], ...] = ()
    # What the first positional argument denotes when it is a name (`handle(event)`).
    arg0: Desc | None = None
    note: str | None = None  # as Site.note


@dataclass(frozen=True)
class FuncFacts:
    qual: str
    cls: str | None  # qualified name of the class of a method
    handler: bool  # a request or Telethon event handler (lifecycle calls are reported there)
    registered: bool  # decorated by something that registers or wraps it (an entry point)
    returns: Desc | None
    decorators: tuple[str, ...] = ()  # qualified names of its decorators (`@d` and `@d(...)`)


@dataclass(frozen=True)
class LockUse:
    """An ``async with`` item (or ``acquire()``/``@serialized``) that takes a lock."""

    kind: str  # "telethon" | "other" | "local"
    ident: str
    text: str
    pos: Pos
    func: str | None


@dataclass
class ModuleFacts:
    path: str
    module: str
    exports: dict[str, str] = field(default_factory=dict)  # module-level import: name -> target
    globals: dict[str, Desc] = field(default_factory=dict)
    classes: dict[str, tuple[tuple[str, ...], dict[str, Desc]]] = field(default_factory=dict)
    functions: dict[str, FuncFacts] = field(default_factory=dict)
    sites: list[Site] = field(default_factory=list)
    calls: list[CallSite] = field(default_factory=list)
    refs: frozenset[str] = frozenset()  # functions used as values (callbacks): entry points
    locks: list[LockUse] = field(default_factory=list)
    lock_defs: dict[str, Pos] = field(default_factory=dict)  # module global name -> definition
    state_attrs: dict[str, list[Desc]] = field(default_factory=dict)  # `app.state.x = value`
    # `mod.x = value` where `mod` is a module or module global (`state.client = TelegramClient(...)`
    # in a lifespan): qualified name -> values
    module_attrs: dict[str, list[Desc]] = field(default_factory=dict)
    event_funcs: frozenset[str] = frozenset()  # functions passed to `add_event_handler`
    # Decorators whose wrapper calls the decorated function under the telethon lock (and their
    # enclosing decorator factories): `def locked(fn): async def w(*a): async with lock: ...`
    lock_wrappers: dict[str, LockState] = field(default_factory=dict)  # decorator -> lock held
    # Functions calling one of their parameters under a lock: function -> (index, name, lock)
    lock_runners: dict[str, tuple[int, str, LockState]] = field(default_factory=dict)
    # Context-manager functions that yield holding a lock: function -> lock held
    lock_yielders: dict[str, LockState] = field(default_factory=dict)
    # `container[key] = value` of module globals ("q:pkg.mod.NAME") and attributes ("a:Class.attr")
    item_assigns: dict[str, list[Desc]] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------- constants

_TELETHON_LOCK = "telethon_guard.telethon_lock"
_TELETHON_LOCKS = frozenset({_TELETHON_LOCK, "telethon_guard.lock.telethon_lock"})
_SERIALIZED = frozenset({"telethon_guard.serialized", "telethon_guard.lock.serialized"})
_LOCK_FACTORIES = frozenset(
    {
        "asyncio.Lock",
        "asyncio.locks.Lock",
        "asyncio.Semaphore",
        "asyncio.BoundedSemaphore",
        "asyncio.Condition",
        "anyio.Lock",
        "anyio.Semaphore",
        "anyio.Condition",
        "trio.Lock",
        "trio.StrictFIFOLock",
        "trio.Semaphore",
        "trio.Condition",
        "threading.Lock",
        "threading.RLock",
        "multiprocessing.Lock",
        "aiologic.Lock",
    }
)
# Calls whose coroutine arguments run in another task (which does not hold the lock).
_SPAWN_QUALS = frozenset(
    {
        "asyncio.create_task",
        "asyncio.ensure_future",
        "asyncio.gather",
        "asyncio.shield",
        "asyncio.wait_for",
        "asyncio.wait",
        "asyncio.as_completed",
        "asyncio.run_coroutine_threadsafe",
    }
)
_SPAWN_METHODS = frozenset(
    {
        "create_task",
        "ensure_future",
        "run_coroutine_threadsafe",
        "start_soon",
        "gather",
        "wait_for",
        "shield",
    }
)
# Calls that run a callable (passed uncalled) later, in another task or thread.
_CALLBACK_RUNNERS = frozenset(
    {
        "start_soon",
        "to_thread",
        "run_in_executor",
        "run_sync",
        "call_soon",
        "call_soon_threadsafe",
        "call_later",
        "call_at",
    }
)
_THREAD_RUNNERS = frozenset({"to_thread", "run_in_executor", "run_sync"})
# Calls that run a coroutine as a program's main task (its function is an entry point).
_RUNNER_QUALS = frozenset({"asyncio.run", "anyio.run", "trio.run", "uvloop.run"})
_ROUTE_DECORATORS = frozenset(
    {
        "get",
        "post",
        "put",
        "patch",
        "delete",
        "head",
        "options",
        "trace",
        "api_route",
        "route",
        "websocket",
        "websocket_route",
        "view",
    }
)
_TRANSPARENT_DECORATORS = frozenset(
    {
        "builtins.staticmethod",
        "builtins.classmethod",
        "builtins.property",
        "functools.wraps",
        "functools.lru_cache",
        "functools.cache",
        "functools.cached_property",
        "typing.overload",
        "typing_extensions.overload",
        "abc.abstractmethod",
        "contextlib.asynccontextmanager",
        "contextlib.contextmanager",
        *_SERIALIZED,
    }
)
_MAPPINGS = frozenset(
    {"dict", "Dict", "Mapping", "MutableMapping", "OrderedDict", "DefaultDict", "defaultdict"}
)
_CONTAINERS = _MAPPINGS | frozenset(
    {"list", "List", "Sequence", "MutableSequence", "set", "Set", "frozenset", "FrozenSet"}
    | {"tuple", "Tuple", "Iterable", "Collection", "deque", "Deque"}
)
_AIOHTTP_APPS = frozenset({"aiohttp.web.Application", "aiohttp.web_app.Application"})
_ELEMENT_GETTERS = frozenset({"get", "pop", "setdefault"})
# Descriptors resolved in the project pass (an element of one is looked up there).
_DEFERRED = frozenset({"attr", "qual", "dot", "state", "mcall", "call", "res", "any", "item"})
_WRAPPERS = frozenset(
    {"Optional", "Annotated", "ClassVar", "Final", "Union", "Awaitable", "Coroutine"}
)
# What iterating over a client method's result yields (`for m in await client.get_messages(...)`).
_ITEM_KIND = {
    "iter_messages": "message",
    "get_messages": "message",
    "iter_dialogs": "dialog",
    "get_dialogs": "dialog",
}
_ITEMS_OF = {"message": "iter_messages", "dialog": "iter_dialogs"}
_CONV_WAITS = frozenset({"get_response", "get_reply", "get_edit", "wait_read", "wait_event"})
_CONV_CLASSES = frozenset(
    {"telethon.tl.custom.Conversation", "telethon.tl.custom.conversation.Conversation"}
)
_METHOD_NAMES = (
    api.CLIENT_ACTIONS
    | api.CLIENT_LIFECYCLE
    | api.EVENT_ACTIONS
    | api.MESSAGE_ACTIONS
    | api.CONVERSATION_ACTIONS
    | api.DIALOG_ACTIONS
)
_BUILTINS = frozenset(dir(builtins))
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) - {"test"}


def _pos(r: Any) -> Pos:
    return (r.start.line, r.start.column + 1, r.end.line, r.end.column + 1)


def _final_name(expr: CSTNode) -> str | None:
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    return None


@dataclass
class _Ctx:
    func: str | None
    is_async: bool
    lock: LockState = None
    spawn: str | None = None
    stmt: CSTNode | None = None  # the block-level statement being walked (for fixes)
    in_body: bool = False  # inside a function body (fixes apply)
    cover: int | None = None
    note: str | None = None  # Site.note of what is found here

    def but(self, **changes: Any) -> _Ctx:
        # A copy without __init__ (called for every statement walked).
        new = object.__new__(_Ctx)
        d = new.__dict__
        d.update(self.__dict__)
        d.update(changes)
        return new


@dataclass
class _RawSite:
    recv: CSTNode
    method: str | None
    call: cst.Call
    ctx: _Ctx
    index: int = -1
    desc: Desc | None = None


@dataclass
class _RawCall:
    call: cst.Call
    ctx: _Ctx


@dataclass
class _RawLock:
    kind: str
    ident: str
    node: CSTNode
    func: str | None


class _Analyzer:
    """One module's walk: collects raw sites, then resolves what can be resolved locally."""

    def __init__(self, module: PythonModule) -> None:
        self.module = module
        self.tree = module.tree
        self.config = module.config
        self.names = module.names
        self.sites: list[_RawSite] = []
        self.calls: list[_RawCall] = []
        self.locks: list[_RawLock] = []
        self.refs: set[str] = set()
        self.returns: dict[str, list[cst.BaseExpression]] = {}
        self.lambdas: list[tuple[cst.Lambda, _Ctx]] = []
        self.event_handlers: set[CSTNode] = set()
        self.event_funcs: set[str] = set()
        self.lock_wrappers: dict[str, LockState] = {}
        self.event_lambdas: set[CSTNode] = set()  # lambdas registered as event handlers
        self.lock_runners: dict[str, tuple[int, str, LockState]] = {}
        self._ref_bases: dict[tuple[int, str], str | bool | None] = {}
        self.lock_yielders: dict[str, LockState] = {}
        self._try_finals: dict[int, CSTNode] = {}  # id(try body statements) -> finally block
        # `coro = client.send_message(...)`: (function, name) -> ("site"|"call", index) of the
        # call, whose request runs where the name is awaited or iterated (see _consume).
        self._deferred: dict[tuple[str | None, str], tuple[tuple[str, int], ...]] = {}
        self._consumed: set[tuple[str, int]] = set()
        # `p = functools.partial(client.send_message, chat)`: (function, name) -> the bound method,
        # an action wherever `p(...)` is called.
        self._partials: dict[tuple[str | None, str], cst.Attribute] = {}
        self.item_assigns: list[tuple[cst.BaseExpression, cst.BaseExpression]] = []
        self.keyed_assigns: list[tuple[cst.Subscript, cst.BaseExpression]] = []
        self.route_handlers: set[CSTNode] = set()
        self.registered: set[CSTNode] = set()
        self.serialized: set[CSTNode] = set()
        self._desc_guard: set[int] = set()
        self._name_guard: set[int] = set()
        self._cut = False
        # Memos of desc() by node / binding-list id: enabled once the walk is complete (facts()),
        # since descriptors of event-handler parameters depend on registrations seen in the walk.
        self._memo: dict[int, Desc | None] | None = None
        self._name_memo: dict[int, Desc | None] = {}
        self._lock_guard: set[int] = set()
        self._attr_map: dict[tuple[str, str], list[cst.BaseExpression]] | None = None
        self._fix_name: str | None = None
        bare = [n for n in self.config.lock_names if "." not in n]
        self.lock_bare = frozenset(bare)
        self.lock_dotted = tuple(n for n in self.config.lock_names if "." in n)
        self.top_package = module.module_name.partition(".")[0]

    # ------------------------------------------------------------------ walk

    def run(self) -> None:
        names = self.names
        for fn, _scope in names.functions:
            self._classify_decorators(fn)
        module_ctx = _Ctx(func=None, is_async=False, note="sync")
        self._block(self.tree.body, module_ctx, block_level=True)
        for fn, scope in names.functions:
            lock: LockState = None
            if fn in self.serialized:
                lock = ("telethon", _TELETHON_LOCK)
            is_async = fn.asynchronous is not None
            ctx = _Ctx(
                func=scope.qualname,
                is_async=is_async,
                lock=lock,
                in_body=True,
                note=None if is_async else "sync",
            )
            self._suite(fn.body, ctx)
        i = 0
        while i < len(self.lambdas):  # lambdas found while walking lambdas are appended
            lam = self.lambdas[i][0]
            lscope = names.inner_scope(lam)
            qual = lscope.qualname if lscope is not None else "<lambda>"
            self._visit(lam.body, _Ctx(func=qual, is_async=False, note="lambda"))
            i += 1

    def _classify_decorators(self, fn: cst.FunctionDef) -> None:
        for dec in fn.decorators:
            d = dec.decorator
            target = d.func if isinstance(d, cst.Call) else d
            q = self.names.qualified_name(target)
            if q in _SERIALIZED:
                self.serialized.add(fn)
                continue
            if q in _TRANSPARENT_DECORATORS:
                continue
            self.registered.add(fn)
            if isinstance(d, cst.Call) and isinstance(d.func, cst.Attribute):
                attr = d.func.attr.value
                if attr in _ROUTE_DECORATORS:
                    self.route_handlers.add(fn)
                elif attr == "on" and any(self._is_event_builder(a.value) for a in d.args):
                    self.event_handlers.add(fn)
            if q == "telethon.events.register":
                self.event_handlers.add(fn)

    def _is_event_builder(self, expr: CSTNode) -> bool:
        target = expr.func if isinstance(expr, cst.Call) else expr
        q = self.names.qualified_name(target)
        return q is not None and (q.startswith("telethon.events.") or q in api.EVENT_CLASSES)

    def _suite(self, suite: CSTNode, ctx: _Ctx) -> None:
        if isinstance(suite, cst.IndentedBlock):
            self._block(suite.body, ctx, block_level=True)
        elif isinstance(suite, cst.SimpleStatementSuite):
            self._block(suite.body, ctx, block_level=False)
        else:
            self._visit(suite, ctx)

    def _block(self, stmts: Sequence[CSTNode], ctx: _Ctx, block_level: bool) -> None:
        held: LockState = None
        held_ident: str | None = None
        bare: str | None = None  # text of a lock acquired without a `finally` release
        for i, stmt in enumerate(stmts):
            c = ctx.but(stmt=stmt) if block_level else ctx
            if held is not None:
                c = c.but(lock=held)
            elif bare is not None:
                c = c.but(note=bare)
            t = type(stmt)
            if (t is cst.Try or t is cst.TryStar) and stmt.finalbody is not None:  # type: ignore[attr-defined]
                # `try: await L.acquire() ... finally: L.release()`: the body holds L.
                self._try_finals[id(stmt.body.body)] = stmt.finalbody  # type: ignore[attr-defined]
            acquired = self._acquire_of(stmt)
            if acquired is not None:
                self._visit(stmt, c)
                lock = self._lock_of(acquired, c)
                if lock is not None and lock.kind in ("telethon", "other", "param", "maybe"):
                    state = (lock.kind, lock.ident, self._code(acquired))
                    if ctx.func is not None and ctx.func.endswith(".__aenter__"):
                        # A class whose `__aenter__` acquires the lock: `async with Cls():` holds it.
                        self.lock_yielders.setdefault(ctx.func.rpartition(".")[0], state)
                    elif not self._finally_releases(stmts, i, lock.ident, acquired):
                        # `await L.acquire()` counts only in the shape `try: ... finally:
                        # L.release()`: without it an exception leaks the lock (every later
                        # action then waits forever).
                        bare = str(state[2])
                        held = None
                        held_ident = lock.ident
                        continue
                    held = state
                    held_ident = lock.ident
                    bare = None
                continue
            if (held is not None or bare is not None) and self._releases(stmt, held_ident):
                self._visit(stmt, c)
                held = None
                bare = None
                continue
            self._visit(stmt, c)
            if held is not None and isinstance(stmt, (cst.Try, cst.TryStar)):
                if stmt.finalbody is not None and self._releases(stmt.finalbody, held_ident):
                    held = None

    def _finally_releases(
        self, stmts: Sequence[CSTNode], i: int, ident: str, acquired: CSTNode
    ) -> bool:
        """Whether ``stmts[i]`` (an acquire) is released by a ``finally``: of the ``try`` whose body
        ``stmts`` is, or of a later ``try`` in ``stmts``; an ``AsyncExitStack`` releases it too."""
        stmt = stmts[i]
        call = stmt.body[0].value.expression  # type: ignore[attr-defined]
        if call.func.attr.value == "enter_async_context":
            return True
        fin = self._try_finals.get(id(stmts))
        if fin is not None and self._releases(fin, ident):
            return True
        for later in stmts[i + 1 :]:
            t = type(later)
            if (t is cst.Try or t is cst.TryStar) and later.finalbody is not None:  # type: ignore[attr-defined]
                if self._releases(later.finalbody, ident):  # type: ignore[attr-defined]
                    return True
        return False

    def _acquire_of(self, stmt: CSTNode) -> CSTNode | None:
        """``await L.acquire()`` as a statement -> L; also ``await stack.enter_async_context(L)``
        (an ``AsyncExitStack``: held until the stack closes, at the earliest the end of this block)."""
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            return None
        expr = stmt.body[0]
        if not isinstance(expr, cst.Expr) or not isinstance(expr.value, cst.Await):
            return None
        call = expr.value.expression
        if (
            isinstance(call, cst.Call)
            and isinstance(call.func, cst.Attribute)
            and call.func.attr.value == "acquire"
        ):
            return call.func.value
        if (
            isinstance(call, cst.Call)
            and isinstance(call.func, cst.Attribute)
            and call.func.attr.value == "enter_async_context"
            and len(call.args) == 1
            and not call.args[0].star
        ):
            return call.args[0].value
        return None

    def _releases(self, node: CSTNode, ident: str | None) -> bool:
        """Whether ``node`` contains ``L.release()`` for the held lock."""
        stack = [node]
        while stack:
            n = stack.pop()
            if (
                isinstance(n, cst.Call)
                and isinstance(n.func, cst.Attribute)
                and n.func.attr.value == "release"
            ):
                lock = self._lock_of(n.func.value, None)
                if lock is not None and lock.ident == ident:
                    return True
            stack.extend(iter_child_nodes(n))
        return False

    def _visit(self, node: CSTNode, ctx: _Ctx) -> None:
        t = type(node)
        if t is cst.Call:
            self._visit_call(node, ctx)  # type: ignore[arg-type]
        elif t is cst.FunctionDef:
            fn: cst.FunctionDef = node  # type: ignore[assignment]
            for dec in fn.decorators:
                self._visit(dec.decorator, ctx)
            self._visit_params(fn.params, ctx)
        elif t is cst.ClassDef:
            cd: cst.ClassDef = node  # type: ignore[assignment]
            for dec in cd.decorators:
                self._visit(dec.decorator, ctx)
            for arg in (*cd.bases, *cd.keywords):
                self._visit(arg.value, ctx)
            self._suite(cd.body, ctx)
        elif t is cst.Lambda:
            lam: cst.Lambda = node  # type: ignore[assignment]
            self._visit_params(lam.params, ctx)
            self.lambdas.append((lam, ctx))
        elif t is cst.With:
            self._visit_with(node, ctx)  # type: ignore[arg-type]
        elif t is cst.For:
            f: cst.For = node  # type: ignore[assignment]
            if f.asynchronous is not None and type(f.iter) is cst.Name:
                self._consume(f.iter.value, ctx)
            self._visit(f.iter, ctx)
            self._visit(f.target, ctx)
            self._suite(f.body, ctx)
            if f.orelse is not None:
                self._suite(f.orelse.body, ctx)
        elif t is cst.IndentedBlock or t is cst.SimpleStatementSuite:
            self._suite(node, ctx)
        elif t is cst.Return:
            ret: cst.Return = node  # type: ignore[assignment]
            if ret.value is not None:
                if ctx.func is not None:
                    self.returns.setdefault(ctx.func, []).append(ret.value)
                self._visit(ret.value, ctx)
        elif t is cst.Import or t is cst.ImportFrom or t is cst.Global or t is cst.Nonlocal:
            pass  # names here are bindings, not uses
        elif t is cst.Name:
            self._ref(node)
        elif t is cst.Attribute:
            self._ref(node)
            self._visit(node.value, ctx)  # type: ignore[attr-defined]
        elif t is cst.Arg:
            self._visit(node.value, ctx)  # type: ignore[attr-defined]
        elif t is cst.Assign:
            asg: cst.Assign = node  # type: ignore[assignment]
            for tgt in asg.targets:
                if isinstance(tgt.target, cst.Subscript):
                    # `clients[name] = TelegramClient(...)`: what the container holds.
                    self.item_assigns.append((tgt.target.value, asg.value))
                    self.keyed_assigns.append((tgt.target, asg.value))
            for child in iter_child_nodes(node):
                self._visit(child, ctx)
            if len(asg.targets) == 1 and type(asg.targets[0].target) is cst.Name:
                self._defer(asg.targets[0].target.value, asg.value, ctx)
        else:
            if (
                t is cst.Yield
                and ctx.func is not None
                and ctx.lock is not None
                and ctx.lock[0] in ("telethon", "maybe")
            ):
                # `@asynccontextmanager async def tg(): async with telethon_lock: yield client`:
                # `async with tg():` holds the lock.
                self.lock_yielders.setdefault(ctx.func, ctx.lock)
            if t is cst.Await and type(node.expression) is cst.Name:  # type: ignore[attr-defined]
                self._consume(node.expression.value, ctx)  # type: ignore[attr-defined]
            for child in iter_child_nodes(node):
                self._visit(child, ctx)

    def _defer(self, name: str, value: CSTNode, ctx: _Ctx) -> None:
        """``name = client.send_message(...)`` (not awaited) in a function: a coroutine or
        ``iter_*`` iterator, whose request runs where it is awaited or iterated, not here
        (``_call`` runs when awaited: telethon/client/users.py ``__call__`` -> ``_call``)."""
        if ctx.func is None:
            return
        key = (ctx.func, name)
        self._deferred.pop(key, None)  # rebound: an earlier value is no longer this name
        self._partials.pop(key, None)
        if type(value) is not cst.Call:
            return
        bound = self._partial_of(value)
        if bound is not None:
            self._partials[key] = bound
            return
        if not ctx.is_async:
            return  # sync code (telethon.sync) runs the request at the call itself
        refs: list[tuple[str, int]] = []
        if self.sites and self.sites[-1].call is value and self.sites[-1].ctx is ctx:
            refs.append(("site", len(self.sites) - 1))
        if self.calls and self.calls[-1].call is value and self.calls[-1].ctx is ctx:
            refs.append(("call", len(self.calls) - 1))  # `pending = helper()`
        if refs:
            self._deferred[key] = tuple(refs)

    def _partial_of(self, call: cst.Call) -> cst.Attribute | None:
        """``functools.partial(client.send_message, ...)`` -> ``client.send_message``."""
        if not call.args or call.args[0].star or type(call.args[0].value) is not cst.Attribute:
            return None
        bound: cst.Attribute = call.args[0].value
        if bound.attr.value not in _METHOD_NAMES:
            return None
        if self.names.qualified_name(call.func) != "functools.partial":
            return None
        return bound

    def _consume(self, name: str, ctx: _Ctx) -> None:
        """``await name`` / ``async for x in name`` / ``create_task(name)`` of a deferred call: the
        call's lock is the one held here. A name consumed twice (an iterator iterated again) keeps
        the first unlocked consumption."""
        for ref in self._deferred.get((ctx.func, name), ()):
            raw: _RawSite | _RawCall = (
                self.sites[ref[1]] if ref[0] == "site" else self.calls[ref[1]]
            )
            if ref in self._consumed:
                old = raw.ctx
                if old.spawn is not None or (old.lock is None or old.lock[0] == "maybe"):
                    continue
            self._consumed.add(ref)
            raw.ctx = ctx

    def _visit_params(self, params: cst.Parameters, ctx: _Ctx) -> None:
        for p in (*params.posonly_params, *params.params, *params.kwonly_params):
            if p.default is not None:
                self._visit(p.default, ctx)

    def _ref(self, node: CSTNode) -> None:
        """A function used as a value (not called): it is an entry point, not a helper.

        Runs for every name and attribute visited: what an attribute's base denotes is memoized per
        (scope, name) (only ``inst`` descriptors are used here, and those do not depend on the
        event-handler registrations the walk is still collecting).
        """
        t = type(node)
        if t is cst.Name:
            found = self.names.lookup(node.value, self.names.scope_of(node))  # type: ignore[attr-defined]
            if found is None:
                return
            for b in found[1]:
                if b.kind in ("def", "import") and b.target:
                    self.refs.add(b.target)
        elif t is cst.Attribute and type(node.value) is cst.Name:  # type: ignore[attr-defined]
            base: cst.Name = node.value  # type: ignore[attr-defined]
            key = (id(self.names.scope_of(base)), base.value)
            prefix = self._ref_bases.get(key, False)
            if prefix is False:
                d = self.desc(base)
                if d is not None and d[0] == "inst":
                    prefix = d[1]
                else:
                    prefix = self.names.qualified_name(base)
                self._ref_bases[key] = prefix
            if prefix is not None:
                self.refs.add(f"{prefix}.{node.attr.value}")  # type: ignore[attr-defined]

    def _visit_call(self, call: cst.Call, ctx: _Ctx, as_entry: bool = False) -> None:
        func = call.func
        # The callee expression itself is not a value reference.
        if isinstance(func, cst.Attribute):
            self._visit(func.value, ctx)
        elif not isinstance(func, cst.Name):
            self._visit(func, ctx)
        spawn = self._spawner(func)
        arg_ctx = ctx.but(spawn=spawn, lock=None) if spawn is not None else ctx
        runner = self._is_runner(func)
        for arg in call.args:
            if runner and isinstance(arg.value, cst.Call):
                self._visit_call(arg.value, arg_ctx, as_entry=True)
            else:
                if spawn is not None and type(arg.value) is cst.Name:
                    self._consume(arg.value.value, arg_ctx)
                self._visit(arg.value, arg_ctx)
        # Type checks by identity: libcst nodes are ABCs, and isinstance() on them is slow.
        ft = type(func)
        attr = func.attr.value if ft is cst.Attribute else None  # type: ignore[attr-defined]
        registers = attr == "add_event_handler"
        if (
            ft is cst.Call
            and type(func.func) is cst.Attribute  # type: ignore[attr-defined]
            and func.func.attr.value == "on"  # type: ignore[attr-defined]
            and any(self._is_event_builder(a.value) for a in func.args)  # type: ignore[attr-defined]
        ):
            registers = True  # `client.on(events.NewMessage())(handler)`
        if registers and call.args and type(call.args[0].value) is cst.Lambda:
            self.event_lambdas.add(call.args[0].value)
        elif registers and call.args and type(call.args[0].value) in (cst.Name, cst.Attribute):
            # `client.add_event_handler(handler, events.X)`: handler's first parameter is an event
            # (the handler may live in another module: recorded by name for the project pass).
            handler = call.args[0].value
            if isinstance(handler, cst.Name):
                found = self.names.lookup(handler.value, self.names.scope_of(handler))
                for b in found[1] if found is not None else ():
                    if isinstance(b.node, cst.FunctionDef):
                        self.event_handlers.add(b.node)
            hq = self.names.qualified_name(handler)
            if hq is None and isinstance(handler, cst.Attribute):
                owner = self.desc(handler.value)  # `self.on_message`
                if owner is not None and owner[0] == "inst":
                    hq = f"{owner[1]}.{handler.attr.value}"
            if hq is not None:
                self.event_funcs.add(hq)
        final = attr if attr is not None else func.value if ft is cst.Name else None  # type: ignore[attr-defined]
        if final in _CALLBACK_RUNNERS and call.args:
            # `tg.start_soon(client.send_message, ...)`, `asyncio.to_thread(client.get_me)`: the
            # bound method runs later, in another task or thread, which does not hold the lock.
            for arg in call.args:
                v = arg.value
                tv = type(v)
                if tv is cst.Call:
                    v = self._partial_of(v) or v  # type: ignore[arg-type]
                elif tv is cst.Name and ctx.func is not None:
                    v = self._partials.get((ctx.func, v.value), v)  # type: ignore[attr-defined]
                if type(v) is cst.Attribute and v.attr.value in _METHOD_NAMES:
                    self.sites.append(
                        _RawSite(
                            v.value,
                            v.attr.value,
                            call,
                            ctx.but(spawn=final, lock=None),
                        )
                    )
        bound = None
        if ft is cst.Name and self._partials:
            bound = self._partials.get((ctx.func, func.value))  # type: ignore[attr-defined]
        elif ft is cst.Call:
            bound = self._partial_of(func)  # type: ignore[arg-type]
        if bound is not None:
            # `p(...)` of `p = functools.partial(client.send_message, ...)`: the action runs here.
            self.sites.append(_RawSite(bound.value, bound.attr.value, call, ctx))
        elif attr is not None and attr in _METHOD_NAMES:
            self.sites.append(_RawSite(func.value, attr, call, ctx))  # type: ignore[attr-defined]
        elif (ft is cst.Name or ft is cst.Attribute) and call.args:
            # `client(SomeRequest(...))`: resolved like any receiver.
            self.sites.append(_RawSite(func, None, call, ctx))
        if ft is cst.Name and ctx.lock is not None and ctx.spawn is None:
            if ctx.lock[0] in ("telethon", "maybe"):
                self._note_lock_wrapper(func, ctx.lock)  # type: ignore[arg-type]
        if as_entry:
            # `asyncio.run(main())`: main is the program's main task, an entry point, not a helper.
            self._ref(func)
        elif ft is cst.Name or ft is cst.Attribute:
            self.calls.append(_RawCall(call, ctx))

    def _note_lock_wrapper(self, func: cst.Name, lock: LockState) -> None:
        """``fn(...)`` under the telethon lock, where ``fn`` is a parameter of an enclosing function
        (a decorator): functions it decorates run their body holding the lock."""
        scope = self.names.scope_of(func)
        found = self.names.lookup(func.value, scope)
        if found is None or len(found[1]) != 1 or found[1][0].kind != "param":
            return
        owner: Scope | None = found[0]
        if owner is None or owner.kind != "function":
            return
        if owner is scope.enclosing_function():
            # `async def run_locked(job): async with telethon_lock: await job()`: a function
            # passed as `job` runs holding the lock.
            fn = owner.node
            if isinstance(fn, cst.FunctionDef):
                positional = [*fn.params.posonly_params, *fn.params.params]
                param = found[1][0].node
                index = next((i for i, p in enumerate(positional) if p is param), -1)
                self.lock_runners.setdefault(owner.qualname, (index, func.value, lock))
            return
        while owner is not None and owner.kind == "function":
            # The decorator, and any factory around it.
            self.lock_wrappers.setdefault(owner.qualname, lock)
            owner = owner.parent

    def _is_runner(self, func: CSTNode) -> bool:
        q = self.names.qualified_name(func)
        if q in _RUNNER_QUALS:
            return True
        return isinstance(func, cst.Attribute) and func.attr.value == "run_until_complete"

    def _spawner(self, func: CSTNode) -> str | None:
        q = self.names.qualified_name(func)
        if q in _SPAWN_QUALS:
            return q.rpartition(".")[2] if q else None
        if isinstance(func, cst.Attribute) and func.attr.value in _SPAWN_METHODS:
            return func.attr.value
        return None

    def _visit_with(self, node: cst.With, ctx: _Ctx) -> None:
        c = ctx
        is_async = node.asynchronous is not None
        for item in node.items:
            if is_async and type(item.item) is cst.Name:
                # `act = client.action(chat, "typing")` ... `async with act:`
                self._consume(item.item.value, c)
            self._visit(item.item, c)
            if not is_async:
                continue
            lock = self._lock_of(item.item, c)
            if lock is not None and lock.kind == "maybe":
                # Decided in the project pass; never a TG101/TG102 site of its own.
                c = c.but(lock=("maybe", lock.ident, dotted_name(item.item) or ""))
                continue
            if lock is not None:
                self.locks.append(lock)
                if lock.kind == "local":
                    c = c.but(lock=("local", len(self.locks) - 1))
                else:
                    c = c.but(lock=(lock.kind, lock.ident, self._code(item.item)))
                continue
            if _maybe_unlocked(c.lock):
                expr = item.item
                if (
                    isinstance(expr, cst.Call)
                    and isinstance(expr.func, cst.Attribute)
                    and expr.func.attr.value in api.CONTEXT_ACTIONS
                    and self.sites
                    and self.sites[-1].call is expr
                ):
                    # The body of an unlocked conversation is reported once, at the `async with`.
                    c = c.but(cover=len(self.sites) - 1)
        self._suite(node.body, c)

    # ------------------------------------------------------------------ locks

    def _attr_values(self) -> dict[tuple[str, str], list[cst.BaseExpression]]:
        """``self.x = value`` assignments of this module, by (class, attribute)."""
        if self._attr_map is None:
            self._attr_map = {}
            for aa in self.names.attribute_assignments:
                owner = self.desc(aa.target.value)
                if owner is not None and owner[0] == "inst" and aa.value is not None:
                    key = (owner[1], aa.target.attr.value)
                    self._attr_map.setdefault(key, []).append(aa.value)
        return self._attr_map

    def _lock_of(self, expr: CSTNode, ctx: _Ctx | None) -> _RawLock | None:
        names = self.names
        func = ctx.func if ctx is not None else None
        if isinstance(expr, cst.Call):
            q = names.qualified_name(expr.func)
            if q in _LOCK_FACTORIES:
                return _RawLock("local", f"{q}()", expr, func)
            inner = self._lock_of(expr.func, ctx)
            if inner is not None and inner.kind == "telethon":
                return _RawLock(
                    inner.kind, inner.ident, expr, func
                )  # telethon_lock(wait_timeout=...)
            return self._maybe_cm(expr, q, func)
        final = _final_name(expr)
        if final is None:
            return None
        q = names.qualified_name(expr)
        # A lock created in this very function, per call.
        if isinstance(expr, cst.Name):
            found = names.lookup(expr.value, names.scope_of(expr))
            if found is not None and found[0].kind in ("function", "lambda"):
                for b in found[1]:
                    if (
                        b.kind != "param"
                        and isinstance(b.value, cst.Call)
                        and names.qualified_name(b.value.func) in _LOCK_FACTORIES
                    ):
                        return _RawLock("local", expr.value, expr, func)
                param = self._param_lock(expr, found[0], found[1], ctx)
                if param is not None:
                    return param
        if q is not None and q.startswith("telethon_guard.") and q.endswith(".telethon_lock"):
            return _RawLock("telethon", _TELETHON_LOCK, expr, func)
        if isinstance(expr, cst.Attribute) and id(expr) not in self._lock_guard:
            # `self._lock` assigned `telethon_lock` in this module: the telethon lock.
            base = self.desc(expr.value)
            values = (
                self._attr_values().get((base[1], final), []) if base and base[0] == "inst" else []
            )
            self._lock_guard.add(id(expr))
            try:
                kinds = {getattr(self._lock_of(v, ctx), "kind", None) for v in values}
            finally:
                self._lock_guard.discard(id(expr))
            if values and kinds == {"telethon"}:
                return _RawLock(
                    "telethon", f"{self.module.module_name}:{self._code(expr)}", expr, func
                )
            if not values and base is not None and base[0] == "inst":
                low = final.lower()
                if "lock" in low or "semaphore" in low or "mutex" in low:
                    # Set in another module (a base class elsewhere): the project pass looks it up.
                    return _RawLock("other", f"attr:{base[1]}.{final}", expr, func)
            if values and kinds <= {"param", "other"}:
                # `self.lock = lock` (a constructor parameter) or `self.lock = imported_lock`: the
                # project pass resolves it (callers' arguments, another module's alias).
                self._lock_guard.add(id(expr))
                try:
                    found_locks = [self._lock_of(v, ctx) for v in values]
                finally:
                    self._lock_guard.discard(id(expr))
                idents = {(lk.kind, lk.ident) for lk in found_locks if lk is not None}
                if len(idents) == 1:
                    kind, ident = idents.pop()
                    if kind == "param" or ":" not in ident:
                        return _RawLock(kind, ident, expr, func)
        # Only a module-level name is a known lock object; `self.lock` or `state.lock` may hold any
        # lock, so its identity is marked unknown (with ":"), and TG102 never counts it.
        text = self._code(expr)
        ident = q if q is not None else f"{self.module.module_name}:{text}"
        if (
            final in self.lock_bare
            or (q is not None and q.rpartition(".")[2] in self.lock_bare)
            or (q is not None and any(q == d or q.endswith("." + d) for d in self.lock_dotted))
        ):
            return _RawLock("telethon", ident, expr, func)
        low = final.lower()
        if "lock" in low or "semaphore" in low or "mutex" in low:
            return _RawLock("other", ident, expr, func)
        if (
            q is not None
            and not q.startswith(self.module.module_name + ".")
            and q.partition(".")[0] not in _STDLIB
            and not q.startswith("builtins.")
        ):
            # A name imported from another module: maybe the telethon lock under another name
            # (`from app.locks import guard`); the project pass decides, else it is no lock.
            return _RawLock("maybe", q, expr, func)
        return None

    def _maybe_cm(self, call: cst.Call, q: str | None, func: str | None) -> _RawLock | None:
        """``async with tg():`` of a project function: a lock if it yields under the telethon lock
        (decided in the project pass)."""
        target = call.func
        if isinstance(target, cst.Attribute):
            if target.attr.value in api.CONTEXT_ACTIONS:
                return None  # client.conversation(...): a Telethon action, never a lock
            if q is None:
                owner = self.desc(target.value)
                if owner is not None and owner[0] == "inst":
                    q = f"{owner[1]}.{target.attr.value}"
        if (
            q is None
            or q.startswith(("builtins.", "telethon.", "telethon_guard."))
            or q.partition(".")[0] in _STDLIB
        ):
            return None
        return _RawLock("maybe", q, call, func)

    def _param_lock(
        self, expr: cst.Name, defining: Scope, bindings: list[Binding], ctx: _Ctx | None
    ) -> _RawLock | None:
        """A lock received as a parameter: its default when it has one, else ("param", F#i#name)."""
        if len(bindings) != 1 or bindings[0].kind != "param":
            return None
        b = bindings[0]
        func = ctx.func if ctx is not None else None
        if b.value is not None:
            # A default is evaluated once, at definition: one shared lock, not one per call.
            inner = self._lock_of(b.value, ctx)
            if inner is None:
                return None
            kind = "other" if inner.kind == "local" else inner.kind
            return _RawLock(kind, inner.ident, expr, func)
        low = expr.value.lower()
        if expr.value in self.lock_bare or not (
            "lock" in low or "semaphore" in low or "mutex" in low
        ):
            return None
        fn = defining.node
        if not isinstance(fn, cst.FunctionDef):
            return None
        positional = [*fn.params.posonly_params, *fn.params.params]
        index = next((i for i, p in enumerate(positional) if p is b.node), -1)
        return _RawLock("param", f"{defining.qualname}#{index}#{expr.value}", expr, func)

    def _arg0(self, call: cst.Call) -> Desc | None:
        """The first positional argument, when it is a plain name (an event passed on to a helper)."""
        if not call.args:
            return None
        first = call.args[0]
        if first.keyword is not None or first.star or type(first.value) is not cst.Name:
            return None
        return self.desc(first.value)

    def _func_args(self, call: cst.Call) -> tuple[tuple[int, str | None, str], ...]:
        """Project functions passed (uncalled) to ``call``: callbacks a lock runner may run."""
        out: list[tuple[int, str | None, str]] = []
        for i, arg in enumerate(call.args):
            if arg.star:
                break
            v = arg.value
            q: str | None = None
            tv = type(v)
            if tv is cst.Name:
                found = self.names.lookup(v.value, self.names.scope_of(v))  # type: ignore[attr-defined]
                if (
                    found is not None
                    and len(found[1]) == 1
                    and found[1][0].kind in ("def", "import")
                ):
                    q = found[1][0].target
            elif tv is cst.Attribute and type(v.value) is cst.Name:  # type: ignore[attr-defined]
                owner = self.desc(v.value)  # type: ignore[attr-defined]
                if owner is not None and owner[0] in ("inst", "qual", "class"):
                    q = f"{owner[1]}.{v.attr.value}"  # type: ignore[attr-defined]
            if q is not None:
                kw = arg.keyword.value if arg.keyword else None
                out.append((-1 if kw else i, kw, q))
        return tuple(out)

    def _lock_args(
        self, call: cst.Call, ctx: _Ctx
    ) -> tuple[tuple[int, str | None, LockState], ...]:
        """Locks passed to ``call`` (for parameter locks of the callee)."""
        out: list[tuple[int, str | None, LockState]] = []
        for i, arg in enumerate(call.args):
            if arg.star:
                break
            v = arg.value
            tv = type(v)
            target: Any = v.func if tv is cst.Call else v  # type: ignore[attr-defined]
            tt = type(target)
            if tt is cst.Name:
                final = target.value
            elif tt is cst.Attribute:
                final = target.attr.value
            else:
                continue
            low = final.lower()
            if final not in self.lock_bare and not (
                "lock" in low or "semaphore" in low or "mutex" in low
            ):
                continue
            lock = self._lock_of(v, ctx)
            if lock is None:
                continue
            state: LockState = (
                ("other", lock.ident, self._code(v))
                if lock.kind == "local"
                else (lock.kind, lock.ident, self._code(v))
            )
            out.append(
                (-1 if arg.keyword else i, arg.keyword.value if arg.keyword else None, state)
            )
        return tuple(out)

    # ------------------------------------------------------------------ descriptors

    def desc(self, expr: CSTNode | None, scope: Scope | None = None) -> Desc | None:
        """What ``expr`` denotes (see the Desc kinds above), or None when unknown."""
        if expr is None:
            return None
        key = id(expr)
        memo = self._memo if scope is None else None  # parsed string annotations are transient
        if memo is not None and key in memo:
            return memo[key]
        if key in self._desc_guard:
            self._cut = True
            return None
        self._desc_guard.add(key)
        cut_before, self._cut = self._cut, False
        try:
            out = self._desc(expr, scope)
        finally:
            self._desc_guard.discard(key)
        # Memoize only results that no cycle cut short.
        if memo is not None and not self._cut:
            memo[key] = out
        self._cut = self._cut or cut_before
        return out

    def _desc(self, expr: CSTNode, scope: Scope | None) -> Desc | None:
        names = self.names
        if isinstance(expr, cst.Name):
            s = scope if scope is not None else names.scope_of(expr)
            return self._desc_name(expr.value, s)
        if isinstance(expr, cst.Attribute):
            attr = expr.attr.value
            if isinstance(expr.value, cst.Attribute) and expr.value.attr.value == "state":
                # Starlette/FastAPI `app.state.x`, `request.app.state.x`: resolved from the
                # project's assignments to `<...>.state.x`.
                return ("state", attr)
            base = self.desc(expr.value, scope)
            if base is None:
                return None
            k = base[0]
            if k == "event":
                if attr == "messages":  # events.Album: the album's messages
                    return MESSAGES
                return CLIENT if attr == "client" else MESSAGE if attr == "message" else None
            if k in ("message", "conv"):
                return CLIENT if attr == "client" else None
            if k in ("inst",):
                return ("attr", base[1], attr)
            if k in ("qual", "func", "class"):
                return ("qual", f"{base[1]}.{attr}")
            if k == "client":
                return None
            # An attribute of an object resolved in the project pass (`tg.client`, `get().client`).
            return ("dot", attr, *base)
        if isinstance(expr, cst.Await):
            return self.desc(expr.expression, scope)
        if isinstance(expr, cst.Call):
            return self._desc_call(expr, scope)
        if isinstance(expr, cst.Subscript):
            app_key = self._app_key(expr, scope)
            if app_key is not None:
                return ("state", app_key)
            # `msgs[0]` where msgs came from get_messages/get_dialogs: one of the items.
            return self._item_desc(self._container(expr.value, scope))
        return None

    def _app_key(self, expr: cst.Subscript, scope: Scope | None) -> str | None:
        """aiohttp's application state: ``request.app["client"]`` / ``app[CLIENT_KEY]`` (an
        ``AppKey`` constant) -> ``"app[client]"`` / ``"app[pkg.mod.CLIENT_KEY]"``, a key of the
        project's ``state`` assignments (like Starlette's ``app.state.client``), which an
        attribute name never collides with. The container is an ``<...>.app`` attribute or an
        ``aiohttp.web.Application``."""
        if len(expr.slice) != 1 or type(expr.slice[0].slice) is not cst.Index:
            return None
        index = expr.slice[0].slice.value
        ti = type(index)
        if ti is cst.SimpleString:
            key = index.evaluated_value  # type: ignore[attr-defined]
            if not isinstance(key, str):
                return None
        elif ti is cst.Name or ti is cst.Attribute:
            key = self.names.qualified_name(index)
            if key is None or key.startswith("builtins."):
                return None
        else:
            return None
        base = expr.value
        if type(base) is cst.Attribute and base.attr.value == "app":
            return f"app[{key}]"
        if type(base) is cst.Name:
            d = self.desc(base, scope)
            if d is not None and d[0] in ("call", "inst") and d[1] in _AIOHTTP_APPS:
                return f"app[{key}]"
        return None

    def _container(self, expr: CSTNode, scope: Scope | None) -> Desc | None:
        """:meth:`desc` of something indexed or iterated; a module global whose value says nothing
        (``clients = {}``) is named, for the project pass to look up what is stored in it."""
        d = self.desc(expr, scope)
        if d is None and isinstance(expr, (cst.Name, cst.Attribute)):
            q = self.names.qualified_name(expr)
            if q is not None and not q.startswith("builtins."):
                return ("qual", q)
        return d

    @staticmethod
    def _item_desc(d: Desc | None) -> Desc | None:
        """What iterating over (or indexing) an object described by ``d`` yields, if known."""
        if d in (MESSAGE, ("dialog",)):
            return d
        if d == MESSAGES:
            return MESSAGE
        if d is None:
            return None
        if d[0] == "res" and d[1] in _ITEM_KIND:
            return ("res", _ITEMS_OF[_ITEM_KIND[d[1]]], *d[2:])
        if d[0] == "items":  # a container annotated `dict[str, TelegramClient]`, `list[Bot]`...
            return d[1]
        if d[0] in _DEFERRED:
            return ("item", *d)  # an element of a container the project pass may know
        return None

    def _desc_call(self, call: cst.Call, scope: Scope | None) -> Desc | None:
        func = call.func
        if isinstance(func, cst.Attribute):
            m = func.attr.value
            if m in _ELEMENT_GETTERS or m == "values":
                recv = self._container(func.value, scope)
            else:
                recv = self.desc(func.value, scope)
            if recv is None:
                return None
            k = recv[0]
            if k == "client":
                if m in ("start", "takeout"):
                    return CLIENT
                if m == "conversation":
                    return CONV
                if m in _ITEM_KIND:
                    # get_messages -> a Message or a list of them; get_dialogs -> Dialogs: a method
                    # called on the result, or on an item of it, is one of theirs.
                    return (_ITEM_KIND[m],)
                return MESSAGE if m in api.MESSAGE_RETURNING else None
            if k in ("event", "message", "conv", "dialog"):
                return MESSAGE if m in api.MESSAGE_RETURNING else None
            if k == "items":
                return recv if m == "values" else recv[1] if m in _ELEMENT_GETTERS else None
            if k == "inst":
                return ("mcall", recv[1], m)
            if k in ("qual", "func", "class"):
                return ("call", f"{recv[1]}.{m}")
            # A receiver resolved in the project pass: the result of its method `m`.
            return ("res", m, *recv)
        if isinstance(func, cst.Name) and func.value == "super" and not call.args:
            # `super()` in a method of class C: the same object, seen as C (for `send_message` of a
            # TelegramClient subclass).
            if self.names.qualified_name(func) == "builtins.super":
                fscope = (scope or self.names.scope_of(func)).enclosing_function()
                parent = fscope.parent if fscope is not None else None
                if parent is not None and parent.kind == "class":
                    return ("inst", parent.qualname)
            return None
        if isinstance(func, cst.Name):
            d = self.desc(func, scope)
            if d is not None and d[0] in ("qual", "func", "class"):
                return ("call", d[1])
        return None

    def _desc_name(self, name: str, scope: Scope) -> Desc | None:
        found = self.names.lookup(name, scope)
        if found is None:
            if name not in _BUILTINS and len(self.names.star_imports) == 1:
                return ("qual", f"{self.names.star_imports[0]}.{name}")
            return None
        defining, bindings = found
        key = id(bindings)
        memo = self._name_memo if self._memo is not None else None
        if memo is not None and key in memo:
            return memo[key]
        if key in self._name_guard:
            self._cut = True
            return None
        self._name_guard.add(key)
        cut_before, self._cut = self._cut, False
        try:
            descs: set[Desc] = set()
            for b in bindings:
                d = self._desc_binding(b, defining)
                if d is not None:
                    descs.add(d)
        finally:
            self._name_guard.discard(key)
        if len(descs) == 1:
            out: Desc | None = next(iter(descs))
        elif 1 < len(descs) <= 4:
            # Several bindings (`client: TelegramClient` then `client = make()`): the project pass
            # accepts them when they all denote the same kind of object.
            out = ("any", *sorted(descs, key=repr))
        else:
            out = None
        if memo is not None and not self._cut:
            memo[key] = out
        self._cut = self._cut or cut_before
        return out

    def _desc_binding(self, b: Binding, defining: Scope) -> Desc | None:
        kind = b.kind
        if kind == "import":
            return ("qual", b.target) if b.target else None
        if kind == "def":
            return ("func", b.target) if b.target else None
        if kind == "class":
            return ("class", b.target) if b.target else None
        if kind == "param":
            if b.annotation is not None:
                return self.ann_desc(b.annotation, self.names.scope_of(b.annotation))
            fn = defining.node
            if type(fn) is cst.Lambda:
                # `client.add_event_handler(lambda e: e.reply("x"), events.NewMessage)`.
                lparams = [*fn.params.posonly_params, *fn.params.params]
                if fn in self.event_lambdas and lparams and lparams[0] is b.node:
                    return EVENT
                return None
            if isinstance(fn, cst.FunctionDef):
                params = [*fn.params.posonly_params, *fn.params.params]
                parent = defining.parent
                event_index = 0
                if parent is not None and parent.kind == "class":
                    decos = {self.names.qualified_name(d.decorator) for d in fn.decorators}
                    if "builtins.staticmethod" not in decos:
                        event_index = 1
                        if params and params[0] is b.node:
                            if "builtins.classmethod" in decos:
                                return ("class", parent.qualname)
                            return ("inst", parent.qualname)
                if len(params) > event_index and params[event_index] is b.node:
                    if fn in self.event_handlers:
                        return EVENT
                    # An event handler if some module registers it (`add_event_handler`).
                    return ("param0", defining.qualname)
            return None
        if kind in ("assign", "annassign", "walrus", "with"):
            if b.annotation is not None:
                d = self.ann_desc(b.annotation, self.names.scope_of(b.annotation))
                if d is not None:
                    return d
            v = b.value
            if v is None or (isinstance(v, cst.Name) and v.value == "None"):
                return None
            return self.desc(v)
        if kind == "for":
            it = b.value.expression if isinstance(b.value, cst.Await) else b.value
            if isinstance(it, cst.Call) and isinstance(it.func, cst.Attribute):
                m = it.func.attr.value
                if m in _ITEM_KIND:
                    recv = self.desc(it.func.value)
                    if recv is not None:
                        # `async for m in client.iter_messages(...)`: m is a Message.
                        if recv == CLIENT:
                            return (_ITEM_KIND[m],)
                        return ("res", _ITEMS_OF[_ITEM_KIND[m]], *recv)
            # Iterating over what get_messages/get_dialogs returned (one spelling for all, so
            # that several loops binding one name agree).
            return self._item_desc(self._container(it, None)) if it is not None else None
        return None

    def ann_desc(self, expr: CSTNode | None, scope: Scope) -> Desc | None:
        """An annotation -> ("inst", Q) for the class it names (strings, Optional, X | None...)."""
        if expr is None:
            return None
        if isinstance(expr, cst.SimpleString):
            value = expr.evaluated_value
            if not isinstance(value, str):
                return None
            try:
                parsed = cst.parse_expression(value.strip())
            except Exception:
                return None
            return self.ann_desc(parsed, scope)
        if isinstance(expr, cst.Subscript):
            base = _final_name(expr.value)
            if base in _CONTAINERS and expr.slice:
                # `dict[str, TelegramClient]`: the values; `list[TelegramClient]`: the items.
                el = expr.slice[-1 if base in _MAPPINGS else 0].slice
                inner = self.ann_desc(el.value, scope) if isinstance(el, cst.Index) else None
                return ("items", inner) if inner is not None else None
            if base in _WRAPPERS:
                descs = {
                    self.ann_desc(el.slice.value, scope)
                    for el in expr.slice
                    if isinstance(el.slice, cst.Index)
                }
                if base in ("Annotated", "ClassVar", "Final"):
                    first = expr.slice[0].slice
                    return (
                        self.ann_desc(first.value, scope) if isinstance(first, cst.Index) else None
                    )
                descs.discard(None)
                return descs.pop() if len(descs) == 1 else None
            return None
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.BitOr):
            descs = {self.ann_desc(expr.left, scope), self.ann_desc(expr.right, scope)}
            descs.discard(None)
            return descs.pop() if len(descs) == 1 else None
        if isinstance(expr, cst.Name) and expr.value == "None":
            return None
        q = self._qual_in(expr, scope)
        return ("inst", q) if q else None

    def _qual_in(self, expr: CSTNode, scope: Scope) -> str | None:
        if isinstance(expr, cst.Name):
            return self.names.qualify(expr.value, scope)
        if isinstance(expr, cst.Attribute):
            base = self._qual_in(expr.value, scope)
            return f"{base}.{expr.attr.value}" if base else None
        return None

    # ------------------------------------------------------------------ facts

    def facts(self) -> ModuleFacts:
        self._memo = {}
        names = self.names
        module = self.module
        facts = ModuleFacts(module.path, module.module_name)
        # Descriptors of receivers and callees first: they need no positions.
        kept_sites: list[_RawSite] = []
        for s in self.sites:
            d = self.desc(s.recv)
            if d is None or (s.method is None and d[0] in ("func", "class")):
                continue
            if d[0] == "qual" and d[1].startswith("builtins."):
                continue
            if s.method is not None and d[0] in ("client", "event", "message", "conv", "dialog"):
                if not _is_action_name(d[0], s.method):
                    continue
            if s.method is None and d[0] in ("event", "message", "conv", "dialog"):
                continue
            s.desc = d
            s.index = len(kept_sites)
            kept_sites.append(s)
        index_of = {id(s): s.index for s in kept_sites}
        raw_index = {i: index_of.get(id(s)) for i, s in enumerate(self.sites)}
        calls: list[tuple[_RawCall, tuple[object, ...], bool]] = []
        for rc in self.calls:
            callee = self._callee(rc.call.func)
            if callee is None:
                continue
            # Calls under the telethon lock are never reported: they need no position.
            unlocked = rc.ctx.lock is None or rc.ctx.lock[0] != "telethon"
            calls.append((rc, callee, unlocked))

        # Positions come from the module's shared positions pass (one cheap codegen pass per module,
        # shared with the other families), computed only if something here needs one.
        fix_stmts: list[CSTNode] = []
        # The scope each wrapped statement runs in (from the callee expression it holds).
        stmt_scope: dict[CSTNode, Scope] = {}
        for s in kept_sites:
            if (s.ctx.lock is None or s.ctx.lock[0] == "maybe") and self._fixable(s.ctx):
                fix_stmts.append(s.ctx.stmt)  # type: ignore[arg-type]
                if s.ctx.stmt not in stmt_scope:
                    stmt_scope[s.ctx.stmt] = names.scope_of(s.call.func)  # type: ignore[index]
        for rc, _, unlocked in calls:
            if (
                unlocked
                and (rc.ctx.lock is None or rc.ctx.lock[0] == "maybe")
                and self._fixable(rc.ctx)
            ):
                fix_stmts.append(rc.ctx.stmt)  # type: ignore[arg-type]
                if rc.ctx.stmt not in stmt_scope:
                    stmt_scope[rc.ctx.stmt] = names.scope_of(rc.call.func)  # type: ignore[index]
        unique_stmts = list(dict.fromkeys(fix_stmts))
        # One walk per statement: its multi-line strings, or None when it must not be wrapped.
        strings = {st: self._wrappable(st) for st in unique_stmts}
        last_import = self._import_anchor()
        lock_def_nodes = self._lock_def_nodes()
        ranges = _Ranges(module, {})
        import_edit = self._import_edit(last_import, ranges)
        lines = _source_lines(module.source)
        fixes: dict[CSTNode, Fix | None] = {}
        for st in unique_stmts:
            fixes[st] = self._wrap_fix(
                st, strings[st], ranges, lines, import_edit, stmt_scope.get(st)
            )

        for s in kept_sites:
            stmt = s.ctx.stmt
            fix = (
                fixes.get(stmt)
                if stmt is not None and (s.ctx.lock is None or s.ctx.lock[0] == "maybe")
                else None
            )
            if s.ctx.spawn is not None:
                fix = None
            facts.sites.append(
                Site(
                    recv=s.desc,  # type: ignore[arg-type]
                    method=s.method,
                    func=s.ctx.func,
                    lock=s.ctx.lock,
                    spawn=s.ctx.spawn,
                    cover=raw_index.get(s.ctx.cover) if s.ctx.cover is not None else None,
                    text=self._site_text(s),
                    pos=_pos(ranges[s.call]),
                    fix=fix,
                    note=s.ctx.note,
                )
            )
        for rc, callee, unlocked in calls:
            stmt = rc.ctx.stmt
            fix = None
            if (
                (rc.ctx.lock is None or rc.ctx.lock[0] == "maybe")
                and stmt is not None
                and rc.ctx.spawn is None
            ):
                fix = fixes.get(stmt)
            facts.calls.append(
                CallSite(
                    callee=callee,
                    func=rc.ctx.func,
                    lock=rc.ctx.lock,
                    spawn=rc.ctx.spawn,
                    cover=raw_index.get(rc.ctx.cover) if rc.ctx.cover is not None else None,
                    text=_short(self._code(rc.call.func)) + "()" if unlocked else "",
                    pos=_pos(ranges[rc.call]) if unlocked else None,
                    fix=fix,
                    lock_args=self._lock_args(rc.call, rc.ctx) if rc.call.args else (),
                    func_args=self._func_args(rc.call) if rc.call.args else (),
                    arg0=self._arg0(rc.call),
                    note=rc.ctx.note if unlocked else None,
                )
            )
        for lk in self.locks:
            facts.locks.append(
                LockUse(
                    lk.kind,
                    lk.ident,
                    _short(self._code(lk.node)),
                    _pos(ranges[lk.node]),
                    lk.func,
                )
            )
        for name, node in lock_def_nodes.items():
            facts.lock_defs[name] = _pos(ranges[node])
        facts.refs = frozenset(self.refs)
        facts.event_funcs = frozenset(self.event_funcs)
        facts.lock_wrappers = dict(self.lock_wrappers)
        facts.lock_runners = dict(self.lock_runners)
        facts.lock_yielders = dict(self.lock_yielders)
        for container, value in self.item_assigns:
            owner = self._container(container, None)
            vd = self.desc(value) if owner is not None else None
            if owner is None or vd is None:
                continue
            if owner[0] == "qual":
                facts.item_assigns.setdefault(f"q:{owner[1]}", []).append(vd)
            elif owner[0] == "attr":
                facts.item_assigns.setdefault(f"a:{owner[1]}.{owner[2]}", []).append(vd)

        # Module globals, imports, classes and functions: the project-wide index.
        scope = names.module_scope
        for name, bindings in scope.bindings.items():
            kinds = {b.kind for b in bindings}
            if kinds == {"import"}:
                targets = {b.target for b in bindings}
                if len(targets) == 1 and None not in targets:
                    facts.exports[name] = targets.pop()  # type: ignore[assignment]
            elif not kinds & {"import", "def", "class"}:
                d = self._desc_name(name, scope)
                if d is not None:
                    facts.globals[name] = d
                b = bindings[0]
                if (
                    len(bindings) == 1
                    and b.kind == "assign"
                    and (
                        isinstance(b.value, cst.Name)
                        or (isinstance(b.value, cst.Attribute) and d is not None and d[0] == "qual")
                    )
                ):
                    # A module-level alias (`guard = telethon_lock`): the same object, for modules
                    # that import it under the alias.
                    target = names.qualified_name(b.value)
                    if target is not None and not target.startswith("builtins."):
                        facts.exports[name] = target
        for cd, cscope in names.classes:
            bases = tuple(q for q in (names.qualified_name(a.value) for a in cd.bases) if q)
            attrs: dict[str, Desc] = {}
            for name, bindings in cscope.bindings.items():
                for b in bindings:
                    if b.kind in ("assign", "annassign"):
                        d = self._desc_binding(b, cscope)
                        if d is not None:
                            attrs[name] = d
            facts.classes[cscope.qualname] = (bases, attrs)
        for key_target, value in self.keyed_assigns:
            app_key = self._app_key(key_target, None)
            if app_key is not None:
                sd = self.desc(value)
                if sd is not None:
                    facts.state_attrs.setdefault(app_key, []).append(sd)
        for aa in names.attribute_assignments:
            if isinstance(aa.target.value, cst.Attribute) and aa.target.value.attr.value == "state":
                sd = self.desc(aa.value) if aa.value is not None else None
                if sd is not None:
                    facts.state_attrs.setdefault(aa.target.attr.value, []).append(sd)
                continue
            owner = self.desc(aa.target.value)
            if (
                owner is not None
                and owner[0] == "qual"
                and aa.value is not None
                and aa.scope.kind != "class"
            ):
                md = self.desc(aa.value)
                if md is not None:
                    key = f"{owner[1]}.{aa.target.attr.value}"
                    facts.module_attrs.setdefault(key, []).append(md)
                continue
            if owner is None or owner[0] != "inst" or owner[1] not in facts.classes:
                continue
            d = None
            if aa.annotation is not None:
                d = self.ann_desc(aa.annotation, names.scope_of(aa.annotation))
            if (
                d is None
                and aa.value is not None
                and not (isinstance(aa.value, cst.Name) and aa.value.value == "None")
            ):
                d = self.desc(aa.value)
            if d is not None:
                attrs = facts.classes[owner[1]][1]
                name = aa.target.attr.value
                if attrs.get(name, d) != d:
                    attrs[name] = ("conflict",)
                else:
                    attrs[name] = d
        for fn, fscope in names.functions:
            parent = fscope.parent
            returns: Desc | None = None
            if fn.returns is not None:
                returns = self.ann_desc(
                    fn.returns.annotation, names.scope_of(fn.returns.annotation)
                )
            else:
                rdescs = {self.desc(v) for v in self.returns.get(fscope.qualname, [])}
                rdescs.discard(None)
                if len(rdescs) == 1:
                    returns = rdescs.pop()
            facts.functions[fscope.qualname] = FuncFacts(
                qual=fscope.qualname,
                cls=parent.qualname if parent is not None and parent.kind == "class" else None,
                handler=fn in self.route_handlers or fn in self.event_handlers,
                registered=fn in self.registered,
                returns=returns,
                decorators=tuple(
                    q
                    for q in (
                        names.qualified_name(
                            d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator
                        )
                        for d in fn.decorators
                    )
                    if q is not None
                ),
            )
        return facts

    def _callee(self, func: CSTNode) -> tuple[object, ...] | None:
        if isinstance(func, cst.Attribute):
            v = func.value
            if isinstance(v, cst.Call) and isinstance(v.func, cst.Name) and v.func.value == "super":
                return None  # the next class in the MRO: not resolved (never this very method)
            recv = self.desc(func.value)
            if recv is not None and recv[0] in (
                "inst",
                "attr",
                "call",
                "mcall",
                "res",
                "qual",
                "dot",
                "state",
                "item",
            ):
                # `obj.m()`: a method of obj's class, or (obj a module) the function `mod.m`.
                return ("method", recv, func.attr.value)
        q = self.names.qualified_name(func)
        if q is None or q.startswith("builtins."):
            return None
        top = q.partition(".")[0]
        if top in _STDLIB and top != self.top_package:
            return None  # never a project function (spares a position for every stdlib call)
        return ("func", q)

    def _code(self, node: CSTNode) -> str:
        return dotted_name(node) or self.tree.code_for_node(node)

    def _site_text(self, s: _RawSite) -> str:
        recv = _short(self._code(s.recv))
        return f"{recv}.{s.method}()" if s.method is not None else f"{recv}(...)"

    def _fixable(self, ctx: _Ctx) -> bool:
        # Not after a bare `await L.acquire()` (note set): the fix is the try/finally shape.
        return (
            ctx.is_async
            and ctx.in_body
            and ctx.stmt is not None
            and ctx.spawn is None
            and ctx.note is None
        )

    def _fix_lock_name(self) -> str:
        """The name the fix writes: a module-level import of telethon_guard's lock under any alias
        (``from telethon_guard import telethon_lock as tl``), else ``telethon_lock``."""
        if self._fix_name is None:
            self._fix_name = "telethon_lock"
            for name, bindings in self.names.module_scope.bindings.items():
                if all(b.kind == "import" and b.target in _TELETHON_LOCKS for b in bindings):
                    self._fix_name = name
                    break
        return self._fix_name

    def _fix_name_ok(self, scope: Scope | None) -> bool:
        """Whether the fix's lock name means the telethon lock where the wrapped statement runs: a
        parameter or local called ``telethon_lock`` would silently change what the fix locks."""
        name = self._fix_lock_name()
        if scope is None:
            return True
        found = self.names.lookup(name, scope)
        if found is None or found[0] is self.names.module_scope:
            return True
        return self.names.qualify(name, scope) in _TELETHON_LOCKS

    def _import_anchor(self) -> CSTNode | None:
        """The statement after which ``from telethon_guard import telethon_lock`` goes."""
        if self._fix_lock_name() in self.names.module_scope.bindings:
            return None
        anchor: CSTNode | None = None
        body = self.tree.body
        for i, stmt in enumerate(body):
            if isinstance(stmt, cst.SimpleStatementLine) and any(
                isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body
            ):
                anchor = stmt
            elif (
                i == 0
                and isinstance(stmt, cst.SimpleStatementLine)
                and isinstance(stmt.body[0], cst.Expr)
                and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
            ):
                anchor = stmt
        return anchor if anchor is not None else (body[0] if False else None)

    def _import_edit(self, anchor: CSTNode | None, ranges: Mapping[CSTNode, Any]) -> Edit | None:
        if self._fix_lock_name() in self.names.module_scope.bindings:
            return None
        text = "from telethon_guard import telethon_lock"
        nl = self.tree.default_newline
        if anchor is None:
            return Edit(1, 1, 1, 1, text + nl + nl)
        end_line = ranges[anchor].end.line
        lines = _source_lines(self.module.source)
        if end_line >= len(lines):
            last = lines[end_line - 1] if lines else ""
            return Edit(end_line, len(last) + 1, end_line, len(last) + 1, nl + text)
        return Edit(end_line + 1, 1, end_line + 1, 1, text + nl)

    def _wrap_fix(
        self,
        stmt: CSTNode,
        strings: list[CSTNode] | None,
        ranges: Mapping[CSTNode, Any],
        lines: list[str],
        import_edit: Edit | None,
        scope: Scope | None,
    ) -> Fix | None:
        """Wrap ``stmt`` in ``async with telethon_lock:`` (re-indented text; comments kept)."""
        if strings is None or not self._fix_name_ok(scope):
            return None
        r = ranges[stmt]
        start, end = r.start.line, r.end.line
        first = lines[start - 1]
        indent = first[: r.start.column]
        if indent.strip():
            return None
        interior: set[int] = set()
        for s in strings:
            sr = ranges[s]
            if sr is not None:
                interior.update(range(sr.start.line + 1, sr.end.line + 1))
        unit = self.tree.default_indent
        nl = self.tree.default_newline
        body = [
            lines[i - 1] if i in interior or not lines[i - 1].strip() else unit + lines[i - 1]
            for i in range(start, end + 1)
        ]
        lock = self._fix_lock_name()
        content = f"{indent}async with {lock}:{nl}" + nl.join(body)
        wrap = Edit(start, 1, end, len(lines[end - 1]) + 1, content)
        edits = (import_edit, wrap) if import_edit is not None else (wrap,)
        return Fix(f"wrap the statement in `async with {lock}:`", edits)

    def _wrappable(self, stmt: CSTNode) -> list[CSTNode] | None:
        """The multi-line strings in ``stmt`` (kept unindented), or None when it must not be wrapped:
        it yields (an async generator would hold the lock across the yield) or starts/gathers tasks
        (holding the lock while awaiting tasks that take it deadlocks)."""
        strings: list[CSTNode] = []
        stack = [stmt]
        while stack:
            n = stack.pop()
            t = type(n)
            if t is cst.SimpleString or t is cst.FormattedString:
                strings.append(n)
                if t is cst.SimpleString:
                    continue
            elif t is cst.Yield:
                return None
            elif t is cst.Call and self._spawner(n.func) is not None:  # type: ignore[attr-defined]
                return None
            elif t is cst.FunctionDef or t is cst.Lambda or t is cst.ClassDef:
                continue
            stack.extend(iter_child_nodes(n))
        return [
            n
            for n in strings
            if isinstance(n, cst.FormattedString) or "\n" in n.value or "\r" in n.value  # type: ignore[attr-defined]
        ]

    def _lock_def_nodes(self) -> dict[str, CSTNode]:
        out: dict[str, CSTNode] = {}
        for name, bindings in self.names.module_scope.bindings.items():
            if len(bindings) != 1 or bindings[0].kind not in ("assign", "annassign"):
                continue
            v = bindings[0].value
            if not isinstance(v, cst.Call):
                continue
            q = self.names.qualified_name(v.func) or ""
            final = _final_name(v.func) or ""
            if q in _LOCK_FACTORIES or "lock" in final.lower() or name in self.lock_bare:
                out[name] = bindings[0].node
        return out


class _Ranges(dict[CSTNode, Any]):
    """Ranges from :func:`node_ranges`, falling back to libcst's provider for any node it lacks."""

    def __init__(self, module: PythonModule, ranges: Mapping[CSTNode, Any]) -> None:
        super().__init__(ranges)
        self.module = module

    def __missing__(self, node: CSTNode) -> Any:
        r = self.module.range_of(node)
        self[node] = r
        return r


def _source_lines(source: str) -> list[str]:
    """Lines as libcst and Python count them: only \\r\\n, \\r and \\n break lines (not form feeds,
    \\x1c-\\x1e, \\x85 or \\u2028 that ``str.splitlines`` also splits on)."""
    lines = _LINE_BREAK.split(source)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _is_action_name(kind: str, method: str) -> bool:
    if kind == "client":
        return method in api.CLIENT_ACTIONS or method in api.CLIENT_LIFECYCLE
    if kind == "event":
        return method in api.EVENT_ACTIONS
    if kind == "message":
        return method in api.MESSAGE_ACTIONS
    if kind == "conv":
        return method in api.CONVERSATION_ACTIONS
    if kind == "dialog":
        return method in api.DIALOG_ACTIONS
    return False


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------- project


class _Project:
    """The project-wide index and the decisions of TG100/TG101/TG102."""

    def __init__(self, facts: Mapping[str, Any], config: Config) -> None:
        self.config = config
        self.mods: list[ModuleFacts] = [f for f in facts.values() if isinstance(f, ModuleFacts)]
        self.mods.sort(key=lambda m: m.path)
        self.funcs: dict[str, tuple[FuncFacts, ModuleFacts]] = {}
        self.classes: dict[str, tuple[tuple[str, ...], dict[str, Desc]]] = {}
        self.globals: dict[str, Desc] = {}
        self.exports: dict[str, str] = {}
        self.lock_defs: dict[str, tuple[str, Pos]] = {}
        self.state_attrs: dict[str, list[Desc]] = {}
        self.event_funcs: set[str] = set()
        self.refs: set[str] = set()
        self._canon: dict[str, str] = {}
        for m in self.mods:
            prefix = m.module + "." if m.module else ""
            for q, ff in m.functions.items():
                self.funcs[q] = (ff, m)
            self.classes.update(m.classes)
            for name, d in m.globals.items():
                self.globals[prefix + name] = d
            for name, target in m.exports.items():
                self.exports[prefix + name] = target
            for name, pos in m.lock_defs.items():
                self.lock_defs[prefix + name] = (m.path, pos)
            for name, descs in m.state_attrs.items():
                self.state_attrs.setdefault(name, []).extend(descs)
        self.item_assigns: dict[str, set[Desc]] = {}
        for m in self.mods:
            for key, descs in m.item_assigns.items():
                kind_, _, q = key.partition(":")
                if kind_ == "q":
                    q = self.canon(q)
                self.item_assigns.setdefault(f"{kind_}:{q}", set()).update(descs)
        module_attrs: dict[str, set[Desc]] = {}
        for m in self.mods:
            self.event_funcs.update(self.canon(q) for q in m.event_funcs)
            for q, descs in m.module_attrs.items():
                module_attrs.setdefault(self.canon(q), set()).update(descs)
        for q, dset in module_attrs.items():
            # A module global set from elsewhere (`client = None` at import, a client later).
            if q not in self.globals and 0 < len(dset) <= 4:
                only = sorted(dset, key=repr)
                self.globals[q] = only[0] if len(only) == 1 else ("any", *only)
        for m in self.mods:
            self.refs.update(self.canon(r) for r in m.refs)
        self.factories = {self.canon(f) for f in config.client_factories} | set(
            config.client_factories
        )
        self.exempt = frozenset(config.exempt_methods)
        self._kind_memo: dict[Desc, str | None] = {}
        self._need_memo: dict[str, tuple[str, str, int] | None] = {}
        self._cycle_cut = False
        self.sites_by_func: dict[str | None, list[tuple[Site, ModuleFacts, int]]] = {}
        self.calls_by_func: dict[str | None, list[tuple[CallSite, ModuleFacts]]] = {}
        self.callers: dict[str, list[tuple[CallSite, ModuleFacts]]] = {}
        # Calls passing locks, by the function receiving them (constructors: by `__init__`).
        self.lock_callers: dict[str, list[CallSite]] = {}
        self.lock_bare = frozenset(n for n in config.lock_names if "." not in n)
        self._lock_memo: dict[str, LockState] = {}
        for m in self.mods:
            for c in m.calls:
                if not c.lock_args:
                    continue
                callee = self.target_of(c)
                if callee is None and c.callee[0] == "func":
                    q = self.canon(str(c.callee[1]))
                    callee = self.method(q, "__init__") if q in self.classes else None
                if callee is not None:
                    self.lock_callers.setdefault(callee, []).append(c)
        # Decide every lock state once: locks imported from project modules under other names, and
        # locks received as parameters, are known only now (the facts given are never mutated).
        self.lock_yielders: set[str] = set()
        yielders = {self.canon(q): held for m in self.mods for q, held in m.lock_yielders.items()}
        for _ in range(3):  # a context manager may yield under another one
            self.lock_yielders |= {
                q
                for q, held in yielders.items()
                if (self.resolve_lock(held) or ("",))[0] == "telethon"
            }
        self._lock_memo.clear()  # parameter locks resolved before every context manager was known
        wrappers = {
            self.canon(q)
            for m in self.mods
            for q, held in m.lock_wrappers.items()
            if (self.resolve_lock(held) or ("",))[0] == "telethon"
        }
        self.lock_decorated = {
            q: f"{d}:decorator"
            for q, (ff, _) in self.funcs.items()
            for d in (self.canon(x) for x in ff.decorators)
            if d in wrappers
        }
        runners = {
            self.canon(q): (index, name)
            for m in self.mods
            for q, (index, name, held) in m.lock_runners.items()
            if (self.resolve_lock(held) or ("",))[0] == "telethon"
        }
        if runners:
            for m in self.mods:
                for c in m.calls:
                    if not c.func_args:
                        continue
                    runner = self.target_of(c)
                    if runner not in runners:
                        continue
                    index, name = runners[runner]
                    held_by = self.funcs.get(runner)
                    offset = 1 if held_by is not None and held_by[0].cls is not None else 0
                    for at, kw, q in c.func_args:
                        if kw == name or (kw is None and index >= 0 and at + offset == index):
                            self.lock_decorated.setdefault(self.canon(q), f"{runner}:runner")
        self.mods = [
            replace(
                m,
                sites=[
                    replace(s, lock=self._decorated(self.resolve_lock(s.lock), s.func, s.spawn))
                    for s in m.sites
                ],
                calls=[
                    replace(c, lock=self._decorated(self.resolve_lock(c.lock), c.func, c.spawn))
                    for c in m.calls
                ],
            )
            for m in self.mods
        ]
        for m in self.mods:
            for i, s in enumerate(m.sites):
                self.sites_by_func.setdefault(s.func, []).append((s, m, i))
            for c in m.calls:
                self.calls_by_func.setdefault(c.func, []).append((c, m))
                callee = self.target_of(c)
                # A function calling itself does not make it a helper.
                if callee is not None and callee != c.func:
                    self.callers.setdefault(callee, []).append((c, m))

    # ------------------------------------------------------------------ locks

    def _decorated(self, lock: LockState, func: str | None, spawn: str | None) -> LockState:
        """The lock held in the body of a function decorated by a project lock decorator."""
        if lock is not None or spawn is not None or func not in self.lock_decorated:
            return lock
        ident = self.lock_decorated[func]
        return ("telethon", ident, "@" + ident.partition(":")[0].rpartition(".")[2])

    def resolve_lock(self, lock: LockState, depth: int = 0) -> LockState:
        """A lock state with what the project knows: ``("other", "pkg.locks.tg_lock")`` that is
        ``telethon_lock`` under another name becomes the telethon lock; a parameter lock is what its
        callers pass (the telethon lock when every known caller passes it or none is known)."""
        if lock is None or depth > 8:
            return lock
        kind = lock[0]
        if kind in ("other", "maybe"):
            ident = str(lock[1])
            found = self._telethon_ident(ident) if ":" not in ident else None
            if ident.startswith("attr:"):
                cls, _, name = ident[5:].rpartition(".")
                value = self.attr(cls, name)
                if value is not None and value[0] == "qual":
                    found = self._telethon_ident(str(value[1]))
            if found is not None:
                return ("telethon", found, lock[2])
            return lock if kind == "other" else None
        if kind != "param":
            return lock
        ident = str(lock[1])
        if ident in self._lock_memo:
            return self._lock_memo[ident]
        self._lock_memo[ident] = ("telethon", ident.replace("#", ":"), lock[2])  # cycle guard
        func, _, rest = ident.partition("#")
        index_s, _, name = rest.partition("#")
        index = int(index_s)
        ff = self.funcs.get(func)
        offset = 1 if ff is not None and ff[0].cls is not None else 0  # bound: `self` not passed
        out: LockState = ("telethon", f"{func}:{name}", lock[2])
        for c in self.lock_callers.get(func, []):
            for pos, kw, state in c.lock_args:
                if kw == name or (kw is None and index >= 0 and pos + offset == index):
                    got = self.resolve_lock(state, depth + 1)
                    if got is not None and got[0] != "telethon":
                        out = ("other", f"{func}:{name}", f"{lock[2]}`, given `{got[-1]}")
                    break
            if out is not None and out[0] == "other":
                break
        self._lock_memo[ident] = out
        return out

    def _telethon_ident(self, q: str) -> str | None:
        """The identity of the telethon lock ``q`` names (following project aliases), or None."""
        for _ in range(12):
            q = self.canon(q)
            if q in _TELETHON_LOCKS:
                return _TELETHON_LOCK
            if q in self.lock_yielders:
                return f"{q}:yield"  # with ":" -- which lock it holds is not counted by TG102
            g = self.globals.get(q)
            if g is not None and g[0] == "qual":
                q = str(g[1])
                continue
            return q if q.rpartition(".")[2] in self.lock_bare else None
        return None

    # ------------------------------------------------------------------ resolution

    def canon(self, q: str) -> str:
        """Follow re-exports: ``app.client`` -> ``app.tg.client`` when ``app`` imports it."""
        out = self._canon.get(q)
        if out is None:
            out = self._canon[q] = self._follow(q)
        return out

    def _follow(self, q: str) -> str:
        for _ in range(12):
            if q in self.exports and self.exports[q] != q:
                q = self.exports[q]
                continue
            parts = q.split(".")
            for i in range(len(parts) - 1, 0, -1):
                head = ".".join(parts[:i])
                if head in self.exports and self.exports[head] != head:
                    q = self.exports[head] + "." + ".".join(parts[i:])
                    break
            else:
                return q
        return q

    def class_kind(self, q: str, depth: int = 0) -> str | None:
        q = self.canon(q)
        if q in api.CLIENT_CLASSES:
            return "client"
        if q in api.EVENT_CLASSES:
            return "event"
        if q in api.MESSAGE_CLASSES:
            return "message"
        if q in _CONV_CLASSES:
            return "conv"
        if q in api.DIALOG_CLASSES:
            return "dialog"
        if depth < 12 and q in self.classes:
            for base in self.classes[q][0]:
                k = self.class_kind(base, depth + 1)
                if k is not None:
                    return k
        return None

    def mro(self, q: str) -> list[str]:
        out: list[str] = []
        stack = [self.canon(q)]
        while stack and len(out) < 50:
            c = stack.pop(0)
            if c in out:
                continue
            out.append(c)
            if c in self.classes:
                stack.extend(self.canon(b) for b in self.classes[c][0])
        return out

    def method(self, cls: str, name: str) -> str | None:
        for c in self.mro(cls):
            q = f"{c}.{name}"
            if q in self.funcs:
                return q
        return None

    def attr(self, cls: str, name: str) -> Desc | None:
        for c in self.mro(cls):
            if c in self.classes and name in self.classes[c][1]:
                return self.classes[c][1][name]
        # A property: what the method returns.
        m = self.method(cls, name)
        return self.funcs[m][0].returns if m is not None else None

    def _split_global(self, q: str) -> Desc | None:
        """``mod.obj.attr`` where ``mod.obj`` is a module global or a class: the attribute."""
        head, _, last = q.rpartition(".")
        if head in self.globals:
            return ("dot", last, *self.globals[head])
        if head in self.classes:
            return self.attr(head, last)
        return None

    def elements(self, d: Desc | None, depth: int = 0) -> Desc | None:
        """What the container described by ``d`` holds (annotations, `c[k] = v` assignments)."""
        if d is None or depth > 12:
            return None
        k = d[0]
        if k == "items":
            return d[1]
        found: set[Desc] = set()
        if k == "attr":
            a = self.attr(d[1], d[2])
            if a is not None and a[0] == "items":
                return a[1]
            for c in self.mro(d[1]):
                found |= self.item_assigns.get(f"a:{c}.{d[2]}", set())
        elif k == "qual":
            q = self.canon(d[1])
            g = self.globals.get(q)
            if g is not None and g[0] in ("items", "qual", "attr", "any"):
                inner = self.elements(g, depth + 1)
                if inner is not None:
                    return inner
            found |= self.item_assigns.get(f"q:{q}", set())
        elif k == "res" and d[1] == "values":
            return self.elements(tuple(d[2:]), depth + 1)
        elif k == "dot":
            owner = self.class_of(tuple(d[2:]), depth + 1)
            return self.elements(("attr", owner, d[1]), depth + 1) if owner else None
        elif k == "any":
            found = {e for e in (self.elements(x, depth + 1) for x in d[1:]) if e is not None}
        return found.pop() if len(found) == 1 else None

    def class_of(self, d: Desc, depth: int = 0) -> str | None:
        """The project class an object described by ``d`` is an instance of."""
        if depth > 12:
            return None
        k = d[0]
        if k == "inst":
            return self.canon(d[1])
        if k == "call":
            q = self.canon(d[1])
            if q in self.classes or self.class_kind(q) is not None:
                return q
            if q in self.funcs and self.funcs[q][0].returns is not None:
                return self.class_of(self.funcs[q][0].returns, depth + 1)  # type: ignore[arg-type]
            return None
        if k == "qual":
            q = self.canon(d[1])
            if q in self.globals:
                return self.class_of(self.globals[q], depth + 1)
            g = self._split_global(q)
            return self.class_of(g, depth + 1) if g is not None else None
        if k == "attr":
            a = self.attr(d[1], d[2])
            return self.class_of(a, depth + 1) if a is not None else None
        if k == "dot":
            owner = self.class_of(tuple(d[2:]), depth + 1)
            a = self.attr(owner, d[1]) if owner is not None else None
            return self.class_of(a, depth + 1) if a is not None else None
        if k == "mcall":
            m = self.method(d[1], d[2])
            r = self.funcs[m][0].returns if m is not None else None
            return self.class_of(r, depth + 1) if r is not None else None
        if k == "any":
            classes = {self.class_of(alt, depth + 1) for alt in d[1:]}
            return classes.pop() if len(classes) == 1 else None
        if k == "item":
            e = self.elements(tuple(d[1:]), depth + 1)
            return self.class_of(e, depth + 1) if e is not None else None
        if k == "res" and d[1] in _ELEMENT_GETTERS:
            e = self.elements(tuple(d[2:]), depth + 1)
            return self.class_of(e, depth + 1) if e is not None else None
        return None

    def kind(self, d: Desc | None, depth: int = 0) -> str | None:
        """ "client" / "event" / "message" / "conv" / None for a descriptor."""
        if d is None or depth > 16:
            return None
        k = d[0]
        if k in ("client", "event", "message", "conv", "dialog"):
            return k
        if d in self._kind_memo:
            return self._kind_memo[d]
        self._kind_memo[d] = None  # cycle guard
        out: str | None = None
        if k == "inst":
            out = self.class_kind(d[1])
        elif k == "call":
            q = self.canon(d[1])
            if q in self.factories or d[1] in self.factories:
                out = "client"
            else:
                out = self.class_kind(q)
                if out is None and q in self.funcs:
                    out = self.kind(self.funcs[q][0].returns, depth + 1)
        elif k == "qual":
            q = self.canon(d[1])
            if q in self.globals:
                out = self.kind(self.globals[q], depth + 1)
            else:  # `mod.obj.client`, or a class attribute `Relay.client`
                out = self.kind(self._split_global(q), depth + 1)
        elif k == "dot":
            inner = tuple(d[2:])
            ik = self.kind(inner, depth + 1)
            if ik == "event":
                out = "client" if d[1] == "client" else "message" if d[1] == "message" else None
            elif ik in ("message", "conv"):
                out = "client" if d[1] == "client" else None
            else:
                owner = self.class_of(inner, depth + 1)
                if owner is not None:
                    out = self.kind(self.attr(owner, d[1]), depth + 1)
        elif k == "any":
            kinds = {self.kind(alt, depth + 1) for alt in d[1:]}
            out = kinds.pop() if len(kinds) == 1 else None
        elif k == "param0":  # the first parameter of a function registered as an event handler
            q = self.canon(d[1])
            if q in self.event_funcs:
                out = "event"
            elif q in self.callers and q not in self.refs:
                # A helper every caller hands an event to (`await handle(event)`).
                kinds = {self.kind(c.arg0, depth + 1) for c, _ in self.callers[q]}
                out = "event" if kinds == {"event"} else None
        elif k == "state":
            kinds = {self.kind(sd, depth + 1) for sd in self.state_attrs.get(d[1], [])}
            kinds.discard(None)
            out = kinds.pop() if len(kinds) == 1 else None
        elif k == "attr":
            out = self.kind(self.attr(d[1], d[2]), depth + 1)
        elif k == "mcall":
            m = self.method(d[1], d[2])
            if m is not None and self.funcs[m][0].returns is not None:
                out = self.kind(self.funcs[m][0].returns, depth + 1)
            elif self.class_kind(d[1]) is not None:
                out = _result_kind(self.class_kind(d[1]), d[2])
        elif k == "res":
            inner = tuple(d[2:])
            out = _result_kind(self.kind(inner, depth + 1), d[1])
            owner = self.class_of(inner, depth + 1) if out is None else None
            m = self.method(owner, d[1]) if owner is not None else None
            if m is not None:
                out = self.kind(self.funcs[m][0].returns, depth + 1)
            if out is None and d[1] in _ELEMENT_GETTERS:  # `clients.get(name)`
                out = self.kind(self.elements(inner, depth + 1), depth + 1)
        elif k == "item":  # `clients[name]`, `for c in clients`
            out = self.kind(self.elements(tuple(d[1:]), depth + 1), depth + 1)
        self._kind_memo[d] = out
        return out

    def target_of(self, c: CallSite) -> str | None:
        """The project function a call site calls, if any."""
        callee = c.callee
        if callee[0] == "func":
            q = self.canon(str(callee[1]))
            return q if q in self.funcs else None
        recv: Desc = callee[1]  # type: ignore[assignment]
        cls = self.class_of(recv)
        if cls is not None:
            return self.method(cls, str(callee[2]))
        if recv[0] == "qual":
            q = self.canon(f"{recv[1]}.{callee[2]}")
            return q if q in self.funcs else None
        return None

    # ------------------------------------------------------------------ decisions

    def is_action(self, s: Site) -> str | None:
        """ "action" / "lifecycle" / None."""
        k = self.kind(s.recv)
        if k is None:
            return None
        if k == "conv" and s.spawn is not None and s.method in _CONV_WAITS:
            # `wait_for(conv.get_response(), 5)`: waiting for an update sends no request.
            return None
        if s.method is None:
            return "action" if k == "client" else None
        if s.method in self.exempt:
            return None
        if k == "client" and s.method in api.CLIENT_LIFECYCLE:
            return "lifecycle"
        return "action" if _is_action_name(k, s.method) else None

    def is_helper(self, qual: str | None) -> bool:
        if qual is None or qual not in self.funcs:
            return False
        ff = self.funcs[qual][0]
        return (
            qual in self.callers and qual not in self.refs and not ff.registered and not ff.handler
        )

    def need(self, qual: str, stack: frozenset[str] = frozenset()) -> tuple[str, str, int] | None:
        """The first unlocked action a call of ``qual`` performs: (text, path, line), or None."""
        if qual in self._need_memo:
            return self._need_memo[qual]
        if qual in stack:
            self._cycle_cut = True
            return None
        stack = stack | {qual}
        cut_before = self._cycle_cut
        self._cycle_cut = False
        found: tuple[str, str, int] | None = None
        reported_covers: set[tuple[str, int]] = set()
        for s, m, i in self.sites_by_func.get(qual, []):
            # A site in another task runs unlocked whoever calls this: it is reported in place.
            if s.lock is not None or s.spawn is not None or self.is_action(s) != "action":
                continue
            if s.cover is not None and (m.path, s.cover) in reported_covers:
                continue
            reported_covers.add((m.path, i))
            found = (s.text, m.path, s.pos[0])
            break
        if found is None:
            for c, _m in self.calls_by_func.get(qual, []):
                if c.lock is not None or c.spawn is not None:
                    continue
                target = self.target_of(c)
                if target is not None and self.is_helper(target):
                    inner = self.need(target, stack)
                    if inner is not None:
                        found = inner
                        break
        # A witness is always valid; "no action" only when no cycle was cut below this call.
        if found is not None or not self._cycle_cut:
            self._need_memo[qual] = found
        self._cycle_cut = self._cycle_cut or cut_before
        return found

    def findings(self) -> list[Finding]:
        out: list[Finding] = []
        guarded: dict[str, tuple[str, Pos]] = {}  # telethon lock ident -> first guarded use
        local_used: set[tuple[str, int]] = set()
        for m in self.mods:
            reported: set[int] = set()
            action_at: set[Pos] = set()
            for i, s in enumerate(m.sites):
                verdict = self.is_action(s)
                if verdict is None:
                    continue
                action_at.add(s.pos)
                if verdict == "lifecycle":
                    ff = self.funcs.get(s.func or "")
                    if s.lock is None and ff is not None and ff[0].handler:
                        out.append(
                            _finding(
                                m.path,
                                s.pos,
                                TelethonActionOutsideLock.code,
                                _lifecycle_msg(s),
                                s.fix,
                            )
                        )
                        reported.add(i)
                    continue
                lock = s.lock
                if lock is not None and lock[0] == "telethon":
                    guarded.setdefault(str(lock[1]), (m.path, s.pos))
                    continue
                if lock is not None and lock[0] == "local":
                    local_used.add((m.path, _index(lock[1])))
                    continue
                if s.cover is not None and s.cover in reported:
                    continue
                if lock is None and s.spawn is None and self.is_helper(s.func):
                    continue
                out.append(
                    _finding(m.path, s.pos, TelethonActionOutsideLock.code, _action_msg(s), s.fix)
                )
                reported.add(i)
            for c in m.calls:
                target = self.target_of(c)
                if target is None or not self.is_helper(target):
                    continue
                inner = self.need(target)
                if inner is None:
                    continue
                lock = c.lock
                if lock is not None and lock[0] == "telethon":
                    guarded.setdefault(str(lock[1]), (m.path, c.pos or (0, 0, 0, 0)))
                    continue
                if lock is not None and lock[0] == "local":
                    local_used.add((m.path, _index(lock[1])))
                    continue
                if c.pos is None or c.pos in action_at:
                    continue
                if c.cover is not None and c.cover in reported:
                    continue
                if lock is None and c.spawn is None and self.is_helper(c.func):
                    continue
                out.append(
                    _finding(
                        m.path,
                        c.pos,
                        TelethonActionOutsideLock.code,
                        _helper_msg(c, target, inner),
                        c.fix,
                    )
                )
        for m in self.mods:
            for i, lk in enumerate(m.locks):
                if lk.kind == "local" and (m.path, i) in local_used:
                    out.append(
                        _finding(
                            m.path,
                            lk.pos,
                            LockSerialisesNothing.code,
                            f"`{lk.text}` is a lock created per call: it serialises nothing, so the "
                            "Telethon actions inside it still overlap; use the one global "
                            "`async with telethon_lock:` (from telethon_guard)",
                            None,
                        )
                    )
        out.extend(self._several_locks(guarded))
        return out

    def _several_locks(self, guarded: dict[str, tuple[str, Pos]]) -> list[Finding]:
        idents: dict[str, tuple[str, Pos]] = {}
        for ident, where in guarded.items():
            # A lock reached through a parameter or local (`state.telethon_lock`) may be any of them.
            if ":" not in ident:
                idents.setdefault(self.canon(ident), where)
        if len(idents) < 2:
            return []
        # Where each lock is defined: its module-level definition, else its first guarded use.
        for m in self.mods:
            for lk in m.locks:
                key = self.canon(lk.ident)
                if key in idents and lk.kind == "telethon":
                    path, pos = idents[key]
                    if (m.path, lk.pos[:2]) < (path, pos[:2]):
                        idents[key] = (m.path, lk.pos)
        places = {k: self.lock_defs.get(k, v) for k, v in idents.items()}
        out: list[Finding] = []
        for ident, (path, pos) in sorted(places.items(), key=lambda kv: (kv[1][0], kv[1][1])):
            others = ", ".join(
                f"`{_lock_label(o)}` ({p}:{q[0]})"
                for o, (p, q) in sorted(places.items())
                if o != ident
            )
            out.append(
                _finding(
                    path,
                    pos,
                    SeveralTelethonLocks.code,
                    f"several locks guard Telethon actions: `{_lock_label(ident)}` here and {others}; "
                    "they do not exclude each other -- use the one `telethon_lock` everywhere",
                    None,
                )
            )
        return out


def _maybe_unlocked(lock: LockState) -> bool:
    """No lock, or only a name the project pass may find to be the telethon lock (then the
    finding, and with it the fix, disappears)."""
    return lock is None or lock[0] == "maybe"


def _index(value: object) -> int:
    return value if isinstance(value, int) else -1


def _lock_label(ident: str) -> str:
    return ident.rpartition(":")[2] if ":" in ident else ident


def _result_kind(kind: str | None, method: str) -> str | None:
    if kind == "client":
        if method in ("start", "takeout"):
            return "client"
        if method == "conversation":
            return "conv"
        if method in _ITEM_KIND:
            return _ITEM_KIND[method]
        return "message" if method in api.MESSAGE_RETURNING else None
    if kind in ("event", "message", "conv", "dialog"):
        return "message" if method in api.MESSAGE_RETURNING else None
    return None


def _finding(path: str, pos: Pos, code: str, message: str, fix: Fix | None) -> Finding:
    return Finding(path, pos[0], pos[1], pos[2], pos[3], code, message, fix)


def _action_msg(s: Site) -> str:
    if s.spawn is not None:
        return (
            f"Telethon action {s.text} runs in {_elsewhere(s.spawn)} ({s.spawn}), which does not hold "
            "telethon_lock even when started under it; take `async with telethon_lock:` inside the task"
        )
    if s.lock is not None and s.lock[0] == "other":
        return (
            f"Telethon action {s.text} is guarded by `{s.lock[-1]}`, which is not the "
            "telethon lock; use `async with telethon_lock:` (or add the lock to `lock-names`)"
        )
    return f"Telethon action {s.text} runs outside telethon_lock; {_advice(s.note)}"


def _advice(note: str | None, what: str = "it") -> str:
    """How to fix an unlocked action or helper call, where the usual advice does not fit."""
    if note == "sync":
        # Sync code (telethon.sync) cannot enter `async with`.
        return (
            f"sync code cannot take the lock: move {what} into an `async def` under "
            "`async with telethon_lock:`, or run the sync calls from one place under the runtime "
            "guard's serialize mode (`telethon_guard.install(mode='serialize')`)"
        )
    if note == "lambda":
        return (
            f"a lambda cannot take the lock: make {what} part of an `async def` (handler) that runs "
            "it under `async with telethon_lock:`"
        )
    if note is not None:
        return (
            f"`await {note}.acquire()` counts only when followed by `try: ... finally: "
            f"{note}.release()` (an exception would leak the lock); use `async with {note}:`"
        )
    return f"wrap {what} in `async with telethon_lock:`"


def _elsewhere(spawn: str) -> str:
    return "another thread" if spawn in _THREAD_RUNNERS else "a new task"


def _lifecycle_msg(s: Site) -> str:
    return (
        f"Telethon lifecycle call {s.text} in a request/event handler runs outside telethon_lock; "
        "connect once in the lifespan or `__main__`, or wrap it in `async with telethon_lock:`"
    )


def _helper_msg(c: CallSite, target: str, inner: tuple[str, str, int]) -> str:
    text, path, line = inner
    where = (
        f"in {_elsewhere(c.spawn)} ({c.spawn})" if c.spawn is not None else "outside telethon_lock"
    )
    if c.lock is not None and c.lock[0] == "other":
        where = f"under `{c.lock[-1]}`, which is not the telethon lock"
    short = ".".join(target.replace(".<locals>", "").split(".")[-2:])
    how = "wrap the call in `async with telethon_lock:` or take the lock inside the helper"
    if c.note is not None:
        how = _advice(c.note, "the call")
    if c.spawn is not None:
        how = "the new task does not hold telethon_lock: take the lock inside the helper"
    return f"call to helper {short}() performs {text} ({path}:{line}) {where}; {how}"


# ---------------------------------------------------------------------------------------- rules


class TelethonActionOutsideLock(Rule):
    code = "TG100"
    name = "telethon-action-outside-lock"
    what = (
        "Reports a Telethon action -- a TelegramClient network method (send_message, get_messages, "
        "iter_*, get_entity, get_peer_id, download_media, conversation, action, takeout...), "
        "`client(SomeRequest(...))`, or a network method of an event, Message or Conversation -- that "
        "does not run inside `async with telethon_lock:`. Clients are recognised from imports, "
        "assignments and annotations (also subclasses, `self.client` attributes, annotated parameters, "
        "clients imported from another module, `event.client`), never from the name `client`. "
        "The lock is held by `async with telethon_lock` (imported from telethon_guard, or any name in "
        "`lock-names`), several items in one `async with`, `await telethon_lock.acquire()` ... "
        "`finally: telethon_lock.release()`, or `@serialized`. A project function whose actions run "
        "unlocked and which project code calls (and never passes as a callback) is a helper: each "
        "call site without the lock is reported instead, across modules, transitively. Functions "
        "never called directly -- route and event handlers, callbacks, `main` run by `asyncio.run()` "
        "-- are entry points: their actions are reported where they are. Lifecycle calls (connect, "
        "start, disconnect, run_until_disconnected) are reported only inside request and event "
        "handlers (never in a lifespan, startup handler or `__main__`). Coroutines handed to "
        "`create_task`/`ensure_future`/`gather`/`wait_for` (a new task before Python 3.12)/`shield`/"
        "`TaskGroup.create_task`/`run_coroutine_threadsafe` run in another task, which does not hold "
        "the lock even when started under it; so do bound methods handed uncalled to `start_soon`/"
        "`to_thread`/`run_in_executor`. A project decorator whose wrapper awaits the function "
        "under the lock, `AsyncExitStack.enter_async_context(telethon_lock)`, an alias of the lock "
        "imported from a project module, and a lock parameter every known caller passes the lock "
        "to all hold it. `await telethon_lock.acquire()` counts only with a `try: ... finally: "
        "telethon_lock.release()` around what follows (in an `__aenter__` it is released in "
        "`__aexit__`). A coroutine or `iter_*` iterator created unawaited (`coro = "
        "client.send_message(...)`) runs where it is awaited or iterated in the same function, "
        "and `p = functools.partial(client.send_message, ...)` where `p(...)` is called. A lambda "
        "registered as an event handler receives an event; its body runs unlocked. aiohttp's "
        "`request.app['client']` / `app[KEY]` is what the project stores under that key of an "
        "Application. In sync code (telethon.sync) the message suggests moving the calls into an "
        "`async def` under the lock or the runtime guard's serialize mode. "
        "An action under any other lock is reported too (add "
        "that lock to `lock-names` if it really is your one global lock). Fixable when sound (inside "
        "an `async def`, not a generator's `yield`, not a statement that awaits tasks): the smallest "
        "enclosing statement is wrapped in `async with telethon_lock:` and the import added."
    )
    why = (
        "Two Telethon actions in flight at once race on the account's session: SQLite 'database is "
        "locked' errors, frozen event loops, entity-cache corruption. One global lock around every "
        "action makes them run one at a time."
    )
    example = (
        "from telethon import TelegramClient\n\n"
        "client = TelegramClient('relay', 1, '0' * 32)\n\n"
        "async def relay(text):\n"
        "    await client.send_message('BotFather', text)\n"
    )
    instead = (
        "from telethon import TelegramClient\n"
        "from telethon_guard import telethon_lock\n\n"
        "client = TelegramClient('relay', 1, '0' * 32)\n\n"
        "async def relay(text):\n"
        "    async with telethon_lock:\n"
        "        await client.send_message('BotFather', text)\n"
    )
    fixable = True
    valid = (
        # The lock, aliased.
        "from telethon import TelegramClient\n"
        "from telethon_guard import telethon_lock as tl\n"
        "client = TelegramClient('s', 1, 'x')\n"
        "async def f():\n"
        "    async with tl:\n"
        "        await client.send_message('me', 'hi')\n",
        # Several items; acquire/finally-release; @serialized.
        "import asyncio\n"
        "import telethon\n"
        "import telethon_guard\n"
        "client = telethon.TelegramClient('s', 1, 'x')\n"
        "async def f(other):\n"
        "    async with other, telethon_guard.telethon_lock:\n"
        "        await client.get_me()\n"
        "async def g():\n"
        "    await telethon_guard.telethon_lock.acquire()\n"
        "    try:\n"
        "        await client.get_me()\n"
        "    finally:\n"
        "        telethon_guard.telethon_lock.release()\n"
        "@telethon_guard.serialized\n"
        "async def h():\n"
        "    await client.get_me()\n",
        # A coroutine / iterator created outside the lock runs where it is awaited / iterated.
        "from telethon import TelegramClient\n"
        "from telethon_guard import telethon_lock\n"
        "client = TelegramClient('s', 1, 'x')\n"
        "async def f(chat):\n"
        "    coro = client.send_message(chat, 'hi')\n"
        "    replies = client.iter_messages(chat)\n"
        "    async with telethon_lock:\n"
        "        await coro\n"
        "        async for m in replies:\n"
        "            print(m.text)\n",
        # Lookalike clients are not Telethon.
        "import httpx, smtplib\n"
        "from aiogram import Bot\n"
        "from pyrogram import Client\n"
        "async def f(client):\n"
        "    async with httpx.AsyncClient() as http:\n"
        "        await http.delete('https://x')\n"
        "    await Bot('t').send_message(1, 'x')\n"
        "    await Client('s').send_message('me', 'x')\n"
        "    smtplib.SMTP('h').send_message(None)\n"
        "    await client.send_message('me', 'x')\n",
        # A helper only called with the lock held.
        "from telethon import TelegramClient\n"
        "from telethon_guard import telethon_lock\n"
        "client = TelegramClient('s', 1, 'x')\n"
        "async def send(text):\n"
        "    await client.send_message('me', text)\n"
        "async def route():\n"
        "    async with telethon_lock:\n"
        "        await send('hi')\n",
        # Lifecycle in a lifespan and in __main__; not actions.
        "import asyncio\n"
        "from contextlib import asynccontextmanager\n"
        "from telethon import TelegramClient, utils\n"
        "client = TelegramClient('s', 1, 'x')\n"
        "@asynccontextmanager\n"
        "async def lifespan(app):\n"
        "    await client.connect()\n"
        "    yield\n"
        "    await client.disconnect()\n"
        "async def main():\n"
        "    await client.start()\n"
        "    client.add_event_handler(print)\n"
        "    utils.get_peer_id(1)\n"
        "    await client.run_until_disconnected()\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n",
    )
    invalid = (
        # telethon.sync, aliases.
        "from telethon.sync import TelegramClient as TC\n"
        "client = TC('s', 1, 'x')\n"
        "async def f():\n"
        "    await client.send_message('me', 'hi')\n",
        # A subclass and self.send_message.
        "from telethon import TelegramClient\n"
        "class Relay(TelegramClient):\n"
        "    async def relay(self, text):\n"
        "        await self.send_message('BotFather', text)\n",
        # An attribute set in __init__.
        "import telethon\n"
        "class Service:\n"
        "    def __init__(self):\n"
        "        self.client = telethon.TelegramClient('s', 1, 'x')\n"
        "    async def replies(self):\n"
        "        async for m in self.client.iter_messages('BotFather'):\n"
        "            print(m)\n",
        # Annotated parameter (string, Optional), and a raw request.
        "from typing import Optional, TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from telethon import TelegramClient\n"
        "async def f(client: 'Optional[TelegramClient]', request):\n"
        "    await client(request)\n",
        # Code after the block, a lambda and a task started inside it.
        "import asyncio\n"
        "from telethon import TelegramClient\n"
        "from telethon_guard import telethon_lock\n"
        "client = TelegramClient('s', 1, 'x')\n"
        "async def f():\n"
        "    async with telethon_lock:\n"
        "        asyncio.create_task(client.send_message('me', 'x'))\n"
        "    await client.get_me()\n",
        # Event handler: event.reply and event.client.
        "from telethon import TelegramClient, events\n"
        "client = TelegramClient('s', 1, 'x')\n"
        "@client.on(events.NewMessage(pattern='/start'))\n"
        "async def on_start(event):\n"
        "    await event.reply('hello')\n",
        # A helper called without the lock: reported at the call.
        "from telethon import TelegramClient\n"
        "client = TelegramClient('s', 1, 'x')\n"
        "async def send(text):\n"
        "    await client.send_message('me', text)\n"
        "async def route():\n"
        "    await send('hi')\n",
        # Another lock is not the telethon lock.
        "import asyncio\n"
        "from telethon import TelegramClient\n"
        "client = TelegramClient('s', 1, 'x')\n"
        "send_lock = asyncio.Lock()\n"
        "async def f():\n"
        "    async with send_lock:\n"
        "        await client.get_me()\n",
        # acquire() with no `finally: release()`: an exception would leak the lock.
        "from telethon import TelegramClient\n"
        "from telethon_guard import telethon_lock\n"
        "client = TelegramClient('s', 1, 'x')\n"
        "async def f():\n"
        "    await telethon_lock.acquire()\n"
        "    await client.get_me()\n"
        "    telethon_lock.release()\n",
        # A lambda event handler, and a functools.partial of a client method.
        "import functools\n"
        "from telethon import TelegramClient, events\n"
        "client = TelegramClient('s', 1, 'x')\n"
        "client.add_event_handler(lambda e: e.reply('x'), events.NewMessage)\n"
        "async def f(chat):\n"
        "    send = functools.partial(client.send_message, chat)\n"
        "    await send('hi')\n",
    )


class LockSerialisesNothing(Rule):
    code = "TG101"
    name = "lock-serialises-nothing"
    what = (
        "Reports a lock created per call -- `async with asyncio.Lock():` inline, or a local "
        "`lock = asyncio.Lock()` (asyncio, anyio, trio) then `async with lock:` -- around Telethon "
        "actions. (Those actions are not reported again under TG100.)"
    )
    why = (
        "Each call gets its own fresh lock, which nobody else ever waits on: it serialises nothing and "
        "concurrent requests still run Telethon actions at the same time."
    )
    example = (
        "import asyncio\n"
        "from telethon import TelegramClient\n\n"
        "client = TelegramClient('relay', 1, '0' * 32)\n\n"
        "async def relay(text):\n"
        "    async with asyncio.Lock():\n"
        "        await client.send_message('BotFather', text)\n"
    )
    instead = (
        "from telethon import TelegramClient\n"
        "from telethon_guard import telethon_lock\n\n"
        "client = TelegramClient('relay', 1, '0' * 32)\n\n"
        "async def relay(text):\n"
        "    async with telethon_lock:\n"
        "        await client.send_message('BotFather', text)\n"
    )
    valid = (
        # A per-call lock around no Telethon action.
        "import asyncio\n"
        "async def f(http):\n"
        "    async with asyncio.Lock():\n"
        "        await http.get('x')\n",
        # The global lock.
        "from telethon import TelegramClient\n"
        "from telethon_guard import telethon_lock\n"
        "client = TelegramClient('s', 1, 'x')\n"
        "async def f():\n"
        "    async with telethon_lock:\n"
        "        await client.get_me()\n",
    )
    invalid = (
        "import asyncio\n"
        "from telethon import TelegramClient\n"
        "client = TelegramClient('s', 1, 'x')\n"
        "async def f():\n"
        "    async with asyncio.Lock():\n"
        "        await client.get_me()\n",
        "import anyio\n"
        "from telethon import TelegramClient\n"
        "async def f(client: TelegramClient):\n"
        "    lock = anyio.Lock()\n"
        "    async with lock:\n"
        "        await client.send_message('me', 'x')\n",
    )


class SeveralTelethonLocks(Rule):
    code = "TG102"
    name = "several-telethon-locks"
    what = (
        "Reports each definition (or first use, when defined outside the linted tree) of a lock that "
        "guards Telethon actions when more than one distinct lock object does so in the tree -- e.g. "
        "`telethon_lock` and a separately defined lock named in `lock-names`."
    )
    why = (
        "Two locks do not exclude each other: an action under one runs concurrently with an action "
        "under the other. The norm is one global lock."
    )
    example = (
        "import asyncio\n"
        "from telethon import TelegramClient\n"
        "from telethon_guard import telethon_lock\n\n"
        "client = TelegramClient('relay', 1, '0' * 32)\n"
        "tg_lock = asyncio.Lock()  # named in lock-names\n\n"
        "async def a():\n"
        "    async with telethon_lock:\n"
        "        await client.get_me()\n\n"
        "async def b():\n"
        "    async with tg_lock:\n"
        "        await client.get_me()\n"
    )
    instead = (
        "from telethon import TelegramClient\n"
        "from telethon_guard import telethon_lock\n\n"
        "client = TelegramClient('relay', 1, '0' * 32)\n\n"
        "async def a():\n"
        "    async with telethon_lock:\n"
        "        await client.get_me()\n\n"
        "async def b():\n"
        "    async with telethon_lock:\n"
        "        await client.get_me()\n"
    )
    valid = (
        "from telethon import TelegramClient\n"
        "from telethon_guard import telethon_lock\n"
        "import telethon_guard as tg\n"
        "client = TelegramClient('s', 1, 'x')\n"
        "async def a():\n"
        "    async with telethon_lock:\n"
        "        await client.get_me()\n"
        "async def b():\n"
        "    async with tg.telethon_lock:\n"
        "        await client.get_me()\n",
    )
    invalid = (
        "import asyncio\n"
        "from telethon import TelegramClient\n"
        "from telethon_guard import telethon_lock as guard_lock\n"
        "client = TelegramClient('s', 1, 'x')\n"
        "telethon_lock = asyncio.Lock()\n"
        "async def a():\n"
        "    async with guard_lock:\n"
        "        await client.get_me()\n"
        "async def b():\n"
        "    async with telethon_lock:\n"
        "        await client.get_me()\n",
    )


class LockingFamily(Family):
    """TG100, TG101 and TG102."""

    rules: ClassVar[tuple[type[Rule], ...]] = (
        TelethonActionOutsideLock,
        LockSerialisesNothing,
        SeveralTelethonLocks,
    )
    # A module matters when it names telethon (telethon, telethon_guard, telethon_lock) or imports a
    # project module that matters (the engine follows imports): clients, events, the lock and
    # `serialized` are all imported from there, and helpers, factories and config-named locks are
    # reached through imports of project modules.
    keywords: ClassVar[tuple[bytes, ...]] = (b"telethon",)

    def check_module(self, module: PythonModule) -> FileResult:
        try:
            return self._check_module(module)
        except RecursionError:
            # Deeply nested expressions (hundreds of levels): the walk is recursive, like libcst's
            # own code generation. Retry once with more room before giving up on this module.
            limit = sys.getrecursionlimit()
            sys.setrecursionlimit(max(limit, 20_000))
            try:
                return self._check_module(module)
            finally:
                sys.setrecursionlimit(limit)

    def _check_module(self, module: PythonModule) -> FileResult:
        analyzer = _Analyzer(module)
        analyzer.run()
        return FileResult(findings=[], facts=analyzer.facts())

    def check_project(self, facts: Mapping[str, Any], config: Config) -> Sequence[Finding]:
        return sorted(_Project(facts, config).findings())
