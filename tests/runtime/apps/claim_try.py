"""Try to construct a TelegramClient on a session; print the outcome and how long it took, as JSON."""

import json
import sys
import time

from telethon import TelegramClient

from telethon_guard import SessionInUseError, sessions

if __name__ == "__main__":
    sessions._install_claims()
    started = time.monotonic()
    try:
        TelegramClient(sys.argv[1], 1, "0" * 32)
        result: dict = {"error": None}
    except SessionInUseError as exc:
        result = {"error": str(exc)}
    result["elapsed"] = time.monotonic() - started
    print(json.dumps(result), flush=True)
