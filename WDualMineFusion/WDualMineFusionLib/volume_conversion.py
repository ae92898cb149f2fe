"""MRML scalar volumes <-> SimpleITK images, with the full IJK->RAS geometry and parent transforms.

SimpleITK works in LPS, Slicer in RAS: IJKToRAS = diag(-1, -1, 1, 1) @ IJKToLPS. Arrays are (k, j, i) on
both sides. Parent transforms are never hardened on the input node: a linear transform chain is folded
into the image geometry (which is what hardening a linear transform does to a volume), and a non-linear
one is hardened on a temporary copy in a private scene.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import vtk
from vtk.util import numpy_support

import slicer

from .validation import FusionInputError

if TYPE_CHECKING:  # SimpleITK itself is imported where it is used: it slows Slicer's start
    import SimpleITK as sitk

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def vtkToNumpyMatrix(matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def numpyToVtkMatrix(array: np.ndarray) -> vtk.vtkMatrix4x4:
    matrix = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            matrix.SetElement(r, c, float(array[r, c]))
    return matrix


def ijkToRAS(volumeNode) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    volumeNode.GetIJKToRASMatrix(matrix)
    return vtkToNumpyMatrix(matrix)


def voxelArray(volumeNode) -> np.ndarray:
    """A (k, j, i) numpy view of the node's voxels (no copy; do not write to it)."""
    imageData = volumeNode.GetImageData()
    if imageData is None or imageData.GetPointData().GetScalars() is None:
        raise FusionInputError(f"volume '{volumeNode.GetName()}' has no voxels; load or create the volume first")
    dims = imageData.GetDimensions()
    scalars = imageData.GetPointData().GetScalars()
    components = scalars.GetNumberOfComponents()
    array = numpy_support.vtk_to_numpy(scalars)
    shape = (dims[2], dims[1], dims[0]) if components == 1 else (dims[2], dims[1], dims[0], components)
    return array.reshape(shape)


def transformToWorld(node) -> np.ndarray | None:
    """4x4 local-to-world matrix of the node's parent transform chain; None when the chain is not linear."""
    parent = node.GetParentTransformNode()
    if parent is None:
        return np.eye(4)
    if not parent.IsTransformToWorldLinear():
        return None
    matrix = vtk.vtkMatrix4x4()
    parent.GetMatrixTransformToWorld(matrix)
    return vtkToNumpyMatrix(matrix)


def matrixToImage(array: np.ndarray, ijkToRas: np.ndarray, name: str) -> sitk.Image:
    """A SimpleITK image of a (k, j, i) array with the geometry of an IJK->RAS matrix (copied)."""
    import SimpleITK as sitk  # here, not at import: the module loads at every Slicer start

    ijkToLps = RAS_TO_LPS @ ijkToRas
    columns = ijkToLps[:3, :3]
    spacing = np.linalg.norm(columns, axis=0)
    if np.any(spacing <= 0):
        raise FusionInputError(f"'{name}' has a zero voxel spacing; fix its geometry in the Volumes module")
    direction = columns / spacing
    if not np.allclose(direction.T @ direction, np.eye(3), atol=1e-4):
        raise FusionInputError(
            f"'{name}' has a sheared geometry (its IJK to RAS axes, including any parent transform, are not "
            "perpendicular); harden the transform and resample the volume (Resample Scalar/Vector/DWI Volume) first"
        )
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing([float(s) for s in spacing])
    image.SetOrigin([float(v) for v in ijkToLps[:3, 3]])
    image.SetDirection([float(v) for v in direction.flatten()])
    return image


def _hardenedCopyArrayAndMatrix(volumeNode) -> tuple[np.ndarray, np.ndarray]:
    """Harden a non-linear parent transform on a copy of the volume in a private scene (the input is untouched)."""
    scene = slicer.vtkMRMLScene()
    copy = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", volumeNode.GetName() + " (hardened copy)")
    copy.Copy(volumeNode)
    imageData = vtk.vtkImageData()
    imageData.DeepCopy(volumeNode.GetImageData())
    copy.SetAndObserveImageData(imageData)
    transform = scene.AddNewNodeByClass("vtkMRMLTransformNode")
    toWorld = vtk.vtkGeneralTransform()
    volumeNode.GetParentTransformNode().GetTransformToWorld(toWorld)
    transform.SetAndObserveTransformToParent(toWorld)
    copy.SetAndObserveTransformNodeID(transform.GetID())
    logic = slicer.vtkSlicerTransformLogic()
    if not logic.hardenTransform(copy):
        raise FusionInputError(
            f"could not harden the non-linear transform of '{volumeNode.GetName()}'; harden it in the Transforms module first"
        )
    return voxelArray(copy).copy(), ijkToRAS(copy)


def volumeToImage(volumeNode, frameNode=None) -> sitk.Image:
    """Copy a scalar volume into a SimpleITK image with its geometry in the frame of ``frameNode``.

    ``frameNode`` is another transformable node (normally the reference volume): the image is expressed in
    that node's local coordinates, i.e. world coordinates mapped back through the reference's parent
    transform, so the reference itself keeps its own grid exactly. ``None`` means world coordinates.
    """
    name = volumeNode.GetName()
    toWorld = transformToWorld(volumeNode)
    if toWorld is None:
        array, matrix = _hardenedCopyArrayAndMatrix(volumeNode)
    else:
        array, matrix = voxelArray(volumeNode), toWorld @ ijkToRAS(volumeNode)
    if frameNode is not None:
        frameToWorld = transformToWorld(frameNode)
        if frameToWorld is None:
            raise FusionInputError(
                f"the reference volume '{frameNode.GetName()}' is under a non-linear transform; harden it in the "
                "Transforms module (or choose the other volume as reference) first"
            )
        matrix = np.linalg.inv(frameToWorld) @ matrix
    return matrixToImage(array, matrix, name)


def writeArrayToVolume(array: np.ndarray, outputNode, referenceNode) -> None:
    """Put a (k, j, i[, c]) array into ``outputNode`` with the reference's geometry and parent transform exactly."""
    outputNode.SetIJKToRASMatrix(numpyToVtkMatrix(ijkToRAS(referenceNode)))
    parent = referenceNode.GetParentTransformNode()
    outputNode.SetAndObserveTransformNodeID(parent.GetID() if parent is not None else None)
    array = np.ascontiguousarray(array)
    components = 1 if array.ndim == 3 else array.shape[3]
    imageData = vtk.vtkImageData()
    imageData.SetDimensions(array.shape[2], array.shape[1], array.shape[0])
    vtkArray = numpy_support.numpy_to_vtk(array.reshape(-1, components) if components > 1 else array.ravel(), deep=True)
    vtkArray.SetNumberOfComponents(components)
    imageData.GetPointData().SetScalars(vtkArray)
    outputNode.SetAndObserveImageData(imageData)
    outputNode.Modified()
