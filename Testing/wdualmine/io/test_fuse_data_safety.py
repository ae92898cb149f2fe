"""`wdualmine fuse` end to end on the data-safety cases: one line, exit 2, nothing half-written."""

import os
import stat

import numpy as np
import pytest
import SimpleITK as sitk

from wdualmine.cli import main


def write(path, array, spacing=(2.0, 2.0, 2.0)):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), useCompression=True)
    return path


@pytest.fixture
def pair(tmp_path, phantom):
    return (
        write(tmp_path / "in" / "pet.nii.gz", phantom((12, 24, 28), seed=1, functional=True)),
        write(tmp_path / "in" / "mri.nii.gz", phantom((12, 24, 28), seed=2).astype(np.int16)),
    )


def fuse(capsys, *args):
    code = main(["fuse", *map(str, args), "--task", "pet", "--device", "cpu", "--working-size", "0"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    return len(lines) == 1 and lines[0].startswith("wdualmine fuse: error: ")


def test_full_disk_exits_2_and_leaves_nothing(tiny_disk, tmp_path, phantom, capsys):
    big = write(tmp_path / "big" / "pet.nii.gz", phantom((24, 64, 64), seed=1, functional=True))
    mri = write(tmp_path / "big" / "mri.nii.gz", phantom((24, 64, 64), seed=2))
    code, out, err = fuse(capsys, big, mri, "-o", tiny_disk / "fused.nii", "--maps")
    assert code == 2 and one_error_line(err) and "cannot write" in err, err
    assert out == "" and os.listdir(tiny_disk) == []


def test_truncated_input_is_refused_before_fusion(tmp_path, pair, capsys):
    data = pair[0].read_bytes()
    pair[0].write_bytes(data[: len(data) // 2])
    code, out, err = fuse(capsys, *pair, "-o", tmp_path / "out" / "f.nii.gz")
    assert code == 2 and one_error_line(err) and "pet.nii.gz is" in err and "copy or export it again" in err, err
    assert not (tmp_path / "out").exists()


def test_unwritable_output_folder_is_found_before_fusion(read_only_folder, pair, capsys, monkeypatch):
    import wdualmine.inference

    def no_fusion(*args, **kwargs):
        raise AssertionError("the model was loaded although the output folder cannot be written")

    monkeypatch.setattr(wdualmine.inference.Fuser, "for_task", no_fusion)
    code, _, err = fuse(capsys, *pair, "-o", read_only_folder / "sub" / "f.nii.gz")
    assert code == 2 and one_error_line(err) and "does not take new files" in err, err


def test_output_path_under_a_file_is_refused(tmp_path, pair, capsys):
    (tmp_path / "afile").write_text("x")
    code, _, err = fuse(capsys, *pair, "-o", tmp_path / "afile" / "f.nii.gz")
    assert code == 2 and one_error_line(err) and "is a file, not a folder" in err


def test_mhd_output_writes_two_final_files_with_normal_permissions(tmp_path, pair, capsys):
    previous = os.umask(0o022)
    try:
        for _ in range(2):
            code, out, err = fuse(capsys, *pair, "-o", tmp_path / "out" / "f.mhd", "--maps")
            # no progress bar (stderr is not a terminal here): at most the one line saying what auto chose
            lines = err.splitlines()
            assert code == 0 and all(line.startswith("wdualmine fuse: auto controls:") for line in lines), err
    finally:
        os.umask(previous)
    names = sorted(os.listdir(tmp_path / "out"))
    assert names == sorted(f"f{tail}{ext}" for tail in ("", "_reliability_a", "_reliability_b", "_arbitration") for ext in (".mhd", ".zraw"))
    assert {stat.S_IMODE((tmp_path / "out" / n).stat().st_mode) for n in names} == {0o644}


def test_an_output_whose_data_file_would_replace_an_input_data_file(tmp_path, phantom, capsys):
    # A is a.mhd whose pixels live in f.zraw; writing f.mhd there would write f.zraw over them
    folder = tmp_path / "in"
    folder.mkdir()
    image = sitk.GetImageFromArray(phantom((12, 24, 28), seed=1, functional=True))
    sitk.WriteImage(image, str(folder / "f.mhd"), useCompression=True)
    (folder / "f.mhd").rename(folder / "a.mhd")  # header renamed, still naming f.zraw
    mri = write(folder / "mri.nii.gz", phantom((12, 24, 28), seed=2))
    before = (folder / "f.zraw").read_bytes()
    code, _, err = fuse(capsys, folder / "a.mhd", mri, "-o", folder / "f.mhd")
    assert code == 2 and one_error_line(err) and "f.zraw would overwrite an input" in err, err
    assert (folder / "f.zraw").read_bytes() == before and not (folder / "f.mhd").exists()


@pytest.mark.parametrize("case", ["complex", "float64-overflow", "fifo"])
def test_bad_voxels_and_non_files(tmp_path, pair, capsys, case):
    a = tmp_path / "bad" / "pet.nii.gz"
    a.parent.mkdir()
    if case == "complex":
        sitk.WriteImage(sitk.GetImageFromArray(np.ones((12, 24, 28), np.complex64)), str(a))
        expected = "holds complex values"
    elif case == "float64-overflow":
        array = np.ones((12, 24, 28)) * 1e300
        array[:, :, :10] = 0
        sitk.WriteImage(sitk.GetImageFromArray(array), str(a))
        expected = "beyond float32"
    else:
        a = tmp_path / "bad" / "pet.nii"
        os.mkfifo(a)
        expected = "not a regular file"
    code, _, err = fuse(capsys, a, pair[1], "-o", tmp_path / "out" / "f.nii.gz")
    assert code == 2 and one_error_line(err) and expected in err, err
    assert not (tmp_path / "out").exists()


def test_streamed_nifti_outputs_equal_the_in_memory_ones(tmp_path, pair, capsys):
    """NIfTI outputs are written slab by slab during the fusion; other formats from memory: same voxels."""
    for out in ("streamed/f.nii.gz", "memory/f.nrrd"):
        code, _, err = fuse(capsys, *pair, "-o", tmp_path / out, "--maps")
        assert code == 0, err
    for tail in ("", "_reliability_a", "_reliability_b", "_arbitration"):
        streamed = sitk.ReadImage(str(tmp_path / "streamed" / f"f{tail}.nii.gz"))
        memory = sitk.ReadImage(str(tmp_path / "memory" / f"f{tail}.nrrd"))
        assert np.array_equal(sitk.GetArrayFromImage(streamed), sitk.GetArrayFromImage(memory))
        assert streamed.GetSize() == memory.GetSize()
        assert np.allclose(streamed.GetOrigin(), memory.GetOrigin()) and np.allclose(streamed.GetSpacing(), memory.GetSpacing())
    assert sorted(os.listdir(tmp_path / "streamed")) == sorted(f"f{tail}.nii.gz" for tail in ("", "_reliability_a", "_reliability_b", "_arbitration"))
