"""Streamed NIfTI outputs: ITK's own header and voxels, reserved space, nothing left after a failure or a signal."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from wdualmine.errors import InputError
from wdualmine.files import output_streams
from wdualmine.io.nifti_stream import HEADER_BYTES, StreamedVolume, StreamUnavailable
from wdualmine.io.writing import STAGING_PREFIX, write_all

PACKAGE = Path(__file__).resolve().parents[3] / "WDualMineFusion"


def oblique_reference(size=(20, 16, 12)):
    image = sitk.Image(list(size), sitk.sitkFloat32)
    image.SetSpacing((0.8, 1.1, 2.5))
    image.SetOrigin((-101.25, 33.5, -7.0))
    rotation = sitk.VersorTransform((0.3, -0.2, 0.9), 0.4).GetMatrix()
    image.SetDirection(rotation)
    return image


def fill(stream, seed=0, slab=3):
    values = np.random.default_rng(seed).random(stream.shape).astype(np.float32)
    for k in range(0, stream.shape[0], slab):  # slab by slab, as the fusion writes it
        stream.write_slab(k, values[k : k + slab])
    return values


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_streamed_file_is_what_itk_would_write(tmp_path, suffix):
    reference = oblique_reference()
    stream = StreamedVolume(tmp_path / f"out{suffix}", reference, STAGING_PREFIX)
    values = fill(stream)
    assert write_all({tmp_path / f"out{suffix}": stream}) == [tmp_path / f"out{suffix}"]
    assert sorted(os.listdir(tmp_path)) == [f"out{suffix}"]  # no staging folder left

    itk = sitk.GetImageFromArray(values)
    itk.CopyInformation(reference)
    sitk.WriteImage(itk, str(tmp_path / "itk.nii"))
    streamed = sitk.ReadImage(str(tmp_path / f"out{suffix}"))
    assert np.array_equal(sitk.GetArrayFromImage(streamed), values)
    raw = (tmp_path / f"out{suffix}").read_bytes()
    if suffix == ".nii.gz":
        import gzip

        raw = gzip.decompress(raw)
    assert raw[:HEADER_BYTES] == (tmp_path / "itk.nii").read_bytes()[:HEADER_BYTES]


def test_other_formats_are_not_streamed(tmp_path):
    with pytest.raises(StreamUnavailable):
        StreamedVolume(tmp_path / "out.nrrd", oblique_reference(), STAGING_PREFIX)
    assert os.listdir(tmp_path) == []


def test_no_room_to_reserve_falls_back_and_leaves_nothing(tiny_disk):
    with pytest.raises(StreamUnavailable, match="cannot reserve"):
        StreamedVolume(tiny_disk / "out.nii.gz", oblique_reference((128, 128, 8)), STAGING_PREFIX)  # 512 KiB
    assert os.listdir(tiny_disk) == []


def test_no_room_to_compress_is_an_error_and_leaves_nothing(tiny_disk):
    """The raw file fits the disk, its compressed copy (noise does not compress) does not."""
    stream = StreamedVolume(tiny_disk / "out.nii.gz", oblique_reference((64, 64, 10)), STAGING_PREFIX)  # 160 KiB
    fill(stream)
    with pytest.raises(InputError, match=r"cannot write .*out\.nii\.gz"):
        write_all({tiny_disk / "out.nii.gz": stream})
    assert os.listdir(tiny_disk) == []


def test_a_failure_during_the_fusion_removes_the_streams(tmp_path):
    with pytest.raises(RuntimeError, match="fusion failed"):
        with output_streams(tmp_path / "f.nii.gz", maps=True) as streams:
            made = [streams(name, oblique_reference()) for name in ("fused", "reliability_a", "arbitration")]
            assert all(made) and len(os.listdir(tmp_path)) == 3
            raise RuntimeError("fusion failed")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_terminating_signal_during_the_fusion_removes_the_streams(tmp_path, signum):
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(PACKAGE)!r})
        import SimpleITK as sitk
        from pathlib import Path
        import signal
        signal.signal({int(signum)}, signal.SIG_DFL)  # as a terminal starts us, even where the suite runs under nohup
        from wdualmine.files import output_streams
        with output_streams(Path({str(tmp_path)!r}) / "f.nii.gz", maps=False) as streams:
            streams("fused", sitk.Image([32, 32, 8], sitk.sitkFloat32))
            os.kill(os.getpid(), {int(signum)})
        print("not reached")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == -signum, done.stderr
    assert "not reached" not in done.stdout
    assert os.listdir(tmp_path) == []


def test_a_failing_write_during_the_fusion_is_one_error_and_leaves_nothing(tmp_path, monkeypatch):
    """A disk that fills although the space was reserved (copy-on-write filesystems): the write raises, the
    message names the file and the fix, and the staging folder goes."""
    import errno

    with pytest.raises(InputError, match=r"cannot write .*f\.nii\.gz .*free some space") as caught:
        with output_streams(tmp_path / "f.nii.gz", maps=False) as streams:
            stream = streams("fused", oblique_reference())

            def full(*args):
                raise OSError(errno.ENOSPC, "No space left on device")

            monkeypatch.setattr(os, "pwrite", full)
            stream.write_slab(0, np.zeros(stream.shape[1:], np.float32)[None])
    assert "\n" not in str(caught.value)
    assert os.listdir(tmp_path) == []


def test_slabs_must_fit_the_volume(tmp_path):
    stream = StreamedVolume(tmp_path / "f.nii", oblique_reference(), STAGING_PREFIX)
    try:
        with pytest.raises(ValueError):
            stream.write_slab(11, np.zeros((2, 16, 20), np.float32))  # 12 slices of 16 x 20
    finally:
        stream.discard()


@pytest.mark.parametrize("axis, streamed", [("axial", True), ("coronal", False)])
def test_only_a_fusion_along_the_first_array_axis_streams(tmp_path, phantom, random_fuser, axis, streamed):
    """Axial slabs of an axial volume are contiguous in the file; coronal ones would not be, so those
    outputs are filled in memory, with the same voxels."""
    from wdualmine.pipeline import fuse_volume

    pet = sitk.GetImageFromArray(phantom((6, 24, 28), seed=1, functional=True))
    mri = sitk.GetImageFromArray(phantom((6, 24, 28), seed=2))
    with output_streams(tmp_path / "f.nii.gz", maps=True) as streams:
        result = fuse_volume(random_fuser, pet, mri, maps=True, axis=axis, streams=streams)
        assert isinstance(result.fused, StreamedVolume) == streamed
        assert all(isinstance(image, StreamedVolume) == streamed for image in result.maps.values())
        write_all({tmp_path / "f.nii.gz": result.fused})
    in_memory = fuse_volume(random_fuser, pet, mri, maps=True, axis=axis)
    assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "f.nii.gz"))), sitk.GetArrayFromImage(in_memory.fused))
    assert os.listdir(tmp_path) == ["f.nii.gz"]
