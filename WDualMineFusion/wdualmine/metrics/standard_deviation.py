"""SD of METRICS.md (R1): population standard deviation (ddof = 0) of the fused image."""

import numpy as np


def standard_deviation(fused):
    return float(np.std(np.asarray(fused, dtype=np.float64)))
