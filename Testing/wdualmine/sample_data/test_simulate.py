"""Tests of the simulated validation cases (wdualmine.sample_data.simulate) and `wdualmine simulate`.

The cases are simulated from the bundled T1 brought down to 4 mm, which keeps every case under two seconds.
"""

from __future__ import annotations

import ast
import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

try:
    import wdualmine.sample_data.simulate as sim
except ImportError:  # run without PYTHONPATH=WDualMineFusion
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "WDualMineFusion"))
    import wdualmine.sample_data.simulate as sim

from wdualmine.errors import InputError
from wdualmine.volume_evaluation import lesion_shell, read_manifest


def arrays(case):
    return [sitk.GetArrayFromImage(image) for image in (case.a, case.mri, case.lesion)]


def geometry(image):
    return image.GetSize(), image.GetOrigin(), image.GetSpacing(), image.GetDirection()


@pytest.fixture(scope="module")
def small_t1():
    """The bundled T1 smoothed and resampled to 4 mm (same frame and direction), as float32."""
    t1 = sim.read_t1()
    grid = sitk.Image([50, 59, 48], sitk.sitkFloat32)
    grid.SetSpacing([4.0] * 3)
    grid.SetDirection(t1.GetDirection())
    grid.SetOrigin(t1.TransformContinuousIndexToPhysicalPoint([0.5, 0.5, 0.5]))
    return sitk.Resample(sitk.SmoothingRecursiveGaussian(t1, 1.5), grid, sitk.Transform(), sitk.sitkLinear, 0.0)


@pytest.fixture(scope="module")
def small_t1_path(small_t1, tmp_path_factory):
    path = tmp_path_factory.mktemp("t1") / "t1_4mm.nrrd"
    sitk.WriteImage(small_t1, str(path), True)
    return path


@pytest.fixture(scope="module")
def anatomy(small_t1):
    return sim.anatomy_from_t1(small_t1)


@pytest.fixture(scope="module")
def ct_case(anatomy):
    return sim.simulate_case(anatomy, "ct", 3)


def on_mri_grid(case, outside=0.0):
    return sitk.GetArrayFromImage(sitk.Resample(case.a, case.mri, sitk.Transform(), sitk.sitkLinear, outside, sitk.sitkFloat32))


def test_only_numpy_and_simpleitk():
    """An engine module: no Slicer, VTK or Qt, and no SciPy (not a runtime dependency)."""
    tree = ast.parse(Path(sim.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert imported & {"numpy", "SimpleITK"} == {"numpy", "SimpleITK"}
    assert not imported & {"slicer", "vtk", "qt", "ctk", "scipy", "torch"}, imported


def test_same_seed_gives_the_same_case_and_another_seed_another(small_t1, anatomy):
    first = sim.simulate_case(anatomy, "pet", 11)
    again = sim.simulate_case(sim.anatomy_from_t1(small_t1), "pet", 11)  # the anatomy rebuilt too
    for x, y in zip(arrays(first), arrays(again)):
        assert x.dtype == y.dtype and np.array_equal(x, y)
    for x, y in zip((first.a, first.mri, first.lesion), (again.a, again.mri, again.lesion)):
        assert geometry(x) == geometry(y)
    assert first.describe() == again.describe()

    other = sim.simulate_case(anatomy, "pet", 12)
    a, mri, lesion = arrays(first)
    other_a, other_mri, other_lesion = arrays(other)
    assert geometry(first.a) != geometry(other.a)  # own field of view and voxel size per case
    assert not np.array_equal(lesion, other_lesion)
    assert not np.array_equal(mri, other_mri)
    # the kind is part of the stream: a SPECT of the same seed puts its lesions elsewhere
    spect = sim.simulate_case(anatomy, "spect", 11)
    assert [lesion.center_mm for lesion in spect.lesions] != [lesion.center_mm for lesion in first.lesions]


@pytest.mark.parametrize("kind", sim.KINDS)
def test_lesions_lie_inside_the_anatomy(anatomy, ct_case, kind):
    case = ct_case if kind == "ct" else sim.simulate_case(anatomy, kind, 4)
    lesion = sitk.GetArrayFromImage(case.lesion) > 0
    assert geometry(case.lesion) == geometry(case.mri) == geometry(anatomy.t1)
    assert 1 <= len(case.lesions) <= 3
    assert lesion.sum() >= 5
    assert not (lesion & ~anatomy.brain).any()
    # inside the anatomy as the MRI itself shows it: brain intensities, far above the noise floor outside the head
    mri = sitk.GetArrayFromImage(case.mri).astype(np.float64)
    assert mri[lesion].mean() > 5 * np.median(mri[~anatomy.brain])
    for each in case.lesions:
        axes = 2 * np.array(each.semi_axes_mm)
        assert ((axes >= 8.0) & (axes <= 25.0)).all()


def test_pet_lesions_are_hot_after_resampling_onto_the_mri(anatomy):
    for seed in (0, 1, 2):
        case = sim.simulate_case(anatomy, "pet", seed)
        assert case.a.GetPixelID() == sitk.sitkFloat32
        assert all(3.0 <= s <= 4.0 for s in case.a.GetSpacing())
        pet = on_mri_grid(case)
        lesion = sitk.GetArrayFromImage(case.lesion) > 0
        shell = lesion_shell(lesion, case.mri)
        ratio = pet[lesion].mean() / pet[shell].mean()
        assert ratio > 1.4, f"seed {seed}: lesion / 10 mm shell = {ratio:.2f}"
        assert 0.0 <= pet.min() and pet.max() < 30.0  # SUV
        assert all(2.0 <= lesion.contrast <= 6.0 for lesion in case.lesions)


def test_pet_grey_matter_above_white(anatomy):
    case = sim.simulate_case(anatomy, "pet", 5)
    pet = on_mri_grid(case)
    t1 = sitk.GetArrayFromImage(anatomy.t1)
    csf, grey, white = anatomy.class_means
    lesion = sitk.GetArrayFromImage(case.lesion) > 0
    away = anatomy.brain & ~(lesion | lesion_shell(lesion, case.mri, 15.0))
    grey_voxels = away & (np.abs(t1 - grey) < 0.15 * (white - csf))
    white_voxels = away & (t1 > white)
    assert pet[grey_voxels].mean() > 1.4 * pet[white_voxels].mean()


def test_spect_in_counts_with_hot_and_cold_lesions(anatomy):
    cases = [sim.simulate_case(anatomy, "spect", seed) for seed in range(4)]
    for case in cases:
        assert case.a.GetPixelID() == sitk.sitkUInt16
        spacing = case.a.GetSpacing()
        assert 4.0 <= spacing[0] <= 5.0 and np.allclose(spacing, spacing[0])
        assert 10.0 <= case.parameters["spect"]["fwhm_mm"] <= 15.0
    contrasts = [lesion.contrast for case in cases for lesion in case.lesions]
    assert any(c > 1.4 for c in contrasts) and any(c < 0.7 for c in contrasts)


def test_ct_has_a_skull_ring_air_and_brain_in_hounsfield_units(anatomy, ct_case):
    ct = ct_case.a
    assert ct.GetPixelID() == sitk.sitkInt16
    spacing = ct.GetSpacing()
    assert 0.9 <= spacing[0] <= 1.1 and 2.0 <= spacing[2] <= 3.0
    values = sitk.GetArrayFromImage(ct).astype(np.float64)
    noise = ct_case.parameters["ct"]["noise_sd_hu"]

    corner = values[:, :4, :4]  # outside the head
    assert abs(np.median(corner) + 1000) <= 5 and corner.std() < 2 * noise

    bone = values[values >= 600]
    assert 700 <= np.median(bone) <= 1800
    assert np.percentile(bone, 99.5) <= 1800 + 4 * noise

    # every ray from the middle of the brain outwards, in the axial slice through it, crosses bone before air
    brain_points = np.argwhere(anatomy.brain)[:, ::-1].astype(float)
    centre = anatomy.t1.TransformContinuousIndexToPhysicalPoint(brain_points.mean(axis=0).tolist())
    k = int(round(ct.TransformPhysicalPointToContinuousIndex(centre)[2]))
    centre_ij = np.array(ct.TransformPhysicalPointToContinuousIndex(centre)[:2])
    for angle in np.linspace(0, 2 * np.pi, 16, endpoint=False):
        steps = centre_ij[:, None] + np.array([np.cos(angle), np.sin(angle)])[:, None] * np.arange(0, 400)[None, :]
        inside = (steps[0] >= 0) & (steps[0] < values.shape[2] - 1) & (steps[1] >= 0) & (steps[1] < values.shape[1] - 1)
        i, j = np.rint(steps[:, inside]).astype(int)
        ray = values[k, j, i]
        first_air = np.flatnonzero(ray < -800)[0]
        assert ray[:first_air].max() >= 700, f"no bone at {np.degrees(angle):.0f} degrees"

    # brain tissue on the MRI grid: 25-45 HU with CSF below, and the lesions 10-40 HU off their surroundings
    on_mri = on_mri_grid(ct_case, -1000.0)
    lesion = sitk.GetArrayFromImage(ct_case.lesion) > 0
    assert 15 <= np.median(on_mri[anatomy.brain & ~lesion]) <= 50
    for each in ct_case.lesions:
        assert 10 <= abs(each.contrast) <= 40


@pytest.mark.parametrize("kind", sim.KINDS)
def test_functional_volume_covers_the_brain_on_its_own_grid(anatomy, ct_case, kind):
    case = ct_case if kind == "ct" else sim.simulate_case(anatomy, kind, 6)
    assert np.allclose(np.array(case.a.GetDirection()).reshape(3, 3), np.eye(3))
    assert not np.allclose(case.a.GetOrigin(), case.mri.GetOrigin())
    ones = sitk.Image(case.a.GetSize(), sitk.sitkFloat32) + 1.0
    ones.CopyInformation(case.a)
    covered = sitk.GetArrayFromImage(sitk.Resample(ones, case.mri, sitk.Transform(), sitk.sitkNearestNeighbor, 0.0)) > 0
    assert covered[anatomy.brain].all()


def test_mri_grey_levels_differ_between_cases(anatomy):
    first, second = (sim.simulate_case(anatomy, "pet", seed) for seed in (21, 22))
    one, two = (sitk.GetArrayFromImage(case.mri).astype(np.float64) for case in (first, second))
    brain = anatomy.brain
    assert abs(np.median(one[brain]) / np.median(two[brain]) - 1) > 0.05
    ratio = one[brain] / np.maximum(two[brain], 1e-6)
    assert np.std(ratio) / np.mean(ratio) > 0.02  # not a global scale: bias field, gamma and noise differ
    for case in (first, second):
        parameters = case.parameters["mri"]
        assert 0.8 <= parameters["gamma"] <= 1.25 and 0.10 <= parameters["bias_amplitude"] <= 0.20


def test_write_set_writes_cases_and_a_manifest_eval_volumes_reads(small_t1_path, tmp_path):
    out = tmp_path / "set"
    manifest = sim.write_set(out, 3, seed=5, kinds=("pet", "spect"), mri=small_t1_path)
    assert manifest == out / "manifest.csv"
    rows = read_manifest(manifest)
    assert [row["task"] for row in rows] == ["pet", "spect", "pet"]
    with open(manifest, newline="") as stream:
        assert next(csv.reader(stream)) == ["case", "task", "a", "b", "lesion"]
        assert all(not Path(value).is_absolute() for row in csv.DictReader(open(manifest)) for value in (row["a"], row["b"], row["lesion"]))
    for row in rows:
        for key in ("a", "b", "lesion"):
            assert Path(row[key]).is_file()
        assert sitk.GetArrayFromImage(sitk.ReadImage(row["lesion"])).any()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no partial file or staging folder left

    # the written case is the one simulate_case gives for that seed
    record = json.loads((out / sim.PARAMETERS_NAME).read_text())
    assert [case["seed"] for case in record["cases"]] == [sim.case_seed(5, index) for index in range(3)]
    again = sim.simulate_case(sim.anatomy_from_t1(sim.read_t1(small_t1_path)), "spect", sim.case_seed(5, 1))
    assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(rows[1]["a"])), sitk.GetArrayFromImage(again.a))


def test_an_interrupted_run_leaves_no_manifest(small_t1_path, tmp_path, monkeypatch):
    out = tmp_path / "set"
    sim.write_set(out, 1, seed=1, kinds="pet", mri=small_t1_path)
    real = sim.simulate_case
    calls = []

    def fails_on_the_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(sim, "simulate_case", fails_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        sim.write_set(out, 3, seed=2, kinds="pet", mri=small_t1_path, overwrite=True)
    assert not (out / "manifest.csv").exists()  # the old set's manifest went first, the new one never came
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no partial file or staging folder left


def test_library_errors_name_the_problem(small_t1_path, tmp_path):
    with pytest.raises(InputError, match=r"unknown kind 'mr'; use pet, spect or ct"):
        sim.parse_kinds("pet,mr")
    with pytest.raises(InputError, match="1 or more"):
        sim.write_set(tmp_path / "a", 0, seed=1, mri=small_t1_path)
    with pytest.raises(InputError, match="seed must be a whole number 0 or more"):
        sim.write_set(tmp_path / "a", 1, seed=-3, mri=small_t1_path)
    flat = tmp_path / "flat.nrrd"
    sitk.WriteImage(sitk.Image([32, 32], sitk.sitkUInt8), str(flat))
    with pytest.raises(InputError, match="not a 3-D single-channel volume"):
        sim.read_t1(flat)
    assert not (tmp_path / "a").exists()


# ---- the command line -------------------------------------------------------------------------------------


def run(capsys, *args):
    from wdualmine.cli import main

    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_writes_a_set_and_refuses_to_overwrite_it_unasked(small_t1_path, tmp_path, capsys):
    out = tmp_path / "simset"
    code, stdout, err = run(capsys, "simulate", out, "--cases", 1, "--seed", 7, "--kinds", "pet", "--mri", small_t1_path)
    assert code == 0, err
    assert f"wdualmine eval-volumes --manifest {out / 'manifest.csv'}" in stdout
    assert [row["case"] for row in read_manifest(out / "manifest.csv")] == ["sim7_001_pet"]
    written = (out / "sim7_001_pet_A.nii.gz").read_bytes()

    code, _, err = run(capsys, "simulate", out, "--cases", 1, "--seed", 8, "--kinds", "pet", "--mri", small_t1_path)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "already exists" in lines[0] and "--overwrite" in lines[0]
    assert (out / "sim7_001_pet_A.nii.gz").read_bytes() == written  # nothing touched

    code, _, err = run(capsys, "simulate", out, "--cases", 1, "--seed", 8, "--kinds", "pet", "--mri", small_t1_path, "--overwrite")
    assert code == 0, err
    assert [row["case"] for row in read_manifest(out / "manifest.csv")] == ["sim8_001_pet"]


@pytest.mark.parametrize(
    "options, message",
    [
        (["--kinds", "pet,mri"], "unknown kind 'mri'; use pet, spect or ct"),
        (["--kinds", ","], "no kind given"),
        (["--cases", "0"], "the number of cases must be 1 or more, got 0"),
        (["--seed", "-1"], "seed must be a whole number 0 or more"),
        (["--mri", "missing.nii.gz"], "does not exist; give a 3-D T1 volume"),
        (["--mri", "notes.txt"], "cannot read the MRI"),
    ],
)
def test_cli_bad_input_is_one_clear_line(tmp_path, capsys, monkeypatch, options, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("not an image\n")
    code, _, err = run(capsys, "simulate", tmp_path / "out", "--cases", 1, *options)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("wdualmine simulate: error: ") and message in lines[0], err
    assert not (tmp_path / "out" / "manifest.csv").exists()
