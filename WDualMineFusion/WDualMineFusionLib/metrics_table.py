"""Fusion metrics (R1 protocol) on a few central slices, written into a vtkMRMLTableNode."""

from __future__ import annotations

import numpy as np
import vtk

TABLE_METRICS = ("CC", "MI", "SCD", "VIF", "Qabf", "SSIM")
METHOD_COLUMNS = ("W-DUALMINE", "average")


def centralSlices(a: np.ndarray, b: np.ndarray, axis: int, count: int = 3, minForeground: float = 0.1) -> list[int]:
    """Up to ``count`` slice indices (along ``axis``) around the middle of the slices that hold anatomy."""
    moved_a, moved_b = np.moveaxis(a, axis, 0), np.moveaxis(b, axis, 0)
    foreground = [float(np.mean((sa > 0) | (sb > 0))) for sa, sb in zip(moved_a, moved_b)]
    candidates = [index for index, value in enumerate(foreground) if value >= minForeground]
    if not candidates:
        candidates = list(range(len(foreground)))
    middle = candidates[len(candidates) // 2]
    step = max(1, len(candidates) // (count * 4))
    chosen = sorted({min(max(middle + offset * step, candidates[0]), candidates[-1]) for offset in range(-(count // 2), count - count // 2)})
    return chosen


def computeSliceMetrics(a: np.ndarray, b: np.ndarray, fused: np.ndarray, axis: int, slices: list[int]) -> dict[str, dict[str, float]]:
    """Mean metrics over the given slices for the fusion and, as a yardstick, the plain average.

    ``a``, ``b`` (windowed inputs) and ``fused`` are 0..1 arrays on one grid; each slice is scored as
    8-bit images, the fused one min-max stretched (the engine's R1 protocol, as ``wdualmine demo``).
    """
    from wdualmine.metrics import compute_all, r1_stretch

    rows: dict[str, list[dict]] = {method: [] for method in METHOD_COLUMNS}
    for index in slices:
        sa = np.round(np.take(a, index, axis=axis) * 255.0)
        sb = np.round(np.take(b, index, axis=axis) * 255.0)
        sf = np.take(fused, index, axis=axis)
        rows["W-DUALMINE"].append(compute_all(r1_stretch(sf), sa, sb))
        # the plain average as the engine makes it (the 8-bit levels in float32, summed, halved): where the fusion
        # is the plain average, both rows then score the same values (in float64 the protocol's rounding after the
        # stretch broke ties at half levels the other way: MI 3.4961 against 3.4960 on the auto-fused sample)
        level = np.float32(255.0)
        average = np.float32(0.5) * (sa.astype(np.float32) / level + sb.astype(np.float32) / level)
        rows["average"].append(compute_all(r1_stretch(average), sa, sb))
    return {method: {m: float(np.mean([r[m] for r in values])) for m in TABLE_METRICS} for method, values in rows.items()}


def writeMetricsTable(tableNode, metrics: dict[str, dict[str, float]], slices: list[int]) -> None:
    """Rows: metrics; columns: Metric, W-DUALMINE, average. The slices used go into an attribute."""
    table = tableNode.GetTable()
    wasModifying = tableNode.StartModify()
    table.Initialize()
    names = vtk.vtkStringArray()
    names.SetName("Metric")
    for metric in TABLE_METRICS:
        names.InsertNextValue(metric)
    table.AddColumn(names)
    for method in METHOD_COLUMNS:
        column = vtk.vtkDoubleArray()
        column.SetName(method)
        for metric in TABLE_METRICS:
            column.InsertNextValue(metrics[method][metric])
        table.AddColumn(column)
    tableNode.SetAttribute("WDualMineFusion.MetricSlices", " ".join(str(s) for s in slices))
    tableNode.SetAttribute(
        "WDualMineFusion.MetricNote",
        "R1 protocol (fused min-max stretched to 0..255, inputs windowed to 8 bit), mean over the listed slices; "
        "MI in nats summed over both inputs",
    )
    table.Modified()
    tableNode.EndModify(wasModifying)


def readMetricsTable(tableNode) -> dict[str, dict[str, float]]:
    table = tableNode.GetTable()
    names = table.GetColumnByName("Metric")
    out: dict[str, dict[str, float]] = {}
    for c in range(1, table.GetNumberOfColumns()):
        column = table.GetColumn(c)
        out[column.GetName()] = {names.GetValue(r): float(column.GetValue(r)) for r in range(table.GetNumberOfRows())}
    return out
