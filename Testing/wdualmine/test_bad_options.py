"""Bad options and inputs that used to slip through: each is one clear line and exit 2, nothing written."""

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from wdualmine.cli import main
from wdualmine.network import WDualMineNet
from wdualmine.weights import save_checkpoint


@pytest.fixture
def pair(tmp_path, phantom):
    slices = []
    for name, seed in (("PET_CT_0001.png", 1), ("t1.png", 2)):
        array = (phantom((3, 48, 48), seed=seed, functional=seed == 1)[1] / 16).clip(0, 255).astype(np.uint8)
        sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp_path / name))
        slices.append(tmp_path / name)
    return slices


def run(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and ": error: " in lines[0], err
    return lines[0]


@pytest.mark.parametrize(
    "window, message",
    [("nan:1", "NaN or infinite"), ("400/inf", "NaN or infinite"), ("0/40", "width must be positive, got 0"), ("5:5", "HIGH must be above LOW")],
)
def test_bad_windows(tmp_path, pair, capsys, window, message):
    code, _, err = run(capsys, "fuse", *pair, "-o", tmp_path / "f.png", "--task", "pet", f"--window-a={window}")
    assert code == 2 and message in error_line(err) and not (tmp_path / "f.png").exists()


def test_working_size_has_an_upper_bound(tmp_path, pair, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["fuse", *map(str, pair), "-o", str(tmp_path / "f.png"), "--working-size", "100000"])
    assert stopped.value.code == 2 and "must be 0..2048" in capsys.readouterr().err


def test_out_of_memory_is_one_line(tmp_path, pair, capsys, monkeypatch):
    import wdualmine.files

    def exhausted(*args, **kwargs):  # what torch's CPU allocator raises when the request cannot be met
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried to allocate 68719476736 bytes")

    monkeypatch.setattr(wdualmine.files, "fuse_file_pair", exhausted)
    code, _, err = run(capsys, "fuse", *pair, "-o", tmp_path / "f.png", "--task", "pet", "--device", "cpu")
    assert code == 2 and "out of memory; use a smaller --batch-size or --working-size" in error_line(err)


def test_train_without_its_data_folder(tmp_path, capsys):
    code, _, err = run(capsys, "train", "pet", "--data", tmp_path / "absent", "--work-dir", tmp_path / "work")
    assert code == 2 and "no such folder" in error_line(err) and not (tmp_path / "work").exists()


def test_weights_that_are_a_folder_or_not_finite(tmp_path, pair, capsys):
    code, _, err = run(capsys, "fuse", *pair, "-o", tmp_path / "f.png", "--task", "pet", "--weights", tmp_path)
    assert code == 2 and "is a folder; give the checkpoint file itself" in error_line(err)
    model = WDualMineNet()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(float("nan"))
    save_checkpoint(model, tmp_path / "nan.pt")
    code, _, err = run(capsys, "fuse", *pair, "-o", tmp_path / "f.png", "--task", "pet", "--weights", tmp_path / "nan.pt")
    assert code == 2 and "holds NaN or Inf values" in error_line(err) and not (tmp_path / "f.png").exists()


def test_the_guessed_task_is_said_and_any_case_of_task_is_taken(tmp_path, pair, capsys):
    code, _, err = run(capsys, "fuse", *pair, "-o", tmp_path / "f.png", "--device", "cpu")
    assert code == 0 and "task pet, guessed from" in err
    code, _, err = run(capsys, "fuse", *pair, "-o", tmp_path / "g.png", "--device", "cpu", "--task", "PET")
    assert code == 0 and "guessed" not in err
