"""WDualMineFusionLogic: fuse two volume nodes of an MRML scene with the W-DUALMINE engine.

Roles. The network's input A is the functional/CT image (CT, PET or SPECT, chosen by ``task``) and B the
MRI. In Slicer the user picks a *reference* volume (whose grid every output gets) and a *second* volume
(resampled onto that grid); ``functional`` says which of the two is the CT/PET/SPECT:

* ``functional="second"`` (default): second = A (functional), reference = B (MRI); the engine fuses on
  B's grid (``reference="b"``). This is the usual choice: the MRI's finer grid as reference.
* ``functional="reference"``: reference = A, second = B (MRI); the engine fuses on A's grid.

Threading. ``fuse()`` is blocking and does everything. The widget splits it: ``prepareFusion`` (main
thread: reads the nodes into SimpleITK images), ``runFusion`` (worker thread: engine only, no MRML),
``writeFusionOutputs`` (main thread: writes nodes). The cancel flag is checked between batches; a
cancelled run writes nothing.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import SimpleITK as sitk

import slicer

from . import display, outputs
from .metrics_table import centralSlices, computeSliceMetrics, writeMetricsTable
from .validation import FusionInputError, checkFinite, checkFunctional, checkPair, checkTask
from .volume_conversion import ijkToRAS, numpyToVtkMatrix, transformToWorld, volumeToImage, writeArrayToVolume

log = logging.getLogger(__name__)

OUTPUT_KEYS = ("fused", "reliabilityA", "reliabilityB", "arbitration")
CONTROL_NAMES = ("detail_strength", "reliability_bias", "arbitration_bias", "base", "base_power", "curve_strength")
WINDOW_SOURCES = ("display", "percentiles")
FUNCTIONAL_LABEL = {"ct": "CT", "pet": "PET", "spect": "SPECT"}


@dataclass
class FusionJob:
    """Everything the worker needs; no MRML nodes, only IDs and copies of the data."""

    referenceID: str
    secondID: str
    task: str
    functional: str
    controls: object
    imageA: object
    imageB: object
    names: tuple[str, str]
    windowA: object
    windowB: object
    engineReference: str
    device: str = "auto"
    batchSize: int = 8
    workingSize: int | None = 256
    computeMetrics: bool = True
    colourLookup: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class FusionOutcome:
    fused: np.ndarray
    maps: dict[str, np.ndarray]
    rgb: np.ndarray | None
    metrics: dict | None
    metricSlices: list[int]
    alignment: object
    warnings: list[str]
    pair: object
    deviceDescription: str


class CancelFlag:
    """A thread-safe cancel request the engine polls between batches."""

    def __init__(self):
        self._event = threading.Event()

    def set(self):
        self._event.set()

    def clear(self):
        self._event.clear()

    def __call__(self) -> bool:
        return self._event.is_set()


def windowedPair(pair) -> tuple[np.ndarray, np.ndarray]:
    """Both aligned volumes of an engine ``AlignedPair`` windowed to 0..1 (full-volume copies)."""
    return pair.window_a.apply(pair.a), pair.window_b.apply(pair.b)


def defaultScene():
    scene = getattr(slicer, "mrmlScene", None)
    if scene is None:
        raise RuntimeError("no MRML scene: pass one, WDualMineFusionLogic(scene)")
    return scene


class WDualMineFusionLogic:
    """Fusion on an MRML scene; importable and usable without Qt or the Slicer application."""

    def __init__(self, scene=None, logCallback: Callable[[str], None] | None = None):
        self.scene = scene if scene is not None else defaultScene()
        self.logCallback = logCallback
        self.cancelFlag = CancelFlag()
        self._fusers: dict[tuple, object] = {}
        self._previewSession = None
        self._previewKey = None
        self._lastOutcome = None

    # ---------------------------------------------------------------- helpers
    def log(self, message: str) -> None:
        log.info(message)
        if self.logCallback is not None:
            self.logCallback(message)

    def getFuser(self, task: str, device: str = "auto", batchSize: int = 8):
        """The loaded model of a task on a device, kept for later runs (load once, fuse many times)."""
        from wdualmine.inference import Fuser

        key = (task, device)
        fuser = self._fusers.get(key)
        if fuser is None:
            fuser = Fuser.for_task(task, device=device, batch_size=batchSize)
            self._fusers[key] = fuser
        fuser.batch_size = max(1, int(batchSize))
        return fuser

    @staticmethod
    def deviceDescription(fuser) -> str:
        from wdualmine.device import describe_device

        return describe_device(fuser.device)

    @staticmethod
    def makeControls(**controls):
        from wdualmine.controls import FusionControls

        unknown = set(controls) - set(CONTROL_NAMES)
        if unknown:
            raise FusionInputError(f"unknown control(s) {', '.join(sorted(unknown))}; use {', '.join(CONTROL_NAMES)}")
        try:
            return FusionControls(**controls)
        except ValueError as error:
            raise FusionInputError(str(error)) from error

    @staticmethod
    def windowFromDisplay(volumeNode):
        """The window the user sees (display node window/level), or None to let the engine use percentiles."""
        from wdualmine.volume.window import Window

        displayNode = volumeNode.GetDisplayNode()
        if displayNode is None or not displayNode.IsA("vtkMRMLScalarVolumeDisplayNode"):
            return None
        width, level = displayNode.GetWindow(), displayNode.GetLevel()
        if not np.isfinite(width) or not np.isfinite(level) or width <= 0:
            return None
        return Window.from_width_level(width, level)

    # ---------------------------------------------------------------- main-thread: read inputs
    def prepareFusion(
        self,
        referenceVolumeNode,
        secondVolumeNode,
        task: str = "pet",
        functional: str = "second",
        device: str = "auto",
        batchSize: int = 8,
        workingSize: int | None = 256,
        windowSource: str = "display",
        computeMetrics: bool = True,
        **controls,
    ) -> FusionJob:
        """Validate the inputs and copy them (world geometry in the reference's frame) for the worker."""
        task, functional = checkTask(task), checkFunctional(functional)
        checkPair(referenceVolumeNode, secondVolumeNode)
        if windowSource not in WINDOW_SOURCES:
            raise FusionInputError(f"windowSource must be one of {', '.join(WINDOW_SOURCES)}, got {windowSource!r}")
        fusionControls = self.makeControls(**controls)
        reference = volumeToImage(referenceVolumeNode, frameNode=referenceVolumeNode)
        second = volumeToImage(secondVolumeNode, frameNode=referenceVolumeNode)
        functionalNode = secondVolumeNode if functional == "second" else referenceVolumeNode
        mriNode = referenceVolumeNode if functional == "second" else secondVolumeNode
        imageA, imageB = (second, reference) if functional == "second" else (reference, second)
        warnings = []
        for node, image in ((functionalNode, imageA), (mriNode, imageB)):
            checkFinite(sitk.GetArrayViewFromImage(image), node.GetName())  # all-NaN is an error; the engine warns about some
        windowA = self.windowFromDisplay(functionalNode) if windowSource == "display" else None
        windowB = self.windowFromDisplay(mriNode) if windowSource == "display" else None
        lookup = None
        if task in ("pet", "spect"):
            colourNode = display.functionalColourNode(self.scene, functionalNode)
            if colourNode is not None:
                lookup = display.colourLookup(colourNode)
        return FusionJob(
            referenceID=referenceVolumeNode.GetID(),
            secondID=secondVolumeNode.GetID(),
            task=task,
            functional=functional,
            controls=fusionControls,
            imageA=imageA,
            imageB=imageB,
            names=(f"{functionalNode.GetName()} ({FUNCTIONAL_LABEL[task]})", f"{mriNode.GetName()} (MRI)"),
            windowA=windowA,
            windowB=windowB,
            engineReference="b" if functional == "second" else "a",
            device=device,
            batchSize=batchSize,
            workingSize=workingSize,
            computeMetrics=computeMetrics,
            colourLookup=lookup,
            warnings=warnings,
        )

    # ---------------------------------------------------------------- worker thread: engine only
    def runFusion(self, job: FusionJob, progress: Callable[[int, int], None] | None = None, cancelled: Callable[[], bool] | None = None) -> FusionOutcome:
        """Align once, fuse that pair (slice batches, cancellable, maps masked), colour, score. No MRML access."""
        import SimpleITK as sitk

        from wdualmine.pipeline import align_volumes, fuse_volume
        from wdualmine.volume.geometry import slice_axis

        from .alignment import checkAlignment
        from .display import colouredFused

        cancelled = cancelled if cancelled is not None else self.cancelFlag
        fuser = self.getFuser(job.task, job.device, job.batchSize)
        description = self.deviceDescription(fuser)
        pair = align_volumes(job.imageA, job.imageB, job.names, job.engineReference, job.windowA, job.windowB)
        # maps masked: outside both inputs they mean nothing, so 0 (shown transparent)
        result = fuse_volume(
            fuser, job.imageA, job.imageB, job.controls, maps=True, working_size=job.workingSize,
            progress=progress, cancelled=cancelled, pair=pair, mask_maps=True,
        )
        if cancelled():
            from wdualmine.inference import Cancelled

            raise Cancelled("fusion cancelled by the user; no output was written")
        fused = sitk.GetArrayFromImage(result.fused)
        maps = {name: sitk.GetArrayFromImage(image) for name, image in result.maps.items()}
        windowedA, windowedB = windowedPair(pair)
        rgb = colouredFused(fused, windowedA, job.colourLookup) if job.colourLookup is not None else None
        alignment = checkAlignment(windowedA, windowedB, pair.grid.GetSpacing()[::-1])
        metrics, slices = None, []
        if job.computeMetrics:
            along = slice_axis(pair.grid, "auto")
            slices = centralSlices(windowedA, windowedB, along)
            metrics = computeSliceMetrics(windowedA, windowedB, fused, along, slices)
        warnings = list(job.warnings) + list(result.warnings)
        if alignment.misaligned:
            warnings.append(alignment.message)
        return FusionOutcome(fused, maps, rgb, metrics, slices, alignment, warnings, result.aligned, description)

    # ---------------------------------------------------------------- main thread: write outputs
    def writeFusionOutputs(self, job: FusionJob, outcome: FusionOutcome, overlay: str = "reliabilityA", opacity: float = display.DEFAULT_OPACITY) -> dict:
        """Write (or overwrite) the output nodes with the reference geometry; set up the slice views."""
        referenceNode = self.scene.GetNodeByID(job.referenceID)
        secondNode = self.scene.GetNodeByID(job.secondID)
        if referenceNode is None or secondNode is None:
            raise FusionInputError("an input volume was removed from the scene while the fusion ran; nothing was written")
        functionalName = FUNCTIONAL_LABEL[job.task]
        arrays = {
            "fused": outcome.fused,
            "reliabilityA": outcome.maps["reliability_a"],
            "reliabilityB": outcome.maps["reliability_b"],
            "arbitration": outcome.maps["arbitration"],
        }
        nodes = {}
        for role, array in arrays.items():
            node = outputs.getOrCreateOutputNode(self.scene, referenceNode, role, functionalName, (secondNode,))
            writeArrayToVolume(array.astype(np.float32, copy=False), node, referenceNode)
            display.configureScalarDisplay(self.scene, node, role)
            nodes[role] = node
        if outcome.rgb is not None:
            node = outputs.getOrCreateOutputNode(self.scene, referenceNode, "fusedRGB", functionalName, (secondNode,))
            writeArrayToVolume(outcome.rgb, node, referenceNode)
            if node.GetDisplayNode() is None:
                node.CreateDefaultDisplayNodes()
            nodes["fusedRGB"] = node
        if outcome.metrics is not None:
            table = outputs.getOrCreateOutputNode(self.scene, referenceNode, "metrics", functionalName)
            writeMetricsTable(table, outcome.metrics, outcome.metricSlices)
            nodes["metrics"] = table
        provenance = {
            "WDualMineFusion.Task": job.task,
            "WDualMineFusion.Functional": job.functional,
            "WDualMineFusion.Reference": referenceNode.GetName(),
            "WDualMineFusion.Second": secondNode.GetName(),
            "WDualMineFusion.Controls": repr(job.controls.as_dict()),
            "WDualMineFusion.Device": outcome.deviceDescription,
        }
        for node in nodes.values():
            for key, value in provenance.items():
                node.SetAttribute(key, value)
            node.RemoveAttribute("WDualMineFusion.Preview")
        outputs.placeInFolder(self.scene, referenceNode, list(nodes.values()))
        self.showOutputs(nodes, overlay, opacity)
        self._previewSession = None
        self._previewKey = (job.referenceID, job.secondID, job.task, job.device, job.workingSize)
        self._lastOutcome = outcome
        for warning in outcome.warnings:
            self.log(f"Warning: {warning}")
        self.log(outcome.alignment.message)
        return nodes

    def showOutputs(self, nodes: dict, overlay: str = "reliabilityA", opacity: float = display.DEFAULT_OPACITY) -> None:
        if overlay not in display.OVERLAYS:
            raise FusionInputError(f"overlay must be one of {', '.join(display.OVERLAYS)}, got {overlay!r}")
        role = display.OVERLAYS[overlay]
        display.showInSliceViews(self.scene, nodes.get("fused"), nodes.get(role) if role else None, opacity)

    # ---------------------------------------------------------------- blocking, all in one
    def fuse(
        self,
        referenceVolumeNode,
        secondVolumeNode,
        *,
        overlay: str = "reliabilityA",
        opacity: float = display.DEFAULT_OPACITY,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
        **options,
    ) -> dict:
        """Fuse and write the outputs; returns ``{"fused", "reliabilityA", "reliabilityB", "arbitration", ...}``.

        ``options`` are those of ``prepareFusion`` (task, functional, device, batchSize, workingSize,
        windowSource, computeMetrics) and the controls (detail_strength, reliability_bias, arbitration_bias,
        base, base_power, curve_strength). ``reliabilityA`` is the functional/CT input's reliability map, ``reliabilityB`` the MRI's; for
        PET and SPECT there is also ``fusedRGB`` (vtkMRMLVectorVolumeNode) and, unless ``computeMetrics=False``,
        ``metrics`` (vtkMRMLTableNode).
        """
        job = self.prepareFusion(referenceVolumeNode, secondVolumeNode, **options)
        self.cancelFlag.clear()
        outcome = self.runFusion(job, progress, cancelled if cancelled is not None else self.cancelFlag)
        return self.writeFusionOutputs(job, outcome, overlay, opacity)

    def cancel(self) -> None:
        self.cancelFlag.set()

    # ---------------------------------------------------------------- live preview
    def previewSession(self):
        """The preview session of the last full fusion (created on first use; worker-safe afterwards)."""
        if self._previewSession is None:
            outcome = getattr(self, "_lastOutcome", None)
            if outcome is None or self._previewKey is None:
                raise FusionInputError("the live preview needs a full fusion first; press Apply once")
            from .preview import PreviewSession

            referenceID, secondID, task, device, workingSize = self._previewKey
            self._previewSession = PreviewSession(self.getFuser(task, device), outcome.pair, "auto", workingSize)
        return self._previewSession

    def sliceIndexFromRAS(self, referenceVolumeNode, rasPoint) -> int:
        """Index along the fusion's slicing axis of the slice through a world RAS point (e.g. the Red view's centre)."""
        session = self.previewSession()
        toWorld = transformToWorld(referenceVolumeNode)
        local = np.linalg.inv(toWorld if toWorld is not None else np.eye(4)) @ np.array([*rasPoint[:3], 1.0])
        ijk = np.linalg.inv(ijkToRAS(referenceVolumeNode)) @ local
        index = int(round(ijk[2 - session.along]))
        return int(np.clip(index, 0, session.sliceCount - 1))

    def computePreview(self, sliceIndex: int, **controls) -> dict:
        """Fuse one slice with the given controls (worker-safe: no MRML)."""
        return self.previewSession().fuseSlice(int(sliceIndex), self.makeControls(**controls))

    def previewReference(self):
        """The reference volume of the fusion the preview belongs to (None if it was removed)."""
        return self.scene.GetNodeByID(self._previewKey[0]) if self._previewKey else None

    def hasPreview(self) -> bool:
        """True once a full fusion has run (the live preview starts from its aligned inputs)."""
        return getattr(self, "_lastOutcome", None) is not None and self._previewKey is not None

    def hasPreviewFor(self, referenceVolumeNode, secondVolumeNode) -> bool:
        """True when the live preview belongs to these two inputs (another pair needs an Apply first)."""
        return (
            self.hasPreview()
            and referenceVolumeNode is not None
            and secondVolumeNode is not None
            and self._previewKey[:2] == (referenceVolumeNode.GetID(), secondVolumeNode.GetID())
        )

    def resetPreview(self) -> None:
        """Forget the last fusion's cached inputs (e.g. when the scene closes)."""
        self._previewSession = None
        self._previewKey = None
        self._lastOutcome = None

    def writePreview(self, referenceVolumeNode, sliceIndex: int, result: dict) -> dict:
        """Put a preview slice into the existing output volumes; they are marked as a preview until Apply.

        The slice always goes to the outputs of the fusion the preview belongs to, whichever
        ``referenceVolumeNode`` is passed, so a changed selection cannot overwrite other outputs.
        """
        session = self.previewSession()
        reference = self.previewReference()
        if reference is None:
            raise FusionInputError("the volume of the last fusion was removed; press Apply to fuse again")
        nodes = outputs.existingOutputNodes(reference)
        pairs = {"fused": "fused", "reliabilityA": "reliability_a", "reliabilityB": "reliability_b", "arbitration": "arbitration"}
        for role, key in pairs.items():
            node = nodes.get(role)
            if node is None or key not in result:
                continue
            array = slicer.util.arrayFromVolume(node)
            np.moveaxis(array, session.along, 0)[sliceIndex] = result[key]
            slicer.util.arrayFromVolumeModified(node)
            node.SetAttribute("WDualMineFusion.Preview", "slice %d shows other controls than the rest; press Apply" % sliceIndex)
        return nodes

    def previewSlice(self, referenceVolumeNode, sliceIndex: int, **controls) -> dict:
        """Blocking preview: re-fuse one slice of the last fusion with new controls and show it."""
        result = self.computePreview(sliceIndex, **controls)
        self.writePreview(referenceVolumeNode, sliceIndex, result)
        return result

    def benchmarkPreview(self, sliceIndex: int | None = None, updates: int = 20) -> dict:
        """Measured preview times in ms (first call encodes, later ones only decode); asserts nothing."""
        from .preview import benchmarkPreview

        return benchmarkPreview(self.previewSession(), sliceIndex, updates)

    # ---------------------------------------------------------------- alignment
    def checkAlignment(self, referenceVolumeNode, secondVolumeNode):
        """Mutual-information check of the two inputs on the reference grid (windows from the display nodes)."""
        from wdualmine.pipeline import align_volumes

        from .alignment import checkAlignment

        checkPair(referenceVolumeNode, secondVolumeNode)
        a = volumeToImage(secondVolumeNode, frameNode=referenceVolumeNode)
        b = volumeToImage(referenceVolumeNode, frameNode=referenceVolumeNode)
        pair = align_volumes(a, b, (secondVolumeNode.GetName(), referenceVolumeNode.GetName()), "b",
                             self.windowFromDisplay(secondVolumeNode), self.windowFromDisplay(referenceVolumeNode))
        result = checkAlignment(*windowedPair(pair), pair.grid.GetSpacing()[::-1])
        self.log(result.message)
        return result

    def registrationImages(self, referenceVolumeNode, secondVolumeNode):
        """World-geometry copies (main thread) for ``computeRigidRegistration`` (worker-safe)."""
        checkPair(referenceVolumeNode, secondVolumeNode)
        return volumeToImage(referenceVolumeNode), volumeToImage(secondVolumeNode)

    @staticmethod
    def computeRigidRegistration(fixedImage, movingImage) -> np.ndarray:
        from .alignment import rigidRegistration

        return rigidRegistration(fixedImage, movingImage)

    def applyRigidRegistration(self, secondVolumeNode, correction: np.ndarray, applyToSecond: bool = True):
        """A new linear transform node = correction o current world transform of the second volume.

        The voxels are never touched; with ``applyToSecond`` the node becomes the second volume's parent
        transform (replacing a linear parent, whose effect it includes).
        """
        current = transformToWorld(secondVolumeNode)
        if current is None:
            raise FusionInputError(
                f"'{secondVolumeNode.GetName()}' is under a non-linear transform; harden it before the rigid registration"
            )
        transformNode = self.scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", f"{secondVolumeNode.GetName()} rigid registration")
        transformNode.SetMatrixTransformToParent(numpyToVtkMatrix(correction @ current))
        transformNode.SetAttribute("WDualMineFusion.Role", "rigidRegistration")
        if applyToSecond:
            secondVolumeNode.SetAndObserveTransformNodeID(transformNode.GetID())
        return transformNode

    def registerRigid(self, referenceVolumeNode, secondVolumeNode, applyToSecond: bool = True):
        fixed, moving = self.registrationImages(referenceVolumeNode, secondVolumeNode)
        return self.applyRigidRegistration(secondVolumeNode, self.computeRigidRegistration(fixed, moving), applyToSecond)
