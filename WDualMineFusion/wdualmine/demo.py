"""`wdualmine demo`: fuse the bundled MRI + PET sample and write the volumes, a montage and metrics."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable

import numpy as np
import SimpleITK as sitk

from . import sample_data
from .controls import FusionControls
from .evaluation import REFERENCE_FUSIONS
from .files import write_all
from .inference import Fuser
from .metrics import METRIC_NAMES, compute_all, r1_stretch
from .colour import recolour
from .montage import DIVERGING, GREY, HEAT, apply_colour_map, orient_lps, orthogonal_slices, save_montage
from .pipeline import fuse_volume
from .volume_evaluation import lesion_contrast, lesion_shell

DEMO_METRICS = METRIC_NAMES  # the eleven R1 metrics, in the evaluator's order


def slice_metrics(a: np.ndarray, b: np.ndarray, fused: np.ndarray, min_foreground: float = 0.1) -> dict[str, dict[str, float]]:
    """Mean R1 metrics over the axial slices (k) with at least ``min_foreground`` non-background pixels.

    Inputs are k, j, i arrays in [0, 1]; each slice is scored as an 8-bit image,
    the fused one min-max stretched like the 2-D benchmark.
    """
    rows: dict[str, list[dict]] = {"W-DUALMINE": [], "average": [], "max": []}
    for k in range(a.shape[0]):
        sa, sb = np.round(a[k] * 255), np.round(b[k] * 255)
        if np.mean((sa > 0) | (sb > 0)) < min_foreground:
            continue
        rows["W-DUALMINE"].append(compute_all(r1_stretch(fused[k]), sa, sb))
        for name in ("average", "max"):
            rows[name].append(compute_all(r1_stretch(REFERENCE_FUSIONS[name](sa, sb)), sa, sb))
    return {method: {m: float(np.mean([r[m] for r in values])) for m in METRIC_NAMES} | {"slices": len(values)} for method, values in rows.items()}


def run_demo(
    output: Path | str = "demo-output",
    device: str = "auto",
    controls: FusionControls = FusionControls(),
    progress: Callable[[int, int], None] | None = None,
    auto: bool = True,
    auto_fixed: tuple[str, ...] = (),
) -> dict:
    """Fuse PET (A) with MRI (B) on the MRI's 2 mm grid; returns the paths written and the metrics."""
    output = Path(output)
    sample_data.verify_sample()
    paths = sample_data.sample_paths()
    pet, mri = sitk.ReadImage(str(paths["PET"])), sitk.ReadImage(str(paths["MRI"]))
    fuser = Fuser.for_task("pet", device=device)
    names = ("sample PET", "sample MRI")
    result = fuse_volume(fuser, pet, mri, controls, maps=True, names=names, reference="b", progress=progress, auto=auto, auto_fixed=auto_fixed)

    # the same windows and grid as the fusion used, for the pictures and the metrics
    pair = result.aligned
    a, b = pair.window_a.apply(pair.a), pair.window_b.apply(pair.b)
    fused = sitk.GetArrayFromImage(result.fused)
    maps = {name: sitk.GetArrayFromImage(image) for name, image in result.maps.items()}

    written = {
        output / "fused.nrrd": result.fused,
        output / "reliability_pet.nrrd": result.maps["reliability_a"],
        output / "reliability_mri.nrrd": result.maps["reliability_b"],
        output / "arbitration_wavelet.nrrd": result.maps["arbitration"],
    }
    write_all(written)

    lesion = mri.TransformPhysicalPointToIndex(sample_data.LESION_CENTER_LPS_MM)
    centre = (lesion[2], lesion[1], lesion[0])
    spacing = mri.GetSpacing()[::-1]
    foreground = (a > 0) | (b > 0)  # maps are shown only where there is anatomy
    # the fused luma in the PET's colours, as the Slicer module's RGB output shows it
    fused_colour = np.clip(recolour(fused * 255.0, apply_colour_map(a, HEAT).astype(np.float64)), 0, 255) / 255.0
    columns = [
        ("MRI (B)", b, GREY, None),
        ("PET (A)", a, HEAT, None),
        ("fused", fused, GREY, None),
        ("fused, PET colours", fused_colour, None, None),
        ("reliability: PET share of fused", maps["reliability_a"], DIVERGING, foreground),
        # at detail 0 the experts' residual is off, so the gate shapes nothing: the title says so
        ("arbitration: wavelet / spatial" + ("" if result.controls.arbitration_used else " (unused: detail 0)"), maps["arbitration"], HEAT, foreground),
    ]
    panels = [[None] * len(columns) for _ in range(3)]
    for c, (_, volume, stops, mask) in enumerate(columns):
        for r, (plane, plane_mask) in enumerate(zip(montage_planes(volume, mri, centre, spacing), montage_planes(mask, mri, centre, spacing))):
            colours = apply_colour_map(plane, stops) if stops is not None else np.round(plane * 255).astype(np.uint8)
            panels[r][c] = colours if plane_mask is None else colours * plane_mask[..., None].astype(np.uint8)
    montage = output / "montage.png"
    bars = [None, (HEAT, "0", "1"), None, None, (DIVERGING, "MRI 0", "1 PET"), (HEAT, "spatial 0", "1 wavelet")]
    save_montage(panels, [column[0] for column in columns], montage, ["axial", "coronal", "sagittal"], bars)

    metrics = slice_metrics(a, b, fused)
    table = output / "metrics.csv"
    partial = output / ".metrics.csv.partial"
    with open(partial, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["method", "slices", *DEMO_METRICS])
        for method, values in metrics.items():
            writer.writerow([method, values["slices"], *(f"{values[m]:.4f}" for m in DEMO_METRICS)])
    partial.replace(table)
    return {
        "files": [*written, montage, table],
        "metrics": metrics,
        "lesion_contrast": sample_lesion_contrast(mri, a, b, fused),
        "controls": result.controls.as_dict(),
        "auto": result.auto.describe() if result.auto is not None else None,
        "warnings": result.warnings,
        "device": str(fuser.device),
    }


def montage_planes(volume: np.ndarray | None, grid: sitk.Image, centre: tuple[int, int, int], spacing) -> list:
    """Axial, coronal and sagittal planes through ``centre`` in radiological orientation (a k, j, i[, rgb] volume)."""
    if volume is None:
        return [None] * 3
    if volume.ndim == 4:  # colour: each channel alone
        channels = [montage_planes(volume[..., c], grid, centre, spacing) for c in range(volume.shape[-1])]
        return [np.stack([channel[r] for channel in channels], axis=-1) for r in range(3)]
    oriented, oriented_centre = orient_lps(volume, grid.GetDirection(), centre)
    return orthogonal_slices(oriented, oriented_centre, spacing)


def sample_lesion_contrast(grid: sitk.Image, a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> dict[str, float]:
    """The sample's hot lesion against a 10 mm shell, in the fused volume, the plain average and the PET alone."""
    points = np.stack(np.meshgrid(*[np.arange(n) for n in fused.shape], indexing="ij"), axis=-1)
    index_xyz = points[..., ::-1].reshape(-1, 3).astype(float)
    origin, spacing = np.array(grid.GetOrigin()), np.array(grid.GetSpacing())
    direction = np.array(grid.GetDirection()).reshape(3, 3)
    physical = origin + (index_xyz * spacing) @ direction.T
    distance = np.linalg.norm(physical - np.array(sample_data.LESION_CENTER_LPS_MM), axis=1).reshape(fused.shape)
    lesion = distance <= sample_data.LESION_RADIUS_MM
    shell = lesion_shell(lesion, grid)
    return {name: lesion_contrast(volume, lesion, shell) for name, volume in (("W-DUALMINE", fused), ("average", 0.5 * (a + b)), ("PET alone", a))}
