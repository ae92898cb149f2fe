"""BT.601 (full-range, JPEG) YCbCr, used to fuse pseudo-colour PET/SPECT on luma and keep their colour."""

from __future__ import annotations

import numpy as np

LUMA = np.array([0.299, 0.587, 0.114])


def rgb_to_ycbcr(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ... x 3 RGB (any range) into Y, Cb, Cr in the same range; Cb and Cr are centred on 0."""
    rgb = np.asarray(rgb, dtype=np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = LUMA[0] * r + LUMA[1] * g + LUMA[2] * b
    cb = (b - y) * (0.5 / (1 - LUMA[2]))
    cr = (r - y) * (0.5 / (1 - LUMA[0]))
    return y, cb, cr


def ycbcr_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """Inverse of rgb_to_ycbcr (exact up to floating point)."""
    r = y + cr * (2 * (1 - LUMA[0]))
    b = y + cb * (2 * (1 - LUMA[2]))
    g = (y - LUMA[0] * r - LUMA[2] * b) / LUMA[1]
    return np.stack([r, g, b], axis=-1)


def recolour(fused_luma: np.ndarray, source_rgb: np.ndarray) -> np.ndarray:
    """Put the source's chroma back on a fused luma (same range as the source, e.g. 0..255).

    Where the fused luma is 0 (background), the chroma is dropped as well, so
    the background stays black instead of taking the source's tint.
    """
    _, cb, cr = rgb_to_ycbcr(source_rgb)
    keep = (np.asarray(fused_luma) > 0).astype(np.float64)
    return ycbcr_to_rgb(fused_luma, cb * keep, cr * keep)
