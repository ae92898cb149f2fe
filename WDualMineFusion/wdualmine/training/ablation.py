"""The ablation study: the full model against the model without each W-DUALMINE component."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

from .trainer import TrainConfig, train

# variant name -> the ModelConfig switch turned off (None: the full model)
VARIANTS = {
    "full model": None,
    "without reliability maps": "reliability_maps",
    "without wavelet expert": "wavelet_expert",
    "without arbitration (fixed 0.5)": "arbitration",
    "without residual-to-average (direct output)": "residual_to_average",
}
TABLE_METRICS = ("CC", "MI", "SCD", "VIF", "Qabf", "SSIM")


def run_ablation(
    config: TrainConfig,
    data_root: Path | str,
    work_dir: Path | str,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, dict[str, float]]:
    """Train every variant with the same configuration and seed; returns validation metrics per variant.

    Each variant trains in its own sub-folder of ``work_dir`` and resumes there,
    so an interrupted study continues where it stopped.
    """
    results = {}
    for name, switch in VARIANTS.items():
        model = config.model if switch is None else replace(config.model, **{switch: False})
        variant = replace(config, model=model)
        folder = Path(work_dir) / (switch or "full")
        callback = None if progress is None else (lambda step, total, terms, name=name: progress(name, step, total))
        results[name] = train(variant, data_root, folder, callback)
    return results


def format_ablation(task: str, results: dict[str, dict[str, float]]) -> str:
    lines = [f"| {task} variant | " + " | ".join(TABLE_METRICS) + " |", "|---|" + "---|" * len(TABLE_METRICS)]
    for name, metrics in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{metrics[m]:.4f}" for m in TABLE_METRICS) + " |")
    return "\n".join(lines)
