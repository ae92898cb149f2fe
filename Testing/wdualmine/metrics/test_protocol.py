import numpy as np
import pytest

from wdualmine.metrics.protocol import r1_stretch, to_r1_grey


def test_rgb_to_bt601_luma_rounded():
    # 0.299*255 = 76.245 -> 76; 0.587*255 = 149.685 -> 150; 0.114*255 = 29.07 -> 29;
    # (10, 20, 30): 2.99 + 11.74 + 3.42 = 18.15 -> 18; white stays 255.
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30], [255, 255, 255]]], dtype=np.uint8)
    grey = to_r1_grey(rgb)
    assert grey.dtype == np.float64
    assert grey.shape == (1, 5)
    np.testing.assert_array_equal(grey, [[76.0, 150.0, 29.0, 18.0, 255.0]])


def test_grey_input_keeps_its_levels():
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(to_r1_grey(grey), grey.astype(np.float64))
    # An RGB image with R = G = B gives the same grey levels (what cv2.imread makes of a grey PNG).
    np.testing.assert_array_equal(to_r1_grey(np.repeat(grey[..., None], 3, axis=2)), grey.astype(np.float64))


def test_float_input_and_alpha_channel():
    rgba = np.zeros((2, 2, 4), dtype=np.float32)
    rgba[..., 1] = 100.0  # G only: 58.7 -> 59
    rgba[..., 3] = 255.0  # alpha is ignored
    np.testing.assert_array_equal(to_r1_grey(rgba), np.full((2, 2), 59.0))


def test_bad_shape_raises():
    with pytest.raises(ValueError):
        to_r1_grey(np.zeros((4, 4, 2)))


def test_stretch_hand():
    # (x - 2) / 8 * 255: 0, 63.75 -> 64, 127.5 -> 128 (round half to even), 255.
    out = r1_stretch(np.array([[2.0, 4.0], [6.0, 10.0]]))
    np.testing.assert_array_equal(out, [[0.0, 64.0], [128.0, 255.0]])
    assert out.dtype == np.float64


def test_stretch_spans_full_range_and_constant_gives_zero():
    rng = np.random.default_rng(0)
    out = r1_stretch(rng.normal(size=(8, 8)))
    assert out.min() == 0.0 and out.max() == 255.0
    np.testing.assert_array_equal(out, np.round(out))
    np.testing.assert_array_equal(r1_stretch(np.full((3, 3), 42.0)), np.zeros((3, 3)))
