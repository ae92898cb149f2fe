import math

import numpy as np
import pytest

from wdualmine.metrics._filters import convolve_same_zero
from wdualmine.metrics.qabf import (
    SOBEL_X,
    SOBEL_Y,
    GAMMA_A,
    GAMMA_G,
    KAPPA_A,
    KAPPA_G,
    SIGMA_A,
    SIGMA_G,
    edge_preservation,
    orientation,
    qabf,
    sobel_strength_orientation,
)

# Q_alpha for identical orientations: 0.9879 / (1 + exp(-22 * (1 - 0.8))) = 0.9879 / (1 + e^-4.4)
Q_ALPHA_SAME = 0.9879 / (1 + math.exp(-4.4))


def q_g(strength):
    return 0.9994 / (1 + math.exp(-15 * (strength - 0.5)))


def test_constants():
    assert (GAMMA_G, KAPPA_G, SIGMA_G) == (0.9994, -15.0, 0.5)
    assert (GAMMA_A, KAPPA_A, SIGMA_A) == (0.9879, -22.0, 0.8)


def test_sobel_of_a_ramp_by_hand():
    # X = [[0, 1, 2]] * 3 rows, zero padding. True convolution with [[-1,0,1],[-2,0,2],[-1,0,1]] gives
    # Sx = (1,2,1)-weighted left column minus right column; with the padding the row weights are 3, 4, 3:
    #   Sx[:, 0] = w * (0 - 1), Sx[:, 1] = w * (0 - 2), Sx[:, 2] = w * (1 - 0)
    # Sy = (1,2,1)-weighted row below minus row above: 0 in the middle row; top row = row 1 weighted
    #   = [0+0+1, 0+2+2, 1+4+0] = [1, 4, 5]; bottom row = -[1, 4, 5].
    # (Correlation instead of convolution would flip both signs.)
    x = np.tile([0.0, 1.0, 2.0], (3, 1))
    g, alpha = sobel_strength_orientation(x)
    sx = np.array([[-3.0, -6.0, 3.0], [-4.0, -8.0, 4.0], [-3.0, -6.0, 3.0]])
    sy = np.array([[1.0, 4.0, 5.0], [0.0, 0.0, 0.0], [-1.0, -4.0, -5.0]])
    np.testing.assert_array_equal(convolve_same_zero(x, SOBEL_X), sx)
    np.testing.assert_array_equal(convolve_same_zero(x, SOBEL_Y), sy)
    np.testing.assert_allclose(g, np.sqrt(sx ** 2 + sy ** 2))
    np.testing.assert_allclose(alpha, np.arctan(sy / sx))


def test_orientation_is_plain_arctan_with_quirks():
    assert orientation(0.0, 5.0) == pytest.approx(math.pi / 2)
    assert orientation(0.0, -5.0) == pytest.approx(math.pi / 2)  # not -pi/2
    assert orientation(0.0, 0.0) == pytest.approx(math.pi / 2)
    assert orientation(-1.0, 1.0) == pytest.approx(-math.pi / 4)  # atan2 would give 3 pi / 4
    assert orientation(2.0, 2.0) == pytest.approx(math.pi / 4)


@pytest.mark.parametrize(
    "g_x, a_x, g_f, a_f, expected",
    [
        # G = 1/2 -> Q_g = 0.9994 / (1 + e^0) = 0.4997; same orientation.
        (2.0, 0.3, 1.0, 0.3, 0.9994 / 2 * Q_ALPHA_SAME),
        (1.0, 0.3, 2.0, 0.3, 0.9994 / 2 * Q_ALPHA_SAME),
        # Equal non-zero strengths: the quirk takes G = g_F = 3.
        (3.0, 0.0, 3.0, 0.0, q_g(3.0) * Q_ALPHA_SAME),
        # Both zero: G = g_F = 0 -> Q_g = 0.9994 / (1 + e^7.5).
        (0.0, 0.0, 0.0, 0.0, 0.9994 / (1 + math.exp(7.5)) * Q_ALPHA_SAME),
        # Orientations pi/4 apart: A = 1 - (pi/4)/(pi/2) = 0.5 -> Q_alpha = 0.9879 / (1 + e^(6.6)).
        (2.0, math.pi / 4, 1.0, 0.0, 0.4997 * 0.9879 / (1 + math.exp(6.6))),
        # Opposite ends of (-pi/2, pi/2]: A = -1 -> Q_alpha = 0.9879 / (1 + e^(39.6)).
        (2.0, math.pi / 2, 1.0, -math.pi / 2, 0.4997 * 0.9879 / (1 + math.exp(39.6))),
    ],
)
def test_edge_preservation_hand(g_x, a_x, g_f, a_f, expected):
    assert float(edge_preservation(np.array(g_x), np.array(a_x), np.array(g_f), np.array(a_f))) == pytest.approx(
        expected, rel=1e-12
    )


def test_identical_images_on_the_ramp():
    # F = A = B: every pixel has G = g (quirk) and Q_alpha = Q_ALPHA_SAME, so
    # Qabf = Q_ALPHA_SAME * sum(g Q_g(g)) / sum(g), with the g of the ramp above:
    # sqrt(10), sqrt(52), sqrt(34) in the top and bottom rows and 4, 8, 4 in the middle.
    x = np.tile([0.0, 1.0, 2.0], (3, 1))
    g = [math.sqrt(10), math.sqrt(52), math.sqrt(34)] * 2 + [4.0, 8.0, 4.0]
    expected = Q_ALPHA_SAME * sum(v * q_g(v) for v in g) / sum(g)
    assert qabf(x, x, x) == pytest.approx(expected, rel=1e-12)


def test_doubled_source():
    # F = 2A = 2B: g_F = 2 g_X wherever g_X > 0 -> G = 1/2, same orientation, so every weighted pixel
    # scores Q_g(1/2) * Q_ALPHA_SAME = 0.4997 * Q_ALPHA_SAME (pixels with g_X = 0 weigh nothing).
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, size=(10, 10)).astype(float)
    assert qabf(2 * a, a, a) == pytest.approx(0.4997 * Q_ALPHA_SAME, rel=1e-12)


def test_flat_source_weighs_nothing():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, size=(10, 10)).astype(float)
    flat = np.zeros_like(a)
    assert qabf(2 * a, a, flat) == pytest.approx(0.4997 * Q_ALPHA_SAME, rel=1e-12)


def test_no_gradient_anywhere_is_nan():
    flat = np.full((6, 6), 7.0)
    assert math.isnan(qabf(flat, np.zeros((6, 6)), np.zeros((6, 6))))


def _qabf_slow(f, a, b):
    """Direct per-pixel loops: true 2-D convolution with zero padding, then the per-pixel formulas."""
    kx = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    ky = [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]
    h, w = f.shape

    def conv(x, k, i, j):
        total = 0.0
        for u in range(3):
            for v in range(3):
                r, c = i - (u - 1), j - (v - 1)  # true convolution: x[i - u', j - v']
                if 0 <= r < h and 0 <= c < w:
                    total += k[u][v] * x[r, c]
        return total

    def grad(x, i, j):
        sx, sy = conv(x, kx, i, j), conv(x, ky, i, j)
        return math.sqrt(sx * sx + sy * sy), (math.pi / 2 if sx == 0 else math.atan(sy / sx))

    num = den = 0.0
    for i in range(h):
        for j in range(w):
            g_f, a_f = grad(f, i, j)
            for x in (a, b):
                g_x, a_x = grad(x, i, j)
                if g_x > g_f:
                    strength = g_f / g_x
                elif g_x < g_f:
                    strength = g_x / g_f
                else:
                    strength = g_f
                q = q_g(strength) * 0.9879 / (1 + math.exp(-22 * (1 - abs(a_x - a_f) / (math.pi / 2) - 0.8)))
                num += q * g_x
                den += g_x
    return num / den


def test_matches_slow_reference_and_is_symmetric():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, size=(6, 6)).astype(float)
    b = rng.integers(0, 256, size=(6, 6)).astype(float)
    b[:, 2] = 0.0  # some Sx == 0 and equal-gradient pixels
    a[:, 2] = 0.0
    f = np.round((a + b) / 2)
    assert qabf(f, a, b) == pytest.approx(_qabf_slow(f, a, b), rel=1e-12)
    assert qabf(f, a, b) == pytest.approx(qabf(f, b, a), rel=1e-14)


def test_nearly_scale_invariant():
    # G and alpha are ratios, so scaling all three images changes nothing except at equal-gradient
    # pixels (the g_F quirk); random float images have none with non-zero weight.
    rng = np.random.default_rng(3)
    a, b = rng.uniform(0, 255, size=(2, 16, 16))
    f = 0.7 * a + 0.3 * b
    assert qabf(f / 255, a / 255, b / 255) == pytest.approx(qabf(f, a, b), rel=1e-10)
