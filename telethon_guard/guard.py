"""The Telethon patch: :func:`install`, :func:`uninstall`, :func:`stats` and the four modes.

Every request of every ``TelegramClient`` goes through ``UserMethods._call`` (telethon/client/users.py:32;
``__call__`` at users.py:29 delegates to it, and downloads from other DCs and CDN clients pass their own
sender straight to it: telethon/client/downloads.py:89-97). :func:`install` replaces that one class
attribute, so every client, subclass, exported sender and CDN client is covered.

Each outermost ``_call`` of a task is classified once:

* **Telethon's background work** -- a task whose root coroutine is one of Telethon's private background
  coroutines (the update loop, keep-alive, auto-reconnect, update dispatch, typing loops, callback-query
  auto-answers, album delivery) *and* with no user frame between that root and ``_call``. It never waits for
  the lock, never raises and is not counted: a user holding the lock while a conversation waits for its
  reply must not block the update loop that delivers the reply.
* **Lifecycle** -- a call made by ``connect()``, ``start()`` or ``run_until_disconnected()`` (connect's
  ``get_me``, the update-state request). Exempt from the unguarded check, still an action for overlaps.
* **User action** -- everything else, event handlers included.

A ``_call`` nested in another ``_call`` of the same task (``request.resolve()`` resolving a username,
telethon/client/users.py:43) belongs to the outer one: one action, never an overlap.

On the hot path a user action costs a dictionary lookup (is this task already inside ``_call``?), a set
lookup of its root coroutine's code object (a Telethon background coroutine?) and an ownership test of
the lock. Frames are walked only in tasks rooted in a Telethon background coroutine, and for a call by a
task that does not hold the lock (to recognise lifecycle calls; it stops at the first user frame, with
the kind of each code object cached).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import CodeType, FrameType
from typing import Any

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

# Outermost in-flight ``_call`` per task: True for a user action, False for background work. An empty
# dict is the common case, so the overlap test is a truth test; _overlap() looks at the entries.
_inflight: dict[asyncio.Task[Any] | None, bool] = {}
_warned: set[tuple[str, str]] = set()
_listeners: list[Callable[[GuardEvent], None]] = []

# Code objects of Telethon's own coroutines, filled at install time (telethon is imported lazily).
_background_roots: frozenset[CodeType] = frozenset()
_dispatch_codes: frozenset[CodeType] = frozenset()
_dispatch_background_callees: frozenset[CodeType] = frozenset()
_internal_prefixes: tuple[str, ...] = ()
_code_kinds: dict[CodeType, int] = {}

_getframe = sys._getframe
_lock_enter = telethon_lock.__aenter__
_lock_exit = telethon_lock.__aexit__


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
            (a task spawned by the holder does not hold it), and two user actions in flight at once
            raise :class:`~telethon_guard.TelethonOverlapError`.
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

    Sessions already claimed stay claimed until their client disconnects. Safe to call when the guard
    is not installed.
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
    """Collect the code objects of Telethon's background, dispatch and lifecycle coroutines.

    Taken from the defining classes' ``__dict__`` so that ``telethon.sync``'s wrappers (which replace
    the public methods on ``TelegramClient`` itself, telethon/sync.py:29-43) do not hide them.
    """
    global _background_roots, _dispatch_codes, _dispatch_background_callees
    global _internal_prefixes
    import telethon
    from telethon.client.auth import AuthMethods
    from telethon.client.chats import _ChatAction
    from telethon.client.telegrambaseclient import TelegramBaseClient
    from telethon.client.updates import UpdateMethods
    from telethon.client.users import UserMethods
    from telethon.events.album import AlbumHack
    from telethon.events.callbackquery import CallbackQuery
    from telethon.events.common import EventBuilder
    from telethon.tl.custom.inlinebuilder import InlineBuilder

    def code(klass: type, name: str) -> CodeType:
        return vars(klass)[name].__code__

    _dispatch_codes = frozenset(
        {
            code(UpdateMethods, "_dispatch_update"),  # updates.py:556, a task per update (:289)
            code(UpdateMethods, "_dispatch_event"),  # updates.py:623, albums
        }
    )
    _background_roots = _dispatch_codes | {
        code(UpdateMethods, "_update_loop"),  # telegrambaseclient.py:618
        code(UpdateMethods, "_keepalive_loop"),  # telegrambaseclient.py:619
        code(UpdateMethods, "_handle_auto_reconnect"),  # mtprotosender.py:426
        code(TelegramBaseClient, "_disconnect_coro"),  # telegrambaseclient.py:661
        code(_ChatAction, "_update"),  # chats.py:65, the typing-action loop
        code(AlbumHack, "deliver_event"),  # events/album.py:42
        # The auto-answer task of CallbackQuery.respond/reply/edit/delete (callbackquery.py:280-340).
        # A user's own `create_task(event.answer())` is indistinguishable from it and is treated alike.
        code(CallbackQuery.Event, "answer"),
        # InlineQuery.Event.answer() runs each awaitable result (builder.photo(...) uploads) in a task
        # of its own (events/inlinequery.py:243) and awaits them while the user holds the lock.
        *(code(InlineBuilder, name) for name in ("article", "photo", "document", "game")),
    }
    # What _dispatch_update/_dispatch_event await on their own behalf: the `get_me` that caches the
    # self id (updates.py:568) and resolving an event builder's chats (updates.py:605,
    # events/common.py:89). Anything else they await is the user's handler or filter.
    _dispatch_background_callees = frozenset(
        {code(UserMethods, "get_me"), code(EventBuilder, "resolve")}
    )
    lifecycle = frozenset(
        {
            code(TelegramBaseClient, "connect"),  # telegrambaseclient.py:500 (get_me, GetState)
            code(AuthMethods, "_start"),  # auth.py:131, also behind `async with client:`
            code(UpdateMethods, "_run_until_disconnected"),  # updates.py:41 (GetState)
        }
    )
    _internal_prefixes = (
        os.path.dirname(os.path.abspath(telethon.__file__ or "")) + os.sep,
        os.path.dirname(os.path.abspath(asyncio.__file__ or "")) + os.sep,
        os.path.abspath(contextlib.__file__ or ""),
    )
    _code_kinds.clear()
    _code_kinds.update(dict.fromkeys(lifecycle, _LIFECYCLE))


# --- classification ----------------------------------------------------------------------------------


# What a code object is, cached per code object: internal (Telethon, this module, and asyncio/contextlib,
# which only pass awaits through -- e.g. `wait_for` running the coroutine in place on Python 3.12+), user
# code, or one of Telethon's lifecycle coroutines (seeded at install time).
_INTERNAL, _USER, _LIFECYCLE = 0, 1, 2


def _classify(code: CodeType) -> int:
    kind = _code_kinds.get(code)
    if kind is None:
        internal = code in _GUARD_CODES or code.co_filename.startswith(_internal_prefixes)
        kind = _INTERNAL if internal else _USER
        _code_kinds[code] = kind
    return kind


def _is_user_code(code: CodeType) -> bool:
    """True for code outside Telethon, asyncio and this module."""
    return _classify(code) == _USER


def _is_background(frame: FrameType | None, root: FrameType | None) -> bool:
    """Whether a ``_call`` (made from ``frame``) in a task rooted in a background coroutine is
    Telethon's own work: no user frame between the root and the call, and, under the update dispatch,
    only Telethon's own awaits (not the user's handler or filter)."""
    callee: CodeType | None = None
    while frame is not None:
        code = frame.f_code
        if code in _dispatch_codes:
            return callee in _dispatch_background_callees
        if _classify(code) == _USER:
            return False
        if frame is root:
            return True
        callee = code
        frame = frame.f_back
    return False


def _is_lifecycle(frame: FrameType | None) -> bool:
    """Whether Telethon's connect/start/run_until_disconnected makes this call on its own behalf:
    a lifecycle coroutine below the first user frame. (Beyond a task's root coroutine lie the frames
    running the event loop, which are not Telethon's: the walk never goes past them.)"""
    kinds = _code_kinds
    while frame is not None:
        code = frame.f_code
        kind = kinds.get(code)
        if kind is None:
            kind = _classify(code)
        if kind:
            return kind == _LIFECYCLE
        frame = frame.f_back
    return False


def _chain_frames(task: asyncio.Task[Any] | None) -> Iterator[FrameType]:
    """The frames of a suspended task, innermost first (through ``cr_await``; an async generator
    ends the chain, its consumer's ``async for`` line is then the innermost known frame)."""
    if task is None:
        return iter(())
    frames: list[FrameType] = []
    obj: Any = task.get_coro()
    while obj is not None and len(frames) < 1000:
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None)
        if frame is None:
            break
        frames.append(frame)
        obj = getattr(obj, "cr_await", None) or getattr(obj, "gi_yieldfrom", None)
    return reversed(frames)


def _running_frames(frame: FrameType | None, task: asyncio.Task[Any] | None) -> Iterator[FrameType]:
    """The frames of the running task from ``frame`` up to its root coroutine."""
    root = getattr(task.get_coro(), "cr_frame", None) if task is not None else None
    while frame is not None:
        yield frame
        if frame is root:
            return
        frame = frame.f_back


def _site(frames: Iterator[FrameType], task: asyncio.Task[Any] | None) -> str:
    """``file:line`` of the innermost user frame, else the task's root coroutine."""
    for frame in frames:
        if _is_user_code(frame.f_code):
            return f"{_short(frame.f_code.co_filename)}:{frame.f_lineno}"
    coro: Any = task.get_coro() if task is not None else None
    code = getattr(coro, "cr_code", None)
    if code is not None:
        return (
            f"{_short(code.co_filename)}:{code.co_firstlineno} "
            f"(the task's root coroutine {getattr(coro, '__qualname__', code.co_name)})"
        )
    return "<unknown site>"


def _short(filename: str) -> str:
    """``filename`` relative to the working directory when it lies inside it."""
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive (Windows)
        return filename
    return filename if relative.startswith("..") else relative


def _task_name(task: asyncio.Task[Any] | None) -> str:
    return repr(task.get_name()) if task is not None else "<no task>"


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


def _unguarded(task: asyncio.Task[Any] | None, frame: FrameType | None, request: Any) -> None:
    COUNTERS.unguarded += 1
    site = _site(_running_frames(frame, task), task)
    if _already_logged("unguarded", site):
        return
    holder, holder_site, waiting = telethon_lock._snapshot()
    if holder is None:
        held = "telethon_lock is free"
    else:
        held = f"telethon_lock is held by task {holder!r} (acquired at {holder_site})"
        if waiting:
            held += f", {waiting} task(s) waiting"
    message = (
        f"Unguarded Telethon action: task {_task_name(task)} sent {_request_name(request)} "
        f"at {site} (PID {os.getpid()}) without holding telethon_lock; {held}. {_FIX}. "
        "A task created by the holder (create_task, gather, TaskGroup, and asyncio.wait_for before "
        "Python 3.12) does not hold the lock: await the call in the holder's own task (for a "
        "timeout, `async with asyncio.timeout(...)` on Python 3.11+)."
    )
    _report("unguarded", message, _task_name(task), site, UnguardedCallError if _strict else None)


def _overlap(task: asyncio.Task[Any] | None, frame: FrameType | None, request: Any) -> None:
    others = []
    for other, user in list(_inflight.items()):
        if other is task or not user:
            continue
        if other is not None:
            loop = other.get_loop()
            if other.done() or loop.is_closed():
                # A task abandoned on a closed event loop never ran its `finally`: forget it.
                del _inflight[other]
                continue
            if not loop.is_running():
                continue  # parked on a loop nobody runs now: it makes no progress meanwhile
        others.append(other)
    if not others:
        return
    COUNTERS.overlaps += 1
    site = _site(_running_frames(frame, task), task)
    if _already_logged("overlap", site):
        return
    running = "; ".join(
        f"task {_task_name(o)} entered at {_site(_chain_frames(o), o)}" for o in others
    )
    message = (
        f"Overlapping Telethon actions (PID {os.getpid()}): task {_task_name(task)} started "
        f"{_request_name(request)} at {site} while another Telethon action is still in flight: "
        f"{running}. Two Telethon actions must never run at once. {_FIX}; "
        "or install(mode='serialize') to serialise unguarded actions."
    )
    error = TelethonOverlapError if (_strict or _detect) else None
    _report("overlap", message, _task_name(task), site, error)


# --- the patched _call -------------------------------------------------------------------------------


async def _guarded_call(
    self: Any, sender: Any, request: Any, ordered: bool = False, flood_sleep_threshold: Any = None
) -> Any:
    task = _current_task()
    if task in _inflight or _mode is None:  # nested in this task's action, or uninstalled
        return await _original(self, sender, request, ordered, flood_sleep_threshold)  # type: ignore[misc]
    try:
        root_code = task.get_coro().cr_code  # type: ignore[union-attr]
    except AttributeError:  # no task, or a coroutine-like object without code
        root_code = None
    if root_code in _background_roots and _is_background(_getframe(1), task.get_coro().cr_frame):  # type: ignore[union-attr]
        _inflight[task] = False
        try:
            return await _original(self, sender, request, ordered, flood_sleep_threshold)  # type: ignore[misc]
        finally:
            _inflight.pop(task, None)

    COUNTERS.actions += 1
    if not _detect and (task is None or telethon_lock.owner is not task):
        frame = _getframe(1)
        if _serialize:
            if not _is_lifecycle(frame):
                COUNTERS.unguarded += 1
            # The lock's inlined fast path (lock.py __aenter__/__aexit__).
            await _lock_enter()
            try:
                return await _user_action(
                    task, self, sender, request, ordered, flood_sleep_threshold
                )
            finally:
                await _lock_exit(None, None, None)
        if not _is_lifecycle(frame):
            _unguarded(task, frame, request)
    if _inflight:
        _overlap(task, _getframe(1), request)
    _inflight[task] = True
    try:
        return await _original(self, sender, request, ordered, flood_sleep_threshold)  # type: ignore[misc]
    finally:
        _inflight.pop(task, None)


async def _user_action(
    task: asyncio.Task[Any] | None,
    self: Any,
    sender: Any,
    request: Any,
    ordered: bool,
    flood_sleep_threshold: Any,
) -> Any:
    """The tail of :func:`_guarded_call` for serialize mode, once the guard holds the lock."""
    if _inflight:
        _overlap(task, _getframe(2), request)
    _inflight[task] = True
    try:
        return await _original(self, sender, request, ordered, flood_sleep_threshold)  # type: ignore[misc]
    finally:
        _inflight.pop(task, None)


_GUARD_CODES = frozenset({_guarded_call.__code__, _user_action.__code__})
