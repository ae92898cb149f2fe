import math

import numpy as np
import pytest

from wdualmine.metrics.psnr import mse, psnr


def test_hand_2x2():
    # F = [[0, 4], [0, 0]] (max 4), A = 0: mean((A - F)^2) = 16/4 = 4;
    # B = [[2, 4], [0, 0]]: mean((B - F)^2) = 4/4 = 1. MSE = (4 + 1) / 2 = 2.5
    # PSNR = 10 log10(4^2 / 2.5) = 10 log10(6.4)
    f = np.array([[0.0, 4.0], [0.0, 0.0]])
    a = np.zeros((2, 2))
    b = np.array([[2.0, 4.0], [0.0, 0.0]])
    assert mse(f, a, b) == pytest.approx(2.5)
    assert psnr(f, a, b) == pytest.approx(10 * math.log10(6.4))


def test_peak_is_max_of_fused_not_255():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 100, size=(2, 8, 8))
    f = (a + b) / 2
    expected = 10 * math.log10(f.max() ** 2 / mse(f, a, b))
    assert psnr(f, a, b) == pytest.approx(expected)
    assert psnr(f, a, b) != pytest.approx(10 * math.log10(255.0 ** 2 / mse(f, a, b)))


def test_identical_images_give_inf():
    x = np.arange(9.0).reshape(3, 3)
    assert psnr(x, x, x) == math.inf
