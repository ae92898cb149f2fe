"""Speed and size of the network: parameters, FLOPs, slices per second, a whole volume with maps."""

from __future__ import annotations

import statistics
import time

import numpy as np
import SimpleITK as sitk
import torch
from torch.utils.flop_counter import FlopCounterMode

from .controls import FusionControls
from .inference import Fuser
from .network import count_parameters
from .pipeline import fuse_volume


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


def run_benchmark(fuser: Fuser, volume: bool = True, repeats: int = 3) -> dict:
    result = {
        "device": str(fuser.device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "parameters": count_parameters(fuser.model),
        "gflops_per_256_slice": flops_per_slice(fuser) / 1e9,
    }
    for batch in (1, 16):
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
    for batch in (1, 16):
        lines.append(
            f"batch {batch:<2}          {result[f'batch{batch}_ms_per_slice']:.1f} ms/slice, "
            f"{result[f'batch{batch}_slices_per_s']:.1f} slices/s"
        )
    if "volume_256x256x200_seconds" in result:
        lines.append(f"volume 256x256x200 {result['volume_256x256x200_seconds']:.1f} s with all maps")
    return "\n".join(lines)
