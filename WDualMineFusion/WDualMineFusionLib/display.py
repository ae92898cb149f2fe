"""How the outputs are shown: colour tables, window/level, thresholds and the slice views' layers."""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

# overlay name -> output role
OVERLAYS = {
    "none": None,
    "reliabilityA": "reliabilityA",
    "reliabilityB": "reliabilityB",
    "arbitration": "arbitration",
}

# colour node IDs, first one present in the scene wins; the file-based tables exist only in the
# Slicer application (not in a bare slicer-core scene), the built-in and PET tables everywhere
RELIABILITY_COLOURS = (
    "vtkMRMLColorTableNodeFileDivergingBlueRed.txt",
    "vtkMRMLColorTableNodeFullRainbow",
    "vtkMRMLColorTableNodeRainbow",
)
ARBITRATION_COLOURS = (
    "vtkMRMLColorTableNodeFileInferno.txt",
    "vtkMRMLPETProceduralColorNodePET-Heat",
    "vtkMRMLColorTableNodeWarm1",
)
FUSED_COLOURS = ("vtkMRMLColorTableNodeGrey",)
FUNCTIONAL_FALLBACK_COLOURS = ("vtkMRMLPETProceduralColorNodePET-Heat", "vtkMRMLColorTableNodeRainbow")

# maps are 0 outside the foreground; a lower threshold just above 0 makes that background transparent
MAP_LOWER_THRESHOLD = 1e-3
DEFAULT_OPACITY = 0.5


def firstColourNodeID(scene, candidates) -> str | None:
    for nodeID in candidates:
        if scene.GetNodeByID(nodeID) is not None:
            return nodeID
    return None


def colourCandidates(role: str):
    if role in ("reliabilityA", "reliabilityB"):
        return RELIABILITY_COLOURS
    if role == "arbitration":
        return ARBITRATION_COLOURS
    return FUSED_COLOURS


def configureScalarDisplay(scene, node, role: str) -> None:
    """Colour, window/level 0..1 and, for maps, threshold transparency of an output volume."""
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    if display is None:
        return
    wasModifying = display.StartModify()
    colourID = firstColourNodeID(scene, colourCandidates(role))
    if colourID is not None:
        display.SetAndObserveColorNodeID(colourID)
    else:
        log.info("no colour table for %s in this scene; keeping the default", role)
    display.AutoWindowLevelOff()
    display.SetWindowLevelMinMax(0.0, 1.0)
    if role in ("reliabilityA", "reliabilityB", "arbitration"):
        display.SetApplyThreshold(1)
        display.SetLowerThreshold(MAP_LOWER_THRESHOLD)
        display.SetUpperThreshold(1.0e6)
    display.EndModify(wasModifying)


def sliceCompositeNodes(scene):
    return [scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode") for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode"))]


def showInSliceViews(scene, backgroundNode, foregroundNode=None, opacity: float = DEFAULT_OPACITY) -> int:
    """Fused volume as background, a map (or nothing) as foreground, in every slice view; returns the view count."""
    composites = sliceCompositeNodes(scene)
    for composite in composites:
        wasModifying = composite.StartModify()
        composite.SetBackgroundVolumeID(backgroundNode.GetID() if backgroundNode is not None else None)
        composite.SetForegroundVolumeID(foregroundNode.GetID() if foregroundNode is not None else None)
        composite.SetForegroundOpacity(float(opacity) if foregroundNode is not None else 0.0)
        composite.EndModify(wasModifying)
    return len(composites)


def setForegroundOpacity(scene, opacity: float) -> None:
    for composite in sliceCompositeNodes(scene):
        composite.SetForegroundOpacity(float(opacity))


def colourLookup(colourNode, samples: int = 256) -> np.ndarray:
    """The colour node sampled at ``samples`` evenly spaced points of its range: samples x 3 RGB in 0..1."""
    scalarsToColors = colourNode.GetScalarsToColors() if hasattr(colourNode, "GetScalarsToColors") else None
    if scalarsToColors is None:
        scalarsToColors = colourNode.GetLookupTable()
    low, high = scalarsToColors.GetRange()
    table = np.zeros((samples, 3))
    rgb = [0.0, 0.0, 0.0]
    for index, value in enumerate(np.linspace(low, high, samples)):
        scalarsToColors.GetColor(float(value), rgb)
        table[index] = rgb
    return table


def functionalColourNode(scene, functionalNode):
    """The functional volume's colour table, unless it is grey (then PET-Heat)."""
    display = functionalNode.GetDisplayNode() if functionalNode is not None else None
    colourNode = display.GetColorNode() if display is not None else None
    if colourNode is not None and "Grey" not in (colourNode.GetID() or "") and "Gray" not in (colourNode.GetName() or ""):
        return colourNode
    colourID = firstColourNodeID(scene, FUNCTIONAL_FALLBACK_COLOURS)
    return scene.GetNodeByID(colourID) if colourID else None


def colouredFused(fused: np.ndarray, functional: np.ndarray, lookup: np.ndarray) -> np.ndarray:
    """RGB uint8 (k, j, i, 3): the fused grey carrying the chroma of the functional volume's colour map.

    ``fused`` and ``functional`` are in 0..1 on one grid; the functional volume is coloured through
    ``lookup`` (N x 3 in 0..1), and the fused luma replaces its luma (BT.601 YCbCr, as the engine does for
    pseudo-colour PET/SPECT), so bright fused anatomy stays bright and the functional colour stays visible.
    """
    from wdualmine.colour import recolour

    indices = np.clip(np.round(functional * (len(lookup) - 1)), 0, len(lookup) - 1).astype(np.intp)
    out = np.empty(fused.shape + (3,), np.uint8)
    for k in range(fused.shape[0]):  # slice by slice: no full float64 RGB copy of a big volume
        source = lookup[indices[k]] * 255.0
        out[k] = np.round(np.clip(recolour(fused[k].astype(np.float64) * 255.0, source), 0, 255)).astype(np.uint8)
    return out
