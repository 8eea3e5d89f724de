"""STUB -- owned by a rule helper. See CONTRIBUTING.md."""

from __future__ import annotations

from .base import Family


class DeploymentFamily(Family):
    pass
