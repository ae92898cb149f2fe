"""Checks that run before any fusion, so a doomed run stops in seconds instead of after the network."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import InputError

COMPLEX_PIXELS = {sitk.sitkComplexFloat32, sitk.sitkComplexFloat64}
FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_writable_folder(path: Path) -> None:
    """The folder an output goes to (or the nearest existing folder above it) must take new files.

    Tried by creating and removing a file: permission bits alone do not tell (root, ACLs, read-only
    mounts).
    """
    folder = Path(path).parent
    while not folder.exists():
        if folder.parent == folder:
            break
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(f"cannot write {path}: {folder} is a file, not a folder; choose another output path")
    try:
        handle, probe = tempfile.mkstemp(prefix=".wdualmine-probe-", dir=folder)
    except OSError as error:
        reason = error.strerror or str(error)
        raise InputError(f"cannot write {path}: {folder} does not take new files ({reason}); choose a folder you can write to") from error
    os.close(handle)
    os.unlink(probe)


def check_pixel_type(path: Path, pixel_id: int) -> None:
    if pixel_id in COMPLEX_PIXELS:
        raise InputError(f"{path} holds complex values; give a real image (e.g. the magnitude: SimpleITK's ComplexToModulus)")


def check_value_range(image: sitk.Image, path: Path) -> None:
    """Float64 voxels beyond float32's range would become Inf in the float32 pipeline and blank the image."""
    if image.GetPixelID() not in (sitk.sitkFloat64, sitk.sitkVectorFloat64):
        return
    values = sitk.GetArrayViewFromImage(image)
    largest = float(np.max(np.abs(values), initial=0.0, where=np.isfinite(values)))  # Inf is handled later, as Inf
    if largest > FLOAT32_MAX:
        raise InputError(
            f"{path} has values up to {largest:.3g}, beyond float32's {FLOAT32_MAX:.3g} that fusion computes in; "
            "rescale the image first (e.g. to its physical units)"
        )
