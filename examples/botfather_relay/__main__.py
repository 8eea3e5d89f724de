"""``python -m examples.botfather_relay [--port N] [--host H]``: serve the relay with uvicorn.

One process, one worker, no reload: the session file belongs to exactly one process (the guard
refuses anything else). Stop it with Ctrl-C or SIGTERM: the lifespan disconnects, which saves the
session and releases it for the next process.
"""

from __future__ import annotations

import argparse
import sys

import uvicorn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m examples.botfather_relay",
        description="Serve the guarded BotFather relay (settings: see examples/botfather_relay/settings.py).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    parser.add_argument("--log-level", default="info", help="uvicorn log level (default info)")
    args = parser.parse_args(argv)
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
