"""``FakeTelegram``: the public face of the fake server, and its request log."""

from __future__ import annotations

import asyncio
import difflib
import functools
import inspect
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from telethon import TelegramClient, errors
from telethon.tl import alltlobjects, functions, types
from telethon.tl.tlobject import TLRequest

from . import _botfather
from ._account import Account, Responder
from ._answers import Answers, Context, UnhandledRequestError
from ._sender import FakeSender, new_sender

__all__ = ["FakeTelegram", "RequestRecord", "UnhandledRequestError"]

AnswerFn = Callable[[Any], Any]
_T = TypeVar("_T")

# Requests that wrap another one; the answer (and the name we log) is the inner request's.
_WRAPPERS = (
    functions.InvokeWithLayerRequest,
    functions.InitConnectionRequest,
    functions.InvokeWithoutUpdatesRequest,
    functions.InvokeAfterMsgRequest,
)


@dataclass(eq=False)
class RequestRecord:
    """One request that reached the fake network (``FakeTelegram.requests``).

    Attributes:
        name: TL class name of the request, e.g. ``"SendMessageRequest"``. Wrappers Telethon adds
            (``InvokeWithLayer``/``InitConnection`` on connect, ``InvokeWithoutUpdates``) are looked
            through: ``connect()`` logs ``"GetConfigRequest"``.
        request: the request object as sent (wrappers included).
        task: name of the asyncio task that sent it (``None`` outside a task).
        background: ``True`` when Telethon itself sent it -- the update loop, keep-alive pings,
            auto-reconnect, typing-action loops, update-dispatch internals: only Telethon (or
            telethon-guard) frames on the stack, rooted in a private Telethon coroutine. ``False``
            when user code asked for it, event handlers included, and for a task whose root is a
            public client method (``asyncio.gather(client.send_message(...))``).
        client: index of the client in this backend (0 for the first ``client()``/``attach()``).
        started: ``time.monotonic()`` when the request was sent.
        finished: ``time.monotonic()`` when its answer arrived, or it was cancelled by
            ``disconnect()``; ``None`` while in flight.
        error: the exception the request was answered with, if any (``CancelledError`` when
            ``disconnect()`` cancelled it in flight).
    """

    name: str
    request: Any
    task: str | None
    background: bool
    client: int
    started: float
    finished: float | None = None
    error: BaseException | None = None


def _request_name(request_type: Any) -> str:
    if isinstance(request_type, type):
        return request_type.__name__
    name = str(request_type).rsplit(".", 1)[-1]
    return name if name.endswith("Request") else name + "Request"


def _is_exception_class(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseException)


@functools.lru_cache(maxsize=1)
def _request_names() -> frozenset[str]:
    return frozenset(
        cls.__name__ for cls in alltlobjects.tlobjects.values() if issubclass(cls, TLRequest)
    )


def _inner(request: Any) -> Any:
    while isinstance(request, _WRAPPERS):
        request = request.query
    return request


class FakeTelegram:
    """A fake Telegram server for one account, wired in place of a client's network sender.

    See the :mod:`telethon_guard.testing` module documentation for a tour.
    """

    def __init__(
        self,
        latency: float = 0.0,
        *,
        username: str = "fake_account",
        first_name: str = "Fake",
        last_name: str | None = "Account",
        phone: str = "9996620000",
    ) -> None:
        self.latency = latency
        self._account = Account(username, first_name, last_name, phone)
        #: The account's ``types.User`` (what ``get_me()`` returns).
        self.me: types.User = self._account.me
        #: Every request that reached the fake network, in order (see :class:`RequestRecord`).
        self.requests: list[RequestRecord] = []
        self._answers = Answers(self._account).table()
        self._custom: dict[type, AnswerFn] = {}
        self._failures: list[list[Any]] = []  # [name or type, exception, remaining]
        self._connected: weakref.WeakSet[FakeSender] = weakref.WeakSet()
        self._clients = 0
        self._in_flight = 0
        self._max_in_flight = 0

    # -- public API --------------------------------------------------------------------------------

    @property
    def latency(self) -> float:
        """Seconds between a request's ``send()`` and its answer (also for pushed updates)."""
        return self._latency

    @latency.setter
    def latency(self, value: float) -> None:
        value = float(value)
        if not value >= 0.0:  # also refuses NaN
            raise ValueError(f"latency must be a number of seconds >= 0, got {value!r}")
        self._latency = value

    @property
    def in_flight(self) -> int:
        """Requests sent and not answered yet, over every client of this backend."""
        return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The most requests ever in flight at once since creation or :meth:`reset_stats`."""
        return self._max_in_flight

    def reset_stats(self) -> None:
        """Forget the request log and restart ``max_in_flight`` from what is in flight now."""
        self.requests = []
        self._max_in_flight = self._in_flight

    def client(
        self,
        session: Any = None,
        *,
        client_class: type[TelegramClient] = TelegramClient,
        api_id: int = 1,
        api_hash: str = "0" * 32,
        **kwargs: Any,
    ) -> TelegramClient:
        """A real ``TelegramClient`` (or ``client_class``) on ``session``, wired to this backend.

        ``session`` is what ``TelegramClient`` takes: a path (a real SQLite session file is
        created), a ``Session`` object, or ``None`` (in memory). Other keyword arguments go to the
        client's constructor. The API id and hash are fake.
        """
        return self.attach(client_class(session, api_id, api_hash, **kwargs))

    def attach(self, client: _T) -> _T:
        """Replace the network sender of an existing, not yet connected client; returns it."""
        if not isinstance(client, TelegramClient):
            raise TypeError(f"attach() needs a TelegramClient, got {type(client).__name__}")
        if client.is_connected():
            raise RuntimeError(
                "attach() needs a client that is not connected yet: call backend.attach(client) "
                "before client.connect() / client.start()"
            )
        index = self._clients
        self._clients += 1
        client._sender = new_sender(self, client, index)
        backend, loggers = self, client._log

        async def _create_exported_sender(dc_id: int) -> FakeSender:
            # Another DC (downloads, ...) is this same fake server: never open a real socket.
            sender = FakeSender(backend, index, None, loggers=loggers)
            await sender.connect(None)
            return sender

        client._create_exported_sender = _create_exported_sender
        return client

    def add_user(
        self,
        username: str,
        *,
        bot: bool = False,
        first_name: str | None = None,
        last_name: str | None = None,
        user_id: int | None = None,
    ) -> types.User:
        """Create a user (or bot) resolvable by ``username``; returns its ``types.User``.

        Ids and access hashes are deterministic (a session file written with one backend stays valid
        with a new one, e.g. in the next process). A taken username or id is a ``ValueError``.
        """
        return self._account.add_user(
            username, bot=bot, first_name=first_name, last_name=last_name, user_id=user_id
        )

    def on_message(self, username: str, responder: Responder | None) -> None:
        """Let ``username`` answer what the account sends it.

        ``responder(text)`` returns the reply text, a list of replies, or ``None`` (no reply). Replies
        arrive as updates right after the answer to ``SendMessage`` (``latency`` after the send).
        ``None`` removes the responder.
        """
        uid = self._account.user_id(username)
        if responder is None:
            self._account.responders.pop(uid, None)
        else:
            self._account.responders[uid] = responder

    def add_botfather(self) -> types.User:
        """Add a canned ``@BotFather`` (idempotent) and return it.

        It answers ``/start`` and ``/help``; ``/newbot`` asks for a name, then a username (which must
        end in ``bot`` and be free), then replies ``"Done! ... Use this token to access the HTTP
        API:\\n<id>:<token>..."``; ``/mybots``, ``/token``, ``/cancel``; anything else gets
        ``"Unrecognized command. Say what?"``. Tokens are fake and deterministic per username
        (:meth:`bot_token`); each new bot becomes a resolvable user.
        """
        account = self._account
        key = _botfather.BOTFATHER_USERNAME.lower()
        if key in account.usernames:
            return account.users[account.usernames[key]]
        user = self.add_user(
            _botfather.BOTFATHER_USERNAME,
            bot=True,
            first_name="BotFather",
            user_id=_botfather.BOTFATHER_ID,
        )
        user.verified = True

        def register(username: str, name: str) -> None:
            self.add_user(username, bot=True, first_name=name, user_id=_botfather.bot_id(username))

        account.responders[user.id] = _botfather.BotFatherScript(
            lambda name: name.lower() in account.usernames, register
        )
        return user

    @staticmethod
    def bot_token(username: str) -> str:
        """The token the fake BotFather gives the bot ``username`` (deterministic)."""
        return _botfather.bot_token(username)

    def answer(self, request_type: type, fn: AnswerFn | None) -> None:
        """Answer every ``request_type`` request with ``fn(request)`` (``None`` restores the default).

        ``fn`` returns the TL object Telegram would return (the client receives a copy, as if read
        off the wire) or raises, e.g. an ``RPCError`` subclass. It runs when the request is sent;
        the answer arrives ``latency`` later.
        """
        if not isinstance(request_type, type):
            raise TypeError(
                "answer() needs a request class, e.g. functions.messages.SendMediaRequest"
            )
        if fn is None:
            self._custom.pop(request_type, None)
        else:
            self._custom[request_type] = fn

    def fail_next(
        self, request: str | type, exc: BaseException | type[BaseException], *, times: int = 1
    ) -> None:
        """Make the next ``times`` requests of this kind fail with ``exc``.

        ``request`` is a request class or its name (``"SendMessageRequest"``, ``"SendMessage"`` or
        ``"messages.SendMessage"``). ``exc`` is an exception instance or class; an ``RPCError`` class
        is built with the failing request. The request has no effect (no message is sent). Note that
        Telethon itself sleeps and retries a ``FloodWaitError`` shorter than the client's
        ``flood_sleep_threshold`` (60 s by default): use a longer one to see it raised.
        """
        if times < 1:
            raise ValueError("times must be >= 1")
        if not (isinstance(exc, BaseException) or _is_exception_class(exc)):
            raise TypeError(f"fail_next() needs an exception instance or class, got {exc!r}")
        key = request if isinstance(request, type) else _request_name(request)
        if isinstance(key, str) and key not in _request_names():
            close = difflib.get_close_matches(key, _request_names(), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"fail_next(): Telethon has no request called {request!r}{hint}")
        self._failures.append([key, exc, times])

    def push_message(self, from_username: str, text: str, *, reply_to: int | None = None) -> int:
        """``from_username`` sends the account ``text`` now; returns the new message id.

        Every connected client receives it ``latency`` later as a real update (event handlers and
        conversations see it); it is stored in the history for ``get_messages``.
        """
        account = self._account
        uid = account.user_id(from_username)
        if uid == account.me.id:
            raise ValueError(
                "push_message() needs another user: the account writes with send_message"
            )
        message = account.new_message(uid, text, out=False, reply_to=reply_to)
        self._broadcast(account.new_message_updates(message), None)
        return int(message.id)

    def sent_messages(self, peer_username: str) -> list[str]:
        """Texts the account sent to ``peer_username``, oldest first."""
        uid = self._account.user_id(peer_username)
        return [m.message for m in self._account.history.get(uid, ()) if m.out]

    def history(self, peer_username: str) -> list[types.Message]:
        """The chat with ``peer_username`` as stored by the server, oldest first."""
        return list(self._account.history.get(self._account.user_id(peer_username), ()))

    # -- bookkeeping used by the sender --------------------------------------------------------------

    def _record(
        self, request: Any, sender: FakeSender, background: bool, task: asyncio.Task[Any] | None
    ) -> RequestRecord:
        record = RequestRecord(
            name=type(_inner(request)).__name__,
            request=request,
            task=task.get_name() if task is not None else None,
            background=background,
            client=sender.fake_index,
            started=time.monotonic(),
        )
        self.requests.append(record)
        self._in_flight += 1
        if self._in_flight > self._max_in_flight:
            self._max_in_flight = self._in_flight
        return record

    def _finished(self, record: RequestRecord, error: BaseException | None) -> None:
        self._in_flight -= 1
        record.finished = time.monotonic()
        record.error = error

    def _answer(self, request: Any, sender: FakeSender, followups: list[Any]) -> tuple[Any, bool]:
        """The answer to ``request`` and whether it came from :meth:`answer` (a user function)."""
        inner = _inner(request)
        self._maybe_fail(inner)
        custom = self._custom.get(type(inner))
        if custom is not None:
            result = custom(inner)
            if inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()
                raise TypeError(
                    f"the answer function for {type(inner).__name__} returned an awaitable; "
                    "answer() needs a plain function that returns the TL object"
                )
            return result, True
        builtin = self._answers.get(type(inner))
        if builtin is None:
            raise UnhandledRequestError(self._unhandled_message(inner))
        ctx = Context(lambda update: self._broadcast(update, sender))
        result = builtin(inner, ctx)
        followups.extend(ctx.followups)
        return result, False

    def _maybe_fail(self, request: Any) -> None:
        name = type(request).__name__
        for failure in self._failures:
            key, exc, _ = failure
            if isinstance(request, key) if isinstance(key, type) else key == name:
                failure[2] -= 1
                if failure[2] == 0:
                    self._failures.remove(failure)
                if isinstance(exc, type):
                    try:
                        exc = exc(request=request)
                    except TypeError:
                        exc = exc()
                elif isinstance(exc, errors.RPCError) and getattr(exc, "request", None) is None:
                    exc.request = request
                raise exc

    @staticmethod
    def _unhandled_message(request: Any) -> str:
        cls = type(request)
        module = cls.__module__.replace("telethon.tl.", "")
        task = asyncio.current_task()
        where = f" (sent by task {task.get_name()!r})" if task is not None else ""
        return (
            f"FakeTelegram has no answer for {module}.{cls.__name__}{where}. Tell it what Telegram "
            f"would return: backend.answer(telethon.tl.{module}.{cls.__name__}, lambda request: ...) "
            "returning the TL object (or raising an RPCError to simulate a failure)."
        )

    def _broadcast(self, update: Any, sender: FakeSender | None) -> None:
        """Send ``update`` to every connected client except ``sender`` (other sessions)."""
        for other in list(self._connected):
            if other is not sender:
                other.push_update(update)
