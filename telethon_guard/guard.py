"""The Telethon patch: :func:`install`, :func:`uninstall`, :func:`stats` and the four modes.

Every request of every ``TelegramClient`` goes through ``UserMethods._call`` (telethon/client/users.py:32;
``__call__`` at users.py:29 delegates to it, and downloads from other DCs and CDN clients pass their own
sender straight to it: telethon/client/downloads.py:89-97). :func:`install` replaces that one class
attribute, so every client, subclass, exported sender and CDN client is covered.

Each outermost ``_call`` of a task is classified once:

* **Telethon's background work** -- a task whose root coroutine is one of Telethon's private background
  coroutines (the update loop, keep-alive, auto-reconnect, update dispatch, typing loops, album delivery)
  *and* with no user frame between that root and ``_call``; and the callback-query auto-answer task that
  ``respond``/``reply``/``edit``/``delete`` spawn. It never waits for the lock, never raises and is not
  counted: a user holding the lock while a conversation waits for its reply must not block the update
  loop that delivers the reply.
* **Part of another task's action** -- a task Telethon spawned and awaits for a public method
  (``edit_folder([...])``'s ``gather``, ``InlineQuery.Event.answer``'s uploads): it holds the lock if the
  awaiting task does, and its calls never overlap that action (see "tasks Telethon spawns" below).
* **Lifecycle** -- a call made by ``connect()``, ``start()`` or ``run_until_disconnected()`` (connect's
  ``get_me``, the update-state request). Exempt from the unguarded check, still an action for overlaps.
* **User action** -- everything else: event handlers, and tasks the user creates (also those running a
  Telethon coroutine, ``create_task(event.answer())``).

A ``_call`` nested in another ``_call`` of the same task (``request.resolve()`` resolving a username,
telethon/client/users.py:43) belongs to the outer one: one action, never an overlap.

On the hot path a user action costs a dictionary lookup (is this task already inside ``_call``?), a
dictionary lookup of its root coroutine's code object (a Telethon coroutine?) and an ownership test of
the lock. Frames are walked only for a call by a task that does not hold the lock (once, to the first
user frame: lifecycle test and, in serialize mode, the lock's "acquired at"), and for tasks rooted in
Telethon code.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import sys
import threading
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import CodeType, FrameType
from typing import Any

from . import lock as _lock_module
from .errors import TelethonOverlapError, UnguardedCallError
from .lock import _current_task, telethon_lock
from .stats import COUNTERS, GuardStats

__all__ = ["MODES", "install", "stats", "uninstall"]

#: The guard modes, in the order error messages list them.
MODES = ("strict", "detect", "serialize", "warn")

_log = logging.getLogger("telethon_guard")

_FIX = (
    "Fix: run every Telethon action inside `async with telethon_lock:` "
    "(`from telethon_guard import telethon_lock`) or in a function decorated with `@serialized`, "
    "in the task that makes the call"
)


@dataclass(frozen=True)
class GuardEvent:
    """One violation seen by the guard (private: the pytest plugin listens to these)."""

    kind: str  # "unguarded" or "overlap"
    message: str
    task: str
    site: str


# --- installed state (module globals: the hot path reads them without attribute lookups) ---------

_mode: str | None = None
_strict = False
_detect = False
_serialize = False
_settings: tuple[str, bool, bool, float | None] | None = None
_claims_installed = False
_owner_class: type | None = None
_original: Callable[..., Any] | None = None

# Outermost in-flight ``_call`` per task -> the task whose action it is (itself, or the task that awaits a
# task Telethon spawned), or None for Telethon's background work. An empty dict is the common case, so
# the overlap test is a truth test; _overlap() looks at the entries.
_inflight: dict[asyncio.Task[Any] | None, asyncio.Task[Any] | None] = {}
_warned: set[tuple[str, str]] = set()
_listeners: list[Callable[[GuardEvent], None]] = []

_getframe = sys._getframe
_get_ident = threading.get_ident
_ctasks = (
    _lock_module._current_tasks
)  # asyncio's task-per-loop dict (None on 3.12+: fast C current_task)
_lock = telethon_lock
_take_at = telethon_lock._take_at
_wait_at = telethon_lock._wait_at
_release_by = telethon_lock._release_by


# --- public API ------------------------------------------------------------------------------------


def install(
    mode: str = "strict",
    *,
    check_deployment: bool = True,
    claim_sessions: bool = True,
    hold_warning_s: float | None = 10.0,
) -> None:
    """Patch Telethon so that concurrent or unguarded Telethon actions fail loudly.

    Args:
        mode: ``"strict"`` (default) -- a user action by a task that does not hold
            :data:`~telethon_guard.telethon_lock` raises :class:`~telethon_guard.UnguardedCallError`
            (a task the holder spawns itself does not hold it; a task Telethon spawns and awaits
            for the holder's action -- ``edit_folder([...])``, inline-query answers -- does), and
            two user actions in flight at once raise :class:`~telethon_guard.TelethonOverlapError`.
            ``"detect"`` -- only overlaps raise; the message names both tasks and where each entered.
            ``"serialize"`` -- an unguarded user action takes ``telethon_lock`` itself for the
            duration of the action, so actions never overlap (the production safety net).
            ``"warn"`` -- logs what strict would raise (logger ``telethon_guard``, WARNING) once per
            call site and never raises.
        check_deployment: call :func:`~telethon_guard.check_deployment` first (refuses ``--reload``
            and several workers before anything is patched).
        claim_sessions: claim every SQLite session file a ``TelegramClient`` opens
            (see :func:`~telethon_guard.claim_session`).
        hold_warning_s: log a warning when a task holds ``telethon_lock`` longer than this many
            seconds (FloodWait sleeps happen inside ``_call``); ``None`` disables it.

    Telethon's own background work (update loop, keep-alive, auto-reconnect, update dispatch, typing
    loops) is never a user action: it never waits for the lock and never raises. Code in event handlers
    is user code. Calls made by ``connect()``, ``start()`` and ``run_until_disconnected()`` are exempt
    from the unguarded check (a lifespan connects without the lock) but count for overlaps.

    Idempotent: a second call with the same arguments does nothing; a call with other arguments
    switches to them (e.g. ``install("warn")`` after ``install("strict")`` changes the mode in place).
    Call it once at start-up, from the thread that runs the event loop.

    Raises:
        ValueError: ``mode`` is not one of :data:`MODES`, or ``hold_warning_s`` is not positive.
        UnsafeDeploymentError: ``check_deployment`` is true and the process runs under reload or
            several workers (Telethon is left unpatched).
    """
    global _settings, _claims_installed
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(
            f"telethon_guard.install(): unknown mode {mode!r}; choose one of "
            + ", ".join(repr(m) for m in MODES)
        )
    if hold_warning_s is not None and (
        isinstance(hold_warning_s, bool)
        or not isinstance(hold_warning_s, (int, float))
        or not hold_warning_s > 0
    ):
        raise ValueError(
            f"telethon_guard.install(): hold_warning_s must be a positive number of seconds or None, "
            f"not {hold_warning_s!r}"
        )
    settings = (mode, check_deployment, claim_sessions, hold_warning_s)
    if settings == _settings:
        return

    # Looked up at call time so that a missing or renamed function fails loudly here.
    from . import deployment, sessions

    if check_deployment:
        deployment.check_deployment()
    patched_now = _owner_class is None
    if patched_now:
        _patch()
    try:
        if claim_sessions and not _claims_installed:
            sessions._install_claims()
            _claims_installed = True
        elif not claim_sessions and _claims_installed:
            sessions._uninstall_claims()
            _claims_installed = False
        telethon_lock._configure(hold_warning_s=hold_warning_s)
    except BaseException:
        if patched_now:
            _unpatch()
        raise
    _set_mode(mode)
    _settings = settings


def uninstall() -> None:
    """Undo :func:`install`: restore Telethon's original ``_call`` and stop claiming sessions.

    The claims clients took automatically are released at once (their session files are free for
    another client or process even while those clients stay connected); claims made with
    :func:`~telethon_guard.claim_session` stay held until released. Safe to call when the guard is
    not installed.
    """
    global _settings, _claims_installed
    if _claims_installed:
        from . import sessions

        sessions._uninstall_claims()
        _claims_installed = False
    if _owner_class is not None:
        _unpatch()
        telethon_lock._configure(hold_warning_s=None)
    _set_mode(None)
    _settings = None
    _warned.clear()


def stats() -> GuardStats:
    """A snapshot of the guard's and the lock's counters, the current holder and the mode.

    Works whether or not the guard is installed (``mode`` is then ``None``).
    """
    holder, holder_site, waiting = telethon_lock._snapshot()
    c = COUNTERS
    return GuardStats(
        actions=c.actions,
        overlaps=c.overlaps,
        unguarded=c.unguarded,
        deadlocks=c.deadlocks,
        timeouts=c.timeouts,
        acquisitions=c.acquisitions,
        max_wait_s=c.max_wait_s,
        max_hold_s=c.max_hold_s,
        holder=holder,
        holder_site=holder_site,
        waiting=waiting,
        mode=_mode,
    )


# --- private hooks ---------------------------------------------------------------------------------


def _add_listener(listener: Callable[[GuardEvent], None]) -> None:
    """Call ``listener`` with every violation (the pytest plugin uses it)."""
    _listeners.append(listener)


def _remove_listener(listener: Callable[[GuardEvent], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def _reset_stats() -> None:
    """Zero the process-wide counters behind :func:`stats` and forget warn mode's logged call sites.

    Private but stable, for test suites: call it before a test that asserts absolute counts
    (``stats().overlaps == 0``), e.g. from an autouse fixture. It leaves the installed mode and the lock
    alone (a task holding ``telethon_lock`` still holds it), and forgets in-flight actions only of tasks
    that can never finish them (done, or on a closed event loop).
    """
    COUNTERS.reset()
    _warned.clear()
    for task in list(_inflight):
        if task is None or task.done() or task.get_loop().is_closed():
            _inflight.pop(task, None)


def _set_mode(mode: str | None) -> None:
    global _mode, _strict, _detect, _serialize
    _mode = mode
    _strict = mode == "strict"
    _detect = mode == "detect"
    _serialize = mode == "serialize"


def _patch() -> None:
    global _owner_class, _original
    from telethon import TelegramClient

    _load_telethon_codes()
    # The class TelegramClient resolves `_call` from (UserMethods in Telethon 1.x): patching it there
    # covers every client and subclass that does not define its own `_call`.
    owner = next(k for k in TelegramClient.__mro__ if "_call" in vars(k))
    if vars(owner)["_call"] is not _guarded_call:  # never wrap ourselves (that would recurse)
        _original = vars(owner)["_call"]
    _owner_class = owner
    setattr(owner, "_call", _guarded_call)  # noqa: B010 -- the attribute is private to Telethon


def _unpatch() -> None:
    global _owner_class
    owner = _owner_class
    if owner is not None and vars(owner).get("_call") is _guarded_call:
        setattr(owner, "_call", _original)  # noqa: B010
    _owner_class = None
    # _original stays set: a bound `client._call` taken while installed still works (passes through).


def _load_telethon_codes() -> None:
    """Collect the code objects of Telethon's background, dispatch, spawning and lifecycle coroutines.

    Taken from the defining classes' ``__dict__`` so that ``telethon.sync``'s wrappers (which replace
    the public methods on ``TelegramClient`` itself, telethon/sync.py:29-43) do not hide them.
    """
    global _dispatch_codes, _dispatch_background_callees, _detached_spawners
    global _telethon_prefix, _internal_prefixes, _passthrough_prefixes, _sync_file
    global _wrappable_lifecycle
    import telethon
    from telethon.client.auth import AuthMethods
    from telethon.client.chats import _ChatAction
    from telethon.client.telegrambaseclient import TelegramBaseClient
    from telethon.client.updates import UpdateMethods
    from telethon.client.users import UserMethods
    from telethon.events.album import AlbumHack
    from telethon.events.callbackquery import CallbackQuery
    from telethon.events.common import EventBuilder

    def code(klass: type, name: str) -> CodeType:
        return vars(klass)[name].__code__

    dispatch = {
        code(UpdateMethods, "_dispatch_update"),  # updates.py:556, a task per update (:289)
        code(UpdateMethods, "_dispatch_event"),  # updates.py:623, albums
    }
    # Sets of code ids, not of code objects (hashing a code object hashes its bytecode); these are
    # functions of Telethon's classes, alive as long as the process, so their ids stay theirs.
    _dispatch_codes = frozenset(map(id, dispatch))
    # Private coroutines Telethon runs as tasks of their own; user code never creates these.
    background_roots = dispatch | {
        code(UpdateMethods, "_update_loop"),  # telegrambaseclient.py:618
        code(UpdateMethods, "_keepalive_loop"),  # telegrambaseclient.py:619
        code(UpdateMethods, "_handle_auto_reconnect"),  # mtprotosender.py:426
        code(TelegramBaseClient, "_disconnect_coro"),  # telegrambaseclient.py:661
        code(_ChatAction, "_update"),  # chats.py:65, the typing-action loop
        code(AlbumHack, "deliver_event"),  # events/album.py:42
    }
    # What _dispatch_update/_dispatch_event await on their own behalf: the `get_me` that caches the
    # self id (updates.py:568) and resolving an event builder's chats (updates.py:605,
    # events/common.py:89). Anything else they await is the user's handler or filter.
    _dispatch_background_callees = frozenset(
        {id(code(UserMethods, "get_me")), id(code(EventBuilder, "resolve"))}
    )
    # Public coroutines Telethon also runs as detached tasks, and the methods that spawn them: the
    # callback-query auto-answer of respond/reply/edit/delete (events/callbackquery.py:280-340). The
    # same root created by the user (`create_task(event.answer())`) is the user's action.
    callback = CallbackQuery.Event
    _detached_spawners = {
        id(code(callback, "answer")): frozenset(
            id(code(callback, name)) for name in ("respond", "reply", "edit", "delete")
        )
    }
    lifecycle = frozenset(
        {
            code(TelegramBaseClient, "connect"),  # telegrambaseclient.py:500 (get_me, GetState)
            code(AuthMethods, "_start"),  # auth.py:131, also behind `async with client:`
            code(UpdateMethods, "_run_until_disconnected"),  # updates.py:41 (GetState)
        }
    )
    _telethon_prefix = os.path.dirname(os.path.abspath(telethon.__file__ or "")) + os.sep
    _sync_file = _telethon_prefix + "sync.py"
    _passthrough_prefixes = (
        os.path.dirname(os.path.abspath(asyncio.__file__ or "")) + os.sep,
        os.path.abspath(contextlib.__file__ or ""),
    )
    # This package too: its wrappers (the session claims' connect(), @serialized, the testing
    # backend) are never the place a user made an action, so a message names the user's line instead.
    _internal_prefixes = (_telethon_prefix, _GUARD_PREFIX, *_passthrough_prefixes)
    _wrappable_lifecycle = frozenset(
        {id(code(TelegramBaseClient, "connect")), id(code(AuthMethods, "_start"))}
    )
    _code_kinds.clear()
    _code_kinds.update({id(c): (c, _LIFECYCLE) for c in lifecycle})
    _root_kinds.clear()
    _root_kinds.update({id(c): (c, _ROOT_BACKGROUND) for c in background_roots})


# --- classification ----------------------------------------------------------------------------------


# What a code object is, cached per code object: internal (Telethon, this module, and asyncio/contextlib,
# which only pass awaits through -- e.g. `wait_for` running the coroutine in place on Python 3.12+), user
# code, or one of Telethon's lifecycle coroutines (seeded at install time).
_INTERNAL, _USER, _LIFECYCLE = 0, 1, 2

# What a task's root coroutine is, cached per code object: anything but Telethon (a user task: the
# fast path), one of Telethon's private background coroutines, or another Telethon coroutine (a task
# Telethon spawned -- or the user did, with `create_task(client.send_message(...))`: _action_of decides).
_ROOT_USER, _ROOT_BACKGROUND, _ROOT_TELETHON = 0, 1, 2

_dispatch_codes: frozenset[int] = frozenset()
_dispatch_background_callees: frozenset[int] = frozenset()
_detached_spawners: dict[int, frozenset[int]] = {}
_telethon_prefix = "\0"  # set at install time
_sync_file = "\0"
_passthrough_prefixes: tuple[str, ...] = ()
_internal_prefixes: tuple[str, ...] = ()
_GUARD_PREFIX = os.path.dirname(os.path.abspath(__file__)) + os.sep
# The lifecycle coroutines a user can run under the lock (run_until_disconnected runs until disconnect).
_wrappable_lifecycle: frozenset[int] = frozenset()
# Both caches are keyed by id(code) and keep the code object alive (so the id stays its own): hashing a
# code object hashes its bytecode and constants, ~0.7 us for a method the size of send_message.
_code_kinds: dict[int, tuple[CodeType, int]] = {}
_root_kinds: dict[int, tuple[Any, int]] = {}
_CACHE_LIMIT = (
    1 << 16
)  # code objects made at run time (exec, lambdas in loops) are not cached past it


def _classify(code: CodeType) -> int:
    entry = _code_kinds.get(id(code))
    if entry is not None:
        return entry[1]
    internal = code in _GUARD_CODES or code.co_filename.startswith(_internal_prefixes)
    kind = _INTERNAL if internal else _USER
    if len(_code_kinds) < _CACHE_LIMIT:
        _code_kinds[id(code)] = (code, kind)
    return kind


def _root_kind(code: Any) -> int:
    entry = _root_kinds.get(id(code))
    if entry is not None:
        return entry[1]
    filename = getattr(code, "co_filename", "")
    kind = _ROOT_TELETHON if filename.startswith(_telethon_prefix) else _ROOT_USER
    if len(_root_kinds) < _CACHE_LIMIT:
        _root_kinds[id(code)] = (code, kind)
    return kind


def _is_user_code(code: CodeType) -> bool:
    """True for code outside Telethon, asyncio and this module."""
    return _classify(code) == _USER


def _is_background(frames: Iterable[FrameType]) -> bool:
    """Whether a ``_call`` in a task rooted in a background coroutine is Telethon's own work, given the
    task's frames innermost first up to its root: no user frame on the way, and, under the update
    dispatch, only Telethon's own awaits (not the user's handler or filter)."""
    callee = 0
    for frame in frames:
        code = frame.f_code
        if id(code) in _dispatch_codes:
            return callee in _dispatch_background_callees
        if _classify(code) == _USER:
            return False
        callee = id(code)
    return True


def _entry(
    frame: FrameType | None, root: FrameType | None
) -> tuple[CodeType | None, FrameType | None]:
    """(the connect/start/run_until_disconnected code making this call on its own behalf, or None;
    the innermost user frame) for a call made from ``frame`` in the task whose root frame is ``root``.

    One walk, stopping at the first user frame (that frame is where the action was made; a lifecycle
    frame counts only below it) or at the task's root (beyond it lie the frames running the loop).
    """
    kinds = _code_kinds
    lifecycle: CodeType | None = None
    while frame is not None:
        code = frame.f_code
        entry = kinds.get(id(code))
        kind = entry[1] if entry is not None else _classify(code)
        if kind == _USER:
            return lifecycle, frame
        if kind == _LIFECYCLE and lifecycle is None:
            lifecycle = code
        if frame is root:
            break
        frame = frame.f_back
    return lifecycle, None


def _chain_frames(task: asyncio.Task[Any] | None) -> list[FrameType]:
    """The frames of a suspended task, innermost first (through ``cr_await``, and into an async
    generator the task is iterating: the ``asend``/``athrow`` awaitable of ``async for`` exposes its
    generator only to the garbage collector's referents)."""
    if task is None:
        return []
    frames: list[FrameType] = []
    obj: Any = task.get_coro()
    while obj is not None and len(frames) < 1000:
        frame = (
            getattr(obj, "cr_frame", None)
            or getattr(obj, "gi_frame", None)
            or getattr(obj, "ag_frame", None)
        )
        if frame is None:
            generator = next(
                (r for r in gc.get_referents(obj) if isinstance(r, types.AsyncGeneratorType)),
                None,
            )
            if generator is None or generator.ag_frame is None:
                break
            obj = generator
            continue
        frames.append(frame)
        obj = (
            getattr(obj, "cr_await", None)
            or getattr(obj, "gi_yieldfrom", None)
            or getattr(obj, "ag_await", None)
        )
    frames.reverse()
    return frames


def _running_frames(frame: FrameType | None, task: asyncio.Task[Any] | None) -> Iterator[FrameType]:
    """The frames of the running task from ``frame`` up to its root coroutine."""
    root = getattr(task.get_coro(), "cr_frame", None) if task is not None else None
    while frame is not None:
        yield frame
        if frame is root:
            return
        frame = frame.f_back


# --- tasks Telethon spawns ------------------------------------------------------------------------------
#
# Some public Telethon methods fan out to tasks of their own and await them: `edit_folder([...])` resolves
# every entity in a `gather` child (client/dialogs.py:390), `InlineQuery.Event.answer()` runs each
# awaitable result (`builder.photo(...)` uploads, or the user's own coroutines) in an `ensure_future` task
# and waits for them with `asyncio.wait` (events/inlinequery.py:212-214, :243). Such a child is part of the
# action of the task that awaits it: that task is blocked on it, so the child runs inside its critical
# section (under its lock, if it holds the lock). Several children of one action are not overlaps of each
# other. Telethon's only detached spawn of a public coroutine is the callback-query auto-answer.
#
# The mechanism, looked at only for tasks whose root coroutine is Telethon code (a user task never pays):
# who awaits this task is read from its done-callbacks -- a task's wakeup (`await task`), gather's
# `_done_callback` (its closure holds the outer future), `asyncio.wait`'s `_on_completion` and `wait_for`'s
# `_release_waiter` partial (they hold the waiter future) -- and the awaiting task's innermost frame outside
# asyncio says who made it wait: a Telethon frame (edit_folder, InlineQuery answer) makes the child part of
# that task's action; a user frame (the user's own gather, `await task`, `wait_for` before 3.12) leaves
# the child an action of its own -- a task spawned by the holder does not hold the lock.


def _awaiting_tasks(fut: Any, depth: int = 0) -> list[asyncio.Task[Any]]:
    """The tasks awaiting ``fut``, directly or through gather/wait/wait_for's intermediate futures."""
    found: list[asyncio.Task[Any]] = []
    for callback in list(getattr(fut, "_callbacks", None) or ()):
        fn = callback[0] if isinstance(callback, tuple) else callback
        owner = getattr(fn, "__self__", None)
        if isinstance(owner, asyncio.Task):
            found.append(owner)
            continue
        if depth >= 4:
            continue
        held: list[Any] = list(getattr(fn, "args", None) or ())  # functools.partial
        for cell in getattr(fn, "__closure__", None) or ():
            with contextlib.suppress(ValueError):  # an empty cell
                held.append(cell.cell_contents)
        for obj in held:
            if isinstance(obj, asyncio.Future) and obj is not fut:
                found.extend(_awaiting_tasks(obj, depth + 1))
    return found


def _waits_in_telethon(task: asyncio.Task[Any]) -> bool:
    """Whether the innermost frame of suspended ``task`` outside asyncio is Telethon's."""
    for frame in _chain_frames(task):
        filename = frame.f_code.co_filename
        if not filename.startswith(_passthrough_prefixes):
            return filename.startswith(_telethon_prefix)
    return False


def _detached_spawn(task: asyncio.Task[Any], coro: Any) -> bool:
    """Whether ``task`` is a detached task Telethon spawned (the callback-query auto-answer): some task
    is inside a spawning method on the same object as the child's root (the spawner cannot have returned
    yet: it goes on to a network request right after spawning, callbackquery.py:280-281)."""
    spawners = _detached_spawners.get(id(coro.cr_code))
    if not spawners:
        return False
    target = coro.cr_frame.f_locals.get("self")
    holder = telethon_lock.owner
    candidates = [holder] if holder is not None else []
    candidates += asyncio.all_tasks(task.get_loop())
    for candidate in candidates:
        if candidate is task:
            continue
        for frame in _chain_frames(candidate):
            if id(frame.f_code) in spawners and frame.f_locals.get("self") is target:
                return True
    return False


def _action_of(
    task: asyncio.Task[Any], coro: Any, kind: int, frame: FrameType | None
) -> asyncio.Task[Any] | None:
    """The task whose action a ``_call`` of ``task`` (a task rooted in Telethon code, running ``frame``)
    belongs to: ``task`` itself, the task awaiting it for Telethon, or ``None`` for Telethon's own
    background work."""
    frames: Iterable[FrameType] = _running_frames(frame, task)
    for _ in range(16):  # spawned by a spawned task...: a short chain
        if kind == _ROOT_BACKGROUND:
            return None if _is_background(frames) else task
        if kind != _ROOT_TELETHON:
            return task
        if _detached_spawn(task, coro):
            return None
        parent = next((t for t in _awaiting_tasks(task) if _waits_in_telethon(t)), None)
        if parent is None:
            return task
        task, coro = parent, parent.get_coro()
        kind = _root_kind(getattr(coro, "cr_code", None))
        frames = _chain_frames(parent)
    return task


# --- messages -----------------------------------------------------------------------------------------


def _site(
    frames: Iterable[FrameType],
    task: asyncio.Task[Any] | None,
    owner: asyncio.Task[Any] | None = None,
) -> str:
    """``file:line`` of the innermost user frame (of ``task``, else of ``owner``, the task whose action
    it is part of), else the task's root coroutine."""
    frames = list(frames)
    for frame in frames:
        if _is_user_code(frame.f_code):
            return f"{_short(frame.f_code.co_filename)}:{frame.f_lineno}"
    if owner is not None and owner is not task:
        for frame in _chain_frames(owner):
            if _is_user_code(frame.f_code):
                return f"{_short(frame.f_code.co_filename)}:{frame.f_lineno}"
    caller = _sync_caller(task)
    if caller is not None:
        return f"{_short(caller.f_code.co_filename)}:{caller.f_lineno} {_SYNC_CALL}"
    coro: Any = task.get_coro() if task is not None else None
    code = getattr(coro, "cr_code", None)
    if code is not None and code.co_filename.startswith(_GUARD_PREFIX):
        # Our own wrapper is the root (`create_task(client.connect())` with the session claims
        # installed): name the outermost frame below it, Telethon's method, rather than this package.
        code = next(
            (
                f.f_code
                for f in reversed(frames)
                if not f.f_code.co_filename.startswith(_GUARD_PREFIX)
            ),
            code,
        )
    if code is not None:
        return (
            f"{_short(code.co_filename)}:{code.co_firstlineno} "
            f"(the task's root coroutine {getattr(coro, '__qualname__', code.co_name)})"
        )
    return "<unknown site>"


_SYNC_CALL = "(a blocking telethon.sync call)"


def _sync_caller(task: asyncio.Task[Any] | None) -> FrameType | None:
    """For the running task of a blocking ``telethon.sync`` call (it runs the
    coroutine with ``loop.run_until_complete``, telethon/sync.py:29-39), the user frame that made the call: past the task's
    root lie the frames running the loop, then sync.py's wrapper, then the caller."""
    frame = getattr(task.get_coro(), "cr_frame", None) if task is not None else None
    seen_sync = False
    while frame is not None:
        code = frame.f_code
        if seen_sync and _is_user_code(code):
            return frame
        if code.co_filename == _sync_file:
            seen_sync = True
        frame = frame.f_back
    return None


_short_names: dict[tuple[str, str], str] = {}


def _short(filename: str) -> str:
    """``filename`` relative to the working directory when it lies inside it (cached: warn mode
    formats the site of every unguarded call to look it up among the logged ones)."""
    try:
        key = (filename, os.getcwd())
    except OSError:  # the working directory was removed
        return filename
    short = _short_names.get(key)
    if short is None:
        try:
            relative = os.path.relpath(filename, key[1])
        except ValueError:  # another drive (Windows)
            relative = ".."
        short = filename if relative.startswith("..") else relative
        if len(_short_names) < 4096:
            _short_names[key] = short
    return short


def _task_name(task: asyncio.Task[Any] | None) -> str:
    return repr(task.get_name()) if task is not None else "<no task>"


def _task_desc(task: asyncio.Task[Any] | None, owner: asyncio.Task[Any] | None) -> str:
    """``'name'``, or for a task Telethon spawned for another task's action, both names."""
    if owner is None or owner is task:
        return _task_name(task)
    coro: Any = task.get_coro() if task is not None else None
    root = getattr(coro, "__qualname__", "?")
    return f"{_task_name(task)} (spawned by Telethon's {root} for the action of task {_task_name(owner)})"


def _request_name(request: Any) -> str:
    if isinstance(request, (list, tuple)):
        return "[" + ", ".join(type(r).__name__ for r in request) + "]"
    return type(request).__name__


# --- violations -------------------------------------------------------------------------------------


def _report(kind: str, message: str, task: str, site: str, error: type[Exception] | None) -> None:
    """Notify listeners, then raise ``error`` or (warn mode) log once per call site."""
    event = GuardEvent(kind, message, task, site)
    for listener in list(_listeners):
        listener(event)
    if error is not None:
        raise error(message)
    key = (kind, site)
    if key not in _warned:
        _warned.add(key)
        _log.warning("%s (logged once per call site)", message)


def _already_logged(kind: str, site: str) -> bool:
    """In a mode that only logs, a repeat at a logged call site needs no message (nobody listens)."""
    return not (_strict or _detect) and not _listeners and (kind, site) in _warned


def _unguarded(
    task: asyncio.Task[Any] | None,
    owner: asyncio.Task[Any] | None,
    frame: FrameType | None,
    request: Any,
) -> None:
    COUNTERS.unguarded += 1
    site = _site(_running_frames(frame, task), task, owner)
    if _already_logged("unguarded", site):
        return
    holder, holder_site, waiting = telethon_lock._snapshot()
    if holder is None:
        held = "telethon_lock is free"
    else:
        held = f"telethon_lock is held by task {holder!r} (acquired at {holder_site})"
        if waiting:
            held += f", {waiting} task(s) waiting"
    if site.endswith(_SYNC_CALL):
        hint = (
            "A blocking telethon.sync script cannot hold the lock around a call: "
            "install(mode='serialize') (or TELETHON_GUARD_MODE=serialize) makes every such call take "
            "telethon_lock itself, or run the calls in a coroutine under the lock with "
            "client.loop.run_until_complete(...)."
        )
    else:
        hint = (
            "A task created by the holder (create_task, gather, TaskGroup, and asyncio.wait_for "
            "before Python 3.12) does not hold the lock: await the call in the holder's own task "
            "(for a timeout, `async with asyncio.timeout(...)` on Python 3.11+)."
        )
    message = (
        f"Unguarded Telethon action: task {_task_desc(task, owner)} sent {_request_name(request)} "
        f"at {site} (PID {os.getpid()}) without holding telethon_lock; {held}. {_FIX}. {hint}"
    )
    _report("unguarded", message, _task_name(task), site, UnguardedCallError if _strict else None)


def _overlap(
    task: asyncio.Task[Any] | None,
    owner: asyncio.Task[Any] | None,
    frame: FrameType | None,
    request: Any,
) -> None:
    others = []
    for other, action in list(_inflight.items()):
        if other is task or action is None or action is owner:
            continue  # this task, background work, or another part of this same action
        if other is not None:
            loop = other.get_loop()
            if other.done() or loop.is_closed():
                # A task abandoned on a closed event loop never ran its `finally`: forget it.
                del _inflight[other]
                continue
            if not loop.is_running():
                continue  # parked on a loop nobody runs now: it makes no progress meanwhile
        others.append((other, action))
    if not others:
        return
    COUNTERS.overlaps += 1
    site = _site(_running_frames(frame, task), task, owner)
    if _already_logged("overlap", site):
        return
    entries = []
    lifecycles = []  # (task, site, lifecycle code) of the calls connect()/start()/... made
    root = getattr(task.get_coro(), "cr_frame", None) if task is not None else None
    mine = _entry(frame, root)[0]
    if mine is not None:
        lifecycles.append((task, site, mine))
    for o, a in others:
        frames = _chain_frames(o)
        other_site = _site(frames, o, a)
        entries.append(f"task {_task_desc(o, a)} entered at {other_site}")
        theirs = _lifecycle_in(frames)
        if theirs is not None:
            lifecycles.append((o, other_site, theirs))
    message = (
        f"Overlapping Telethon actions (PID {os.getpid()}): task {_task_desc(task, owner)} started "
        f"{_request_name(request)} at {site} while another Telethon action is still in flight: "
        f"{'; '.join(entries)}. Two Telethon actions must never run at once. "
        + "".join(_lifecycle_fix(t, s, c) for t, s, c in lifecycles)
        + f"{_FIX}; or install(mode='serialize') to serialise unguarded actions."
    )
    error = TelethonOverlapError if (_strict or _detect) else None
    _report("overlap", message, _task_name(task), site, error)


def _lifecycle_in(frames: Iterable[FrameType]) -> CodeType | None:
    """The connect/start/run_until_disconnected code below the first user frame of ``frames``
    (innermost first), or None."""
    for frame in frames:
        code = frame.f_code
        kind = _classify(code) if id(code) not in _code_kinds else _code_kinds[id(code)][1]
        if kind == _USER:
            return None
        if kind == _LIFECYCLE:
            return code
    return None


def _lifecycle_fix(task: asyncio.Task[Any] | None, site: str, code: CodeType) -> str:
    """How to fix an overlap in which ``task`` made a call for connect()/start()/run_until_disconnected()."""
    if id(code) in _wrappable_lifecycle:
        method = "connect()" if code.co_name == "connect" else "start()"
        return (
            f"Task {_task_name(task)} is in {method} at {site}, and {method} makes Telethon "
            f"requests too (get_me, the update state): run it under the lock, `async with "
            f"telethon_lock: await client.{method}` (the lock is reentrant, so {method}'s own "
            "requests then pass). "
        )
    return (
        f"Task {_task_name(task)} is in run_until_disconnected() at {site}, which makes one request "
        "(updates.GetStateRequest) as it starts and cannot run under the lock (it returns at "
        "disconnect): make that request under the lock yourself and wait with "
        "`await client.disconnected` instead. "
    )


# --- the patched _call -------------------------------------------------------------------------------
#
# The hot path (a user task, the common case) costs: the current task, a dict test (nested call?), the
# root coroutine's code looked up in a dict (a Telethon task?), the lock's owner, the in-flight dict. A
# task that does not hold the lock walks its frames once, to the first user frame: that frame says
# whether connect()/start() makes the call (lifecycle) and, in serialize mode, is handed to the lock as
# where it was acquired (the lock does not walk the stack again).


async def _guarded_call(
    self: Any, sender: Any, request: Any, ordered: bool = False, flood_sleep_threshold: Any = None
) -> Any:
    loop = _lock_module._last_loop
    if _ctasks is not None and loop is not None and loop._thread_id == _get_ident():
        task = _ctasks.get(loop)
    else:
        task = _current_task()
    if task in _inflight or _mode is None:  # nested in this task's action, or uninstalled
        return await _original(self, sender, request, ordered, flood_sleep_threshold)  # type: ignore[misc]
    try:
        coro = task.get_coro()  # type: ignore[union-attr]
        root_code = coro.cr_code
    except AttributeError:
        if task is None:  # a coroutine driven by hand, outside any task: nothing to guard it with
            return await _original(self, sender, request, ordered, flood_sleep_threshold)  # type: ignore[misc]
        root_code = None  # a root without code (Cython, a custom awaitable): a user task
    owner = task
    entry = _root_kinds.get(id(root_code))
    kind = entry[1] if entry is not None else _root_kind(root_code)
    if kind:  # a task rooted in Telethon code: background work, or part of whose action?
        owner = _action_of(task, coro, kind, _getframe(1))  # type: ignore[arg-type]
        if owner is None:
            _inflight[task] = None
            try:
                return await _original(self, sender, request, ordered, flood_sleep_threshold)  # type: ignore[misc]
            finally:
                _inflight.pop(task, None)
    if owner is task:
        COUNTERS.actions += 1  # a child spawned by Telethon is part of its parent's action
    if _lock._owner is not owner and not _detect:
        frame = _getframe(1)
        root_frame = getattr(coro, "cr_frame", None)
        lifecycle, user_frame = _entry(frame, root_frame)
        if _serialize:
            if not lifecycle:
                COUNTERS.unguarded += 1
            if user_frame is None:  # rooted in Telethon: a telethon.sync call names its caller
                user_frame = _sync_caller(task) or root_frame
            site = (user_frame.f_code, user_frame.f_lasti) if user_frame is not None else None
            if not _take_at(task, site):  # type: ignore[arg-type]
                await _wait_at(task, site)  # type: ignore[arg-type]
            try:
                if _inflight:
                    _overlap(task, owner, frame, request)
                _inflight[task] = owner
                return await _original(self, sender, request, ordered, flood_sleep_threshold)  # type: ignore[misc]
            finally:
                _inflight.pop(task, None)
                _release_by(task)
        if not lifecycle:
            _unguarded(task, owner, frame, request)
    if _inflight:
        _overlap(task, owner, _getframe(1), request)
    _inflight[task] = owner
    try:
        return await _original(self, sender, request, ordered, flood_sleep_threshold)  # type: ignore[misc]
    finally:
        _inflight.pop(task, None)


_GUARD_CODES = frozenset({_guarded_call.__code__})
