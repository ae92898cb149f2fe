"""Fusing files and folders of files: pairing, output naming, all-or-nothing writes."""

from __future__ import annotations

import filecmp
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import SimpleITK as sitk

from .checks import check_pixel_type, check_value_range, check_writable_folder
from .controls import ARBITRATION_UNUSED, FusionControls
from .controls_file import SUFFIX as CONTROLS_SUFFIX, SavedControls, controls_text, window_differences, window_pair
from .errors import InputError
from .inference import Fuser
from .io.images import IMAGE_2D_SUFFIXES, IMAGE_SUFFIXES, VOLUME_SUFFIXES, full_suffix
from .io.inputs import input_header, looks_like_series, read_input, task_of
from .io.integrity import data_files
from .io.nifti_stream import StreamedVolume, StreamUnavailable
from .io.termination import cleanup_on_termination
from .io.writing import STAGING_PREFIX, TextOutput, write_all
from .pipeline import FusionResult, fuse_2d, fuse_volume
from .volume.alignment import check_alignment
from .volume.window import Window
from .weights import TASKS


MAP_SUFFIXES = {"reliability_a": "_reliability_a", "reliability_b": "_reliability_b", "arbitration": "_arbitration"}


@dataclass
class FuseOptions:
    task: str
    controls: FusionControls = FusionControls()
    auto: bool = False  # adapt the controls to each pair first (see auto_controls)
    auto_fixed: tuple[str, ...] = ()  # controls the adaptation must leave as given
    maps: bool = False
    window_a: Window | None = None
    window_b: Window | None = None
    axis: str = "auto"
    working_size: int | None = 256
    reference: str = "a"
    series: tuple[str, ...] = ()  # DICOM series UIDs to pick where a folder holds several
    save_controls: bool = False  # write the controls the fusion ran with beside it (``controls_file``)
    model_sha256: str | None = None  # the model's, recorded in the saved controls
    controls_from: str | None = None  # where the given controls were read from, recorded as what chose them
    saved_windows: dict | None = None  # the windows recorded with those controls: a fusion on others is warned about
    saved_reference: str | None = None  # the grid recorded with them ("a"/"b"): a fusion on the other is warned about


# words of a file or folder name that name a task; "petct" and the like come from hybrid scanners
TASK_WORDS = {"ct": "ct", "pet": "pet", "spect": "spect", "petct": "pet", "spectct": "spect", "fdg": "pet"}


def guess_task(*paths: Path) -> str:
    """ct, pet or spect from the names of the inputs (e.g. PET-MRI/PET/001.png), or an InputError.

    The nearest name part that names a task decides. A PET or SPECT word beats a CT word in the same
    part: "PET_CT_001.nii.gz" is the PET of a PET/CT scanner, since its CT comes as a file of its own.
    """
    for path in paths:
        for part in reversed(Path(path).resolve().parts):
            # whole words of the name: "PET", "PET-MRI", "pet_001.png", "head_ct.nii.gz", "FDG-PET-CT"
            words = part.lower().replace("-", "_").replace(".", "_").replace(" ", "_").split("_")
            found = {TASK_WORDS[w] for w in words if w in TASK_WORDS}
            if len(found) > 1:
                found.discard("ct")
            if len(found) > 1:
                raise InputError(f"the name {part!r} names both {' and '.join(sorted(found))}; say --task ct, --task pet or --task spect")
            if found:
                return found.pop()
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
    both_files = a.is_file() and b.is_file()
    if a.resolve() == b.resolve() or (both_files and a.stat().st_size == b.stat().st_size and filecmp.cmp(a, b, shallow=False)):
        raise InputError(f"{a} and {b} are the same image; give the functional/CT image as A and the MRI as B")


def output_names(out: Path, maps: bool, controls: bool = False) -> dict[str, Path]:
    """Where each output goes: OUT itself for the fused image, the maps beside it with a suffix, and the
    controls file beside it as ``<name>.controls.json``."""
    suffix = full_suffix(out)
    stem = out.name[: -len(suffix)] if suffix else out.name
    names = {"fused": out}
    if maps:
        names.update({name: out.with_name(stem + tail + suffix) for name, tail in MAP_SUFFIXES.items()})
    if controls:
        names["controls"] = out.with_name(stem + CONTROLS_SUFFIX)
    return names


def output_paths(out: Path, result: FusionResult) -> dict[Path, sitk.Image]:
    names = output_names(out, bool(result.maps))
    images = {out: result.fused_rgb if result.fused_rgb is not None else result.fused}
    for name, image in result.maps.items():
        images[names[name]] = _displayable(image, full_suffix(out))
    return images


@contextmanager
def output_streams(out: Path, maps: bool):
    """A ``streams`` callback for ``fuse_volume`` that writes NIfTI outputs to disk as they are fused.

    A big volume's four float32 outputs are then never held in memory. An output that cannot be
    streamed (another format, no room to reserve its space) is kept in memory as before. Whatever
    was streamed is removed if the block fails, is interrupted, or gets SIGTERM/SIGHUP.
    """
    names = output_names(out, maps)
    made: list[StreamedVolume] = []

    def stream(name: str, grid: sitk.Image) -> StreamedVolume | None:
        try:
            made.append(StreamedVolume(names[name], grid, STAGING_PREFIX))
        except StreamUnavailable:
            return None
        return made[-1]

    with cleanup_on_termination():
        try:
            yield stream
        finally:
            for volume in made:
                volume.discard()


def input_files(path: Path) -> set[Path]:
    """An input and the data file its header names (.mhd, .nhdr), resolved: what no output may replace."""
    return {p.resolve() for p in [path, *data_files(path)]}


def companion_names(out: Path) -> list[Path]:
    """The data files SimpleITK writes beside a .mhd/.nhdr header (compressed, as outputs are)."""
    suffix = full_suffix(out)
    stem = out.name[: -len(suffix)] if suffix else out.name
    return {".mhd": [out.with_name(stem + ".zraw")], ".nhdr": [out.with_name(stem + ".raw.gz")]}.get(suffix, [])


def check_pair_plan(a_path: Path, b_path: Path, out_path: Path, maps: bool, series: tuple[str, ...] = (), controls: bool = False) -> None:
    """Everything about one pair that can be checked from file headers, before any fusion runs."""
    check_not_same(a_path, b_path)
    info_a, info_b = input_header(a_path, series), input_header(b_path, series)
    dim_a, dim_b = info_a.dimension, info_b.dimension
    for path, info in ((a_path, info_a), (b_path, info_b)):
        check_pixel_type(path, info.pixel_id)
    for path, dimension in ((a_path, dim_a), (b_path, dim_b)):
        if dimension not in (2, 3):
            raise InputError(f"{path} is {dimension}-D; give a 2-D slice or a 3-D volume (extract one time point of a 4-D series first)")
    if dim_a != dim_b:
        raise InputError(f"{a_path} is {dim_a}-D but {b_path} is {dim_b}-D; give two slices or two volumes")
    suffix = full_suffix(out_path)
    allowed = IMAGE_SUFFIXES if dim_a == 2 else VOLUME_SUFFIXES
    if suffix not in allowed:
        raise InputError(f"{out_path}: cannot write a {dim_a}-D result as '{suffix or 'no type'}'; use one of {', '.join(allowed)}")
    inputs = input_files(a_path) | input_files(b_path)
    for output in output_names(out_path, maps, controls).values():
        for path in [output, *companion_names(output)]:
            if path.resolve() in inputs:
                raise InputError(f"{path} would overwrite an input; choose another output file or folder")
    for folder in (a_path, b_path):
        if folder.is_dir() and folder.resolve() in out_path.resolve().parents:
            raise InputError(f"{out_path} is inside the DICOM input folder {folder}; inputs are never modified: write it elsewhere")
    check_writable_folder(out_path)


def _displayable(image: sitk.Image, suffix: str) -> sitk.Image:
    """Maps are float 0..1; PNG/JPG cannot hold float, so they become 0..255 there."""
    if suffix in IMAGE_2D_SUFFIXES and suffix not in (".tif", ".tiff"):
        return sitk.Cast(sitk.Round(sitk.Clamp(image, sitk.sitkFloat32, 0.0, 1.0) * 255.0), sitk.sitkUInt8)
    return image


def fuse_file_pair(
    fuser: Fuser,
    a_path: Path,
    b_path: Path,
    out_path: Path,
    options: FuseOptions,
    progress: Callable[[int, int], None] | None = None,
    report: list[str] | None = None,
) -> tuple[list[Path], list[str]]:
    """Fuse one pair of files into ``out_path`` (plus maps); returns the written paths and warnings.

    What auto chose for the pair, if it ran, is appended to ``report``.
    """
    check_pair_plan(a_path, b_path, out_path, options.maps, options.series, options.save_controls)
    (a, notes_a), (b, notes_b) = read_input(a_path, options.series), read_input(b_path, options.series)
    check_value_range(a, a_path)
    check_value_range(b, b_path)
    names = (str(a_path), str(b_path))
    if a.GetDimension() == 2 and b.GetDimension() == 2:
        result = fuse_2d(
            fuser, a, b, options.controls, options.maps, names, options.window_a, options.window_b, options.auto, options.auto_fixed
        )
        images = output_paths(out_path, result) | saved_controls(out_path, result, options)
        write_all(images, protect=input_files(a_path) | input_files(b_path))
    else:
        with output_streams(out_path, options.maps) as streams:
            result = fuse_volume(
                fuser, a, b, options.controls, options.maps, names, options.window_a, options.window_b,
                options.axis, options.working_size, options.reference, progress,
                auto=options.auto, auto_fixed=options.auto_fixed, streams=streams,
            )
            images = output_paths(out_path, result) | saved_controls(out_path, result, options)
            write_all(images, protect=input_files(a_path) | input_files(b_path))
    warnings = notes_a + notes_b + result.warnings
    if result.aligned is not None:  # volumes: fused on one grid as they are, so say when they do not look registered
        pair = result.aligned
        alignment = check_alignment(pair.a, pair.b, pair.grid.GetSpacing()[::-1], pair.window_a, pair.window_b)
        if alignment.misaligned:
            warnings.append(alignment.message)
    if options.saved_reference and result.aligned is not None and options.saved_reference != options.reference:
        warnings.append(
            f"the controls of {options.controls_from} were saved from a fusion on {options.saved_reference.upper()}'s grid; "
            f"give --reference {options.saved_reference} to fuse on it again"
        )
    if options.saved_windows:  # the saved controls on other grey levels give another fusion than the saved one
        for difference in window_differences(options.saved_windows, window_pair(result.aligned)):
            warnings.append(f"{difference} when the controls of {options.controls_from} were saved; give that window to fuse as then")
    if result.auto is not None and report is not None:
        report.append(result.auto.describe())
    if options.maps and result.controls is not None and not result.controls.arbitration_used and report is not None:
        report.append(ARBITRATION_UNUSED)
    return list(images), warnings


def saved_controls(out: Path, result: FusionResult, options: FuseOptions) -> dict[Path, TextOutput]:
    """The controls file to write with the fusion (none unless asked for): what it ran with, and what chose them."""
    if not options.save_controls:
        return {}
    if result.auto is not None:
        chosen_by = result.auto.describe()
    elif options.controls_from:
        chosen_by = f"read from {Path(options.controls_from).name}"
    else:
        chosen_by = "given on the command line"
    saved = SavedControls(
        result.controls or options.controls, options.task, chosen_by, options.model_sha256, window_pair(result.aligned),
        options.reference if result.aligned is not None else None,  # 2-D images have one grid
    )
    return {output_names(out, False, True)["controls"]: TextOutput(controls_text(saved))}


def plan_outputs(a: Path, b: Path, out: Path) -> list[tuple[Path, Path, Path]]:
    """(A, B, OUT) triples for two files, two folders of same-named files, or DICOM series folders."""
    for path in (a, b):
        if not path.exists():
            raise InputError(f"{path}: no such file or folder; check the path")
    single = [not p.is_dir() or looks_like_series(p) for p in (a, b)]
    if single[0] != single[1]:
        raise InputError(f"give two files or two folders of same-named files (a DICOM series folder counts as a file), not one of each ({a}, {b})")
    if not single[0]:
        if out.exists() and not out.is_dir():
            raise InputError(f"{out} is a file; when fusing folders, OUT must be a folder")
        return [(pa, pb, out / pa.name) for pa, pb in pair_folders(a, b)]
    if out.is_dir() or str(out).endswith(os.sep) or not full_suffix(out):
        return [(a, b, out / (a.name + ".nii.gz" if a.is_dir() else a.name))]  # a series is written as NIfTI
    return [(a, b, out)]


def validate_task(task: str, a: Path, b: Path, series: tuple[str, ...] = ()) -> str:
    task = task.lower()
    if task == "auto":
        task = task_of(a, series) or guess_task(a, b)  # a DICOM series says its modality
    if task not in TASKS:
        raise InputError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    return task
