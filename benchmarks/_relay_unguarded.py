"""The benchmark's baseline: the guarded relay with its lock taken out -- offline only.

``python benchmarks/_relay_unguarded.py [--port N] [--log-level L]`` serves the very same app as
``python -m examples.botfather_relay``, except that ``telethon_lock``, as the relay's
``BotFatherSession`` sees it, is an async context manager that does nothing, and the guard is not
installed (``TELETHON_GUARD_MODE=off``). Requests then reach Telegram concurrently: what the service
did before telethon-guard. It always runs on the fake Telegram (``RELAY_OFFLINE=1`` is forced):
concurrent actions on a real account are the very bug this project exists to prevent.

The switch lives here, not in the example, so that the code users copy has no way to drop the lock.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

REPO = Path(__file__).resolve().parents[1]


class NoLock:
    """Stands in for ``telethon_lock`` in ``async with``: serialises nothing."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


@contextlib.contextmanager
def lock_removed() -> Iterator[None]:
    """Within the block, the relay's Telethon actions run without ``telethon_lock``."""
    from examples.botfather_relay import session

    # session.py's methods look ``telethon_lock`` up in their module's globals at each call.
    original = session.telethon_lock
    session.telethon_lock = NoLock()  # type: ignore[assignment]
    try:
        yield
    finally:
        session.telethon_lock = original


def main(argv: list[str] | None = None) -> int:
    os.environ["RELAY_OFFLINE"] = "1"
    os.environ["TELETHON_GUARD_MODE"] = "off"
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from examples.botfather_relay.__main__ import main as serve

    with lock_removed():
        # One worker, no reload: uvicorn imports the app in this process, where the lock is gone.
        return serve(["serve", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
