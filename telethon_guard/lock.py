"""``telethon_lock``: the one process-wide lock around every Telethon action, and ``serialized``.

The lock is

* reentrant for the task that holds it: Telethon's ``_call`` nests through ``request.resolve()`` ->
  ``get_input_entity()`` -> ``ResolveUsernameRequest`` in the same task (telethon/client/users.py:32-35,
  telethon/client/users.py:433), so a plain ``asyncio.Lock`` would deadlock there;
* strictly FIFO: the releasing task hands the lock to the first live waiter, so nobody can barge in;
* cancellation-safe: a waiter cancelled while waiting leaves the queue, and one cancelled at the very
  moment the lock was handed to it passes the lock on to the next waiter;
* never bound to an event loop: waiter futures are created on the running loop at acquire time and a
  waiter on another thread's loop is woken with ``call_soon_threadsafe``. The shared state is guarded by a
  ``threading.Lock``;
* self-diagnosing: a waiter that the holder is (transitively) awaiting -- ``gather``, ``TaskGroup``,
  ``await task``, ``asyncio.wait``, ``wait_for``, ``shield`` -- gets :class:`LockDeadlockError` instead of
  hanging; a holder that finished without releasing, or whose event loop is closed, is detected and the
  lock freed with an ERROR log; a hold longer than ``hold_warning_s`` logs a WARNING while it is still held.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import importlib.util
import inspect
import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Coroutine
from types import CodeType, FrameType, TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

from .errors import LockDeadlockError, LockTimeoutError, TelethonGuardError
from .stats import COUNTERS

__all__ = ["serialized", "telethon_lock"]

_log = logging.getLogger("telethon_guard")

#: How often, while tasks wait, the lock re-checks for deadlocks and dead holders (one timer per loop).
_TICK_S = 0.05

_P = ParamSpec("_P")
_R = TypeVar("_R")

_monotonic = time.monotonic
_get_ident = threading.get_ident
_getframe = sys._getframe
_Task = asyncio.Task
_Future = asyncio.Future

# ---------------------------------------------------------------------------------------------------------
# The current task, cheaply.
#
# On CPython < 3.12 ``asyncio.current_task()`` is Python code calling ``get_running_loop()``, whose C
# implementation makes a ``getpid()`` system call on every call (~200 ns). Remember the last loop seen and
# trust it while it runs in this thread (``BaseEventLoop._thread_id`` is set by ``run_forever`` and reset
# when it stops); ``_current_tasks`` is the dict asyncio itself keeps of the task each loop is running.
# 3.12+ has a fast C ``current_task``.
# ---------------------------------------------------------------------------------------------------------
_asyncio_current_task = asyncio.current_task
_current_tasks: dict[Any, Any] | None = getattr(asyncio.tasks, "_current_tasks", None)
if sys.version_info >= (3, 12) or not isinstance(
    _current_tasks, dict
):  # pragma: no cover - version
    _current_tasks = None
_last_loop: Any = None


def _current_task() -> asyncio.Task[Any] | None:
    """The running task, or ``None`` in a callback; raises RuntimeError without a running event loop."""
    global _last_loop
    tasks = _current_tasks
    if tasks is None:  # pragma: no cover - CPython 3.12+
        return _asyncio_current_task()
    loop = _last_loop
    if loop is not None and loop._thread_id == _get_ident():
        return tasks.get(loop)
    loop = asyncio.get_running_loop()
    if hasattr(loop, "_thread_id"):  # not uvloop & co: they always take the slow path
        _last_loop = loop
    return tasks.get(loop)


def _outside_task_error(what: str) -> TelethonGuardError:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return TelethonGuardError(
            f"telethon_lock.{what} was called with no running asyncio event loop "
            f"(at {_caller_site()}). telethon_lock is an asyncio lock: use `async with telethon_lock:` "
            "inside a coroutine run by asyncio (asyncio.run(), an asyncio-based server)."
        )
    return TelethonGuardError(
        f"telethon_lock.{what} was called outside an asyncio task (at {_caller_site()}), e.g. from a "
        "loop callback. The lock is owned by tasks: call it from a coroutine running in a task."
    )


# ---------------------------------------------------------------------------------------------------------
# "Where it acquired": the first frame outside telethon_guard, Telethon, contextlib and asyncio.
# A site is kept as (code, f_lasti) and turned into "file:line" only when a message needs it.
# ---------------------------------------------------------------------------------------------------------
def _module_dir(name: str) -> str | None:
    # find_spec locates the package without importing it: importing telethon_guard must not load Telethon.
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):  # pragma: no cover - telethon is a dependency
        return None
    origin = spec.origin if spec is not None else None
    return os.path.dirname(origin) + os.sep if origin else None


_INTERNAL_PREFIXES = tuple(
    p
    for p in (
        os.path.dirname(__file__) + os.sep,
        _module_dir("asyncio"),
        _module_dir("telethon"),
        contextlib.__file__,
    )
    if p
)
# Keyed by id(code): hashing a code object hashes its whole bytecode (~0.1-0.7 us per lookup on the
# acquire path). The code objects are kept alive in _kept_codes so an id is never reused.
_internal_codes: dict[int, bool] = {}
_kept_codes: list[CodeType] = []

_Site = tuple[CodeType, int]


def _is_internal(code: CodeType) -> bool:
    internal = _internal_codes.get(id(code))
    if internal is None:
        filename = code.co_filename
        internal = filename.startswith(_INTERNAL_PREFIXES) or filename.startswith("<frozen")
        _kept_codes.append(code)
        _internal_codes[id(code)] = internal
    return internal


def _site(frame: FrameType | None, task: asyncio.Task[Any] | None = None) -> _Site | None:
    """The first frame outside the internal packages, from ``frame`` up to ``task``'s own coroutine.

    Beyond the task's coroutine lie the frames that run the event loop (``asyncio.run(main())`` ...),
    which say nothing about who acquired. When the whole task is internal (a task running a
    ``serialized`` function directly), the decorated function itself is the answer.
    """
    top = None
    if task is not None:
        with contextlib.suppress(Exception):
            top = task.get_coro().cr_frame  # type: ignore[union-attr]
    while frame is not None:
        code = frame.f_code
        if not _is_internal(code):
            return code, frame.f_lasti
        if frame is top and top is not None:
            fn_code = None
            with contextlib.suppress(Exception):
                fn = top.f_locals.get("fn")  # serialized's wrapper: the decorated function
                fn_code = getattr(inspect.unwrap(fn), "__code__", None) if fn is not None else None
            if isinstance(fn_code, CodeType):
                return fn_code, -1
            return code, top.f_lasti  # an internal task: better than nothing
        frame = frame.f_back
    return None


def _format_site(site: _Site | None) -> str:
    if site is None:
        return "<unknown>"
    code, lasti = site
    line = code.co_firstlineno
    for start, end, lineno in code.co_lines():
        if start <= lasti < end:
            if lineno is not None:
                line = lineno
            break
    filename = code.co_filename
    with contextlib.suppress(ValueError, OSError):
        rel = os.path.relpath(filename)
        if not rel.startswith(".."):
            filename = rel
    return f"{filename}:{line}"


def _caller_site(depth: int = 1) -> str:
    return _format_site(_site(sys._getframe(depth)))


def _task_name(task: asyncio.Task[Any] | None) -> str:
    if task is None:
        return "<no task>"
    try:
        return task.get_name()
    except Exception:  # pragma: no cover - a foreign task type
        return repr(task)


def _is_dead(task: asyncio.Task[Any]) -> bool:
    """A holder that can never release: finished, or its event loop is closed."""
    if task.done():
        return True
    try:
        return task.get_loop().is_closed()
    except Exception:  # pragma: no cover - a foreign task type
        return False


def _check_wait_timeout(wait_timeout: object) -> None:
    # Checked before queueing: an error raised once queued would leave the waiter in the queue, and
    # the lock would later be handed to a task that no longer waits for it.
    if isinstance(wait_timeout, bool) or not isinstance(wait_timeout, (int, float)):
        raise TypeError(
            f"telethon_lock: wait_timeout must be a number of seconds or None, not "
            f"{type(wait_timeout).__name__} {wait_timeout!r}"
        )
    if not wait_timeout >= 0:  # also refuses NaN
        raise ValueError(
            f"telethon_lock: wait_timeout must be >= 0 seconds (or None to wait as long as it "
            f"takes), not {wait_timeout!r}"
        )


def _call_misuse(arg: object) -> TypeError:
    if callable(arg):
        return TypeError(
            f"telethon_lock is not a decorator (got {getattr(arg, '__qualname__', arg)!r} at "
            f"{_caller_site(2)}): decorate the function with @serialized "
            "(`from telethon_guard import serialized`), or use `async with telethon_lock:` inside it."
        )
    return TypeError(
        f"telethon_lock() takes its timeout by keyword (got {arg!r} at {_caller_site(2)}): "
        f"`async with telethon_lock(wait_timeout={arg!r}):`."
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# ---------------------------------------------------------------------------------------------------------
# Deadlock detection: what is a task (transitively) waiting for?
#
# A blocked task's ``_fut_waiter`` is the future it awaits: a Task (``await task``), a ``_GatheringFuture``
# (``gather``: ``_children``), the outer future of ``shield`` (its done-callback closes over the inner
# future), or a plain future whose meaning is in the coroutine chain: ``TaskGroup.__aexit__`` (``_tasks``),
# ``asyncio.wait`` (``_wait``'s ``fs``), ``wait_for`` (3.10/3.11: its ``fut``). ``asyncio.wait`` with
# FIRST_COMPLETED waits for any one member, so it is blocked only when every member is. ``as_completed``
# (3.10-3.12) waits in ``_wait_for_one`` on a queue that only the ``_on_completion`` callbacks of its
# pending tasks fill: those tasks are found among the waiters, and any one of them would do.
# ---------------------------------------------------------------------------------------------------------
_ALL, _ANY = 0, 1
_Edge = tuple[int, str, list[Any]]

_TG_AEXIT: CodeType | None = None
if hasattr(asyncio, "TaskGroup"):  # pragma: no branch - 3.11+
    _TG_AEXIT = asyncio.TaskGroup.__aexit__.__code__
_WAIT_CODE: CodeType | None = getattr(getattr(asyncio.tasks, "_wait", None), "__code__", None)
_WAIT_FOR_CODE: CodeType | None = getattr(asyncio.tasks.wait_for, "__code__", None)


def _nested_code(fn: Any, name: str) -> CodeType | None:
    for const in getattr(getattr(fn, "__code__", None), "co_consts", ()):
        if isinstance(const, CodeType) and const.co_name == name:
            return const
    return None  # pragma: no cover - another asyncio (3.13 rewrote as_completed)


_AS_COMPLETED_WAIT = _nested_code(asyncio.tasks.as_completed, "_wait_for_one")
_AS_COMPLETED_CALLBACK = _nested_code(asyncio.tasks.as_completed, "_on_completion")


def _future_edges(fut: Any) -> list[_Edge]:
    children = getattr(fut, "_children", None)
    if isinstance(children, list):
        return [(_ALL, "gather", list(children))]
    for callback in getattr(fut, "_callbacks", None) or ():
        fn = callback[0] if isinstance(callback, tuple) else callback
        if getattr(fn, "__qualname__", "").endswith("shield.<locals>._outer_done_callback"):
            for cell in getattr(fn, "__closure__", None) or ():
                try:
                    inner = cell.cell_contents
                except ValueError:
                    continue
                if isinstance(inner, _Future):
                    return [(_ALL, "shield", [inner])]
    return []


def _as_completed_groups(waiting: dict[Any, Any]) -> dict[int, list[Any]]:
    """``id(done queue)`` -> pending tasks, for the ``as_completed`` calls some waiter belongs to."""
    groups: dict[int, list[Any]] = {}
    if _AS_COMPLETED_CALLBACK is None:  # pragma: no cover - another asyncio
        return groups
    for task in list(waiting):  # another thread may queue meanwhile
        for callback in getattr(task, "_callbacks", None) or ():
            fn = callback[0] if isinstance(callback, tuple) else callback
            if getattr(fn, "__code__", None) is not _AS_COMPLETED_CALLBACK:
                continue
            cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=False))
            try:
                done = cells["done"].cell_contents
                todo = cells["todo"].cell_contents
            except (KeyError, ValueError):
                continue
            groups[id(done)] = list(todo)
    return groups


def _coroutine_edges(coro: Any, as_completed: Callable[[Any], list[Any] | None]) -> list[_Edge]:
    edges: list[_Edge] = []
    obj = coro
    for _ in range(256):
        if obj is None:
            break
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None)
        frame = frame or getattr(obj, "ag_frame", None)
        if frame is not None:
            code = frame.f_code
            if code is _TG_AEXIT:
                tasks = getattr(frame.f_locals.get("self"), "_tasks", None)
                if tasks:
                    edges.append((_ALL, "TaskGroup", list(tasks)))
            elif code is _WAIT_CODE:
                local = frame.f_locals
                fs = local.get("fs")
                if fs:
                    kind = _ANY if local.get("return_when") == asyncio.FIRST_COMPLETED else _ALL
                    edges.append((kind, "asyncio.wait", list(fs)))
            elif code is _WAIT_FOR_CODE:
                fut = frame.f_locals.get("fut")
                if isinstance(fut, _Future):
                    edges.append((_ALL, "wait_for", [fut]))
            elif code is _AS_COMPLETED_WAIT and _AS_COMPLETED_WAIT is not None:
                pending = as_completed(frame.f_locals.get("done"))
                if pending:
                    edges.append((_ANY, "as_completed", pending))
        nxt = getattr(obj, "cr_await", None)
        if nxt is None:
            nxt = getattr(obj, "gi_yieldfrom", None)
        if nxt is None:
            nxt = getattr(obj, "ag_await", None)
        obj = nxt
    return edges


def _task_edges(
    task: asyncio.Task[Any], as_completed: Callable[[Any], list[Any] | None]
) -> list[_Edge]:
    edges: list[_Edge] = []
    waiting_on = getattr(task, "_fut_waiter", None)
    if waiting_on is None:
        return edges  # running or ready to run: not blocked
    edges.append((_ALL, "", [waiting_on]))
    with contextlib.suppress(Exception):
        edges.extend(_coroutine_edges(task.get_coro(), as_completed))
    return edges


def _find_deadlocks(holder: asyncio.Task[Any], waiting: dict[Any, Any]) -> dict[Any, list[str]]:
    """The waiting tasks ``holder`` is transitively blocked on, each with the await chain to it."""
    memo: dict[Any, dict[Any, list[str]]] = {}
    groups: dict[int, list[Any]] | None = None

    def as_completed(done: Any) -> list[Any] | None:
        nonlocal groups
        if groups is None:  # only when the holder is inside as_completed: built once per walk
            groups = _as_completed_groups(waiting)
        return groups.get(id(done)) if done is not None else None

    def visit(node: Any, depth: int) -> dict[Any, list[str]]:
        found = memo.get(node)
        if found is not None:
            return found
        memo[node] = {}  # cycles and shared sub-graphs
        if depth > 200:
            return {}
        if isinstance(node, _Task):
            if node is not holder and node in waiting:
                memo[node] = {node: []}
                return memo[node]
            edges = _task_edges(node, as_completed)
        else:
            edges = _future_edges(node)
        result: dict[Any, list[str]] = {}
        for kind, label, members in edges:
            reached = [(member, visit(member, depth + 1)) for member in members]
            if kind == _ANY and not all(sub for _, sub in reached):
                continue
            for member, sub in reached:
                for task, chain in sub.items():
                    if task not in result:
                        step = [label] if label else []
                        if isinstance(member, _Task):
                            step.append(f"'{_task_name(member)}'")
                        result[task] = step + chain
        memo[node] = result
        return result

    try:
        return visit(holder, 0)
    except Exception:  # pragma: no cover - never let diagnostics break the lock
        _log.debug("telethon_lock deadlock check failed", exc_info=True)
        return {}


# ---------------------------------------------------------------------------------------------------------
# The lock.
# ---------------------------------------------------------------------------------------------------------
class _Waiter:
    __slots__ = ("error", "fut", "loop", "queued", "since", "site", "task", "timer")

    def __init__(
        self,
        task: asyncio.Task[Any],
        loop: asyncio.AbstractEventLoop,
        site: _Site | None,
        since: float,
    ) -> None:
        self.task = task
        self.loop = loop
        self.fut: asyncio.Future[None] = loop.create_future()
        self.site = site
        self.since = since
        self.queued = True
        self.error: BaseException | None = None
        self.timer: asyncio.TimerHandle | None = None


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class TelethonLock:
    """The process-wide, task-reentrant, FIFO lock around every Telethon action.

    Use the one instance, :data:`telethon_lock`::

        async with telethon_lock:
            await client.send_message("BotFather", "/start")

        async with telethon_lock(wait_timeout=2):   # LockTimeoutError after 2 s of waiting
            ...

        await telethon_lock.acquire()
        try:
            ...
        finally:
            telethon_lock.release()

    The task holding the lock may acquire it again (only the outermost release frees it); tasks it
    spawns do not hold it and wait their turn. A waiter the holder is itself awaiting gets
    :class:`~telethon_guard.LockDeadlockError`. Works from any event loop and any thread.
    """

    __slots__ = (
        "__weakref__",
        "_check_after",
        "_checks",
        "_depth",
        "_hold_warning_s",
        "_mutex",
        "_owner",
        "_queue",
        "_since",
        "_site",
        "_ticks",
        "_waiting",
        "_watch_needed",
        "_watch_wakeup",
        "_watching",
    )

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._depth = 0
        self._since = 0.0
        self._site: _Site | None = None
        self._queue: collections.deque[_Waiter] = collections.deque()
        self._waiting: dict[asyncio.Task[Any], _Waiter] = {}
        self._ticks: dict[asyncio.AbstractEventLoop, asyncio.TimerHandle] = {}
        # Loops with a deadlock check scheduled (one walk per loop iteration, however many queue),
        # and the time before which a queueing task leaves the check to the periodic tick (a costly
        # walk -- a holder awaiting thousands of tasks -- must not run once per waiter).
        self._checks: set[asyncio.AbstractEventLoop] = set()
        self._check_after = 0.0
        self._hold_warning_s: float | None = None
        self._watching = False
        self._watch_needed = False
        self._watch_wakeup = threading.Event()
        _LOCKS.add(self)

    # -- public API ----------------------------------------------------------------------------------------
    def locked(self) -> bool:
        """Whether some task holds the lock."""
        return self._owner is not None

    @property
    def owner(self) -> asyncio.Task[Any] | None:
        """The task holding the lock, or ``None``."""
        return self._owner

    async def acquire(self, *, wait_timeout: float | None = None) -> bool:
        """Acquire the lock for the current task and return ``True``.

        Reentrant: the holding task acquires again at once (release as many times as you acquired).
        Otherwise waits in FIFO order.

        Raises:
            LockTimeoutError: not acquired within ``wait_timeout`` seconds.
            LockDeadlockError: the task holding the lock is (transitively) awaiting this task.
            TelethonGuardError: called with no running event loop or outside a task.
            TypeError, ValueError: ``wait_timeout`` is not ``None`` or a number of seconds >= 0.
        """
        if wait_timeout is not None:
            _check_wait_timeout(wait_timeout)
        try:
            task = _current_task()
        except RuntimeError:
            task = None
        if task is None:
            raise _outside_task_error("acquire()")
        if self._owner is task:
            self._depth += 1
            return True
        frame = _getframe(1)
        code = frame.f_code
        site = (
            (code, frame.f_lasti) if _internal_codes.get(id(code)) is False else _site(frame, task)
        )
        if self._take_at(task, site):
            return True
        error = await self._wait(task, site, wait_timeout)
        if error is not None:
            raise error
        return True

    def release(self) -> None:
        """Release one level of the current task's hold; the outermost release frees the lock.

        Raises:
            TelethonGuardError: the current task does not hold the lock (or nobody does).
        """
        try:
            task = _current_task()
        except RuntimeError:
            task = None
        self._release_by(task)

    if TYPE_CHECKING:

        def __call__(
            self, *, wait_timeout: float | None = None
        ) -> contextlib.AbstractAsyncContextManager[None]:
            """``async with telethon_lock(wait_timeout=2):`` -- the lock with a bounded wait."""

    else:

        def __call__(self, *misuse, wait_timeout=None):
            """``async with telethon_lock(wait_timeout=2):`` -- the lock with a bounded wait."""
            if misuse:
                raise _call_misuse(misuse[0])
            if wait_timeout is not None:
                _check_wait_timeout(wait_timeout)
            return _LockContext(self, wait_timeout)

    async def __aenter__(self) -> None:
        # acquire()'s fast path, inlined (this is the hot path of every guarded Telethon action).
        ctasks = _current_tasks
        loop = _last_loop
        if ctasks is not None and loop is not None and loop._thread_id == _get_ident():
            task = ctasks.get(loop)
        else:
            try:
                task = _current_task()
            except RuntimeError:
                task = None
        if task is None:
            raise _outside_task_error("__aenter__ (`async with telethon_lock`)")
        if self._owner is task:
            self._depth += 1
            return
        frame = _getframe(1)
        code = frame.f_code
        site = (
            (code, frame.f_lasti) if _internal_codes.get(id(code)) is False else _site(frame, task)
        )
        if self._take_at(task, site):
            return
        error = await self._wait(task, site, None)
        if error is not None:
            raise error

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        ctasks = _current_tasks
        loop = _last_loop
        if ctasks is not None and loop is not None and loop._thread_id == _get_ident():
            task = ctasks.get(loop)
        else:
            try:
                task = _current_task()
            except RuntimeError:
                task = None
        self._release_by(task, "__aexit__ (the end of `async with telethon_lock`)")

    def __enter__(self) -> NoReturn:
        raise TelethonGuardError(
            f"`with telethon_lock:` at {_caller_site()}: telethon_lock is an asyncio lock: "
            "use `async with telethon_lock:` inside a coroutine."
        )

    def __exit__(self, *exc: object) -> None:  # pragma: no cover - __enter__ always raises
        return None

    def __repr__(self) -> str:
        owner = self._owner
        if owner is None:
            return "<telethon_lock unlocked>"
        return (
            f"<telethon_lock held by task '{_task_name(owner)}' (acquired at "
            f"{_format_site(self._site)}), depth {self._depth}, {len(self._waiting)} waiting>"
        )

    # -- hooks for guard.py ----------------------------------------------------------------------------------
    def _owned_by_current_task(self) -> bool:
        """Whether the current task holds the lock (False outside a task or a running loop)."""
        owner = self._owner
        if owner is None:
            return False
        try:
            return owner is _current_task()
        except RuntimeError:
            return False

    def _take_at(self, task: asyncio.Task[Any], site: _Site | None) -> bool:
        """The acquire fast path, for ``task`` (the current task) with ``site`` already known (guard.py
        has walked the stack once; the lock need not walk it again). True: acquired (or re-entered);
        False: the caller must wait (``await self._wait_at(task, site)``)."""
        if self._owner is task:
            self._depth += 1
            return True
        # Explicit acquire()/release() of the mutex: half the cost of `with` (nothing here can raise).
        mutex = self._mutex
        mutex.acquire()
        if self._owner is None and not self._waiting:
            self._take(task, site, _monotonic())
            mutex.release()
            if self._watch_needed:
                self._start_watchdog()
            return True
        mutex.release()
        return False

    async def _wait_at(self, task: asyncio.Task[Any], site: _Site | None) -> None:
        """The slow half of :meth:`_take_at`: queue and wait (deadlocks are reported as usual)."""
        error = await self._wait(task, site, None)
        if error is not None:
            raise error

    def _release_by(self, task: asyncio.Task[Any] | None, what: str = "release()") -> None:
        """The one release path (release(), ``async with``, guard.py) for an already-known task."""
        if task is None or self._owner is not task:
            raise self._not_owner_error(task, what)
        if self._depth > 1:
            self._depth -= 1
            return
        self._release_outermost()

    def _configure(self, *, hold_warning_s: float | None) -> None:
        """Set the hold-warning threshold (``None`` disables the warning)."""
        if hold_warning_s is not None and not hold_warning_s > 0:
            raise ValueError(
                f"hold_warning_s must be a positive number or None, not {hold_warning_s!r}"
            )
        with self._mutex:
            self._hold_warning_s = hold_warning_s
            self._watch_needed = hold_warning_s is not None and not self._watching
            held = self._owner is not None
        self._watch_wakeup.set()
        if held and hold_warning_s is not None:
            self._start_watchdog()

    def _snapshot(self) -> tuple[str | None, str | None, int]:
        """(holder task name, "file:line" where it acquired, number of tasks waiting)."""
        with self._mutex:
            owner, site, waiting = self._owner, self._site, len(self._waiting)
        if owner is None:
            return None, None, waiting
        return _task_name(owner), _format_site(site), waiting

    # -- internals: the mutex guards _owner (except the single store of a release), _queue, _waiting, _ticks
    def _take(self, task: asyncio.Task[Any], site: _Site | None, now: float) -> None:
        """Make ``task`` the holder; called with the mutex held."""
        self._owner = task
        self._depth = 1
        self._since = now
        self._site = site
        COUNTERS.acquisitions += 1

    def _not_owner_error(self, task: asyncio.Task[Any] | None, what: str) -> TelethonGuardError:
        owner = self._owner
        if task is None:
            try:
                asyncio.get_running_loop()
                caller = "outside any asyncio task"
            except RuntimeError:
                caller = "with no running asyncio event loop"
        else:
            caller = f"by task '{_task_name(task)}'"
        if owner is None:
            state = "but the lock is not held"
        else:
            state = (
                f"but the lock is held by task '{_task_name(owner)}' "
                f"(acquired at {_format_site(self._site)})"
            )
        return TelethonGuardError(
            f"telethon_lock.{what} called {caller} at {_caller_site()} (PID {os.getpid()}) {state}. "
            "Only the task "
            "that acquired the lock may release it, once per acquire: use `async with telethon_lock:` "
            "rather than pairing acquire()/release() by hand across tasks."
        )

    def _release_outermost(self) -> None:
        now = _monotonic()
        held = now - self._since
        if held > COUNTERS.max_hold_s:
            COUNTERS.max_hold_s = held
        # No mutex to free it: a single store, and a task queueing at this very moment re-checks
        # `_owner` after queueing (see _wait), so either it or this release hands the lock on.
        self._owner = None
        if self._waiting:
            with self._mutex:
                if self._owner is None:
                    self._hand_off(now)

    def _hand_off(self, now: float) -> None:
        """Give the free lock to the first live waiter; called with the mutex held."""
        queue = self._queue
        try:
            running: Any = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        while queue:
            waiter = queue.popleft()
            if not waiter.queued:
                continue  # left the queue (cancelled, timed out, deadlocked): lazily dropped here
            waiter.queued = False
            del self._waiting[waiter.task]
            fut, loop = waiter.fut, waiter.loop
            if fut.done() or loop.is_closed():
                continue  # cancelled this instant (its own handler sees it is not the owner)
            self._take(waiter.task, waiter.site, now)
            waited = now - waiter.since
            if waited > COUNTERS.max_wait_s:
                COUNTERS.max_wait_s = waited
            if loop is running:
                fut.set_result(None)
                return
            try:
                loop.call_soon_threadsafe(_wake, fut)
            except RuntimeError:  # its loop closed meanwhile
                self._owner = None
                self._depth = 0
                continue
            return

    async def _wait(
        self, task: asyncio.Task[Any], site: _Site | None, wait_timeout: float | None
    ) -> BaseException | None:
        """Queue ``task`` and wait for the lock; returns the error to raise (timeout, deadlock)."""
        loop = task.get_loop()
        stale: str | None = None
        with self._mutex:
            owner = self._owner
            if owner is not None and _is_dead(owner):
                stale = self._reap_locked(owner)
            if self._owner is None and not self._waiting:
                self._take(task, site, _monotonic())
                waiter = None
            else:
                now = _monotonic()
                waiter = _Waiter(task, loop, site, now)
                self._queue.append(waiter)
                self._waiting[task] = waiter
                if self._owner is None:
                    # Released while we queued (releases do not take the mutex), or the queue holds
                    # only dead waiters: hand it to the head now.
                    self._hand_off(now)
                if loop not in self._ticks:
                    for closed in [lp for lp in self._ticks if lp.is_closed()]:
                        del self._ticks[closed]  # its loop closed before the timer fired
                    self._checks.difference_update(
                        [lp for lp in list(self._checks) if lp.is_closed()]
                    )
                    self._ticks[loop] = loop.call_later(_TICK_S, self._tick, loop)
        if stale is not None:
            _log.error(stale)
        if waiter is None:
            if self._watch_needed:
                self._start_watchdog()
            return None
        if wait_timeout is not None:
            waiter.timer = loop.call_later(wait_timeout, self._time_out, waiter)
        if loop not in self._checks and _monotonic() >= self._check_after:
            self._checks.add(loop)
            loop.call_soon(self._scheduled_check, loop)
        try:
            await waiter.fut
        except BaseException:
            with self._mutex:
                if self._owner is task:
                    # The lock was handed to us as we were cancelled: pass it on, never leak it.
                    self._owner = None
                    self._depth = 0
                    self._site = None
                    if self._waiting:
                        self._hand_off(_monotonic())
                elif waiter.queued:
                    waiter.queued = False
                    del self._waiting[task]
            raise
        finally:
            if waiter.timer is not None:
                waiter.timer.cancel()
        if waiter.error is not None:
            error, waiter.error = waiter.error, None
            return error
        if self._watch_needed:
            self._start_watchdog()
        return None

    def _reap_locked(self, owner: asyncio.Task[Any]) -> str:
        """Free the lock held by a dead task; called with the mutex held. Returns the ERROR to log."""
        how = "finished without releasing it" if owner.done() else "belongs to a closed event loop"
        message = (
            f"telethon_lock (PID {os.getpid()}) was held by task '{_task_name(owner)}' (acquired at "
            f"{_format_site(self._site)}, {_monotonic() - self._since:.3f} s ago), which {how}; "
            "releasing it now. Always hold the lock with `async with telethon_lock:` (or release() in "
            "a `finally:`), and finish tasks before their event loop closes."
        )
        self._owner = None
        self._depth = 0
        self._site = None
        return message

    def _leave_queue(self, waiter: _Waiter, error: BaseException) -> bool:
        """Fail a still-queued waiter with ``error``; called with the mutex held, on its loop."""
        if not waiter.queued:
            return False
        waiter.queued = False
        del self._waiting[waiter.task]
        waiter.error = error
        _wake(waiter.fut)
        return True

    def _time_out(self, waiter: _Waiter) -> None:
        with self._mutex:
            if not waiter.queued:
                return
            owner = self._owner
            waiting = len(self._waiting)
            now = _monotonic()
            if owner is None:  # pragma: no cover - a release in another thread is handing it on
                self._hand_off(now)
                if not waiter.queued:
                    return
                owner = self._owner
            holder = (
                f"task '{_task_name(owner)}', which acquired it at {_format_site(self._site)} "
                f"and has held it for {now - self._since:.3f} s"
            )
            error = LockTimeoutError(
                f"task '{_task_name(waiter.task)}' (at {_format_site(waiter.site)}, PID {os.getpid()}) "
                f"could not acquire telethon_lock within {now - waiter.since:.3f} s: it is held by {holder}; "
                f"{_plural(waiting, 'task')} waiting (this one included). Keep slow work out of the lock "
                "or raise wait_timeout."
            )
            COUNTERS.timeouts += 1
            self._leave_queue(waiter, error)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        """While tasks of ``loop`` wait: free a dead holder's lock and look for deadlocks."""
        stale: str | None = None
        with self._mutex:
            if not any(w.loop is loop for w in self._waiting.values()):
                self._ticks.pop(loop, None)
                return
            owner = self._owner
            if owner is not None and _is_dead(owner):
                stale = self._reap_locked(owner)
                self._hand_off(_monotonic())
        if stale is not None:
            _log.error(stale)
        cost = self._check_deadlocks(loop)
        with self._mutex:
            # Slow down when the walk is costly, so that it never takes more than ~5% of the loop.
            self._ticks[loop] = loop.call_later(max(_TICK_S, 20 * cost), self._tick, loop)

    def _scheduled_check(self, loop: asyncio.AbstractEventLoop) -> None:
        """The deadlock check of the tasks that queued on ``loop`` in the last loop iteration."""
        self._checks.discard(loop)
        cost = self._check_deadlocks(loop)
        self._check_after = _monotonic() + 20 * cost

    def _check_deadlocks(self, loop: asyncio.AbstractEventLoop) -> float:
        """Fail the waiters that the holder is awaiting; runs on ``loop``, the holder's loop or not.

        Returns the seconds the walk of the holder's await graph took.
        """
        holder = self._owner
        if holder is None or holder.get_loop() is not loop or not self._waiting:
            return 0.0  # a task cannot await a task of another loop
        started = _monotonic()
        found = _find_deadlocks(holder, self._waiting)
        cost = _monotonic() - started
        if not found:
            return cost
        with self._mutex:
            if self._owner is not holder:
                return cost
            held = _monotonic() - self._since
            holder_site = _format_site(self._site)
            for task, chain in found.items():
                waiter = self._waiting.get(task)
                if waiter is None:
                    continue
                path = " -> ".join([f"'{_task_name(holder)}'", *chain])
                error = LockDeadlockError(
                    f"deadlock (PID {os.getpid()}): task '{_task_name(task)}' waits for telethon_lock "
                    f"at {_format_site(waiter.site)}, but the task holding it, '{_task_name(holder)}' "
                    f"(acquired at {holder_site}, held {held:.3f} s), is waiting for it. "
                    f"Await chain: {path}. Neither can proceed. Fix: do not await tasks that need "
                    "telethon_lock while holding it (release it first), or make the Telethon calls in "
                    "the holding task itself -- the lock is reentrant for the task that holds it, not "
                    "for tasks it spawns or gathers."
                )
                if self._leave_queue(waiter, error):
                    COUNTERS.deadlocks += 1
        return cost

    # -- the hold warning: one lazily started watchdog thread per lock ---------------------------------------
    def _start_watchdog(self) -> None:
        with self._mutex:
            if self._watching or self._hold_warning_s is None:
                self._watch_needed = False
                return
            self._watching = True
            self._watch_needed = False
        thread = threading.Thread(
            target=self._watch, name="telethon_guard-hold-watchdog", daemon=True
        )
        thread.start()

    def _watch(self) -> None:
        """Warn once per hold longer than hold_warning_s, while it is held; exit when idle."""
        warned: tuple[Any, float] | None = None  # (holder, since): the hold already warned about
        last_seen: float | None = None
        idle_rounds = 0
        while True:
            message = None
            with self._mutex:
                limit = self._hold_warning_s
                owner = self._owner
                since = self._since
                if owner is None and since == last_seen:
                    idle_rounds += 1  # no acquisition since the last round
                else:
                    idle_rounds = 0
                last_seen = since
                if limit is None or idle_rounds >= 2:
                    # Nothing to watch: the next acquisition starts a new watchdog.
                    self._watching = False
                    self._watch_needed = limit is not None
                    return
                timeout = limit
                if owner is not None and warned != (owner, since):
                    held = _monotonic() - since
                    if held < limit:
                        timeout = limit - held
                    else:
                        warned = (owner, since)
                        message = (
                            f"telethon_lock (PID {os.getpid()}) has been held for {held:.1f} s "
                            f"(hold_warning_s={limit:g}) "
                            f"by task '{_task_name(owner)}', which acquired it at "
                            f"{_format_site(self._site)}; {_plural(len(self._waiting), 'task')} "
                            "waiting. Every other Telethon action waits meanwhile: keep slow work "
                            "(long sleeps, FloodWait retries, non-Telethon I/O, waiting for replies) "
                            "out of `async with telethon_lock:`."
                        )
            if message is not None:
                _log.warning(message)
            self._watch_wakeup.wait(timeout)
            self._watch_wakeup.clear()


class _LockContext:
    """``async with telethon_lock(wait_timeout=...)``."""

    __slots__ = ("_lock", "_wait_timeout")

    def __init__(self, lock: TelethonLock, wait_timeout: float | None) -> None:
        self._lock = lock
        self._wait_timeout = wait_timeout

    async def __aenter__(self) -> None:
        await self._lock.acquire(wait_timeout=self._wait_timeout)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._lock.__aexit__(exc_type, exc, tb)

    def __enter__(self) -> NoReturn:
        raise TelethonGuardError(
            f"`with telethon_lock(...):` at {_caller_site()}: telethon_lock is an asyncio lock: "
            "use `async with telethon_lock(...):` inside a coroutine."
        )

    def __exit__(self, *exc: object) -> None:  # pragma: no cover - __enter__ always raises
        return None


_LOCKS: weakref.WeakSet[TelethonLock] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A watchdog thread does not survive fork, and the mutex may have been held by another thread.
    # No task of the parent runs in the child either: asyncio itself forgets the running loop there
    # (asyncio/events.py `_get_running_loop` compares the PID), so the holder and the waiters are
    # dropped. The cached loop must go too: the parent's loop still claims the forking thread's
    # ident, and `_current_task` would answer the parent's task for every task of the child.
    global _last_loop
    _last_loop = None
    for lock in _LOCKS:
        lock._mutex = threading.Lock()
        lock._watch_wakeup = threading.Event()
        lock._watching = False
        lock._watch_needed = lock._hold_warning_s is not None
        lock._ticks.clear()
        lock._checks.clear()
        lock._owner = None
        lock._depth = 0
        lock._site = None
        lock._queue.clear()
        lock._waiting.clear()


if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


#: The one process-wide lock: ``async with telethon_lock:`` around every Telethon action.
telethon_lock = TelethonLock()


def serialized(fn: Callable[_P, Coroutine[Any, Any, _R]]) -> Callable[_P, Coroutine[Any, Any, _R]]:
    """Decorate a coroutine function so that every call runs holding :data:`telethon_lock`.

    ::

        @serialized
        async def send(client, text):
            await client.send_message("BotFather", text)

    The lock is reentrant, so a ``serialized`` function may call another one, or use
    ``async with telethon_lock:`` itself. ``functools.wraps`` keeps the name, docstring and signature;
    the parameters and return type are preserved for type checkers.

    Async generator functions are refused (``TypeError``): holding the lock across ``yield`` would let the
    consumer run arbitrary code -- other Telethon calls, awaits on other tasks -- while holding it, and a
    consumer that stops iterating early would leave it held until the generator is closed or garbage
    collected. Take the lock inside the generator around each Telethon call instead, or collect the items
    under the lock and return a list. Plain (non-async) functions are refused too: there is nothing to
    await, so an asyncio lock cannot be held around them.
    """
    if isinstance(fn, (staticmethod, classmethod)):
        return type(fn)(serialized(fn.__func__))
    name = getattr(fn, "__qualname__", None) or repr(fn)
    if inspect.isasyncgenfunction(fn):
        raise TypeError(
            f"@serialized cannot wrap the async generator function {name}: holding telethon_lock across "
            "`yield` lets the consumer run anything while the lock is held, and a consumer that stops "
            "early leaves it held until the generator is closed. Use `async with telethon_lock:` inside "
            "the generator around each Telethon call instead (or build a list under the lock and return "
            "it)."
        )
    if not inspect.iscoroutinefunction(fn):
        raise TypeError(
            f"@serialized needs an `async def` function, got {name} ({type(fn).__name__}). "
            "telethon_lock is an asyncio lock held across awaits; for a function that returns an "
            "awaitable, define an `async def` that awaits it and decorate that."
        )

    @functools.wraps(fn)
    async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        async with telethon_lock:
            return await fn(*args, **kwargs)

    return wrapper
