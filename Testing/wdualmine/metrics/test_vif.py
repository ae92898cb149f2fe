import math

import numpy as np
import pytest

from wdualmine.metrics.vif import EPS, SIGMA_N_SQ, _pixel_terms, _scale_taps, fspecial_gaussian, vif, vifp


def test_fspecial_gaussian_hand_3x3():
    # sigma = 0.6, 2 sigma^2 = 0.72: centre 1, edge exp(-1/0.72), corner exp(-2/0.72), then / sum.
    edge = math.exp(-1 / 0.72)
    corner = math.exp(-2 / 0.72)
    total = 1 + 4 * edge + 4 * corner
    expected = np.array([[corner, edge, corner], [edge, 1.0, edge], [corner, edge, corner]]) / total
    np.testing.assert_allclose(fspecial_gaussian(3, 0.6), expected, rtol=1e-14)


def test_fspecial_gaussian_cuts_values_below_eps_times_max():
    # sigma = 0.5 on 9x9: the corner exp(-32 / 0.5) = exp(-64) is below eps * 1 and is set to 0.
    window = fspecial_gaussian(9, 0.5)
    assert window[0, 0] == 0.0
    assert window.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_separable_taps_reproduce_the_fspecial_window(scale):
    size = 2 ** (5 - scale) + 1  # 17, 9, 5, 3
    taps = np.array(_scale_taps(scale))
    assert len(taps) == size
    np.testing.assert_allclose(np.outer(taps, taps), fspecial_gaussian(size, size / 5), rtol=0, atol=1e-16)


def _terms(s1, s2, s12):
    num, den = _pixel_terms(np.array([s1]), np.array([s2]), np.array([s12]))
    return num[0], den[0]


def test_pixel_terms_plain_case():
    # sigma1^2 = 4, sigma2^2 = 5, sigma12 = 2: g = 2/4 = 0.5, sv^2 = 5 - 0.5*2 = 4
    # num = log10(1 + 0.25*4/(4 + 2)) = log10(7/6), den = log10(1 + 4/2) = log10(3).
    num, den = _terms(4.0, 5.0, 2.0)
    assert num == pytest.approx(math.log10(7 / 6), rel=1e-9)
    assert den == pytest.approx(math.log10(3))


def test_pixel_terms_identical_images():
    # sigma1^2 = sigma2^2 = sigma12 = 4: g = 4/(4 + eps), sv^2 = 4 - g*4 ~ 1e-10 -> set to eps
    # num = log10(1 + g^2 * 4/(eps + 2)) = log10(3) up to ~1e-10, equal to den.
    num, den = _terms(4.0, 4.0, 4.0)
    assert num == pytest.approx(math.log10(3), rel=1e-9)
    assert den == pytest.approx(math.log10(3))


@pytest.mark.parametrize(
    "s1, s2, s12, expected_den",
    [
        (1e-11, 3.0, 0.5, 0.0),  # flat reference: g = 0 and sigma1^2 = 0, so both terms vanish
        (-3.0, 3.0, 0.5, 0.0),  # negative sigma1^2 is clipped to 0 first: same as a flat reference
        (4.0, 1e-11, 1e-6, math.log10(3)),  # flat distorted image: g = 0, sv^2 = 0 -> eps
        (4.0, 4.0, -2.0, math.log10(3)),  # negative gain g = -0.5: g = 0, sv^2 = sigma2^2
        (4.0, -1.0, -2.0, math.log10(3)),  # sigma2^2 clipped to 0 (flat) before the negative-gain rule
    ],
)
def test_pixel_terms_clipping_rules(s1, s2, s12, expected_den):
    num, den = _terms(s1, s2, s12)
    assert num == 0.0
    assert den == pytest.approx(expected_den)


def test_identical_images_give_two():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(64, 64)).astype(float)
    assert vifp(x, x) == pytest.approx(1.0, abs=1e-8)
    assert vif(x, x, x) == pytest.approx(2.0, abs=1e-8)


def test_flat_reference_gives_one():
    # A constant reference has no variance anywhere: num = den = 0 and R1 maps the NaN to 1.0.
    rng = np.random.default_rng(1)
    assert vifp(np.full((48, 48), 100.0), rng.uniform(0, 255, size=(48, 48))) == 1.0


def test_symmetric_in_sources():
    rng = np.random.default_rng(2)
    a, b = rng.uniform(0, 255, size=(2, 48, 48))
    f = (a + b) / 2
    assert vif(f, a, b) == pytest.approx(vif(f, b, a), rel=1e-13)
    assert vif(f, a, b) == pytest.approx(vifp(a, f) + vifp(b, f), rel=1e-13)


def test_needs_41_pixels():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 255, size=(41, 41))
    assert np.isfinite(vifp(x, x))
    with pytest.raises(ValueError):
        vifp(x[:40], x[:40])


def _convolve_valid_naive(x, window):
    n = window.shape[0]
    flipped = window[::-1, ::-1]
    rows, cols = x.shape[0] - n + 1, x.shape[1] - n + 1
    return np.array([[np.sum(flipped * x[i:i + n, j:j + n]) for j in range(cols)] for i in range(rows)])


def _vifp_slow(ref, dist):
    """Direct transcription of METRICS.md with full 2-D windows and a per-pixel loop for the clipping."""
    num = den = 0.0
    for scale in range(1, 5):
        size = 2 ** (5 - scale) + 1
        window = fspecial_gaussian(size, size / 5)
        if scale > 1:
            ref = _convolve_valid_naive(ref, window)[::2, ::2]
            dist = _convolve_valid_naive(dist, window)[::2, ::2]
        mu1 = _convolve_valid_naive(ref, window)
        mu2 = _convolve_valid_naive(dist, window)
        s1_map = _convolve_valid_naive(ref * ref, window) - mu1 * mu1
        s2_map = _convolve_valid_naive(dist * dist, window) - mu2 * mu2
        s12_map = _convolve_valid_naive(ref * dist, window) - mu1 * mu2
        for s1, s2, s12 in zip(s1_map.ravel(), s2_map.ravel(), s12_map.ravel()):
            s1, s2 = max(s1, 0.0), max(s2, 0.0)
            g = s12 / (s1 + EPS)
            sv = s2 - g * s12
            if s1 < EPS:
                g, sv, s1 = 0.0, s2, 0.0
            if s2 < EPS:
                g, sv = 0.0, 0.0
            if g < 0:
                sv, g = s2, 0.0
            if sv <= EPS:
                sv = EPS
            num += math.log10(1 + g * g * s1 / (sv + SIGMA_N_SQ))
            den += math.log10(1 + s1 / SIGMA_N_SQ)
    return 1.0 if den == 0 else num / den


def test_matches_slow_reference_on_random_images():
    rng = np.random.default_rng(4)
    a = rng.integers(0, 256, size=(48, 52)).astype(float)
    b = np.clip(a + rng.normal(0, 40, size=a.shape), 0, 255).round()
    f = np.round((a + b) / 2)
    f[:10, :10] = 0.0  # a flat patch, so the clipping branches are exercised
    a[:10, :10] = 0.0
    expected = _vifp_slow(a, f) + _vifp_slow(b, f)
    assert vif(f, a, b) == pytest.approx(expected, rel=1e-10)
