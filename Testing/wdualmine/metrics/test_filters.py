import numpy as np
import pytest

from wdualmine.metrics._filters import box_filter_reflect, convolve_same_zero, convolve_valid_separable


def _convolve_valid_naive(image, kernel):
    """Direct 'valid' true convolution: out[i, j] = sum_{u,v} k[u, v] * x[i + n - 1 - u, j + m - 1 - v]."""
    n, m = kernel.shape
    out = np.zeros((image.shape[0] - n + 1, image.shape[1] - m + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            for u in range(n):
                for v in range(m):
                    out[i, j] += kernel[u, v] * image[i + n - 1 - u, j + m - 1 - v]
    return out


@pytest.mark.parametrize("n_taps", [3, 9])  # both code paths: shifted slices and the banded matrix product
def test_valid_separable_matches_direct_true_convolution(n_taps):
    rng = np.random.default_rng(0)
    image = rng.normal(size=(14, 12))
    rows = rng.normal(size=n_taps)  # asymmetric taps, so a missing kernel flip would show
    cols = rng.normal(size=n_taps)
    expected = _convolve_valid_naive(image, np.outer(rows, cols))
    np.testing.assert_allclose(convolve_valid_separable(image, rows, cols), expected, atol=1e-12)


def test_valid_separable_hand_1d():
    # x = [1, 2, 4] along the columns, taps [1, 10]: true convolution out[j] = 10 x[j] + 1 x[j+1]
    # -> [10 + 2, 20 + 4] = [12, 24] (correlation would give [21, 42]).
    out = convolve_valid_separable(np.array([[1.0, 2.0, 4.0]]), [1.0], [1.0, 10.0])
    np.testing.assert_array_equal(out, [[12.0, 24.0]])


def test_valid_separable_filters_stacks():
    rng = np.random.default_rng(1)
    stack = rng.normal(size=(3, 20, 20))
    taps = rng.normal(size=17)
    out = convolve_valid_separable(stack, taps)
    assert out.shape == (3, 4, 4)
    for k in range(3):
        np.testing.assert_allclose(out[k], convolve_valid_separable(stack[k], taps), atol=1e-12)


def test_valid_separable_rejects_too_small_image():
    with pytest.raises(ValueError):
        convolve_valid_separable(np.zeros((5, 20)), np.ones(7))


def test_box_filter_reflect_hand_corner():
    # x = arange(16).reshape(4, 4); 3x3 mean at (0, 0) with scipy 'reflect' edges (the edge sample
    # repeats): rows [0, 0, 1] x cols [0, 0, 1] -> row 0 gives 0 + 0 + 1 twice, row 1 gives 4 + 4 + 5
    # -> (1 + 1 + 13) / 9 = 15/9. numpy's 'reflect' (edge not repeated) would give 30/9.
    x = np.arange(16.0).reshape(4, 4)
    out = box_filter_reflect(x, 3)
    assert out.shape == (4, 4)
    assert out[0, 0] == pytest.approx(15.0 / 9.0)
    # Interior pixel (1, 1): mean of x[0:3, 0:3] = 5.
    assert out[1, 1] == pytest.approx(5.0)
    # (3, 3): rows [2, 3, 3] x cols [2, 3, 3]: 10+11+11, 14+15+15 twice -> (32 + 44 + 44) / 9.
    assert out[3, 3] == pytest.approx(120.0 / 9.0)


def test_box_filter_matches_scipy_uniform_filter():
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, size=(23, 17)).astype(float)
    np.testing.assert_allclose(box_filter_reflect(x, 7), ndimage.uniform_filter(x, size=7), atol=1e-9)


def test_box_filter_constant_zero_stays_exactly_zero():
    # A black background must give exact zeros (SSIM with tiny C1, C2 is sensitive to them).
    x = np.zeros((12, 12))
    x[8:, 8:] = 200.0
    assert np.all(box_filter_reflect(x, 7)[:3, :3] == 0.0)


def test_convolve_same_zero_impulse_gives_the_kernel():
    # True convolution of a centred impulse reproduces the kernel itself (correlation would rotate it).
    kernel = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    impulse = np.zeros((5, 5))
    impulse[2, 2] = 1.0
    out = convolve_same_zero(impulse, kernel)
    np.testing.assert_array_equal(out[1:4, 1:4], kernel)
    assert np.count_nonzero(out) == 9


def test_convolve_same_zero_matches_scipy_convolve2d():
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(9, 11))
    kernel = rng.normal(size=(3, 3))
    np.testing.assert_allclose(convolve_same_zero(x, kernel), signal.convolve2d(x, kernel, mode="same"), atol=1e-12)
