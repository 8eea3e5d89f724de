"""The fake network sender that replaces ``TelegramClient._sender``.

Telethon 1.45 talks to the sender through a small surface (read in the installed sources):
``connect(connection)`` / ``disconnect()`` / ``is_connected()`` / ``disconnected``
(client/telegrambaseclient.py:560-571, :765), ``send(request, ordered)`` returning a future or a list of
futures (client/users.py:72), ``auth_key`` (client/telegrambaseclient.py:571) and, from the keep-alive
loop, ``_transport_connected()`` / ``_keepalive_ping(id)`` (client/updates.py:538-544). Updates reach
the client by ``put_nowait`` on the queue it handed to the sender (network/mtprotosender.py:705), and
results that carry ``pts`` are queued there too, flagged ``_self_outgoing``
(network/mtprotosender.py:707-747), so the message box stays in step.

Everything else above the sender -- ``_call``, ``resolve()``, entity caching, the update loop -- is
Telethon's own code.
"""

from __future__ import annotations

import asyncio
import collections
import os
import struct
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from telethon import utils
from telethon.extensions import BinaryReader
from telethon.network.mtprotosender import MTProtoSender
from telethon.tl import types
from telethon.tl.functions import PingRequest
from telethon.tl.tlobject import TLObject

if TYPE_CHECKING:
    from ._backend import FakeTelegram, RequestRecord

# A frame from one of these directories is library code; any other frame on the stack of a
# ``send()`` means user code asked for the request (see ``RequestRecord.background``).
_LIBRARY_DIRS = (
    *(
        os.path.dirname(os.path.abspath(module.__file__ or "")) + os.sep
        for module in (
            sys.modules["telethon"],
            sys.modules["asyncio"],
            sys.modules[__name__.rsplit(".", 2)[0]],  # telethon_guard
        )
    ),
    os.path.abspath(sys.modules["contextlib"].__file__ or "x"),
)

_TELETHON_DIR, _ASYNCIO_DIR = _LIBRARY_DIRS[0], _LIBRARY_DIRS[1]
_VECTOR = struct.pack("<I", 0x1CB5C415)
_BOOL_TRUE = struct.pack("<I", 0x997275B5)
_BOOL_FALSE = struct.pack("<I", 0xBC799737)
_CLOCK_SLACK = time.get_clock_info("monotonic").resolution


def _tl_bytes(value: Any) -> bytes:
    """Serialise an answer the way Telegram would put it on the wire (TypeError if we cannot)."""
    if isinstance(value, TLObject):
        return bytes(value)
    if isinstance(value, bool):
        return _BOOL_TRUE if value else _BOOL_FALSE
    if isinstance(value, list) and all(isinstance(v, (TLObject, bool)) for v in value):
        return _VECTOR + struct.pack("<i", len(value)) + b"".join(_tl_bytes(v) for v in value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def wire_copy(request: Any, value: Any) -> Any:
    """The answer as the client would read it off the wire: a fresh object of the declared type.

    A real sender builds results with ``request.read_result`` (network/mtprotosender.py:646), so the
    client never shares objects with the server; neither may it share them with the backend's history.
    Plain numbers and lists of them (``Vector<long>`` answers) are handed over as they are; anything
    else that is not a TL object is a ``TypeError``.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return list(value)
    data = _tl_bytes(value)
    with BinaryReader(data) as reader:
        if request is None:
            return reader.tgread_object()
        return request.read_result(reader)


def fast_copy(value: Any) -> Any:
    """A fresh copy of a TL object tree the server built itself (known to be well formed).

    Same isolation as :func:`wire_copy` -- no object shared with the server's history or with another
    client -- at a fraction of the cost of Telethon's pure-Python serialise-and-parse.
    """
    if isinstance(value, TLObject):
        copy = object.__new__(type(value))
        copy.__dict__.update({key: fast_copy(item) for key, item in value.__dict__.items()})
        return copy
    if isinstance(value, list):
        return [fast_copy(item) for item in value]
    return value  # str, bytes, int, bool, float, datetime, None: immutable


# Whether a code object is a private Telethon coroutine, keyed by id(code) (hashing a code object hashes
# its bytecode); the code object is kept in the value so its id stays its own.
_private_roots: dict[int, tuple[Any, bool]] = {}


def _private_root(code: Any) -> bool:
    entry = _private_roots.get(id(code))
    if entry is None:
        name = getattr(code, "co_name", "")
        private = (
            getattr(code, "co_filename", "").startswith(_TELETHON_DIR)
            and name.startswith("_")
            and not name.startswith("__")
        )
        entry = (code, private)
        if (
            len(_private_roots) < 1 << 16
        ):  # code made at run time (exec, lambdas) is not kept past it
            _private_roots[id(code)] = entry
    return entry[1]


def _is_background(task: asyncio.Task[Any] | None, frame: Any) -> bool:
    """True when Telethon itself asked for this ``send()`` (made from ``frame`` in ``task``), not user code.

    Walk the task's coroutine chain up to the event loop (asyncio frames: beyond them is whoever runs
    the loop). Any frame outside Telethon and telethon_guard is user code (event handlers included).
    A chain of library frames only is Telethon's own work when its root is a private Telethon
    coroutine (``_update_loop``, ``_keepalive_loop``, ``_handle_auto_reconnect``, the typing loop,
    ``_dispatch_update``); a task whose root is a public method (``gather(client.send_message(...))``)
    was the user's.

    A task whose root coroutine is not a private Telethon coroutine (every user task: the common case)
    is answered from that root alone, without walking (and so materialising) the frames between
    ``send()`` and the user's code -- Telethon's ``_call``, and the guard's wrapper when it is installed.

    This stays separate from the guard's classifier (``guard._action_of``) on purpose: the backend also
    sees requests that never pass ``_call`` (connect's first request, keep-alive pings) and works with
    the guard uninstalled, and ``RequestRecord.background`` is documented by frames (a callback-query
    auto-answer, rooted in the public ``answer()``, is ``False`` here though the guard exempts it as
    Telethon's own work). Sharing the guard's tables would tie the record's meaning to the guard's
    policy and need Telethon's classes loaded before the guard is installed.
    """
    if task is not None:
        code = getattr(task.get_coro(), "cr_code", None)
        if code is not None and not _private_root(code):
            return False
    root = None
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(_ASYNCIO_DIR):
            break
        if not filename.startswith(_LIBRARY_DIRS):
            return False
        root = frame
        frame = frame.f_back
    if root is None:
        return False
    return _private_root(root.f_code)


class _Pending:
    """One request between ``send()`` and its answer."""

    __slots__ = ("error", "future", "record", "request", "result")

    def __init__(self, request: Any, record: RequestRecord) -> None:
        self.request = request
        self.record = record
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.result: Any = None
        self.error: BaseException | None = None


class FakeSender(MTProtoSender):
    """An ``MTProtoSender`` whose "network" is a :class:`~telethon_guard.testing.FakeTelegram`.

    It stays an ``MTProtoSender`` so code that checks the type keeps working; every method the
    client uses is overridden, and none of them opens a socket.
    """

    _user_connected: bool
    _ping: int | None

    def __init__(self, backend: FakeTelegram, index: int, auth_key: Any, **kwargs: Any) -> None:
        super().__init__(auth_key, **kwargs)
        self._fk_backend = backend
        self.fake_index = index
        self._fk_loop: asyncio.AbstractEventLoop | None = None
        # Answers and updates leave in the order they were produced: one ordered queue per client,
        # like one TCP connection, so ``pts`` always arrive in sequence (no gaps for the message box).
        self._fk_queue: collections.deque[tuple[float, Callable[[], None]]] = collections.deque()
        self._fk_last_due = 0.0
        self._fk_timer: asyncio.Handle | None = None
        self._fk_pending: set[_Pending] = set()
        self._fk_disconnected: asyncio.Future[None] | None = None

    # -- the surface TelegramClient uses ----------------------------------------------------------

    async def connect(self, connection: Any) -> bool:
        if self._user_connected:
            return False
        loop = asyncio.get_running_loop()
        self._fk_loop = loop
        self._connection = connection  # kept for client.set_proxy(); never opened
        if not self.auth_key:
            # A fresh session "generates" an auth key: random bytes, saved by the client like a real one.
            self.auth_key.key = os.urandom(256)
            if self._auth_key_callback:
                await self._auth_key_callback(self.auth_key)
        self._user_connected = True
        self._ping = None
        if self._fk_disconnected is None or self._fk_disconnected.done():
            self._fk_disconnected = loop.create_future()
        self._fk_backend._connected.add(self)
        return True

    def is_connected(self) -> bool:
        return bool(self._user_connected)

    def _transport_connected(self) -> bool:
        return bool(self._user_connected)

    async def disconnect(self) -> None:
        self._fk_shutdown()

    @property
    def disconnected(self) -> asyncio.Future[None]:
        return asyncio.shield(self._fk_disconnected_future())

    @property
    def _disconnected(self) -> asyncio.Future[None]:
        return self._fk_disconnected_future()

    def _fk_disconnected_future(self) -> asyncio.Future[None]:
        if self._fk_disconnected is None:
            self._fk_disconnected = asyncio.get_running_loop().create_future()
            self._fk_disconnected.set_result(None)
        return self._fk_disconnected

    def _keepalive_ping(self, rnd_id: int) -> None:
        # Same contract as network/mtprotosender.py:453: one ping outstanding; the fake never drops
        # the connection, so a missing pong cannot happen.
        if self._ping is None:
            self._ping = rnd_id
            self.send(PingRequest(rnd_id))

    def _start_reconnect(self, error: BaseException | None) -> None:
        """The fake connection never breaks, so there is nothing to reconnect."""

    def send(self, request: Any, ordered: bool = False) -> Any:
        if not self._user_connected:
            raise ConnectionError("Cannot send requests while disconnected")
        task = asyncio.current_task()
        background = _is_background(task, sys._getframe(1))
        if utils.is_list_like(request):
            return [self._fk_send_one(r, background, task) for r in request]
        return self._fk_send_one(request, background, task)

    # -- internals --------------------------------------------------------------------------------

    def _fk_send_one(
        self, request: Any, background: bool, task: asyncio.Task[Any] | None
    ) -> asyncio.Future[Any]:
        bytes(request)  # a real sender serialises at once (network/requeststate.py:16): same errors
        backend = self._fk_backend
        record = backend._record(request, self, background, task)
        pending = _Pending(request, record)
        self._fk_pending.add(pending)
        followups: list[Any] = []
        try:
            answer, custom = backend._answer(request, self, followups)
        except Exception as exc:
            pending.error = exc
        else:
            # Copied now: the answer is what the server state was when it answered. A custom
            # answer goes through the wire format, which also checks it is a well-formed TL object.
            try:
                pending.result = wire_copy(request, answer) if custom else fast_copy(answer)
            except Exception as exc:
                pending.error = TypeError(
                    f"FakeTelegram could not serialise its answer to {record.name} "
                    f"({type(answer).__name__}) as Telegram would send it: {exc}"
                )
        updates = [fast_copy(update) for update in followups]
        self._fk_schedule(backend.latency, lambda: self._fk_deliver(pending, updates))
        return pending.future

    def _fk_deliver(self, pending: _Pending, followups: list[Any]) -> None:
        self._fk_pending.discard(pending)
        self._fk_backend._finished(pending.record, pending.error)
        future = pending.future
        if pending.error is not None:
            if not future.done():
                future.set_exception(pending.error)
        else:
            result = pending.result
            if isinstance(result, types.Pong) and self._ping == result.ping_id:
                self._ping = None
            self._fk_store_own_updates(result)
            if not future.done():
                future.set_result(result)
        for update in followups:
            self._fk_put_update(update)

    def _fk_store_own_updates(self, result: Any) -> None:
        store = getattr(super(), "_store_own_updates", None)
        if store is not None:
            store(result)  # network/mtprotosender.py:707 -- the client's own bookkeeping
            return
        if getattr(result, "SUBCLASS_OF_ID", None) == 0x8AF52AAC:  # older Telethon: same idea
            result._self_outgoing = True
            self._updates_queue.put_nowait(result)

    def _fk_put_update(self, update: Any) -> None:
        if self._user_connected and self._updates_queue is not None:
            self._updates_queue.put_nowait(update)

    def push_update(self, update: Any) -> None:
        """Deliver ``update`` to this client after the backend's latency, after earlier answers."""
        copy = fast_copy(update)  # each client reads its own objects off the wire
        self._fk_schedule(self._fk_backend.latency, lambda: self._fk_put_update(copy))

    def _fk_schedule(self, delay: float, callback: Callable[[], None]) -> None:
        loop = self._fk_loop
        if loop is None or loop.is_closed():
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if (
            running is not loop
        ):  # e.g. push_message() from another thread: hop onto the client's loop
            loop.call_soon_threadsafe(self._fk_schedule, delay, callback)
            return
        due = max(loop.time() + delay, self._fk_last_due)
        self._fk_last_due = due
        self._fk_queue.append((due, callback))
        if self._fk_timer is None:
            self._fk_arm(loop)

    def _fk_arm(self, loop: asyncio.AbstractEventLoop) -> None:
        due = self._fk_queue[0][0]
        if due <= loop.time():
            self._fk_timer = loop.call_soon(self._fk_run)
        else:
            self._fk_timer = loop.call_at(due, self._fk_run)

    def _fk_run(self) -> None:
        self._fk_timer = None
        loop = self._fk_loop
        assert loop is not None
        now = loop.time() + _CLOCK_SLACK
        queue = self._fk_queue
        while queue and queue[0][0] <= now:
            try:
                queue.popleft()[1]()
            except Exception as exc:  # never let one bad delivery stall the ones behind it
                loop.call_exception_handler(
                    {"message": "FakeTelegram failed to deliver an answer", "exception": exc}
                )
        if queue:
            self._fk_arm(loop)

    def _fk_shutdown(self) -> None:
        """Disconnect: cancel what is in flight, like network/mtprotosender.py:331-362."""
        self._user_connected = False
        self._fk_backend._connected.discard(self)
        if self._fk_timer is not None:
            self._fk_timer.cancel()
            self._fk_timer = None
        self._fk_queue.clear()
        self._fk_last_due = 0.0  # a cancelled slow answer must not hold up the next connection
        for pending in self._fk_pending:
            self._fk_backend._finished(pending.record, asyncio.CancelledError())
            pending.future.cancel()
        self._fk_pending.clear()
        self._connection = None
        if self._fk_disconnected is not None and not self._fk_disconnected.done():
            self._fk_disconnected.set_result(None)


def new_sender(backend: FakeTelegram, client: Any, index: int) -> FakeSender:
    """A fake sender wired to ``client`` exactly as client/telegrambaseclient.py:435 wires the real one."""
    return FakeSender(
        backend,
        index,
        client.session.auth_key,
        loggers=client._log,
        retries=client._connection_retries,
        delay=client._retry_delay,
        auto_reconnect=client._auto_reconnect,
        connect_timeout=client._timeout,
        auth_key_callback=client._auth_key_callback,
        updates_queue=client._updates_queue,
        auto_reconnect_callback=client._handle_auto_reconnect,
    )


__all__ = ["FakeSender", "new_sender", "wire_copy"]
