import math

import numpy as np
import pytest

from wdualmine.metrics.spatial_frequency import spatial_frequency


def test_hand_2x3():
    # F = [[0, 1, 3], [2, 2, 2]]
    # horizontal differences 1, 2, 0, 0 -> RF^2 = (1 + 4) / (H (W - 1) = 4) = 1.25
    # vertical differences 2, 1, -1 -> CF^2 = (4 + 1 + 1) / ((H - 1) W = 3) = 2
    # SF = sqrt(3.25)   (dividing both by H W = 6 would give sqrt(11/6) instead)
    f = np.array([[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]])
    assert spatial_frequency(f) == pytest.approx(math.sqrt(3.25))


def test_constant_is_zero():
    assert spatial_frequency(np.full((4, 4), 9.0)) == 0.0
