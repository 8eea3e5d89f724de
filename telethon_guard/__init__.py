"""telethon-guard: never run concurrent Telethon actions.

The public surface is re-exported here; every other module is private.

* :data:`telethon_lock` -- the one process-wide, task-reentrant lock around every Telethon action.
* :func:`serialized` -- decorator running a coroutine function while holding ``telethon_lock``.
* :func:`install` / :func:`uninstall` -- patch Telethon so overlapping or unguarded actions fail loudly.
* :func:`claim_session` -- exclusive ownership of a session file across clients and processes.
* :func:`check_deployment` -- refuse to run under ``--reload`` or several workers.
* :func:`stats` -- a :class:`GuardStats` snapshot.

Importing this package changes nothing: no patching happens until :func:`install` is called
(or ``import telethon_guard.enforce``).
"""

from __future__ import annotations

from .deployment import check_deployment
from .errors import (
    LockDeadlockError,
    LockTimeoutError,
    SessionInUseError,
    TelethonGuardError,
    TelethonOverlapError,
    UnguardedCallError,
    UnsafeDeploymentError,
)
from .guard import install, stats, uninstall
from .lock import serialized, telethon_lock
from .sessions import claim_session
from .stats import GuardStats

__all__ = [
    "GuardStats",
    "LockDeadlockError",
    "LockTimeoutError",
    "SessionInUseError",
    "TelethonGuardError",
    "TelethonOverlapError",
    "UnguardedCallError",
    "UnsafeDeploymentError",
    "check_deployment",
    "claim_session",
    "install",
    "serialized",
    "stats",
    "telethon_lock",
    "uninstall",
]

__version__ = "0.1.0"
