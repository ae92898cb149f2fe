"""Pixel-average fusion on a few AANLIB CT-MRI training pairs gives plausible R1 values.

The atlas images may not be redistributed, so they are read from ../shared/data/aanlib-train beside
the repository when it is there (the aanlib_root fixture of Testing/conftest.py), and the test skips
otherwise. On all 160 CT-MRI training pairs the means are CC 0.846, MI 2.44, VIF 0.483, Qabf 0.409,
SSIM 1.390, PSNR 15.6 (METRICS.md's table, on another split: 0.844, 2.67, 0.458, 0.416, 1.328, 16.5).
"""

import math

import numpy as np
import pytest

from wdualmine.metrics import METRIC_NAMES, compute_all, r1_stretch, to_r1_grey


def _read_png(path):
    sitk = pytest.importorskip("SimpleITK")
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))  # grey: H x W, RGB: H x W x 3


def test_pixel_average_on_ct_mri(aanlib_root):
    names = sorted(p.name for p in (aanlib_root / "CT-MRI" / "CT").glob("*.png"))[::20]  # 8 pairs across the series
    assert names, "no CT-MRI pairs found"
    rows = []
    for name in names:
        a = to_r1_grey(_read_png(aanlib_root / "CT-MRI" / "CT" / name))
        b = to_r1_grey(_read_png(aanlib_root / "CT-MRI" / "MRI" / name))
        result = compute_all(r1_stretch((a + b) / 2), a, b)
        assert all(math.isfinite(v) for v in result.values()), (name, result)
        rows.append([result[k] for k in METRIC_NAMES])
    mean = dict(zip(METRIC_NAMES, np.mean(rows, axis=0)))
    assert 1.0 < mean["SSIM"] < 1.8, mean
    assert 0.7 < mean["CC"] < 0.95, mean
    assert 0.3 < mean["Qabf"] < 0.7, mean
    assert 0.2 < mean["VIF"] < 1.0, mean
    assert 1.5 < mean["MI"] < 5.0, mean
    assert 12 < mean["PSNR"] < 25, mean
