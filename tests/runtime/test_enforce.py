"""``import telethon_guard.enforce``: the guard from TELETHON_GUARD_MODE, at import time."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest
from telethon.client.users import UserMethods

import telethon_guard
from telethon_guard import TelethonGuardError, stats
from telethon_guard import guard as _guard

# Telethon's own function (the guard may already be installed: a run under --telethon-guard).
ORIGINAL_CALL = (
    _guard._original
    if vars(UserMethods)["_call"] is _guard._guarded_call
    else vars(UserMethods)["_call"]
)

# These tests install the guard themselves and provoke violations on purpose.
pytestmark = [pytest.mark.usefixtures("no_guard"), pytest.mark.telethon_guard_allow]


@pytest.fixture
def import_enforce(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str | None], ModuleType]]:
    """Import ``telethon_guard.enforce`` afresh with TELETHON_GUARD_MODE set to a value (or unset)."""

    def run(value: str | None) -> ModuleType:
        if value is None:
            monkeypatch.delenv("TELETHON_GUARD_MODE", raising=False)
        else:
            monkeypatch.setenv("TELETHON_GUARD_MODE", value)
        sys.modules.pop("telethon_guard.enforce", None)
        return importlib.import_module("telethon_guard.enforce")

    try:
        yield run
    finally:
        sys.modules.pop("telethon_guard.enforce", None)
        telethon_guard.uninstall()


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        (None, "strict"),
        ("", "strict"),
        ("strict", "strict"),
        ("  Detect ", "detect"),
        ("SERIALIZE", "serialize"),
        ("warn\n", "warn"),
    ],
)
def test_import_installs_the_mode_from_the_environment(
    import_enforce: Callable[[str | None], ModuleType], value: str | None, mode: str
) -> None:
    module = import_enforce(value)
    assert module.MODE == mode
    assert stats().mode == mode
    assert vars(UserMethods)["_call"] is not ORIGINAL_CALL


def test_off_installs_nothing(import_enforce: Callable[[str | None], ModuleType]) -> None:
    module = import_enforce(" OFF ")
    assert module.MODE is None
    assert stats().mode is None
    assert vars(UserMethods)["_call"] is ORIGINAL_CALL


@pytest.mark.parametrize("value", ["serialise", "on", "strict,warn", "1"])
def test_a_bad_value_names_the_variable_the_value_and_the_choices(
    import_enforce: Callable[[str | None], ModuleType], value: str
) -> None:
    with pytest.raises(TelethonGuardError) as info:
        import_enforce(value)
    message = str(info.value)
    assert "TELETHON_GUARD_MODE" in message and repr(value) in message
    for choice in ("strict", "detect", "serialize", "warn", "off"):
        assert choice in message
    assert vars(UserMethods)["_call"] is ORIGINAL_CALL


def test_importing_the_package_changes_nothing() -> None:
    # Only telethon_guard.enforce acts at import time: a fresh interpreter proves it.
    code = (
        "import telethon_guard, telethon_guard.guard, telethon_guard.pytest_plugin\n"
        "from telethon.client.users import UserMethods\n"
        "original = vars(UserMethods)['_call']\n"
        "assert telethon_guard.stats().mode is None\n"
        "import telethon_guard.enforce\n"
        "assert vars(UserMethods)['_call'] is not original\n"
        "print(telethon_guard.stats().mode)\n"
    )
    env = dict(os.environ, TELETHON_GUARD_MODE="serialize")
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "serialize"
