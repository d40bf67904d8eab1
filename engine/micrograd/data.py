"""A deterministic two-moons dataset, the demo's training data (no numpy, no scikit-learn)."""

from __future__ import annotations

import math
import random

__all__ = ["make_moons"]


def _linspace_0_pi(n: int) -> list[float]:
    """Return ``n`` evenly spaced angles from 0 to pi inclusive (``[0.0]`` when ``n == 1``)."""
    if n == 1:
        return [0.0]
    step = math.pi / (n - 1)
    angles = [i * step for i in range(n)]
    angles[-1] = math.pi
    return angles


def make_moons(
    n_samples: int = 100,
    noise: float = 0.1,
    seed: int = 1337,
    *,
    shuffle: bool = True,
) -> tuple[list[list[float]], list[int]]:
    """Return ``(X, y)``: two interleaving half circles, labelled -1 (outer) and +1 (inner).

    The geometry is scikit-learn's ``make_moons``: ``n_samples // 2`` points on the upper half of
    the unit circle, the rest on a lower half circle shifted to (1, 0.5), then optionally shuffled,
    then Gaussian noise with standard deviation ``noise`` added to every coordinate. Labels are
    scikit-learn's 0/1 mapped to -1/+1, as micrograd's demo does with ``y*2 - 1``. The same
    ``seed`` always gives the same points, on every platform and Python version.
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)):
        raise TypeError(f"noise must be a number, got {noise!r} of type {type(noise).__name__}")
    if not noise >= 0.0 or math.isinf(noise):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {seed!r} of type {type(seed).__name__}")

    rng = random.Random(seed)
    n_outer = n_samples // 2
    n_inner = n_samples - n_outer
    points: list[tuple[float, float, int]] = []
    if n_outer:
        points += [(math.cos(t), math.sin(t), -1) for t in _linspace_0_pi(n_outer)]
    points += [(1.0 - math.cos(t), 1.0 - math.sin(t) - 0.5, 1) for t in _linspace_0_pi(n_inner)]
    if shuffle:
        rng.shuffle(points)
    X = [[x + rng.gauss(0.0, noise), y + rng.gauss(0.0, noise)] for x, y, _ in points]
    labels = [label for _, _, label in points]
    return X, labels
