"""Counters of the lock and the guard, and the public :class:`GuardStats` snapshot."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GuardStats"]


@dataclass(frozen=True)
class GuardStats:
    """A snapshot of what the lock and the guard have seen since the process started.

    Attributes:
        actions: user-initiated Telethon actions started (outermost ``_call`` only).
        overlaps: :class:`~telethon_guard.TelethonOverlapError` events (raised or, in warn mode, logged).
        unguarded: unguarded user actions (raised in strict mode, logged in warn mode,
            serialised in serialize mode).
        deadlocks: :class:`~telethon_guard.LockDeadlockError` raised by the lock.
        timeouts: :class:`~telethon_guard.LockTimeoutError` raised by the lock.
        acquisitions: outermost acquisitions of ``telethon_lock``.
        max_wait_s: longest time a task waited for ``telethon_lock``.
        max_hold_s: longest time a task held ``telethon_lock``.
        holder: name of the task holding the lock now, or ``None``.
        holder_site: ``file:line`` where the current holder acquired, or ``None``.
        waiting: number of tasks waiting for the lock now.
        mode: the installed guard mode, or ``None`` when the guard is not installed.
    """

    actions: int = 0
    overlaps: int = 0
    unguarded: int = 0
    deadlocks: int = 0
    timeouts: int = 0
    acquisitions: int = 0
    max_wait_s: float = 0.0
    max_hold_s: float = 0.0
    holder: str | None = None
    holder_site: str | None = None
    waiting: int = 0
    mode: str | None = None


class _Counters:
    """Mutable process-wide counters; the lock and the guard bump them on their hot paths."""

    __slots__ = (
        "acquisitions",
        "actions",
        "deadlocks",
        "max_hold_s",
        "max_wait_s",
        "overlaps",
        "timeouts",
        "unguarded",
    )

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.actions = 0
        self.overlaps = 0
        self.unguarded = 0
        self.deadlocks = 0
        self.timeouts = 0
        self.acquisitions = 0
        self.max_wait_s = 0.0
        self.max_hold_s = 0.0


#: The one set of counters of this process (private: read it through ``telethon_guard.stats()``).
COUNTERS = _Counters()
