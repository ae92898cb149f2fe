"""Scoring 3-D fusions: R1 metrics per axial slice, mean over slices then cases, next to reference fusions.

SPEC section 5's protocol: each volume is windowed to [0, 1] and put on the
reference grid; every axial slice with enough anatomy is scored as an 8-bit
image (the fused slice min-max stretched, as on the atlas); the mean over a
case's slices is averaged over the cases. Where a lesion mask is given, the
lesion contrast of the fused volume itself (not stretched) is reported:
(mean in lesion - mean in a 10 mm shell around it) / mean in the shell.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import SimpleITK as sitk

from .errors import InputError
from .evaluation import REFERENCE_FUSIONS
from .metrics import METRIC_NAMES, compute_all, r1_stretch
from .metrics.flat_noise import flat_noise
from .volume.geometry import resample_onto

# the share of a slice that must be anatomy (either input above 0) for it to be scored
MIN_FOREGROUND = 0.1
SHELL_MM = 10.0


@dataclass
class VolumeCase:
    """One registered pair on its reference grid, windowed to [0, 1] (k, j, i arrays), and its lesion mask."""

    name: str
    task: str
    a: np.ndarray
    b: np.ndarray
    grid: sitk.Image
    lesion: np.ndarray | None = None  # boolean, on the grid


@dataclass
class CaseScores:
    case: str
    task: str
    method: str
    slices: int
    metrics: dict[str, float]
    lesion_contrast: float | None = None


@dataclass
class Summary:
    task: str
    method: str
    cases: int
    metrics: dict[str, float]
    lesion_contrast: float | None = None
    per_case: list[CaseScores] = field(default_factory=list)


def scored_slices(a: np.ndarray, b: np.ndarray, min_foreground: float = MIN_FOREGROUND) -> list[int]:
    """Axial slices (numpy axis 0) in which at least ``min_foreground`` of the pixels are anatomy.

    A slice where either 8-bit source is constant (e.g. outside the PET's field
    of view) is left out: its correlation with the fused slice is undefined.
    """
    keep = []
    for k in range(a.shape[0]):
        sa, sb = np.round(a[k] * 255), np.round(b[k] * 255)
        if np.mean((sa > 0) | (sb > 0)) >= min_foreground and np.ptp(sa) > 0 and np.ptp(sb) > 0:
            keep.append(k)
    return keep


def slice_scores(a: np.ndarray, b: np.ndarray, fused: np.ndarray, slices: list[int]) -> dict[str, float]:
    """Mean R1 metrics (and the flat-region noise) of the fused volume over the given axial slices (sources rounded to 8 bits)."""
    rows = []
    for k in slices:
        sa, sb = np.round(a[k] * 255), np.round(b[k] * 255)
        stretched = r1_stretch(fused[k])
        rows.append(compute_all(stretched, sa, sb) | {"flat noise": flat_noise(stretched, sa, sb)})
    return {m: float(np.nanmean([r[m] for r in rows])) for m in (*METRIC_NAMES, "flat noise")}


def lesion_shell(lesion: np.ndarray, grid: sitk.Image, shell_mm: float = SHELL_MM) -> np.ndarray:
    """The voxels within ``shell_mm`` of the lesion in physical space, outside it."""
    mask = sitk.GetImageFromArray(lesion.astype(np.uint8))
    mask.CopyInformation(grid)
    distance = sitk.GetArrayFromImage(sitk.SignedMaurerDistanceMap(mask, insideIsPositive=False, squaredDistance=False, useImageSpacing=True))
    return (distance > 0) & (distance <= shell_mm)


def lesion_contrast(volume: np.ndarray, lesion: np.ndarray, shell: np.ndarray) -> float:
    inside, around = float(volume[lesion].mean()), float(volume[shell].mean())
    return (inside - around) / around if around > 0 else float("nan")


def score_case(
    case: VolumeCase,
    methods: dict[str, Callable[[VolumeCase], np.ndarray]],
    min_foreground: float = MIN_FOREGROUND,
) -> list[CaseScores]:
    """Score every method's fused volume (k, j, i in [0, 1]) of one case on the same slices."""
    slices = scored_slices(case.a, case.b, min_foreground)
    if not slices:
        raise InputError(f"case {case.name}: no axial slice has {min_foreground:.0%} anatomy; check the windows and the overlap")
    shell = None
    if case.lesion is not None and case.lesion.any():
        shell = lesion_shell(case.lesion, case.grid)
    scores = []
    for method, fuse in methods.items():
        fused = np.asarray(fuse(case), dtype=np.float64)
        if fused.shape != case.a.shape:
            raise ValueError(f"method {method} returned {fused.shape} for a {case.a.shape} case")
        contrast = lesion_contrast(fused, case.lesion, shell) if shell is not None else None
        scores.append(CaseScores(case.name, case.task, method, len(slices), slice_scores(case.a, case.b, fused, slices), contrast))
    return scores


def reference_methods() -> dict[str, Callable[[VolumeCase], np.ndarray]]:
    """The plain average and the max rule, on the windowed inputs."""
    return {name: (lambda case, rule=rule: rule(case.a, case.b)) for name, rule in REFERENCE_FUSIONS.items()}


def summarise(scores: list[CaseScores]) -> list[Summary]:
    """Mean over cases per task and method (each case first averaged over its slices)."""
    out = []
    keys = list(dict.fromkeys((s.task, s.method) for s in scores))
    for task, method in keys:
        rows = [s for s in scores if s.task == task and s.method == method]
        metrics = {m: float(np.mean([r.metrics[m] for r in rows])) for m in rows[0].metrics}
        contrasts = [r.lesion_contrast for r in rows if r.lesion_contrast is not None]
        out.append(Summary(task, method, len(rows), metrics, float(np.mean(contrasts)) if contrasts else None, rows))
    return out


# ---- reading cases ----------------------------------------------------------------------------------------


def read_case(
    name: str,
    task: str,
    path_a: Path | str,
    path_b: Path | str,
    lesion_path: Path | str | None = None,
    window_a=None,
    window_b=None,
) -> VolumeCase:
    """Read a pair, put A on B's (the MRI's) grid and window both (percentiles unless windows are given)."""
    from .pipeline import align_volumes, quantise  # the fusion's own alignment and windows, so the scores see what it saw

    image_a, image_b = sitk.ReadImage(str(path_a)), sitk.ReadImage(str(path_b))
    pair = align_volumes(image_a, image_b, (str(path_a), str(path_b)), "b", window_a, window_b)
    lesion = None
    if lesion_path:
        mask = sitk.ReadImage(str(lesion_path))
        mask = resample_onto(sitk.Cast(mask > 0, sitk.sitkFloat32), pair.grid) if not _same_geometry(mask, pair.grid) else sitk.Cast(mask > 0, sitk.sitkFloat32)
        lesion = sitk.GetArrayFromImage(mask) > 0.5
    # scored as 8-bit volumes, the way the protocol windows them (and the fusion quantises its inputs)
    return VolumeCase(name, task, quantise(pair.window_a.apply(pair.a)), quantise(pair.window_b.apply(pair.b)), pair.grid, lesion)


def _same_geometry(x: sitk.Image, y: sitk.Image) -> bool:
    return (
        x.GetSize() == y.GetSize()
        and np.allclose(x.GetOrigin(), y.GetOrigin(), atol=1e-4)
        and np.allclose(x.GetSpacing(), y.GetSpacing(), atol=1e-6)
        and np.allclose(x.GetDirection(), y.GetDirection(), atol=1e-6)
    )


def read_manifest(path: Path | str) -> list[dict]:
    """A CSV with columns case, task, a, b and optionally lesion; relative paths are read from the CSV's folder."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist; give a CSV with the columns case,task,a,b[,lesion]")
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    needed = {"case", "task", "a", "b"}
    if not rows or not needed <= set(rows[0]):
        raise InputError(f"{path} needs a header row with the columns case,task,a,b (and optionally lesion)")
    for row in rows:
        for key in ("a", "b", "lesion"):
            if row.get(key):
                value = Path(row[key])
                row[key] = str(value if value.is_absolute() else path.parent / value)
                if not Path(row[key]).exists():
                    raise InputError(f"{path}: case {row['case']}: {row[key]} does not exist")
    return rows


def format_summaries(summaries: list[Summary], metrics: tuple[str, ...] = ("CC", "MI", "VIF", "Qabf", "SSIM", "flat noise")) -> str:
    header = ["task", "method", "cases", *metrics, "lesion C"]
    lines = [header]
    for s in summaries:
        contrast = f"{s.lesion_contrast:+.3f}" if s.lesion_contrast is not None else ""
        lines.append([s.task, s.method, str(s.cases), *(f"{s.metrics[m]:.4f}" for m in metrics), contrast])
    widths = [max(len(line[k]) for line in lines) for k in range(len(header))]
    return "\n".join("  ".join(cell.rjust(widths[k]) if k > 1 else cell.ljust(widths[k]) for k, cell in enumerate(line)) for line in lines)


def summaries_as_dicts(summaries: list[Summary]) -> list[dict]:
    return [
        {
            "task": s.task,
            "method": s.method,
            "cases": s.cases,
            **s.metrics,
            "lesion_contrast": s.lesion_contrast,
            "per_case": [{"case": c.case, "slices": c.slices, **c.metrics, "lesion_contrast": c.lesion_contrast} for c in s.per_case],
        }
        for s in summaries
    ]
