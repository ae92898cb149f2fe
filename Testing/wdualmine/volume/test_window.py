import numpy as np
import pytest

from wdualmine.errors import InputError
from wdualmine.volume.window import Window, default_window, percentile_window


def test_parse_width_level_and_range():
    assert Window.parse("400/40") == Window(-160.0, 240.0)
    assert Window.parse("-160:240") == Window(-160.0, 240.0)
    for bad in ("wide", "0/10", "5:1"):
        with pytest.raises(InputError):
            Window.parse(bad)


def test_apply_clips_and_handles_non_finite():
    w = Window(0.0, 100.0)
    out = w.apply(np.array([-5, 0, 50, 100, 200, np.nan, np.inf, -np.inf], np.float64))
    assert out.dtype == np.float32
    assert out.tolist() == [0.0, 0.0, 0.5, 1.0, 1.0, 0.0, 1.0, 0.0]


def test_apply_leaves_its_input_as_it_was():
    # the window works in place on its own copy: a float32 volume (e.g. a view of the user's image) is untouched
    values = np.array([[-5.0, 0.0, 50.0], [100.0, 200.0, np.nan]], np.float32)
    before = values.copy()
    out = Window(0.0, 100.0).apply(values)
    assert out is not values and not np.shares_memory(out, values)
    np.testing.assert_array_equal(values, before)


def test_constant_images_map_to_background():
    assert np.all(Window(3.0, 3.0).apply(np.full(4, 3.0)) == 0)
    assert percentile_window(np.full((4, 4), 7, np.int32)).constant


def test_default_window():
    assert default_window(np.zeros(3, np.uint8)) == Window(0.0, 255.0)
    values = np.arange(1001, dtype=np.int16)
    w = default_window(values)
    assert w.low == pytest.approx(5.0) and w.high == pytest.approx(995.0)
