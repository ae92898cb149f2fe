"""The command line end to end with the shipped weights, including every bad-input case of the engine issue."""

import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from wdualmine.cli import main


def write(path, array, spacing=None, origin=None, vector=False):
    image = sitk.GetImageFromArray(array, isVector=vector)
    if spacing:
        image.SetSpacing(spacing)
    if origin:
        image.SetOrigin(origin)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))
    return path


@pytest.fixture
def slices(tmp_path, phantom):
    grey_a = (phantom((3, 64, 64), seed=1, functional=True)[1] / 16).clip(0, 255).astype(np.uint8)
    grey_b = (phantom((3, 64, 64), seed=2)[1] / 3.5).clip(0, 255).astype(np.uint8)
    rgb = np.stack([grey_a, (grey_a * 0.6).astype(np.uint8), (255 - grey_a) * (grey_a > 0)], axis=-1).astype(np.uint8)
    return {
        "ct": write(tmp_path / "ct.png", grey_a),
        "pet_rgb": write(tmp_path / "pet.png", rgb, vector=True),
        "mri": write(tmp_path / "mri.png", grey_b),
    }


@pytest.fixture
def volumes(tmp_path, phantom):
    return {
        "pet": write(tmp_path / "pet.nrrd", phantom((20, 24, 28), seed=1, functional=True).astype(np.uint16), (3.0, 3.0, 3.0), (-40.0, -34.0, -28.0)),
        "mri": write(tmp_path / "mri.nii.gz", phantom((30, 36, 42), seed=2).astype(np.int16), (2.0, 2.0, 2.0), (-41.0, -35.0, -29.0)),
    }


def run(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_fuse_grey_2d_with_maps(tmp_path, slices, capsys):
    code, out, err = run(capsys, "fuse", slices["ct"], slices["mri"], "-o", tmp_path / "out" / "f.png", "--task", "ct", "--maps", "--device", "cpu")
    assert code == 0, err
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["f.png", "f_arbitration.png", "f_reliability_a.png", "f_reliability_b.png"]
    fused = sitk.ReadImage(str(tmp_path / "out" / "f.png"))
    assert fused.GetNumberOfComponentsPerPixel() == 1 and fused.GetSize() == (64, 64)
    assert sitk.GetArrayFromImage(fused).max() > 0


def test_fuse_rgb_2d_gives_rgb(tmp_path, slices, capsys):
    code, _, _ = run(capsys, "fuse", slices["pet_rgb"], slices["mri"], "-o", tmp_path / "f.png", "--task", "pet")
    assert code == 0
    assert sitk.ReadImage(str(tmp_path / "f.png")).GetNumberOfComponentsPerPixel() == 3


def test_fuse_3d_different_grids_keeps_a_geometry_and_format(tmp_path, volumes, capsys):
    code, _, err = run(capsys, "fuse", volumes["pet"], volumes["mri"], "-o", tmp_path / "out" / "fused.nrrd", "--task", "pet", "--maps", "--detail", "1.5")
    assert code == 0 and "arbitration map shapes nothing" not in err
    pet = sitk.ReadImage(str(volumes["pet"]))
    for name in ("fused", "fused_reliability_a", "fused_reliability_b", "fused_arbitration"):
        out = sitk.ReadImage(str(tmp_path / "out" / f"{name}.nrrd"))
        assert out.GetSize() == pet.GetSize() and out.GetSpacing() == pet.GetSpacing() and out.GetOrigin() == pet.GetOrigin()
    # without the experts' residual the arbitration map is still written, and the user is told it shapes nothing
    code, _, err = run(capsys, "fuse", volumes["pet"], volumes["mri"], "-o", tmp_path / "plain" / "f.nrrd", "--task", "pet", "--maps", "--detail", "0")
    assert code == 0 and (tmp_path / "plain" / "f_arbitration.nrrd").is_file()
    assert "wdualmine fuse: the arbitration map shapes nothing in this fusion" in err and "(detail 0)" in err
    # on B's grid, in B's place
    code, _, _ = run(capsys, "fuse", volumes["pet"], volumes["mri"], "-o", tmp_path / "onmri.nii.gz", "--task", "pet", "--reference", "b")
    assert code == 0 and sitk.ReadImage(str(tmp_path / "onmri.nii.gz")).GetSize() == (42, 36, 30)


def test_fuse_folders_writes_a_folder(tmp_path, slices, capsys):
    for name in ("001.png", "002.png"):
        (tmp_path / "A").mkdir(exist_ok=True)
        (tmp_path / "B").mkdir(exist_ok=True)
        (tmp_path / "A" / name).write_bytes(slices["ct"].read_bytes())
        (tmp_path / "B" / name).write_bytes(slices["mri"].read_bytes())
    code, out, _ = run(capsys, "fuse", tmp_path / "A", tmp_path / "B", "-o", tmp_path / "F", "--task", "ct")
    assert code == 0 and "fused 2 pairs" in out
    assert sorted(p.name for p in (tmp_path / "F").iterdir()) == ["001.png", "002.png"]


def bad_cases(tmp_path, slices, volumes):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    far = write(tmp_path / "far.nrrd", np.ones((8, 8, 8), np.float32), origin=(900.0, 0.0, 0.0))
    four_d = tmp_path / "series.nii.gz"
    sitk.WriteImage(sitk.Image([8, 8, 4, 2], sitk.sitkFloat32), str(four_d))
    vector = write(tmp_path / "vector.nrrd", np.zeros((8, 8, 8, 3), np.float32), vector=True)
    garbage = tmp_path / "weights.pt"
    garbage.write_bytes(b"\x00garbage")
    (tmp_path / "FA").mkdir()
    (tmp_path / "FB").mkdir()
    (tmp_path / "FA" / "001.png").write_bytes(slices["ct"].read_bytes())
    (tmp_path / "FB" / "002.png").write_bytes(slices["mri"].read_bytes())
    return {
        "missing file": ([tmp_path / "absent.png", slices["mri"]], "absent.png: no such file"),
        "not an image": ([text, slices["mri"]], "notes.png: cannot be read as an image"),
        "same file": ([slices["mri"], slices["mri"]], "are the same image"),
        "2d with 3d": ([slices["ct"], volumes["mri"]], "is 2-D but .* is 3-D"),
        "no overlap": ([volumes["pet"], far], "do not overlap in physical space"),
        "4d": ([four_d, volumes["mri"]], "is 4-D"),
        "vector": ([vector, volumes["mri"]], "3 components per voxel"),
        "unmatched folders": ([tmp_path / "FA", tmp_path / "FB"], "only in .*FA: 001.png; only in .*FB: 002.png"),
        "corrupt weights": ([slices["ct"], slices["mri"], "--weights", garbage], "weights.pt is not a usable W-DUALMINE checkpoint"),
        "detail out of range": ([slices["ct"], slices["mri"], "--detail", "5"], r"detail_strength must be a number in \[0.0, 2.0\]"),
    }


@pytest.mark.parametrize(
    "case",
    ["missing file", "not an image", "same file", "2d with 3d", "no overlap", "4d", "vector", "unmatched folders", "corrupt weights", "detail out of range"],
)
def test_bad_input_gets_one_clear_line_and_no_output(tmp_path, slices, volumes, capsys, case):
    args, message = bad_cases(tmp_path, slices, volumes)[case]
    snapshot = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    code, out, err = run(capsys, "fuse", *args[:2], "-o", tmp_path / "out" / "f.nrrd", "--task", "ct", *args[2:])
    assert code == 2
    assert err.startswith("wdualmine fuse: error: ") and len(err.strip().splitlines()) == 1
    import re

    assert re.search(message, err), err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and "out" not in p.parts} == snapshot


def test_outputs_never_overwrite_inputs_and_bad_output_types_fail_early(tmp_path, slices, volumes, capsys):
    before = slices["ct"].read_bytes()
    code, _, err = run(capsys, "fuse", slices["ct"], slices["mri"], "-o", slices["ct"], "--task", "ct")
    assert code == 2 and "would overwrite an input" in err and slices["ct"].read_bytes() == before
    folder_a, folder_b = tmp_path / "A", tmp_path / "B"
    folder_a.mkdir()
    folder_b.mkdir()
    (folder_a / "1.png").write_bytes(slices["ct"].read_bytes())
    (folder_b / "1.png").write_bytes(slices["mri"].read_bytes())
    code, _, err = run(capsys, "fuse", folder_a, folder_b, "-o", folder_b, "--task", "ct")
    assert code == 2 and "would overwrite an input" in err
    code, _, err = run(capsys, "fuse", volumes["pet"], volumes["mri"], "-o", tmp_path / "v.png", "--task", "pet")
    assert code == 2 and "cannot write a 3-D result as '.png'" in err and not (tmp_path / "v.png").exists()
    with pytest.raises(SystemExit) as stopped:  # argparse refuses it before anything runs
        main(["fuse", str(slices["ct"]), str(slices["mri"]), "-o", str(tmp_path / "x.png"), "--task", "ct", "--batch-size", "0"])
    assert stopped.value.code == 2 and "must be 1 or more" in capsys.readouterr().err and not (tmp_path / "x.png").exists()


def test_a_bad_pair_in_a_folder_stops_the_run_before_anything_is_written(tmp_path, slices, volumes, capsys):
    folder_a, folder_b = tmp_path / "A", tmp_path / "B"
    folder_a.mkdir()
    folder_b.mkdir()
    (folder_a / "1.png").write_bytes(slices["ct"].read_bytes())
    (folder_b / "1.png").write_bytes(slices["mri"].read_bytes())
    (folder_a / "2.nrrd").write_bytes(volumes["pet"].read_bytes())  # 3-D with ...
    (folder_b / "2.nrrd").write_bytes(slices["mri"].read_bytes())  # ... a 2-D image under a volume name
    code, _, err = run(capsys, "fuse", folder_a, folder_b, "-o", tmp_path / "F", "--task", "ct")
    assert code == 2 and not (tmp_path / "F").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_requested_but_absent(tmp_path, slices, capsys):
    code, _, err = run(capsys, "fuse", slices["ct"], slices["mri"], "-o", tmp_path / "f.png", "--task", "ct", "--device", "cuda")
    assert code == 2 and "no CUDA device is available" in err and not (tmp_path / "f.png").exists()


def test_constant_image_fuses_with_a_warning_and_black_background(tmp_path, slices, capsys):
    zeros = write(tmp_path / "zeros.png", np.zeros((64, 64), np.uint8))
    code, _, err = run(capsys, "fuse", zeros, slices["mri"], "-o", tmp_path / "f.png", "--task", "ct")
    assert code == 0 and "is constant (0)" in err
    fused = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "f.png")))
    mri = sitk.GetArrayFromImage(sitk.ReadImage(str(slices["mri"])))
    assert np.all(fused[mri == 0] == 0)


def test_task_is_guessed_from_names_or_asked_for(tmp_path, slices, capsys):
    code, _, _ = run(capsys, "fuse", slices["ct"], slices["mri"], "-o", tmp_path / "f.png")  # "ct.png"
    assert code == 0
    a, b = tmp_path / "first.png", tmp_path / "second.png"
    a.write_bytes(slices["ct"].read_bytes())
    b.write_bytes(slices["mri"].read_bytes())
    code, _, err = run(capsys, "fuse", a, b, "-o", tmp_path / "g.png")
    assert code == 2 and "say --task ct" in err


def test_bench_json(capsys):
    code, out, _ = run(capsys, "bench", "--device", "cpu", "--no-volume", "--repeats", "1", "--json")
    result = json.loads(out)
    assert code == 0 and result["parameters"] < 2_000_000 and result["gflops_per_256_slice"] > 0
    assert result["batch1_ms_per_slice"] > 0 and result["batch16_slices_per_s"] > 0


def test_saved_controls_fuse_the_same_voxels_again(tmp_path, volumes, capsys):
    first = tmp_path / "first" / "f.nii.gz"
    code, out, err = run(capsys, "fuse", volumes["pet"], volumes["mri"], "-o", first, "--task", "pet", "--save-controls",
                         "--no-auto", "--equalise", "0.4", "--base-power", "1.5", "--emphasis", "0.5", "--detail", "0.7", "--window-a", "0:9000")
    saved = first.with_name("f.controls.json")
    assert code == 0 and out.split() == [str(first), str(saved)], err
    document = json.loads(saved.read_text())
    assert document["task"] == "pet" and document["chosen_by"] == "given on the command line"
    assert document["controls"]["equalise"] == 0.4 and document["controls"]["detail_strength"] == 0.7
    assert document["windows"]["a"] == [0.0, 9000.0] and len(document["model_sha256"]) == 64 and document["reference"] == "a"
    # replayed: the task and every control from the file (auto off), the same voxels
    again = tmp_path / "again" / "g.nii.gz"
    code, _, err = run(capsys, "fuse", volumes["pet"], volumes["mri"], "-o", again, "--controls", saved, "--window-a", "0:9000", "--save-controls")
    assert code == 0 and f"task pet, as {saved} says" in err and "warning" not in err, err
    assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(first))), sitk.GetArrayFromImage(sitk.ReadImage(str(again))))
    assert json.loads(again.with_name("g.controls.json").read_text())["chosen_by"] == "read from f.controls.json"
    # on other grey levels the same controls make another fusion: said, with the window to give
    code, _, err = run(capsys, "fuse", volumes["pet"], volumes["mri"], "-o", tmp_path / "other.nii.gz", "--controls", saved)
    assert code == 0 and "warning: A's window is" in err and "but was 0:9000 when the controls of" in err
    # on the other grid too: said, with the option that fuses on the saved one
    code, _, err = run(capsys, "fuse", volumes["pet"], volumes["mri"], "-o", tmp_path / "onb.nii.gz", "--controls", saved,
                       "--window-a", "0:9000", "--reference", "b")
    assert code == 0 and "from a fusion on A's grid; give --reference a to fuse on it again" in err


def test_saved_controls_with_options_or_another_task_are_refused_before_anything_is_written(tmp_path, volumes, capsys):
    saved = tmp_path / "f.controls.json"
    code, _, _ = run(capsys, "fuse", volumes["pet"], volumes["mri"], "-o", tmp_path / "f.nii.gz", "--task", "pet", "--save-controls", "--detail", "0")
    assert code == 0 and saved.is_file()
    for extra, message in (
        (["--equalise", "0.3"], "sets every control; leave out --equalise"),
        (["--base", "plain", "--reliability-bias", "0"], "leave out --reliability-bias, --base"),
        (["--task", "ct"], "holds controls chosen for pet-MRI, not ct-MRI; give --task pet"),
    ):
        code, _, err = run(capsys, "fuse", volumes["pet"], volumes["mri"], "-o", tmp_path / "out" / "g.nii.gz", "--controls", saved, *extra)
        assert code != 0 and message in err and err.count("\n") == 1, err
        assert not (tmp_path / "out").exists()


def test_a_fitted_curve_in_a_controls_file_fuses_as_the_engine_fuses_it(tmp_path, volumes, capsys, pet_fuser):
    from wdualmine.controls import FusionControls
    from wdualmine.controls_file import SavedControls, controls_text
    from wdualmine.pipeline import fuse_volume

    tables = np.random.default_rng(5).normal(0, 0.8, (2, 9, 9)).astype(np.float32).clip(-2, 2).tolist()
    controls = FusionControls(detail_strength=0.0, curve_strength=1.0, equalise=0.25, pair_curve=tables)
    path = tmp_path / "fitted.controls.json"
    path.write_text(controls_text(SavedControls(controls, "pet", "auto controls: a test curve", None, {})))
    code, _, err = run(capsys, "fuse", volumes["pet"], volumes["mri"], "-o", tmp_path / "f.nii.gz", "--controls", path, "--device", "cpu")
    assert code == 0, err
    pet, mri = sitk.ReadImage(str(volumes["pet"])), sitk.ReadImage(str(volumes["mri"]))
    direct = fuse_volume(pet_fuser, pet, mri, controls).fused
    assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "f.nii.gz"))), sitk.GetArrayFromImage(direct))


def test_volumes_that_do_not_look_registered_are_fused_with_a_warning_that_says_how_to_register(tmp_path, volumes, capsys, phantom):
    code, _, err = run(capsys, "fuse", volumes["pet"], volumes["mri"], "-o", tmp_path / "ok" / "f.nii.gz", "--task", "pet", "--no-auto")
    assert code == 0 and "misaligned" not in err
    # the same MRI placed 30 mm off in each direction: still overlapping, so only the mutual information can tell
    moved = write(tmp_path / "moved" / "mri.nii.gz", phantom((30, 36, 42), seed=2).astype(np.int16), (2.0, 2.0, 2.0), (-11.0, -5.0, 1.0))
    code, _, err = run(capsys, "fuse", volumes["pet"], moved, "-o", tmp_path / "off" / "f.nii.gz", "--task", "pet", "--no-auto")
    assert code == 0 and (tmp_path / "off" / "f.nii.gz").is_file()
    assert "wdualmine fuse: warning: the two volumes may be misaligned" in err and "register them first" in err
