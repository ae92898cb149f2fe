"""Are the two inputs aligned? The engine's mutual-information check in the panel's words, and an optional rigid registration.

The check itself is the engine's (``wdualmine.volume.alignment``: the pair's normalised mutual information
against that of the second volume shifted by a few centimetres), so the panel, the web app and the command line
flag the same pairs; here it only names the panel's way to register. The registration (SimpleITK, Mattes mutual
information, rigid Euler3D) returns a matrix; the logic puts it into a new vtkMRMLLinearTransformNode and never
resamples or modifies the voxels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # SimpleITK itself is imported where it is used: it slows Slicer's start
    import SimpleITK as sitk

    from wdualmine.volume.alignment import AlignmentCheck

# how the warning ends in the panel (and in the web app, which shares its logic)
PANEL_REMEDY = "check them overlaid, or run the rigid registration in the Advanced section (or General Registration (BRAINS)) before fusing"


def checkAlignment(a: np.ndarray, b: np.ndarray, spacing_kji: tuple[float, float, float]) -> AlignmentCheck:
    """The engine's alignment check of two windowed 0..1 arrays on one grid, its warning naming the panel's registration."""
    from wdualmine.volume.alignment import check_alignment

    return check_alignment(a, b, spacing_kji, remedy=PANEL_REMEDY)


def rigidRegistration(fixed: sitk.Image, moving: sitk.Image, iterations: int = 100, seed: int = 1) -> np.ndarray:
    """Rigid (Euler3D) registration by Mattes mutual information; returns the 4x4 moving-to-fixed matrix in RAS.

    Both images carry their world geometry (parent transforms folded in). The result is what a parent
    transform of the moving volume must do to bring it onto the fixed one.
    """
    import SimpleITK as sitk

    fixed32 = sitk.Cast(fixed, sitk.sitkFloat32)
    moving32 = sitk.Cast(moving, sitk.sitkFloat32)
    initial = sitk.CenteredTransformInitializer(fixed32, moving32, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS)
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(0.2, seed)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=2.0, minStep=1e-3, numberOfIterations=iterations, relaxationFactor=0.6)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([4, 2, 1])
    method.SetSmoothingSigmasPerLevel([2, 1, 0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(initial, inPlace=False)
    transform = method.Execute(fixed32, moving32)
    if isinstance(transform, sitk.CompositeTransform):
        transform = transform.GetNthTransform(transform.GetNumberOfTransforms() - 1)
    euler = sitk.Euler3DTransform(transform)
    rotation = np.array(euler.GetMatrix()).reshape(3, 3)
    center = np.array(euler.GetCenter())
    translation = np.array(euler.GetTranslation())
    fixedToMovingLps = np.eye(4)
    fixedToMovingLps[:3, :3] = rotation
    fixedToMovingLps[:3, 3] = center + translation - rotation @ center
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    fixedToMovingRas = flip @ fixedToMovingLps @ flip
    return np.linalg.inv(fixedToMovingRas)
