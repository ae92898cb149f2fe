import math

import numpy as np
import pytest

from wdualmine.metrics.correlation import cc, cc_ceiling, corr, scd


def test_corr_hand():
    # x = [1, 2, 3], y = [1, 3, 2]: deviations (-1, 0, 1) and (-1, 1, 0);
    # sum of products 1, sums of squares 2 and 2 -> 1 / sqrt(4) = 0.5.
    assert corr(np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 3.0, 2.0]])) == pytest.approx(0.5)
    assert corr([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0]) == pytest.approx(1.0)
    assert corr([1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]) == pytest.approx(-1.0)


def test_corr_constant_is_nan():
    assert math.isnan(corr([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]))


def test_cc_hand():
    # A = [1, 2, 3], B = [1, 3, 2], F = A: corr(A, F) = 1, corr(B, F) = 0.5 -> CC = 0.75.
    a = np.array([[1.0, 2.0, 3.0]])
    b = np.array([[1.0, 3.0, 2.0]])
    assert cc(a, a, b) == pytest.approx(0.75)


def test_scd_hand():
    a = np.array([[1.0, 2.0, 3.0]])
    b = np.array([[1.0, 3.0, 2.0]])
    # F = A + B: F - B = A and F - A = B, so SCD = corr(A, A) + corr(B, B) = 2.
    assert scd(a + b, a, b) == pytest.approx(2.0)
    # F = 2A: F - B = [1, 1, 4] (deviations -1, -1, 2), corr(A, F - B) = (1 + 0 + 2) / sqrt(2 * 6) = sqrt(3)/2;
    # F - A = A, corr(B, A) = 0.5.
    assert scd(2 * a, a, b) == pytest.approx(math.sqrt(3) / 2 + 0.5)


def test_scd_and_cc_do_not_depend_on_source_order():
    rng = np.random.default_rng(0)
    a, b, f = rng.normal(size=(3, 16, 16))
    assert scd(f, a, b) == pytest.approx(scd(f, b, a), abs=1e-14)
    assert cc(f, a, b) == pytest.approx(cc(f, b, a), abs=1e-14)


def test_cc_ceiling_hand():
    # corr([1, 2, 3], [1, 3, 2]) = 0.5 -> sqrt((1 + 0.5) / 2) = sqrt(0.75).
    assert cc_ceiling([1.0, 2.0, 3.0], [1.0, 3.0, 2.0]) == pytest.approx(math.sqrt(0.75))


def test_cc_ceiling_reached_by_sum_of_z_scores_and_never_exceeded():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(32, 32))
    b = 0.6 * a + rng.normal(size=(32, 32))
    ceiling = cc_ceiling(a, b)
    z_sum = (a - a.mean()) / a.std() + (b - b.mean()) / b.std()
    assert cc(z_sum, a, b) == pytest.approx(ceiling, abs=1e-12)
    for _ in range(200):
        f = rng.normal() * a + rng.normal() * b + rng.normal() * rng.normal(size=a.shape)
        assert cc(f, a, b) <= ceiling + 1e-12
    # The plain average is close to, but (with unequal variances) below, the ceiling.
    assert cc((a + b) / 2, a, b) < ceiling
