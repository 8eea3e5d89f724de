"""Settings of the BotFather relay, read from the environment once, at startup (never at import).

==============================  ======================================================================
``API_ID``, ``API_HASH``        Telegram API credentials (https://my.telegram.org). Without them the
                                relay runs offline.
``RELAY_SESSION``               Path of the SQLite session file. Default ``botfather_relay.session``
                                (offline: ``botfather_relay-offline.session``, so a fake auth key never
                                lands in the real session).
``RELAY_OFFLINE``               ``1``: run on ``telethon_guard.testing``'s fake Telegram with a canned
                                @BotFather, even with credentials. ``0`` with no credentials is an
                                error.
``RELAY_LATENCY``               Offline only: the fake Telegram's latency per request, in seconds
                                (default 0; the demo uses 0.005).
``TELETHON_GUARD_MODE``         ``strict`` (default), ``detect``, ``serialize``, ``warn`` or ``off``
                                (``off``: Telethon is not patched; the lock and the session claim stay).
``RELAY_REQUEST_TIMEOUT``       Seconds a request may take, waiting for the lock included (default 30).
``RELAY_CONVERSATION_TIMEOUT``  Seconds to wait for each BotFather reply in ``POST /bots`` (default 10).
``RELAY_FLOOD_SLEEP``           Telethon's ``flood_sleep_threshold`` (default 0: every FloodWait becomes
                                a 429 -- sleeping through it would hold the one lock and stall every
                                request).
==============================  ======================================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["GUARD_MODES", "Settings", "SettingsError", "load_settings"]

GUARD_MODES = ("strict", "detect", "serialize", "warn", "off")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


class SettingsError(ValueError):
    """An environment variable has a value the relay cannot use; the message names it and the fix."""


@dataclass(frozen=True)
class Settings:
    """Everything the relay reads from the environment."""

    session: str
    offline: bool
    api_id: int = 0
    api_hash: str = ""
    latency: float = 0.0
    guard_mode: str = "strict"
    request_timeout: float = 30.0
    conversation_timeout: float = 10.0
    flood_sleep_threshold: int = 0
    bot: str = "BotFather"


def _flag(env: Mapping[str, str], name: str) -> bool | None:
    raw = env.get(name)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean: use 1 or 0")


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number of seconds") from None
    if not value >= minimum or value == float("inf"):
        raise SettingsError(f"{name}={raw!r} must be a finite number >= {minimum}")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the relay's settings from ``env`` (default: ``os.environ``); raise :class:`SettingsError`."""
    env = os.environ if env is None else env
    api_id_raw = env.get("API_ID", "").strip()
    api_hash = env.get("API_HASH", "").strip()
    has_credentials = bool(api_id_raw and api_hash)
    offline_flag = _flag(env, "RELAY_OFFLINE")
    if offline_flag is False and not has_credentials:
        raise SettingsError(
            "RELAY_OFFLINE=0 but API_ID and API_HASH are not both set: set them (https://my.telegram.org) "
            "or leave RELAY_OFFLINE unset to run on the offline backend"
        )
    offline = offline_flag is True or not has_credentials

    api_id = 0
    if has_credentials and not offline:
        try:
            api_id = int(api_id_raw)
        except ValueError:
            raise SettingsError(f"API_ID={api_id_raw!r} is not an integer") from None

    mode = env.get("TELETHON_GUARD_MODE", "strict").strip().lower() or "strict"
    if mode not in GUARD_MODES:
        raise SettingsError(
            f"TELETHON_GUARD_MODE={mode!r} is not one of {', '.join(GUARD_MODES)} (default: strict)"
        )

    default_session = "botfather_relay-offline.session" if offline else "botfather_relay.session"
    session = env.get("RELAY_SESSION", "").strip() or default_session
    return Settings(
        session=session,
        offline=offline,
        api_id=api_id,
        api_hash=api_hash if not offline else "",
        latency=_number(env, "RELAY_LATENCY", 0.0) if offline else 0.0,
        guard_mode=mode,
        request_timeout=_number(env, "RELAY_REQUEST_TIMEOUT", 30.0, minimum=0.001),
        conversation_timeout=_number(env, "RELAY_CONVERSATION_TIMEOUT", 10.0, minimum=0.001),
        flood_sleep_threshold=int(_number(env, "RELAY_FLOOD_SLEEP", 0)),
    )
