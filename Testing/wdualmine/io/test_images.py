import numpy as np
import pytest
import SimpleITK as sitk

from wdualmine.errors import InputError
from wdualmine.io.images import full_suffix, grey_array, read_grey_r1, read_image, write_image_atomic


def test_missing_folder_and_non_image_files(tmp_path):
    with pytest.raises(InputError, match=r"absent\.png: no such file"):
        read_image(tmp_path / "absent.png")
    with pytest.raises(InputError, match="is a folder"):
        read_image(tmp_path)
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    with pytest.raises(InputError, match=r"notes\.png: cannot be read as an image"):
        read_image(text)


def test_rgb_png_becomes_r1_luma(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    path = tmp_path / "rgb.png"
    sitk.WriteImage(sitk.GetImageFromArray(rgb, isVector=True), str(path))
    # 0.299*200 + 0.587*100 + 0.114*50 = 59.8 + 58.7 + 5.7 = 124.2 -> 124
    assert np.all(read_grey_r1(path) == 124)
    assert np.allclose(grey_array(read_image(path)), 124.2, atol=1e-4)


def test_atomic_write_leaves_only_the_final_file(tmp_path):
    image = sitk.GetImageFromArray(np.arange(12, dtype=np.float32).reshape(3, 4))
    write_image_atomic(image, tmp_path / "sub" / "out.nii.gz")
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["out.nii.gz"]
    assert full_suffix(tmp_path / "x.NII.GZ") == ".nii.gz"
