"""Hold a session: a TelegramClient constructed with automatic claims, until stdin closes.

Extra arguments (e.g. ``--api-hash ...``) are ignored; they are there to show up, redacted, in the
claim file.
"""

import sys

from telethon import TelegramClient

from telethon_guard import sessions

if __name__ == "__main__":
    sessions._install_claims()
    client = TelegramClient(sys.argv[1], 1, "0" * 32)
    print("CLAIMED", flush=True)
    sys.stdin.readline()
