import numpy as np

from wdualmine.colour import recolour, rgb_to_ycbcr, ycbcr_to_rgb


def test_round_trip_and_luma():
    rgb = np.random.default_rng(0).uniform(0, 255, (5, 7, 3))
    y, cb, cr = rgb_to_ycbcr(rgb)
    assert np.allclose(y, 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2])
    assert np.allclose(ycbcr_to_rgb(y, cb, cr), rgb)


def test_grey_has_no_chroma():
    _, cb, cr = rgb_to_ycbcr(np.full((2, 2, 3), 80.0))
    assert np.allclose(cb, 0) and np.allclose(cr, 0)


def test_recolour_keeps_the_fused_luma_and_a_black_background():
    source = np.zeros((2, 2, 3))
    source[0, 0] = (200, 40, 10)  # a hot red pixel
    source[1, 1] = (0, 0, 90)  # blue where the fused image will be background
    fused_luma = np.array([[120.0, 50.0], [30.0, 0.0]])
    out = recolour(fused_luma, source)
    assert np.allclose(rgb_to_ycbcr(out)[0], fused_luma)
    assert out[0, 0, 0] > out[0, 0, 2]  # still red
    assert np.allclose(out[1, 1], 0)
