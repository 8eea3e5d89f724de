"""The errors telethon-guard raises.

Every message says what happened, where (task, file:line, PID) and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "LockDeadlockError",
    "LockTimeoutError",
    "SessionInUseError",
    "TelethonGuardError",
    "TelethonOverlapError",
    "UnguardedCallError",
    "UnsafeDeploymentError",
]


class TelethonGuardError(RuntimeError):
    """Base class of every error raised by telethon-guard."""


class TelethonOverlapError(TelethonGuardError):
    """Two user-initiated Telethon actions were in flight at the same time."""


class UnguardedCallError(TelethonGuardError):
    """A user-initiated Telethon action ran in a task that does not hold ``telethon_lock``."""


class SessionInUseError(TelethonGuardError):
    """A session is already claimed by another client in this process or by another process."""


class UnsafeDeploymentError(TelethonGuardError):
    """The process runs under a server setting that runs the service more than once (reload, workers)."""


class LockDeadlockError(TelethonGuardError):
    """A task waits for ``telethon_lock`` while the holder is (transitively) waiting for that task."""


class LockTimeoutError(TelethonGuardError, TimeoutError):
    """``telethon_lock`` could not be acquired within the requested ``wait_timeout``."""
