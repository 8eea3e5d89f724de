"""telethon.sync imported before the claims: its copy of connect() must claim again on reconnect."""

import sys

import telethon.sync  # copies TelegramClient.connect before the claims are installed
from telethon import TelegramClient
from telethon.client.telegrambaseclient import TelegramBaseClient

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

    # telethon.sync imported while the claims are installed (here: its rewrite run again).
    sessions._install_claims()
    del TelegramClient.connect
    telethon.sync._syncify_wrap(TelegramClient, "connect")
    sessions._uninstall_claims()
    base = TelegramBaseClient.__dict__["connect"]
    print("re-synced original:", getattr(TelegramClient.connect, "__tl.sync") is base, flush=True)
