"""The state of the fake account on the server: users, chats, message history and ``pts``."""

from __future__ import annotations

import bisect
import datetime
import hashlib
import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from telethon import errors
from telethon.tl import types

Responder = Callable[[str], str | Sequence[str] | None]
_T = TypeVar("_T")


def _stable_int(label: str, low: int, high: int) -> int:
    digest = hashlib.sha256(label.encode()).digest()
    return low + int.from_bytes(digest[:8], "big") % (high - low)


def _access_hash(user_id: int) -> int:
    digest = hashlib.sha256(f"fake-access-hash:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_SIGNATURES: dict[type, frozenset[str]] = {}


def make_tl(cls: Callable[..., _T], **fields: Any) -> _T:
    """Build a TL object, dropping fields this Telethon layer does not have."""
    names = _SIGNATURES.get(cls)  # type: ignore[call-overload]
    if names is None:
        names = _SIGNATURES[cls] = frozenset(inspect.signature(cls).parameters)  # type: ignore[index]
    return cls(**{k: v for k, v in fields.items() if k in names})


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.timezone.utc).replace(microsecond=0)


def timestamp_of(value: Any) -> float | None:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()
    return None


class Account:
    """One Telegram account as the server sees it. Only private chats with users are modelled."""

    def __init__(self, username: str, first_name: str, last_name: str | None, phone: str) -> None:
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
        self.users: dict[int, types.User] = {uid: self.me}
        self.usernames: dict[str, int] = {username.lower(): uid}
        self.responders: dict[int, Responder] = {}
        self.history: dict[int, list[types.Message]] = {}  # peer -> its chat, oldest first
        self.messages: dict[int, types.Message] = {}  # message ids are per account
        self.message_pts: dict[int, int] = {}  # message id -> the pts its creation took
        self.read_inbox: dict[int, int] = {}
        self.read_outbox: dict[int, int] = {}
        self.incoming: dict[int, list[int]] = {}  # peer -> ids of messages it sent us, ascending
        self.last_message_id = 0
        self.pts = 1
        self.log_pts: list[int] = []  # pts after each entry of ``log``, ascending (GetDifference)
        self.log: list[Any] = []  # a Message (new_messages) or an Update (other_updates)

    def add_user(
        self,
        username: str,
        *,
        bot: bool = False,
        first_name: str | None = None,
        last_name: str | None = None,
        user_id: int | None = None,
    ) -> types.User:
        """Create a user (or bot) resolvable by ``username``; ids and hashes are deterministic."""
        key = username.lower().removeprefix("@")
        if key in self.usernames:
            raise ValueError(f"FakeTelegram already has a user @{username}")
        uid = user_id or _stable_int(f"fake-user:{key}", 1_000_000_000, 7_000_000_000)
        if uid in self.users:
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
        self.users[uid] = user
        self.usernames[key] = uid
        return user

    def user_id(self, username: str) -> int:
        key = username.lower().removeprefix("@")
        if key in ("me", "self"):
            return int(self.me.id)
        try:
            return self.usernames[key]
        except KeyError:
            raise KeyError(
                f"FakeTelegram has no user @{username}; add it first with "
                f"backend.add_user({username!r}) (or backend.add_botfather())"
            ) from None

    def peer_user(self, peer: Any, request: Any) -> int:
        """The user id an input peer designates; RPC errors as Telegram gives them."""
        if isinstance(peer, (types.InputPeerSelf, types.InputUserSelf)):
            return int(self.me.id)
        if isinstance(peer, (types.InputPeerUser, types.InputUser)):
            user = self.users.get(peer.user_id)
            if user is None or user.access_hash != peer.access_hash:
                raise errors.PeerIdInvalidError(request=request)
            return int(peer.user_id)
        if isinstance(peer, (types.InputPeerUserFromMessage, types.InputUserFromMessage)):
            if peer.user_id in self.users:
                return int(peer.user_id)
        # Only private chats with users are modelled (no groups or channels).
        raise errors.PeerIdInvalidError(request=request)

    def next_pts(self, count: int, entry: Any) -> int:
        self.pts += count
        self.log_pts.append(self.pts)
        self.log.append(entry)
        return self.pts

    def new_message(
        self,
        peer_id: int,
        text: str,
        *,
        out: bool,
        entities: Any = None,
        reply_to: int | None = None,
    ) -> types.Message:
        self.last_message_id += 1
        message = types.Message(
            id=self.last_message_id,
            peer_id=types.PeerUser(peer_id),
            date=utc_now(),
            message=text,
            out=out or peer_id == self.me.id,
            # Layer 119+: outgoing private messages carry from_id, incoming ones do not.
            from_id=types.PeerUser(self.me.id) if out else None,
            entities=entities or None,
            reply_to=types.MessageReplyHeader(reply_to_msg_id=reply_to) if reply_to else None,
        )
        self.message_pts[message.id] = self.next_pts(1, message)
        self.history.setdefault(peer_id, []).append(message)
        self.messages[message.id] = message
        if not message.out:
            self.incoming.setdefault(peer_id, []).append(message.id)
        return message

    def users_for(self, peer_ids: Any) -> list[types.User]:
        ids = dict.fromkeys([int(self.me.id), *peer_ids])
        return [self.users[i] for i in ids if i in self.users]

    def new_message_updates(self, message: types.Message) -> types.Updates:
        return types.Updates(
            updates=[types.UpdateNewMessage(message, self.message_pts[message.id], 1)],
            users=self.users_for([message.peer_id.user_id]),
            chats=[],
            date=message.date,
            seq=0,
        )

    def unread(self, peer: int) -> int:
        ids = self.incoming.get(peer, ())
        return len(ids) - bisect.bisect_right(ids, self.read_inbox.get(peer, 0))

    def state(self) -> types.updates.State:
        unread = sum(self.unread(peer) for peer in self.incoming)
        return types.updates.State(pts=self.pts, qts=0, date=utc_now(), seq=0, unread_count=unread)
