import numpy as np
import pytest
import SimpleITK as sitk

from wdualmine.errors import InputError
from wdualmine.volume.geometry import check_overlap, overlap_fraction, resample_onto, same_grid, slice_axis


def volume(shape=(10, 12, 14), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0)):
    image = sitk.GetImageFromArray(np.zeros(shape, np.float32))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


def test_overlap_fraction():
    a = volume()
    assert overlap_fraction(a, a) == pytest.approx(1.0)
    shifted = volume(origin=(7.0, 0.0, 0.0))  # half of the 14 mm extent along x
    assert overlap_fraction(a, shifted) == pytest.approx(0.5)
    with pytest.raises(InputError, match="do not overlap in physical space.*register them first"):
        check_overlap(a, volume(origin=(100.0, 0, 0)), ("ct.nii", "mr.nii"))


def test_resampling_is_physical_not_by_voxel_count():
    values = np.zeros((4, 4, 8), np.float32)
    values[..., 4:] = 10.0  # a step at x = 3.5 mm
    moving = sitk.GetImageFromArray(values)
    coarse = volume(shape=(4, 4, 4), spacing=(2.0, 1.0, 1.0), origin=(0.5, 0.0, 0.0))  # centres at x = 0.5, 2.5, 4.5, 6.5
    out = sitk.GetArrayFromImage(resample_onto(moving, coarse))
    assert np.allclose(out[0, 0], [0.0, 0.0, 10.0, 10.0])
    assert same_grid(coarse, resample_onto(moving, coarse))


def test_resampling_fills_outside_with_the_minimum():
    moving = sitk.GetImageFromArray(np.full((4, 4, 4), -1000, np.int16))
    out = sitk.GetArrayFromImage(resample_onto(moving, volume(shape=(4, 4, 4), origin=(50.0, 0, 0))))
    assert out.dtype == np.int16 and np.all(out == -1000)


def test_slice_axis_follows_the_direction_matrix():
    axial = volume()
    assert slice_axis(axial) == 0  # k is superior-inferior
    assert slice_axis(axial, "sagittal") == 2
    permuted = volume()
    permuted.SetDirection((0, 0, 1, 1, 0, 0, 0, 1, 0))  # index i -> y, j -> z, k -> x
    assert slice_axis(permuted) == 1  # j (numpy axis 1) runs along z
    with pytest.raises(InputError, match="unknown slicing axis"):
        slice_axis(axial, "oblique")
