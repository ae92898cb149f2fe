"""Tests of the bundled MRI + PET sample pair (wdualmine.sample_data)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

try:
    import wdualmine.sample_data as sd
except ImportError:  # run without PYTHONPATH=WDualMineFusion
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "WDualMineFusion"))
    import wdualmine.sample_data as sd

PACKAGE_DIR = Path(sd.__file__).resolve().parent


@pytest.fixture(scope="module")
def images():
    paths = sd.sample_paths()
    return {key: sitk.ReadImage(str(path)) for key, path in paths.items()}


@pytest.fixture(scope="module")
def pet_on_mri(images):
    """PET resampled onto the MRI grid (physical-space resampling)."""
    return sitk.Resample(
        images["PET"], images["MRI"], sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32
    )


def _physical_bbox(img):
    """Axis-aligned physical box (min, max) of the voxel edges."""
    size = np.array(img.GetSize())
    corners = np.array(
        [[(-0.5 if c == 0 else s - 0.5) for c, s in zip(bits, size)]
         for bits in np.ndindex(2, 2, 2)]
    )
    pts = np.array([img.TransformContinuousIndexToPhysicalPoint(c.tolist()) for c in corners])
    return pts.min(0), pts.max(0)


def _voxel_points(img, mask):
    """Physical LPS points (N x 3) of the voxels where mask (z, y, x) is set."""
    idx = np.argwhere(mask)[:, ::-1].astype(float)  # -> (i, j, k)
    direction = np.array(img.GetDirection()).reshape(3, 3)
    return np.array(img.GetOrigin()) + (idx * np.array(img.GetSpacing())) @ direction.T


def test_sample_paths_exist():
    paths = sd.sample_paths()
    assert set(paths) == {"PET", "MRI"}
    for key, path in paths.items():
        assert isinstance(path, Path)
        assert path.parent == PACKAGE_DIR
        assert path.is_file(), f"{key} sample missing: {path}"
    assert sum(p.stat().st_size for p in paths.values()) < 3 * 1024 * 1024


def test_checksums_match():
    assert sd.verify_sample() == sd.sample_paths()
    for key, path in sd.sample_paths().items():
        assert sd.sha256_of(path) == sd.SAMPLE_SHA256[key]


def test_verify_sample_names_bad_file(monkeypatch):
    monkeypatch.setitem(sd.SAMPLE_SHA256, "PET", "0" * 64)
    with pytest.raises(sd.SampleDataError, match="PET_FDG.nrrd"):
        sd.verify_sample()
    sd.verify_sample(["MRI"])  # the other file still passes


def test_init_imports_only_stdlib():
    tree = ast.parse((PACKAGE_DIR / "__init__.py").read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "sample_data/__init__.py must not import package modules"
            names.add(node.module.split(".")[0])
    stdlib = getattr(sys, "stdlib_module_names", None)
    if stdlib is None:  # Python < 3.10
        stdlib = {"__future__", "hashlib", "pathlib", "typing"}
    assert names <= set(stdlib) | {"__future__"}, names - set(stdlib)


def _imported_top_modules(path):
    tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0]


def test_nilearn_only_in_generate():
    """nilearn is an optional dev dependency: only generate.py may import it."""
    root = PACKAGE_DIR.parent
    offenders = [
        p.relative_to(root).as_posix()
        for p in root.rglob("*.py")
        if p != PACKAGE_DIR / "generate.py" and "nilearn" in set(_imported_top_modules(p))
    ]
    assert not offenders


def test_both_are_3d_scalar(images):
    for key, img in images.items():
        assert img.GetDimension() == 3, key
        assert img.GetNumberOfComponentsPerPixel() == 1, key
        assert min(img.GetSize()) > 32, key
    assert images["MRI"].GetPixelID() == sitk.sitkInt16
    assert images["PET"].GetPixelID() == sitk.sitkUInt16
    assert images["MRI"].GetSpacing() == pytest.approx((2.0, 2.0, 2.0))
    assert images["PET"].GetSpacing() == pytest.approx((3.0, 3.0, 3.0))
    assert np.allclose(np.array(images["PET"].GetDirection()).reshape(3, 3), np.eye(3))


def test_values_finite_nonnegative(images):
    for key, img in images.items():
        arr = sitk.GetArrayViewFromImage(img)
        assert np.isfinite(arr).all(), key
        assert arr.min() >= 0, key
        assert arr.max() > 0, key
    assert 500 < sitk.GetArrayViewFromImage(images["MRI"]).max() <= 1000


def test_grids_differ_but_overlap(images):
    mri, pet = images["MRI"], images["PET"]
    assert mri.GetSize() != pet.GetSize()
    assert not np.allclose(mri.GetOrigin(), pet.GetOrigin())
    assert not np.allclose(mri.GetSpacing(), pet.GetSpacing())

    mri_lo, mri_hi = _physical_bbox(mri)
    pet_lo, pet_hi = _physical_bbox(pet)
    assert not (np.allclose(mri_lo, pet_lo) and np.allclose(mri_hi, pet_hi))
    lo, hi = np.maximum(mri_lo, pet_lo), np.minimum(mri_hi, pet_hi)
    assert (hi > lo).all(), "the two fields of view do not intersect"

    brain = _voxel_points(mri, sitk.GetArrayViewFromImage(mri) > 100)
    inside = ((brain >= lo) & (brain <= hi)).all(axis=1)
    assert inside.mean() > 0.98, f"only {inside.mean():.1%} of the brain lies in both fields of view"


def test_pet_brighter_in_grey_than_white(images, pet_on_mri):
    mri = sitk.GetArrayViewFromImage(images["MRI"])
    pet = sitk.GetArrayViewFromImage(pet_on_mri)
    otsu = sitk.OtsuMultipleThresholdsImageFilter()
    otsu.SetNumberOfThresholds(3)  # background | CSF | grey | white
    otsu.Execute(images["MRI"])
    _, csf_grey, grey_white = otsu.GetThresholds()
    grey = (mri > csf_grey + 25) & (mri < grey_white - 25)
    white = mri > grey_white + 50
    assert grey.sum() > 10000 and white.sum() > 10000
    ratio = pet[grey].mean() / pet[white].mean()
    assert ratio > 1.3, f"grey/white PET ratio {ratio:.2f}"


def test_lesion_is_hottest_region(images):
    pet = images["PET"]
    arr = sitk.GetArrayFromImage(pet).astype(np.float64)
    centre = np.array(sd.LESION_CENTER_LPS_MM)
    dist = np.linalg.norm(_voxel_points(pet, np.ones(arr.shape, bool)) - centre, axis=1)
    dist = dist.reshape(arr.shape)

    near = dist <= sd.LESION_RADIUS_MM + 3.0
    far = dist > sd.LESION_RADIUS_MM + 9.0
    assert arr[near].max() > 1.4 * arr[far].max()

    smooth = sitk.GetArrayFromImage(
        sitk.SmoothingRecursiveGaussian(sitk.Cast(pet, sitk.sitkFloat32), 4.0)
    )
    hottest = np.unravel_index(np.argmax(smooth), smooth.shape)
    assert dist[hottest] <= sd.LESION_RADIUS_MM
    assert centre[0] < 0, "lesion must be in the right hemisphere (LPS x < 0)"


def test_hypometabolic_region_is_cold(images):
    pet = images["PET"]
    arr = sitk.GetArrayFromImage(pet).astype(np.float64)
    pts = _voxel_points(pet, np.ones(arr.shape, bool))
    hypo = np.array(sd.HYPO_CENTER_LPS_MM)
    mirror = hypo * np.array([-1.0, 1.0, 1.0])  # same place, other hemisphere
    r = sd.HYPO_RADIUS_MM * 2.0 / 3.0
    cold = arr.ravel()[np.linalg.norm(pts - hypo, axis=1) <= r].mean()
    normal = arr.ravel()[np.linalg.norm(pts - mirror, axis=1) <= r].mean()
    assert hypo[0] > 0, "hypometabolism must be in the left hemisphere (LPS x > 0)"
    assert 0.25 < cold / normal < 0.6
