"""Training pairs in the AANLIB folder layout, the series-wise validation split, augmentation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..io.images import read_grey_r1

# task -> (folder, modality A sub-folder); modality B is always MRI
TASK_FOLDERS = {"ct": ("CT-MRI", "CT"), "pet": ("PET-MRI", "PET"), "spect": ("SPECT-MRI", "SPECT")}


@dataclass
class PairSet:
    ids: list[str]
    a: np.ndarray  # N x H x W uint8, R1 grey (BT.601 luma, rounded)
    b: np.ndarray


def series_of(pair_id: str) -> str:
    """The first three digits of a file name are the series (one study)."""
    return pair_id[:3]


def load_pairs(root: Path | str, task: str) -> PairSet:
    folder, modality = TASK_FOLDERS[task]
    base = Path(root) / folder
    names = sorted(p.name for p in (base / modality).glob("*.png"))
    if not names:
        raise FileNotFoundError(f"no {modality} PNGs in {base / modality}; expected the layout TASK/{{{modality},MRI}}/<id>.png")
    a = np.stack([read_grey_r1(base / modality / n) for n in names]).astype(np.uint8)
    b = np.stack([read_grey_r1(base / "MRI" / n) for n in names]).astype(np.uint8)
    return PairSet([Path(n).stem for n in names], a, b)


def split_by_series(ids: list[str], every: int = 5, offset: int = 2) -> tuple[list[int], list[int]]:
    """Indices for training and validation; every ``every``-th series (sorted) is held out.

    Neighbouring slices of a series are near duplicates, so holding out whole
    series keeps validation honest.
    """
    series = sorted({series_of(i) for i in ids})
    held = {s for k, s in enumerate(series) if k % every == offset % every} or {series[-1]}
    train = [k for k, i in enumerate(ids) if series_of(i) not in held]
    val = [k for k, i in enumerate(ids) if series_of(i) in held]
    return train, val


def subset(pairs: PairSet, indices: list[int]) -> PairSet:
    return PairSet([pairs.ids[k] for k in indices], pairs.a[indices], pairs.b[indices])


class Augmenter:
    """Random crops, flips and 90-degree rotations (anatomy stays plausible), mild intensity jitter.

    Jitter is a gain and a gamma per modality; both keep 0 at 0, so the
    background stays exactly background.
    """

    def __init__(self, crop: int, seed: int, jitter: float = 0.1):
        self.crop = crop
        self.jitter = jitter
        self.rng = np.random.default_rng(seed)

    def batch(self, pairs: PairSet, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        n, height, width = pairs.a.shape
        a_out = np.empty((size, self.crop, self.crop), np.float32)
        b_out = np.empty_like(a_out)
        for k in range(size):
            i = self.rng.integers(n)
            y = self.rng.integers(0, height - self.crop + 1)
            x = self.rng.integers(0, width - self.crop + 1)
            a = pairs.a[i, y : y + self.crop, x : x + self.crop] / np.float32(255)
            b = pairs.b[i, y : y + self.crop, x : x + self.crop] / np.float32(255)
            turns, flip = self.rng.integers(4), self.rng.integers(2)
            a, b = np.rot90(a, turns), np.rot90(b, turns)
            if flip:
                a, b = a[:, ::-1], b[:, ::-1]
            a_out[k], b_out[k] = self._jitter(a), self._jitter(b)
        return torch.from_numpy(a_out).unsqueeze(1), torch.from_numpy(b_out).unsqueeze(1)

    def _jitter(self, image: np.ndarray) -> np.ndarray:
        gain = 1 + self.rng.uniform(-self.jitter, self.jitter)
        gamma = np.exp(self.rng.uniform(-self.jitter, self.jitter))
        return np.clip(gain * np.power(image, gamma), 0, 1)
