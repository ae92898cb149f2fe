"""Truncated or damaged NIfTI inputs are refused instead of read with zero-filled slices."""

import gzip

import numpy as np
import pytest
import SimpleITK as sitk

from wdualmine.errors import InputError
from wdualmine.io.images import header_info, read_image
from wdualmine.io.integrity import check_nifti, data_files


def volume(path, shape=(20, 30, 40)):
    array = np.random.default_rng(0).normal(100, 20, shape).astype(np.float32)
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path), useCompression=True)
    return path, array


def cut(path, keep):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_intact_files_pass_and_read_the_same(tmp_path):
    for name in ("v.nii.gz", "v.nii"):
        path, array = volume(tmp_path / name)
        check_nifti(path, thorough=True)
        assert header_info(path).dimension == 3
        assert np.array_equal(sitk.GetArrayFromImage(read_image(path)), array)


@pytest.mark.parametrize("name", ["v.nii.gz", "v.nii"])
def test_truncated_nifti_is_refused_at_the_header_check_and_at_read(tmp_path, name):
    path, _ = volume(tmp_path / name)
    cut(path, 0.6)
    before = path.read_bytes()
    # ITK itself reads it without complaint, the missing part as zeros: the reason for the check
    assert sitk.GetArrayFromImage(sitk.ReadImage(str(path))).shape == (20, 30, 40)
    with pytest.raises(InputError, match=rf"{name} is (incomplete|damaged).*(cut short|copy or export it again)"):
        header_info(path)
    with pytest.raises(InputError, match=rf"{name} is (incomplete|damaged)"):
        read_image(path)
    assert path.read_bytes() == before  # inputs are never modified


def test_gzip_cut_at_a_member_boundary_is_caught_by_the_size(tmp_path):
    # a complete gzip stream holding only part of the voxels: CRC and trailer are fine, the size is not
    path, _ = volume(tmp_path / "v.nii.gz")
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    with pytest.raises(InputError, match=r"incomplete: it holds \d+ of the \d+ bytes"):
        header_info(path)


def test_damaged_gzip_is_refused(tmp_path):
    path, _ = volume(tmp_path / "v.nii.gz")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"v\.nii\.gz is damaged"):
        read_image(path)


def test_multi_member_gzip_is_not_a_false_alarm(tmp_path):
    # pigz and concatenated streams write several members; the last trailer holds only its own size
    path, array = volume(tmp_path / "v.nii.gz")
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:1000]) + gzip.compress(raw[1000:]))
    header_info(path)
    assert np.array_equal(sitk.GetArrayFromImage(read_image(path)), array)


def test_data_files_of_split_headers(tmp_path):
    image = sitk.GetImageFromArray(np.zeros((3, 4, 5), np.float32))
    sitk.WriteImage(image, str(tmp_path / "a.mhd"), useCompression=True)
    sitk.WriteImage(image, str(tmp_path / "b.nhdr"), useCompression=True)
    sitk.WriteImage(image, str(tmp_path / "c.nrrd"), useCompression=True)
    assert data_files(tmp_path / "a.mhd") == [tmp_path / "a.zraw"]
    assert data_files(tmp_path / "b.nhdr") == [tmp_path / "b.raw.gz"]
    assert data_files(tmp_path / "c.nrrd") == []
