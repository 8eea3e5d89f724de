"""The Telethon API data in lint_rules/telethon_api.py, checked against the installed Telethon."""

from __future__ import annotations

import importlib
import importlib.util
import inspect

import pytest
from telethon import TelegramClient, events
from telethon.tl.custom import Conversation, Message

from lint_rules import telethon_api as api


def _public(cls: type) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("_")}


def _is_coroutine(cls: type, name: str) -> bool:
    return inspect.iscoroutinefunction(inspect.getattr_static(cls, name))


def test_every_public_client_attribute_is_classified_exactly_once() -> None:
    groups = [api.CLIENT_ACTIONS, api.CLIENT_LIFECYCLE, api.CLIENT_NOT_ACTIONS]
    for a in range(len(groups)):
        for b in range(a + 1, len(groups)):
            assert not groups[a] & groups[b]
    classified = set().union(*groups)
    # A Telethon upgrade that adds a public method fails here until it is classified.
    assert _public(TelegramClient) - classified == set()
    assert classified - _public(TelegramClient) == set()


def test_every_public_coroutine_method_is_an_action_or_lifecycle() -> None:
    coroutines = {n for n in _public(TelegramClient) if _is_coroutine(TelegramClient, n)}
    assert coroutines <= api.CLIENT_ACTIONS | api.CLIENT_LIFECYCLE
    assert "get_peer_id" in coroutines and "get_peer_id" in api.CLIENT_ACTIONS


def test_non_coroutine_actions_return_request_performing_objects() -> None:
    client = TelegramClient(None, 1, "0" * 32)  # MemorySession: no file, no network
    try:
        for name in api.ITERATOR_ACTIONS:
            assert not _is_coroutine(TelegramClient, name)
            if name == "iter_download":  # needs a real file location to build
                assert "_iter_download" in inspect.getsource(client.iter_download)
                continue
            args = ("me",) if name not in ("iter_dialogs", "iter_drafts") else ()
            assert hasattr(getattr(client, name)(*args), "__aiter__"), name
        assert hasattr(client.conversation("me"), "__aenter__")
        assert hasattr(client.action("me", "typing"), "__aenter__")
        assert hasattr(client.takeout(), "__aenter__")
    finally:
        client.session.close()


def test_client_class_names_import() -> None:
    for qual in api.CLIENT_CLASSES - {"telethon.sync.TelegramClient"}:
        mod, _, name = qual.rpartition(".")
        assert getattr(importlib.import_module(mod), name) is TelegramClient
    # Importing telethon.sync would syncify every method in this process: read its source instead.
    spec = importlib.util.find_spec("telethon.sync")
    assert spec is not None and spec.origin is not None
    with open(spec.origin, encoding="utf-8") as f:
        assert "import TelegramClient" in f.read()


def test_not_actions_are_not_coroutines() -> None:
    for name in api.CLIENT_NOT_ACTIONS:
        assert not _is_coroutine(TelegramClient, name), name


@pytest.mark.parametrize("name", sorted(api.MESSAGE_ACTIONS))
def test_message_actions_are_coroutines(name: str) -> None:
    assert _is_coroutine(Message, name)


def test_message_coroutines_are_all_listed() -> None:
    assert {n for n in _public(Message) if _is_coroutine(Message, n)} == api.MESSAGE_ACTIONS
    for qual in api.MESSAGE_CLASSES:
        mod, _, name = qual.rpartition(".")
        assert (
            issubclass(getattr(importlib.import_module(mod), name), Message)
            or getattr(importlib.import_module(mod), name).__name__ == "Message"
        )


def test_event_actions_match_the_event_classes() -> None:
    found: set[str] = set()
    for qual in api.EVENT_CLASSES:
        parts = qual.split(".")
        obj: object = importlib.import_module(".".join(parts[:2]))
        for p in parts[2:]:
            obj = getattr(obj, p)
        assert isinstance(obj, type), qual
        found |= {n for n in _public(obj) if _is_coroutine(obj, n)}
    # Raw is the update itself; its `resolve` is the builder's, not an event method.
    found.discard("resolve")
    # NewMessage/MessageEdited events forward attributes to their message.
    assert "__getattr__" in vars(events.NewMessage.Event)
    found |= api.MESSAGE_ACTIONS
    assert found == api.EVENT_ACTIONS


def test_conversation_actions_exist() -> None:
    public = _public(Conversation)
    assert api.CONVERSATION_ACTIONS <= public
    coroutines = {n for n in public if _is_coroutine(Conversation, n)}
    assert coroutines - {"cancel_all"} <= api.CONVERSATION_ACTIONS


def test_message_returning_methods_exist() -> None:
    for name in api.MESSAGE_RETURNING:
        assert (
            hasattr(TelegramClient, name) or hasattr(Message, name) or hasattr(Conversation, name)
        ), name


def test_dialog_actions_match_dialog_coroutines() -> None:
    from telethon.tl.custom import Dialog

    assert {n for n in _public(Dialog) if _is_coroutine(Dialog, n)} == api.DIALOG_ACTIONS
    for qual in api.DIALOG_CLASSES:
        mod, _, name = qual.rpartition(".")
        assert getattr(importlib.import_module(mod), name) is Dialog
