"""What is a user action: Telethon's background work, event handlers, lifecycle calls."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from telethon import TelegramClient, errors, events, functions, types
from telethon.tl.custom.inlinebuilder import InlineBuilder

from telethon_guard import UnguardedCallError, stats, telethon_lock
from telethon_guard import guard as guard_module
from telethon_guard.testing import FakeTelegram

# These tests install the guard themselves and provoke violations on purpose.
pytestmark = [pytest.mark.usefixtures("no_guard"), pytest.mark.telethon_guard_allow]


def line_of(marker: str) -> str:
    with open(__file__, encoding="utf-8") as f:
        for number, text in enumerate(f, 1):
            if text.rstrip().endswith(f"# <{marker}>"):
                return f"{os.path.basename(__file__)}:{number}"
    raise AssertionError(marker)


def other_tasks(fake: FakeTelegram, name: str) -> list[Any]:
    """Finished requests called ``name`` made by a task other than the current one."""
    me = asyncio.current_task().get_name()  # type: ignore[union-attr]
    return [r for r in fake.requests if r.name == name and r.task != me and r.finished]


@pytest.mark.parametrize("mode", ["strict", "serialize"])
async def test_update_loop_and_typing_loop_run_while_a_user_holds_the_lock(
    mode: str, guard: Callable[..., None], backend: FakeTelegram, client: TelegramClient
) -> None:
    guard(mode)
    backend.latency = 0.001
    hello = asyncio.Event()

    async def on_hello(event: Any) -> None:
        hello.set()

    client.add_event_handler(on_hello, events.NewMessage(pattern="hello"))
    before = stats()
    backend.reset_stats()
    async with telethon_lock:
        # The update loop fetches the difference (GetDifference) while we hold the lock...
        await client.catch_up()
        backend.push_message("alice", "hello")
        await asyncio.wait_for(hello.wait(), 5)
        assert other_tasks(backend, "GetDifferenceRequest")
        # ...and a typing loop and the conversation's reply run while we wait for the reply.
        async with client.action("alice", "typing"):
            async with client.conversation("BotFather") as conv:
                await conv.send_message("/start")
                reply = await asyncio.wait_for(conv.get_response(), 5)
        assert other_tasks(backend, "SetTypingRequest")
    assert "I can help you create and manage Telegram bots" in reply.text
    after = stats()
    assert after.unguarded == before.unguarded and after.overlaps == before.overlaps
    # Our own actions only: resolve BotFather + send /start (the typing entity was cached).
    assert after.actions - before.actions == 2


async def test_dispatch_internals_are_background_work(
    guard: Callable[..., None], backend: FakeTelegram, client: TelegramClient
) -> None:
    guard("strict")
    seen = asyncio.Event()

    async def handler(event: Any) -> None:
        seen.set()

    # Resolving the builder's chats (ResolveUsername for "botfather") and the get_me that
    # _dispatch_update makes when it does not know our id both run in the dispatch task.
    client.add_event_handler(handler, events.NewMessage(chats=["alice", "botfather"]))
    client._mb_entity_cache.self_id = None  # updates.py:560 -> get_me() in the dispatch task
    backend.reset_stats()
    async with telethon_lock:
        backend.push_message("alice", "hi")
        await asyncio.wait_for(seen.wait(), 5)
    assert other_tasks(backend, "ResolveUsernameRequest")
    assert other_tasks(backend, "GetUsersRequest")


@pytest.mark.parametrize("sequential", [False, True])
async def test_event_handler_code_is_user_code(
    sequential: bool, guard: Callable[..., None], fake: FakeTelegram, tmp_path: Path
) -> None:
    # sequential_updates=True runs handlers inside the update loop task itself (updates.py:285).
    client = fake.client(tmp_path / "handlers.session", sequential_updates=sequential)
    guard("strict")
    await client.connect()
    outcomes: asyncio.Queue[Any] = asyncio.Queue()

    @client.on(events.NewMessage(pattern="ping"))
    async def handler(event: Any) -> None:
        try:
            await event.reply("pong unguarded")  # <handler-unguarded>
        except UnguardedCallError as exc:
            outcomes.put_nowait(exc)
        async with telethon_lock:
            await event.reply("pong")
        outcomes.put_nowait("done")

    try:
        fake.push_message("alice", "ping")
        error = await asyncio.wait_for(outcomes.get(), 5)
        assert isinstance(error, UnguardedCallError)
        assert line_of("handler-unguarded") in str(error)
        assert await asyncio.wait_for(outcomes.get(), 5) == "done"
        assert fake.sent_messages("alice") == ["pong"]
    finally:
        await client.disconnect()


async def test_a_lambda_handler_returning_a_telethon_coroutine_is_user_code(
    guard: Callable[..., None], backend: FakeTelegram, client: TelegramClient
) -> None:
    guard("strict")
    loop = asyncio.get_running_loop()
    reported: asyncio.Future[Any] = loop.create_future()

    def listener(event: Any) -> None:
        if not reported.done():
            reported.set_result(event)

    guard_module._add_listener(listener)
    try:
        # No user frame: _dispatch_update awaits Message.reply directly.
        client.add_event_handler(lambda event: event.reply("pong"), events.NewMessage(pattern="x"))
        backend.push_message("alice", "x")
        event = await asyncio.wait_for(reported, 5)
    finally:
        guard_module._remove_listener(listener)
    assert event.kind == "unguarded"
    assert backend.sent_messages("alice") == []


@pytest.mark.parametrize("mode", ["strict", "serialize", "warn"])
async def test_lifecycle_calls_without_the_lock_are_not_unguarded(
    mode: str,
    guard: Callable[..., None],
    fake: FakeTelegram,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard(mode)
    caplog.set_level(logging.WARNING, logger="telethon_guard")
    before = stats()
    client = fake.client(tmp_path / "life.session")
    await client.connect()  # get_me, GetState, GetDifference
    await client.disconnect()
    client = fake.client(tmp_path / "life.session")
    await client.start()
    assert client.is_connected()
    runner = asyncio.create_task(client.run_until_disconnected(), name="runner")  # GetState...
    await client.disconnect()  # ...in flight now: disconnect() cancels it
    (outcome,) = await asyncio.wait_for(asyncio.gather(runner, return_exceptions=True), 5)
    assert outcome is None or isinstance(outcome, asyncio.CancelledError), outcome
    assert next(r for r in fake.requests if r.task == "runner").name == "GetStateRequest"
    async with fake.client(tmp_path / "life.session") as again:  # __aenter__ -> start()
        async with telethon_lock:
            assert (await again.get_me()).username == fake.me.username
    after = stats()
    assert after.unguarded == before.unguarded and after.overlaps == before.overlaps
    assert after.actions > before.actions  # lifecycle calls are still actions
    assert not [r for r in caplog.records if r.name == "telethon_guard"]


async def test_a_user_action_inside_a_subclass_connect_is_not_lifecycle(
    guard: Callable[..., None], fake: FakeTelegram, tmp_path: Path
) -> None:
    class ChattyClient(TelegramClient):
        async def connect(self) -> None:
            await super().connect()
            await self.send_message("alice", "connected")  # <chatty>

    guard("strict")
    client = fake.client(tmp_path / "chatty.session", client_class=ChattyClient)
    try:
        with pytest.raises(UnguardedCallError) as info:
            await client.connect()
        assert line_of("chatty") in str(info.value)
    finally:
        await client.disconnect()


async def test_iterators_reach_the_guard(
    guard: Callable[..., None], backend: FakeTelegram, client: TelegramClient
) -> None:
    guard("strict")
    async with telethon_lock:
        await client.send_message("alice", "one")
    with pytest.raises(UnguardedCallError, match="GetHistoryRequest"):
        async for _ in client.iter_messages("alice"):  # <iter>
            pass
    async with telethon_lock:
        texts = [m.text async for m in client.iter_messages("alice")]
        dialogs = [d.name async for d in client.iter_dialogs()]
    assert "one" in texts and dialogs


def png() -> bytes:
    return b"\x89PNG" + bytes(64)


def refuse_photo(request: Any) -> Any:
    raise errors.PhotoInvalidError(request=request)


@pytest.mark.parametrize("mode", ["strict", "serialize"])
async def test_inline_answer_uploads_are_part_of_the_holders_action(
    mode: str, guard: Callable[..., None], backend: FakeTelegram, client: TelegramClient
) -> None:
    # InlineQuery.Event.answer() runs each awaitable result in a task of its own
    # (events/inlinequery.py:243) and waits for them (:214) while the user holds the lock: as actions of
    # their own they would be refused (strict) or deadlock on the lock (serialize).
    guard(mode)
    backend.answer(functions.upload.SaveFilePartRequest, lambda request: True)
    photo = types.Photo(id=1, access_hash=2, file_reference=b"", date=None, sizes=[], dc_id=2)
    backend.answer(
        functions.messages.UploadMediaRequest, lambda request: types.MessageMediaPhoto(photo=photo)
    )
    results: list[Any] = []

    def set_results(request: Any) -> bool:
        results.extend(request.results)
        return True

    backend.answer(functions.messages.SetInlineBotResultsRequest, set_results)
    alice = await backend_user(client, "alice")
    query = types.UpdateBotInlineQuery(query_id=1, user_id=alice.id, query="q", offset="")
    event = events.InlineQuery.Event(query)
    event._set_client(client)
    before = stats()
    backend.reset_stats()
    async with telethon_lock:  # a deadlock would be a LockDeadlockError, not a hang
        await event.answer([event.builder.photo(png()), event.builder.photo(png())])
    assert sorted(r.name for r in backend.requests if not r.background) == [
        "SaveFilePartRequest",
        "SaveFilePartRequest",
        "SetInlineBotResultsRequest",
        "UploadMediaRequest",
        "UploadMediaRequest",
    ]
    assert backend.max_in_flight == 2  # the two uploads, concurrently: one action all the same
    assert len(results) == 2
    after = stats()
    assert after.unguarded == before.unguarded and after.overlaps == before.overlaps
    assert after.deadlocks == before.deadlocks


async def backend_user(client: TelegramClient, username: str) -> Any:
    async with telethon_lock:
        return await client.get_entity(username)


async def test_a_users_own_task_running_an_inline_builder_is_a_user_action(
    guard: Callable[..., None], backend: FakeTelegram, client: TelegramClient
) -> None:
    guard("strict")
    backend.answer(functions.upload.SaveFilePartRequest, lambda request: True)
    backend.answer(functions.messages.UploadMediaRequest, refuse_photo)
    async with telethon_lock:
        upload = asyncio.create_task(InlineBuilder(client).photo(png()), name="my-upload")
        with pytest.raises(UnguardedCallError) as info:
            await upload
    assert "'my-upload'" in str(info.value)
    assert "SaveFilePartRequest" not in [r.name for r in backend.requests]


@pytest.mark.parametrize("mode", ["strict", "detect", "serialize"])
@pytest.mark.parametrize("held", [True, False])
async def test_edit_folder_resolves_entities_in_child_tasks_of_one_action(
    mode: str, held: bool, guard: Callable[..., None], backend: FakeTelegram, client: TelegramClient
) -> None:
    # edit_folder([...]) resolves every entity in a gather child (client/dialogs.py:390): two
    # ResolveUsername requests of one action in flight at once, in tasks that are not the holder.
    backend.add_user("bob")
    backend.add_user("carol")
    backend.latency = 0.001
    backend.answer(
        functions.folders.EditPeerFoldersRequest,
        lambda request: types.Updates(updates=[], users=[], chats=[], date=None, seq=0),
    )
    guard(mode)
    before = stats()
    backend.reset_stats()
    if held:
        async with telethon_lock:
            await client.edit_folder(["bob", "carol"], 1)
    elif mode == "strict":
        with pytest.raises(UnguardedCallError) as info:
            await client.edit_folder(["bob", "carol"], 1)  # <edit-folder-unguarded>
        # named after the action's own task and call site, not Telethon's child task
        assert line_of("edit-folder-unguarded") in str(info.value)
        assert repr(asyncio.current_task().get_name()) in str(info.value)  # type: ignore[union-attr]
        return
    else:
        await client.edit_folder(["bob", "carol"], 1)
    names = [r.name for r in backend.requests if not r.background]
    assert names == ["ResolveUsernameRequest"] * 2 + ["EditPeerFoldersRequest"]
    assert backend.max_in_flight == (1 if mode == "serialize" and not held else 2)
    after = stats()
    assert after.overlaps == before.overlaps and after.deadlocks == before.deadlocks
    if held or mode != "serialize":
        assert after.unguarded == before.unguarded
    assert telethon_lock.owner is None


async def test_edit_folder_inside_an_async_generator_is_part_of_the_consumers_action(
    guard: Callable[..., None], backend: FakeTelegram, client: TelegramClient
) -> None:
    # The holder's await chain runs through `async for` into the generator, where Telethon waits for
    # its gather children: they are still part of the holder's action.
    backend.add_user("bob")
    backend.add_user("carol")
    backend.answer(
        functions.folders.EditPeerFoldersRequest,
        lambda request: types.Updates(updates=[], users=[], chats=[], date=None, seq=0),
    )
    guard("strict")

    async def archive(names: list[str]) -> Any:
        for name in names:
            await client.edit_folder([name, "alice"], 1)
            yield name

    async with telethon_lock:
        done = [name async for name in archive(["bob", "carol"])]
    assert done == ["bob", "carol"]
    assert stats().unguarded == 0 and stats().overlaps == 0


def callback_event(client: TelegramClient, user: Any, query_id: int) -> Any:
    peer = types.PeerUser(user.id)
    query = types.UpdateBotCallbackQuery(
        query_id=query_id, user_id=user.id, peer=peer, msg_id=5, chat_instance=0, data=b"x"
    )
    event = events.CallbackQuery.Event(query, peer, 5)
    event._entities[user.id] = user  # as the update's users would
    event._set_client(client)
    return event


async def test_callback_auto_answer_is_telethons_but_a_users_answer_task_is_not(
    guard: Callable[..., None], backend: FakeTelegram, client: TelegramClient
) -> None:
    answered: asyncio.Queue[int] = asyncio.Queue()

    def answer(request: Any) -> bool:
        answered.put_nowait(request.query_id)
        return True

    backend.answer(functions.messages.SetBotCallbackAnswerRequest, answer)
    alice = await backend_user(client, "alice")
    guard("strict")
    seen: list[Any] = []
    guard_module._add_listener(seen.append)
    try:
        # respond() spawns a task that answers the callback (events/callbackquery.py:280): Telethon's.
        event = callback_event(client, alice, 1)
        async with telethon_lock:
            await event.respond("pong")
        assert await asyncio.wait_for(answered.get(), 5) == 1
        assert seen == []
        # The user's own task running event.answer() does not hold the lock.
        other = callback_event(client, alice, 2)
        async with telethon_lock:
            task = asyncio.create_task(other.answer(), name="my-answer")
            with pytest.raises(UnguardedCallError, match="'my-answer'"):
                await task
    finally:
        guard_module._remove_listener(seen.append)
    assert answered.empty()
    assert backend.sent_messages("alice") == ["pong"]


# The abandoned client's tasks complain when they are collected on their closed loop: expected here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_action_abandoned_on_a_closed_loop_is_not_an_overlap(
    guard: Callable[..., None], fake: FakeTelegram, tmp_path: Path
) -> None:
    # A task left pending when its loop was closed (a test's loop, an asyncio.run() that returned)
    # never runs its `finally`: it must not count as an action in flight for ever.
    guard("detect")
    old_loop = asyncio.new_event_loop()
    first = fake.client(tmp_path / "first.session")

    async def abandon(client: TelegramClient) -> None:
        await client.connect()
        entered = asyncio.Event()

        def answer(request: Any) -> Any:
            entered.set()
            return types.NearestDc(country="NL", this_dc=2, nearest_dc=2)

        fake.answer(functions.help.GetNearestDcRequest, answer)
        fake.latency = 60
        asyncio.get_running_loop().create_task(client(functions.help.GetNearestDcRequest()))
        await entered.wait()
        fake.latency = 0

    old_loop.run_until_complete(abandon(first))
    old_loop.close()  # the request stays "in flight" on a dead loop

    async def later() -> None:
        second = fake.client(tmp_path / "second.session")
        await second.connect()
        try:
            await second.get_messages("alice", limit=1)  # no TelethonOverlapError
        finally:
            await second.disconnect()

    asyncio.run(later())
    del first, old_loop
    gc.collect()  # let the abandoned tasks complain now, inside this test
