"""The panel's controls files: the command line's format both ways, adopted into the parameter node as auto's
choice is, on a stand-in with the parameter node wrapper's interface (no Qt), and the windows read from MRML."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from mrml_helpers import load_volume, make_scene
from parameter_stand_in import Parameters, Task, Volume


CURVE = [[[0.5 - 0.05 * (i + j) for j in range(9)] for i in range(9)], [[0.01 * i for _ in range(9)] for i in range(9)]]
CONTROLS = {"detail_strength": 0.0, "reliability_bias": 0.0, "arbitration_bias": 0.0, "base": "plain", "base_power": 1.25,
            "curve_strength": 1.0, "equalise": 0.4375, "emphasis": 0.0, "pair_curve": CURVE}


def test_a_panel_controls_file_is_the_command_lines(tmp_path):
    from wdualmine.controls_file import read_controls_file
    from WDualMineFusionLib.parameters import controlsFileText, writeControlsFile

    path = tmp_path / "fusion.controls.json"
    writeControlsFile(str(path), controlsFileText(CONTROLS, "ct", "saved from the 3D Slicer panel", {"a": [-160.0, 240.0], "b": None}, "b"))
    saved = read_controls_file(path)
    assert saved.controls.as_dict() == {**CONTROLS, "pair_curve": tuple(tuple(tuple(r) for r in t) for t in CURVE)}
    assert (saved.task, saved.reference, saved.windows, saved.model_sha256) == ("ct", "b", {"a": [-160.0, 240.0], "b": None}, None)
    assert [p.name for p in tmp_path.iterdir()] == ["fusion.controls.json"]  # staged and renamed: nothing else left


def test_loaded_controls_go_into_the_parameter_node_as_auto_choice_does(tmp_path):
    from wdualmine.errors import InputError
    from WDualMineFusionLib.parameters import adoptSavedControls, controlsFileText, fittedCurveInUse, readJsonControl

    path = tmp_path / "f.controls.json"
    path.write_text(controlsFileText(CONTROLS, "ct", "auto controls: a curve", {"a": None, "b": None}, "b"))
    parameters = Parameters(referenceVolume=Volume("vtkMRMLScalarVolumeNode1"), secondVolume=Volume("vtkMRMLScalarVolumeNode2"))
    saved = adoptSavedControls(parameters, str(path))
    assert saved.chosen_by == "auto controls: a curve"
    assert (parameters.task, parameters.basePower, parameters.equalise, parameters.detailStrength) == (Task.ct, 1.25, 0.4375, 0.0)
    assert readJsonControl(parameters.pairCurve) == CURVE and fittedCurveInUse(parameters)  # kept for the volumes chosen now
    assert parameters.autoTune is False and parameters.batches == ["start", "end"]  # one change for the observers
    # a bad file: the engine's one-line message, and the sliders as they were
    before = dataclasses.replace(parameters, batches=[])
    bad = tmp_path / "bad.controls.json"
    bad.write_text(json.dumps({**json.loads(path.read_text()), "controls": {"equalise": 3}}))
    with pytest.raises(InputError, match=r"^The controls file .*bad\.controls\.json: equalise must be a number in \[0.0, 1.0\], got 3; "
                       r"save the controls again with the panel's Save controls\.\.\. \(or wdualmine fuse --save-controls\)"):
        adoptSavedControls(parameters, str(bad))
    assert dataclasses.replace(parameters, batches=[]) == before


def test_the_recorded_windows_are_those_the_fusion_reads(slicer_core, sample_paths):
    from WDualMineFusionLib.logic import WDualMineFusionLogic

    scene = make_scene()
    mri = load_volume(scene, sample_paths["MRI"], "MRI")
    pet = load_volume(scene, sample_paths["PET"], "PET")
    pet.GetDisplayNode().AutoWindowLevelOff()
    pet.GetDisplayNode().SetWindowLevel(4000.0, 2000.0)
    windows = WDualMineFusionLogic.recordedWindows(pet, mri, "display")
    assert windows["a"] == [0.0, 4000.0]
    expected = WDualMineFusionLogic.windowFromDisplay(mri)
    assert windows["b"] == ([expected.low, expected.high] if expected is not None else None)
    assert WDualMineFusionLogic.recordedWindows(pet, mri, "percentiles") == {"a": None, "b": None}
    assert np.isfinite(windows["a"]).all()
