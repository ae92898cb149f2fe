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
