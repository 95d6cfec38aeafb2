"""Checks of notebook 06, EM deeper: standard errors, exponential families, acceleration, incremental
and online EM (see :mod:`.registry`).

Each exercise here is an :class:`~emkit.check.registry.Exercise` in :data:`EXERCISES`;
the registry collects them with the others.
"""

from __future__ import annotations

from .registry import Exercise

__all__ = ["EXERCISES"]

EXERCISES: list[Exercise] = []
