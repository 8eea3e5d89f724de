"""``python -m examples.botfather_relay [--port N] [--host H]``: serve the relay with uvicorn.

One process, one worker, no reload: the session file belongs to exactly one process (the guard
refuses anything else). Stop it with Ctrl-C or SIGTERM: the lifespan disconnects, which saves the
session, and releases its claim for the next process.

``python -m examples.botfather_relay demo [--requests N]`` serves the relay offline on a free port,
fires concurrent mixed requests at it, prints what happened and the guard's statistics, and stops.

``python -m examples.botfather_relay login`` logs the session in to Telegram once, interactively
(phone, code, password), with ``API_ID`` / ``API_HASH`` set -- while the relay is stopped: the guard
refuses a second process on the session.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import uvicorn

from telethon_guard import TelethonGuardError, install, telethon_lock, uninstall

from .session import open_client
from .settings import SettingsError, load_settings


async def login() -> int:
    """Log the session in (online only)."""
    settings = load_settings()
    if settings.offline:
        print("offline (no API_ID / API_HASH, or RELAY_OFFLINE=1): there is nothing to log in to")
        return 0
    install(mode="strict")
    try:
        client, _ = open_client(settings)
        async with telethon_lock:
            await client.start()
            me = await client.get_me()
            await client.disconnect()
    finally:
        uninstall()
    print(f"session {settings.session} logged in as {me.first_name} (id {me.id})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m examples.botfather_relay",
        description="Serve the guarded BotFather relay (settings: see examples/botfather_relay/settings.py).",
    )
    parser.add_argument("command", nargs="?", choices=["serve", "demo", "login"], default="serve")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    parser.add_argument("--log-level", default="info", help="uvicorn log level (default info)")
    parser.add_argument(
        "--requests", type=int, default=200, help="demo: concurrent requests (default 200)"
    )
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run

        return run(max(10, args.requests))
    if args.command == "login":
        try:
            return asyncio.run(login())
        except (SettingsError, TelethonGuardError) as exc:
            print(f"login failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
    uvicorn.run(
        "examples.botfather_relay.app:app",
        host=args.host,
        port=args.port,
        workers=1,
        reload=False,
        log_level=args.log_level,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
