"""The MRML logic end to end on a real vtkMRMLScene (slicer-core) with the shipped weights, on the CPU."""

from __future__ import annotations

import numpy as np
import pytest

from mrml_helpers import load_volume, make_scene, volume_from_array

OPTIONS = dict(task="pet", functional="second", device="cpu", workingSize=None)


def matrix(node):
    from WDualMineFusionLib.volume_conversion import ijkToRAS

    return ijkToRAS(node)


def array(node):
    from WDualMineFusionLib.volume_conversion import voxelArray

    return voxelArray(node)


def node_count(scene):
    return scene.GetNumberOfNodes()


@pytest.fixture(scope="module")
def fused_sample(slicer_core, sample_paths):
    """One fusion of the sample (MRI reference, PET second), shared by the read-only checks below."""
    from WDualMineFusionLib.logic import WDualMineFusionLogic

    scene = make_scene()
    mri = load_volume(scene, sample_paths["MRI"], "MRI")
    pet = load_volume(scene, sample_paths["PET"], "PET")
    before = {n.GetName(): (array(n).copy(), matrix(n).copy()) for n in (mri, pet)}
    logic = WDualMineFusionLogic(scene)
    nodes = logic.fuse(mri, pet, **OPTIONS)
    return scene, logic, mri, pet, nodes, before


def test_outputs_have_reference_geometry(fused_sample):
    scene, logic, mri, pet, nodes, before = fused_sample
    assert {"fused", "reliabilityA", "reliabilityB", "arbitration", "fusedRGB", "metrics"} <= set(nodes)
    for key in ("fused", "reliabilityA", "reliabilityB", "arbitration", "fusedRGB"):
        node = nodes[key]
        assert np.array_equal(matrix(node), matrix(mri)), key
        assert node.GetImageData().GetDimensions() == mri.GetImageData().GetDimensions(), key
        assert node.GetParentTransformNode() is None
    assert nodes["fusedRGB"].IsA("vtkMRMLVectorVolumeNode")
    rgb = array(nodes["fusedRGB"])
    assert rgb.shape == array(mri).shape + (3,) and rgb.dtype == np.uint8
    fused = array(nodes["fused"])
    assert fused.dtype == np.float32 and 0.0 <= fused.min() and fused.max() <= 1.0 and fused.max() > 0.5
    assert np.all(fused[array(mri) == 0][:10] >= 0)
    rel_a, rel_b = array(nodes["reliabilityA"]), array(nodes["reliabilityB"])
    inside = rel_a > 0
    assert inside.any() and np.allclose(rel_a[inside] + rel_b[inside], 1.0, atol=1e-5)


def test_inputs_untouched(fused_sample):
    scene, logic, mri, pet, nodes, before = fused_sample
    for node in (mri, pet):
        data, geometry = before[node.GetName()]
        assert np.array_equal(array(node), data)
        assert np.array_equal(matrix(node), geometry)
        assert node.GetParentTransformNode() is None


def test_slice_views_overlay(fused_sample):
    scene, logic, mri, pet, nodes, before = fused_sample
    composites = [scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode") for i in range(3)]
    for composite in composites:
        assert composite.GetBackgroundVolumeID() == nodes["fused"].GetID()
        assert composite.GetForegroundVolumeID() == nodes["reliabilityA"].GetID()
        assert composite.GetForegroundOpacity() == pytest.approx(0.5)
    reliability = nodes["reliabilityA"].GetDisplayNode()
    # bare slicer-core has no file-based DivergingBlueRed table: the built-in FullRainbow is the fallback
    assert reliability.GetColorNodeID() == "vtkMRMLColorTableNodeFullRainbow"
    assert reliability.GetApplyThreshold() == 1 and 0 < reliability.GetLowerThreshold() < 0.01
    assert nodes["arbitration"].GetDisplayNode().GetColorNodeID() == "vtkMRMLPETProceduralColorNodePET-Heat"
    assert nodes["fused"].GetDisplayNode().GetColorNodeID() == "vtkMRMLColorTableNodeGrey"
    logic.showOutputs(nodes, "arbitration", 0.7)
    assert composites[0].GetForegroundVolumeID() == nodes["arbitration"].GetID()
    assert composites[0].GetForegroundOpacity() == pytest.approx(0.7)
    logic.showOutputs(nodes, "none")
    assert composites[0].GetForegroundVolumeID() is None
    logic.showOutputs(nodes, "reliabilityA", 0.5)


def test_metrics_table(fused_sample):
    from WDualMineFusionLib.metrics_table import readMetricsTable

    scene, logic, mri, pet, nodes, before = fused_sample
    table = nodes["metrics"]
    assert table.IsA("vtkMRMLTableNode")
    values = readMetricsTable(table)
    assert set(values) == {"W-DUALMINE", "average"}
    assert list(values["W-DUALMINE"]) == ["CC", "MI", "SCD", "VIF", "Qabf", "SSIM"]
    for method in values.values():
        assert all(np.isfinite(v) for v in method.values())
        assert 0.3 < method["CC"] <= 1.0 and method["MI"] > 0
    assert len(table.GetAttribute("WDualMineFusion.MetricSlices").split()) == 3


def test_rerun_reuses_nodes_and_preview_matches(fused_sample):
    scene, logic, mri, pet, nodes, before = fused_sample
    count = node_count(scene)
    again = logic.fuse(mri, pet, **OPTIONS)
    assert {k: n.GetID() for k, n in again.items()} == {k: n.GetID() for k, n in nodes.items()}
    assert node_count(scene) == count

    # the preview of a slice with the full fusion's controls equals that slice of the full fusion
    session = logic.previewSession()
    index = session.sliceCount // 2
    full = array(nodes["fused"]).copy()
    preview = logic.computePreview(index, detail_strength=1.0)
    assert np.allclose(preview["fused"], np.take(full, index, axis=session.along), atol=1e-5)
    reliability = np.take(array(nodes["reliabilityA"]), index, axis=session.along)
    assert np.allclose(np.where(preview["foreground"], preview["reliability_a"], 0), reliability, atol=1e-5)

    # base_power = 1 is the default (arithmetic mean); above 1 the base leans toward the brighter source
    assert np.array_equal(logic.computePreview(index, base_power=1.0)["fused"], preview["fused"])
    powered = logic.computePreview(index, base_power=1.5)["fused"]
    assert not np.allclose(powered, preview["fused"], atol=1e-4)
    assert powered[preview["foreground"]].mean() > preview["fused"][preview["foreground"]].mean()

    # contrast equalisation 0 and functional emphasis 0 are the defaults; each changes the preview, and emphasis
    # only raises the CT/PET/SPECT's weight, so its share of the fused value rises in the anatomy
    foreground = preview["foreground"]
    assert np.array_equal(logic.computePreview(index, equalise=0.0, emphasis=0.0)["fused"], preview["fused"])
    assert not np.allclose(logic.computePreview(index, equalise=1.0)["fused"], preview["fused"], atol=1e-4)
    emphasised = logic.computePreview(index, emphasis=1.0)
    assert not np.allclose(emphasised["fused"], preview["fused"], atol=1e-4)
    assert emphasised["reliability_a"][foreground].mean() > preview["reliability_a"][foreground].mean()

    # curve strength 0 turns the learned reliability curve off: the map is A's share of the 50/50 average
    plain = logic.computePreview(index, curve_strength=0.0)
    # of the inputs as the engine fuses them (windowed, and whatever it does to them before combining)
    from wdualmine.pipeline import slab_inputs

    inputs = slab_inputs(session.pair, session.plan, slice(index, index + 1))
    share = inputs.native_a[0] / np.maximum(inputs.native_a[0] + inputs.native_b[0], 1e-12)
    assert np.allclose(plain["reliability_a"][preview["foreground"]], share[preview["foreground"]], atol=1e-4)
    assert not np.allclose(plain["fused"], preview["fused"], atol=1e-4)

    # other controls change only that slice of the outputs
    logic.previewSlice(mri, index, detail_strength=2.0, reliability_bias=1.0)
    changed = array(nodes["fused"])
    assert not np.allclose(np.take(changed, index, axis=session.along), np.take(full, index, axis=session.along))
    others = [k for k in range(session.sliceCount) if k != index]
    assert np.array_equal(np.take(changed, others, axis=session.along), np.take(full, others, axis=session.along))
    assert nodes["fused"].GetAttribute("WDualMineFusion.Preview")
    timing = logic.benchmarkPreview(index, updates=3)
    assert timing["update_median_ms"] > 0


def test_cancel_leaves_scene_as_it_was(sample_scene):
    from wdualmine.inference import Cancelled
    from WDualMineFusionLib.logic import WDualMineFusionLogic

    scene, mri, pet = sample_scene
    count = node_count(scene)
    calls = []

    def cancel_after_first_batch():
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(Cancelled):
        WDualMineFusionLogic(scene).fuse(mri, pet, cancelled=cancel_after_first_batch, **OPTIONS)
    assert node_count(scene) == count
    assert mri.GetNodeReference("WDualMineFusion.fused") is None


def test_transformed_second_volume_matches_manual_hardening(sample_scene):
    """PET under a rigid parent transform gives what the same PET with the transform hardened gives."""
    import vtk

    from WDualMineFusionLib.logic import WDualMineFusionLogic

    scene, mri, pet = sample_scene
    transform = vtk.vtkTransform()
    transform.Translate(4.0, -3.0, 2.0)
    transform.RotateZ(5.0)
    transform_node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "shift")
    transform_node.SetMatrixTransformToParent(transform.GetMatrix())
    pet.SetAndObserveTransformNodeID(transform_node.GetID())
    pet_before = (array(pet).copy(), matrix(pet).copy())

    hardened_matrix = np.array([[transform.GetMatrix().GetElement(r, c) for c in range(4)] for r in range(4)]) @ matrix(pet)
    hardened = volume_from_array(scene, array(pet).copy(), hardened_matrix, "PET hardened by hand")
    hardened.GetDisplayNode().SetWindowLevel(pet.GetDisplayNode().GetWindow(), pet.GetDisplayNode().GetLevel())

    logic = WDualMineFusionLogic(scene)
    with_transform = array(logic.fuse(mri, pet, computeMetrics=False, **OPTIONS)["fused"]).copy()
    reference_copy = volume_from_array(scene, array(mri).copy(), matrix(mri), "MRI copy")
    reference_copy.GetDisplayNode().SetWindowLevel(mri.GetDisplayNode().GetWindow(), mri.GetDisplayNode().GetLevel())
    by_hand = array(logic.fuse(reference_copy, hardened, computeMetrics=False, **OPTIONS)["fused"])
    assert np.allclose(with_transform, by_hand, atol=1e-6)
    assert np.array_equal(array(pet), pet_before[0]) and np.array_equal(matrix(pet), pet_before[1])
    assert pet.GetParentTransformNode() is transform_node


def test_reference_under_transform_keeps_it(sample_scene):
    import vtk

    from WDualMineFusionLib.logic import WDualMineFusionLogic

    scene, mri, pet = sample_scene
    transform = vtk.vtkTransform()
    transform.Translate(0.0, 0.0, 3.0)
    node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    node.SetMatrixTransformToParent(transform.GetMatrix())
    mri.SetAndObserveTransformNodeID(node.GetID())
    pet.SetAndObserveTransformNodeID(node.GetID())  # both moved together: same fusion as without
    fused = WDualMineFusionLogic(scene).fuse(mri, pet, computeMetrics=False, **OPTIONS)["fused"]
    assert fused.GetParentTransformNode() is node
    assert np.array_equal(matrix(fused), matrix(mri))


def test_alignment_check_flags_a_shift(sample_scene):
    import vtk

    from WDualMineFusionLib.logic import WDualMineFusionLogic

    scene, mri, pet = sample_scene
    logic = WDualMineFusionLogic(scene)
    assert not logic.checkAlignment(mri, pet).misaligned
    transform = vtk.vtkTransform()
    transform.Translate(25.0, 20.0, -15.0)
    node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    node.SetMatrixTransformToParent(transform.GetMatrix())
    pet.SetAndObserveTransformNodeID(node.GetID())
    result = logic.checkAlignment(mri, pet)
    assert result.misaligned and "misaligned" in result.message


def test_bad_inputs_raise_clear_messages(sample_scene):
    from WDualMineFusionLib.logic import WDualMineFusionLogic
    from WDualMineFusionLib.validation import FusionInputError

    scene, mri, pet = sample_scene
    logic = WDualMineFusionLogic(scene)
    eye = np.eye(4)
    with pytest.raises(FusionInputError, match="same node"):
        logic.fuse(mri, mri, **OPTIONS)
    label = volume_from_array(scene, np.zeros((10, 10, 10), np.uint8), eye, "labels", "vtkMRMLLabelMapVolumeNode")
    with pytest.raises(FusionInputError, match="label map"):
        logic.fuse(mri, label, **OPTIONS)
    flat = volume_from_array(scene, np.ones((1, 64, 64), np.float32), eye, "flat")
    with pytest.raises(FusionInputError, match="2-D slice"):
        logic.fuse(flat, pet, **OPTIONS)
    vector = volume_from_array(scene, np.ones((10, 10, 10, 3), np.uint8), eye, "rgb", "vtkMRMLVectorVolumeNode")
    with pytest.raises(FusionInputError, match="Vector to Scalar"):
        logic.fuse(mri, vector, **OPTIONS)
    far = eye.copy()
    far[:3, 3] = (5000.0, 5000.0, 5000.0)
    distant = volume_from_array(scene, np.ones((20, 20, 20), np.float32), far, "far away")
    with pytest.raises(ValueError, match="do not overlap"):
        logic.fuse(mri, distant, **OPTIONS)
    nans = volume_from_array(scene, np.full((20, 20, 20), np.nan, np.float32), matrix(mri), "all NaN")
    with pytest.raises(FusionInputError, match="NaN"):
        logic.fuse(mri, nans, **OPTIONS)
    with pytest.raises(FusionInputError, match="unknown task"):
        logic.fuse(mri, pet, **{**OPTIONS, "task": "xray"})
    with pytest.raises(FusionInputError, match="detail_strength"):
        logic.fuse(mri, pet, detail_strength=5.0, **OPTIONS)
    for power in (0.5, 3.5):
        with pytest.raises(FusionInputError, match=r"base_power must be a number in \[1\.0, 3\.0\]"):
            logic.fuse(mri, pet, base_power=power, **OPTIONS)
    with pytest.raises(FusionInputError, match="unknown control"):
        logic.fuse(mri, pet, basePower=1.5, **OPTIONS)
    with pytest.raises(FusionInputError, match="no reference volume"):
        logic.fuse(None, pet, **OPTIONS)
    assert mri.GetNodeReference("WDualMineFusion.fused") is None


def test_preview_follows_its_own_fusion_and_outputs_never_overwrite_an_input(sample_scene):
    from WDualMineFusionLib.logic import WDualMineFusionLogic

    scene, mri, pet = sample_scene
    logic = WDualMineFusionLogic(scene)
    nodes = logic.fuse(mri, pet, computeMetrics=False, **OPTIONS)
    assert logic.hasPreviewFor(mri, pet) and not logic.hasPreviewFor(pet, mri)

    # a preview computed for this fusion goes to its outputs even when another reference is passed
    before_other = array(pet).copy()
    result = logic.computePreview(10, detail_strength=0.0)
    written = logic.writePreview(pet, 10, result)
    assert written["fused"].GetID() == nodes["fused"].GetID()
    assert np.array_equal(array(pet), before_other)

    # choosing the earlier fused volume as the second input: the new run writes new nodes, the input stays
    fused_before = array(nodes["fused"]).copy()
    second_run = logic.fuse(mri, nodes["fused"], computeMetrics=False, **OPTIONS)
    assert second_run["fused"].GetID() != nodes["fused"].GetID()
    assert np.array_equal(array(nodes["fused"]), fused_before)

    logic.resetPreview()
    assert not logic.hasPreview()
