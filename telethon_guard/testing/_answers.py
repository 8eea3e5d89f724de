"""The canned answers of the fake server: what Telegram returns for each request Telethon sends."""

from __future__ import annotations

import bisect
import datetime
from collections.abc import Callable
from typing import Any

from telethon import errors
from telethon.tl import functions, types

from ._account import Account, make_tl, timestamp_of, utc_now

_MAX_DIFFERENCE = 1000  # more pending updates: updates.differenceTooLong, as Telegram does
MAX_MESSAGE = 4096


def _msg_id(message: Any) -> int:
    return int(message.id)


def _msg_stamp(message: Any) -> float:
    return float(message.date.timestamp())


class UnhandledRequestError(NotImplementedError):
    """The fake backend has no answer for a request; the message says how to add one."""


class Context:
    """What an answer may need besides the request: updates for other sessions, and for the asker."""

    __slots__ = ("broadcast", "followups")

    def __init__(self, broadcast: Callable[[Any], None]) -> None:
        #: Deliver an update to every other connected client (other sessions of the account).
        self.broadcast = broadcast
        #: Updates for the asking client, delivered right after the answer.
        self.followups: list[Any] = []


class Answers:
    """The built-in answers, on one account's state."""

    def __init__(self, account: Account) -> None:
        self.account = account
        self.config: types.Config | None = None

    def table(self) -> dict[type, Callable[[Any, Context], Any]]:
        f = functions
        return {
            f.help.GetConfigRequest: self._get_config,
            f.PingRequest: lambda r, c: types.Pong(msg_id=0, ping_id=r.ping_id),
            f.PingDelayDisconnectRequest: lambda r, c: types.Pong(msg_id=0, ping_id=r.ping_id),
            f.users.GetUsersRequest: self._get_users,
            f.contacts.ResolveUsernameRequest: self._resolve_username,
            f.updates.GetStateRequest: lambda r, c: self.account.state(),
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
            f.users.GetFullUserRequest: self._get_full_user,
            f.auth.LogOutRequest: lambda r, c: types.auth.LoggedOut(),
        }

    def _get_full_user(self, request: Any, ctx: Context) -> Any:
        user = self.account.users[self.account.peer_user(request.id, request)]
        full = make_tl(
            types.UserFull,
            id=user.id,
            settings=types.PeerSettings(),
            notify_settings=types.PeerNotifySettings(),
            common_chats_count=0,
            about=None,
        )
        return types.users.UserFull(full_user=full, chats=[], users=[user])

    def _get_config(self, request: Any, ctx: Context) -> types.Config:
        if self.config is None:
            now = utc_now()
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
            self.config = make_tl(
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
                message_length_max=MAX_MESSAGE, webfile_dc_id=4,
            )  # fmt: skip
        return self.config

    def _get_users(self, request: Any, ctx: Context) -> list[types.User]:
        found = []
        for peer in request.id:
            try:
                found.append(self.account.users[self.account.peer_user(peer, request)])
            except errors.PeerIdInvalidError:
                continue  # users.getUsers silently leaves out what it cannot see
        return found

    def _resolve_username(self, request: Any, ctx: Context) -> Any:
        uid = self.account.usernames.get(request.username.lower().removeprefix("@"))
        if uid is None:
            raise errors.UsernameNotOccupiedError(request=request)
        return types.contacts.ResolvedPeer(
            peer=types.PeerUser(uid), chats=[], users=[self.account.users[uid]]
        )

    def _get_difference(self, request: Any, ctx: Context) -> Any:
        since = request.pts
        if since > self.account.pts:
            # A state from elsewhere (a session file used with another backend, in another process):
            # everything this backend knows is new to the client, and the client must adopt our pts.
            if not self.account.log:
                return types.updates.DifferenceTooLong(pts=self.account.pts)
            since = 0
        elif since == self.account.pts:
            return types.updates.DifferenceEmpty(date=utc_now(), seq=0)
        if self.account.pts - since > (request.pts_total_limit or _MAX_DIFFERENCE):
            return types.updates.DifferenceTooLong(pts=self.account.pts)
        start = bisect.bisect_right(self.account.log_pts, since)
        entries = self.account.log[start:]
        new_messages = [
            e for e in entries if isinstance(e, types.Message) and e.id in self.account.messages
        ]
        other_updates = [e for e in entries if not isinstance(e, types.Message)]
        peers = {m.peer_id.user_id for m in new_messages}
        return types.updates.Difference(
            new_messages=new_messages,
            new_encrypted_messages=[],
            other_updates=other_updates,
            chats=[],
            users=self.account.users_for(peers),
            state=self.account.state(),
        )

    def _send_message(self, request: Any, ctx: Context) -> types.UpdateShortSentMessage:
        peer = self.account.peer_user(request.peer, request)
        text = request.message
        if not text.strip():
            raise errors.MessageEmptyError(request=request)
        if len(text) > MAX_MESSAGE:
            raise errors.MessageTooLongError(request=request)
        responder = self.account.responders.get(peer)
        replies = responder(text) if responder is not None else None
        if isinstance(replies, str):
            replies = [replies]
        reply_to = getattr(request.reply_to, "reply_to_msg_id", None)
        sent = self.account.new_message(
            peer, text, out=True, entities=request.entities, reply_to=reply_to
        )
        ctx.broadcast(self.account.new_message_updates(sent))
        for reply in replies or ():
            if reply:
                message = self.account.new_message(peer, reply, out=False)
                update = self.account.new_message_updates(message)
                ctx.followups.append(update)
                ctx.broadcast(update)
        return types.UpdateShortSentMessage(
            out=True,
            id=sent.id,
            pts=self.account.message_pts[sent.id],
            pts_count=1,
            date=sent.date,
            entities=request.entities or None,
        )

    def _get_history(self, request: Any, ctx: Context) -> Any:
        """messages.getHistory / messages.search: newest first, paged like Telegram pages."""
        peer = self.account.peer_user(request.peer, request)
        chat = self.account.history.get(peer, [])  # oldest first; ids and dates only grow
        lo = bisect.bisect_right(chat, request.min_id, key=_msg_id) if request.min_id else 0
        hi = bisect.bisect_left(chat, request.max_id, key=_msg_id) if request.max_id else len(chat)
        hi = max(hi, lo)
        offset_date = request.offset_date if hasattr(request, "offset_date") else None
        if isinstance(request, functions.messages.SearchRequest):
            if not isinstance(request.filter, types.InputMessagesFilterEmpty):
                raise UnhandledRequestError(
                    "FakeTelegram's messages.Search only supports text search "
                    "(InputMessagesFilterEmpty); use backend.answer() for media filters"
                )
            query = request.q.lower()
            sender = request.from_id and self.account.peer_user(request.from_id, request)
            chat = [
                m
                for m in chat[lo:hi]
                if query in m.message.lower()
                and (not sender or m.out == (sender == self.account.me.id))
            ]
            lo, hi = 0, len(chat)
            offset_date = request.max_date
        # offset_id / offset_date pick the first message older than them, add_offset moves from
        # there (negative: towards newer messages), limit caps the page. Positions count from the
        # newest message; position i is chat[hi - 1 - i].
        start = 0
        if request.offset_id:
            start = hi - max(lo, bisect.bisect_left(chat, request.offset_id, lo, hi, key=_msg_id))
        elif (stamp := timestamp_of(offset_date)) is not None:
            start = hi - max(lo, bisect.bisect_left(chat, stamp, lo, hi, key=_msg_stamp))
        start += request.add_offset
        end = min(start + min(max(request.limit, 0), 100), hi - lo)
        start = max(start, 0)
        page = chat[hi - end : hi - start][::-1] if end > start else []
        users = self.account.users_for([peer])
        if len(page) == hi - lo:
            return make_tl(types.messages.Messages, messages=page, topics=[], chats=[], users=users)
        return make_tl(
            types.messages.MessagesSlice,
            count=hi - lo,
            messages=page,
            topics=[],
            chats=[],
            users=users,
        )

    def _get_messages(self, request: Any, ctx: Context) -> Any:
        found: list[Any] = []
        for item in request.id:
            msg_id = getattr(item, "id", item)
            message = self.account.messages.get(msg_id) if isinstance(msg_id, int) else None
            found.append(
                message if message is not None else types.MessageEmpty(id=msg_id or 0, peer_id=None)
            )
        peers = [m.peer_id.user_id for m in found if isinstance(m, types.Message)]
        return make_tl(
            types.messages.Messages,
            messages=found,
            topics=[],
            chats=[],
            users=self.account.users_for(peers),
        )

    def _get_dialogs(self, request: Any, ctx: Context) -> Any:
        tops = sorted(
            ((msgs[-1], peer) for peer, msgs in self.account.history.items() if msgs),
            key=lambda item: item[0].id,
            reverse=True,
        )
        total = len(tops)
        if request.offset_id:
            tops = [t for t in tops if t[0].id < request.offset_id]
        elif timestamp_of(request.offset_date) is not None:
            stamp = timestamp_of(request.offset_date)
            tops = [t for t in tops if t[0].date.timestamp() < stamp]
        page = tops[: max(request.limit, 0) or 100]
        dialogs = [
            make_tl(
                types.Dialog,
                peer=types.PeerUser(peer),
                top_message=top.id,
                read_inbox_max_id=self.account.read_inbox.get(peer, 0),
                read_outbox_max_id=self.account.read_outbox.get(peer, 0),
                unread_count=self.account.unread(peer),
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
            "users": self.account.users_for([peer for _, peer in page]),
        }
        if len(page) == total:
            return types.messages.Dialogs(**fields)
        return types.messages.DialogsSlice(count=total, **fields)

    def _read_history(self, request: Any, ctx: Context) -> Any:
        peer = self.account.peer_user(request.peer, request)
        msgs = self.account.history.get(peer, [])
        top = msgs[-1].id if msgs else 0
        max_id = min(request.max_id, top) if request.max_id else top
        self.account.read_inbox[peer] = max(self.account.read_inbox.get(peer, 0), max_id)
        # The peer has read what we sent, too (the fake users are attentive readers).
        self.account.read_outbox[peer] = top
        return types.messages.AffectedMessages(pts=self.account.pts, pts_count=0)

    def _edit_message(self, request: Any, ctx: Context) -> Any:
        peer = self.account.peer_user(request.peer, request)
        message = self.account.messages.get(request.id)
        if message is None or message.peer_id.user_id != peer:
            raise errors.MessageIdInvalidError(request=request)
        if not message.out:
            raise errors.MessageAuthorRequiredError(request=request)
        if request.message is None or request.message == message.message:
            raise errors.MessageNotModifiedError(request=request)
        message.message = request.message
        message.entities = request.entities or None
        message.edit_date = utc_now()
        update = types.UpdateEditMessage(message, 0, 1)
        update.pts = self.account.next_pts(1, update)
        updates = types.Updates(
            updates=[update],
            users=self.account.users_for([peer]),
            chats=[],
            date=message.edit_date,
            seq=0,
        )
        ctx.broadcast(updates)
        return updates

    def _delete_messages(self, request: Any, ctx: Context) -> Any:
        ids = [i for i in request.id if i in self.account.messages]
        if not ids:
            return types.messages.AffectedMessages(pts=self.account.pts, pts_count=0)
        for msg_id in ids:
            message = self.account.messages.pop(msg_id)
            self.account.history[message.peer_id.user_id].remove(message)
            if not message.out:
                self.account.incoming[message.peer_id.user_id].remove(msg_id)
        update = types.UpdateDeleteMessages(messages=ids, pts=0, pts_count=len(ids))
        update.pts = self.account.next_pts(len(ids), update)
        ctx.broadcast(types.UpdateShort(update=update, date=utc_now()))
        return types.messages.AffectedMessages(pts=update.pts, pts_count=len(ids))
