"""WDualMineFusionLogic: fuse two volume nodes of an MRML scene with the W-DUALMINE engine.

Roles. The network's input A is the functional/CT image (CT, PET or SPECT, chosen by ``task``) and B the
MRI. In Slicer the user picks a *reference* volume (whose grid every output gets) and a *second* volume
(resampled onto that grid); ``functional`` says which of the two is the CT/PET/SPECT:

* ``functional="second"`` (default): second = A (functional), reference = B (MRI); the engine fuses on
  B's grid (``reference="b"``). This is the usual choice: the MRI's finer grid as reference.
* ``functional="reference"``: reference = A, second = B (MRI); the engine fuses on A's grid.

Processes. ``fuse()`` is blocking and does everything, in this process or (``useProcess=True``) in a
separate fusion process. The widget splits it: ``prepareFusion`` (reads the nodes into SimpleITK images),
the computation in a separate process (``fusionProcess``: Slicer's main thread holds the GIL while it
idles, so torch work in a Python thread of Slicer would crawl), and ``writeFusionOutputs`` (writes the
nodes). Both paths run ``compute.runFusion``, so they give the same voxels. A cancelled run writes nothing.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np

import slicer

from . import display, outputs
from .compute import FusionJob, FusionOutcome, alignedPair, batchFor, loadFuser, prepareEngineImport, windowedPair
from .metrics_table import writeMetricsTable
from .validation import FusionInputError, checkFinite, checkFunctional, checkPair, checkTask
from .volume_conversion import ijkToRAS, numpyToVtkMatrix, transformToWorld, volumeToImage, vtkToNumpyMatrix, writeArrayToVolume

log = logging.getLogger(__name__)

OUTPUT_KEYS = ("fused", "reliabilityA", "reliabilityB", "arbitration")
CONTROL_NAMES = (
    "detail_strength", "reliability_bias", "arbitration_bias", "base", "base_power", "curve_strength", "equalise", "emphasis",
    "pair_curve",  # the reliability curve auto adapted to the pair (two tables), or None
)
WINDOW_SOURCES = ("display", "percentiles")
FUNCTIONAL_LABEL = {"ct": "CT", "pet": "PET", "spect": "SPECT"}
# a slice view shows the fusion's slices when its normal is within about 2.5 degrees of the slicing axis
PARALLEL_COSINE = 0.999
PREVIEW_VIEW_ORDER = ("Red", "Yellow", "Green")
ORIENTATION_OF_RAS_AXIS = ("Sagittal", "Coronal", "Axial")


class CancelFlag:
    """A cancel request that the engine polls between batches (set from a callback of the caller)."""

    def __init__(self):
        self._set = False

    def set(self):
        self._set = True

    def clear(self):
        self._set = False

    def __call__(self) -> bool:
        return self._set


def defaultScene():
    scene = getattr(slicer, "mrmlScene", None)
    if scene is None:
        raise RuntimeError("no MRML scene: pass one, WDualMineFusionLogic(scene)")
    return scene


class FusionNodes(dict):
    """The output nodes by role, plus what the fusion ran with: ``controls`` (a dict; auto's choice when auto
    was on) and ``autoDescription`` (auto's one-line summary, or None). A dict of nodes, so callers that
    iterate over the outputs see only nodes."""

    def __init__(self, nodes: dict, controls: dict, autoDescription: str | None):
        super().__init__(nodes)
        self.controls = dict(controls)
        self.autoDescription = autoDescription


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
        self._lastJob = None
        self._shownDisplay = None  # (overlay, opacity) last put into the slice views

    # ---------------------------------------------------------------- helpers
    def log(self, message: str) -> None:
        log.info(message)
        if self.logCallback is not None:
            self.logCallback(message)

    def getFuser(self, task: str, device: str = "auto", batchSize: int = 0):
        """The loaded model of a task on a device, kept for later runs (load once, fuse many times)."""
        key = (task, device)
        fuser = self._fusers.get(key)
        if fuser is None:
            fuser = loadFuser(task, device, batchSize)
            self._fusers[key] = fuser
        fuser.batch_size = batchFor(fuser, batchSize)
        return fuser

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

    @classmethod
    def recordedWindows(cls, functionalNode, mriNode, windowSource: str) -> dict:
        """The windows a fusion of these volumes reads them with, as a controls file records them ("a": the
        functional/CT input, "b": the MRI; None where the engine takes percentiles of the volume)."""
        from wdualmine.controls_file import window_bounds

        windows = {"a": None, "b": None}
        if windowSource == "display":
            for key, volumeNode in (("a", functionalNode), ("b", mriNode)):
                windows[key] = window_bounds(cls.windowFromDisplay(volumeNode) if volumeNode is not None else None)
        return windows

    # ---------------------------------------------------------------- main-thread: read inputs
    def prepareFusion(
        self,
        referenceVolumeNode,
        secondVolumeNode,
        task: str = "pet",
        functional: str = "second",
        device: str = "auto",
        batchSize: int = 0,
        workingSize: int | None = 256,
        windowSource: str = "display",
        computeMetrics: bool = True,
        auto: bool = False,
        **controls,
    ) -> FusionJob:
        """Validate the inputs and copy them (world geometry in the reference's frame) for the computation."""
        import SimpleITK as sitk  # here, not at import: the module loads at every Slicer start

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
            auto=bool(auto),
            colourLookup=lookup,
            warnings=warnings,
        )

    # ---------------------------------------------------------------- the computation: engine only, no MRML
    def runFusion(self, job: FusionJob, progress: Callable[[int, int], None] | None = None, cancelled: Callable[[], bool] | None = None) -> FusionOutcome:
        """The job's computation in this process, with the model kept loaded for later runs."""
        from .compute import runFusion

        cancelled = cancelled if cancelled is not None else self.cancelFlag
        return runFusion(job, self.getFuser(job.task, job.device, job.batchSize), progress, cancelled)

    def fusionProcess(self, job: FusionJob, **options):
        """The job in a separate fusion process (not started yet); ``options`` go to ``FusionProcess``."""
        from .process import FusionProcess

        return FusionProcess(job, **options)

    # ---------------------------------------------------------------- main thread: write outputs
    def writeFusionOutputs(self, job: FusionJob, outcome: FusionOutcome, overlay: str = "reliabilityA", opacity: float = display.DEFAULT_OPACITY) -> FusionNodes:
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
            "WDualMineFusion.Controls": repr(outcome.controls),
            "WDualMineFusion.Device": outcome.deviceDescription,
        }
        for node in nodes.values():
            for key, value in provenance.items():
                node.SetAttribute(key, value)
            node.RemoveAttribute("WDualMineFusion.Preview")
        outputs.placeInFolder(self.scene, referenceNode, list(nodes.values()))
        self.showOutputs(nodes, overlay, opacity)
        self._shownDisplay = (overlay, float(opacity))
        self._previewSession = None
        self._previewKey = (job.referenceID, job.secondID, job.task, job.device, job.workingSize)
        self._lastOutcome = outcome
        self._lastJob = job
        for warning in outcome.warnings:
            self.log(f"Warning: {warning}")
        self.log(outcome.alignment.message)
        if outcome.autoDescription:
            self.log(outcome.autoDescription)
        note = self.arbitrationNote(outcome.controls)
        if note:
            self.log(note)
        return FusionNodes(nodes, outcome.controls, outcome.autoDescription)

    @classmethod
    def arbitrationNote(cls, controls: dict) -> str:
        """The sentence a front end shows beside the arbitration map where that map shapes nothing ('' otherwise)."""
        from wdualmine.controls import ARBITRATION_UNUSED

        return "" if cls.makeControls(**controls).arbitration_used else ARBITRATION_UNUSED[0].upper() + ARBITRATION_UNUSED[1:] + "."

    def showOutputs(self, nodes: dict, overlay: str = "reliabilityA", opacity: float = display.DEFAULT_OPACITY) -> None:
        if overlay not in display.OVERLAYS:
            raise FusionInputError(f"overlay must be one of {', '.join(display.OVERLAYS)}, got {overlay!r}")
        role = display.OVERLAYS[overlay]
        display.showInSliceViews(self.scene, nodes.get("fused"), nodes.get(role) if role else None, opacity)

    def noteDisplay(self, overlay: str, opacity: float) -> None:
        """Take these settings as shown (e.g. when the module opens), so only a later change touches the views."""
        self._shownDisplay = (overlay, float(opacity))

    def updateDisplay(self, referenceVolumeNode, overlay: str, opacity: float) -> bool:
        """Show a changed overlay or opacity in the slice views; returns False (views untouched) when neither changed.

        Any other parameter (a slider, an input) leaves the user's own slice-view layers alone. An opacity
        change only sets the foreground opacity; an overlay change sets the layers to the fused volume and the map.
        """
        state = (overlay, float(opacity))
        previous, self._shownDisplay = self._shownDisplay, state
        if state == previous or referenceVolumeNode is None:
            return False
        nodes = outputs.existingOutputNodes(referenceVolumeNode)
        if "fused" not in nodes:
            return False
        if previous is not None and previous[0] == overlay:
            display.setForegroundOpacity(self.scene, opacity)
        else:
            self.showOutputs(nodes, overlay, opacity)
        return True

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
        useProcess: bool = False,
        **options,
    ) -> FusionNodes:
        """Fuse and write the outputs; returns ``{"fused", "reliabilityA", "reliabilityB", "arbitration", ...}``.

        ``options`` are those of ``prepareFusion`` (task, functional, device, batchSize, workingSize,
        windowSource, computeMetrics, auto) and the controls (detail_strength, reliability_bias, arbitration_bias,
        base, base_power, curve_strength, equalise, emphasis). With ``auto=True`` the engine first chooses
        equalise, base_power, emphasis, curve_strength and detail_strength for this pair (a few seconds); the
        other controls keep the values given. The result's ``controls`` are the controls used and
        ``autoDescription`` auto's summary. ``reliabilityA`` is the functional/CT input's share of the fused
        value, ``reliabilityB`` the MRI's; for PET and SPECT there is also ``fusedRGB`` (vtkMRMLVectorVolumeNode)
        and, unless ``computeMetrics=False``, ``metrics`` (vtkMRMLTableNode). With ``useProcess`` the computation runs in a separate process
        (``PythonSlicer``, or this Python outside Slicer), as the module's Apply button does.
        """
        job = self.prepareFusion(referenceVolumeNode, secondVolumeNode, **options)
        self.cancelFlag.clear()
        cancelled = cancelled if cancelled is not None else self.cancelFlag
        if useProcess:
            process = self.fusionProcess(job, onProgress=progress, onLog=log.info)
            try:
                outcome = process.runBlocking(cancelled)
            finally:
                process.cleanup()
        else:
            outcome = self.runFusion(job, progress, cancelled)
        return self.writeFusionOutputs(job, outcome, overlay, opacity)

    def cancel(self) -> None:
        self.cancelFlag.set()

    # ---------------------------------------------------------------- live preview
    def previewSession(self):
        """The preview session of the last full fusion (created on first use)."""
        if self._previewSession is None:
            outcome = getattr(self, "_lastOutcome", None)
            if outcome is None or self._previewKey is None:
                raise FusionInputError("the live preview needs a full fusion first; press Apply once")
            from .preview import PreviewSession

            referenceID, secondID, task, device, workingSize = self._previewKey
            # an outcome from the fusion process carries no aligned pair: align here (milliseconds to a second)
            pair = outcome.pair if outcome.pair is not None else alignedPair(self._lastJob)
            self._previewSession = PreviewSession(self.getFuser(task, device), pair, "auto", workingSize)
        return self._previewSession

    def sliceIndexFromRAS(self, referenceVolumeNode, rasPoint) -> int:
        """Index along the fusion's slicing axis of the slice through a world RAS point (e.g. the Red view's centre)."""
        session = self.previewSession()
        toWorld = transformToWorld(referenceVolumeNode)
        local = np.linalg.inv(toWorld if toWorld is not None else np.eye(4)) @ np.array([*rasPoint[:3], 1.0])
        ijk = np.linalg.inv(ijkToRAS(referenceVolumeNode)) @ local
        index = int(round(ijk[2 - session.along]))
        return int(np.clip(index, 0, session.sliceCount - 1))

    def previewTarget(self):
        """(slice node, slice index) of the live preview: the first slice view (Red first) along the fusion's slicing axis.

        The preview re-fuses one slice of the volume as the full fusion cut it; a view at another orientation
        would not show it, so with no matching view this raises a message that says which orientation to set.
        """
        session = self.previewSession()
        reference = self.previewReference()
        if reference is None:
            raise FusionInputError("the volume of the last fusion was removed; press Apply to fuse again")
        toWorld = transformToWorld(reference)
        axis = (toWorld if toWorld is not None else np.eye(4))[:3, :3] @ ijkToRAS(reference)[:3, 2 - session.along]
        axis = axis / np.linalg.norm(axis)
        views = {}
        for index in range(self.scene.GetNumberOfNodesByClass("vtkMRMLSliceNode")):
            sliceNode = self.scene.GetNthNodeByClass(index, "vtkMRMLSliceNode")
            views.setdefault(sliceNode.GetLayoutName(), sliceNode)
        order = [name for name in PREVIEW_VIEW_ORDER if name in views] + sorted(set(views) - set(PREVIEW_VIEW_ORDER))
        for name in order:
            sliceToRAS = vtkToNumpyMatrix(views[name].GetSliceToRAS())
            normal = sliceToRAS[:3, 2] / np.linalg.norm(sliceToRAS[:3, 2])
            if abs(float(normal @ axis)) >= PARALLEL_COSINE:
                return views[name], self.sliceIndexFromRAS(reference, sliceToRAS[:3, 3])
        orientation = ORIENTATION_OF_RAS_AXIS[int(np.argmax(np.abs(axis)))]
        raise FusionInputError(
            f"the live preview re-fuses {orientation.lower()} slices of '{reference.GetName()}' (the fusion's slicing "
            f"axis), and no slice view shows them; set the Red view to {orientation} (its orientation menu), or press "
            "Apply to see the new controls on the whole volume"
        )

    def computePreview(self, sliceIndex: int, **controls) -> dict:
        """Fuse one slice with the given controls (no MRML)."""
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
        self._lastJob = None

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
        prepareEngineImport()
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
        """World-geometry copies of the two volumes for ``computeRigidRegistration`` (which needs no MRML)."""
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
