"""Are the two inputs aligned? A mutual-information check, and an optional rigid registration.

The check compares the normalised mutual information (NMI, Studholme: (H(A) + H(B)) / H(A, B), 1 = independent,
2 = identical) of the two volumes on the reference grid with that of the second volume shifted by a few
centimetres: aligned multimodal pairs lose a clear share of their NMI when shifted, misaligned ones do not.
The registration (SimpleITK, Mattes mutual information, rigid Euler3D) returns a matrix; the logic puts it into
a new vtkMRMLLinearTransformNode and never resamples or modifies the voxels.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # SimpleITK itself is imported where it is used: it slows Slicer's start
    import SimpleITK as sitk

BINS = 32
SAMPLE_LIMIT = 400_000
# below this relative NMI gain over a shifted copy the pair looks misaligned (measured on the sample pair:
# aligned, NMI 1.205 vs 1.038 shifted, i.e. a gain of about 4.4; test_alignment_check_flags_a_shift covers a 35 mm shift)
MISALIGNED_GAIN = 0.3
SHIFT_MM = 20.0


def normalisedMutualInformation(a: np.ndarray, b: np.ndarray, bins: int = BINS) -> float:
    """Studholme NMI of two 0..1 arrays over the voxels where either is non-zero (a strided sample)."""
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    keep = (a > 0) | (b > 0)
    a, b = a[keep], b[keep]
    step = max(1, a.size // SAMPLE_LIMIT)
    a, b = a[::step], b[::step]
    if a.size < 100:
        return 1.0
    joint, _, _ = np.histogram2d(a, b, bins=bins, range=[[0, 1], [0, 1]])
    joint = joint / joint.sum()

    def entropy(p):
        p = p[p > 0]
        return float(-np.sum(p * np.log(p)))

    joint_entropy = entropy(joint)
    if joint_entropy <= 0:
        return 1.0
    return (entropy(joint.sum(axis=1)) + entropy(joint.sum(axis=0))) / joint_entropy


@dataclass
class AlignmentCheck:
    nmi: float
    nmiShifted: float
    gain: float  # (nmi - nmiShifted) / (nmiShifted - 1): relative NMI lost by shifting
    misaligned: bool
    message: str


def checkAlignment(a: np.ndarray, b: np.ndarray, spacing_kji: tuple[float, float, float]) -> AlignmentCheck:
    """Compare the NMI of the pair (windowed 0..1 arrays on one grid) with a copy of B shifted by SHIFT_MM."""
    nmi = normalisedMutualInformation(a, b)
    shifted = []
    for axis in range(3):
        voxels = max(1, int(round(SHIFT_MM / max(spacing_kji[axis], 1e-6))))
        if voxels < a.shape[axis] // 2:
            shifted.append(normalisedMutualInformation(a, np.roll(b, voxels, axis=axis)))
    nmiShifted = float(np.mean(shifted)) if shifted else 1.0
    gain = (nmi - nmiShifted) / max(nmiShifted - 1.0, 1e-6)
    misaligned = gain < MISALIGNED_GAIN
    if misaligned:
        message = (
            f"the two volumes may be misaligned: their mutual information (NMI {nmi:.3f}) is hardly higher than with one "
            f"of them shifted by {SHIFT_MM:.0f} mm (NMI {nmiShifted:.3f}). Check them overlaid, or run the rigid "
            "registration in the Advanced section (or General Registration (BRAINS)) before fusing"
        )
    else:
        message = f"the volumes look aligned (NMI {nmi:.3f}; {nmiShifted:.3f} when shifted by {SHIFT_MM:.0f} mm)"
    return AlignmentCheck(nmi, nmiShifted, gain, misaligned, message)


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
