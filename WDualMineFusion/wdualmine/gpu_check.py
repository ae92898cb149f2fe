"""`wdualmine gpu-check`: does a GPU give the CPU's result, and how fast is it? One JSON line.

Fuses the bundled PET + MRI sample and a 256 x 256 x 200 volume on the GPU and on the CPU from the
same aligned inputs, reports the largest voxel difference (fused image and maps), times slices per
second over a few batch sizes, and tries half precision (autocast), which counts as safe only if
it stays within one 8-bit grey level of float32 and is faster.
"""

from __future__ import annotations

import time
from contextlib import nullcontext

import numpy as np
import SimpleITK as sitk
import torch

from .benchmark import time_batch
from .controls import FusionControls
from .inference import Fuser
from .pipeline import align_volumes, fuse_volume

TOLERANCE = 1.0 / 255.0  # one grey level of an 8-bit picture: differences below it are invisible
BATCHES = (1, 8, 16, 32, 64)


def synthetic_pair(shape: tuple[int, int, int] = (200, 256, 256), seed: int = 1) -> tuple[sitk.Image, sitk.Image]:
    """A smooth 'head' with a hot spot (A) and a textured one (B), k, j, i; B off A's grid by a fraction of a voxel."""
    rng = np.random.default_rng(seed)
    k, j, i = np.meshgrid(*[np.linspace(-1, 1, n, dtype=np.float32) for n in shape], indexing="ij", sparse=True)
    radius = (k / 0.9) ** 2 + (j / 0.8) ** 2 + (i / 0.7) ** 2
    head = (radius < 1).astype(np.float32)
    hot = (((k - 0.2) ** 2 + (j + 0.3) ** 2 + (i - 0.2) ** 2) < 0.05).astype(np.float32)
    a = (400 * head + 3000 * hot + rng.normal(0, 20, shape).astype(np.float32) * head).astype(np.float32)
    b = (300 * head * (0.5 + 0.5 * np.sin(8 * np.sqrt(radius))) + rng.normal(0, 5, shape).astype(np.float32) * head).astype(np.float32)
    image_a, image_b = sitk.GetImageFromArray(a), sitk.GetImageFromArray(b)
    image_b.SetOrigin((0.3, -0.2, 0.5))  # resampling is part of the work, as on real pairs
    return image_a, image_b


def sample_pair() -> tuple[sitk.Image, sitk.Image]:
    from . import sample_data

    paths = sample_data.verify_sample()
    return sitk.ReadImage(str(paths["PET"])), sitk.ReadImage(str(paths["MRI"]))


def _fuse_timed(fuser: Fuser, pair, autocast: bool = False):
    context = torch.autocast(fuser.device.type, dtype=torch.float16) if autocast else nullcontext()
    if fuser.device.type == "cuda":
        torch.cuda.synchronize(fuser.device)
    start = time.perf_counter()
    with context:
        result = fuse_volume(fuser, None, None, FusionControls(), maps=True, pair=pair)
    if fuser.device.type == "cuda":
        torch.cuda.synchronize(fuser.device)
    arrays = {"fused": sitk.GetArrayFromImage(result.fused), **{n: sitk.GetArrayFromImage(m) for n, m in result.maps.items()}}
    return arrays, time.perf_counter() - start


def _largest_difference(first: dict, second: dict) -> dict[str, float]:
    return {name: float(np.max(np.abs(np.asarray(first[name], np.float64) - second[name]))) for name in first}


def compare_case(reference: Fuser, tested: Fuser, a: sitk.Image, b: sitk.Image, grid: str = "a") -> dict:
    """Fuse one pair on both fusers from the same aligned inputs; differences and seconds."""
    pair = align_volumes(a, b, reference=grid)
    _fuse_timed(tested, pair)  # warm-up: kernels, allocator
    expected, reference_seconds = _fuse_timed(reference, pair)
    got, tested_seconds = _fuse_timed(tested, pair)
    differences = _largest_difference(expected, got)
    return {
        "shape_kji": list(pair.a.shape),
        "max_abs_diff_fused": differences.pop("fused"),
        "max_abs_diff_maps": max(differences.values()),
        f"{reference.device.type}_seconds": round(reference_seconds, 3),
        f"{tested.device.type}_seconds": round(tested_seconds, 3),
        "_pair": pair,
        "_fused": got,
    }


def best_batch(fuser: Fuser, batches=BATCHES, repeats: int = 3, autocast: bool = False) -> tuple[int, float]:
    """The batch size with the most slices per second (256 x 256 slices, all maps), and that rate."""
    rates = {}
    for batch in batches:
        context = torch.autocast(fuser.device.type, dtype=torch.float16) if autocast else nullcontext()
        try:
            with context:
                rates[batch] = 1.0 / time_batch(fuser, batch, repeats=repeats)
        except Exception as error:  # noqa: BLE001 - an out-of-memory batch ends the search
            from .device import is_out_of_memory

            if not is_out_of_memory(error):
                raise
            break
    batch = max(rates, key=rates.get)
    return batch, rates[batch]


def half_precision(fuser: Fuser, case: dict, float32_rate: float, batch: int, repeats: int = 3) -> dict:
    """Autocast float16 against float32 on the same device: safe when within TOLERANCE and faster."""
    try:
        got, seconds = _fuse_timed(fuser, case["_pair"], autocast=True)
        difference = max(_largest_difference(case["_fused"], got).values())
        _, rate = best_batch(fuser, (batch,), repeats, autocast=True)
    except Exception as error:  # noqa: BLE001 - an operation without a float16 kernel: not safe, say why
        return {"safe": False, "reason": (str(error).splitlines() or ["failed"])[0][:160]}
    return {
        "safe": bool(np.isfinite(difference) and difference <= TOLERANCE and rate > float32_rate),
        "max_abs_diff_vs_float32": difference,
        "slices_per_s": round(rate, 1),
        "volume_seconds": round(seconds, 3),
    }


def compare_devices(
    device: str = "cuda",
    task: str = "pet",
    volume_shape: tuple[int, int, int] = (200, 256, 256),
    include_sample: bool = True,
    batches=BATCHES,
    repeats: int = 3,
) -> dict:
    """The whole check on ``device`` against the CPU (tests run it CPU against CPU on small inputs)."""
    cpu = Fuser.for_task(task, device="cpu", batch_size=8)
    tested = Fuser.for_task(task, device=device, batch_size=8)
    report: dict = {"device": str(tested.device), "torch": torch.__version__, "task": task, "tolerance": TOLERANCE}
    if tested.device.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(tested.device)
        torch.backends.cudnn.benchmark = True
    cases = {}
    if include_sample:
        cases["sample"] = compare_case(cpu, tested, *sample_pair(), grid="b")  # as the demo: on the MRI's grid
    name = "volume_" + "x".join(str(n) for n in volume_shape[::-1])
    cases[name] = compare_case(cpu, tested, *synthetic_pair(volume_shape))
    batch, rate = best_batch(tested, batches, repeats)
    report["best_batch"] = batch
    report["slices_per_s"] = round(rate, 1)
    if tested.device.type == "cuda":
        report["half"] = half_precision(tested, cases[name], rate, batch, repeats)
    report["agrees"] = all(c["max_abs_diff_fused"] <= TOLERANCE and c["max_abs_diff_maps"] <= TOLERANCE for c in cases.values())
    report.update({key: {k: v for k, v in case.items() if not k.startswith("_")} for key, case in cases.items()})
    return report


def gpu_check(device: str = "cuda", task: str = "pet") -> dict:
    """The check on CUDA, or ``{"skipped": True, "reason": ...}`` when there is no CUDA device."""
    if not torch.cuda.is_available():
        built = "a CUDA build" if torch.backends.cuda.is_built() else "a CPU-only build"
        return {"skipped": True, "reason": f"no CUDA device here (torch {torch.__version__} is {built})"}
    return compare_devices(device, task)
