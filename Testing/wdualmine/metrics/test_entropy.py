import numpy as np
import pytest

from wdualmine.metrics.entropy import entropy


def test_two_equal_levels_is_one_bit():
    assert entropy(np.array([[0.0, 0.0], [255.0, 255.0]])) == pytest.approx(1.0)


def test_hand_4x4():
    # 8 zeros, 4 ones, 2 twos, 2 threes: p = 1/2, 1/4, 1/8, 1/8
    # -> EN = 1/2*1 + 1/4*2 + 2 * 1/8*3 = 1.75 bits.
    x = np.array([0] * 8 + [1] * 4 + [2] * 2 + [3] * 2, dtype=float).reshape(4, 4)
    assert entropy(x) == pytest.approx(1.75)


def test_constant_is_zero():
    assert entropy(np.full((5, 5), 17.0)) == 0.0


def test_values_are_rounded_first():
    # 1.4 -> 1 and 1.6 -> 2: two levels of two pixels each -> 1 bit.
    assert entropy(np.array([[1.0, 1.4], [1.6, 2.0]])) == pytest.approx(1.0)
