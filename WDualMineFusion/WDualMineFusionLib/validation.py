"""Checks of the two input volume nodes, with messages that name the problem and the fix."""

from __future__ import annotations

import numpy as np

try:  # the engine's error type, so the CLI and the module catch one exception
    from wdualmine.errors import InputError as _EngineInputError
except ImportError:  # the engine folder is not on sys.path (should not happen inside the module)
    _EngineInputError = ValueError


class FusionInputError(_EngineInputError):
    """Bad input: the message says what is wrong and what to do."""


TASKS = ("ct", "pet", "spect")
FUNCTIONAL_ROLES = ("second", "reference")


def _describe(node) -> str:
    return f"'{node.GetName()}'" if node is not None else "(none)"


def checkVolumeNode(node, role: str) -> None:
    """One input: a scalar, non-label, 3-D volume with voxels."""
    if node is None:
        raise FusionInputError(f"no {role} volume is selected; choose one in the Inputs section")
    if not node.IsA("vtkMRMLScalarVolumeNode"):
        raise FusionInputError(
            f"the {role} volume {_describe(node)} is a {node.GetClassName()}, not a scalar volume; choose a scalar volume"
        )
    if node.IsA("vtkMRMLLabelMapVolumeNode"):
        raise FusionInputError(
            f"the {role} volume {_describe(node)} is a label map; fusion needs intensity images (CT, PET, SPECT or MRI). "
            "Choose the image volume instead"
        )
    if node.IsA("vtkMRMLVectorVolumeNode") or node.IsA("vtkMRMLDiffusionWeightedVolumeNode") or node.IsA("vtkMRMLTensorVolumeNode"):
        raise FusionInputError(
            f"the {role} volume {_describe(node)} has several components per voxel ({node.GetClassName()}); "
            "convert it to a scalar volume first (Vector to Scalar Volume module)"
        )
    imageData = node.GetImageData()
    if imageData is None or imageData.GetPointData().GetScalars() is None:
        raise FusionInputError(f"the {role} volume {_describe(node)} has no voxels; load the image data first")
    components = imageData.GetNumberOfScalarComponents()
    if components != 1:
        raise FusionInputError(
            f"the {role} volume {_describe(node)} has {components} components per voxel; convert it to a scalar volume "
            "first (Vector to Scalar Volume module)"
        )
    dims = imageData.GetDimensions()
    if min(dims) < 1 or sorted(dims)[1] < 8:
        raise FusionInputError(
            f"the {role} volume {_describe(node)} is {dims[0]} x {dims[1]} x {dims[2]} voxels; each slice needs at least "
            "8 x 8 voxels"
        )
    if dims[2] == 1 or dims[1] == 1 or dims[0] == 1:
        raise FusionInputError(
            f"the {role} volume {_describe(node)} is a single 2-D slice ({dims[0]} x {dims[1]} x {dims[2]}); the module "
            "fuses 3-D volumes. Use the command line (wdualmine fuse) for 2-D images"
        )


def checkPair(referenceNode, secondNode) -> None:
    checkVolumeNode(referenceNode, "reference")
    checkVolumeNode(secondNode, "second")
    if referenceNode is secondNode or referenceNode.GetID() == secondNode.GetID():
        raise FusionInputError(
            f"the reference and second volumes are the same node {_describe(referenceNode)}; choose two different "
            "volumes (e.g. the MRI as reference and the PET as second)"
        )


def checkTask(task: str) -> str:
    task = (task or "").lower()
    if task not in TASKS:
        raise FusionInputError(f"unknown task {task!r}; choose one of {', '.join(TASKS)} (the modality of the functional/CT input)")
    return task


def checkFunctional(functional: str) -> str:
    if functional not in FUNCTIONAL_ROLES:
        raise FusionInputError(
            f"functional must be 'second' or 'reference' (which input is the CT/PET/SPECT), got {functional!r}"
        )
    return functional


def checkFinite(array: np.ndarray, name: str) -> None:
    """A volume with no finite voxel at all is an error; a few NaN/Inf voxels are reported by the engine."""
    if array.dtype.kind == "f" and not np.isfinite(array).any():
        raise FusionInputError(f"every voxel of '{name}' is NaN or infinite; check how the volume was computed")
