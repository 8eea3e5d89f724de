"""Shared test configuration. Area fixtures live in tests/<area>/conftest.py.

pytester (used by tests/runtime/test_pytest_plugin.py) is enabled with ``-p pytester`` in pyproject.toml:
pytest accepts ``pytest_plugins`` only in the rootdir conftest.
"""
