"""The training loop: seeded, resumable from checkpoints, logged per evaluation round."""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..controls import FusionControls
from ..network import ModelConfig, WDualMineNet
from ..weights import save_checkpoint
from .dataset import Augmenter, PairSet, load_pairs, split_by_series, subset
from .losses import FusionLoss, LossWeights

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    task: str
    steps: int = 300
    batch_size: int = 8
    # whole 256 x 256 slices: CC, MI and the min-max stretch of Qabf are per-image
    # statistics, and crops made the constraints hold on crops but not on images
    crop: int = 256
    learning_rate: float = 2e-3
    # the reliability curve is two small lookup tables; each entry sees few pixels per
    # step, so it learns with a larger rate than the convolutions
    curve_learning_rate: float = 1e-2
    seed: int = 0
    eval_every: int = 100
    checkpoint_every: int = 100
    threads: int = 2
    base: str = "plain"  # what the reliability curve combines (a FusionControls setting)
    base_power: float = 1.0
    loss: LossWeights = field(default_factory=LossWeights)
    model: ModelConfig = field(default_factory=ModelConfig)

    def as_dict(self) -> dict:
        values = asdict(self)
        values["model"] = self.model.as_dict()
        return values


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@torch.inference_mode()
def validate(model: WDualMineNet, pairs: PairSet, controls: FusionControls = FusionControls()) -> dict[str, float]:
    """Mean R1 metrics of the fused validation images, min-max stretched as the peers' test scripts do."""
    from ..metrics import compute_all, r1_stretch

    model.eval()
    rows = []
    for start in range(0, len(pairs.ids), 8):
        a = torch.from_numpy(pairs.a[start : start + 8] / np.float32(255)).unsqueeze(1)
        b = torch.from_numpy(pairs.b[start : start + 8] / np.float32(255)).unsqueeze(1)
        fused = model(a, b, controls).fused[:, 0].numpy()
        for k in range(fused.shape[0]):
            rows.append(compute_all(r1_stretch(fused[k]), pairs.a[start + k].astype(np.float64), pairs.b[start + k].astype(np.float64)))
    return {name: float(np.mean([r[name] for r in rows])) for name in rows[0]}


def train(
    config: TrainConfig,
    data_root: Path | str,
    work_dir: Path | str,
    progress: Callable[[int, int, dict], None] | None = None,
) -> dict:
    """Train one task's model; resumes from ``work_dir/last.pt`` when it exists.

    Writes ``work_dir/log.jsonl`` (one line per evaluation round) and, at the
    end, the shippable ``work_dir/model.pt``. Returns the final validation metrics.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(config.threads)
    seed_everything(config.seed)

    pairs = load_pairs(data_root, config.task)
    train_idx, val_idx = split_by_series(pairs.ids)
    train_set, val_set = subset(pairs, train_idx), subset(pairs, val_idx)
    log.info("%s: %d training and %d validation pairs", config.task, len(train_idx), len(val_idx))

    model = WDualMineNet(config.model).to(memory_format=torch.channels_last)
    curve = list(model.reliability.parameters())
    others = [p for p in model.parameters() if all(p is not q for q in curve)]
    optimiser = torch.optim.AdamW(
        [{"params": others, "weight_decay": 1e-4}, {"params": curve, "weight_decay": 0.0}], lr=config.learning_rate
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, [config.learning_rate, config.curve_learning_rate], total_steps=config.steps, pct_start=0.1
    )
    loss_fn = FusionLoss(config.loss)
    augmenter = Augmenter(config.crop, config.seed)
    step, elapsed = 0, 0.0
    metrics_at_resume: dict[str, float] = {}

    resume = work_dir / "last.pt"
    if resume.exists():
        state = torch.load(resume, map_location="cpu", weights_only=False)  # our own file: holds RNG states
        if state["config"] != config.as_dict():
            raise ValueError(f"{resume} was written with a different configuration; remove it or use another folder")
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(state["schedule"])
        augmenter.rng.bit_generator.state = state["augmenter"]
        torch.set_rng_state(state["torch_rng"])
        step, elapsed = state["step"], state["elapsed"]
        metrics_at_resume = state.get("metrics", {})
        log.info("resumed at step %d", step)
        # a crash after an evaluation but before the next checkpoint replays those steps: drop their log lines
        log_file = work_dir / "log.jsonl"
        if log_file.exists():
            kept = [line for line in log_file.read_text().splitlines() if line and json.loads(line)["step"] <= step]
            log_file.write_text("".join(line + "\n" for line in kept))

    def checkpoint() -> None:
        partial = resume.with_suffix(".partial")
        torch.save(
            {
                "config": config.as_dict(),
                "model": model.state_dict(),
                "optimiser": optimiser.state_dict(),
                "schedule": schedule.state_dict(),
                "augmenter": augmenter.rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
                "step": step,
                "elapsed": elapsed,
                "metrics": metrics,
            },
            partial,
        )
        partial.replace(resume)

    controls = FusionControls(base=config.base, base_power=config.base_power)
    metrics: dict[str, float] = metrics_at_resume  # the last evaluation, also when the run had already finished
    running: dict[str, list[float]] = {}
    while step < config.steps:
        model.train()
        started = time.perf_counter()
        a, b = augmenter.batch(train_set, config.batch_size)
        a = a.contiguous(memory_format=torch.channels_last)
        b = b.contiguous(memory_format=torch.channels_last)
        loss, terms = loss_fn(a, b, model(a, b, controls))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        step += 1
        elapsed += time.perf_counter() - started
        for name, value in {"loss": float(loss.detach()), **terms}.items():
            running.setdefault(name, []).append(value)
        if progress is not None:
            progress(step, config.steps, terms)
        if step % config.eval_every == 0 or step == config.steps:
            metrics = validate(model, val_set, controls)
            record = {"step": step, "seconds": round(elapsed, 1), **{k: float(np.mean(v)) for k, v in running.items()}, "val": metrics}
            running = {}
            with open(work_dir / "log.jsonl", "a") as stream:
                stream.write(json.dumps(record) + "\n")
            log.info("step %d: %s", step, record)
        if step % config.checkpoint_every == 0 or step == config.steps:  # after the evaluation, so it holds its metrics
            checkpoint()

    meta = {
        "task": config.task,
        "train": config.as_dict(),
        "train_pairs": len(train_idx),
        "validation_pairs": len(val_idx),
        "validation_series": sorted({pairs.ids[k][:3] for k in val_idx}),
        "training_seconds": round(elapsed, 1),
        "validation": metrics,
    }
    save_checkpoint(model.to(memory_format=torch.contiguous_format), work_dir / "model.pt", meta)
    return metrics
