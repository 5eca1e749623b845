"""Decay schedules for the neighbourhood radius and the learning rate.

MiniSam follows Sam's exponential decay: ``value_t = value_0 * exp(-t / lam)`` with
``lam = num_iteration / ln(sigma_0)``, so the radius shrinks from ``sigma_0`` to 1 over training.

For ``sigma_0 <= 1`` that formula would make ``lam`` zero or negative and both the radius and
the learning rate would *grow*. Our rule: when ``sigma_0 <= 1`` nothing decays (``lam`` is
infinite), which is also the limit of the formula as ``sigma_0`` approaches 1 from above.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["decay_time_constant", "exponential_schedule"]


def decay_time_constant(num_iteration: int, sigma0: float) -> float:
    """Time constant ``lam`` of the exponential decay (``inf`` when ``sigma0 <= 1``)."""
    if sigma0 <= 1.0:
        return math.inf
    return num_iteration / math.log(sigma0)


def exponential_schedule(initial: float, num_iteration: int, lam: float) -> np.ndarray:
    """``initial * exp(-t / lam)`` for ``t = 0 .. num_iteration - 1`` as float64."""
    t = np.arange(num_iteration, dtype=np.float64)
    return initial * np.exp(-t / lam)
