"""The pytest plugin, run in real inner pytest sessions (pytester)."""

from __future__ import annotations

import pytest

# The inner runs install the guard themselves and provoke violations on purpose.
pytestmark = [pytest.mark.usefixtures("no_guard"), pytest.mark.telethon_guard_allow]

# A client on the fake backend, for the inner test files.
CONFTEST = """
import pytest
from telethon_guard.testing import FakeTelegram

@pytest.fixture
async def client(tmp_path):
    fake = FakeTelegram()
    fake.add_user("alice")
    c = fake.client(tmp_path / "inner.session")
    await c.connect()
    yield c
    await c.disconnect()
"""

TESTS = """
import asyncio
import pytest
from telethon_guard import telethon_lock

async def test_swallowed(client):
    try:
        await client.send_message("alice", "unguarded")
    except Exception:
        pass  # the code under test hides the violation

async def test_clean(client):
    async with telethon_lock:
        await client.send_message("alice", "guarded")

async def test_overlap_swallowed(client):
    await client.get_input_entity("alice")
    # Two unguarded sends at once; the overlap error is collected and ignored.
    await asyncio.gather(
        client.send_message("alice", "a"), client.send_message("alice", "b"),
        return_exceptions=True,
    )

def test_no_telethon_at_all():
    assert True

@pytest.mark.telethon_guard_allow
async def test_provokes_on_purpose(client):
    try:
        await client.send_message("alice", "unguarded on purpose")
    except Exception:
        pass
"""


INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_inner=TESTS)
    pytester.makeini(INI)
    return pytester


def test_a_swallowed_violation_fails_the_test_and_a_clean_one_passes(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest("--telethon-guard=strict", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*telethon-guard: strict mode*",
            "*FAILED test_inner.py::test_swallowed*",
        ]
    )
    output = result.stdout.str()
    assert "[unguarded] Unguarded Telethon action" in output
    source = (project.path / "test_inner.py").read_text().splitlines()
    line = 1 + source.index('        await client.send_message("alice", "unguarded")')
    assert f"test_inner.py:{line}" in output  # where the swallowed call was made


def test_the_ini_option_enables_it_and_the_command_line_overrides_it(
    project: pytest.Pytester,
) -> None:
    project.makeini(INI + "telethon_guard = warn\n")
    project.runpytest().assert_outcomes(passed=3, failed=2)  # warn: logged, still failures
    project.runpytest("--telethon-guard=off").assert_outcomes(passed=5)
    result = project.runpytest("--telethon-guard=detect")  # only the overlap fails
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(["*FAILED test_inner.py::test_overlap_swallowed*"])
    assert "[overlap] Overlapping Telethon actions" in result.stdout.str()


def test_serialize_mode_does_not_fail_unguarded_calls(project: pytest.Pytester) -> None:
    project.runpytest("--telethon-guard=serialize").assert_outcomes(passed=5)


def test_without_the_option_the_plugin_is_inert(project: pytest.Pytester) -> None:
    # The violations go unnoticed...
    project.runpytest().assert_outcomes(passed=5)


def test_without_the_option_the_plugin_does_not_import_telethon(pytester: pytest.Pytester) -> None:
    # ...and, in a fresh interpreter, the plugin (loaded from its entry point) imports no Telethon.
    pytester.makepyfile(
        test_inert="""
        import sys

        def test_plugin_loaded_and_telethon_not_imported(pytestconfig):
            assert pytestconfig.pluginmanager.has_plugin("telethon_guard")
            assert "telethon" not in sys.modules
        """
    )
    pytester.runpytest_subprocess("-p", "no:asyncio").assert_outcomes(passed=1)


def test_a_bad_mode_is_a_usage_error(project: pytest.Pytester) -> None:
    result = project.runpytest("--telethon-guard=paranoid")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown mode 'paranoid'*strict, detect, serialize, warn, off*"])
    project.makeini(INI + "telethon_guard = loud\n")
    result = project.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini option 'telethon_guard'*unknown mode 'loud'*"])
