"""Simulated validation cases: a PET, SPECT or CT volume paired with an MRI, and a lesion mask.

The cases are held out from all tuning of the fusion settings: they exist to
check that the automatic settings generalise to volumes nobody looked at while
choosing them. ``write_set`` writes a folder that ``wdualmine eval-volumes
--manifest OUT_DIR/manifest.csv`` scores directly; ``wdualmine simulate``
is its command line.

Everything is made from one T1 MRI (by default the bundled skull-stripped MNI
template ``MRI_T1.nrrd``) and a seed. Per case:

* a tissue model of the T1: a brain mask (threshold, largest component, holes
  filled), CSF / grey / white fractions by linear unmixing between three
  intensity classes of the brain, and around the brain a few millimetres of
  CSF, a skull of varying thickness (dense inner and outer tables, lighter
  diploe) that follows the brain's axial convex hulls (what the hulls add
  between the lobes at the skull base is filled with diploe-like bone) and a
  thin scalp, then air. The T1 is assumed skull stripped (as the template is);
  the MRI of the case keeps its own content, so the skull is an edge that only
  the CT has, as on a real skull-stripped pair. There is no face, neck or
  sinus: the slices below the brain are the least realistic part;
* 1-3 ellipsoid lesions (8-25 mm axes, randomly oriented) inside the brain,
  written as a mask on the MRI grid. PET: 2-6x the uptake of the tissue around
  it; SPECT: hot (1.5-2.5x) or cold (0.2-0.6x) perfusion; CT: 10-40 HU above or
  below the tissue around it;
* the functional volume as an acquisition would give it: PET in SUV (float32,
  grey matter about 3x white, 5-8 mm FWHM, Poisson-like correlated noise, 3-4 mm
  voxels), SPECT in counts (uint16, grey about 2x white, 10-15 mm FWHM, Poisson
  noise, 4-5 mm voxels), CT in HU (int16, 0.9-1.1 x 0.9-1.1 x 2-3 mm voxels,
  Gaussian noise of 8-30 HU, a few faint streaks through dense bone). Each has
  its own grid (identity direction, its own origin and extent) in the MRI's
  physical frame, so fusion and scoring resample it by physical coordinates;
* the MRI with a smooth bias field (10-20 %), a gamma of 0.8-1.25, Rician noise
  and an arbitrary intensity scale and type, on the T1's own grid.

Every random number comes from ``numpy.random.default_rng((seed, kind code))``,
so a case is reproducible bit for bit on the same software stack. The drawn
parameters of every case are written to ``simulation.json`` next to the
manifest. Engine layer: NumPy and SimpleITK only.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from ..io.writing import write_all
from ..volume.geometry import physical_bounds

KINDS = ("pet", "spect", "ct")
KIND_CODES = {"pet": 1, "spect": 2, "ct": 3}  # mixed into the seed, so a PET and a CT of one seed differ
MANIFEST_NAME = "manifest.csv"
PARAMETERS_NAME = "simulation.json"
PARTIAL_PREFIX = ".partial-"  # files being written; renamed when complete

FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))

# the tissue model is built on the T1's grid (coarsened to this, if finer) padded by PAD_MM on every side,
# so the skull and the scalp (at most 18 mm) and the blur fit around a brain that fills the T1's field of view
MODEL_MIN_SPACING_MM = 1.5
PAD_MM = 24.0
# the functional field of view may reach this far beyond the MRI's (where the brain model is only extrapolated)
FOV_BEYOND_MRI_MM = 12.0
LESION_AXES_MM = (8.0, 25.0)  # full lengths of the ellipsoid axes
LESION_SHELL_MM = 8.0  # "the tissue around a lesion": up to this far outside it, inside the brain


# ---- the anatomy of a T1 ----------------------------------------------------------------------------------


@dataclass
class Anatomy:
    """What every case of one T1 shares: the T1, its brain mask and the tissue model on a padded grid."""

    t1: sitk.Image  # float32, the T1's own grid (the MRI grid of every case)
    brain: np.ndarray  # bool (k, j, i) on the T1 grid
    depth_mm: np.ndarray  # distance inside the brain to its surface (0 outside), on the T1 grid
    model: sitk.Image  # reference image of the model grid (padded, maybe coarser)
    distance_mm: np.ndarray  # signed distance to the brain surface on the model grid, negative inside
    skull_distance_mm: np.ndarray  # signed distance to the brain's envelope (axial convex hulls): where the skull sits
    fractions: dict[str, np.ndarray]  # csf / grey / white fractions inside the brain, on the model grid
    class_means: tuple[float, float, float]  # T1 intensity of CSF, grey and white matter


def read_t1(path: Path | str | None = None) -> sitk.Image:
    """The T1 at ``path`` (default: the bundled MRI_T1.nrrd) as float32, checked to be a 3-D scalar volume."""
    from . import sample_paths

    if path is None:
        path = sample_paths()["MRI"]
    path = Path(path)
    if not path.is_file():
        raise InputError(f"MRI {path} does not exist; give a 3-D T1 volume (NIfTI, NRRD, MHA) or leave out --mri to use the bundled MRI_T1.nrrd")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown reason"
        raise InputError(f"cannot read the MRI {path} ({first_line}); give a 3-D T1 volume SimpleITK can read (NIfTI, NRRD, MHA)") from None
    return checked_t1(image, str(path))


def checked_t1(image: sitk.Image, name: str = "the MRI") -> sitk.Image:
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"{name} is not a 3-D single-channel volume ({image.GetDimension()}-D, "
                         f"{image.GetNumberOfComponentsPerPixel()} components); give a 3-D T1 MRI")
    if min(image.GetSize()) < 8:
        raise InputError(f"{name} is too small ({image.GetSize()} voxels); give a 3-D T1 MRI of a whole brain")
    return sitk.Cast(image, sitk.sitkFloat32)


def _brain_mask(t1: np.ndarray) -> np.ndarray:
    """Foreground of a skull-stripped T1: above 15 % of its bright end, the largest component, holes filled."""
    positive = t1[t1 > 0]
    if positive.size == 0:
        return np.zeros(t1.shape, bool)
    above = sitk.GetImageFromArray((t1 > 0.15 * np.percentile(positive, 99)).astype(np.uint8))
    components = sitk.RelabelComponent(sitk.ConnectedComponent(above), sortByObjectSize=True)
    largest = sitk.Equal(components, 1)
    # closing first so a thin sulcus opening to the outside does not keep a ventricle from being filled
    closed = sitk.BinaryMorphologicalClosing(sitk.Cast(largest, sitk.sitkUInt8), [1, 1, 1])
    return sitk.GetArrayFromImage(sitk.BinaryFillhole(closed)) > 0


def _class_means(values: np.ndarray) -> tuple[float, float, float]:
    """CSF-, grey- and white-like intensities: 1-D k-means with 3 classes started at the 10/50/90 % quantiles."""
    means = np.percentile(values, [10, 50, 90]).astype(np.float64)
    for _ in range(30):
        label = np.argmin(np.abs(values[:, None] - means[None, :]), axis=1)
        updated = np.array([values[label == c].mean() if np.any(label == c) else means[c] for c in range(3)])
        if np.allclose(updated, means):
            break
        means = updated
    means = np.sort(means)
    if not (means[0] < means[1] < means[2]):
        raise InputError("the MRI's brain has too little contrast to tell CSF, grey and white matter apart; give a T1-weighted MRI")
    return float(means[0]), float(means[1]), float(means[2])


def _unmix(t1: np.ndarray, brain: np.ndarray, means: tuple[float, float, float]) -> dict[str, np.ndarray]:
    """Tissue fractions by linear unmixing between the neighbouring class means (partial volume), 0 outside."""
    csf_level, grey_level, white_level = means
    to_grey = np.clip((t1 - csf_level) / (grey_level - csf_level), 0.0, 1.0)
    to_white = np.clip((t1 - grey_level) / (white_level - grey_level), 0.0, 1.0)
    white = to_white
    grey = np.where(t1 < grey_level, to_grey, 1.0 - to_white)
    csf = 1.0 - grey - white
    return {"csf": csf * brain, "grey": grey * brain, "white": white * brain}


def _model_grid(t1: sitk.Image) -> sitk.Image:
    """The T1's grid, at least MODEL_MIN_SPACING_MM coarse, grown by PAD_MM on every side (same direction)."""
    spacing = np.maximum(np.array(t1.GetSpacing()), MODEL_MIN_SPACING_MM)
    extent = np.array(t1.GetSize()) * np.array(t1.GetSpacing())  # voxel edges to voxel edges, along the axes
    size = np.ceil((extent + 2 * PAD_MM) / spacing).astype(int)
    direction = np.array(t1.GetDirection()).reshape(3, 3)
    first_edge = np.array(t1.GetOrigin()) - direction @ (0.5 * np.array(t1.GetSpacing()))
    centre_extent = extent + 2 * PAD_MM
    # centred on the T1's box, so the padding is the same on both sides
    origin = first_edge + direction @ (0.5 * (centre_extent - size * spacing) - PAD_MM + 0.5 * spacing)
    grid = sitk.Image([int(n) for n in size], sitk.sitkFloat32)
    grid.SetSpacing([float(s) for s in spacing])
    grid.SetOrigin([float(o) for o in origin])
    grid.SetDirection(t1.GetDirection())
    return grid


def _distance_image(mask: np.ndarray, reference: sitk.Image) -> sitk.Image:
    """Signed distance in mm to the mask's surface, negative inside."""
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    image.CopyInformation(reference)
    return sitk.SignedMaurerDistanceMap(image, insideIsPositive=False, squaredDistance=False, useImageSpacing=True)


def _signed_distance(mask: np.ndarray, reference: sitk.Image) -> np.ndarray:
    """Signed distance in mm (negative inside), smoothed so that the layers built on it have no voxel steps."""
    smooth = sitk.SmoothingRecursiveGaussian(_distance_image(mask, reference), 1.5)
    return sitk.GetArrayFromImage(smooth).astype(np.float64)


def _convex_hull_2d(points: np.ndarray) -> np.ndarray:
    """Vertices (counter-clockwise) of the convex hull of 2-D points, by Andrew's monotone chain."""
    points = np.unique(points, axis=0)  # sorted by the first coordinate, then the second
    if len(points) < 3:
        return points

    def turns_left(o, a, b) -> bool:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]) > 0

    def chain(ordered):
        hull: list = []
        for point in ordered:
            while len(hull) >= 2 and not turns_left(hull[-2], hull[-1], point):
                hull.pop()
            hull.append(point)
        return hull[:-1]

    ordered = [tuple(point) for point in points.tolist()]
    return np.array(chain(ordered) + chain(ordered[::-1]))


def _fill_convex(shape: tuple[int, int], hull: np.ndarray) -> np.ndarray:
    """The pixels (row, column) inside or on a counter-clockwise convex polygon."""
    rows, columns = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    inside = np.ones(shape, bool)
    if len(hull) < 3:
        inside[:] = False
        inside[tuple(hull.T)] = True
        return inside
    for start, end in zip(hull, np.roll(hull, -1, axis=0)):
        edge = end - start
        inside &= edge[0] * (columns - start[1]) - edge[1] * (rows - start[0]) >= -1e-9
    return inside


def _envelope(mask: np.ndarray, reference: sitk.Image) -> np.ndarray:
    """The brain's axial convex hulls: where the skull sits.

    Taken plane by plane across the array axis closest to the physical z axis, so at the skull base the skull goes
    around the temporal lobes, the brainstem and the cerebellum together (what the hull adds between them is the
    skull base) instead of ringing each one, and over the top it follows the brain's convex outline.
    """
    direction = np.array(reference.GetDirection()).reshape(3, 3)
    axial = 2 - int(np.argmax(np.abs(direction[2])))  # numpy axis (k, j, i order) along the image axis nearest z
    moved = np.moveaxis(mask, axial, 0)
    hulls = np.zeros_like(moved)
    for plane in range(moved.shape[0]):
        rows = np.flatnonzero(moved[plane].any(axis=1))
        if rows.size == 0:
            continue
        # the leftmost and rightmost pixel of each row carry the whole hull
        first = moved[plane][rows].argmax(axis=1)
        last = moved[plane].shape[1] - 1 - moved[plane][rows][:, ::-1].argmax(axis=1)
        points = np.concatenate([np.stack([rows, first], 1), np.stack([rows, last], 1)])
        hulls[plane] = _fill_convex(moved[plane].shape, _convex_hull_2d(points))
    return np.moveaxis(hulls, 0, axial) | mask


def anatomy_from_t1(t1: sitk.Image) -> Anatomy:
    """The brain mask, tissue classes and padded tissue model of a (skull-stripped) T1."""
    t1 = checked_t1(t1)
    array = sitk.GetArrayFromImage(t1).astype(np.float64)
    brain = _brain_mask(array)
    if brain.sum() < 500:
        raise InputError(f"the MRI has no brain-sized foreground ({int(brain.sum())} voxels above 15 % of its bright end); "
                         "give a skull-stripped T1 MRI of a whole brain")
    means = _class_means(array[brain])
    mask_image = sitk.GetImageFromArray(brain.astype(np.uint8))
    mask_image.CopyInformation(t1)
    depth = sitk.GetArrayFromImage(sitk.SignedMaurerDistanceMap(mask_image, insideIsPositive=True, squaredDistance=False, useImageSpacing=True))
    depth = np.clip(depth.astype(np.float64), 0.0, None)

    model = _model_grid(t1)
    # nearest-neighbour extrapolation: where the brain touches the T1's edge (the template's brainstem) it goes on
    # beyond it, instead of ending in a flat cut that the skull would close over
    t1_on_model = sitk.Resample(t1, model, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32, True)
    model_array = sitk.GetArrayFromImage(t1_on_model).astype(np.float64)
    model_brain = _brain_mask(model_array)
    return Anatomy(
        t1=t1,
        brain=brain,
        depth_mm=depth,
        model=model,
        distance_mm=_signed_distance(model_brain, model),
        skull_distance_mm=_signed_distance(_envelope(model_brain, model), model),
        fractions=_unmix(model_array, model_brain, means),
        class_means=means,
    )


# ---- geometry helpers -------------------------------------------------------------------------------------


def _image(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image


def _grid(origin, spacing, size) -> sitk.Image:
    grid = sitk.Image([int(n) for n in size], sitk.sitkFloat32)
    grid.SetOrigin([float(v) for v in origin])
    grid.SetSpacing([float(v) for v in spacing])
    return grid  # identity direction


def _resample(array: np.ndarray, source: sitk.Image, target: sitk.Image, outside: float) -> np.ndarray:
    moved = sitk.Resample(_image(array.astype(np.float32), source), target, sitk.Transform(), sitk.sitkLinear, float(outside), sitk.sitkFloat32)
    return sitk.GetArrayFromImage(moved).astype(np.float64)


def _smooth(array: np.ndarray, reference: sitk.Image, sigma_mm: float) -> np.ndarray:
    smooth = sitk.SmoothingRecursiveGaussian(_image(array.astype(np.float32), reference), float(sigma_mm))
    return sitk.GetArrayFromImage(smooth).astype(np.float64)


def _smooth_field(rng: np.random.Generator, shape: tuple[int, ...], order: int = 2) -> np.ndarray:
    """A smooth random field (k, j, i): a random mix of the cosine harmonics up to ``order`` along each axis, max |value| 1."""
    phase = [np.linspace(0.0, np.pi, n) for n in shape]
    weights = rng.standard_normal((order + 1,) * 3)
    result = np.zeros(shape)
    for a in range(order + 1):
        for b in range(order + 1):
            for c in range(order + 1):
                if a == b == c == 0:
                    continue
                weight = weights[a, b, c] / (a + b + c)  # lower harmonics dominate: a smooth field
                result += weight * np.cos(a * phase[0])[:, None, None] * np.cos(b * phase[1])[None, :, None] * np.cos(c * phase[2])[None, None, :]
    return result / max(float(np.abs(result).max()), 1e-12)


def _step(x: np.ndarray, ramp_mm: float) -> np.ndarray:
    """0 below -ramp/2, 1 above +ramp/2, linear between: a partial-volume edge."""
    return np.clip(0.5 + x / ramp_mm, 0.0, 1.0)


# ---- lesions ----------------------------------------------------------------------------------------------


@dataclass
class Lesion:
    """An ellipsoid in physical LPS millimetres and its contrast (a ratio for PET/SPECT, HU for CT)."""

    center_mm: tuple[float, float, float]
    semi_axes_mm: tuple[float, float, float]
    rotation: tuple[tuple[float, float, float], ...]  # columns: the directions of the semi-axes
    contrast: float = 0.0
    surrounding: float = 0.0  # the mean of the tissue around it, in the volume's units, before the lesion

    def radius(self, grid: sitk.Image) -> np.ndarray:
        """Normalised radius at every voxel centre of ``grid`` (k, j, i): 1 on the surface, below 1 inside."""
        direction = np.array(grid.GetDirection()).reshape(3, 3)
        to_physical = direction @ np.diag(grid.GetSpacing())
        to_unit = np.diag(1.0 / np.array(self.semi_axes_mm)) @ np.array(self.rotation).T
        linear = to_unit @ to_physical
        offset = to_unit @ (np.array(grid.GetOrigin()) - np.array(self.center_mm))
        size_i, size_j, size_k = grid.GetSize()
        i = np.arange(size_i)[None, None, :]
        j = np.arange(size_j)[None, :, None]
        k = np.arange(size_k)[:, None, None]
        squared = np.zeros((size_k, size_j, size_i))
        for row in range(3):
            squared = squared + (offset[row] + linear[row, 0] * i + linear[row, 1] * j + linear[row, 2] * k) ** 2
        return np.sqrt(squared)

    def fraction(self, grid: sitk.Image) -> np.ndarray:
        """The share of each voxel inside the lesion, with a one-voxel partial-volume edge."""
        mean_axis = float(np.mean(self.semi_axes_mm))
        return _step((1.0 - self.radius(grid)) * mean_axis, float(np.mean(grid.GetSpacing())))

    def shell(self, grid: sitk.Image, inside_brain: np.ndarray) -> np.ndarray:
        outside_by_mm = (self.radius(grid) - 1.0) * float(np.mean(self.semi_axes_mm))
        return inside_brain & (outside_by_mm > 0) & (outside_by_mm <= LESION_SHELL_MM)

    def as_dict(self) -> dict:
        return {
            "center_lps_mm": [round(v, 3) for v in self.center_mm],
            "axes_mm": [round(2 * v, 3) for v in self.semi_axes_mm],
            "rotation": [[round(v, 6) for v in row] for row in self.rotation],
            "contrast": round(self.contrast, 4),
            "surrounding": round(self.surrounding, 4),
        }


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))  # a uniformly random orthogonal matrix
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _place_lesions(rng: np.random.Generator, anatomy: Anatomy) -> list[Lesion]:
    """1-3 non-overlapping ellipsoids whose centres are deep enough in the brain for most of them to lie inside it."""
    count = int(rng.integers(1, 4))
    t1 = anatomy.t1
    lesions: list[Lesion] = []
    for _ in range(count):
        for attempt in range(100):
            semi_axes = rng.uniform(*LESION_AXES_MM, size=3) / 2.0
            rotation = _random_rotation(rng)
            # deep enough that the lesion stays in the brain; relaxed on a small brain after many tries
            needed = max(float(semi_axes.max()) * (0.8 if attempt < 50 else 0.4), 2.0)
            candidates = np.flatnonzero(anatomy.depth_mm.ravel() >= needed)
            if candidates.size == 0:
                continue
            k, j, i = np.unravel_index(int(candidates[rng.integers(candidates.size)]), anatomy.brain.shape)
            jitter = rng.uniform(-0.5, 0.5, size=3)  # not on a voxel centre of the MRI
            center = np.array(t1.TransformContinuousIndexToPhysicalPoint([float(i + jitter[0]), float(j + jitter[1]), float(k + jitter[2])]))
            apart = all(
                np.linalg.norm(center - np.array(other.center_mm)) >= semi_axes.max() + max(other.semi_axes_mm) + 6.0
                for other in lesions
            )
            if apart:
                lesions.append(Lesion(tuple(center.tolist()), tuple(semi_axes.tolist()), tuple(map(tuple, rotation.tolist()))))
                break
    if not lesions:
        raise InputError("found no room for a lesion inside the MRI's brain; give a T1 MRI of a whole brain")
    return lesions


def lesion_mask(lesions: Sequence[Lesion], anatomy: Anatomy) -> np.ndarray:
    """The lesions on the MRI grid (voxel centres inside an ellipsoid), within the brain."""
    inside = np.zeros(anatomy.brain.shape, bool)
    for lesion in lesions:
        inside |= lesion.radius(anatomy.t1) <= 1.0
    return inside & anatomy.brain


# ---- the functional volumes -------------------------------------------------------------------------------


@dataclass
class Head:
    """Layers around the brain (mm): CSF gap, skull of varying thickness, scalp."""

    gap_mm: float
    bone_mm: float
    bone_variation: float
    scalp_mm: float
    thickness_field: np.ndarray  # (model grid) relative bone thickness, 1 +- bone_variation

    @property
    def outer_mm(self) -> float:
        return self.gap_mm + self.bone_mm * (1 + self.bone_variation) + self.scalp_mm


def _draw_head(rng: np.random.Generator, anatomy: Anatomy) -> Head:
    gap, bone, variation, scalp = rng.uniform(1.5, 4.0), rng.uniform(4.0, 8.0), rng.uniform(0.1, 0.25), rng.uniform(3.0, 6.0)
    shape = anatomy.distance_mm.shape
    return Head(gap, bone, variation, scalp, 1.0 + variation * _smooth_field(rng, shape))


@dataclass
class LayerValues:
    """The value of each layer of the head, in the volume's units (arrays or numbers)."""

    brain: object
    csf: object  # within the gap of the brain
    base: object  # further from the brain but inside its envelope: the skull base between and under the lobes
    bone: object
    scalp: object
    outside: float


def _layered(brain_distance, skull_distance, head: Head, bone_mm, values: LayerValues, ramp_mm: float):
    """Compose the layers by the distances to the brain and to its envelope, with partial-volume edges.

    Inside the brain: the brain. Outside it: CSF within the gap, the skull base beyond it while still inside the
    envelope; then, counted from the envelope, the gap, the bone, the scalp and the outside.
    """
    in_brain = 1.0 - _step(brain_distance, ramp_mm)
    near_brain = 1.0 - _step(brain_distance - head.gap_mm, ramp_mm)
    inner = values.csf * near_brain + values.base * (1.0 - near_brain)
    bone_from = _step(skull_distance - head.gap_mm, ramp_mm)  # 0 inside each surface, 1 outside
    scalp_from = _step(skull_distance - head.gap_mm - bone_mm, ramp_mm)
    outside_from = _step(skull_distance - head.gap_mm - bone_mm - head.scalp_mm, ramp_mm)
    around = (
        inner * (1.0 - bone_from)
        + values.bone * (bone_from - scalp_from)
        + values.scalp * (scalp_from - outside_from)
        + values.outside * outside_from
    )
    return values.brain * in_brain + around * (1.0 - in_brain)


def _field_of_view(rng: np.random.Generator, anatomy: Anatomy, head: Head, spacing: np.ndarray) -> sitk.Image:
    """A grid with identity direction over the head (plus a random margin), its own origin, in the MRI's frame."""
    head_voxels = np.argwhere(anatomy.skull_distance_mm <= head.outer_mm)[:, ::-1]  # (i, j, k)
    first, last = head_voxels.min(axis=0), head_voxels.max(axis=0)
    corners = [
        anatomy.model.TransformIndexToPhysicalPoint([int(first[a]) if pick == 0 else int(last[a]) for a, pick in enumerate(picks)])
        for picks in itertools.product((0, 1), repeat=3)
    ]
    low, high = np.min(corners, axis=0), np.max(corners, axis=0)
    mri_low, mri_high = physical_bounds(anatomy.t1)
    low = np.maximum(low, mri_low - FOV_BEYOND_MRI_MM)
    high = np.minimum(high, mri_high + FOV_BEYOND_MRI_MM)
    low = low - rng.uniform(2.0, 15.0, size=3)
    high = high + rng.uniform(2.0, 15.0, size=3)
    size = np.ceil((high - low) / spacing).astype(int)
    origin = low + 0.5 * spacing - rng.uniform(0.0, 1.0, size=3) * spacing  # voxel centres off the MRI's
    return _grid(origin, spacing, size)


def _surroundings(lesions: Sequence[Lesion], tissue: np.ndarray, anatomy: Anatomy) -> None:
    """Record, for each lesion, the mean of the lesion-free tissue map around it (model grid)."""
    inside_brain = anatomy.distance_mm <= 0
    for lesion in lesions:
        shell = lesion.shell(anatomy.model, inside_brain)
        lesion.surrounding = float(tissue[shell].mean()) if shell.any() else float(tissue[inside_brain].mean())


def _emission(rng: np.random.Generator, anatomy: Anatomy, head: Head, lesions: list[Lesion], kind: str) -> tuple[sitk.Image, dict]:
    """PET (SUV, float32) or SPECT (counts, uint16): activity model, lesions, blur, own grid, noise."""
    fractions = anatomy.fractions
    if kind == "pet":
        white = rng.uniform(1.3, 1.9)  # SUV of white matter
        grey_ratio, csf_ratio = rng.uniform(2.6, 3.4), rng.uniform(0.05, 0.15)
        extracerebral = rng.uniform(0.2, 0.4)
        fwhm = rng.uniform(5.0, 8.0)
        spacing = np.array([rng.uniform(3.0, 4.0)] * 2 + [rng.uniform(3.0, 4.0)])
    else:
        white = rng.uniform(50.0, 120.0)  # counts of white matter: Poisson noise of 6-11 % in grey matter
        grey_ratio, csf_ratio = rng.uniform(1.7, 2.3), rng.uniform(0.1, 0.2)
        extracerebral = rng.uniform(0.15, 0.3)
        fwhm = rng.uniform(10.0, 15.0)
        spacing = np.full(3, rng.uniform(4.0, 5.0))
    tissue = white * (fractions["white"] + grey_ratio * fractions["grey"] + csf_ratio * fractions["csf"])
    tissue = np.where(anatomy.distance_mm <= 0, tissue, white * csf_ratio)  # CSF beyond the mask's edge
    _surroundings(lesions, tissue, anatomy)
    for lesion in lesions:
        if kind == "pet":
            lesion.contrast = rng.uniform(2.0, 6.0)
        else:
            lesion.contrast = rng.uniform(1.5, 2.5) if rng.random() < 0.5 else rng.uniform(0.2, 0.6)  # hot or cold
        share = lesion.fraction(anatomy.model)
        tissue = tissue * (1 - share) + share * lesion.contrast * lesion.surrounding
    bone_mm = head.bone_mm * head.thickness_field
    ramp = float(np.mean(anatomy.model.GetSpacing()))
    values = LayerValues(tissue, white * csf_ratio, white * 0.1, white * 0.1, white * extracerebral, 0.0)
    activity = _layered(anatomy.distance_mm, anatomy.skull_distance_mm, head, bone_mm, values, ramp)

    blurred = _smooth(activity, anatomy.model, fwhm * FWHM_TO_SIGMA)
    grid = _field_of_view(rng, anatomy, head, spacing)
    mean = np.clip(_resample(blurred, anatomy.model, grid, 0.0), 0.0, None)
    if kind == "pet":
        # Poisson-like: variance proportional to the mean, set by the relative noise in grey matter; reconstructed
        # PET noise is correlated over about a voxel
        relative_grey = rng.uniform(0.05, 0.12)
        gain = relative_grey**2 * white * grey_ratio
        white_noise = _smooth(rng.standard_normal(mean.shape), grid, 0.5 * float(spacing.min()))
        white_noise /= max(float(white_noise.std()), 1e-12)
        values = np.clip(mean + np.sqrt(gain * mean) * white_noise, 0.0, None).astype(np.float32)
        noise = {"relative_noise_grey": round(relative_grey, 4)}
    else:
        values = np.clip(rng.poisson(mean), 0, 65535).astype(np.uint16)
        noise = {"noise": "Poisson on the counts"}
    parameters = {
        "units": "SUV" if kind == "pet" else "counts",
        "white_matter": round(white, 4),
        "grey_to_white": round(grey_ratio, 4),
        "csf_to_white": round(csf_ratio, 4),
        "extracerebral_to_white": round(extracerebral, 4),
        "fwhm_mm": round(fwhm, 3),
        "voxel_mm": [round(float(v), 4) for v in spacing],
        **noise,
    }
    return _image(values, grid), parameters


def _ct(rng: np.random.Generator, anatomy: Anatomy, head: Head, lesions: list[Lesion]) -> tuple[sitk.Image, dict]:
    """CT in HU (int16): brain from the tissue fractions, synthetic skull and scalp, low-contrast lesions, noise, streaks."""
    csf_hu, white_hu = rng.uniform(5.0, 15.0), rng.uniform(24.0, 30.0)
    grey_hu = white_hu + rng.uniform(8.0, 14.0)
    scalp_hu = rng.uniform(30.0, 50.0)
    diploe_hu, inner_table_hu, outer_table_hu = rng.uniform(700.0, 1000.0), rng.uniform(1300.0, 1700.0), rng.uniform(1400.0, 1800.0)
    noise_sd = rng.uniform(8.0, 30.0)
    spacing = np.array([rng.uniform(0.9, 1.1)] * 2 + [rng.uniform(2.0, 3.0)])

    fractions = anatomy.fractions
    inside_brain = anatomy.distance_mm <= 0
    brain_hu = np.where(inside_brain, csf_hu * fractions["csf"] + grey_hu * fractions["grey"] + white_hu * fractions["white"], csf_hu)
    _surroundings(lesions, brain_hu, anatomy)
    for lesion in lesions:
        lesion.contrast = float(rng.choice([-1.0, 1.0]) * rng.uniform(10.0, 40.0))  # hypo- or hyperdense

    grid = _field_of_view(rng, anatomy, head, spacing)
    distance = _resample(anatomy.distance_mm, anatomy.model, grid, 1000.0)  # beyond the model: air
    skull_distance = _resample(anatomy.skull_distance_mm, anatomy.model, grid, 1000.0)
    brain = _resample(brain_hu, anatomy.model, grid, csf_hu)
    for lesion in lesions:
        share = lesion.fraction(grid)
        brain = brain * (1 - share) + share * (lesion.surrounding + lesion.contrast)
    bone_mm = head.bone_mm * _resample(head.thickness_field, anatomy.model, grid, 1.0)
    # bone: dense inner and outer tables, lighter diploe between them
    depth_in_bone = np.clip((skull_distance - head.gap_mm) / bone_mm, 0.0, 1.0)
    table_width = 0.28
    bone_hu = (
        diploe_hu
        + (inner_table_hu - diploe_hu) * np.exp(-((depth_in_bone / table_width) ** 2))
        + (outer_table_hu - diploe_hu) * np.exp(-(((1.0 - depth_in_bone) / table_width) ** 2))
    )
    ramp = float(spacing[:2].mean())
    hu = _layered(distance, skull_distance, head, bone_mm, LayerValues(brain, csf_hu, diploe_hu, bone_hu, scalp_hu, -1000.0), ramp)

    streaks, streak_parameters = _streaks(rng, hu, grid, min(inner_table_hu, outer_table_hu) - 100.0)
    noise = _smooth(rng.standard_normal(hu.shape), grid, 0.4 * float(spacing[:2].mean()))  # CT noise has a fine grain
    noise *= noise_sd / max(float(noise.std()), 1e-12)
    values = np.clip(np.rint(hu + streaks + noise), -1024, 3071).astype(np.int16)
    parameters = {
        "units": "HU",
        "csf_hu": round(csf_hu, 2),
        "white_hu": round(white_hu, 2),
        "grey_hu": round(grey_hu, 2),
        "scalp_hu": round(scalp_hu, 2),
        "diploe_hu": round(diploe_hu, 1),
        "inner_table_hu": round(inner_table_hu, 1),
        "outer_table_hu": round(outer_table_hu, 1),
        "noise_sd_hu": round(noise_sd, 2),
        "voxel_mm": [round(float(v), 4) for v in spacing],
        "streaks": streak_parameters,
    }
    return _image(values, grid), parameters


def _streaks(rng: np.random.Generator, hu: np.ndarray, grid: sitk.Image, dense_hu: float) -> tuple[np.ndarray, list[dict]]:
    """2-4 faint streaks: straight in-plane bands through a point of dense bone, bright and dark bands alternating
    across the line, fading along it and over a few slices (what photon starvation leaves between dense bone)."""
    result = np.zeros_like(hu)
    described: list[dict] = []
    dense = np.flatnonzero(hu.ravel() >= dense_hu)
    if dense.size == 0:
        return result, described
    spacing = np.array(grid.GetSpacing())
    origin = np.array(grid.GetOrigin())
    size_i, size_j, size_k = grid.GetSize()
    x = origin[0] + spacing[0] * np.arange(size_i)[None, :]
    y = origin[1] + spacing[1] * np.arange(size_j)[:, None]
    z = origin[2] + spacing[2] * np.arange(size_k)
    for number in range(int(rng.integers(2, 5))):
        k, j, i = np.unravel_index(int(dense[rng.integers(dense.size)]), hu.shape)
        through = origin + spacing * np.array([i, j, k])
        angle = rng.uniform(0.0, np.pi)
        amplitude = rng.uniform(10.0, 40.0) * (1 if number % 2 == 0 else -1)
        period, length, slab = rng.uniform(3.0, 6.0), rng.uniform(40.0, 100.0), rng.uniform(6.0, 20.0)
        across = -(x - through[0]) * np.sin(angle) + (y - through[1]) * np.cos(angle)
        along = (x - through[0]) * np.cos(angle) + (y - through[1]) * np.sin(angle)
        in_plane = np.cos(2 * np.pi * across / period) * np.exp(-((across / period) ** 2)) * np.exp(-np.abs(along) / length)
        over_slices = np.exp(-(((z - through[2]) / slab) ** 2))
        result += amplitude * over_slices[:, None, None] * in_plane[None, :, :]
        described.append({
            "through_lps_mm": [round(float(v), 2) for v in through], "angle_deg": round(float(np.degrees(angle)), 2),
            "amplitude_hu": round(float(amplitude), 2), "period_mm": round(float(period), 2),
        })
    return result, described


# ---- the MRI ----------------------------------------------------------------------------------------------

MRI_TYPES = ("float32", "uint16", "int16")


def _mri(rng: np.random.Generator, anatomy: Anatomy) -> tuple[sitk.Image, dict]:
    """The T1 with a smooth bias field, a gamma, Rician noise and its own intensity scale and type."""
    t1 = sitk.GetArrayFromImage(anatomy.t1).astype(np.float64)
    white = anatomy.class_means[2]
    gamma = float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
    bias_amplitude = rng.uniform(0.10, 0.20)
    field = _smooth_field(rng, t1.shape)
    field /= max(float(np.abs(field[anatomy.brain]).max()), 1e-12)  # the full amplitude is reached inside the brain
    relative_noise = rng.uniform(0.01, 0.04)
    pixel_type = MRI_TYPES[int(rng.integers(len(MRI_TYPES)))]
    white_level = float(np.exp(rng.uniform(np.log(150.0), np.log(3000.0))))  # so no two cases share grey levels

    shaped = np.clip(t1 / white, 0.0, None) ** gamma * (1.0 + bias_amplitude * field)
    # magnitude of a complex signal with Gaussian noise in both channels: Rician, a noise floor outside the head
    real = shaped + relative_noise * rng.standard_normal(t1.shape)
    imaginary = relative_noise * rng.standard_normal(t1.shape)
    values = np.sqrt(real**2 + imaginary**2) * white_level
    if pixel_type == "float32":
        values = values.astype(np.float32)
    else:
        values = np.clip(np.rint(values), 0, np.iinfo(pixel_type).max).astype(pixel_type)
    parameters = {
        "gamma": round(gamma, 4),
        "bias_amplitude": round(bias_amplitude, 4),
        "relative_noise": round(relative_noise, 4),
        "pixel_type": pixel_type,
        "white_matter_level": round(white_level, 2),
    }
    return _image(values, anatomy.t1), parameters


# ---- cases and sets ---------------------------------------------------------------------------------------


@dataclass
class SimulatedCase:
    name: str
    kind: str
    seed: int
    a: sitk.Image  # the PET, SPECT or CT, on its own grid
    mri: sitk.Image  # on the T1's grid
    lesion: sitk.Image  # uint8 mask on the MRI grid
    lesions: list[Lesion] = field(default_factory=list)
    parameters: dict = field(default_factory=dict)

    def describe(self) -> dict:
        return {
            "case": self.name,
            "kind": self.kind,
            "seed": self.seed,
            "lesions": [lesion.as_dict() for lesion in self.lesions],
            **self.parameters,
        }


def check_kind(kind: str) -> str:
    given = str(kind).strip()
    if given.lower() not in KINDS:
        raise InputError(f"unknown kind {given!r}; use pet, spect or ct (e.g. --kinds pet,spect,ct)")
    return given.lower()


def parse_kinds(text: str | Iterable[str]) -> tuple[str, ...]:
    """'pet,ct' (or a sequence of names) -> ('pet', 'ct'), each checked."""
    items = text.split(",") if isinstance(text, str) else list(text)
    kinds = tuple(check_kind(item) for item in items if str(item).strip())
    if not kinds:
        raise InputError("no kind given; use one or more of pet, spect, ct separated by commas (e.g. --kinds pet,ct)")
    return kinds


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"the seed must be a whole number 0 or more, got {seed!r}")
    return int(seed)


def simulate_case(anatomy: Anatomy | sitk.Image, kind: str, seed: int, name: str | None = None) -> SimulatedCase:
    """One case of ``kind`` (pet, spect or ct) from a T1 (or its ``anatomy_from_t1``), reproducible from ``seed``."""
    kind = check_kind(kind)
    seed = _check_seed(seed)
    if isinstance(anatomy, sitk.Image):
        anatomy = anatomy_from_t1(anatomy)
    rng = np.random.default_rng((seed, KIND_CODES[kind]))
    # always drawn in this order: lesions, head, the functional volume, the MRI
    lesions = _place_lesions(rng, anatomy)
    head = _draw_head(rng, anatomy)
    if kind == "ct":
        a, parameters = _ct(rng, anatomy, head, lesions)
    else:
        a, parameters = _emission(rng, anatomy, head, lesions, kind)
    mri, mri_parameters = _mri(rng, anatomy)
    mask = _image(lesion_mask(lesions, anatomy).astype(np.uint8), anatomy.t1)
    head_parameters = {"gap_mm": round(head.gap_mm, 3), "bone_mm": round(head.bone_mm, 3),
                       "bone_variation": round(head.bone_variation, 4), "scalp_mm": round(head.scalp_mm, 3)}
    return SimulatedCase(
        name or f"{kind}_{seed}", kind, seed, a, mri, mask, lesions,
        {kind: parameters, "head": head_parameters, "mri": mri_parameters},
    )


def case_seed(set_seed: int, index: int) -> int:
    """The seed of case ``index`` of a set: its own stream, unrelated to the neighbouring sets' cases."""
    return int(np.random.SeedSequence((set_seed, index)).generate_state(1, np.uint32)[0])


def _write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary name in the same folder, renamed when complete: a reader never sees half a file."""
    partial = path.with_name(PARTIAL_PREFIX + path.name)  # keeps the extension, which picks the file format
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        if partial.exists():
            partial.unlink()


def write_set(
    out_dir: Path | str,
    count: int,
    seed: int,
    kinds: Sequence[str] | str = KINDS,
    mri: Path | str | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write ``count`` cases (kinds taken in turn) and their manifest into ``out_dir``; return the manifest's path.

    Per case ``<case>_A.nii.gz`` (PET, SPECT or CT), ``<case>_MRI.nii.gz`` and ``<case>_lesion.nii.gz``; then
    ``simulation.json`` (every drawn parameter) and, last, ``manifest.csv`` (case,task,a,b,lesion; paths relative
    to it), the file ``wdualmine eval-volumes --manifest`` reads. Until the manifest is there the set is incomplete.
    """
    kinds = parse_kinds(kinds)
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise InputError(f"the number of cases must be 1 or more, got {count!r} (e.g. --cases 6)")
    seed = _check_seed(seed)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir} is a file, not a folder; give a folder for the simulated cases")
    manifest = out_dir / MANIFEST_NAME
    if manifest.exists() and not overwrite:
        raise InputError(f"{manifest} already exists (a simulated set is there); give another folder, "
                         "or add --overwrite to replace that set")
    anatomy = anatomy_from_t1(read_t1(mri))  # a bad MRI stops the run before anything is touched
    if manifest.exists():
        manifest.unlink()  # before any case is rewritten: an interrupted overwrite leaves no manifest over new files
    out_dir.mkdir(parents=True, exist_ok=True)

    rows, described = [], []
    for index in range(count):
        kind = kinds[index % len(kinds)]
        name = f"sim{seed}_{index + 1:03d}_{kind}"
        case = simulate_case(anatomy, kind, case_seed(seed, index), name)
        files = {"a": f"{name}_A.nii.gz", "b": f"{name}_MRI.nii.gz", "lesion": f"{name}_lesion.nii.gz"}
        # the engine's writer: all three or none, each read back and flushed to disk before it is put in place
        write_all({out_dir / files[key]: image for key, image in (("a", case.a), ("b", case.mri), ("lesion", case.lesion))})
        rows.append({"case": name, "task": kind, **files})
        described.append({**case.describe(), **files})
        if progress is not None:
            progress(index + 1, count)

    record = {
        "what": "simulated held-out validation cases (wdualmine.sample_data.simulate); score with "
                f"wdualmine eval-volumes --manifest {MANIFEST_NAME}",
        "seed": seed,
        "count": count,
        "kinds": list(kinds),
        "mri": str(mri) if mri is not None else "bundled MRI_T1.nrrd",
        "mri_class_means": [round(v, 3) for v in anatomy.class_means],
        "case_seed": "numpy.random.SeedSequence((seed, index)).generate_state(1, uint32)[0]; "
                     "case rng = numpy.random.default_rng((case seed, kind code))",
        "kind_codes": KIND_CODES,
        "versions": {"numpy": np.__version__, "SimpleITK": sitk.Version.VersionString()},
        "cases": described,
    }
    _write_atomically(out_dir / PARAMETERS_NAME, lambda path: path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8"))

    def write_manifest(path: Path) -> None:
        with open(path, "w", newline="", encoding="utf-8") as stream:
            writer = csv.DictWriter(stream, fieldnames=["case", "task", "a", "b", "lesion"])
            writer.writeheader()
            writer.writerows(rows)

    _write_atomically(manifest, write_manifest)
    return manifest
