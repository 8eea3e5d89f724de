"""STUB -- owned by the sessions/deployment helper. See CONTRIBUTING.md."""

from __future__ import annotations


def check_deployment() -> None:
    raise NotImplementedError
