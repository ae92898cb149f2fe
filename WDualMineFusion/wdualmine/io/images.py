"""Reading 2-D and 3-D images with SimpleITK, with clear messages for bad files, and atomic writes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..colour import LUMA
from ..errors import InputError

IMAGE_2D_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def full_suffix(path: Path | str) -> str:
    """The file type suffix, counting the compressed ones as one (.nii.gz)."""
    name = Path(path).name.lower()
    for double in (".nii.gz", ".seg.nrrd"):
        if name.endswith(double):
            return double
    return Path(name).suffix


def _check_readable_path(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise InputError(f"{path} is a folder; give an image file, or two folders to fuse all same-named pairs")


def _unreadable(path: Path, error: RuntimeError) -> InputError:
    reason = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown reason"
    return InputError(
        f"{path}: cannot be read as an image ({reason[:200]}); give a PNG/JPG/TIFF slice or a NIfTI/NRRD/MHA volume"
    )


def read_image(path: Path | str) -> sitk.Image:
    """Read any image SimpleITK knows, or raise InputError naming the file and the fix."""
    path = Path(path)
    _check_readable_path(path)
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise _unreadable(path, error) from error


def read_header(path: Path | str) -> tuple[int, int]:
    """(dimension, components per pixel) from the file's header only, for checks before any heavy work."""
    path = Path(path)
    _check_readable_path(path)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as error:
        raise _unreadable(path, error) from error
    return reader.GetDimension(), reader.GetNumberOfComponents()


def is_rgb(image: sitk.Image) -> bool:
    return image.GetNumberOfComponentsPerPixel() in (3, 4)


def grey_array(image: sitk.Image) -> np.ndarray:
    """Scalar pixels as float32 array; RGB(A) becomes BT.601 luma (alpha is ignored)."""
    array = sitk.GetArrayViewFromImage(image)
    components = image.GetNumberOfComponentsPerPixel()
    if components == 1:
        return np.asarray(array, dtype=np.float32)
    if components in (3, 4):
        rgb = np.asarray(array[..., :3], dtype=np.float32)
        return (rgb @ LUMA.astype(np.float32)).astype(np.float32)
    if components == 2:  # grey + alpha
        return np.asarray(array[..., 0], dtype=np.float32)
    raise InputError(f"images with {components} components per pixel are not supported; give a grey or RGB image")


def read_grey_r1(path: Path | str) -> np.ndarray:
    """A 2-D image the way the R1 evaluator reads it: BT.601 luma in float32, rounded, 0..255."""
    from ..metrics import to_r1_grey

    image = read_image(path)
    if image.GetDimension() != 2 or image.GetNumberOfComponentsPerPixel() not in (1, 3, 4):
        raise InputError(f"{path}: expected a 2-D grey or RGB image")
    return to_r1_grey(sitk.GetArrayViewFromImage(image))


def write_image_atomic(image: sitk.Image, path: Path | str, compress: bool = True) -> None:
    """Write through a temporary file in the same folder, then rename: a crash never leaves a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = full_suffix(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    try:
        sitk.WriteImage(image, temporary, useCompression=compress and suffix not in IMAGE_2D_SUFFIXES)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
