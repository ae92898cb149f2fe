import math

import numpy as np
import pytest

from wdualmine.metrics.average_gradient import average_gradient


def test_hand_3x3():
    # F[i, j] = i * j = [[0, 0, 0], [0, 1, 2], [0, 2, 4]]
    # Gx (along a row; one-sided at the ends, central inside): rows -> [0,0,0], [1,1,1], [2,2,2]
    # Gy (along a column): columns -> [0,0,0], [1,1,1], [2,2,2], i.e. Gy = [[0,1,2]] * 3 rows
    # sqrt((Gx^2 + Gy^2) / 2) = [[0, sqrt(1/2), sqrt(2)], [sqrt(1/2), 1, sqrt(5/2)], [sqrt(2), sqrt(5/2), 2]]
    # AG = (3 + 2 sqrt(1/2) + 2 sqrt(2) + 2 sqrt(5/2)) / 9
    f = np.outer(np.arange(3.0), np.arange(3.0))
    expected = (3 + 2 * math.sqrt(0.5) + 2 * math.sqrt(2) + 2 * math.sqrt(2.5)) / 9
    assert average_gradient(f) == pytest.approx(expected)


def test_ramp():
    # F[i, j] = 3 j: Gx = 3 everywhere (one-sided ends of a linear ramp are 3 too), Gy = 0
    # -> AG = sqrt(9 / 2) at every pixel.
    f = np.tile(3.0 * np.arange(5), (4, 1))
    assert average_gradient(f) == pytest.approx(math.sqrt(4.5))
