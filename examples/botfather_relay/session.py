"""``BotFatherSession``: everything the relay does with Telegram, each Telethon action under the lock.

The relay's HTTP handlers never touch the ``TelegramClient``; they call this class, and every method
here that reaches Telegram holds ``telethon_lock`` for the whole action -- a ``/newbot`` conversation
included, so two conversations (or a conversation and a plain message) never interleave in the
BotFather chat and each reply reaches the request that caused it.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telethon import TelegramClient
from telethon.tl.custom.conversation import Conversation

from telethon_guard import telethon_lock

from .settings import Settings

__all__ = [
    "BotFatherRefusedError",
    "BotFatherSession",
    "BotFatherTimeoutError",
    "NewBot",
    "NotAuthorizedError",
    "Reply",
    "open_client",
]

# "Use this token to access the HTTP API:\n123456:AAE..." -- BotFather's answer to a good username.
_TOKEN = re.compile(r"\b(\d{5,}:[A-Za-z0-9_-]{30,})")
# How many unrelated incoming messages a conversation step skips before giving up: a late reply to an
# earlier plain message can arrive after "/newbot" was sent.
_MAX_SKIPPED = 5


class NotAuthorizedError(RuntimeError):
    """The session file is not logged in to Telegram."""


class BotFatherRefusedError(RuntimeError):
    """BotFather answered a ``/newbot`` step with a refusal ("Sorry, ..."); ``reply`` is its text."""

    def __init__(self, step: str, reply: str) -> None:
        super().__init__(f"BotFather refused the {step}: {reply}")
        self.step = step
        self.reply = reply


class BotFatherTimeoutError(TimeoutError):
    """BotFather did not answer a ``/newbot`` step in time."""


@dataclass(frozen=True)
class Reply:
    """One message of the BotFather chat."""

    id: int
    text: str
    date: datetime | None
    outgoing: bool


@dataclass(frozen=True)
class NewBot:
    """The result of a successful ``/newbot`` conversation."""

    username: str
    token: str
    reply: str


def open_client(settings: Settings) -> tuple[TelegramClient, Any]:
    """Build the relay's client, not yet connected, and the offline backend (``None`` online).

    The only place the relay constructs a ``TelegramClient``; call it once per process (the lifespan,
    or ``login``), with the session file claimed: the lifespan holds ``claim_session()``, and under
    ``telethon_guard.install()`` constructing the client claims it too.
    """
    if settings.offline:
        from telethon_guard.testing import FakeTelegram

        backend = FakeTelegram(latency=settings.latency)
        backend.add_botfather()
        client = backend.client(
            settings.session, flood_sleep_threshold=settings.flood_sleep_threshold
        )
        return client, backend
    client = TelegramClient(
        settings.session,
        settings.api_id,
        settings.api_hash,
        flood_sleep_threshold=settings.flood_sleep_threshold,
    )
    return client, None


class BotFatherSession:
    """The relay's one conversation partner on Telegram, over one ``TelegramClient``.

    Args:
        client: the process's only client of this session (built once, in the app's lifespan).
        bot: whom to talk to.
        conversation_timeout: seconds to wait for each BotFather reply in :meth:`create_bot`.
    """

    def __init__(
        self,
        client: TelegramClient,
        *,
        bot: str = "BotFather",
        conversation_timeout: float = 10.0,
    ) -> None:
        self.client = client
        self.bot = bot
        self.conversation_timeout = conversation_timeout
        #: Seconds each recent action waited for the lock: the one number that says whether the
        #: serialisation is the bottleneck (``GET /health`` reports its percentiles).
        self.lock_waits: deque[float] = deque(maxlen=10_000)

    def _waited(self, queued: float) -> None:
        self.lock_waits.append(time.perf_counter() - queued)

    async def start(self) -> None:
        """Connect, check the login, and resolve the bot once (its entity is cached in the session)."""
        async with telethon_lock:
            await self.client.connect()
            if not await self.client.is_user_authorized():
                where = getattr(self.client.session, "filename", "in memory")
                raise NotAuthorizedError(
                    f"the session {where!r} is not logged in to Telegram: "
                    "log in once with `python -m examples.botfather_relay login` (relay stopped), "
                    "or run offline (RELAY_OFFLINE=1)"
                )
            await self.client.get_input_entity(self.bot)

    async def close(self) -> None:
        """Disconnect once the action in progress is over; Telethon saves the session file."""
        async with telethon_lock:
            await self.client.disconnect()

    async def send_message(self, text: str) -> int:
        """Send ``text`` to the bot; return the id of the sent message."""
        queued = time.perf_counter()
        async with telethon_lock:
            self._waited(queued)
            message = await self.client.send_message(self.bot, text)
        return int(message.id)

    async def get_replies(self, limit: int) -> list[Reply]:
        """The bot's ``limit`` most recent messages to us, newest first.

        Only the last ``4 * limit`` messages of the chat are scanned (BotFather answers each of ours
        once, so about half are its own). In a private chat Telegram ignores a ``from_id`` filter and
        Telethon filters locally, so we do too, on one history scan.
        """
        replies: list[Reply] = []
        queued = time.perf_counter()
        async with telethon_lock:
            self._waited(queued)
            async for m in self.client.iter_messages(self.bot, limit=4 * limit):
                if not m.out:
                    replies.append(
                        Reply(id=m.id, text=m.message or "", date=m.date, outgoing=False)
                    )
                    if len(replies) == limit:
                        break
        return replies

    async def create_bot(self, name: str, username: str) -> NewBot:
        """Run the ``/newbot`` conversation (command, name, username) and return the new bot's token."""
        queued = time.perf_counter()
        async with telethon_lock:
            self._waited(queued)
            async with self.client.conversation(
                self.bot, timeout=self.conversation_timeout, exclusive=True
            ) as conv:
                await self._step(conv, "/newbot", "command", expect=None)
                await self._step(conv, name, "name", expect=None)
                reply = await self._step(conv, username, "username", expect=_TOKEN)
        match = _TOKEN.search(reply)
        assert match is not None  # _step returned only a reply that matches
        return NewBot(username=username, token=match.group(1), reply=reply)

    async def _step(
        self, conv: Conversation, text: str, step: str, *, expect: re.Pattern[str] | None
    ) -> str:
        """Send one line of the conversation and return BotFather's answer to it.

        A refusal ("Sorry, ...") raises :class:`BotFatherRefusedError`. With ``expect``, answers that
        neither match nor refuse (a late reply to an earlier message) are skipped.
        """
        sent = await conv.send_message(text)
        for _ in range(_MAX_SKIPPED + 1):
            try:
                response = await conv.get_response(sent)
            except asyncio.TimeoutError:
                raise BotFatherTimeoutError(
                    f"BotFather did not answer the {step} within {self.conversation_timeout:g} s"
                ) from None
            reply = response.message or ""
            if reply.lower().startswith("sorry"):
                raise BotFatherRefusedError(step, reply)
            if expect is None or expect.search(reply):
                return reply
        raise BotFatherRefusedError(step, f"no answer to the {step} among the last replies")
