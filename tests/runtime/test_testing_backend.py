"""The public fake Telegram backend: real TelegramClients on real SQLite sessions, only the sender fake."""

from __future__ import annotations

import asyncio
import datetime
import gc
import sqlite3
import subprocess
import sys
import textwrap
import warnings
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telethon import TelegramClient, errors, events
from telethon.network.mtprotosender import MTProtoSender
from telethon.tl import functions, types

from telethon_guard.testing import FakeTelegram, RequestRecord, UnhandledRequestError


@pytest.fixture
def fake() -> FakeTelegram:
    backend = FakeTelegram()
    backend.add_botfather()
    backend.add_user("alice", first_name="Alice")
    return backend


@pytest.fixture
async def tg(fake: FakeTelegram, tmp_path: Path) -> AsyncIterator[TelegramClient]:
    client = fake.client(tmp_path / "t.session")
    await client.start()
    try:
        yield client
    finally:
        await client.disconnect()


def user_requests(fake: FakeTelegram) -> list[str]:
    return [r.name for r in fake.requests if not r.background]


async def test_connect_start_get_me_offline(fake: FakeTelegram, tmp_path: Path) -> None:
    client = fake.client(tmp_path / "me.session")
    assert isinstance(client, TelegramClient)
    assert isinstance(client._sender, MTProtoSender)  # still the type Telethon expects
    await client.connect()
    assert client.is_connected()
    assert await client.is_user_authorized()
    await client.start()  # authorised: no phone prompt
    me = await client.get_me()
    assert (me.id, me.username, me.is_self) == (fake.me.id, fake.me.username, True)
    assert me is not fake.me  # a copy read "off the wire", never the server's object
    assert user_requests(fake)[0] == "GetConfigRequest"  # what connect() sends first
    await client.disconnect()
    assert not client.is_connected()


async def test_resolved_username_is_cached_in_the_sqlite_file(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    path = tmp_path / "cache.session"
    client = fake.client(path)
    await client.start()
    entity = await client.get_entity("alice")
    assert entity.first_name == "Alice"
    await client.send_message("BotFather", "/start")
    assert user_requests(fake).count("ResolveUsernameRequest") == 2
    await client.disconnect()

    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = dict(db.execute("SELECT username, id FROM entities WHERE username IS NOT NULL"))
        hashes = dict(db.execute("SELECT id, hash FROM entities"))
        dc_id, auth_key = db.execute("SELECT dc_id, auth_key FROM sessions").fetchone()
    botfather = fake.add_botfather()
    assert rows["botfather"] == botfather.id == 93372553
    assert hashes[botfather.id] == botfather.access_hash
    assert rows["alice"] == entity.id
    assert dc_id == 2 and len(auth_key) == 256

    # A new process would build a new backend: same ids and hashes, so the cache stays valid and the
    # username is not resolved again.
    again = FakeTelegram()
    again.add_botfather()
    client = again.client(path)
    await client.start()
    await client.send_message("BotFather", "/help")
    assert "ResolveUsernameRequest" not in user_requests(again)
    assert again.sent_messages("BotFather") == ["/help"]
    await client.disconnect()


async def test_send_message_then_get_messages_round_trip(
    fake: FakeTelegram, tg: TelegramClient
) -> None:
    sent = [await tg.send_message("alice", f"message {i}") for i in range(3)]
    assert all(isinstance(m, types.Message) for m in sent)
    assert [m.id for m in sent] == sorted({m.id for m in sent})
    first = sent[0]
    assert first.out and first.text == "message 0" and first.date is not None
    assert first.chat_id == fake.history("alice")[0].peer_id.user_id
    assert (await first.get_chat()).username == "alice"
    fake.push_message("alice", "an answer")

    history = await tg.get_messages("alice", limit=10)
    assert [m.text for m in history] == ["an answer", "message 2", "message 1", "message 0"]
    assert [m.out for m in history] == [False, True, True, True]
    assert history[0].sender_id == history[0].chat_id  # incoming private message: sent by alice
    assert history[1].sender_id == fake.me.id
    assert fake.sent_messages("alice") == ["message 0", "message 1", "message 2"]
    assert all(m is not stored for m in history for stored in fake.history("alice"))  # copies

    by_id = await tg.get_messages("alice", ids=[sent[1].id, 10_000])
    assert by_id[0].text == "message 1" and by_id[1] is None


async def test_iter_messages_pages_offsets_and_reverse(
    fake: FakeTelegram, tg: TelegramClient
) -> None:
    for i in range(1, 251):
        fake.push_message("alice", str(i))  # message ids 1..250 (alice's chat is the only one)
    newest_first = [m.text async for m in tg.iter_messages("alice", limit=300)]  # 3 pages
    assert newest_first == [str(i) for i in range(250, 0, -1)]
    assert user_requests(fake).count("GetHistoryRequest") == 3
    assert [m.text async for m in tg.iter_messages("alice", reverse=True, limit=150)] == [
        str(i) for i in range(1, 151)
    ]
    assert [m.id async for m in tg.iter_messages("alice", offset_id=11, limit=3)] == [10, 9, 8]
    assert [m.id async for m in tg.iter_messages("alice", min_id=245)] == [250, 249, 248, 247, 246]
    assert [m.id async for m in tg.iter_messages("alice", max_id=4)] == [3, 2, 1]
    assert [m.id async for m in tg.iter_messages("alice", reverse=True, min_id=247, limit=9)] == [
        248,
        249,
        250,
    ]
    assert [m.id async for m in tg.iter_messages("alice", search="25")] == [250, 225, 125, 25]
    total = await tg.get_messages("alice", limit=0)
    assert total.total == 250

    # offset_date: messages strictly older than the date (give the stored messages a minute each).
    base = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    for i, message in enumerate(fake.history("alice")):
        message.date = base + datetime.timedelta(minutes=i)  # message id i + 1
    older = await tg.get_messages(
        "alice", limit=3, offset_date=base + datetime.timedelta(minutes=9)
    )
    assert [m.id for m in older] == [9, 8, 7]


async def test_conversation_newbot_gets_the_token(fake: FakeTelegram, tg: TelegramClient) -> None:
    async with tg.conversation("BotFather") as conv:
        await conv.send_message("/newbot")
        assert "choose a name" in (await conv.get_response()).text
        await conv.send_message("Relay Bot")
        assert "choose a username" in (await conv.get_response()).text
        await conv.send_message("relay_test")
        assert "must end in 'bot'" in (await conv.get_response()).text
        await conv.send_message("relay_test_bot")
        done = await conv.get_response()
        await conv.mark_read()
    token = FakeTelegram.bot_token("relay_test_bot")
    assert done.text.startswith("Done! Congratulations on your new bot.")
    assert f"Use this token to access the HTTP API:\n{token}\n" in done.text
    assert token.split(":")[0] == str((await tg.get_entity("relay_test_bot")).id)

    async with tg.conversation("BotFather") as conv:  # the username is now taken
        for text in ("/newbot", "Again", "relay_test_bot"):
            await conv.send_message(text)
            reply = await conv.get_response()
        assert "already taken" in reply.text
        await conv.send_message("/cancel")
        assert "/newbot has been cancelled" in (await conv.get_response()).text
        await conv.send_message("what?")
        await conv.get_response()

    history = await tg.get_messages("BotFather", limit=4)  # both directions, newest first
    assert [m.out for m in history] == [False, True, False, True]
    assert history[1].text == "what?"
    assert history[0].text == "Unrecognized command. Say what?"
    assert "ReadHistoryRequest" in user_requests(fake)


async def test_event_handler_fires_for_push_message(fake: FakeTelegram, tg: TelegramClient) -> None:
    seen: list[tuple[str, int]] = []
    received = asyncio.Event()

    @tg.on(events.NewMessage(incoming=True))
    async def on_message(event: events.NewMessage.Event) -> None:
        seen.append((event.raw_text, event.sender_id))
        if len(seen) == 2:
            received.set()

    alice = fake.add_user("dave")
    fake.push_message("alice", "first")
    fake.push_message("dave", "second")
    await asyncio.wait_for(received.wait(), 5)
    assert [text for text, _ in seen] == ["first", "second"]
    assert seen[1][1] == alice.id
    # The update path never had to fetch a difference: pts were consistent.
    assert "GetDifferenceRequest" not in [r.name for r in fake.requests if r.background]


async def test_handler_reply_is_a_user_request(fake: FakeTelegram, tg: TelegramClient) -> None:
    replied = asyncio.Event()

    @tg.on(events.NewMessage(incoming=True, pattern="ping"))
    async def pong(event: events.NewMessage.Event) -> None:
        await event.reply("pong")
        replied.set()

    fake.push_message("alice", "ping")
    await asyncio.wait_for(replied.wait(), 5)
    assert fake.sent_messages("alice") == ["pong"]
    send = next(r for r in fake.requests if r.name == "SendMessageRequest")
    assert send.background is False  # handler code is user code
    reply_to = fake.history("alice")[-1].reply_to
    assert reply_to.reply_to_msg_id == fake.history("alice")[0].id


async def test_two_concurrent_sends_are_both_in_flight(
    fake: FakeTelegram, tg: TelegramClient
) -> None:
    fake.latency = 0.05
    await tg.get_input_entity("alice")  # resolve once, so the sends below are one request each
    fake.reset_stats()
    assert fake.requests == [] and fake.max_in_flight == 0
    first, second = await asyncio.gather(
        tg.send_message("alice", "one"), tg.send_message("alice", "two")
    )
    assert fake.max_in_flight == 2 and fake.in_flight == 0
    records = [r for r in fake.requests if r.name == "SendMessageRequest"]
    assert len(records) == 2
    first_answered = records[0].finished
    assert first_answered is not None
    assert records[1].started < first_answered  # the second was sent before the first answer
    for record in records:
        assert isinstance(record, RequestRecord)
        assert record.finished is not None and record.finished - record.started >= 0.05 * 0.99
        assert record.task is not None and not record.background
    assert records[0].task != records[1].task  # gather() ran each send in a task of its own
    assert fake.sent_messages("alice") == ["one", "two"]
    assert (first.id, second.id) == (1, 2)

    fake.reset_stats()
    await tg.send_message("alice", "three")
    await tg.send_message("alice", "four")
    assert fake.max_in_flight == 1


async def test_replies_arrive_after_the_latency_in_order(
    fake: FakeTelegram, tg: TelegramClient
) -> None:
    fake.latency = 0.02
    fake.on_message("alice", lambda text: [f"{text}!", f"{text}!!"])
    got: list[str] = []
    done = asyncio.Event()

    @tg.on(events.NewMessage(incoming=True))
    async def collect(event: events.NewMessage.Event) -> None:
        got.append(event.raw_text)
        if len(got) == 4:
            done.set()

    await asyncio.gather(tg.send_message("alice", "a"), tg.send_message("alice", "b"))
    await asyncio.wait_for(done.wait(), 5)
    assert got == ["a!", "a!!", "b!", "b!!"]
    fake.on_message("alice", None)
    await tg.send_message("alice", "quiet")
    assert [m.message for m in fake.history("alice")][-1] == "quiet"


async def test_fail_next_raises_through_send_message(
    fake: FakeTelegram, tg: TelegramClient
) -> None:
    await tg.get_input_entity("alice")
    fake.fail_next(functions.messages.SendMessageRequest, errors.UserIsBlockedError, times=2)
    for _ in range(2):
        with pytest.raises(errors.UserIsBlockedError) as blocked:
            await tg.send_message("alice", "blocked")
        assert isinstance(blocked.value.request, functions.messages.SendMessageRequest)
    assert fake.sent_messages("alice") == []  # a failed request has no effect
    await tg.send_message("alice", "through")
    assert fake.sent_messages("alice") == ["through"]

    fake.fail_next("SendMessage", errors.FloodWaitError(None, capture=600))
    with pytest.raises(errors.FloodWaitError) as caught:
        await tg.send_message("alice", "flooded")
    assert caught.value.seconds == 600
    failed = [r for r in fake.requests if r.error is not None]
    assert [type(r.error) for r in failed] == [
        errors.UserIsBlockedError,
        errors.UserIsBlockedError,
        errors.FloodWaitError,
    ]
    # Telethon remembers the flood wait and refuses the next SendMessage itself, offline.
    sent_before = len(fake.requests)
    with pytest.raises(errors.FloodWaitError):
        await tg.send_message("alice", "still flooded")
    assert len(fake.requests) == sent_before
    assert fake.sent_messages("alice") == ["through"]


async def test_unknown_request_names_it_and_the_fix(fake: FakeTelegram, tg: TelegramClient) -> None:
    with pytest.raises(UnhandledRequestError) as caught:
        await tg(functions.account.GetAuthorizationsRequest())
    message = str(caught.value)
    assert "account.GetAuthorizationsRequest" in message
    assert "backend.answer(" in message
    assert repr(asyncio.current_task().get_name()) in message  # type: ignore[union-attr]

    fake.answer(
        functions.account.GetAuthorizationsRequest,
        lambda request: types.account.Authorizations(authorization_ttl_days=7, authorizations=[]),
    )
    answer = await tg(functions.account.GetAuthorizationsRequest())
    assert answer.authorization_ttl_days == 7

    fake.answer(functions.account.GetAuthorizationsRequest, lambda request: object())
    with pytest.raises(TypeError, match="could not serialise its answer"):
        await tg(functions.account.GetAuthorizationsRequest())
    await tg.send_message("alice", "still answering")  # a bad answer stalls nothing
    with pytest.raises(TypeError):
        fake.answer("GetAuthorizationsRequest", lambda request: None)  # type: ignore[arg-type]


async def test_wrong_peers_get_telegram_errors(fake: FakeTelegram, tg: TelegramClient) -> None:
    with pytest.raises(ValueError, match="nobody"):
        await tg.send_message("nobody", "hi")  # contacts.resolveUsername: USERNAME_NOT_OCCUPIED
    alice = await tg.get_input_entity("alice")
    with pytest.raises(errors.PeerIdInvalidError):
        await tg.send_message(types.InputPeerUser(alice.user_id, alice.access_hash + 1), "hi")
    with pytest.raises(errors.MessageTooLongError):
        await tg.send_message("alice", "x" * 5000)
    with pytest.raises(KeyError, match=r"add_user\('nobody'\)"):
        fake.push_message("nobody", "hi")
    with pytest.raises(ValueError, match="did you mean 'SendMessageRequest'"):
        fake.fail_next("SendMesageRequest", errors.FloodWaitError)
    with pytest.raises(TypeError):
        fake.fail_next("SendMessage", "not an exception")  # type: ignore[arg-type]


async def test_dialogs_read_edit_delete_and_typing(fake: FakeTelegram, tg: TelegramClient) -> None:
    await tg.send_message("BotFather", "/start")
    fake.push_message("alice", "one")
    fake.push_message("alice", "two")
    dialogs = [d async for d in tg.iter_dialogs()]
    assert [d.name for d in dialogs] == ["Alice", "BotFather"]
    assert [d.unread_count for d in dialogs] == [2, 1]
    await tg.send_read_acknowledge("alice")
    assert [d.unread_count async for d in tg.iter_dialogs()] == [0, 1]

    async with tg.action("alice", "typing"):
        sent = await tg.send_message("alice", "draft")
    edited = await tg.edit_message("alice", sent.id, "final")
    assert edited.text == "final" and edited.edit_date is not None
    with pytest.raises(errors.MessageNotModifiedError):
        await tg.edit_message("alice", sent.id, "final")
    await tg.delete_messages("alice", [sent.id])
    assert fake.sent_messages("alice") == []
    typing = [r for r in fake.requests if r.name == "SetTypingRequest"]
    assert typing[-1].request.action == types.SendMessageCancelAction()
    assert all(r.background for r in typing)  # Telethon's typing loop, a task of its own, sent them
    # Every pts-changing answer kept the message box in step: no difference was ever needed.
    assert "GetDifferenceRequest" not in [r.name for r in fake.requests if r.background]


async def test_catch_up_after_restart_is_a_background_difference(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    path = tmp_path / "restart.session"
    client = fake.client(path)
    await client.start()
    await client.send_message("alice", "before")
    await client.disconnect()  # saves the update state into the session file

    fake.push_message("alice", "while you were away")
    client = fake.client(path, catch_up=True)
    missed: list[str] = []
    caught_up = asyncio.Event()

    @client.on(events.NewMessage(incoming=True))
    async def on_missed(event: events.NewMessage.Event) -> None:
        missed.append(event.raw_text)
        caught_up.set()

    await client.start()
    await asyncio.wait_for(caught_up.wait(), 5)
    assert missed == ["while you were away"]
    difference = [r for r in fake.requests if r.name == "GetDifferenceRequest" and r.background]
    assert difference and difference[-1].task != asyncio.current_task().get_name()  # type: ignore[union-attr]
    await client.disconnect()


async def test_two_sessions_of_one_account_see_each_other(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    first = fake.client(tmp_path / "a.session")
    second = fake.client(tmp_path / "b.session")
    await first.start()
    await second.start()
    seen = asyncio.Event()
    texts: list[str] = []

    @second.on(events.NewMessage(outgoing=True))
    async def on_outgoing(event: events.NewMessage.Event) -> None:
        texts.append(event.raw_text)
        seen.set()

    await first.send_message("alice", "from the first session")
    await asyncio.wait_for(seen.wait(), 5)
    assert texts == ["from the first session"]
    assert {r.client for r in fake.requests} == {0, 1}
    await first.disconnect()
    await second.disconnect()


async def test_backends_do_not_share_anything(tmp_path: Path) -> None:
    one, two = FakeTelegram(), FakeTelegram(username="other")
    one.add_user("alice")
    two.add_user("alice")
    a, b = one.client(tmp_path / "1.session"), two.client(tmp_path / "2.session")
    await a.start()
    await b.start()
    assert (await a.get_me()).id != (await b.get_me()).id
    await a.send_message("alice", "only on one")
    assert two.sent_messages("alice") == [] and two.requests[-1].name != "SendMessageRequest"
    assert all(r.client == 0 for r in one.requests + two.requests)
    await a.disconnect()
    await b.disconnect()


async def test_attach_a_subclass_and_refuse_a_connected_client(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    class Service(TelegramClient):
        async def greet(self) -> None:
            await self.send_message("alice", "hello from a subclass")

    client = fake.attach(Service(str(tmp_path / "sub.session"), 1, "0" * 32))
    assert isinstance(client, Service)
    await client.start()
    await client.greet()
    assert fake.sent_messages("alice") == ["hello from a subclass"]
    with pytest.raises(RuntimeError, match=r"before client\.connect"):
        fake.attach(client)
    await client.disconnect()
    with pytest.raises(ValueError):
        FakeTelegram(latency=-1)


async def test_disconnect_is_clean_and_cancels_what_is_in_flight(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    client = fake.client(tmp_path / "clean.session")
    await client.start()
    await client.get_input_entity("alice")  # cached entity: the send below is a single request
    fake.latency = 3600  # the answer will never come
    in_flight = asyncio.Event()
    fake.on_message("alice", lambda text: in_flight.set())
    stuck = asyncio.ensure_future(client.send_message("alice", "lost"))
    await in_flight.wait()
    assert fake.in_flight == 1
    await client.disconnect()
    with pytest.raises(asyncio.CancelledError):
        await stuck
    assert fake.in_flight == 0 and all(r.finished is not None for r in fake.requests)
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == []  # no update loop, keep-alive or timer task left behind
    with pytest.raises(ConnectionError):
        client._sender.send(functions.PingRequest(1))


def test_no_pending_task_warnings_and_collectable(tmp_path: Path) -> None:
    """In a loop of its own: asyncio would log "Task was destroyed but it is pending" at close."""
    fake = FakeTelegram(latency=0.001)
    fake.add_botfather()

    async def main() -> weakref.ref[TelegramClient]:
        client = fake.client(tmp_path / "gc.session")
        for _ in range(3):  # a service that reconnects: the same client, connected again
            await client.start()
            async with client.conversation("BotFather") as conv:
                await conv.send_message("/start")
                await conv.get_response()
            await client.disconnect()
        return weakref.ref(client)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client_ref = asyncio.run(main(), debug=True)
        gc.collect()
    assert client_ref() is None  # the backend keeps no reference to its clients
    assert fake.in_flight == 0 and fake.sent_messages("BotFather") == ["/start"] * 3


async def test_client_without_updates(fake: FakeTelegram) -> None:
    client = fake.client(None, receive_updates=False)  # every request wrapped by Telethon
    await client.start()
    await client.send_message("alice", "no updates")
    assert fake.sent_messages("alice") == ["no updates"]
    assert {r.name for r in fake.requests} >= {"GetConfigRequest", "SendMessageRequest"}
    assert isinstance(fake.requests[-1].request, functions.InvokeWithoutUpdatesRequest)
    await client.disconnect()


def test_works_in_a_plain_subprocess(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio
        from telethon_guard.testing import FakeTelegram

        async def main():
            backend = FakeTelegram(latency=0.001)
            backend.add_botfather()
            client = backend.client({str(tmp_path / "sub.session")!r})
            await client.start()
            reply = None
            async with client.conversation("BotFather") as conv:
                await conv.send_message("/help")
                reply = await conv.get_response()
            await client.disconnect()
            print(reply.text.splitlines()[0])

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("I can help you create and manage Telegram bots.")
    assert "pytest" not in done.stderr and "Task was destroyed" not in done.stderr


async def test_full_user_and_async_answer_refused(fake: FakeTelegram, tg: TelegramClient) -> None:
    full = await tg(functions.users.GetFullUserRequest("alice"))
    assert full.users[0].username == "alice" and full.full_user.id == full.users[0].id

    async def not_allowed(request: object) -> None:
        return None

    fake.answer(functions.help.GetNearestDcRequest, not_allowed)
    with pytest.raises(TypeError, match="plain function"):
        await tg(functions.help.GetNearestDcRequest())
    fake.answer(functions.help.GetNearestDcRequest, None)
    with pytest.raises(UnhandledRequestError):
        await tg(functions.help.GetNearestDcRequest())


async def test_session_from_an_older_backend_still_gets_updates(tmp_path: Path) -> None:
    """A new process builds a new backend whose pts is behind the session's: difference too long."""
    path = tmp_path / "old.session"
    old = FakeTelegram()
    old.add_user("alice")
    client = old.client(path)
    await client.start()
    for i in range(5):
        await client.send_message("alice", f"old {i}")
    await client.disconnect()  # the session now remembers pts 6

    new = FakeTelegram()
    new.add_user("alice")
    client = new.client(path, catch_up=True)
    got = asyncio.Event()

    @client.on(events.NewMessage(incoming=True))
    async def on_new(event: events.NewMessage.Event) -> None:
        got.set()

    await client.start()
    new.push_message("alice", "fresh")  # pts 2 on the new backend, below the session's 6
    await asyncio.wait_for(got.wait(), 5)
    too_long = [r for r in new.requests if r.name == "GetDifferenceRequest"]
    assert too_long and too_long[0].request.pts > 2 and too_long[0].background
    await client.disconnect()


async def test_the_documented_example_runs(tmp_path: Path) -> None:
    import telethon_guard.testing as testing

    doc = testing.__doc__ or ""
    example = doc.split("Example test (pytest-asyncio)::", 1)[1].split("\nThe account", 1)[0]
    namespace: dict[str, object] = {}
    exec(compile(textwrap.dedent(example), "testing-docstring", "exec"), namespace)
    await namespace["test_newbot"](tmp_path)  # type: ignore[operator]
