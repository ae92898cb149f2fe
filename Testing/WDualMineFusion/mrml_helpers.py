"""Helpers for the MRML tests: scenes, sample volumes, volumes from numpy (needs slicer-core)."""

from __future__ import annotations

import numpy as np

LAYOUTS = ("Red", "Green", "Yellow")
ORIENTATIONS = {"Red": "Axial", "Green": "Coronal", "Yellow": "Sagittal"}


def make_scene():
    import slicer

    scene = slicer.vtkMRMLScene()
    colours = slicer.vtkSlicerColorLogic()
    colours.SetMRMLScene(scene)  # built-in and PET colour tables
    slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene)
    for name in LAYOUTS:
        sliceNode = scene.AddNewNodeByClass("vtkMRMLSliceNode")
        sliceNode.SetName(name)
        sliceNode.SetLayoutName(name)
        sliceNode.SetOrientation(ORIENTATIONS[name])
        composite = scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode")
        composite.SetLayoutName(name)
    scene._keep = colours  # the colour logic must outlive the fixture's scope
    return scene


def load_volume(scene, path, name):
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(path))
    assert storage.ReadData(node), f"could not read {path}"
    node.SetAndObserveStorageNodeID(storage.GetID())
    node.CreateDefaultDisplayNodes()  # after the data: auto window/level is computed
    return node


def volume_from_array(scene, array, ijk_to_ras, name, node_class="vtkMRMLScalarVolumeNode"):
    """A volume from a (k, j, i[, c]) array with a full IJK to RAS matrix (display node made after the data)."""
    import vtk
    from vtk.util.numpy_support import numpy_to_vtk

    node = scene.AddNewNodeByClass(node_class, name)
    node.SetIJKToRASMatrix(_vtk(ijk_to_ras))
    array = np.ascontiguousarray(array)
    components = 1 if array.ndim == 3 else array.shape[3]
    image = vtk.vtkImageData()
    image.SetDimensions(array.shape[2], array.shape[1], array.shape[0])
    scalars = numpy_to_vtk(array.reshape(-1, components) if components > 1 else array.ravel(), deep=True)
    scalars.SetNumberOfComponents(components)
    image.GetPointData().SetScalars(scalars)
    node.SetAndObserveImageData(image)
    node.CreateDefaultDisplayNodes()
    return node


def _vtk(matrix):
    import vtk

    out = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            out.SetElement(r, c, float(matrix[r][c]))
    return out
