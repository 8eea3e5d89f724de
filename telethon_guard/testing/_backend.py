"""The fake Telegram account: users, message history, ``pts``, and the answers to requests."""

from __future__ import annotations

import asyncio
import bisect
import datetime
import hashlib
import inspect
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from telethon import TelegramClient, errors
from telethon.tl import functions, types

from . import _botfather
from ._sender import FakeSender, new_sender

__all__ = ["FakeTelegram", "RequestRecord", "UnhandledRequestError"]

Responder = Callable[[str], str | Sequence[str] | None]
AnswerFn = Callable[[Any], Any]
_T = TypeVar("_T")

# Requests that wrap another one; the answer (and the name we log) is the inner request's.
_WRAPPERS = (
    functions.InvokeWithLayerRequest,
    functions.InitConnectionRequest,
    functions.InvokeWithoutUpdatesRequest,
    functions.InvokeAfterMsgRequest,
)
_MAX_DIFFERENCE = (
    1000  # more pending updates than this: updates.differenceTooLong, as Telegram does
)
_MAX_MESSAGE = 4096


class UnhandledRequestError(NotImplementedError):
    """The fake backend has no answer for a request; the message says how to add one."""


@dataclass(eq=False)
class RequestRecord:
    """One request that reached the fake network (``FakeTelegram.requests``).

    Attributes:
        name: TL class name of the request, e.g. ``"SendMessageRequest"``. Wrappers Telethon adds
            (``InvokeWithLayer``/``InitConnection`` on connect, ``InvokeWithoutUpdates``) are looked
            through: ``connect()`` logs ``"GetConfigRequest"``.
        request: the request object as sent (wrappers included).
        task: name of the asyncio task that sent it (``None`` outside a task).
        background: ``True`` when only Telethon (or telethon-guard) code was on the stack of the
            send -- Telethon's update loop, keep-alive pings, typing-action loops; ``False`` when
            user code (including an event handler) asked for it.
        client: index of the client in this backend (0 for the first ``client()``/``attach()``).
        started: ``time.monotonic()`` when the request was sent.
        finished: ``time.monotonic()`` when its answer arrived, or it was cancelled by
            ``disconnect()``; ``None`` while in flight.
        error: the exception the request was answered with, if any.
    """

    name: str
    request: Any
    task: str | None
    background: bool
    client: int
    started: float
    finished: float | None = None
    error: BaseException | None = None


def _stable_int(label: str, low: int, high: int) -> int:
    digest = hashlib.sha256(label.encode()).digest()
    return low + int.from_bytes(digest[:8], "big") % (high - low)


def _access_hash(user_id: int) -> int:
    digest = hashlib.sha256(f"fake-access-hash:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_SIGNATURES: dict[type, frozenset[str]] = {}


def _make(cls: Callable[..., _T], **fields: Any) -> _T:
    """Build a TL object, dropping fields this Telethon layer does not have."""
    names = _SIGNATURES.get(cls)  # type: ignore[call-overload]
    if names is None:
        names = _SIGNATURES[cls] = frozenset(inspect.signature(cls).parameters)  # type: ignore[index]
    return cls(**{k: v for k, v in fields.items() if k in names})


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.timezone.utc).replace(microsecond=0)


def _timestamp(value: Any) -> float | None:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()
    return None


def _request_name(request_type: Any) -> str:
    if isinstance(request_type, type):
        return request_type.__name__
    name = str(request_type).rsplit(".", 1)[-1]
    return name if name.endswith("Request") else name + "Request"


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
        uid = _stable_int(f"fake-user:{username.lower()}", 1_000_000_000, 7_000_000_000)
        self.me: types.User = types.User(
            id=uid,
            is_self=True,
            access_hash=_access_hash(uid),
            first_name=first_name,
            last_name=last_name,
            username=username,
            phone=phone,
        )
        self.requests: list[RequestRecord] = []
        self._users: dict[int, types.User] = {uid: self.me}
        self._usernames: dict[str, int] = {username.lower(): uid}
        self._responders: dict[int, Responder] = {}
        self._botfather: _botfather.BotFatherScript | None = None
        self._history: dict[int, list[types.Message]] = {}
        self._messages: dict[int, types.Message] = {}
        self._read_inbox: dict[int, int] = {}
        self._read_outbox: dict[int, int] = {}
        self._incoming: dict[int, list[int]] = {}  # peer -> ids of messages it sent us, ascending
        self._last_message_id = 0
        self._pts = 1
        self._log_pts: list[int] = []  # pts of each entry of _log, ascending (for GetDifference)
        self._log: list[Any] = []  # a Message (new_messages) or an Update (other_updates)
        self._answers: dict[type, Callable[[Any, _Context], Any]] = self._builtin_answers()
        self._custom: dict[type, AnswerFn] = {}
        self._failures: list[list[Any]] = []  # [name or type, exception, remaining]
        self._connected: weakref.WeakSet[FakeSender] = weakref.WeakSet()
        self._clients = 0
        self._in_flight = 0
        self._max_in_flight = 0
        self._config: types.Config | None = None

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
        """Create a user (or bot) that can be resolved by ``username``. Ids are deterministic."""
        key = username.lower().removeprefix("@")
        if key in self._usernames:
            raise ValueError(f"FakeTelegram already has a user @{username}")
        uid = user_id or _stable_int(f"fake-user:{key}", 1_000_000_000, 7_000_000_000)
        if uid in self._users:
            raise ValueError(f"FakeTelegram already has a user with id {uid}")
        user = types.User(
            id=uid,
            access_hash=_access_hash(uid),
            first_name=first_name if first_name is not None else username.removeprefix("@"),
            last_name=last_name,
            username=username.removeprefix("@"),
            bot=bot or None,
            bot_info_version=1 if bot else None,
        )
        self._users[uid] = user
        self._usernames[key] = uid
        return user

    def on_message(self, username: str, responder: Responder | None) -> None:
        """Let ``username`` answer what the account sends it.

        ``responder(text)`` returns the reply text, a list of replies, or ``None`` (no reply). Replies
        arrive as updates right after the answer to ``SendMessage`` (``latency`` after the send).
        ``None`` removes the responder.
        """
        uid = self._user_id(username)
        if responder is None:
            self._responders.pop(uid, None)
        else:
            self._responders[uid] = responder

    def add_botfather(self) -> types.User:
        """Add a canned ``@BotFather`` (idempotent) and return it.

        It answers ``/start`` and ``/help``; ``/newbot`` asks for a name, then a username (which must
        end in ``bot`` and be free), then replies ``"Done! ... Use this token to access the HTTP
        API:\\n<id>:<token>..."``; ``/mybots``, ``/token``, ``/cancel``; anything else gets
        ``"Unrecognized command. Say what?"``. Tokens are fake and deterministic per username
        (:meth:`bot_token`); each new bot becomes a resolvable user.
        """
        key = _botfather.BOTFATHER_USERNAME.lower()
        if key in self._usernames:
            return self._users[self._usernames[key]]
        user = self.add_user(
            _botfather.BOTFATHER_USERNAME,
            bot=True,
            first_name="BotFather",
            user_id=_botfather.BOTFATHER_ID,
        )
        user.verified = True

        def register(username: str, name: str) -> None:
            self.add_user(username, bot=True, first_name=name, user_id=_botfather.bot_id(username))

        self._botfather = _botfather.BotFatherScript(
            lambda name: name.lower() in self._usernames, register
        )
        self._responders[user.id] = self._botfather
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
        key = request if isinstance(request, type) else _request_name(request)
        self._failures.append([key, exc, times])

    def push_message(self, from_username: str, text: str, *, reply_to: int | None = None) -> int:
        """``from_username`` sends the account ``text`` now; returns the new message id.

        Every connected client receives it ``latency`` later as a real update (event handlers and
        conversations see it); it is stored in the history for ``get_messages``.
        """
        uid = self._user_id(from_username)
        message = self._new_message(uid, text, out=False, reply_to=reply_to)
        self._broadcast(self._new_message_updates(message), None)
        return int(message.id)

    def sent_messages(self, peer_username: str) -> list[str]:
        """Texts the account sent to ``peer_username``, oldest first."""
        uid = self._user_id(peer_username)
        return [m.message for m in self._history.get(uid, ()) if m.out]

    def history(self, peer_username: str) -> list[types.Message]:
        """The chat with ``peer_username`` as stored by the server, oldest first."""
        return list(self._history.get(self._user_id(peer_username), ()))

    # -- bookkeeping used by the sender --------------------------------------------------------------

    def _record(self, request: Any, sender: FakeSender, background: bool) -> RequestRecord:
        task = asyncio.current_task()
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

    def _answer(self, request: Any, sender: FakeSender, followups: list[Any]) -> Any:
        inner = _inner(request)
        self._maybe_fail(inner)
        custom = self._custom.get(type(inner))
        if custom is not None:
            return custom(inner)
        builtin = self._answers.get(type(inner))
        if builtin is None:
            raise UnhandledRequestError(self._unhandled_message(inner))
        return builtin(inner, _Context(sender, followups))

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

    # -- the account's state -------------------------------------------------------------------------

    def _user_id(self, username: str) -> int:
        key = username.lower().removeprefix("@")
        if key in ("me", "self"):
            return int(self.me.id)
        try:
            return self._usernames[key]
        except KeyError:
            raise KeyError(
                f"FakeTelegram has no user @{username}; add it first with "
                f"backend.add_user({username!r}) (or backend.add_botfather())"
            ) from None

    def _peer_user(self, peer: Any, request: Any) -> int:
        """The user id an input peer designates; RPC errors as Telegram gives them."""
        if isinstance(peer, (types.InputPeerSelf, types.InputUserSelf)):
            return int(self.me.id)
        if isinstance(peer, (types.InputPeerUser, types.InputUser)):
            user = self._users.get(peer.user_id)
            if user is None or user.access_hash != peer.access_hash:
                raise errors.PeerIdInvalidError(request=request)
            return int(peer.user_id)
        if isinstance(peer, (types.InputPeerUserFromMessage, types.InputUserFromMessage)):
            if peer.user_id in self._users:
                return int(peer.user_id)
        # Only private chats with users are modelled (no groups or channels).
        raise errors.PeerIdInvalidError(request=request)

    def _next_pts(self, count: int, entry: Any) -> int:
        self._pts += count
        self._log_pts.append(self._pts)
        self._log.append(entry)
        return self._pts

    def _new_message(
        self,
        peer_id: int,
        text: str,
        *,
        out: bool,
        entities: Any = None,
        reply_to: int | None = None,
    ) -> types.Message:
        self._last_message_id += 1
        message = types.Message(
            id=self._last_message_id,
            peer_id=types.PeerUser(peer_id),
            date=_now(),
            message=text,
            out=out or peer_id == self.me.id,
            # Layer 119+: outgoing private messages carry from_id, incoming ones do not.
            from_id=types.PeerUser(self.me.id) if out else None,
            entities=entities or None,
            reply_to=types.MessageReplyHeader(reply_to_msg_id=reply_to) if reply_to else None,
        )
        message.pts = self._next_pts(1, message)
        self._history.setdefault(peer_id, []).append(message)
        self._messages[message.id] = message
        if not message.out:
            self._incoming.setdefault(peer_id, []).append(message.id)
        return message

    def _users_for(self, peer_ids: Any) -> list[types.User]:
        ids = dict.fromkeys([int(self.me.id), *peer_ids])
        return [self._users[i] for i in ids if i in self._users]

    def _new_message_updates(self, message: types.Message) -> types.Updates:
        return types.Updates(
            updates=[types.UpdateNewMessage(message, message.pts, 1)],
            users=self._users_for([message.peer_id.user_id]),
            chats=[],
            date=message.date,
            seq=0,
        )

    def _broadcast(self, update: Any, sender: FakeSender | None) -> None:
        """Send ``update`` to every connected client except ``sender`` (other sessions)."""
        for other in list(self._connected):
            if other is not sender:
                other.push_update(update)

    def _unread(self, peer: int) -> int:
        ids = self._incoming.get(peer, ())
        return len(ids) - bisect.bisect_right(ids, self._read_inbox.get(peer, 0))

    def _state(self) -> types.updates.State:
        unread = sum(self._unread(peer) for peer in self._incoming)
        return types.updates.State(pts=self._pts, qts=0, date=_now(), seq=0, unread_count=unread)

    # -- canned answers ------------------------------------------------------------------------------

    def _builtin_answers(self) -> dict[type, Callable[[Any, _Context], Any]]:
        f = functions
        return {
            f.help.GetConfigRequest: self._get_config,
            f.PingRequest: lambda r, c: types.Pong(msg_id=0, ping_id=r.ping_id),
            f.PingDelayDisconnectRequest: lambda r, c: types.Pong(msg_id=0, ping_id=r.ping_id),
            f.users.GetUsersRequest: self._get_users,
            f.contacts.ResolveUsernameRequest: self._resolve_username,
            f.updates.GetStateRequest: lambda r, c: self._state(),
            f.updates.GetDifferenceRequest: self._get_difference,
            f.updates.GetChannelDifferenceRequest: lambda r, c: (
                types.updates.ChannelDifferenceEmpty(pts=max(r.pts, 1), final=True)
            ),
            f.messages.SendMessageRequest: self._send_message,
            f.messages.GetHistoryRequest: self._get_history,
            f.messages.SearchRequest: self._get_history,
            f.messages.GetMessagesRequest: self._get_messages,
            f.messages.GetDialogsRequest: self._get_dialogs,
            f.messages.ReadHistoryRequest: self._read_history,
            f.messages.SetTypingRequest: lambda r, c: True,
            f.messages.EditMessageRequest: self._edit_message,
            f.messages.DeleteMessagesRequest: self._delete_messages,
        }

    def _get_config(self, request: Any, ctx: _Context) -> types.Config:
        if self._config is None:
            now = _now()
            dcs = [
                types.DcOption(id=i, ip_address=ip, port=443)
                for i, ip in enumerate(
                    (
                        "149.154.175.53",
                        "149.154.167.51",
                        "149.154.175.100",
                        "149.154.167.91",
                        "91.108.56.130",
                    ),
                    start=1,
                )
            ]
            self._config = _make(
                types.Config,
                date=now, expires=now + datetime.timedelta(hours=1), test_mode=False, this_dc=2,
                dc_options=dcs, dc_txt_domain_name="apv3.stel.com", chat_size_max=200,
                megagroup_size_max=200000, forwarded_count_max=100, online_update_period_ms=210000,
                offline_blur_timeout_ms=5000, offline_idle_timeout_ms=30000,
                online_cloud_timeout_ms=300000, notify_cloud_delay_ms=30000,
                notify_default_delay_ms=1500, push_chat_period_ms=60000, push_chat_limit=2,
                edit_time_limit=172800, revoke_time_limit=2147483647,
                revoke_pm_time_limit=2147483647, rating_e_decay=2419200,
                stickers_recent_limit=200, channels_read_media_period=604800,
                call_receive_timeout_ms=20000, call_ring_timeout_ms=90000,
                call_connect_timeout_ms=30000, call_packet_timeout_ms=10000,
                me_url_prefix="https://t.me/", caption_length_max=1024,
                message_length_max=_MAX_MESSAGE, webfile_dc_id=4,
            )  # fmt: skip
        return self._config

    def _get_users(self, request: Any, ctx: _Context) -> list[types.User]:
        found = []
        for peer in request.id:
            try:
                found.append(self._users[self._peer_user(peer, request)])
            except errors.PeerIdInvalidError:
                continue  # users.getUsers silently leaves out what it cannot see
        return found

    def _resolve_username(self, request: Any, ctx: _Context) -> Any:
        uid = self._usernames.get(request.username.lower().removeprefix("@"))
        if uid is None:
            raise errors.UsernameNotOccupiedError(request=request)
        return types.contacts.ResolvedPeer(
            peer=types.PeerUser(uid), chats=[], users=[self._users[uid]]
        )

    def _get_difference(self, request: Any, ctx: _Context) -> Any:
        if request.pts == self._pts:
            return types.updates.DifferenceEmpty(date=_now(), seq=0)
        limit = request.pts_total_limit or _MAX_DIFFERENCE
        if request.pts > self._pts or self._pts - request.pts > limit:
            # A state from elsewhere (an old session file) or too far behind: start over from now.
            return types.updates.DifferenceTooLong(pts=self._pts)
        start = bisect.bisect_right(self._log_pts, request.pts)
        entries = self._log[start:]
        new_messages = [
            e for e in entries if isinstance(e, types.Message) and e.id in self._messages
        ]
        other_updates = [e for e in entries if not isinstance(e, types.Message)]
        peers = {m.peer_id.user_id for m in new_messages}
        return types.updates.Difference(
            new_messages=new_messages,
            new_encrypted_messages=[],
            other_updates=other_updates,
            chats=[],
            users=self._users_for(peers),
            state=self._state(),
        )

    def _send_message(self, request: Any, ctx: _Context) -> types.UpdateShortSentMessage:
        peer = self._peer_user(request.peer, request)
        text = request.message
        if not text.strip():
            raise errors.MessageEmptyError(request=request)
        if len(text) > _MAX_MESSAGE:
            raise errors.MessageTooLongError(request=request)
        responder = self._responders.get(peer)
        replies = responder(text) if responder is not None else None
        if isinstance(replies, str):
            replies = [replies]
        reply_to = getattr(request.reply_to, "reply_to_msg_id", None)
        sent = self._new_message(peer, text, out=True, entities=request.entities, reply_to=reply_to)
        self._broadcast(self._new_message_updates(sent), ctx.sender)
        for reply in replies or ():
            if reply:
                message = self._new_message(peer, reply, out=False)
                update = self._new_message_updates(message)
                ctx.followups.append(update)
                self._broadcast(update, ctx.sender)
        return types.UpdateShortSentMessage(
            out=True,
            id=sent.id,
            pts=sent.pts,
            pts_count=1,
            date=sent.date,
            entities=request.entities or None,
        )

    def _get_history(self, request: Any, ctx: _Context) -> Any:
        peer = self._peer_user(request.peer, request)
        messages = [
            m
            for m in reversed(self._history.get(peer, ()))
            if (not request.min_id or m.id > request.min_id)
            and (not request.max_id or m.id < request.max_id)
        ]
        query = getattr(request, "q", "")
        if query:
            messages = [m for m in messages if query.lower() in m.message.lower()]
        if isinstance(request, functions.messages.SearchRequest):
            if not isinstance(request.filter, types.InputMessagesFilterEmpty):
                raise UnhandledRequestError(
                    "FakeTelegram's messages.Search only supports text search "
                    "(InputMessagesFilterEmpty); use backend.answer() for media filters"
                )
            if request.from_id is not None:
                sender = self._peer_user(request.from_id, request)
                messages = [m for m in messages if (m.out if sender == self.me.id else not m.out)]
            offset_date = request.max_date
        else:
            offset_date = request.offset_date
        # Newest first. offset_id / offset_date pick the first message older than them, add_offset
        # moves from there (negative: towards newer messages), limit caps the page.
        start = 0
        if request.offset_id:
            start = sum(1 for m in messages if m.id >= request.offset_id)
        elif _timestamp(offset_date) is not None:
            stamp = _timestamp(offset_date)
            start = sum(1 for m in messages if m.date.timestamp() >= stamp)
        start += request.add_offset
        end = start + min(max(request.limit, 0), 100)
        page = messages[max(start, 0) : max(end, 0)]
        users = self._users_for([peer])
        if len(page) == len(messages):
            return _make(types.messages.Messages, messages=page, topics=[], chats=[], users=users)
        return _make(
            types.messages.MessagesSlice,
            count=len(messages),
            messages=page,
            topics=[],
            chats=[],
            users=users,
        )

    def _get_messages(self, request: Any, ctx: _Context) -> Any:
        found: list[Any] = []
        for item in request.id:
            msg_id = getattr(item, "id", item)
            message = self._messages.get(msg_id) if isinstance(msg_id, int) else None
            found.append(message if message is not None else types.MessageEmpty(id=msg_id or 0, peer_id=None))
        peers = [m.peer_id.user_id for m in found if isinstance(m, types.Message)]
        return _make(
            types.messages.Messages,
            messages=found,
            topics=[],
            chats=[],
            users=self._users_for(peers),
        )

    def _get_dialogs(self, request: Any, ctx: _Context) -> Any:
        tops = sorted(
            ((msgs[-1], peer) for peer, msgs in self._history.items() if msgs),
            key=lambda item: item[0].id,
            reverse=True,
        )
        total = len(tops)
        if request.offset_id:
            tops = [t for t in tops if t[0].id < request.offset_id]
        elif _timestamp(request.offset_date) is not None:
            stamp = _timestamp(request.offset_date)
            tops = [t for t in tops if t[0].date.timestamp() < stamp]
        page = tops[: max(request.limit, 0) or 100]
        dialogs = [
            _make(
                types.Dialog,
                peer=types.PeerUser(peer),
                top_message=top.id,
                read_inbox_max_id=self._read_inbox.get(peer, 0),
                read_outbox_max_id=self._read_outbox.get(peer, 0),
                unread_count=self._unread(peer),
                unread_mentions_count=0,
                unread_reactions_count=0,
                unread_poll_votes_count=0,
                notify_settings=types.PeerNotifySettings(),
            )
            for top, peer in page
        ]
        fields = {
            "dialogs": dialogs,
            "messages": [top for top, _ in page],
            "chats": [],
            "users": self._users_for([peer for _, peer in page]),
        }
        if len(page) == total:
            return types.messages.Dialogs(**fields)
        return types.messages.DialogsSlice(count=total, **fields)

    def _read_history(self, request: Any, ctx: _Context) -> Any:
        peer = self._peer_user(request.peer, request)
        msgs = self._history.get(peer, [])
        top = msgs[-1].id if msgs else 0
        max_id = min(request.max_id, top) if request.max_id else top
        self._read_inbox[peer] = max(self._read_inbox.get(peer, 0), max_id)
        # The peer has read what we sent, too (the fake users are attentive readers).
        self._read_outbox[peer] = top
        return types.messages.AffectedMessages(pts=self._pts, pts_count=0)

    def _edit_message(self, request: Any, ctx: _Context) -> Any:
        peer = self._peer_user(request.peer, request)
        message = self._messages.get(request.id)
        if message is None or message.peer_id.user_id != peer:
            raise errors.MessageIdInvalidError(request=request)
        if not message.out:
            raise errors.MessageAuthorRequiredError(request=request)
        if request.message is None or request.message == message.message:
            raise errors.MessageNotModifiedError(request=request)
        message.message = request.message
        message.entities = request.entities or None
        message.edit_date = _now()
        update = types.UpdateEditMessage(message, 0, 1)
        update.pts = self._next_pts(1, update)
        updates = types.Updates(
            updates=[update],
            users=self._users_for([peer]),
            chats=[],
            date=message.edit_date,
            seq=0,
        )
        self._broadcast(updates, ctx.sender)
        return updates

    def _delete_messages(self, request: Any, ctx: _Context) -> Any:
        ids = [i for i in request.id if i in self._messages]
        if not ids:
            return types.messages.AffectedMessages(pts=self._pts, pts_count=0)
        for msg_id in ids:
            message = self._messages.pop(msg_id)
            self._history[message.peer_id.user_id].remove(message)
            if not message.out:
                self._incoming[message.peer_id.user_id].remove(msg_id)
        update = types.UpdateDeleteMessages(messages=ids, pts=0, pts_count=len(ids))
        update.pts = self._next_pts(len(ids), update)
        self._broadcast(
            types.UpdateShort(update=update, date=_now()),
            ctx.sender,
        )
        return types.messages.AffectedMessages(pts=update.pts, pts_count=len(ids))


class _Context:
    """What an answer may need besides the request: who asked, and updates to send after it."""

    __slots__ = ("followups", "sender")

    def __init__(self, sender: FakeSender, followups: list[Any]) -> None:
        self.sender = sender
        self.followups = followups
