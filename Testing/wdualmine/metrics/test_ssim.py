import numpy as np
import pytest

from wdualmine.metrics.ssim import ssim, structural_similarity

C1_R1 = (0.01 * 2) ** 2  # 4e-4: data_range 2, what scikit-image 0.19.2 assumed for float input
C2_R1 = (0.03 * 2) ** 2  # 3.6e-3


def test_7x7_single_window_by_hand():
    # On a 7x7 image the 3-pixel crop leaves only the centre, whose window is the whole image,
    # so the mean SSIM is the SSIM of one window, without any edge handling.
    # x: one pixel 7, the rest 0 -> mean 1/7, E[x^2] = 1, sample variance 49/48 (1 - 1/49) = 1.
    # y = 2x: mean 2/7, variance 4, covariance 2.
    # SSIM = (2 (1/7)(2/7) + C1)(2*2 + C2) / ((1/49 + 4/49 + C1)(1 + 4 + C2))
    x = np.zeros((7, 7))
    x[1, 5] = 7.0
    expected = (4 / 49 + C1_R1) * (4 + C2_R1) / ((5 / 49 + C1_R1) * (5 + C2_R1))
    assert structural_similarity(x, 2 * x) == pytest.approx(expected, rel=1e-12)
    c1, c2 = 2.55 ** 2, 7.65 ** 2  # data_range = 255
    expected_255 = (4 / 49 + c1) * (4 + c2) / ((5 / 49 + c1) * (5 + c2))
    assert structural_similarity(x, 2 * x, data_range=255) == pytest.approx(expected_255, rel=1e-12)


def test_background_offset_is_punished():
    # x = 0, y = 1 everywhere: means 0 and 1, no variance -> SSIM = C1 / (1 + C1) ~ 4e-4 at every pixel.
    assert structural_similarity(np.zeros((9, 9)), np.ones((9, 9))) == pytest.approx(C1_R1 / (1 + C1_R1))


def test_identical_images_give_one_each():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(20, 24)).astype(float)
    assert structural_similarity(x, x) == pytest.approx(1.0, abs=1e-12)
    assert ssim(x, x, x) == pytest.approx(2.0, abs=1e-12)


def test_sum_over_sources_and_symmetry():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0, 255, size=(2, 16, 16))
    f = (a + b) / 2
    assert ssim(f, a, b) == pytest.approx(structural_similarity(f, a) + structural_similarity(f, b), rel=1e-13)
    assert ssim(f, a, b) == pytest.approx(ssim(f, b, a), rel=1e-13)
    assert structural_similarity(f, a) == pytest.approx(structural_similarity(a, f), rel=1e-13)


def _mirror(k, n):
    """scipy.ndimage 'reflect' index: d c b a | a b c d | d c b a (for offsets up to n)."""
    if k < 0:
        return -k - 1
    if k >= n:
        return 2 * n - 1 - k
    return k


def _ssim_slow(x, y, data_range=2.0):
    """Per-pixel windows gathered with explicit mirrored indices, sample statistics, 3-pixel crop."""
    h, w = x.shape
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    values = []
    for i in range(3, h - 3):
        for j in range(3, w - 3):
            rows = [_mirror(i + d, h) for d in range(-3, 4)]
            cols = [_mirror(j + d, w) for d in range(-3, 4)]
            px = x[np.ix_(rows, cols)].ravel()
            py = y[np.ix_(rows, cols)].ravel()
            mx, my = px.mean(), py.mean()
            vx, vy = px.var(ddof=1), py.var(ddof=1)
            vxy = np.sum((px - mx) * (py - my)) / 48
            values.append((2 * mx * my + c1) * (2 * vxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2)))
    return float(np.mean(values))


def test_matches_slow_reference():
    # The cropped border is 3 pixels and the window reaches 3, so the edge mirroring never
    # enters the cropped mean; the reference still gathers windows exactly as scipy would.
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, size=(12, 13)).astype(float)
    y = np.clip(x + rng.normal(0, 20, size=x.shape), 0, 255)
    x[:5, :5] = 0.0
    y[:4, :6] = 0.0
    assert structural_similarity(x, y) == pytest.approx(_ssim_slow(x, y), rel=1e-10)
    assert structural_similarity(x, y, data_range=255) == pytest.approx(_ssim_slow(x, y, 255), rel=1e-10)


def test_too_small_raises():
    with pytest.raises(ValueError):
        structural_similarity(np.zeros((6, 10)), np.zeros((6, 10)))
