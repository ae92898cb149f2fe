"""Resizing slices to the network's working scale and back."""

from __future__ import annotations

import numpy as np
import torch


def working_shape(shape: tuple[int, int], spacing: tuple[float, float], working_size: int | None) -> tuple[int, int]:
    """In-plane size the network sees.

    Slices whose longest side is below ``working_size`` (e.g. a 2-3 mm PET) are
    enlarged to it, with square pixels, so anatomy appears at roughly the
    scale of the 256 x 256 training slices; bigger slices keep their native
    size, so no detail is lost. ``None`` or 0 keeps every slice native.
    """
    height, width = shape
    if not working_size:
        return height, width
    physical_h, physical_w = height * spacing[0], width * spacing[1]
    longest = max(physical_h, physical_w)
    pixel = longest / working_size
    if max(height, width) >= working_size and abs(spacing[0] - spacing[1]) < 1e-3 * max(spacing):
        return height, width
    pixel = min(pixel, min(spacing))
    return max(8, int(round(physical_h / pixel))), max(8, int(round(physical_w / pixel)))


def resize_stack(stack: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of an N x H x W float stack (antialiased when shrinking)."""
    if stack.shape[-2:] == tuple(shape):
        return stack
    tensor = torch.from_numpy(np.ascontiguousarray(stack, dtype=np.float32)).unsqueeze(1)
    shrinking = shape[0] < stack.shape[-2] or shape[1] < stack.shape[-1]
    resized = torch.nn.functional.interpolate(tensor, size=shape, mode="bilinear", align_corners=False, antialias=shrinking)
    return resized[:, 0].numpy()
