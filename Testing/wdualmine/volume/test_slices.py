import numpy as np

from wdualmine.volume.slices import resize_stack, working_shape


def test_small_slices_are_enlarged_with_square_pixels():
    assert working_shape((64, 72), (3.0, 3.0), 256) == (228, 256)
    assert working_shape((100, 50), (1.0, 2.0), 256) == (256, 256)


def test_big_square_pixel_slices_stay_native():
    assert working_shape((512, 512), (0.5, 0.5), 256) == (512, 512)
    assert working_shape((40, 40), (1.0, 1.0), 0) == (40, 40)


def test_resize_round_trip_keeps_smooth_images():
    y, x = np.mgrid[0:32, 0:40] / 40.0
    stack = np.stack([np.sin(3 * x + y), np.cos(2 * y)]).astype(np.float32)
    back = resize_stack(resize_stack(stack, (96, 120)), (32, 40))
    assert back.shape == stack.shape
    assert np.abs(back - stack)[:, 2:-2, 2:-2].max() < 0.02
