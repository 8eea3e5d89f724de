"""The unsafe relay, unchanged, on the fake Telegram: ``uvicorn tests.integration.unsafe_offline:app``.

Every ``TelegramClient`` the unsafe code builds (at import, per request) is wired to one in-process
:class:`~telethon_guard.testing.FakeTelegram` with a canned @BotFather; everything else -- its SQLite
session file (``botfather_relay.session`` in the working directory), its missing lock, its second
client -- is the unsafe relay's own code. Run with ``API_ID`` / ``API_HASH`` set to fake values.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from telethon import TelegramClient

from telethon_guard.testing import FakeTelegram

UNSAFE_DIR = Path(__file__).resolve().parents[2] / "examples" / "botfather_relay_unsafe"

backend = FakeTelegram()
backend.add_botfather()
_built = TelegramClient.__init__


def _offline_init(self: TelegramClient, *args: Any, **kwargs: Any) -> None:
    _built(self, *args, **kwargs)
    backend.attach(self)


TelegramClient.__init__ = _offline_init
sys.path.insert(0, str(UNSAFE_DIR))  # the unsafe relay imports its modules by their bare names

# The unsafe relay's FastAPI app, module-level client included.
from app import app  # type: ignore[import-not-found]  # noqa: E402

__all__ = ["app", "backend"]
