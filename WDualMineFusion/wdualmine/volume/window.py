"""Mapping intensities to the [0, 1] range the network was trained on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

DEFAULT_PERCENTILES = (0.5, 99.5)
SAMPLE_LIMIT = 2_000_000  # voxels used to estimate percentiles of a big volume


@dataclass(frozen=True)
class Window:
    """Linear map of [low, high] onto [0, 1], clipped."""

    low: float
    high: float

    @classmethod
    def from_width_level(cls, width: float, level: float) -> "Window":
        if width <= 0:
            raise InputError(f"window width must be positive, got {width:g}; e.g. 400/40")
        return cls(level - width / 2.0, level + width / 2.0)

    @classmethod
    def parse(cls, text: str) -> "Window":
        """Parse "WIDTH/LEVEL" (as in Slicer's window/level) or "LOW:HIGH"."""
        try:
            first, second = (float(v) for v in text.split(":" if ":" in text else "/"))
        except ValueError as error:
            raise InputError(f"cannot read window {text!r}; write WIDTH/LEVEL (e.g. 400/40) or LOW:HIGH (e.g. -160:240)") from error
        if not (np.isfinite(first) and np.isfinite(second)):  # NaN would blank the image without a word
            raise InputError(f"window {text!r} has a NaN or infinite number; give finite values, e.g. 400/40 or -160:240")
        if ":" in text:
            if second <= first:
                raise InputError(f"window {text!r}: HIGH must be above LOW, e.g. -160:240")
            return cls(first, second)
        return cls.from_width_level(first, second)

    @property
    def constant(self) -> bool:
        return not self.high > self.low

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Float32 in [0, 1]; NaN becomes 0 (background), +/-Inf clip to the ends."""
        values = np.asarray(values, dtype=np.float32)
        if self.constant:
            return np.zeros(values.shape, np.float32)
        scaled = values - np.float32(self.low)  # a new array: the ufuncs below work in place on it
        np.divide(scaled, np.float32(self.high - self.low), out=scaled)
        # fmax/fmin take the number where the other operand is NaN: NaN -> 0, -Inf -> 0, +Inf -> 1, one pass
        # each (np.clip then np.nan_to_num made three more arrays; a CT's slices took 0.7 s of a fusion)
        np.fmax(scaled, np.float32(0.0), out=scaled)
        return np.fmin(scaled, np.float32(1.0), out=scaled)


def sample_voxels(array: np.ndarray, limit: int = SAMPLE_LIMIT) -> np.ndarray:
    flat = array.reshape(-1)
    step = max(1, flat.size // limit)
    return flat[::step]


def percentile_window(array: np.ndarray, percentiles: tuple[float, float] = DEFAULT_PERCENTILES) -> Window:
    """Robust window from percentiles of the finite voxels (a strided sample for big volumes)."""
    values = sample_voxels(array).astype(np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Window(0.0, 0.0)
    low, high = np.percentile(values, percentiles)
    if high <= low:  # e.g. a mostly-empty volume: fall back to the full range
        low, high = float(values.min()), float(values.max())
    return Window(float(low), float(high))


def default_window(array: np.ndarray) -> Window:
    """8-bit images are used as they are (the training data were 8-bit); others get percentiles."""
    if array.dtype == np.uint8:
        return Window(0.0, 255.0)
    return percentile_window(array)
