"""The pre-checks on their own: output folders that take no files, complex and out-of-range voxels."""

import numpy as np
import pytest
import SimpleITK as sitk

from wdualmine.checks import check_pixel_type, check_value_range, check_writable_folder
from wdualmine.errors import InputError


def test_a_missing_output_folder_is_fine_when_its_parent_takes_files(tmp_path):
    check_writable_folder(tmp_path / "new" / "deeper" / "f.nii.gz")
    assert list(tmp_path.iterdir()) == []  # the probe file is gone and no folder was made


def test_an_output_folder_under_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(InputError, match=r"is a file, not a folder"):
        check_writable_folder(tmp_path / "f" / "out.nii.gz")


def test_complex_pixels_are_refused(tmp_path):
    check_pixel_type(tmp_path / "a.nii", sitk.sitkFloat32)
    with pytest.raises(InputError, match="complex values; give a real image"):
        check_pixel_type(tmp_path / "a.nii", sitk.sitkComplexFloat64)


def test_float64_beyond_float32_is_refused_and_inf_is_not_counted(tmp_path):
    array = np.zeros((3, 4, 5))
    array[0, 0, 0] = np.inf  # Inf has its own handling (the window's ends)
    array[1, 1, 1] = 3e38
    check_value_range(sitk.GetImageFromArray(array), tmp_path / "ok.nii")
    array[2, 2, 2] = -1e300
    with pytest.raises(InputError, match=r"values up to 1e\+300, beyond float32"):
        check_value_range(sitk.GetImageFromArray(array), tmp_path / "big.nii")
