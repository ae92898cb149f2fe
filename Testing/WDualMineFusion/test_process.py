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


def test_process_fusion_gives_the_in_process_voxels(slicer_core, sample_paths):
    from WDualMineFusionLib.logic import WDualMineFusionLogic
    from WDualMineFusionLib.metrics_table import readMetricsTable
    from WDualMineFusionLib.volume_conversion import ijkToRAS

    scene = make_scene()
    mri = load_volume(scene, sample_paths["MRI"], "MRI")
    pet = load_volume(scene, sample_paths["PET"], "PET")
    logic = WDualMineFusionLogic(scene)
    progress = []
    nodes = logic.fuse(mri, pet, useProcess=True, progress=lambda done, total: progress.append((done, total)), **OPTIONS)
    from_process = {key: array(node).copy() for key, node in nodes.items() if key != "metrics"}
    metrics_process = readMetricsTable(nodes["metrics"])
    assert progress and progress[-1][0] == progress[-1][1] and len(progress) > 1

    in_process = logic.fuse(mri, pet, **OPTIONS)
    assert {k: n.GetID() for k, n in in_process.items()} == {k: n.GetID() for k, n in nodes.items()}
    for key, values in from_process.items():
        assert np.array_equal(values, array(in_process[key])), key
        assert np.array_equal(ijkToRAS(in_process[key]), ijkToRAS(mri)), key
    assert readMetricsTable(in_process["metrics"]) == metrics_process

    # the live preview after a process run aligns the pair itself and matches the full fusion
    logic.fuse(mri, pet, useProcess=True, computeMetrics=False, **OPTIONS)
    session = logic.previewSession()
    index = session.sliceCount // 2
    preview = logic.computePreview(index)
    assert np.allclose(preview["fused"], np.take(array(nodes["fused"]), index, axis=session.along), atol=1e-5)


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
