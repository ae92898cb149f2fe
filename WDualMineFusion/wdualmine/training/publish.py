"""Turning a trained checkpoint into a shipped model: copy, checksum, catalogue entry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..weights import CATALOGUE, WEIGHTS_DIR, load_model, sha256_of


def publish(model_path: Path | str, task: str, version: str, description: str = "", catalogue: Path = CATALOGUE) -> dict:
    """Copy ``model_path`` to the weights folder as wdualmine-<task>-v<version>.pt and record it in models.json."""
    model_path = Path(model_path)
    load_model(model_path)  # refuse to ship something that does not load
    target = Path(catalogue).parent / f"wdualmine-{task}-v{version}.pt"
    shutil.copyfile(model_path, target)
    entry = {"task": task, "file": target.name, "sha256": sha256_of(target), "version": version, "description": description}
    data = json.loads(Path(catalogue).read_text()) if Path(catalogue).exists() else {"models": []}
    old = [e for e in data["models"] if e["task"] == task]
    data["models"] = sorted([e for e in data["models"] if e["task"] != task] + [entry], key=lambda e: e["task"])
    Path(catalogue).write_text(json.dumps(data, indent=2) + "\n")
    for previous in old:  # one shipped file per task
        if previous["file"] != target.name:
            (WEIGHTS_DIR / previous["file"]).unlink(missing_ok=True)
    return entry
