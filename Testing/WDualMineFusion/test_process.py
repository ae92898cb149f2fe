"""The fusion process (what Apply runs): same voxels as in-process fusion, cancel kills it, failures say why.

Outside Slicer "PythonSlicer" is this Python: the child runs WDualMineFusionLib/worker.py on the exported job.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from mrml_helpers import load_volume, make_scene

OPTIONS = dict(task="pet", functional="second", device="cpu", workingSize=None)


def array(node):
    from WDualMineFusionLib.volume_conversion import voxelArray

    return voxelArray(node)


@pytest.fixture(scope="module")
def auto_fusions(slicer_core, sample_paths):
    """The sample fused with auto on, first in the fusion process, then in-process (auto costs seconds: shared)."""
    from WDualMineFusionLib.logic import WDualMineFusionLogic
    from WDualMineFusionLib.metrics_table import readMetricsTable

    scene = make_scene()
    mri = load_volume(scene, sample_paths["MRI"], "MRI")
    pet = load_volume(scene, sample_paths["PET"], "PET")
    logged = []
    logic = WDualMineFusionLogic(scene, logCallback=logged.append)
    logic.logged = logged  # what the panel's status box (or the web app's log) would show
    progress = []
    nodes = logic.fuse(mri, pet, useProcess=True, auto=True, progress=lambda done, total: progress.append((done, total)), **OPTIONS)
    from_process = {key: array(node).copy() for key, node in nodes.items() if key != "metrics"}
    metrics_process = readMetricsTable(nodes["metrics"])
    in_process = logic.fuse(mri, pet, auto=True, **OPTIONS)
    return logic, mri, pet, nodes, from_process, metrics_process, progress, in_process


def test_process_fusion_gives_the_in_process_voxels(auto_fusions):
    from WDualMineFusionLib.metrics_table import readMetricsTable
    from WDualMineFusionLib.volume_conversion import ijkToRAS

    logic, mri, pet, nodes, from_process, metrics_process, progress, in_process = auto_fusions
    assert progress and progress[-1][0] == progress[-1][1] and len(progress) > 1
    assert {k: n.GetID() for k, n in in_process.items()} == {k: n.GetID() for k, n in nodes.items()}
    for key, values in from_process.items():
        assert np.array_equal(values, array(in_process[key])), key
        assert np.array_equal(ijkToRAS(in_process[key]), ijkToRAS(mri)), key
    assert readMetricsTable(in_process["metrics"]) == metrics_process

    # auto chose the same controls on both paths, and says so
    assert nodes.controls == in_process.controls
    assert nodes.autoDescription == in_process.autoDescription and nodes.autoDescription.startswith("auto controls:")
    assert in_process["fused"].GetAttribute("WDualMineFusion.Controls") == repr(in_process.controls)
    # auto gave the sample a rule without the experts' residual: the log says the arbitration map shapes nothing
    assert nodes.controls["detail_strength"] == 0
    assert sum("arbitration map shapes nothing" in line for line in logic.logged) == 2  # once per fusion
    assert logic.arbitrationNote(nodes.controls) in logic.logged  # the sentence the panel and the web app show
    assert logic.arbitrationNote({**nodes.controls, "detail_strength": 0.5}) == ""
    # auto's choice here is the plain average itself, so the metrics table's two columns agree exactly
    assert nodes.controls["curve_strength"] == nodes.controls["equalise"] == 0 and nodes.controls["base_power"] == 1
    table = readMetricsTable(in_process["metrics"])
    assert table["W-DUALMINE"] == table["average"], table

    # a script that passes auto's controls back (auto off) gets the same voxels, here from the process; the live
    # preview after a process run aligns the pair itself and, with those controls, matches the full fusion
    again = logic.fuse(mri, pet, useProcess=True, computeMetrics=False, **OPTIONS, **nodes.controls)
    assert again.autoDescription is None and again.controls == nodes.controls
    assert np.array_equal(array(again["fused"]), from_process["fused"])
    session = logic.previewSession()
    index = session.sliceCount // 2
    preview = logic.computePreview(index, **again.controls)
    assert np.allclose(preview["fused"], np.take(from_process["fused"], index, axis=session.along), atol=1e-5)


def test_auto_choice_goes_into_the_parameter_node(auto_fusions):
    """What the widget does after an auto-tuned Apply, on a stand-in with the parameter node wrapper's interface."""
    from parameter_stand_in import Base, Parameters, Volume
    from WDualMineFusionLib.logic import FusionNodes
    from WDualMineFusionLib.parameters import adoptAutoChoice, fittedCurveInUse, forgetStalePairCurve, readJsonControl

    mri, pet, other = Volume("vtkMRMLScalarVolumeNode1"), Volume("vtkMRMLScalarVolumeNode2"), Volume("vtkMRMLScalarVolumeNode3")
    nodes = auto_fusions[3]
    parameters = Parameters(referenceVolume=mri, secondVolume=pet)
    assert adoptAutoChoice(parameters, nodes)
    chosen = {name: getattr(parameters, name) for name in ("detailStrength", "basePower", "curveStrength", "equalise", "emphasis")}
    assert chosen == {"detailStrength": nodes.controls["detail_strength"], "basePower": nodes.controls["base_power"],
                      "curveStrength": nodes.controls["curve_strength"], "equalise": nodes.controls["equalise"],
                      "emphasis": nodes.controls["emphasis"]}
    assert parameters.base is Base.plain and parameters.autoTune is False  # the next Apply keeps the user's tweaks
    assert parameters.batches == ["start", "end"]  # one change for the observers (one preview decision)
    assert readJsonControl(parameters.pairCurve) == nodes.controls["pair_curve"]

    # a curve adapted to the pair is kept as JSON, read back as the engine takes it, and dropped for other volumes
    from wdualmine.controls import FusionControls

    curve = [[[0.25] * 9 for _ in range(9)], [[-0.1] * 9 for _ in range(9)]]
    adapted = Parameters(referenceVolume=mri, secondVolume=pet)
    assert adoptAutoChoice(adapted, FusionNodes(dict(nodes), {**nodes.controls, "pair_curve": curve}, "auto: adapted"))
    assert FusionControls(pair_curve=readJsonControl(adapted.pairCurve)).pair_curve == FusionControls(pair_curve=curve).pair_curve
    assert adapted.pairCurveFor == "vtkMRMLScalarVolumeNode1|vtkMRMLScalarVolumeNode2"
    assert not forgetStalePairCurve(adapted) and adapted.pairCurve
    assert fittedCurveInUse(adapted)  # the panel labels the slider "fitted to this pair"
    adapted.secondVolume = other
    assert not fittedCurveInUse(adapted)  # ... and not once other volumes are chosen, even before the curve is dropped
    assert forgetStalePairCurve(adapted) and adapted.pairCurve == ""
    assert not fittedCurveInUse(adapted) and not fittedCurveInUse(parameters)

    # a fusion without auto leaves the parameter node alone
    untouched = Parameters(autoTune=False, equalise=0.3)
    assert not adoptAutoChoice(untouched, FusionNodes(dict(nodes), {**nodes.controls, "equalise": 0.9}, None))
    assert untouched == Parameters(autoTune=False, equalise=0.3)


def test_cancel_kills_the_process_and_writes_nothing(slicer_core, sample_paths):
    from WDualMineFusionLib.logic import WDualMineFusionLogic
    from WDualMineFusionLib.process import FusionCancelled

    scene = make_scene()
    mri = load_volume(scene, sample_paths["MRI"], "MRI")
    pet = load_volume(scene, sample_paths["PET"], "PET")
    count = scene.GetNumberOfNodes()
    logic = WDualMineFusionLogic(scene)
    job = logic.prepareFusion(mri, pet, batchSize=1, **OPTIONS)
    process = logic.fusionProcess(job)
    process.startPolled()  # what the widget does where launchConsoleProcess cannot read without blocking
    deadline = time.monotonic() + 120
    while process.progress[0] == 0:  # midway: after the first batch, long before the last
        assert process.poll() is None, "the fusion ended before it could be cancelled"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert process.childPid == process.proc.pid  # outside Slicer there is no launcher in between
    process.cancel()
    returncode = process.proc.wait(timeout=10)
    while process.poll() is None:
        pass
    with pytest.raises(FusionCancelled):
        process.result(returncode)
    with pytest.raises(ProcessLookupError):
        os.kill(process.childPid, 0)
    assert process.progress[0] < process.progress[1]
    process.cleanup()
    assert not process.folder.exists()
    assert scene.GetNumberOfNodes() == count and mri.GetNodeReference("WDualMineFusion.fused") is None


def test_failures_say_what_happened_and_what_to_do(slicer_core, sample_paths):
    from WDualMineFusionLib.logic import WDualMineFusionLogic
    from WDualMineFusionLib.process import FusionProcess, FusionProcessError
    from WDualMineFusionLib.worker import formatEvent

    scene = make_scene()
    mri = load_volume(scene, sample_paths["MRI"], "MRI")
    pet = load_volume(scene, sample_paths["PET"], "PET")
    logic = WDualMineFusionLogic(scene)
    count = scene.GetNumberOfNodes()

    # a real failure inside the process: a device this machine may not have
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(FusionProcessError, match="the fusion failed: DeviceError: CUDA was requested"):
            logic.fuse(mri, pet, useProcess=True, **{**OPTIONS, "device": "cuda"})
    assert scene.GetNumberOfNodes() == count

    job = logic.prepareFusion(mri, pet, **OPTIONS)
    # an interpreter that is not Python: nothing reported, the message says what to check
    process = FusionProcess(job, python="false")
    with pytest.raises(FusionProcessError, match="ended with exit status 1 before reporting a result"):
        process.runBlocking()
    process.cleanup()

    # out of memory (reported by the process) and a kill by the system: the advice names the controls
    process = FusionProcess(job)
    process.handleLine(formatEvent("error", kind="out-of-memory", message="CUDA out of memory. Tried to allocate 2 GiB"))
    assert "Slices per batch" in process.failureMessage(3) and "Crop Volume" in process.failureMessage(3)
    fresh = FusionProcess(job)
    assert "ran out of memory" in fresh.failureMessage(-9) and "Slices per batch" in fresh.failureMessage(-9)
    process.cleanup()
    fresh.cleanup()
