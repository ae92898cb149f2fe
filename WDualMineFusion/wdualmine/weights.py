"""Shipped model weights: catalogue, SHA-256 check, safe loading."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from .controls import TASKS  # noqa: F401  (the tasks, one shipped model each; imported from here too)
from .network import ModelConfig, WDualMineNet

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
CATALOGUE = WEIGHTS_DIR / "models.json"


class WeightsError(RuntimeError):
    """A weights file is missing, corrupt or does not match its checksum."""


@dataclass(frozen=True)
class ModelEntry:
    task: str
    path: Path
    sha256: str
    version: str
    description: str


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_catalogue(catalogue: Path = CATALOGUE) -> dict[str, ModelEntry]:
    try:
        entries = json.loads(Path(catalogue).read_text())["models"]
    except FileNotFoundError as error:
        raise WeightsError(f"model catalogue {catalogue} is missing; reinstall wdualmine") from error
    except (ValueError, KeyError) as error:
        raise WeightsError(f"model catalogue {catalogue} is not valid JSON with a 'models' list: {error}") from error
    return {
        e["task"]: ModelEntry(e["task"], Path(catalogue).parent / e["file"], e["sha256"], e["version"], e.get("description", ""))
        for e in entries
    }


def shipped_entry(task: str) -> ModelEntry:
    task = task.lower()
    catalogue = load_catalogue()
    if task not in catalogue:
        raise WeightsError(f"no shipped model for task {task!r}; available: {', '.join(sorted(catalogue))}")
    return catalogue[task]


def load_model(
    path: Path | str,
    sha256: str | None = None,
    device: torch.device | str = "cpu",
) -> tuple[WDualMineNet, dict]:
    """Build the network from a checkpoint after checking its SHA-256 (when given).

    Returns the model in eval mode and the checkpoint's metadata. The file is
    read with ``weights_only=True``, so a checkpoint cannot run code on load.
    """
    path = Path(path)
    if path.is_dir():
        raise WeightsError(f"{path} is a folder; give the checkpoint file itself (e.g. WORK_DIR/model.pt from `wdualmine train`)")
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist; reinstall wdualmine or pass an existing --weights file")
    if sha256 is not None:
        actual = sha256_of(path)
        if actual != sha256:
            raise WeightsError(
                f"weights file {path} is corrupt or was replaced: SHA-256 {actual[:12]}... does not match the expected "
                f"{sha256[:12]}...; reinstall wdualmine (or re-download the file)"
            )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        model = WDualMineNet(ModelConfig.from_dict(checkpoint["config"]))
        model.load_state_dict(checkpoint["state_dict"])
    except Exception as error:  # any unpickling or shape error means the file is not a usable checkpoint
        reason = (str(error).strip().splitlines() or ["unknown reason"])[0][:160]
        raise WeightsError(
            f"weights file {path} is not a usable W-DUALMINE checkpoint ({reason}); reinstall wdualmine or pass a file "
            "written by `wdualmine train`"
        ) from error
    check_finite(model, path)
    return model.to(device).eval(), dict(checkpoint.get("meta", {}))


def check_finite(model: WDualMineNet, path: Path) -> None:
    """NaN or Inf weights (a diverged training run) would fuse every image to zeros without a word."""
    bad = [name for name, tensor in model.state_dict().items() if tensor.is_floating_point() and not torch.isfinite(tensor).all()]
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise WeightsError(
            f"weights file {path} holds NaN or Inf values ({', '.join(bad[:3])}{more}); the training run that wrote it "
            "diverged: use an earlier checkpoint or train again"
        )


def load_shipped_model(task: str, device: torch.device | str = "cpu") -> tuple[WDualMineNet, dict]:
    entry = shipped_entry(task)
    return load_model(entry.path, entry.sha256, device)


def save_checkpoint(model: WDualMineNet, path: Path | str, meta: dict | None = None) -> str:
    """Write a shippable checkpoint atomically and return its SHA-256."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    torch.save({"config": model.config.as_dict(), "state_dict": model.state_dict(), "meta": meta or {}}, partial)
    partial.replace(path)
    return sha256_of(path)
