"""Shared test configuration. Area fixtures live in tests/<area>/conftest.py."""

# pytester drives the opt-in pytest plugin in real inner pytest runs (tests/runtime/test_pytest_plugin.py).
# pytest only accepts pytest_plugins in the top-level conftest.
pytest_plugins = ["pytester"]
