"""Checks of the by-hand exercises of notebooks 02 and 03: a number worked out on paper, the coins, and
the missing-data M-step (see :mod:`.registry`).

Each exercise here is an :class:`~emkit.check.registry.Exercise` in :data:`EXERCISES`;
the registry collects them with the others.
"""

from __future__ import annotations

from .registry import Exercise

__all__ = ["EXERCISES"]

EXERCISES: list[Exercise] = []
