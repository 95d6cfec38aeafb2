"""Checks of notebook 07, hidden Markov models (see :mod:`.registry`).

Each exercise here is an :class:`~emkit.check.registry.Exercise` in :data:`EXERCISES`;
the registry collects them with the others.
"""

from __future__ import annotations

from .registry import Exercise

__all__ = ["EXERCISES"]

EXERCISES: list[Exercise] = []
