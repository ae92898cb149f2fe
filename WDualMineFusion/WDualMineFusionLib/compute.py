"""The fusion computation of one job: engine only, no MRML, no slicer, no vtk.

The same ``runFusion`` runs in Slicer's process (the blocking ``WDualMineFusionLogic.fuse``) and in the
separate fusion process (``worker.py``, which the widget starts so that no torch work runs in Slicer's
process while the GUI waits), so both give the same voxels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass
class FusionJob:
    """Everything the computation needs; no MRML nodes, only IDs and copies of the data."""

    referenceID: str
    secondID: str
    task: str
    functional: str
    controls: object
    imageA: object
    imageB: object
    names: tuple[str, str]
    windowA: object
    windowB: object
    engineReference: str
    device: str = "auto"
    batchSize: int = 0  # 0: the engine's default for the device (1 on the CPU, 8 on a GPU)
    workingSize: int | None = 256
    computeMetrics: bool = True
    auto: bool = False  # adapt the controls to this pair before fusing (the engine's per-pair search)
    colourLookup: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class FusionOutcome:
    fused: np.ndarray
    maps: dict[str, np.ndarray]
    rgb: np.ndarray | None
    metrics: dict | None
    metricSlices: list[int]
    alignment: object
    warnings: list[str]
    pair: object  # the engine's AlignedPair; None when the outcome came back from the fusion process
    deviceDescription: str
    controls: dict  # the controls the fusion ran with: auto's choice when auto was on
    autoDescription: str | None = None  # auto's one-line summary; None without auto


def prepareEngineImport() -> None:
    """Import pytorch-wavelets without setuptools' pkg_resources (Slicer 5.12+ bundles setuptools 82)."""
    from wdualmine.wavelets_import import import_pytorch_wavelets

    import_pytorch_wavelets()


def batchFor(fuser, batchSize: int) -> int:
    """The batch to use: the one asked for, or with 0 the engine's measured default for the fuser's device."""
    from wdualmine.inference import default_batch_size

    return max(1, int(batchSize)) if batchSize else default_batch_size(fuser.device)


def loadFuser(task: str, device: str = "auto", batchSize: int = 0):
    prepareEngineImport()
    from wdualmine.inference import Fuser

    return Fuser.for_task(task, device=device, batch_size=batchSize or None)


def deviceDescription(fuser) -> str:
    from wdualmine.device import describe_device

    return describe_device(fuser.device)


def alignedPair(job: FusionJob):
    """Both inputs on the reference grid with their windows (the engine's AlignedPair)."""
    prepareEngineImport()
    from wdualmine.pipeline import align_volumes

    return align_volumes(job.imageA, job.imageB, job.names, job.engineReference, job.windowA, job.windowB)


def windowedPair(pair) -> tuple[np.ndarray, np.ndarray]:
    """Both aligned volumes of an engine ``AlignedPair`` windowed to 0..1 (full-volume copies)."""
    return pair.window_a.apply(pair.a), pair.window_b.apply(pair.b)


def runFusion(job: FusionJob, fuser, progress: Callable[[int, int], None] | None = None,
              cancelled: Callable[[], bool] | None = None) -> FusionOutcome:
    """Align once, fuse that pair (auto controls first if asked; slice batches, cancellable, maps masked), colour, score."""
    import SimpleITK as sitk

    from wdualmine.inference import Cancelled
    from wdualmine.pipeline import fuse_volume
    from wdualmine.volume.geometry import slice_axis

    from .alignment import checkAlignment
    from .display import colouredFused
    from .metrics_table import centralSlices, computeSliceMetrics

    fuser.batch_size = batchFor(fuser, job.batchSize)
    pair = alignedPair(job)
    # maps masked: outside both inputs they mean nothing, so 0 (shown transparent)
    result = fuse_volume(
        fuser, job.imageA, job.imageB, job.controls, maps=True, working_size=job.workingSize,
        progress=progress, cancelled=cancelled, pair=pair, mask_maps=True, auto=job.auto,
    )
    if cancelled is not None and cancelled():
        raise Cancelled("fusion cancelled by the user; no output was written")
    fused = sitk.GetArrayFromImage(result.fused)
    maps = {name: sitk.GetArrayFromImage(image) for name, image in result.maps.items()}
    windowedA, windowedB = windowedPair(pair)
    rgb = colouredFused(fused, windowedA, job.colourLookup) if job.colourLookup is not None else None
    alignment = checkAlignment(windowedA, windowedB, pair.grid.GetSpacing()[::-1])
    metrics, slices = None, []
    if job.computeMetrics:
        along = slice_axis(pair.grid, "auto")
        slices = centralSlices(windowedA, windowedB, along)
        metrics = computeSliceMetrics(windowedA, windowedB, fused, along, slices)
    warnings = list(job.warnings) + list(result.warnings)
    if alignment.misaligned:
        warnings.append(alignment.message)
    return FusionOutcome(
        fused, maps, rgb, metrics, slices, alignment, warnings, result.aligned, deviceDescription(fuser),
        controls=result.controls.as_dict(), autoDescription=result.auto.describe() if result.auto is not None else None,
    )
