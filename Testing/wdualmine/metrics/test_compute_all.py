import math

import numpy as np
import pytest

import wdualmine.metrics as metrics
from wdualmine.metrics import METRIC_NAMES, compute_all


def test_names_and_order():
    assert METRIC_NAMES == ("CC", "MI", "SCD", "VIF", "Qabf", "SSIM", "EN", "SD", "SF", "AG", "PSNR")
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 256, size=(2, 48, 48)).astype(float)
    result = compute_all(metrics.r1_stretch((a + b) / 2), a, b)
    assert tuple(result) == METRIC_NAMES
    assert all(type(v) is float for v in result.values())


def test_values_are_those_of_the_single_metrics():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, size=(48, 50)).astype(float)
    b = np.clip(a + rng.normal(0, 30, size=a.shape), 0, 255).round()
    f = metrics.r1_stretch(a + b)
    result = compute_all(f, a, b)
    expected = {
        "CC": metrics.cc(f, a, b),
        "MI": metrics.mi(f, a, b),
        "SCD": metrics.scd(f, a, b),
        "VIF": metrics.vif(f, a, b),
        "Qabf": metrics.qabf(f, a, b),
        "SSIM": metrics.ssim(f, a, b),
        "EN": metrics.entropy(f),
        "SD": metrics.standard_deviation(f),
        "SF": metrics.spatial_frequency(f),
        "AG": metrics.average_gradient(f),
        "PSNR": metrics.psnr(f, a, b),
    }
    assert result == expected


def test_identity_case():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, size=(48, 48)).astype(float)
    result = compute_all(x, x, x)
    assert result["CC"] == pytest.approx(1.0)
    assert result["SSIM"] == pytest.approx(2.0)
    assert result["VIF"] == pytest.approx(2.0, abs=1e-8)
    assert result["MI"] == pytest.approx(2 * result["EN"] * math.log(2))
    assert result["PSNR"] == math.inf
    assert math.isnan(result["SCD"])  # F - B = 0 is constant, so both correlations are undefined
    assert 0.97 < result["Qabf"] < 0.976  # about 0.9994 * 0.9879 / (1 + e^-4.4) = 0.9753 for strong edges


def test_cc_ceiling_export():
    a = np.array([[1.0, 2.0, 3.0]])
    b = np.array([[1.0, 3.0, 2.0]])
    assert metrics.cc_ceiling(a, b) == pytest.approx(math.sqrt(0.75))


def test_rejects_mismatched_or_colour_images():
    with pytest.raises(ValueError):
        compute_all(np.zeros((48, 48)), np.zeros((48, 48)), np.zeros((48, 49)))
    with pytest.raises(ValueError):
        compute_all(np.zeros((48, 48, 3)), np.zeros((48, 48, 3)), np.zeros((48, 48, 3)))
