"""Fusing files and folders of files: pairing, output naming, all-or-nothing writes."""

from __future__ import annotations

import filecmp
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import SimpleITK as sitk

from .controls import FusionControls
from .errors import InputError
from .inference import Fuser
from .io.images import IMAGE_2D_SUFFIXES, full_suffix, read_header, read_image
from .pipeline import FusionResult, fuse_2d, fuse_volume
from .volume.window import Window
from .weights import TASKS


VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
IMAGE_SUFFIXES = IMAGE_2D_SUFFIXES + VOLUME_SUFFIXES
MAP_SUFFIXES = {"reliability_a": "_reliability_a", "reliability_b": "_reliability_b", "arbitration": "_arbitration"}


@dataclass
class FuseOptions:
    task: str
    controls: FusionControls = FusionControls()
    maps: bool = False
    window_a: Window | None = None
    window_b: Window | None = None
    axis: str = "auto"
    working_size: int | None = 256
    reference: str = "a"


def guess_task(*paths: Path) -> str:
    """ct, pet or spect from the names of the inputs (e.g. PET-MRI/PET/001.png), or an InputError."""
    for path in paths:
        for part in reversed(Path(path).resolve().parts):
            # a whole word of the name: "PET", "PET-MRI", "pet_001.png", "head_ct.nii.gz"
            words = part.lower().replace("-", "_").replace(".", "_").split("_")
            for task in TASKS:
                if task in words:
                    return task
    raise InputError("cannot tell the task from the file names; say --task ct, --task pet or --task spect")


def is_image_file(path: Path) -> bool:
    return path.is_file() and full_suffix(path) in IMAGE_SUFFIXES


def pair_folders(folder_a: Path, folder_b: Path) -> list[tuple[Path, Path]]:
    """Same-named image files of two folders; unmatched names are an error that lists them."""
    names_a = {p.name for p in folder_a.iterdir() if is_image_file(p)}
    names_b = {p.name for p in folder_b.iterdir() if is_image_file(p)}
    only_a, only_b = sorted(names_a - names_b), sorted(names_b - names_a)
    if only_a or only_b:
        def listing(names: list[str]) -> str:
            return ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")

        parts = []
        if only_a:
            parts.append(f"only in {folder_a}: {listing(only_a)}")
        if only_b:
            parts.append(f"only in {folder_b}: {listing(only_b)}")
        raise InputError("the folders do not pair up by file name (" + "; ".join(parts) + "); give folders whose files match one to one")
    if not names_a:
        raise InputError(f"{folder_a} and {folder_b} hold no image files ({', '.join(IMAGE_SUFFIXES)})")
    return [(folder_a / n, folder_b / n) for n in sorted(names_a)]


def check_not_same(a: Path, b: Path) -> None:
    if a.resolve() == b.resolve() or (a.exists() and b.exists() and a.stat().st_size == b.stat().st_size and filecmp.cmp(a, b, shallow=False)):
        raise InputError(f"{a} and {b} are the same image; give the functional/CT image as A and the MRI as B")


def output_names(out: Path, maps: bool) -> dict[str, Path]:
    """Where each output goes: OUT itself for the fused image, the maps beside it with a suffix."""
    suffix = full_suffix(out)
    stem = out.name[: -len(suffix)] if suffix else out.name
    names = {"fused": out}
    if maps:
        names.update({name: out.with_name(stem + tail + suffix) for name, tail in MAP_SUFFIXES.items()})
    return names


def output_paths(out: Path, result: FusionResult) -> dict[Path, sitk.Image]:
    names = output_names(out, bool(result.maps))
    images = {out: result.fused_rgb if result.fused_rgb is not None else result.fused}
    for name, image in result.maps.items():
        images[names[name]] = _displayable(image, full_suffix(out))
    return images


def check_pair_plan(a_path: Path, b_path: Path, out_path: Path, maps: bool) -> None:
    """Everything about one pair that can be checked from file headers, before any fusion runs."""
    check_not_same(a_path, b_path)
    (dim_a, _), (dim_b, _) = read_header(a_path), read_header(b_path)
    for path, dimension in ((a_path, dim_a), (b_path, dim_b)):
        if dimension not in (2, 3):
            raise InputError(f"{path} is {dimension}-D; give a 2-D slice or a 3-D volume (extract one time point of a 4-D series first)")
    if dim_a != dim_b:
        raise InputError(f"{a_path} is {dim_a}-D but {b_path} is {dim_b}-D; give two slices or two volumes")
    suffix = full_suffix(out_path)
    allowed = IMAGE_SUFFIXES if dim_a == 2 else VOLUME_SUFFIXES
    if suffix not in allowed:
        raise InputError(f"{out_path}: cannot write a {dim_a}-D result as '{suffix or 'no type'}'; use one of {', '.join(allowed)}")
    inputs = {a_path.resolve(), b_path.resolve()}
    for path in output_names(out_path, maps).values():
        if path.resolve() in inputs:
            raise InputError(f"{path} would overwrite an input; choose another output file or folder")


def _displayable(image: sitk.Image, suffix: str) -> sitk.Image:
    """Maps are float 0..1; PNG/JPG cannot hold float, so they become 0..255 there."""
    if suffix in IMAGE_2D_SUFFIXES and suffix not in (".tif", ".tiff"):
        return sitk.Cast(sitk.Round(sitk.Clamp(image, sitk.sitkFloat32, 0.0, 1.0) * 255.0), sitk.sitkUInt8)
    return image


def write_all(images: dict[Path, sitk.Image]) -> None:
    """Write every output to a temporary file first, then rename them all: no half set left looking complete."""
    temporaries: list[tuple[Path, Path]] = []
    try:
        for path, image in images.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            suffix = full_suffix(path)
            handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
            os.close(handle)
            temporaries.append((Path(temporary), path))
            sitk.WriteImage(image, temporary, useCompression=suffix not in IMAGE_2D_SUFFIXES)
        for temporary, path in temporaries:
            os.replace(temporary, path)
    except (RuntimeError, OSError) as error:
        reason = (str(error).strip().splitlines() or ["unknown reason"])[-1][:200]
        raise InputError(f"cannot write {path} ({reason}); check the file type and that the folder is writable") from error
    finally:
        for temporary, _ in temporaries:
            temporary.unlink(missing_ok=True)


def fuse_file_pair(
    fuser: Fuser,
    a_path: Path,
    b_path: Path,
    out_path: Path,
    options: FuseOptions,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Path], list[str]]:
    """Fuse one pair of files into ``out_path`` (plus maps); returns the written paths and warnings."""
    check_pair_plan(a_path, b_path, out_path, options.maps)
    a, b = read_image(a_path), read_image(b_path)
    names = (str(a_path), str(b_path))
    if a.GetDimension() == 2 and b.GetDimension() == 2:
        result = fuse_2d(fuser, a, b, options.controls, options.maps, names, options.window_a, options.window_b)
    else:
        result = fuse_volume(
            fuser, a, b, options.controls, options.maps, names, options.window_a, options.window_b,
            options.axis, options.working_size, options.reference, progress,
        )
    images = output_paths(out_path, result)
    write_all(images)
    return list(images), result.warnings


def plan_outputs(a: Path, b: Path, out: Path) -> list[tuple[Path, Path, Path]]:
    """(A, B, OUT) triples for two files or two folders."""
    for path in (a, b):
        if not path.exists():
            raise InputError(f"{path}: no such file or folder; check the path")
    if a.is_dir() != b.is_dir():
        raise InputError(f"give two files or two folders, not one of each ({a}, {b})")
    if a.is_dir():
        if out.exists() and not out.is_dir():
            raise InputError(f"{out} is a file; when fusing folders, OUT must be a folder")
        return [(pa, pb, out / pa.name) for pa, pb in pair_folders(a, b)]
    if out.is_dir() or str(out).endswith(os.sep) or not full_suffix(out):
        return [(a, b, out / a.name)]
    return [(a, b, out)]


def validate_task(task: str, a: Path, b: Path) -> str:
    if task == "auto":
        task = guess_task(a, b)
    if task not in TASKS:
        raise InputError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    return task
