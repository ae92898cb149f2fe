"""The fusion controls in the module's parameter node: adopting the controls auto chose.

No Qt and no MRML calls: it works on the parameter node wrapper (any object with its fields and
``StartModify``/``EndModify``), so the widget's Apply and the headless tests run the same code.
"""

from __future__ import annotations

import enum


def parameterName(control: str) -> str:
    """The parameter-node field of an engine control: ``detail_strength`` -> ``detailStrength``."""
    head, *rest = control.split("_")
    return head + "".join(part.title() for part in rest)


def writeControls(parameters, controls: dict) -> None:
    """Set each control's field, converted to the field's type (an enum field takes the member of that name)."""
    for control, value in controls.items():
        name = parameterName(control)
        current = getattr(parameters, name)
        setattr(parameters, name, type(current)[value] if isinstance(current, enum.Enum) else type(current)(value))


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
        parameters.autoTune = False
    finally:
        parameters.EndModify(wasModified)
    return True
