"""A fake Telegram for testing Telethon services offline: ``telethon_guard.testing``.

:class:`FakeTelegram` replaces only the network sender of a real ``TelegramClient``. Everything above
it is Telethon's own code and runs for real: ``client(...)`` and ``_call`` (so the telethon-guard
patch sees every request), ``request.resolve()``, entity caching into the real SQLite session file,
real ``Message`` objects, the update loop and its message box, event handlers and conversations.
Importing this module patches nothing; it needs no network and no pytest (it works in a subprocess,
under uvicorn, anywhere there is an event loop).

Example test (pytest-asyncio)::

    from telethon import events
    from telethon_guard.testing import FakeTelegram

    async def test_newbot(tmp_path):
        backend = FakeTelegram(latency=0.01)
        backend.add_botfather()
        client = backend.client(tmp_path / "bot.session")   # a real TelegramClient, real SQLite file
        await client.start()                                 # offline; the account is authorised
        try:
            async with client.conversation("BotFather") as conv:
                await conv.send_message("/newbot")
                await conv.get_response()                    # "Alright, a new bot. ..."
                await conv.send_message("My Bot")
                await conv.get_response()                    # "Good. Now let's choose a username ..."
                await conv.send_message("my_test_bot")
                done = await conv.get_response()
            assert backend.bot_token("my_test_bot") in done.text
            assert backend.sent_messages("BotFather") == ["/newbot", "My Bot", "my_test_bot"]
            assert backend.max_in_flight == 1
        finally:
            await client.disconnect()

The account
    ``backend.me`` is the account's ``types.User``; ``client.start()`` / ``get_me()`` return it.
    ``backend.add_user("alice", bot=False, first_name="Alice")`` creates someone resolvable by
    username (ids and access hashes are deterministic, so a session file reused by a new backend in a
    new process still points at the same users). ``backend.add_botfather()`` adds a canned @BotFather
    (``/start``, ``/help``, ``/newbot`` -> name -> username -> ``"Done! ... Use this token to access the
    HTTP API:\\n<id>:<token>"``, ``/mybots``, ``/token``, ``/cancel``; anything else gets
    ``"Unrecognized command. Say what?"``); ``FakeTelegram.bot_token(username)`` is the token it gives.

Conversations
    ``backend.on_message("alice", responder)``: ``responder(text)`` returns the reply, a list of
    replies or ``None``; replies arrive as updates right after the answer to ``send_message``.
    ``backend.push_message("alice", "hi")`` makes alice write now: every connected client gets a real
    update (``events.NewMessage`` handlers fire, ``conv.get_response()`` returns it).
    The server keeps the history: ``get_messages`` / ``iter_messages`` (limit, offsets, ``reverse``,
    ``min_id`` / ``max_id``, text ``search``), ``get_messages(ids=...)``, ``iter_dialogs``, ``edit_message``,
    ``delete_messages``, ``send_read_acknowledge``, ``action()`` (typing). ``backend.sent_messages("alice")``
    lists what the account sent her; ``backend.history("alice")`` the whole chat.
    Only private chats are modelled (no groups or channels).

Timing and concurrency
    Each answer arrives ``backend.latency`` seconds after ``send()`` (an asyncio timer on the client's
    loop; settable at any time). Answers and updates reach a client in the order they were produced,
    like over one connection, so a slow answer also holds up the later ones of that client (not of
    other clients). ``backend.in_flight`` counts requests between send and answer;
    ``backend.max_in_flight`` is its maximum since creation or ``backend.reset_stats()`` -- 1 means the
    requests were serialised. ``backend.requests`` logs every request that reached the network as a
    :class:`RequestRecord` (``name``, ``request``, ``task``, ``background``, ``client``, ``started``,
    ``finished``, ``error``), Telethon's own background requests (update loop, keep-alive, typing
    loops: ``background=True``) included. All of it is meant to be used from the clients' event loop
    thread.

Failures and extensions
    ``backend.fail_next("SendMessageRequest", errors.FloodWaitError(None, capture=120))`` makes the
    next such request fail (``times=`` for more); the request has no effect. Telethon's own reaction
    stays real: it sleeps through a flood wait under ``flood_sleep_threshold`` and retries, and after a
    longer one it refuses that request type itself until the wait is over. A request with no canned
    answer fails with :class:`UnhandledRequestError`, whose message names it and shows how to add an
    answer: ``backend.answer(functions.messages.SendMediaRequest, lambda request: ...)``.

Clients
    ``backend.client(path_or_session, **kwargs)`` builds a real ``TelegramClient`` (fake ``api_id`` /
    ``api_hash``; ``client_class=`` for a subclass) and wires it; ``backend.attach(client)`` wires an
    existing, not yet connected one. Several clients may share a backend (they are sessions of the same
    account and see each other's messages as updates); several backends never share anything.
    ``connect()`` stores a random auth key and DC 2 in the session; ``disconnect()`` cancels what is in
    flight and closes the session like the real one.
"""

from __future__ import annotations

from ._backend import FakeTelegram, RequestRecord, UnhandledRequestError

__all__ = ["FakeTelegram", "RequestRecord", "UnhandledRequestError"]
