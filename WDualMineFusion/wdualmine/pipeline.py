"""Fusing image files and volumes end to end: validate, align, window, fuse, restore geometry and colour."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import SimpleITK as sitk

from .auto_controls import (
    CONFIRM_PIXELS, SAMPLE_PIXELS, SAMPLE_SLICES, AutoChoice, choose_controls, choose_for_fuser, confirm_choice, has_anatomy,
    neutral_controls, searched_controls, spread,
)
from .colour import recolour
from .controls import FusionControls
from .errors import InputError
from .inference import MAP_NAMES, Cancelled, EncodedBatch, Fuser, SliceResult
from .io.images import grey_array, is_rgb
from .io.nifti_stream import StreamedVolume
from .network import SIZE_MULTIPLE
from .network.reliability import HOT_PERCENTILES
from .network.residual import BACKGROUND_LEVEL
from .volume.geometry import check_overlap, resample_onto, same_grid, slice_axis
from .volume.slices import resize_stack, working_shape
from .volume.window import Window, default_window



@dataclass
class FusionResult:
    """Output images on the reference grid: ``fused`` (grey, float32 0..1 for volumes, uint8 for 2-D),
    ``fused_rgb`` when the reference is RGB, and the maps (float32 0..1) when requested. A volume output
    asked to be streamed is the ``StreamedVolume`` on disk instead of an image."""

    fused: sitk.Image | StreamedVolume
    maps: dict[str, sitk.Image | StreamedVolume] = field(default_factory=dict)
    fused_rgb: sitk.Image | None = None
    warnings: list[str] = field(default_factory=list)
    aligned: "AlignedPair | None" = field(default=None, repr=False)  # volumes: the aligned inputs used
    controls: FusionControls | None = None  # the controls the fusion ran with (auto's choice when auto was on)
    auto: "AutoChoice | None" = None


def _check_pixels(image: sitk.Image, name: str, allow_rgb: bool) -> None:
    dimension = image.GetDimension()
    if dimension not in (2, 3):
        raise InputError(f"{name} is {dimension}-D; give a 2-D slice or a 3-D volume (extract one time point of a 4-D series first)")
    components = image.GetNumberOfComponentsPerPixel()
    if components != 1 and not (allow_rgb and dimension == 2 and components in (3, 4)):
        raise InputError(
            f"{name} has {components} components per voxel; only scalar volumes and 2-D RGB images are supported "
            "(convert a vector volume to a scalar one first, e.g. with Slicer's Vector to Scalar Volume)"
        )


def _content_warnings(array: np.ndarray, name: str) -> list[str]:
    notes = []
    bad = int(np.count_nonzero(~np.isfinite(array))) if array.dtype.kind == "f" else 0
    if bad:
        notes.append(f"{name} has {bad} NaN/Inf voxels; NaN is treated as background and +/-Inf as the window's ends")
    # a masked copy only in the rare non-finite case, so big volumes are not copied
    values = array[np.isfinite(array)] if bad else array
    if values.size == 0 or values.min() == values.max():
        value = float(values.flat[0]) if values.size else float("nan")
        notes.append(f"{name} is constant ({value:g}): it carries no structure, so the result follows the other input")
    return notes


def validate_pair(a: sitk.Image, b: sitk.Image, names: tuple[str, str] = ("A", "B")) -> None:
    _check_pixels(a, names[0], allow_rgb=True)
    _check_pixels(b, names[1], allow_rgb=True)
    if a.GetDimension() != b.GetDimension():
        raise InputError(
            f"{names[0]} is {a.GetDimension()}-D but {names[1]} is {b.GetDimension()}-D; give two slices or two volumes"
        )


def fuse_2d(
    fuser: Fuser,
    a: sitk.Image,
    b: sitk.Image,
    controls: FusionControls = FusionControls(),
    maps: bool = False,
    names: tuple[str, str] = ("A", "B"),
    window_a: Window | None = None,
    window_b: Window | None = None,
    auto: bool = False,
    auto_fixed: tuple[str, ...] = (),
) -> FusionResult:
    """Fuse two registered 2-D images of one size; RGB A is fused on luma and recoloured.

    ``auto`` adapts the controls to this image pair first (``auto_controls``).
    """
    validate_pair(a, b, names)
    notes_before = len(fuser.notes)
    if a.GetSize() != b.GetSize():
        raise InputError(
            f"{names[0]} is {a.GetSize()[0]}x{a.GetSize()[1]} but {names[1]} is {b.GetSize()[0]}x{b.GetSize()[1]} pixels; "
            "2-D pairs must be registered slices of one size"
        )
    grey_a, grey_b = grey_array(a), grey_array(b)
    warnings = _content_warnings(grey_a, names[0]) + _content_warnings(grey_b, names[1])
    a_native, b_native = sitk.GetArrayViewFromImage(a), sitk.GetArrayViewFromImage(b)
    window_a = window_a or (Window(0.0, 255.0) if a_native.dtype == np.uint8 else default_window(grey_a))
    window_b = window_b or (Window(0.0, 255.0) if b_native.dtype == np.uint8 else default_window(grey_b))
    windowed_a, windowed_b = window_a.apply(grey_a)[None], window_b.apply(grey_b)[None]
    choice = None
    if auto:
        padded_a, padded_b = pad_slices(windowed_a), pad_slices(windowed_b)
        choice = choose_for_fuser(fuser, padded_a, padded_b, hot_range(windowed_a)[0], controls, auto_fixed)
        controls = choice.controls
    result = fuser.fuse(windowed_a, windowed_b, controls, maps=maps)

    fused = result.fused[0]
    fused_8bit = stretch_to_8bit(fused)
    out = FusionResult(fused=_like(fused_8bit, a), warnings=warnings + fuser.notes[notes_before:], controls=controls, auto=choice)
    if is_rgb(a):
        rgb = np.asarray(sitk.GetArrayViewFromImage(a)[..., :3], dtype=np.float64)
        if window_a.low != 0.0 or window_a.high != 255.0:
            rgb = np.clip((rgb - window_a.low) / (window_a.high - window_a.low), 0, 1) * 255
        # recoloured without the stretch: a brighter luma would push the source's colours out of gamut
        # (measured on the atlas PET: the clipped luma lost 0.0015 CC), so the colour output keeps the fused range
        luma = np.round(np.clip(fused, 0, 1) * 255)
        coloured = np.round(np.clip(recolour(luma, rgb), 0, 255)).astype(np.uint8)
        out.fused_rgb = _like(coloured, a, vector=True)
    if maps:
        out.maps = {name: _like(result.maps[name][0], a) for name in MAP_NAMES}
    return out


def stretch_to_8bit(fused: np.ndarray) -> np.ndarray:
    """A fused grey 2-D image as 8-bit, min-max stretched to 0..255 (as the benchmark's protocol stretches every fusion).

    Rounding the unstretched values first and stretching later (what a reader of
    the PNG does) merges neighbouring grey levels twice and loses mutual
    information (0.07-0.13 nats on the atlas); one stretch and one rounding keep
    them. A constant image stays as it is.
    """
    fused = np.clip(fused, 0, 1)
    low, high = float(fused.min()), float(fused.max())
    if high <= low:
        return np.round(fused * 255).astype(np.uint8)
    return np.round((fused - low) / (high - low) * 255).astype(np.uint8)


def pad_slices(stack: np.ndarray) -> np.ndarray:
    """Zero-pad N x H x W slices to the network's size multiple (zero is background)."""
    height, width = stack.shape[-2:]
    return np.pad(stack, ((0, 0), (0, (-height) % SIZE_MULTIPLE), (0, (-width) % SIZE_MULTIPLE)))


def _like(array: np.ndarray, reference: sitk.Image, vector: bool = False) -> sitk.Image:
    image = sitk.GetImageFromArray(array, isVector=vector)
    image.SetOrigin(reference.GetOrigin())
    image.SetSpacing(reference.GetSpacing())
    image.SetDirection(reference.GetDirection())
    return image


def _blank_like(reference: sitk.Image) -> tuple[sitk.Image, np.ndarray]:
    """A zero float32 image with the reference's geometry and a writable k, j, i array over its pixels.

    Volumes are filled in place so no second copy is made (``GetImageFromArray``
    copies; ``GetArrayViewFromImage`` is read-only). The array borrows the
    image's buffer: keep the image alive while the array is used.
    """
    image = sitk.Image(reference.GetSize(), sitk.sitkFloat32)  # zero-filled by SimpleITK
    image.CopyInformation(reference)
    view = sitk.GetArrayViewFromImage(image)  # also makes the buffer this image's own
    buffer = (ctypes.c_byte * view.nbytes).from_address(view.__array_interface__["data"][0])
    return image, np.frombuffer(buffer, dtype=view.dtype).reshape(view.shape)


def _output_writer(name: str, grid: sitk.Image, along: int, streams) -> tuple[sitk.Image | StreamedVolume, Callable]:
    """An output's holder (an image filled in place, or a file written as it goes) and a function that
    puts a slab of fused slices (``index`` along the fusion axis) into it."""
    # only slabs along the first array axis are contiguous in the file; other axes fill an image
    stream = streams(name, grid) if streams is not None and along == 0 else None
    if stream is not None:
        return stream, lambda index, values: stream.write_slab(index.start, values)
    image, array = _blank_like(grid)

    def put(index: slice, values: np.ndarray) -> None:
        np.moveaxis(array, along, 0)[index] = values

    return image, put


@dataclass
class AlignedPair:
    """Both volumes as k, j, i arrays on one grid, with the windows that map them to [0, 1]."""

    grid: sitk.Image
    a: np.ndarray
    b: np.ndarray
    window_a: Window
    window_b: Window
    warnings: list[str]
    # the arrays are views into these images, which must outlive them
    images: tuple[sitk.Image, sitk.Image] = field(default=None, repr=False)


def align_volumes(
    a: sitk.Image,
    b: sitk.Image,
    names: tuple[str, str] = ("A", "B"),
    reference: str = "a",
    window_a: Window | None = None,
    window_b: Window | None = None,
) -> AlignedPair:
    """Validate two volumes and put them on the reference grid (A's or B's) in physical space.

    The other volume is resampled on a copy; an input already on the grid is
    used through a read-only view, so nothing is modified or copied in full.
    """
    validate_pair(a, b, names)
    if reference not in ("a", "b"):
        raise InputError(f"reference must be 'a' or 'b', got {reference!r}")
    grid = a if reference == "a" else b
    fraction = check_overlap(a, b, names) if reference == "a" else check_overlap(b, a, names[::-1])
    warnings = []
    if fraction < 0.1:
        warnings.append(f"the two volumes share only {fraction:.0%} of the reference field of view; check the registration")
    a_on_grid = a if a is grid or same_grid(a, grid) else resample_onto(a, grid)
    b_on_grid = b if b is grid or same_grid(b, grid) else resample_onto(b, grid)
    array_a = sitk.GetArrayViewFromImage(a_on_grid)
    array_b = sitk.GetArrayViewFromImage(b_on_grid)
    warnings += _content_warnings(array_a, names[0]) + _content_warnings(array_b, names[1])
    return AlignedPair(
        grid,
        array_a,
        array_b,
        window_a or default_window(array_a),
        window_b or default_window(array_b),
        warnings,
        (a_on_grid, b_on_grid),
    )


@dataclass(frozen=True)
class SlicePlan:
    """How the slices of an aligned pair go through the network."""

    along: int  # numpy axis of the k, j, i arrays that slices are taken along
    plane_shape: tuple[int, int]  # native slice size
    net_shape: tuple[int, int]  # slice size the network sees
    # whole-volume statistics of the pixel-wise rule, so every slice is fused alike:
    # the sources' standard deviations (equalisation) and A's hot levels (emphasis)
    scales: tuple[float, float, float, float]


def plan_slices(pair: AlignedPair, axis: str = "auto", working_size: int | None = 256) -> SlicePlan:
    along = slice_axis(pair.grid, axis)
    plane_axes = [ax for ax in range(3) if ax != along]
    spacing_kji = pair.grid.GetSpacing()[::-1]
    plane_shape = (pair.a.shape[plane_axes[0]], pair.a.shape[plane_axes[1]])
    net_shape = working_shape(plane_shape, (spacing_kji[plane_axes[0]], spacing_kji[plane_axes[1]]), working_size)
    return SlicePlan(along, plane_shape, net_shape, volume_statistics(pair))


def volume_statistics(pair: AlignedPair) -> tuple[float, float, float, float]:
    """One normalisation for the whole volume (from a 1/8 sample), so slices match.

    The sources' standard deviations, then A's grey levels at the hot
    percentiles of its foreground (the functional emphasis ramp).
    """
    sample_a = pair.window_a.apply(pair.a[::2, ::2, ::2])
    sample_b = pair.window_b.apply(pair.b[::2, ::2, ::2])
    hot = hot_range(sample_a)
    return (float(np.std(sample_a)) or 1e-3, float(np.std(sample_b)) or 1e-3, hot[0], hot[1])


def hot_range(windowed_a: np.ndarray) -> tuple[float, float]:
    """A's grey levels at the hot percentiles of its foreground (where functional emphasis starts and is full)."""
    foreground = windowed_a[windowed_a > BACKGROUND_LEVEL]
    if not foreground.size:
        return (1.0, 1.0)
    low, high = np.percentile(foreground, HOT_PERCENTILES)
    return (float(low), float(high))


@dataclass
class SlabInputs:
    """Windowed slices at the network's size, and at their native size with the foreground they are masked with."""

    a: np.ndarray
    b: np.ndarray
    foreground: np.ndarray
    native_a: np.ndarray | None = None
    native_b: np.ndarray | None = None


def quantise(values: np.ndarray) -> np.ndarray:
    """Windowed values in [0, 1] rounded to the 256 levels of an 8-bit image (float32)."""
    return (np.round(values * 255.0) / np.float32(255.0)).astype(np.float32, copy=False)


def slab_inputs(pair: AlignedPair, plan: SlicePlan, index: slice) -> SlabInputs:
    """Slices ``index`` along the plan's axis, windowed to [0, 1] and resized for the network."""
    # quantised to 256 levels, as the 8-bit images the network was trained on: the fused slice is then a
    # function of the two displayed grey levels, which the evaluation's grey-level MI counts exactly
    slab_a = quantise(pair.window_a.apply(np.moveaxis(pair.a, plan.along, 0)[index]))
    slab_b = quantise(pair.window_b.apply(np.moveaxis(pair.b, plan.along, 0)[index]))
    foreground = (slab_a > BACKGROUND_LEVEL) | (slab_b > BACKGROUND_LEVEL)
    return SlabInputs(resize_stack(slab_a, plan.net_shape), resize_stack(slab_b, plan.net_shape), foreground, slab_a, slab_b)


def slab_outputs(result: SliceResult, plan: SlicePlan, foreground: np.ndarray, mask_maps: bool = False) -> SliceResult:
    """Network outputs back at the native slice size; the fused image (and the maps if asked) is 0 off the anatomy."""
    fused = np.clip(resize_stack(result.fused, plan.plane_shape), 0, 1) * foreground
    maps = {}
    for name, values in result.maps.items():
        values = resize_stack(values, plan.plane_shape)
        maps[name] = values * foreground if mask_maps else values
    return SliceResult(fused=fused.astype(np.float32, copy=False), maps=maps)


def _composable(fuser: Fuser, inputs: SlabInputs) -> bool:
    """Whether the fused slices can be put together at native size from the pixel-wise rule and a residual."""
    return inputs.native_a is not None and fuser.model.config.residual_to_average


def needs_encoding(fuser: Fuser, inputs: SlabInputs, controls: FusionControls) -> bool:
    """False where the experts' residual would be scaled to 0: the pixel-wise rule alone is the result.

    The maps then need no encoding either: the reliability maps are the rule's share, and the
    arbitration map needs only the sources' gradients (``Fuser.gate_batch``). On a 512 x 512 x 300 CT
    with maps this took the fusion of its 300 slices from about 29 s to 6 s.
    """
    return not (_composable(fuser, inputs) and controls.detail_strength == 0)


def decode_slab(
    fuser: Fuser,
    encoded: EncodedBatch | None,
    inputs: SlabInputs,
    plan: SlicePlan,
    controls: FusionControls = FusionControls(),
    maps: bool = False,
    mask_maps: bool = False,
) -> SliceResult:
    """Native-size results of an encoded slab under the controls (the live preview repeats only this).

    When the network works at another size than the slices, only the experts'
    residual and the arbitration gate are resized: the pixel-wise reliability
    curve and base are computed on the native slices, so resampling never blurs
    the edges of the sources.
    """
    native = plan.net_shape != plan.plane_shape and _composable(fuser, inputs)
    if needs_encoding(fuser, inputs, controls):
        result = fuser.decode_batch(encoded, controls, plan.scales, maps, residual=native)
        if not native:
            return slab_outputs(result, plan, inputs.foreground, mask_maps)
        residual, gate = resize_stack(result.residual, plan.plane_shape), result.maps.get("arbitration")
    else:  # the pixel-wise rule is the result: no encoding, and the arbitration map from the gradients alone
        residual, gate = None, fuser.gate_batch(inputs.a, inputs.b, controls.arbitration_bias) if maps else None
    fused, share = fuser.compose(inputs.native_a, inputs.native_b, residual, controls, plan.scales)
    out = {}
    if maps:
        gate = np.clip(resize_stack(gate, plan.plane_shape), 0, 1)
        out = {"reliability_a": share, "reliability_b": 1.0 - share, "arbitration": gate}
        if mask_maps:
            out = {name: values * inputs.foreground for name, values in out.items()}
    return SliceResult(fused=(np.clip(fused, 0, 1) * inputs.foreground).astype(np.float32, copy=False), maps=out)


def fuse_slab(
    fuser: Fuser,
    pair: AlignedPair,
    plan: SlicePlan,
    index: slice,
    controls: FusionControls = FusionControls(),
    maps: bool = False,
    mask_maps: bool = False,
) -> SliceResult:
    """Fuse the slices ``index`` of an aligned pair (N x H x W native-size results)."""
    return fuse_inputs(fuser, slab_inputs(pair, plan, index), plan, controls, maps, mask_maps)


def fuse_inputs(
    fuser: Fuser,
    inputs: SlabInputs,
    plan: SlicePlan,
    controls: FusionControls = FusionControls(),
    maps: bool = False,
    mask_maps: bool = False,
) -> SliceResult:
    """Fuse prepared slab inputs: encode only where the result needs the network, then decode."""
    encoded = fuser.encode_batch(inputs.a, inputs.b) if needs_encoding(fuser, inputs, controls) else None
    return decode_slab(fuser, encoded, inputs, plan, controls, maps, mask_maps)


def choose_volume_controls(
    fuser: Fuser,
    pair: AlignedPair,
    plan: SlicePlan,
    start: FusionControls = FusionControls(),
    fixed: tuple[str, ...] = (),
    cancelled: Callable[[], bool] | None = None,
) -> AutoChoice:
    """Per-pair adaptation (see ``auto_controls``) on a few slices of the volume, fused exactly as the volume will be."""
    step = max(1, pair.a.shape[plan.along] // 64)  # candidates for the sample: at most 64 slices, spread
    usable = usable_slices(pair, plan, step)
    # the sampled slices are fused at once: big slices get fewer (the same number of pixels, at least 6)
    count = max(6, min(SAMPLE_SLICES, SAMPLE_PIXELS // max(1, plan.plane_shape[0] * plan.plane_shape[1])))
    indices = spread(usable, count)
    if not indices:
        raise InputError("no slice has enough anatomy in both volumes to adapt the fusion to; check the windows and the overlap, or turn auto off")
    inputs = slab_inputs(pair, plan, indices)
    encoded: list[EncodedBatch] = []  # the network's encoding, made only when a candidate uses the experts

    def fuse_sample(controls: FusionControls) -> np.ndarray:
        if not encoded and needs_encoding(fuser, inputs, controls):
            encoded.append(fuser.encode_batch(inputs.a, inputs.b))
        return decode_slab(fuser, encoded[0] if encoded else None, inputs, plan, controls).fused

    choice = choose_controls(fuse_sample, inputs.native_a, inputs.native_b, plan.scales[2], start, fixed, cancelled, statistics=plan.scales)
    choice.slices = indices
    if choice.objective > 0:
        _confirm_on_other_slices(fuser, pair, plan, choice, usable, start, fixed, cancelled)
    return choice


def usable_slices(pair: AlignedPair, plan: SlicePlan, step: int) -> list[int]:
    """Every ``step``-th slice along the plan's axis that has enough anatomy in both windowed volumes.

    Windowed one slice at a time: a whole stack of candidates, windowed at once, held about 0.25 GB more
    at the peak of a 512 x 512 x 300 CT's fusion.
    """
    a, b = np.moveaxis(pair.a, plan.along, 0), np.moveaxis(pair.b, plan.along, 0)
    return [k for k in range(0, a.shape[0], step) if has_anatomy(pair.window_a.apply(a[k]), pair.window_b.apply(b[k]))]


def _confirm_on_other_slices(fuser, pair, plan, choice, usable, start, fixed, cancelled) -> None:
    """Check auto's winner on slices it was not chosen on; if any score falls below the average's, use the average.

    The search's sample is small and its winner is the best of many tries, so its margins flatter it; a
    radiologist should never get less than the plain average because of that. Where a fitted curve won over a
    searched setting that also beat the average, that setting is checked in its turn when the curve fails.
    """
    count = max(4, CONFIRM_PIXELS // max(1, plan.plane_shape[0] * plan.plane_shape[1]))
    indices = spread([k for k in usable if k not in choice.slices], count)
    if not indices:
        return  # a volume too thin to hold other slices with anatomy: the sample's verdict stands
    inputs = slab_inputs(pair, plan, indices)
    failures = []
    candidates = [(choice.controls, choice.objective, choice.margins, choice.adapted)]
    if choice.runner_up is not None:
        candidates.append((*choice.runner_up, 0))
    for controls, value, sample_margins, adapted in candidates:
        if cancelled is not None and cancelled():
            raise Cancelled("fusion cancelled by the user; no output was written")
        fused = fuse_inputs(fuser, inputs, plan, controls).fused
        margins = confirm_choice(fused, inputs.native_a, inputs.native_b, plan.scales[2])
        worst = min(margins, key=margins.get)
        if margins[worst] >= 0:
            choice.controls, choice.objective, choice.margins, choice.adapted = controls, value, sample_margins, adapted
            choice.confirmed = len(indices)
            choice.unconfirmed = "; ".join(failures)  # a fitted curve that other slices did not confirm, if any
            return
        failures.append(
            f"{searched_controls(controls)} beat it on the {len(choice.slices)} sampled slices but not on "
            f"{len(indices)} others: {worst} {margins[worst]:+.2f}"
        )
    choice.unconfirmed = "; ".join(failures)
    choice.controls, choice.objective, choice.margins, choice.adapted = neutral_controls(start, fixed), 0.0, {m: 0.0 for m in margins}, 0


def fuse_volume(
    fuser: Fuser,
    a: sitk.Image,
    b: sitk.Image,
    controls: FusionControls = FusionControls(),
    maps: bool = False,
    names: tuple[str, str] = ("A", "B"),
    window_a: Window | None = None,
    window_b: Window | None = None,
    axis: str = "auto",
    working_size: int | None = 256,
    reference: str = "a",
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    pair: AlignedPair | None = None,
    mask_maps: bool = False,
    auto: bool = False,
    auto_fixed: tuple[str, ...] = (),
    streams: Callable[[str, sitk.Image], StreamedVolume | None] | None = None,
) -> FusionResult:
    """Fuse two 3-D volumes slice by slice on the reference grid; every output has its geometry exactly.

    The reference is A (default) or B (``reference="b"``, e.g. to fuse on the
    finer MRI grid); the other volume is resampled onto it in physical space,
    on a copy. A stays the network's first input whichever grid is used. Each
    volume is windowed to [0, 1] (percentiles unless a window is given). A
    ``pair`` from ``align_volumes`` can be passed to skip that work (``a``,
    ``b``, the windows and ``reference`` are then ignored); the result carries
    the pair it used. Slices are fused in the fuser's batches;
    ``progress(done, total)`` counts slices, and ``cancelled()`` is checked
    between batches. ``mask_maps`` zeroes the maps where both inputs are
    background. Inputs are never modified. ``auto`` first adapts the controls
    to this pair (``choose_volume_controls``; the names in ``auto_fixed`` keep
    the given values); the result says which controls were used. ``streams(name,
    grid)`` may give an output ("fused" or a map name) a ``StreamedVolume`` to be
    written to disk slab by slab instead of held in memory (None keeps it in
    memory; asked only when the fusion runs along the first array axis); the
    caller finishes or discards them.
    """
    pair = pair or align_volumes(a, b, names, reference, window_a, window_b)
    plan = plan_slices(pair, axis, working_size)
    choice = None
    if auto:
        choice = choose_volume_controls(fuser, pair, plan, controls, auto_fixed, cancelled)
        controls = choice.controls
    notes_before = len(fuser.notes)  # only this run's device notes go into its warnings
    total = pair.a.shape[plan.along]
    # the outputs are filled in place in their images or written to their files: no array is copied again at the end
    kinds = ("fused", *(MAP_NAMES if maps else ()))  # (``names`` are the inputs' names)
    outputs = {kind: _output_writer(kind, pair.grid, plan.along, streams) for kind in kinds}
    batch = max(1, fuser.batch_size)
    for start in range(0, total, batch):
        if cancelled is not None and cancelled():
            raise Cancelled("fusion cancelled by the user; no output was written")
        index = slice(start, min(total, start + batch))
        result = fuse_slab(fuser, pair, plan, index, controls, maps, mask_maps)
        for name, (_, put) in outputs.items():
            put(index, result.fused if name == "fused" else result.maps[name])
        if progress is not None:
            progress(index.stop, total)

    out = FusionResult(
        fused=outputs["fused"][0], warnings=list(pair.warnings) + fuser.notes[notes_before:], aligned=pair, controls=controls, auto=choice
    )
    out.maps = {kind: outputs[kind][0] for kind in kinds if kind != "fused"}
    return out
