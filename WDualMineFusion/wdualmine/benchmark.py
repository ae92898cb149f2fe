"""Speed and size of the network: parameters, FLOPs, slices per second, whole volumes with maps, peak memory."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
from torch.utils.flop_counter import FlopCounterMode

from .controls import FusionControls
from .files import output_paths, output_streams
from .inference import Fuser
from .io.writing import write_all
from .network import count_parameters
from .pipeline import fuse_volume

BATCHES = (1, 8, 16)
BIG_SHAPE = (300, 512, 512)  # k, j, i of a 512 x 512 x 300 CT
BIG_SECOND_SHAPE = (180, 256, 256)  # its MRI, on a coarser grid over the same field of view


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def flops_per_slice(fuser: Fuser, size: int = 256) -> int:
    """Floating-point operations (multiply and add counted separately) for one size x size slice."""
    a = torch.rand(1, 1, size, size, device=fuser.device)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        fuser.model(a, a.clone())
    return int(counter.get_total_flops())


def time_batch(fuser: Fuser, batch: int, size: int = 256, repeats: int = 3) -> float:
    """Median seconds per slice over ``repeats`` runs after one warm-up (random inputs)."""
    rng = np.random.default_rng(0)
    a = rng.random((batch, size, size), dtype=np.float32)
    b = rng.random((batch, size, size), dtype=np.float32)
    fuser.run_batch(a, b, maps=True)
    times = []
    for _ in range(repeats):
        _synchronise(fuser.device)
        start = time.perf_counter()
        fuser.run_batch(a, b, maps=True)
        _synchronise(fuser.device)
        times.append((time.perf_counter() - start) / batch)
    return statistics.median(times)


def time_volume(fuser: Fuser, shape: tuple[int, int, int] = (200, 256, 256)) -> float:
    """Seconds to fuse a synthetic volume (k, j, i) with all maps, windowing and resampling included."""
    rng = np.random.default_rng(1)
    a = sitk.GetImageFromArray((rng.random(shape, dtype=np.float32) * 1000).astype(np.int16))
    b = sitk.GetImageFromArray(rng.random(shape, dtype=np.float32))
    b.SetOrigin((0.3, -0.2, 0.5))  # off-grid, so the resampling is part of the measurement
    start = time.perf_counter()
    fuse_volume(fuser, a, b, FusionControls(), maps=True)
    return time.perf_counter() - start


def peak_rss_bytes() -> int | None:
    """The process's peak resident memory so far (None where the platform does not say)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def big_pair() -> tuple[sitk.Image, sitk.Image]:
    """A random int16 CT (512 x 512 x 300, 0.8 x 0.8 x 1.5 mm) and MRI (256 x 256 x 180) over one field, off-grid."""
    rng = np.random.default_rng(2)
    images = []
    for shape, spacing, high in ((BIG_SHAPE, (0.8, 0.8, 1.5), 1500), (BIG_SECOND_SHAPE, (1.6, 1.6, 2.5), 800)):
        image = sitk.GetImageFromArray(rng.integers(-1000 if high > 1000 else 0, high, shape, dtype=np.int16))
        image.SetSpacing(spacing)
        images.append(image)
    images[1].SetOrigin((0.7, -0.4, 1.1))
    return images[0], images[1]


def time_big_volume(fuser: Fuser) -> dict:
    """Seconds and peak memory to fuse the big pair with all maps and write the four volumes as .nii.gz.

    Run it first in a fresh process: the peak is the process's, so it includes the model and torch.
    """
    a, b = big_pair()
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "big.nii.gz"
        start = time.perf_counter()
        with output_streams(out, maps=True) as streams:  # as `wdualmine fuse` writes NIfTI outputs
            result = fuse_volume(fuser, a, b, FusionControls(), maps=True, streams=streams)
            fused = time.perf_counter()
            write_all(output_paths(out, result))
        written = time.perf_counter()
    peak = peak_rss_bytes()
    return {
        "big_fuse_seconds": fused - start,
        "big_write_seconds": written - fused,
        "big_peak_rss_gb": peak / 1e9 if peak else None,
        "big_bytes_per_voxel": peak / a.GetNumberOfPixels() if peak else None,
    }


def run_benchmark(fuser: Fuser, volume: bool = True, repeats: int = 3, big: bool = False) -> dict:
    result = time_big_volume(fuser) if big else {}  # first, so the peak memory is this case's
    result |= {
        "device": str(fuser.device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "parameters": count_parameters(fuser.model),
        "gflops_per_256_slice": flops_per_slice(fuser) / 1e9,
    }
    for batch in BATCHES:
        seconds = time_batch(fuser, batch, repeats=repeats)
        result[f"batch{batch}_ms_per_slice"] = seconds * 1000
        result[f"batch{batch}_slices_per_s"] = 1.0 / seconds
    if volume:
        result["volume_256x256x200_seconds"] = time_volume(fuser)
    return result


def format_benchmark(result: dict) -> str:
    lines = [
        f"device            {result['device']} (torch {result['torch']}, {result['threads']} threads)",
        f"parameters        {result['parameters']:,}",
        f"GFLOP per slice   {result['gflops_per_256_slice']:.3f} (256 x 256)",
    ]
    for batch in BATCHES:
        lines.append(
            f"batch {batch:<2}          {result[f'batch{batch}_ms_per_slice']:.1f} ms/slice, "
            f"{result[f'batch{batch}_slices_per_s']:.1f} slices/s"
        )
    if "volume_256x256x200_seconds" in result:
        lines.append(f"volume 256x256x200 {result['volume_256x256x200_seconds']:.1f} s with all maps")
    if "big_fuse_seconds" in result:
        lines.append(f"volume 512x512x300 {result['big_fuse_seconds']:.1f} s with all maps, {result['big_write_seconds']:.1f} s to write them (.nii.gz)")
        if result["big_peak_rss_gb"] is not None:
            lines.append(f"peak memory       {result['big_peak_rss_gb']:.2f} GB, {result['big_bytes_per_voxel']:.1f} B per voxel of the 512x512x300 grid")
    return "\n".join(lines)
