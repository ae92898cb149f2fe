"""A stand-in for the module's parameter node wrapper (no Qt, no Slicer application): the fields the controls
touch, typed as in WDualMineFusionParameterNode, and its batched-modification interface."""

from __future__ import annotations

import dataclasses
import enum


class Base(enum.Enum):
    plain = 1
    zscore = 2


class Task(enum.Enum):
    pet = 1
    spect = 2
    ct = 3


class Volume:
    """A volume node as the parameter functions see it: an ID."""

    def __init__(self, id):
        self.id = id

    def GetID(self):
        return self.id


@dataclasses.dataclass
class Parameters:
    task: Task = Task.pet
    detailStrength: float = 1.0
    reliabilityBias: float = 0.0
    arbitrationBias: float = 0.0
    base: Base = Base.plain
    basePower: float = 1.0
    curveStrength: float = 1.0
    equalise: float = 0.0
    emphasis: float = 0.0
    pairCurve: str = ""
    pairCurveFor: str = ""
    autoTune: bool = True
    referenceVolume: object = None
    secondVolume: object = None
    batches: list = dataclasses.field(default_factory=list)  # "start"/"end" per StartModify/EndModify

    def StartModify(self):
        self.batches.append("start")
        return 0

    def EndModify(self, wasModified):
        self.batches.append("end")
