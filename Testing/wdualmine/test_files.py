import numpy as np
import pytest
import SimpleITK as sitk

from wdualmine.errors import InputError
from wdualmine.files import check_not_same, guess_task, pair_folders, plan_outputs, validate_task, write_all


def png(path, value=10, shape=(16, 16)):
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(np.full(shape, value, np.uint8)), str(path))
    return path


def test_unmatched_folder_names_are_listed(tmp_path):
    for name in ("001.png", "002.png", "003.png"):
        png(tmp_path / "pet" / name)
    for name in ("001.png", "002.png", "004.png"):
        png(tmp_path / "mri" / name)
    with pytest.raises(InputError, match=r"only in .*pet: 003\.png; only in .*mri: 004\.png"):
        pair_folders(tmp_path / "pet", tmp_path / "mri")


def test_pairs_and_output_plan(tmp_path):
    for name in ("001.png", "002.png"):
        png(tmp_path / "pet" / name)
        png(tmp_path / "mri" / name, value=20)
    plan = plan_outputs(tmp_path / "pet", tmp_path / "mri", tmp_path / "out")
    assert [(a.name, b.parent.name, o.relative_to(tmp_path).as_posix()) for a, b, o in plan] == [
        ("001.png", "mri", "out/001.png"),
        ("002.png", "mri", "out/002.png"),
    ]
    single = plan_outputs(tmp_path / "pet" / "001.png", tmp_path / "mri" / "001.png", tmp_path / "f.png")
    assert single[0][2] == tmp_path / "f.png"
    with pytest.raises(InputError, match="two files or two folders"):
        plan_outputs(tmp_path / "pet", tmp_path / "mri" / "001.png", tmp_path / "x.png")


def test_same_image_twice_is_refused(tmp_path):
    a = png(tmp_path / "a.png")
    b = png(tmp_path / "copy.png")  # same bytes, other name
    with pytest.raises(InputError, match="are the same image"):
        check_not_same(a, a)
    with pytest.raises(InputError, match="are the same image"):
        check_not_same(a, b)


def test_task_guess(tmp_path):
    assert guess_task(tmp_path / "PET-MRI" / "PET" / "1.png") == "pet"
    assert guess_task(tmp_path / "SPECT-MRI" / "SPECT") == "spect"
    assert guess_task(tmp_path / "study" / "ct_head.nii.gz", tmp_path / "CT") == "ct"


def test_task_guess_a_pet_word_beats_ct_in_a_hybrid_scanner_name(tmp_path):
    # PET from a PET/CT scanner is named after the scanner; its CT would be a file of its own
    for name in ("PET_CT_0001.nii.gz", "FDG-PET-CT.nii.gz", "petct.nrrd", "case1 PET CT.nii"):
        assert guess_task(tmp_path / name, tmp_path / "t1.nii.gz") == "pet", name
    assert guess_task(tmp_path / "SPECT-CT" / "a.nii") == "spect"
    with pytest.raises(InputError, match="names both pet and spect; say --task"):
        guess_task(tmp_path / "pet_spect.nii")
    assert validate_task("PET", tmp_path / "a.nii", tmp_path / "b.nii") == "pet"


def test_a_failed_write_leaves_nothing(tmp_path):
    good = sitk.GetImageFromArray(np.zeros((4, 4), np.uint8))
    bad = sitk.GetImageFromArray(np.zeros((4, 4), np.float64))  # PNG cannot hold float64
    with pytest.raises(InputError, match=r"cannot write .*b\.png"):
        write_all({tmp_path / "a.png": good, tmp_path / "b.png": bad})
    assert list(tmp_path.iterdir()) == []
