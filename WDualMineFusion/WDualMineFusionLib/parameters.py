"""The fusion controls in the module's parameter node: adopting the controls auto chose.

No Qt and no MRML calls: it works on the parameter node wrapper (any object with its fields and
``StartModify``/``EndModify``), so the widget's Apply and the headless tests run the same code.
"""

from __future__ import annotations

import enum
import json

# controls held in the parameter node as JSON text ("" for None): the curve auto adapted to the pair
JSON_CONTROLS = ("pair_curve",)


def parameterName(control: str) -> str:
    """The parameter-node field of an engine control: ``detail_strength`` -> ``detailStrength``."""
    head, *rest = control.split("_")
    return head + "".join(part.title() for part in rest)


def writeControls(parameters, controls: dict) -> None:
    """Set each control's field, converted to the field's type (an enum field takes the member of that name)."""
    for control, value in controls.items():
        name = parameterName(control)
        if control in JSON_CONTROLS:
            setattr(parameters, name, "" if value is None else json.dumps(value))
            continue
        current = getattr(parameters, name)
        setattr(parameters, name, type(current)[value] if isinstance(current, enum.Enum) else type(current)(value))


def readJsonControl(text: str):
    """A JSON-held control's value from its parameter-node text ("" is None)."""
    return json.loads(text) if text else None


def adoptAutoChoice(parameters, nodes) -> bool:
    """After an auto-tuned fusion: its controls into the parameter node, and auto off; False when auto was off.

    The sliders then show the chosen values and the live preview starts from them; auto goes off so that the
    user's later tweaks are what the next Apply fuses. One batched modification: observers see one change.
    """
    if nodes.autoDescription is None:
        return False
    wasModified = parameters.StartModify()
    try:
        writeControls(parameters, nodes.controls)
        parameters.pairCurveFor = pairKey(parameters)
        parameters.autoTune = False
    finally:
        parameters.EndModify(wasModified)
    return True


def pairKey(parameters) -> str:
    """Which two volumes the parameter node holds (their node IDs), to tell whether a pair curve is theirs."""
    volumes = (parameters.referenceVolume, parameters.secondVolume)
    return "|".join(volume.GetID() if volume is not None else "" for volume in volumes)


def forgetStalePairCurve(parameters) -> bool:
    """Drop a curve adapted to other volumes than those now chosen (it suits only its own pair); True if dropped."""
    if parameters.pairCurve and parameters.pairCurveFor != pairKey(parameters):
        parameters.pairCurve = ""
        return True
    return False


def fittedCurveInUse(parameters) -> bool:
    """Whether the Reliability curve slider scales a curve auto fitted to the two volumes now chosen (not the
    model's own): the panel says so next to the slider, since otherwise only the log would tell."""
    return bool(parameters.pairCurve) and parameters.pairCurveFor == pairKey(parameters)


# Controls files: the command line's ``wdualmine fuse --save-controls``/``--controls`` and the panel's Save/Load
# controls buttons write and read one format (the engine's ``controls_file``), so a choice moves between them.


def controlsFileText(controls: dict, task: str, chosenBy: str, windows: dict, reference: str) -> str:
    """A controls file's text for engine controls (a dict, as ``controlsFromParameterNode`` gives them).

    ``windows``: "a"/"b" (the functional/CT input, the MRI) to [low, high] or None (percentiles, not recorded);
    ``reference``: whose grid the fusion is on, "a" or "b". The model's checksum is not recorded here: the panel
    always runs the shipped model of the task.
    """
    from wdualmine.controls import FusionControls
    from wdualmine.controls_file import SavedControls, controls_text

    return controls_text(SavedControls(FusionControls(**controls), task, chosenBy, None, windows, reference))


def writeControlsFile(path: str, text: str) -> None:
    """Write a controls file all or nothing (the engine's staged writer: synced, read back, then renamed)."""
    from pathlib import Path

    from wdualmine.io.writing import TextOutput, write_all

    write_all({Path(path): TextOutput(text)})


def adoptSavedControls(parameters, path: str):
    """A controls file's controls and task into the parameter node, auto off; returns what was read.

    Like ``adoptAutoChoice``: the sliders show the file's values and a fitted curve in it is kept for the
    two volumes chosen now (so choose them first). A bad file raises the engine's InputError, which names
    the problem and the fix; the parameter node is then unchanged.
    """
    from wdualmine.controls_file import PANEL_SAVER, read_controls_file

    saved = read_controls_file(path, f"The controls file {path}", PANEL_SAVER)
    wasModified = parameters.StartModify()
    try:
        writeControls(parameters, saved.controls.as_dict())
        parameters.task = type(parameters.task)[saved.task]
        parameters.pairCurveFor = pairKey(parameters)
        parameters.autoTune = False
    finally:
        parameters.EndModify(wasModified)
    return saved
