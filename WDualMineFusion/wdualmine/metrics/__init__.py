"""Fusion metrics of the R1 protocol (CDDFuse evaluator), written from METRICS.md with numpy only.

Every metric takes 2-D float arrays in 0..255 units; F is the fused image, A and B the sources.
"""

import numpy as np

from .average_gradient import average_gradient
from .correlation import cc, cc_ceiling, corr, scd
from .entropy import entropy
from .mutual_information import mi, mutual_information
from .protocol import r1_stretch, to_r1_grey
from .psnr import mse, psnr
from .qabf import qabf
from .spatial_frequency import spatial_frequency
from .ssim import ssim, structural_similarity
from .standard_deviation import standard_deviation
from .vif import vif, vifp

METRIC_NAMES = ("CC", "MI", "SCD", "VIF", "Qabf", "SSIM", "EN", "SD", "SF", "AG", "PSNR")


def compute_all(fused, a, b):
    """All eleven metrics of one fused image against its sources A and B, in METRIC_NAMES order."""
    fused, a, b = (np.asarray(image, dtype=np.float64) for image in (fused, a, b))
    if fused.ndim != 2 or fused.shape != a.shape or fused.shape != b.shape:
        raise ValueError(f"expected three 2-D images of one shape, got {fused.shape}, {a.shape}, {b.shape}")
    return {
        "CC": cc(fused, a, b),
        "MI": mi(fused, a, b),
        "SCD": scd(fused, a, b),
        "VIF": vif(fused, a, b),
        "Qabf": qabf(fused, a, b),
        "SSIM": ssim(fused, a, b),
        "EN": entropy(fused),
        "SD": standard_deviation(fused),
        "SF": spatial_frequency(fused),
        "AG": average_gradient(fused),
        "PSNR": psnr(fused, a, b),
    }


__all__ = [
    "METRIC_NAMES",
    "average_gradient",
    "cc",
    "cc_ceiling",
    "compute_all",
    "corr",
    "entropy",
    "mi",
    "mse",
    "mutual_information",
    "psnr",
    "qabf",
    "r1_stretch",
    "scd",
    "spatial_frequency",
    "ssim",
    "standard_deviation",
    "structural_similarity",
    "to_r1_grey",
    "vif",
    "vifp",
]
