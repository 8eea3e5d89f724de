"""telethon.sync imported before the claims: its copy of connect() must claim again on reconnect."""

import sys

import telethon.sync  # noqa: F401  (copies TelegramClient.connect before the claims are installed)
from telethon import TelegramClient

from telethon_guard import SessionInUseError, sessions
from telethon_guard.testing import FakeTelegram

if __name__ == "__main__":
    path = sys.argv[1]
    synced = TelegramClient.__dict__["connect"]
    sessions._install_claims()
    backend = FakeTelegram()
    first = backend.client(path)
    first.connect()
    first.disconnect()
    second = backend.client(path)
    try:
        first.connect()
        print("reconnect while another client holds it: claimed", flush=True)
    except SessionInUseError:
        print("reconnect while another client holds it: refused", flush=True)
    second.disconnect()
    first.connect()
    print("reconnect after release: ok", flush=True)
    first.disconnect()
    sessions._uninstall_claims()
    print("restored:", TelegramClient.__dict__["connect"] is synced, flush=True)
