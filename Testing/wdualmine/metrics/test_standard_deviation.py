import math

import numpy as np
import pytest

from wdualmine.metrics.standard_deviation import standard_deviation


def test_population_standard_deviation_hand():
    # [0, 0, 2, 2]: mean 1, squared deviations all 1 -> variance 1 (ddof = 0, sample would be 4/3).
    assert standard_deviation(np.array([[0.0, 0.0], [2.0, 2.0]])) == pytest.approx(1.0)
    # [1, 2, 3, 4]: mean 2.5, (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25.
    assert standard_deviation(np.array([[1.0, 2.0], [3.0, 4.0]])) == pytest.approx(math.sqrt(1.25))
