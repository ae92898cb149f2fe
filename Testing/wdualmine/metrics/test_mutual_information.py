import math
from collections import Counter

import numpy as np
import pytest

from wdualmine.metrics.entropy import entropy
from wdualmine.metrics.mutual_information import mi, mutual_information


def _mutual_information_slow(x, y):
    """Reference from counted pairs of values (what sklearn's mutual_info_score does), natural log."""
    x = list(np.ravel(x))
    y = list(np.ravel(y))
    n = len(x)
    joint = Counter(zip(x, y))
    px = Counter(x)
    py = Counter(y)
    return sum(c / n * math.log((c / n) / (px[u] / n * py[v] / n)) for (u, v), c in joint.items())


def test_hand_2x2():
    # F = [0, 0, 1, 2], A = [0, 1, 1, 1]: four pairs (0,0) (0,1) (1,1) (2,1), each p = 1/4;
    # p_F = (1/2, 1/4, 1/4), p_A = (1/4, 3/4).
    # MI = 1/4 [ln(1/4 / (1/2*1/4)) + ln(1/4 / (1/2*3/4)) + 2 ln(1/4 / (1/4*3/4))]
    #    = 1/4 [ln 2 + ln(2/3) + 2 ln(4/3)] = 1/4 ln(64/27).
    f = np.array([[0.0, 0.0], [1.0, 2.0]])
    a = np.array([[0.0, 1.0], [1.0, 1.0]])
    assert mutual_information(f, a) == pytest.approx(math.log(64 / 27) / 4)
    assert mutual_information(a, f) == pytest.approx(math.log(64 / 27) / 4)


def test_independent_images_give_zero():
    # F = [0, 1, 0, 1], A = [0, 0, 1, 1]: every pair has p = 1/4 = p_F * p_A -> MI = 0.
    assert mutual_information(np.array([[0.0, 1.0], [0.0, 1.0]]), np.array([[0.0, 0.0], [1.0, 1.0]])) == 0.0


def test_image_with_itself_is_twice_the_entropy_in_nats():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(64, 64)).astype(float)
    assert mi(x, x, x) == pytest.approx(2 * entropy(x) * math.log(2), rel=1e-12)


def test_grey_level_255_and_non_integer_values():
    # Exact labels: 255 is its own bin, and non-integer values are labels too (sklearn semantics),
    # so [0.5, 0.5, 1.5, 255] behaves like [0, 0, 1, 2].
    f = np.array([[0.5, 0.5], [1.5, 255.0]])
    a = np.array([[0.0, 1.0], [1.0, 1.0]])
    assert mutual_information(f, a) == pytest.approx(math.log(64 / 27) / 4)


def test_matches_slow_reference_and_is_symmetric():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, size=(40, 40)).astype(float)
    b = np.clip(a + rng.integers(-30, 31, size=a.shape), 0, 255)
    f = np.round((a + b) / 2)
    expected = _mutual_information_slow(f, a) + _mutual_information_slow(f, b)
    assert mi(f, a, b) == pytest.approx(expected, rel=1e-12)
    assert mi(f, a, b) == pytest.approx(mi(f, b, a), rel=1e-14)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        mi(np.zeros((4, 4)), np.zeros((4, 4)), np.zeros((4, 5)))
