"""pytest plugin (entry point ``pytest11``): run a test suite under the telethon-guard.

Opt-in, per run::

    pytest --telethon-guard=strict          # or detect | serialize | warn | off

or in the ini file (``[pytest]`` / ``[tool.pytest.ini_options]``)::

    telethon_guard = strict

The command-line option wins over the ini option. Without either (or with ``off``) the plugin does
nothing at all -- it does not even import Telethon. With a mode it installs the guard for the whole run
(``install(mode, check_deployment=False)``: a test runner is not a deployment), records every violation
the guard sees -- unguarded actions (strict, warn) and overlaps (every mode) -- and fails the test phase
(setup, call or teardown) in which one happened, naming it, even if the code under test swallowed the
exception. In ``serialize`` mode unguarded actions are serialised by design and are not failures. An
unknown mode is a usage error.

A test that provokes violations on purpose (e.g. asserts ``pytest.raises(UnguardedCallError)``) opts out
with the marker ``@pytest.mark.telethon_guard_allow``.

A test that calls ``telethon_guard.uninstall()`` or ``install()`` with other settings affects only
itself: the plugin installs its mode again before the next test.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .guard import GuardEvent

_OPTION = "--telethon-guard"
_INI = "telethon_guard"
_MODES = ("strict", "detect", "serialize", "warn")
_PLUGIN_NAME = "telethon-guard-active"
_ALLOW = "telethon_guard_allow"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("telethon-guard")
    group.addoption(
        _OPTION,
        action="store",
        dest="telethon_guard",
        default=None,
        metavar="MODE",
        help="install the telethon-guard for this run and fail tests with overlapping or unguarded "
        "Telethon actions: strict, detect, serialize, warn or off (default: the "
        f"'{_INI}' ini option, else off).",
    )
    parser.addini(
        _INI,
        help="telethon-guard mode for the run (strict, detect, serialize, warn, off); "
        f"{_OPTION} overrides it.",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_ALLOW}: violations seen by the telethon-guard plugin do not fail this test "
        "(it provokes them on purpose)",
    )
    raw = config.getoption("telethon_guard")
    source = _OPTION
    if raw is None:
        raw = config.getini(_INI)
        source = f"ini option {_INI!r}"
    mode = str(raw or "").strip().lower()
    if mode in ("", "off"):
        return
    if mode not in _MODES:
        raise pytest.UsageError(
            f"telethon-guard: {source} has unknown mode {raw!r}; "
            f"choose one of {', '.join((*_MODES, 'off'))}."
        )
    plugin = _ActiveGuard(mode)
    plugin.start()
    config.pluginmanager.register(plugin, _PLUGIN_NAME)
    config.add_cleanup(plugin.stop)


class _ActiveGuard:
    """The part of the plugin that exists only when a mode was chosen."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.events: list[GuardEvent] = []

    def _record(self, event: GuardEvent) -> None:
        self.events.append(event)

    def start(self) -> None:
        from .guard import _add_listener, install

        install(self.mode, check_deployment=False)
        _add_listener(self._record)

    def stop(self) -> None:
        from .guard import _remove_listener, uninstall

        _remove_listener(self._record)
        uninstall()

    def pytest_report_header(self) -> str:
        return f"telethon-guard: {self.mode} mode"

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, Any, Any]:
        from .guard import install

        # A test that called uninstall() or install() with other settings does not leak into the next.
        install(self.mode, check_deployment=False)
        return (yield from self._phase(item, "setup"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, Any, Any]:
        return (yield from self._phase(item, "call"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, Any, Any]:
        return (yield from self._phase(item, "teardown"))

    def _phase(self, item: pytest.Item, when: str) -> Generator[None, Any, Any]:
        try:
            result = yield
        except BaseException as exc:
            events, self.events = self.events, []
            if events and hasattr(exc, "add_note"):
                exc.add_note(self._describe(events, when))
            raise
        events, self.events = self.events, []
        if events and item.get_closest_marker(_ALLOW) is None:
            pytest.fail(self._describe(events, when), pytrace=False)
        return result

    def _describe(self, events: list[GuardEvent], when: str) -> str:
        lines = [
            f"telethon-guard ({self.mode} mode): {len(events)} violation(s) during test {when}, "
            "failed even if the code under test caught the exception "
            f"(mark the test @pytest.mark.{_ALLOW} if it provokes them on purpose):"
        ]
        lines += [f"  [{e.kind}] {e.message}" for e in events]
        return "\n".join(lines)
