"""Picture of a fused volume: orthogonal slices of the inputs, the result and the maps, side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# colour maps as (position, RGB) stops, interpolated linearly
DIVERGING = [(0.0, (33, 102, 172)), (0.5, (247, 247, 247)), (1.0, (178, 24, 43))]  # B-trusted blue .. A-trusted red
HEAT = [(0.0, (0, 0, 0)), (0.35, (150, 20, 0)), (0.7, (250, 150, 0)), (1.0, (255, 255, 220))]
GREY = [(0.0, (0, 0, 0)), (1.0, (255, 255, 255))]


def apply_colour_map(values: np.ndarray, stops=GREY) -> np.ndarray:
    """H x W values in [0, 1] -> H x W x 3 uint8."""
    values = np.clip(np.nan_to_num(values), 0, 1)
    positions = [p for p, _ in stops]
    channels = [np.interp(values, positions, [c[k] for _, c in stops]) for k in range(3)]
    return np.round(np.stack(channels, axis=-1)).astype(np.uint8)


def orient_lps(volume: np.ndarray, direction: tuple[float, ...], centre: tuple[int, int, int]) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Flip the k, j, i axes of an axis-aligned grid so i runs to the left, j to posterior, k to superior."""
    matrix = np.array(direction).reshape(3, 3)
    centre = list(centre)
    for index_axis in range(3):
        if matrix[:, index_axis][np.argmax(np.abs(matrix[:, index_axis]))] < 0:
            numpy_axis = 2 - index_axis
            volume = np.flip(volume, axis=numpy_axis)
            centre[numpy_axis] = volume.shape[numpy_axis] - 1 - centre[numpy_axis]
    return volume, tuple(centre)


def orthogonal_slices(volume: np.ndarray, centre: tuple[int, int, int], spacing_kji: tuple[float, float, float]) -> list[np.ndarray]:
    """Axial, coronal and sagittal slices of an LPS-oriented k, j, i array (see orient_lps) through ``centre``.

    Radiological display: the patient's right on the image's left, anterior at
    the top of axial slices, superior at the top of the others, anterior on the
    left of sagittal slices. Pixels are made square.
    """
    k, j, i = centre
    axial = volume[k, :, :]
    coronal = volume[::-1, j, :]
    sagittal = volume[::-1, :, i]
    out = []
    for plane, (sy, sx) in ((axial, (spacing_kji[1], spacing_kji[2])), (coronal, (spacing_kji[0], spacing_kji[2])), (sagittal, (spacing_kji[0], spacing_kji[1]))):
        out.append(_square_pixels(np.ascontiguousarray(plane), sy, sx))
    return out


def _square_pixels(plane: np.ndarray, sy: float, sx: float, scale: float = 2.0) -> np.ndarray:
    """Nearest-neighbour resize so one pixel is min(spacing)/scale mm in both directions."""
    pixel = min(sy, sx) / scale
    height, width = int(round(plane.shape[0] * sy / pixel)), int(round(plane.shape[1] * sx / pixel))
    rows = np.minimum((np.arange(height) * pixel / sy).astype(int), plane.shape[0] - 1)
    cols = np.minimum((np.arange(width) * pixel / sx).astype(int), plane.shape[1] - 1)
    return plane[rows][:, cols]


def save_montage(
    panels: list[list[np.ndarray]],
    titles: list[str],
    path: Path,
    row_titles: list[str] | None = None,
    bars: list[tuple | None] | None = None,
) -> None:
    """Grid of RGB panels (rows x columns) with column titles, saved as PNG (Pillow).

    ``bars`` gives, per column, (colour stops, label at 0, label at 1) for a
    colour bar under it, or None for no bar.
    """
    from PIL import Image, ImageDraw

    gap, header, bar_height = 6, 22, (34 if bars and any(bars) else 0)
    widths = [max(row[c].shape[1] for row in panels) for c in range(len(titles))]
    heights = [max(p.shape[0] for p in row) for row in panels]
    canvas = np.zeros((header + sum(heights) + gap * len(panels) + bar_height, sum(widths) + gap * (len(widths) + 1), 3), np.uint8)
    y = header
    for row, height in zip(panels, heights):
        x = gap
        for panel, width in zip(row, widths):
            canvas[y : y + panel.shape[0], x : x + panel.shape[1]] = panel
            x += width + gap
        y += height + gap
    bar_top = y
    if bar_height:
        x = gap
        for bar, width in zip(bars, widths):
            if bar is not None:
                ramp = apply_colour_map(np.tile(np.linspace(0.0, 1.0, width - 8), (10, 1)), bar[0])
                canvas[bar_top : bar_top + 10, x + 4 : x + width - 4] = ramp
            x += width + gap
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    if bar_height:
        x = gap
        for bar, width in zip(bars, widths):
            if bar is not None:
                draw.text((x + 4, bar_top + 12), bar[1], fill=(200, 200, 200))
                right = bar[2]
                draw.text((x + width - 4 - 6 * len(right), bar_top + 12), right, fill=(200, 200, 200))
            x += width + gap
    x = gap
    for title, width in zip(titles, widths):
        draw.text((x + 2, 4), title, fill=(255, 255, 255))
        x += width + gap
    if row_titles:
        y = header
        for title, height in zip(row_titles, heights):
            draw.text((gap + 2, y + 2), title, fill=(255, 255, 0))
            y += height + gap
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    image.save(partial, format="PNG")
    partial.replace(path)  # never a half-written picture under the final name
