"""Scoring folders of fused images against their sources with the R1 protocol, one row per task."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import InputError
from .io.images import read_grey_r1
from .metrics import METRIC_NAMES, cc_ceiling, compute_all, r1_stretch

# folder of each task in the AANLIB layout -> modality A's sub-folder
TASK_LAYOUT = {"CT-MRI": "CT", "PET-MRI": "PET", "SPECT-MRI": "SPECT"}


def average_fusion(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 0.5 * (a + b)


def max_fusion(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum(a, b)


REFERENCE_FUSIONS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {"average": average_fusion, "max": max_fusion}


@dataclass
class Row:
    task: str
    method: str
    count: int
    metrics: dict[str, float]
    ceiling: float


def task_folders(sources: Path, tasks: list[str] | None = None) -> dict[str, Path]:
    found = {name: sources / name for name in TASK_LAYOUT if (sources / name / TASK_LAYOUT[name]).is_dir()}
    if tasks:
        wanted = {t.upper() + "-MRI" if not t.upper().endswith("-MRI") else t.upper() for t in tasks}
        found = {name: path for name, path in found.items() if name in wanted}
    if not found:
        raise InputError(
            f"{sources} has no task folders of the layout TASK/{{CT|PET|SPECT,MRI}}/<id>.png "
            f"(TASK one of {', '.join(TASK_LAYOUT)})"
        )
    return found


def pair_ids(task_dir: Path, modality: str) -> list[str]:
    ids_a = {p.name for p in (task_dir / modality).glob("*.png")}
    ids_b = {p.name for p in (task_dir / "MRI").glob("*.png")}
    if ids_a != ids_b:
        missing = sorted(ids_a ^ ids_b)
        raise InputError(f"{task_dir}: {modality} and MRI do not pair up by name ({', '.join(missing[:10])})")
    return sorted(ids_a)


def evaluate(
    sources: Path | str,
    fused: Path | str | None = None,
    references: tuple[str, ...] = ("average", "max"),
    stretch: bool = True,
    tasks: list[str] | None = None,
    method_name: str = "fused",
    progress: Callable[[int, int], None] | None = None,
) -> list[Row]:
    """Mean R1 metrics per task for the fused folder (FUSED/TASK/<id>.png) and the reference fusions.

    ``stretch`` min-max stretches every fused image (the fused folder's and the
    references') to 0..255 before scoring, as the peers' test scripts do.
    """
    sources = Path(sources)
    folders = task_folders(sources, tasks)
    methods = ([method_name] if fused is not None else []) + [r for r in references]
    for reference in references:
        if reference not in REFERENCE_FUSIONS:
            raise InputError(f"unknown reference fusion {reference!r}; use {', '.join(REFERENCE_FUSIONS)}")
    jobs = {name: pair_ids(folder, TASK_LAYOUT[name]) for name, folder in folders.items()}
    if fused is not None:
        missing = [f"{name}/{i}" for name, ids in jobs.items() for i in ids if not (Path(fused) / name / i).is_file()]
        if missing:
            raise InputError(
                f"{fused} lacks {len(missing)} fused image(s) for the sources, e.g. {', '.join(missing[:5])}; "
                "fuse the whole folder first (wdualmine fuse) or choose --tasks"
            )
    total, done = sum(len(ids) for ids in jobs.values()), 0
    rows = []
    for name, ids in jobs.items():
        scores = {method: [] for method in methods}
        ceilings = []
        for image_id in ids:
            a = read_grey_r1(folders[name] / TASK_LAYOUT[name] / image_id)
            b = read_grey_r1(folders[name] / "MRI" / image_id)
            ceilings.append(cc_ceiling(a, b))
            for method in methods:
                if method == method_name:
                    f = read_grey_r1(Path(fused) / name / image_id)
                    if f.shape != a.shape:
                        raise InputError(f"{Path(fused) / name / image_id} is {f.shape} but its sources are {a.shape}")
                else:
                    f = REFERENCE_FUSIONS[method](a, b)
                scores[method].append(compute_all(r1_stretch(f) if stretch else f, a, b))
            done += 1
            if progress is not None:
                progress(done, total)
        for method in methods:
            means = {m: float(np.mean([s[m] for s in scores[method]])) for m in METRIC_NAMES}
            rows.append(Row(name, method, len(ids), means, float(np.mean(ceilings))))
    return rows


def format_table(rows: list[Row]) -> str:
    header = ["task", "method", "n", *METRIC_NAMES, "CC ceiling"]
    lines = [header]
    for row in rows:
        lines.append([row.task, row.method, str(row.count), *(f"{row.metrics[m]:.4f}" for m in METRIC_NAMES), f"{row.ceiling:.4f}"])
    widths = [max(len(line[k]) for line in lines) for k in range(len(header))]
    text = ["  ".join(cell.rjust(widths[k]) if k > 1 else cell.ljust(widths[k]) for k, cell in enumerate(line)) for line in lines]
    return "\n".join(text)


def rows_as_dicts(rows: list[Row]) -> list[dict]:
    return [{"task": r.task, "method": r.method, "n": r.count, **r.metrics, "CC_ceiling": r.ceiling} for r in rows]
