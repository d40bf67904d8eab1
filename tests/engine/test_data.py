"""micrograd.data.make_moons: scikit-learn's geometry, deterministic, labels -1/+1."""

from __future__ import annotations

import math
import statistics

import pytest

from micrograd.data import make_moons


def test_the_same_seed_gives_the_same_points_and_another_seed_other_points() -> None:
    assert make_moons(seed=3) == make_moons(seed=3)
    assert make_moons(seed=3)[0] != make_moons(seed=4)[0]


@pytest.mark.parametrize("n", [1, 2, 7, 100])
def test_half_the_points_are_on_each_moon_with_labels_minus_one_and_plus_one(n) -> None:
    X, y = make_moons(n)
    assert len(X) == len(y) == n
    assert all(len(p) == 2 and all(isinstance(c, float) for c in p) for p in X)
    assert y.count(-1) == n // 2 and y.count(1) == n - n // 2


def test_without_noise_the_points_lie_on_scikit_learns_half_circles() -> None:
    X, y = make_moons(50, noise=0.0, shuffle=False)
    for (px, py), label in zip(X, y, strict=True):
        cx, cy = (0.0, 0.0) if label == -1 else (1.0, 0.5)
        assert math.hypot(px - cx, py - cy) == pytest.approx(1.0, abs=1e-15)
        assert (py >= -1e-15) if label == -1 else (py <= 0.5 + 1e-15)
    assert X[0] == [1.0, 0.0] and X[24] == pytest.approx([-1.0, 0.0], abs=1e-15)
    assert X[25] == [0.0, 0.5] and X[49] == pytest.approx([2.0, 0.5], abs=1e-15)


def test_noise_is_gaussian_with_the_requested_spread() -> None:
    clean, _ = make_moons(4000, noise=0.0, seed=1)
    noisy, _ = make_moons(4000, noise=0.2, seed=1)
    residuals = [n[i] - c[i] for n, c in zip(noisy, clean, strict=True) for i in range(2)]
    assert abs(statistics.fmean(residuals)) < 0.02
    assert statistics.stdev(residuals) == pytest.approx(0.2, rel=0.05)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"n_samples": 0}, ValueError),
        ({"n_samples": 2.5}, ValueError),
        ({"noise": -0.1}, ValueError),
        ({"noise": math.nan}, ValueError),
        ({"noise": "0.1"}, TypeError),
        ({"seed": 1.5}, TypeError),
    ],
)
def test_bad_arguments_are_rejected_with_a_clear_error(kwargs, error) -> None:
    with pytest.raises(error, match=next(iter(kwargs))):
        make_moons(**kwargs)
