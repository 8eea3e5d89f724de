"""``import telethon_guard.enforce`` -- the one-line runtime assertion for a Telethon service.

Importing this module installs the guard (:func:`telethon_guard.install` with its defaults: deployment
check, session claims, hold warning) in the mode named by the ``TELETHON_GUARD_MODE`` environment
variable:

=============  ==============================================================================
``strict``     (default) unguarded and overlapping Telethon actions raise
``detect``     only overlapping actions raise
``serialize``  unguarded actions take ``telethon_lock`` themselves (production safety net)
``warn``       log what strict would raise, once per call site
``off``        install nothing
=============  ==============================================================================

The value is case-insensitive and may have surrounding spaces; unset or empty means ``strict``. Any
other value raises :class:`~telethon_guard.TelethonGuardError` naming the variable, the value and the
choices. This is the only module of ``telethon_guard`` with an effect at import time; import it once,
where the service starts (before the client is created), e.g. at the top of the FastAPI app module.

``MODE`` holds the mode that was installed (``None`` for ``off``).
"""

from __future__ import annotations

import os

from .errors import TelethonGuardError
from .guard import MODES, install

__all__ = ["ENV_VAR", "MODE"]

#: The environment variable read at import time.
ENV_VAR = "TELETHON_GUARD_MODE"

_CHOICES = (*MODES, "off")


def _mode_from_environment() -> str | None:
    raw = os.environ.get(ENV_VAR)
    value = (raw or "").strip().lower() or "strict"
    if value not in _CHOICES:
        raise TelethonGuardError(
            f"{ENV_VAR}={raw!r} is not a telethon-guard mode; set it to one of "
            f"{', '.join(_CHOICES)} (case-insensitive; unset means strict)."
        )
    return None if value == "off" else value


#: The installed mode, or ``None`` when ``TELETHON_GUARD_MODE=off``.
MODE = _mode_from_environment()
if MODE is not None:
    install(MODE)
