import json

import numpy as np
import pytest
import SimpleITK as sitk

from wdualmine.cli import main
from wdualmine.errors import InputError
from wdualmine.volume_evaluation import (
    VolumeCase, lesion_contrast, lesion_shell, read_manifest, reference_methods, score_case, scored_slices, summarise,
)


def grid(shape, spacing):
    image = sitk.Image(*shape[::-1], sitk.sitkFloat32)
    image.SetSpacing(spacing[::-1])
    return image


def test_shell_is_ten_millimetres_in_physical_space_on_anisotropic_voxels():
    image = grid((21, 41, 41), (5.0, 1.0, 1.0))  # k spacing 5 mm, in-plane 1 mm
    lesion = np.zeros((21, 41, 41), bool)
    lesion[10, 20, 20] = True
    shell = lesion_shell(lesion, image)
    assert not shell[lesion].any()
    assert shell[10, 20, 30] and not shell[10, 20, 31]  # 10 mm and 11 mm in-plane
    assert shell[12, 20, 20] and not shell[13, 20, 20]  # 10 mm and 15 mm across slices


def test_lesion_contrast_is_relative_to_the_shell():
    lesion, shell = np.array([True, False, False]), np.array([False, True, True])
    assert lesion_contrast(np.array([3.0, 1.0, 1.0]), lesion, shell) == pytest.approx(2.0)
    assert lesion_contrast(np.array([1.0, 1.0, 1.0]), lesion, shell) == pytest.approx(0.0)


def test_slices_without_anatomy_or_with_a_constant_source_are_not_scored():
    a = np.zeros((3, 16, 16), np.float32)
    b = np.zeros((3, 16, 16), np.float32)
    a[1:, 4:12, 4:12] = np.linspace(0.2, 0.8, 8)  # slices 1 and 2 have structure in A
    b[1, 2:14, 2:14] = np.linspace(0.1, 0.9, 12)  # only slice 1 in B; slice 2's B is constant 0
    assert scored_slices(a, b) == [1]


def test_reference_rows_are_the_average_and_max_of_the_same_slices(phantom):
    a = phantom((6, 72, 80), seed=1, functional=True)
    b = phantom((6, 72, 80), seed=2)
    a, b = np.round(a / a.max() * 255) / 255, np.round(b / b.max() * 255) / 255
    case = VolumeCase("c1", "pet", a, b, grid(a.shape, (2.0, 1.0, 1.0)), lesion=a > 0.9)
    methods = {"same as average": lambda c: 0.5 * (c.a + c.b), **reference_methods()}
    scores = score_case(case, methods)
    by_method = {s.method: s for s in scores}
    assert by_method["same as average"].metrics == by_method["average"].metrics
    assert by_method["max"].metrics["CC"] < by_method["average"].metrics["CC"]
    assert by_method["average"].lesion_contrast > 0  # the hot spot shows in the average too
    summary = summarise(scores + score_case(VolumeCase("c2", "pet", a, b, case.grid), methods))
    assert [s.cases for s in summary] == [2, 2, 2]
    assert summary[1].lesion_contrast == pytest.approx(by_method["average"].lesion_contrast)  # c2 has no mask


def test_manifest_paths_are_relative_to_it_and_missing_files_are_named(tmp_path):
    (tmp_path / "a.nii.gz").write_bytes(b"")
    (tmp_path / "cases.csv").write_text("case,task,a,b\nx,pet,a.nii.gz,missing.nii.gz\n")
    with pytest.raises(InputError, match="missing.nii.gz does not exist"):
        read_manifest(tmp_path / "cases.csv")
    (tmp_path / "bad.csv").write_text("name,a\n1,2\n")
    with pytest.raises(InputError, match="case,task,a,b"):
        read_manifest(tmp_path / "bad.csv")


def write(path, array, spacing):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path))
    return path


def test_eval_volumes_command_scores_a_case_with_references(tmp_path, phantom, capsys):
    pet = write(tmp_path / "pet.nrrd", phantom((8, 72, 80), seed=1, functional=True), (1.0, 1.0, 2.0))
    mri = write(tmp_path / "mri.nrrd", phantom((8, 72, 80), seed=2), (1.0, 1.0, 2.0))
    mask = write(tmp_path / "lesion.nrrd", (phantom((8, 72, 80), seed=1, functional=True) > 2000).astype(np.uint8), (1.0, 1.0, 2.0))
    code = main(["eval-volumes", str(pet), str(mri), "--task", "pet", "--lesion", str(mask), "--json", "--no-auto", "--detail", "0", "--curve-strength", "0"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    rows = {row["method"]: row for row in out["summaries"]}
    assert set(rows) == {"W-DUALMINE", "average", "max"}
    # with the curve and the residual off the fusion is the plain average of the 8-bit inputs
    assert rows["W-DUALMINE"]["CC"] == pytest.approx(rows["average"]["CC"], abs=1e-6)
    assert rows["W-DUALMINE"]["lesion_contrast"] == pytest.approx(rows["average"]["lesion_contrast"], abs=1e-5)
    assert rows["average"]["lesion_contrast"] > 0


def test_flat_noise_sees_noise_added_where_the_sources_are_flat():
    from wdualmine.metrics.flat_noise import flat_noise

    rng = np.random.default_rng(0)
    sa = np.zeros((64, 64))
    sb = np.zeros((64, 64))
    sa[8:56, 8:56], sb[8:56, 8:56] = 100.0, 150.0
    sa[20:44, 20:44], sb[30:40, 10:54] = 200.0, 60.0  # some edges, the rest flat
    clean = (sa + sb) / 2
    noisy = clean + rng.normal(0, 5, clean.shape) * (clean > 0)
    assert flat_noise(clean, sa, sb) < 0.5
    assert flat_noise(noisy, sa, sb) > 3.0


def test_eval_volumes_without_cases_names_what_to_give(capsys):
    from wdualmine.cli import main

    assert main(["eval-volumes"]) == 2
    assert "give A and B (and --task), or --manifest CASES.csv" in capsys.readouterr().err
