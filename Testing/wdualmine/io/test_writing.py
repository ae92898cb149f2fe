"""All-or-nothing output sets: verified before the rename, final names for split formats, umask
permissions, and no temporary files after a failure or a SIGTERM/SIGHUP."""

import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from wdualmine.errors import InputError
from wdualmine.io.writing import TextOutput, write_all

PACKAGE = Path(__file__).resolve().parents[3] / "WDualMineFusion"


def volume(seed=0, shape=(24, 64, 64)):
    # noise does not compress, so a few of these overflow the tiny disk
    return sitk.GetImageFromArray(np.random.default_rng(seed).random(shape).astype(np.float32))


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_full_disk_is_an_error_and_leaves_nothing(tiny_disk, suffix):
    names = {tiny_disk / f"fused{suffix}": volume(0), tiny_disk / f"fused_map{suffix}": volume(1)}
    with pytest.raises(InputError, match=r"cannot write .*fused.*(incomplete|space|write)") as caught:
        write_all(names)
    assert "\n" not in str(caught.value)
    assert listing(tiny_disk) == []


def test_a_short_write_that_raises_nothing_is_caught(tmp_path, monkeypatch):
    """ITK's NIfTI writer returns normally after a short write; simulate one on any filesystem."""
    real_write = sitk.WriteImage

    def short_write(image, name, *args, **kwargs):
        real_write(image, name, *args, **kwargs)
        if "map" in Path(name).name:
            os.truncate(name, os.path.getsize(name) // 2)

    old = sitk.GetImageFromArray(np.zeros((2, 2, 2), np.float32))
    sitk.WriteImage(old, str(tmp_path / "fused.nii.gz"))  # a previous run's result stays as it was
    before = (tmp_path / "fused.nii.gz").read_bytes()
    monkeypatch.setattr(sitk, "WriteImage", short_write)
    for suffix in (".nii.gz", ".nii"):
        with pytest.raises(InputError, match=rf"cannot write .*fused_map{suffix}.*incomplete"):
            write_all({tmp_path / f"fused{suffix}": volume(0), tmp_path / f"fused_map{suffix}": volume(1)})
        assert listing(tmp_path) == ["fused.nii.gz"]
        assert (tmp_path / "fused.nii.gz").read_bytes() == before


@pytest.mark.parametrize("suffix, data", [(".mhd", ".zraw"), (".nhdr", ".raw.gz")])
def test_split_formats_are_written_under_their_final_names(tmp_path, suffix, data):
    image = volume(0, (4, 8, 8))
    for _ in range(2):  # a rerun replaces both files and leaves no orphan
        written = write_all({tmp_path / f"out{suffix}": image})
        assert listing(tmp_path) == sorted([f"out{suffix}", f"out{data}"])
    assert written == [tmp_path / f"out{data}", tmp_path / f"out{suffix}"]  # data first, header last
    assert f"out{data}".encode() in (tmp_path / f"out{suffix}").read_bytes()
    assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / f"out{suffix}"))), sitk.GetArrayFromImage(image))


def test_outputs_get_the_umask_permissions(tmp_path):
    previous = os.umask(0o027)
    try:
        write_all({tmp_path / "a.nii.gz": volume(0, (2, 4, 4)), tmp_path / "b.mhd": volume(1, (2, 4, 4))})
    finally:
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"a.nii.gz": 0o640, "b.mhd": 0o640, "b.zraw": 0o640}


def test_protected_files_are_never_replaced(tmp_path):
    keep = tmp_path / "out.zraw"
    keep.write_bytes(b"the data file of an input")
    with pytest.raises(InputError, match=r"would replace the input .*out\.zraw"):
        write_all({tmp_path / "out.mhd": volume(0, (2, 4, 4))}, protect=[keep])
    assert keep.read_bytes() == b"the data file of an input"
    assert listing(tmp_path) == ["out.zraw"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_terminating_signal_during_the_write_cleans_up(tmp_path, signum):
    """A real process receives the signal while the second output is being written."""
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(PACKAGE)!r})
        import numpy as np, SimpleITK as sitk
        import signal
        signal.signal({int(signum)}, signal.SIG_DFL)  # as a terminal starts us, even where the suite runs under nohup
        from wdualmine.io.writing import write_all
        real_write = sitk.WriteImage
        def write_then_signal(image, name, *args, **kwargs):
            real_write(image, name, *args, **kwargs)
            if "second" in name:
                os.kill(os.getpid(), {int(signum)})
        sitk.WriteImage = write_then_signal
        image = sitk.GetImageFromArray(np.ones((4, 8, 8), np.float32))
        write_all({{__import__("pathlib").Path({str(tmp_path)!r}) / name: image for name in ("first.nii.gz", "second.mhd")}})
        print("not reached")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == -signum, done.stderr
    assert "not reached" not in done.stdout
    assert listing(tmp_path) == []


def test_a_hangup_under_nohup_neither_stops_the_write_nor_loses_it(tmp_path):
    """nohup asks for the hangup to be ignored: a fusion started that way outlives its terminal and writes
    its outputs in full, instead of dying with them cleaned up."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(PACKAGE)!r})
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup starts us
        import numpy as np, SimpleITK as sitk
        from wdualmine.io.writing import write_all
        real_write = sitk.WriteImage
        def write_then_hang_up(image, name, *args, **kwargs):
            real_write(image, name, *args, **kwargs)
            if "second" in name:
                os.kill(os.getpid(), signal.SIGHUP)
        sitk.WriteImage = write_then_hang_up
        image = sitk.GetImageFromArray(np.ones((4, 8, 8), np.float32))
        write_all({{__import__("pathlib").Path({str(tmp_path)!r}) / name: image for name in ("first.nii.gz", "second.mhd")}})
        print("written")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "written", done.stderr
    assert listing(tmp_path) == ["first.nii.gz", "second.mhd", "second.zraw"]  # MetaImage keeps its data beside it


def test_writers_with_global_state_never_run_at_once(tmp_path, monkeypatch):
    """NRRD's writer keeps its errors in a global (two failing at once crashed the process): NRRD and
    PNG writes take turns, while NIfTI and MetaImage writes may overlap."""
    real_write = sitk.WriteImage
    lock = threading.Lock()
    running, overlapped = [], []

    def watched_write(image, name, *args, **kwargs):
        with lock:
            overlapped.extend((Path(name).name, Path(other).name) for other in running)
            running.append(name)
        try:
            time.sleep(0.05)  # long enough for another thread to start its own write
            real_write(image, name, *args, **kwargs)
        finally:
            with lock:
                running.remove(name)

    monkeypatch.setattr(sitk, "WriteImage", watched_write)
    image = volume(0, (2, 8, 8))
    names = ["a.nrrd", "b.nrrd", "c.nrrd", "d.nii.gz", "e.mha"]
    write_all({tmp_path / name: image for name in names})
    serial = {"a.nrrd", "b.nrrd", "c.nrrd"}
    assert not [pair for pair in overlapped if set(pair) <= serial]
    assert listing(tmp_path) == sorted(names)


def test_a_text_output_is_written_with_the_images_all_or_nothing(tmp_path, monkeypatch):
    text = '{"controls": "\u00e9galis\u00e9"}\n'  # UTF-8, byte for byte
    write_all({tmp_path / "f.nii.gz": volume(0, (2, 4, 4)), tmp_path / "f.controls.json": TextOutput(text)})
    assert listing(tmp_path) == ["f.controls.json", "f.nii.gz"]
    assert (tmp_path / "f.controls.json").read_bytes() == text.encode("utf-8")
    # an image of the set fails: the text file is not left behind looking like a finished fusion's
    real_write = sitk.WriteImage

    def short_write(image, name, *args, **kwargs):
        real_write(image, name, *args, **kwargs)
        os.truncate(name, os.path.getsize(name) // 2)

    monkeypatch.setattr(sitk, "WriteImage", short_write)
    out = tmp_path / "second"
    with pytest.raises(InputError, match=r"cannot write .*g\.nii.*incomplete"):
        write_all({out / "g.controls.json": TextOutput(text), out / "g.nii": volume(0)})
    assert listing(out) == []
