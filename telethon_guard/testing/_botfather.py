"""A canned @BotFather: the replies of the real one, for the commands services automate."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable

BOTFATHER_ID = 93372553  # the real @BotFather's user id
BOTFATHER_USERNAME = "BotFather"

HELP = (
    "I can help you create and manage Telegram bots. If you're new to the Bot API, please see the "
    "manual (https://core.telegram.org/bots).\n\n"
    "You can control me by sending these commands:\n\n"
    "/newbot - create a new bot\n"
    "/mybots - edit your bots\n"
    "/token - generate authorization token\n\n"
    "/cancel - cancel the current operation"
)
ASK_NAME = "Alright, a new bot. How are we going to call it? Please choose a name for your bot."
ASK_USERNAME = (
    "Good. Now let's choose a username for your bot. It must end in `bot`. "
    "Like this, for example: TetrisBot or tetris_bot."
)
USERNAME_NOT_BOT = "Sorry, the username must end in 'bot'. E.g. 'Tetris_bot' or 'Tetrisbot'"
USERNAME_INVALID = "Sorry, this username is invalid."
USERNAME_TAKEN = "Sorry, this username is already taken. Please try something different."
DONE = (
    "Done! Congratulations on your new bot. You will find it at t.me/{username}. You can now add a "
    "description, about section and profile picture for your bot, see /help for a list of commands.\n\n"
    "Use this token to access the HTTP API:\n{token}\n"
    "Keep your token secure and store it safely, it can be used by anyone to control your bot.\n\n"
    "For a description of the Bot API, see this page: https://core.telegram.org/bots/api"
)
ASK_TOKEN_BOT = "Choose a bot to generate a new token."
TOKEN = (
    "You can use this token to access HTTP API:\n{token}\n\n"
    "For a description of the Bot API, see this page: https://core.telegram.org/bots/api"
)
INVALID_BOT = "Invalid bot selected."
NO_BOTS = "You have currently no bots."
CANCELLED = (
    "The command /{command} has been cancelled. Anything else I can do for you?\n\n"
    "Send /help for a list of commands."
)
NOTHING_TO_CANCEL = "No active command to cancel. I wasn't doing anything anyway. Zzzzz..."
UNRECOGNIZED = "Unrecognized command. Say what?"

_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{4,31}")


def bot_id(username: str) -> int:
    """The fake, deterministic user id of the bot ``username`` (a 10-digit number)."""
    digest = hashlib.sha256(b"fake-bot-id:" + username.lower().encode()).digest()
    return 6_000_000_000 + int.from_bytes(digest[:8], "big") % 1_000_000_000


def bot_token(username: str) -> str:
    """The fake, deterministic token BotFather hands out for the bot ``username``."""
    digest = hashlib.sha256(b"fake-bot-token:" + username.lower().encode()).digest()
    secret = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return f"{bot_id(username)}:AA{secret[:33]}"


class BotFatherScript:
    """The conversation state of @BotFather with the account (one per backend)."""

    def __init__(
        self, username_taken: Callable[[str], bool], register_bot: Callable[[str, str], None]
    ) -> None:
        self._username_taken = username_taken
        self._register_bot = register_bot
        self._command: str | None = None
        self._step: str | None = None
        self._name = ""
        self.bots: list[str] = []

    def __call__(self, text: str) -> str:
        text = text.strip()
        if text.startswith("/"):
            return self._on_command(text.split()[0][1:].split("@")[0].lower())
        if self._step == "name":
            self._name = text
            self._step = "username"
            return ASK_USERNAME
        if self._step == "username":
            return self._on_username(text)
        if self._step == "token_bot":
            return self._on_token_bot(text)
        return UNRECOGNIZED

    def _on_command(self, command: str) -> str:
        if command == "cancel":
            if self._command is None:
                return NOTHING_TO_CANCEL
            cancelled, self._command, self._step = self._command, None, None
            return CANCELLED.format(command=cancelled)
        self._command, self._step = None, None
        if command in ("start", "help"):
            return HELP
        if command == "newbot":
            self._command, self._step = "newbot", "name"
            return ASK_NAME
        if command == "mybots":
            if not self.bots:
                return NO_BOTS
            return "Choose a bot from the list below:\n" + "\n".join(f"@{b}" for b in self.bots)
        if command == "token":
            if not self.bots:
                return NO_BOTS
            self._command, self._step = "token", "token_bot"
            return ASK_TOKEN_BOT
        return UNRECOGNIZED

    def _on_username(self, text: str) -> str:
        username = text.removeprefix("@")
        if not username.lower().endswith("bot"):
            return USERNAME_NOT_BOT
        if not _USERNAME.fullmatch(username):
            return USERNAME_INVALID
        if self._username_taken(username):
            return USERNAME_TAKEN
        self._register_bot(username, self._name)
        self.bots.append(username)
        self._command, self._step = None, None
        return DONE.format(username=username, token=bot_token(username))

    def _on_token_bot(self, text: str) -> str:
        username = text.removeprefix("@")
        match = next((b for b in self.bots if b.lower() == username.lower()), None)
        if match is None:
            return INVALID_BOT
        self._command, self._step = None, None
        return TOKEN.format(token=bot_token(match))
