"""Fixtures for the MRML tests: a real vtkMRMLScene from the slicer-core wheel (skipped without it)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

MODULE_DIR = Path(__file__).resolve().parents[2] / "WDualMineFusion"
if str(MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(MODULE_DIR))

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the tests import mrml_helpers (pytest runs with --import-mode=importlib)
    sys.path.insert(0, str(HERE))

from mrml_helpers import load_volume, make_scene  # noqa: E402


@pytest.fixture(scope="session")
def slicer_core():
    slicer = pytest.importorskip("slicer", reason="slicer-core (the MRML Python wheel) is not installed: pip install slicer-core")
    if not hasattr(slicer, "vtkMRMLScene"):
        pytest.skip("the 'slicer' module here is not slicer-core (no vtkMRMLScene)")
    pytest.importorskip("torch", reason="torch is not installed")
    return slicer


@pytest.fixture(scope="session")
def sample_paths(slicer_core):
    from wdualmine.sample_data import verify_sample

    return verify_sample()


@pytest.fixture
def scene(slicer_core):
    return make_scene()


@pytest.fixture
def sample_scene(scene, sample_paths):
    mri = load_volume(scene, sample_paths["MRI"], "MRI")
    pet = load_volume(scene, sample_paths["PET"], "PET")
    return scene, mri, pet
