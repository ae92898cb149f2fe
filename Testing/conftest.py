"""Shared fixtures: the package on sys.path, synthetic phantoms, models, the training data when present."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "WDualMineFusion") not in sys.path:
    sys.path.insert(0, str(REPO / "WDualMineFusion"))

AANLIB = REPO.parent / "shared" / "data" / "aanlib-train"


@pytest.fixture(scope="session")
def aanlib_root() -> Path:
    if not AANLIB.is_dir():
        pytest.skip("the AANLIB training pairs (../shared/data/aanlib-train next to the repository) are not here")
    return AANLIB


def head_phantom(shape=(24, 40, 48), seed=0, functional=False) -> np.ndarray:
    """A k, j, i ellipsoid 'head' with inner structure; the functional variant has a hot spot."""
    rng = np.random.default_rng(seed)
    k, j, i = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    radius = (k / 0.9) ** 2 + (j / 0.8) ** 2 + (i / 0.7) ** 2
    head = (radius < 1).astype(np.float32)
    inner = (radius < 0.5).astype(np.float32)
    if functional:
        hot = (((k - 0.2) ** 2 + (j + 0.3) ** 2 + (i - 0.2) ** 2) < 0.05).astype(np.float32)
        volume = 400 * head + 600 * inner + 3000 * hot
    else:
        rings = 0.5 + 0.5 * np.sin(8 * np.sqrt(radius))
        volume = 300 * head + 500 * inner * rings
    return (volume + rng.normal(0, 5, shape) * head).clip(0).astype(np.float32)


@pytest.fixture
def phantom():
    return head_phantom


@pytest.fixture(scope="session")
def random_fuser():
    """An untrained network with fixed weights: for behaviour that does not depend on training."""
    import torch

    from wdualmine.inference import Fuser
    from wdualmine.network import WDualMineNet

    torch.manual_seed(0)
    return Fuser(WDualMineNet(), torch.device("cpu"), batch_size=4)


@pytest.fixture(scope="session")
def pet_fuser():
    """The shipped PET model on the CPU (real weights)."""
    from wdualmine.inference import Fuser

    return Fuser.for_task("pet", device="cpu", batch_size=8)


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """Commands run in-process (``main(["sweep", "--threads", "1", ...])``) set torch's process-wide thread
    count; restore it so a later test's fusion does not run on another count (float sums then differ in
    their last bits, and the process-versus-in-process comparison is bit for bit)."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
