"""Physical-space geometry checks and resampling onto the reference grid."""

from __future__ import annotations

import itertools

import numpy as np
import SimpleITK as sitk

from ..errors import InputError


def physical_bounds(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned physical bounding box (LPS, mm) of the image's voxel extent (voxel edges included)."""
    size = image.GetSize()
    corners = []
    for corner in itertools.product(*[(-0.5, n - 0.5) for n in size]):
        corners.append(image.TransformContinuousIndexToPhysicalPoint(corner))
    corners = np.array(corners)
    return corners.min(axis=0), corners.max(axis=0)


def overlap_fraction(reference: sitk.Image, other: sitk.Image) -> float:
    """Fraction of the reference's bounding box that the other image's bounding box covers."""
    low_r, high_r = physical_bounds(reference)
    low_o, high_o = physical_bounds(other)
    extent = np.clip(np.minimum(high_r, high_o) - np.maximum(low_r, low_o), 0, None)
    reference_extent = np.maximum(high_r - low_r, 1e-9)
    return float(np.prod(extent / reference_extent))


def check_overlap(reference: sitk.Image, other: sitk.Image, names: tuple[str, str]) -> float:
    fraction = overlap_fraction(reference, other)
    if fraction <= 0.0:
        low_r, high_r = physical_bounds(reference)
        low_o, high_o = physical_bounds(other)
        raise InputError(
            f"{names[0]} and {names[1]} do not overlap in physical space "
            f"(bounding boxes {np.round(low_r, 1).tolist()}..{np.round(high_r, 1).tolist()} mm and "
            f"{np.round(low_o, 1).tolist()}..{np.round(high_o, 1).tolist()} mm); register them first "
            "(e.g. with Slicer's General Registration) or check their origins"
        )
    return fraction


def resample_onto(moving: sitk.Image, reference: sitk.Image) -> sitk.Image:
    """Resample ``moving`` onto the reference grid in physical space (linear), never by voxel count.

    Outside its field of view the moving image is filled with its own minimum,
    which windowing maps to background. Integer images stay integer, so a big
    second volume is not turned into a full float copy.
    """
    minimum = float(np.min(sitk.GetArrayViewFromImage(moving)))
    return sitk.Resample(moving, reference, sitk.Transform(), sitk.sitkLinear, minimum, moving.GetPixelID())


def same_grid(a: sitk.Image, b: sitk.Image, tolerance: float = 1e-4) -> bool:
    return (
        a.GetSize() == b.GetSize()
        and np.allclose(a.GetSpacing(), b.GetSpacing(), atol=tolerance)
        and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=tolerance)
        and np.allclose(a.GetDirection(), b.GetDirection(), atol=tolerance)
    )


AXIS_NAMES = {"sagittal": 0, "coronal": 1, "axial": 2}  # physical LPS axis each slice plane is normal to


def slice_axis(image: sitk.Image, axis: str = "auto") -> int:
    """The numpy axis (of the k, j, i array) to slice along.

    "auto" and "axial" pick the index axis closest to the superior-inferior
    direction (the acquisition axis of most axial scans); "coronal" and
    "sagittal" pick the ones closest to anterior-posterior and left-right.
    """
    axis = (axis or "auto").lower()
    physical = AXIS_NAMES.get("axial" if axis == "auto" else axis)
    if physical is None:
        raise InputError(f"unknown slicing axis {axis!r}; use auto, axial, coronal or sagittal")
    direction = np.array(image.GetDirection()).reshape(3, 3)  # column c = direction of index axis c
    index_axis = int(np.argmax(np.abs(direction[physical, :])))
    return 2 - index_axis
