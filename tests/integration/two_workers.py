"""What two workers of one service do to one session file -- run as two real processes by the tests.

``python two_workers.py SESSION hold [--guard]``: connect, resolve @BotFather (Telethon writes the
entity and, as it does until its next ``save()``, keeps the SQLite write transaction open), print
``HOLDING <pid>``, and keep it open until a line arrives on stdin.

``python two_workers.py SESSION write [--guard]``: build a second client on the same file, connect and
send a message -- what the second worker does on its first request. Prints ``OK`` or ``ERROR <type>:
<message>`` and exits 0 or 1.

``--guard`` installs telethon-guard first (strict mode, sessions claimed).
"""

from __future__ import annotations

import asyncio
import os
import sys


async def main(session: str, role: str, guard: bool) -> int:
    if guard:
        import telethon_guard

        telethon_guard.install(mode="strict")
        lock = telethon_guard.telethon_lock
    else:
        import contextlib

        lock = contextlib.nullcontext()  # type: ignore[assignment]
    from telethon_guard.testing import FakeTelegram

    backend = FakeTelegram()
    backend.add_botfather()
    try:
        client = backend.client(session)
        async with lock:
            await client.connect()
            if role == "hold":
                await client.get_input_entity("BotFather")
                print(f"HOLDING {os.getpid()}", flush=True)
                await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
            else:
                await client.send_message("BotFather", f"hello from worker {os.getpid()}")
            await client.disconnect()
    except Exception as exc:
        print(f"ERROR {type(exc).__name__}: {exc}", flush=True)
        return 1
    print("OK", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2], "--guard" in sys.argv[3:])))
