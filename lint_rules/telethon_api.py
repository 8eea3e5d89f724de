"""Telethon 1.x network methods, as data.

The linter never imports Telethon: this module lists what it needs to know, derived from the installed
Telethon 1.45 sources (``telethon/client/*.py``, ``telethon/events/*.py``, ``telethon/tl/custom/*.py``).
``tests/lint/test_telethon_api.py`` checks every entry against the installed Telethon, and fails when a
Telethon upgrade adds a public coroutine method that is neither listed nor exempted here.

Decisions:

* Every ``async def`` public method of the ``TelegramClient`` mixins is an action except the lifecycle
  ones below: each of them can send a request (``get_peer_id`` too: ``users.py`` ``get_peer_id`` calls
  ``get_input_entity`` for anything but an ``int``; ``is_bot``/``is_user_authorized`` call ``get_me`` /
  ``GetStateRequest``; ``log_out`` sends ``LogOutRequest``).
* Plain methods returning request-performing objects are actions too: ``iter_*`` (async iterators, one
  request per chunk), ``conversation``, ``action`` and ``takeout`` (async context managers; ``action`` with
  ``'cancel'`` returns a coroutine), and ``iter_download``.
* Lifecycle (``connect``, ``start``, ``disconnect``, ``run_until_disconnected``) is not a per-request
  action: the first request of ``connect()`` bypasses ``_call`` and ``disconnect()`` sends none
  (TELETHON_FACTS.md). TG100 reports them only inside request and event handlers.
* Not actions: local helpers and properties (``is_connected``, ``on``, ``add_event_handler``,
  ``remove_event_handler``, ``list_event_handlers``, ``build_reply_markup``, ``set_proxy``, ``loop``,
  ``flood_sleep_threshold``, ``parse_mode``, ``disconnected``).
"""

from __future__ import annotations

__all__ = [
    "CLIENT_ACTIONS",
    "CLIENT_CLASSES",
    "CLIENT_LIFECYCLE",
    "CLIENT_NOT_ACTIONS",
    "CONTEXT_ACTIONS",
    "CONVERSATION_ACTIONS",
    "DIALOG_ACTIONS",
    "DIALOG_CLASSES",
    "EVENT_ACTIONS",
    "EVENT_CLASSES",
    "EVENT_MODULES",
    "ITERATOR_ACTIONS",
    "MESSAGE_ACTIONS",
    "MESSAGE_CLASSES",
    "MESSAGE_RETURNING",
]

#: Qualified names under which ``TelegramClient`` can be imported.
CLIENT_CLASSES: frozenset[str] = frozenset(
    {
        "telethon.TelegramClient",
        "telethon.sync.TelegramClient",
        "telethon.client.TelegramClient",
        "telethon.client.telegramclient.TelegramClient",
    }
)

#: Public coroutine methods of ``TelegramClient`` that send requests (``async def`` in 1.45).
_COROUTINE_ACTIONS = frozenset(
    {
        "catch_up",
        "delete_dialog",
        "delete_messages",
        "download_file",
        "download_media",
        "download_profile_photo",
        "edit_2fa",
        "edit_admin",
        "edit_folder",
        "edit_message",
        "edit_permissions",
        "end_takeout",
        "forward_messages",
        "get_admin_log",
        "get_dialogs",
        "get_drafts",
        "get_entity",
        "get_input_entity",
        "get_me",
        "get_messages",
        "get_participants",
        "get_peer_id",
        "get_permissions",
        "get_profile_photos",
        "get_stats",
        "inline_query",
        "is_bot",
        "is_user_authorized",
        "kick_participant",
        "log_out",
        "pin_message",
        "qr_login",
        "send_code_request",
        "send_file",
        "send_message",
        "send_read_acknowledge",
        "set_receive_updates",
        "sign_in",
        "sign_up",
        "unpin_message",
        "upload_file",
    }
)

#: Plain methods returning async iterators that send one request per chunk.
ITERATOR_ACTIONS: frozenset[str] = frozenset(
    {
        "iter_admin_log",
        "iter_dialogs",
        "iter_download",
        "iter_drafts",
        "iter_messages",
        "iter_participants",
        "iter_profile_photos",
    }
)

#: Plain methods returning async context managers that send requests (``async with client.x(...)``).
CONTEXT_ACTIONS: frozenset[str] = frozenset({"action", "conversation", "takeout"})

#: Every ``TelegramClient`` method that is a Telethon action.
CLIENT_ACTIONS: frozenset[str] = _COROUTINE_ACTIONS | ITERATOR_ACTIONS | CONTEXT_ACTIONS

#: Connection lifecycle: reported only in request/event handlers (see the module docstring).
CLIENT_LIFECYCLE: frozenset[str] = frozenset(
    {"connect", "start", "disconnect", "run_until_disconnected"}
)

#: Public ``TelegramClient`` attributes that are not actions (local, or properties).
CLIENT_NOT_ACTIONS: frozenset[str] = frozenset(
    {
        "add_event_handler",
        "build_reply_markup",
        "disconnected",
        "flood_sleep_threshold",
        "is_connected",
        "list_event_handlers",
        "loop",
        "on",
        "parse_mode",
        "remove_event_handler",
        "set_proxy",
    }
)

#: Client methods whose awaited result is a ``Message`` (or a list of them for several inputs).
MESSAGE_RETURNING: frozenset[str] = frozenset(
    {
        "send_message",
        "send_file",
        "edit_message",
        "get_reply_message",
        "reply",
        "respond",
        "get_response",
        "get_reply",
        "get_edit",
        "forward_to",
    }
)

#: Network methods of ``telethon.tl.custom.Message`` (with its ChatGetter/SenderGetter mixins).
MESSAGE_ACTIONS: frozenset[str] = frozenset(
    {
        "click",
        "delete",
        "download_media",
        "edit",
        "forward_to",
        "get_buttons",
        "get_chat",
        "get_input_chat",
        "get_input_sender",
        "get_reply_message",
        "get_sender",
        "mark_read",
        "pin",
        "reply",
        "respond",
        "unpin",
    }
)

#: Qualified names of the message class.
MESSAGE_CLASSES: frozenset[str] = frozenset(
    {
        "telethon.tl.custom.Message",
        "telethon.tl.custom.message.Message",
        "telethon.tl.patched.Message",
        "telethon.types.Message",
        "telethon.tl.types.Message",
    }
)

#: Network methods of event objects. ``NewMessage.Event`` and ``MessageEdited.Event`` forward unknown
#: attributes to their ``Message`` (``events/newmessage.py`` ``__getattr__``), so the message
#: actions are included.
EVENT_ACTIONS: frozenset[str] = MESSAGE_ACTIONS | frozenset(
    {
        "answer",
        "get_added_by",
        "get_input_user",
        "get_input_users",
        "get_kicked_by",
        "get_message",
        "get_messages",
        "get_pinned_message",
        "get_pinned_messages",
        "get_user",
        "get_users",
    }
)

#: Event builders (``events.X``) and their event classes (``events.X.Event``), by qualified name.
#: ``events.Raw`` handlers receive the raw update (a TLObject without network methods).
_EVENT_NAMES = (
    "NewMessage",
    "MessageEdited",
    "MessageDeleted",
    "MessageRead",
    "ChatAction",
    "UserUpdate",
    "CallbackQuery",
    "InlineQuery",
    "Album",
    "Raw",
)
EVENT_MODULES: tuple[str, ...] = ("telethon.events",)
EVENT_CLASSES: frozenset[str] = frozenset(
    {f"telethon.events.{n}" for n in _EVENT_NAMES}
    | {f"telethon.events.{n}.Event" for n in _EVENT_NAMES if n != "Raw"}
    | {"telethon.events.common.EventCommon"}
)

#: Methods of ``telethon.tl.custom.Conversation`` that send requests or wait on the conversation.
CONVERSATION_ACTIONS: frozenset[str] = frozenset(
    {
        "get_chat",
        "get_edit",
        "get_input_chat",
        "get_reply",
        "get_response",
        "mark_read",
        "send_file",
        "send_message",
        "wait_event",
        "wait_read",
    }
)

#: Network methods of ``telethon.tl.custom.Dialog`` (what ``iter_dialogs``/``get_dialogs`` yield).
DIALOG_ACTIONS: frozenset[str] = frozenset({"archive", "delete", "send_message"})
DIALOG_CLASSES: frozenset[str] = frozenset(
    {"telethon.tl.custom.Dialog", "telethon.tl.custom.dialog.Dialog"}
)
