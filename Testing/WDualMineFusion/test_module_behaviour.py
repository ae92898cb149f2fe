"""What the module's buttons and views rely on, on a real MRML scene (issue 9): inputs, sample data, slice views,
the live preview's view, and what the module imports and installs."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest

from mrml_helpers import load_volume, make_scene, volume_from_array

MODULE_DIR = Path(__file__).resolve().parents[2] / "WDualMineFusion"
OPTIONS = dict(task="pet", functional="second", device="cpu", workingSize=None, computeMetrics=False)


def run_python(code: str) -> str:
    """A fresh interpreter (imports and sys.modules as at Slicer start), with the module folder on the path."""
    result = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(MODULE_DIR)!r})\n{code}"],
                            capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def fused(slicer_core, sample_paths):
    from WDualMineFusionLib.logic import WDualMineFusionLogic

    scene = make_scene()
    mri = load_volume(scene, sample_paths["MRI"], "MRI")
    pet = load_volume(scene, sample_paths["PET"], "PET")
    logic = WDualMineFusionLogic(scene)
    nodes = logic.fuse(mri, pet, **OPTIONS)
    return scene, logic, mri, pet, nodes


def composites(scene):
    return {scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode").GetLayoutName(): scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode")
            for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode"))}


def test_slice_views_change_only_with_overlay_or_opacity(fused):
    scene, logic, mri, pet, nodes = fused
    red = composites(scene)["Red"]
    red.SetBackgroundVolumeID(mri.GetID())  # the user's own choice in one view
    red.SetForegroundVolumeID(pet.GetID())
    assert not logic.updateDisplay(mri, "reliabilityA", 0.5)  # e.g. a detail slider moved: views untouched
    assert (red.GetBackgroundVolumeID(), red.GetForegroundVolumeID()) == (mri.GetID(), pet.GetID())

    assert logic.updateDisplay(mri, "reliabilityA", 0.8)  # opacity only: the layers stay as the user set them
    assert (red.GetBackgroundVolumeID(), red.GetForegroundVolumeID()) == (mri.GetID(), pet.GetID())
    assert red.GetForegroundOpacity() == pytest.approx(0.8)

    assert logic.updateDisplay(mri, "arbitration", 0.8)  # another overlay: fused background, that map on top
    for composite in composites(scene).values():
        assert composite.GetBackgroundVolumeID() == nodes["fused"].GetID()
        assert composite.GetForegroundVolumeID() == nodes["arbitration"].GetID()
    assert not logic.updateDisplay(mri, "arbitration", 0.8)
    logic.noteDisplay("reliabilityA", 0.5)  # the module opening: taken as shown, nothing touched
    assert composites(scene)["Green"].GetForegroundVolumeID() == nodes["arbitration"].GetID()
    assert not logic.updateDisplay(None, "none", 0.1)  # no reference selected: nothing to show


def test_live_preview_uses_a_view_along_the_fusion_axis(fused):
    from WDualMineFusionLib.validation import FusionInputError

    scene, logic, mri, pet, nodes = fused
    session = logic.previewSession()
    views = {scene.GetNthNodeByClass(i, "vtkMRMLSliceNode").GetLayoutName(): scene.GetNthNodeByClass(i, "vtkMRMLSliceNode")
             for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceNode"))}
    axis_orientation = {0: "Axial", 1: "Coronal", 2: "Sagittal"}[session.along]  # MRI grid: k, j, i = S, A, R
    others = [o for o in ("Axial", "Coronal", "Sagittal") if o != axis_orientation]
    try:
        views["Red"].SetOrientation(axis_orientation)
        views["Red"].SetSliceOffset(10.0)
        sliceNode, index = logic.previewTarget()
        assert sliceNode is views["Red"]
        views["Red"].SetSliceOffset(30.0)  # 20 mm further = 10 slices of the 2 mm MRI grid
        assert abs(logic.previewTarget()[1] - index) == 10

        views["Red"].SetOrientation(others[0])  # the Red view turned: the view that still matches is used
        views["Green"].SetOrientation(axis_orientation)
        views["Yellow"].SetOrientation(others[1])
        assert logic.previewTarget()[0] is views["Green"]

        views["Green"].SetOrientation(others[1])  # none matches: a message that names the orientation to set
        with pytest.raises(FusionInputError, match=f"set the Red view to {axis_orientation}"):
            logic.previewTarget()
    finally:
        for name, orientation in (("Red", "Axial"), ("Green", "Coronal"), ("Yellow", "Sagittal")):
            views[name].SetOrientation(orientation)


def test_default_inputs_skip_what_cannot_be_fused(fused):
    from WDualMineFusionLib.inputs import defaultInputs, selectableVolumes

    scene, logic, mri, pet, nodes = fused
    eye = np.eye(4)
    vector = volume_from_array(scene, np.ones((4, 8, 8, 3), np.uint8), eye, "an RGB MR photo", "vtkMRMLVectorVolumeNode")
    label = volume_from_array(scene, np.zeros((4, 8, 8), np.uint8), eye, "MR labels", "vtkMRMLLabelMapVolumeNode")
    selectable = selectableVolumes(scene)
    assert mri in selectable and pet in selectable
    assert not {vector.GetID(), label.GetID(), nodes["fused"].GetID(), nodes["fusedRGB"].GetID()} & {v.GetID() for v in selectable}
    assert defaultInputs(scene) == (mri, pet)
    assert defaultInputs(scene, reference=pet) == (pet, mri)
    empty = make_scene()
    assert defaultInputs(empty) == (None, None)


def test_sample_data_registration_and_the_load_button(slicer_core, sample_paths):
    from WDualMineFusionLib.inputs import SAMPLE_NODE_NAMES, sampleDataSource, sampleInputs

    source = sampleDataSource("thumbnail.png")
    assert len(source["uris"]) == len(source["fileNames"]) == len(source["nodeNames"]) == len(source["checksums"]) == 2
    assert source["loadFileTypes"] == ["VolumeFile", "VolumeFile"]  # the keyword SampleDataLogic takes
    scene = make_scene()
    loaded = []
    for uri, name, checksum in zip(source["uris"], source["nodeNames"], source["checksums"]):
        path = Path(unquote(urlparse(uri).path))
        assert checksum == "SHA256:" + hashlib.sha256(path.read_bytes()).hexdigest()
        loaded.append(load_volume(scene, path, name))
    # downloadSamples returns every node of the sample, in any order
    mri, pet = sampleInputs(loaded[::-1])
    assert (mri.GetName(), pet.GetName()) == (SAMPLE_NODE_NAMES["MRI"], SAMPLE_NODE_NAMES["PET"])
    with pytest.raises(RuntimeError, match="reinstall the extension"):
        sampleInputs(loaded[:1])


def test_module_logic_import_loads_no_simpleitk_or_torch(slicer_core):
    """The module file imports the logic at every Slicer start."""
    out = run_python("import WDualMineFusionLib.logic\nprint(sorted(m for m in ('SimpleITK', 'torch') if m in sys.modules))")
    assert out.strip() == "[]"
    # ... nor does the arbitration note the panel works out at every parameter change
    out = run_python(
        "import WDualMineFusionLib.logic as logic\n"
        "assert logic.WDualMineFusionLogic.arbitrationNote({'detail_strength': 0.0})\n"
        "print(sorted(m for m in ('SimpleITK', 'torch') if m in sys.modules))"
    )
    assert out.strip() == "[]"


def test_pytorch_wavelets_needs_no_setuptools(slicer_core):
    """Slicer 5.12+ has setuptools 82 (no pkg_resources): the engine still loads and fuses, and nothing is left behind."""
    out = run_python(
        "sys.modules['pkg_resources'] = None  # as if setuptools had no pkg_resources\n"
        "from WDualMineFusionLib.compute import loadFuser\n"
        "fuser = loadFuser('pet', 'cpu')\n"
        "import numpy as np, pytorch_wavelets.dtcwt.coeffs as coeffs\n"
        "print(len(coeffs.biort('near_sym_a')), sys.modules['pkg_resources'] is None)\n"  # read through resource_stream
        "print(fuser.fuse(np.full((1, 32, 32), 0.5, np.float32), np.zeros((1, 32, 32), np.float32)).fused.shape)"
    )
    assert out.split() == ["4", "True", "(1,", "32,", "32)"]


def test_missing_packages_are_named_for_the_self_test(slicer_core):
    from WDualMineFusionLib.dependencies import missingPackages

    assert missingPackages() == []
    out = run_python("sys.modules['torch'] = None; sys.modules['pywt'] = None\n"
                     "from WDualMineFusionLib.dependencies import missingPackages; print(missingPackages())")
    assert out.strip() == "['torch>=2.1', 'PyWavelets>=1.4']"
