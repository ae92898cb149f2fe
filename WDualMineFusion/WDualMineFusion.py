"""WDualMineFusion: W-DUALMINE multimodal image fusion (CT/PET/SPECT + MRI) in 3D Slicer.

Three layers, one-way: the engine (``wdualmine/``, no Slicer), the MRML logic (``WDualMineFusionLib/``, no Qt),
and this file (Qt widget, parameter node, dialogs, module registration, self-test).
Requires Slicer 5.10 or later (Python 3.12); ``slicer.packaging`` is used when present (5.12+).
"""

from __future__ import annotations

import concurrent.futures
import enum
import logging
import os
import sys
import threading
from typing import Annotated

import qt
import vtk

import slicer
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

try:
    from slicer.i18n import tr as _
    from slicer.i18n import translate
except ImportError:  # outside Slicer (static checks)
    def _(text):
        return text

    def translate(context, text):
        return text

from slicer.parameterNodeWrapper import WithinRange, parameterNodeWrapper

from WDualMineFusionLib.logic import OUTPUT_KEYS, WDualMineFusionLogic  # noqa: F401  (re-exported for scripts)

MODULE_DIR = os.path.dirname(os.path.abspath(__file__))
PREVIEW_DEBOUNCE_MS = 250
POLL_MS = 100


#
# Module
#


class WDualMineFusion(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("WDualMine Fusion")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Filtering")]
        self.parent.dependencies = []
        self.parent.contributors = ["WDualMine developers"]
        self.parent.helpText = _(
            "Fuses a CT, PET or SPECT volume with an MRI using the W-DUALMINE network (reliability-weighted "
            "dual-expert fusion). Shows the fused volume, the dense reliability maps and the arbitration weights "
            "as overlays, with live tweaking of the fusion controls.<br>"
            "Requires 3D Slicer 5.10 or later and the PyTorch extension; the first Apply installs PyTorch and the "
            "other Python packages after asking.<br>"
            'See the <a href="https://github.com/WDualMine/SlicerWDualMine">documentation</a>.'
        )
        self.parent.acknowledgementText = _(
            "W-DUALMINE: Reliability-Weighted Dual-Expert Fusion With Residual Correlation Preservation for "
            "Medical Image Fusion (arXiv 2601.08920). Sample data: MNI ICBM152 2009a template (McConnell Brain "
            "Imaging Centre) and a PET simulated from it."
        )
        slicer.app.connect("startupCompleted()", registerSampleData)


def registerSampleData():
    """The engine's bundled MRI + PET pair as Sample Data (local files, checked by SHA-256)."""
    import pathlib

    import SampleData

    from wdualmine.sample_data import SAMPLE_SHA256, sample_paths

    paths = sample_paths()
    iconsPath = os.path.join(MODULE_DIR, "Resources", "Icons")
    SampleData.SampleDataLogic.registerCustomSampleDataSource(
        category="WDualMine",
        sampleName="WDualMineBrainPETMRI",
        uris=[pathlib.Path(paths["MRI"]).as_uri(), pathlib.Path(paths["PET"]).as_uri()],
        fileNames=["WDualMine_MRI_T1.nrrd", "WDualMine_PET_FDG.nrrd"],
        nodeNames=["WDualMine MRI T1", "WDualMine PET FDG"],
        thumbnailFileName=os.path.join(iconsPath, "WDualMineFusion.png"),
        loadFileType=["VolumeFile", "VolumeFile"],
        checksums=["SHA256:" + SAMPLE_SHA256["MRI"], "SHA256:" + SAMPLE_SHA256["PET"]],
    )


#
# Parameter node
#


class Task(enum.Enum):
    pet = "PET-MRI"
    spect = "SPECT-MRI"
    ct = "CT-MRI"


class Functional(enum.Enum):
    second = "the second volume"
    reference = "the reference volume"


class Base(enum.Enum):
    plain = "plain average"
    zscore = "z-scored average"


class Overlay(enum.Enum):
    reliabilityA = "reliability of CT/PET/SPECT"
    reliabilityB = "reliability of MRI"
    arbitration = "arbitration (wavelet expert weight)"
    none = "none"


class Device(enum.Enum):
    auto = "Auto"
    cuda = "CUDA"
    cpu = "CPU"


class WindowSource(enum.Enum):
    display = "display window/level"
    percentiles = "percentiles"


@parameterNodeWrapper
class WDualMineFusionParameterNode:
    referenceVolume: slicer.vtkMRMLScalarVolumeNode
    secondVolume: slicer.vtkMRMLScalarVolumeNode
    task: Task = Task.pet
    functional: Functional = Functional.second
    detailStrength: Annotated[float, WithinRange(0.0, 2.0)] = 1.0
    reliabilityBias: Annotated[float, WithinRange(-2.0, 2.0)] = 0.0
    arbitrationBias: Annotated[float, WithinRange(-4.0, 4.0)] = 0.0
    base: Base = Base.plain
    basePower: Annotated[float, WithinRange(1.0, 3.0)] = 1.0
    curveStrength: Annotated[float, WithinRange(0.0, 1.0)] = 1.0
    livePreview: bool = True
    overlay: Overlay = Overlay.reliabilityA
    opacity: Annotated[float, WithinRange(0.0, 1.0)] = 0.5
    device: Device = Device.auto
    batchSize: Annotated[int, WithinRange(1, 64)] = 8
    windowSource: WindowSource = WindowSource.display
    computeMetrics: bool = True


def controlsFromParameterNode(parameterNode) -> dict:
    return {
        "detail_strength": float(parameterNode.detailStrength),
        "reliability_bias": float(parameterNode.reliabilityBias),
        "arbitration_bias": float(parameterNode.arbitrationBias),
        "base": parameterNode.base.name,
        "base_power": float(parameterNode.basePower),
        "curve_strength": float(parameterNode.curveStrength),
    }


#
# Widget
#


class WDualMineFusionWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._executor = None
        self._future = None
        self._futureKind = None
        self._job = None
        self._progress = (0, 0)
        self._progressLock = threading.Lock()
        self._lastControls = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/WDualMineFusion.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = WDualMineFusionModuleLogic(logCallback=self.addLog)

        self.pollTimer = qt.QTimer()
        self.pollTimer.setInterval(POLL_MS)
        self.pollTimer.connect("timeout()", self.onPoll)
        self.previewTimer = qt.QTimer()
        self.previewTimer.setSingleShot(True)
        self.previewTimer.setInterval(PREVIEW_DEBOUNCE_MS)
        self.previewTimer.connect("timeout()", self.onPreviewTimeout)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.loadSampleButton.connect("clicked(bool)", self.onLoadSample)
        self.ui.checkAlignmentButton.connect("clicked(bool)", self.onCheckAlignment)
        self.ui.registerButton.connect("clicked(bool)", self.onRegister)
        self.ui.progressBar.setVisible(False)
        self.updateDeviceNote()
        slicer.app.connect("aboutToQuit()", self.cleanup)

        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()
        for timer in (getattr(self, "pollTimer", None), getattr(self, "previewTimer", None)):
            if timer is not None:
                timer.stop()
        if self.logic is not None:
            self.logic.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)
        if self.logic is not None:
            self.logic.resetPreview()  # its cached volumes belong to the closing scene

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        volumes = slicer.util.getNodesByClass("vtkMRMLScalarVolumeNode")
        volumes = [v for v in volumes if not v.IsA("vtkMRMLLabelMapVolumeNode") and v.GetAttribute("WDualMineFusion.Role") is None]
        if not self._parameterNode.referenceVolume and volumes:
            mri = [v for v in volumes if "mr" in v.GetName().lower()]
            self._parameterNode.referenceVolume = mri[0] if mri else volumes[0]
        if not self._parameterNode.secondVolume:
            others = [v for v in volumes if v is not self._parameterNode.referenceVolume]
            if others:
                self._parameterNode.secondVolume = others[0]

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified)
            self.onParameterNodeModified()

    # ------------------------------------------------------------ state
    def isRunning(self) -> bool:
        return self._future is not None

    def onParameterNodeModified(self, caller=None, event=None) -> None:
        self.updateApplyButton()
        if self._parameterNode is None:
            return
        self.updateDeviceNote()
        controls = controlsFromParameterNode(self._parameterNode)
        if controls != self._lastControls:
            self._lastControls = controls
            if self._parameterNode.livePreview and self.logic.hasPreviewFor(
                self._parameterNode.referenceVolume, self._parameterNode.secondVolume
            ):
                self.previewTimer.start()  # debounced: restarts while the slider moves
        reference = self._parameterNode.referenceVolume
        if reference is not None and self.logic.hasPreview():
            self.logic.updateDisplay(reference, self._parameterNode.overlay.name, self._parameterNode.opacity)

    def updateApplyButton(self) -> None:
        if self.isRunning() and self._futureKind == "fusion":
            self.ui.applyButton.text = _("Cancel")
            self.ui.applyButton.toolTip = _("Stop the fusion after the current batch of slices; nothing is written")
            self.ui.applyButton.enabled = True
            return
        self.ui.applyButton.text = _("Apply")
        node = self._parameterNode
        problems = []
        if node is None or not node.referenceVolume:
            problems.append(_("Select a reference volume."))
        if node is None or not node.secondVolume:
            problems.append(_("Select a second volume."))
        if node is not None and node.referenceVolume and node.referenceVolume == node.secondVolume:
            problems.append(_("Select two different volumes."))
        self.ui.applyButton.enabled = not problems and not self.isRunning()
        self.ui.applyButton.toolTip = " ".join(problems) if problems else _("Fuse the whole volume")

    def updateDeviceNote(self) -> None:
        choice = self._parameterNode.device.name if self._parameterNode else "auto"
        torch = sys.modules.get("torch")
        if torch is None:
            # importing torch only to label the panel would cost seconds at start-up; it is checked on first Apply
            note = _("The device is checked when the model loads (first Apply).") if choice != "cpu" else _(
                "Running on the CPU: a whole volume takes seconds to minutes; the live preview stays interactive.")
        elif choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
            note = _("Running on the CPU: a whole volume takes seconds to minutes; the live preview stays interactive.")
        elif choice == "cuda" and not torch.cuda.is_available():
            note = _("CUDA is selected but no CUDA GPU is available to this PyTorch; choose Auto or CPU.")
        else:
            note = _("Running on the GPU.")
        self.ui.deviceNoteLabel.text = note

    def addLog(self, text: str) -> None:
        # no processEvents() here: it would let a second Apply click re-enter onApplyButton
        logging.info(text)
        self.ui.statusLabel.appendPlainText(text)

    # ------------------------------------------------------------ actions
    def onApplyButton(self) -> None:
        if self.isRunning():
            if self._futureKind == "fusion":
                self.addLog(_("Cancelling after the current batch..."))
                self.logic.cancel()
            return
        with slicer.util.tryWithErrorDisplay(_("Failed to start the fusion."), waitCursor=True):
            self.logic.ensureDependencies()
            node = self._parameterNode
            self._job = self.logic.prepareFusion(
                node.referenceVolume,
                node.secondVolume,
                task=node.task.name,
                functional=node.functional.name,
                device=node.device.name,
                batchSize=node.batchSize,
                windowSource=node.windowSource.name,
                computeMetrics=node.computeMetrics,
                **controlsFromParameterNode(node),
            )
            self.logic.cancelFlag.clear()
            self.ui.statusLabel.clear()
            self.addLog(_("Fusing '{second}' onto the grid of '{reference}'...").format(
                second=node.secondVolume.GetName(), reference=node.referenceVolume.GetName()))
            self._progress = (0, 0)
            self.ui.progressBar.setVisible(True)
            self.ui.progressBar.value = 0
            self.submit("fusion", self.logic.runFusion, self._job, self.onWorkerProgress, self.logic.cancelFlag)

    def submit(self, kind: str, function, *args) -> None:
        """Run ``function`` on the single worker thread (which keeps the model loaded); poll with a QTimer."""
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="WDualMine")
        self._futureKind = kind
        self._future = self._executor.submit(function, *args)
        self.pollTimer.start()
        self.updateApplyButton()

    def onWorkerProgress(self, done: int, total: int) -> None:  # worker thread: no Qt, no MRML
        with self._progressLock:
            self._progress = (done, total)

    def onPoll(self) -> None:
        with self._progressLock:
            done, total = self._progress
        if total and self._futureKind == "fusion":
            self.ui.progressBar.maximum = total
            self.ui.progressBar.value = done
        if self._future is None or not self._future.done():
            return
        self.pollTimer.stop()
        future, kind = self._future, self._futureKind
        self._future, self._futureKind = None, None
        self.updateApplyButton()
        self.ui.progressBar.setVisible(False)
        self.finish(kind, future)
        self.updateDeviceNote()  # torch is loaded now, so the note can say where the model ran

    def finish(self, kind: str, future) -> None:
        from wdualmine.inference import Cancelled

        error = future.exception()
        if isinstance(error, Cancelled):
            self.addLog(_("Cancelled; no output was written."))
            return
        node = self._parameterNode
        if kind == "fusion":
            with slicer.util.tryWithErrorDisplay(_("Failed to compute the fusion."), waitCursor=True):
                if error is not None:
                    raise error
                outcome = future.result()
                nodes = self.logic.writeFusionOutputs(self._job, outcome, node.overlay.name, node.opacity)
                self.addLog(_("Done on {device}: {names}").format(
                    device=outcome.deviceDescription, names=", ".join(n.GetName() for n in nodes.values())))
                slicer.util.resetSliceViews()
        elif kind == "preview":
            if error is not None:
                self.addLog(_("Preview failed: {error}").format(error=error))
                return
            sliceIndex, result = future.result()
            self.logic.writePreview(node.referenceVolume, sliceIndex, result)
            if self._pendingPreview:
                self._pendingPreview = False
                self.previewTimer.start()
        elif kind == "registration":
            with slicer.util.tryWithErrorDisplay(_("Registration failed."), waitCursor=True):
                if error is not None:
                    raise error
                transform = self.logic.applyRigidRegistration(node.secondVolume, future.result())
                self.addLog(_("Rigid registration done: '{name}' is now the second volume's parent transform.").format(
                    name=transform.GetName()))

    _pendingPreview = False

    def onPreviewTimeout(self) -> None:
        node = self._parameterNode
        if node is None or not self.logic.hasPreviewFor(node.referenceVolume, node.secondVolume):
            return  # the inputs changed since the last Apply: the preview would show another pair
        if self.isRunning():
            self._pendingPreview = self._futureKind == "preview"
            return
        redWidget = slicer.app.layoutManager().sliceWidget("Red")
        if redWidget is None:  # a layout without the Red view
            return
        sliceNode = redWidget.mrmlSliceNode()
        sliceToRAS = sliceNode.GetSliceToRAS()
        center = [sliceToRAS.GetElement(r, 3) for r in range(3)]
        with slicer.util.tryWithErrorDisplay(_("Live preview failed."), waitCursor=False):
            sliceIndex = self.logic.sliceIndexFromRAS(node.referenceVolume, center)
            controls = controlsFromParameterNode(node)

            def work():
                return sliceIndex, self.logic.computePreview(sliceIndex, **controls)

            self.submit("preview", work)

    def onLoadSample(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Failed to load the sample data."), waitCursor=True):
            registerSampleData()
            import SampleData

            nodes = SampleData.SampleDataLogic().downloadSample("WDualMineBrainPETMRI")
            mri = [n for n in nodes if "MRI" in n.GetName()][0]
            pet = [n for n in nodes if "PET" in n.GetName()][0]
            self._parameterNode.referenceVolume = mri
            self._parameterNode.secondVolume = pet
            self._parameterNode.task = Task.pet
            self._parameterNode.functional = Functional.second

    def onCheckAlignment(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Alignment check failed."), waitCursor=True):
            self.logic.ensureDependencies()
            node = self._parameterNode
            result = self.logic.checkAlignment(node.referenceVolume, node.secondVolume)
            if result.misaligned:
                slicer.util.warningDisplay(result.message, windowTitle=_("WDualMine alignment check"))

    def onRegister(self) -> None:
        if self.isRunning():
            return
        with slicer.util.tryWithErrorDisplay(_("Registration failed."), waitCursor=True):
            node = self._parameterNode
            fixed, moving = self.logic.registrationImages(node.referenceVolume, node.secondVolume)
            self.addLog(_("Rigid registration (Mattes mutual information)..."))
            self.submit("registration", self.logic.computeRigidRegistration, fixed, moving)


#
# Logic (Slicer side: parameter node and dependencies; the work is in WDualMineFusionLib.logic)
#


class WDualMineFusionModuleLogic(ScriptedLoadableModuleLogic, WDualMineFusionLogic):
    def __init__(self, scene=None, logCallback=None) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        WDualMineFusionLogic.__init__(self, scene if scene is not None else slicer.mrmlScene, logCallback)

    def getParameterNode(self):
        return WDualMineFusionParameterNode(super().getParameterNode())

    def ensureDependencies(self) -> None:
        from WDualMineFusionLib.dependencies import InstallError, ensureDependencies

        try:
            ensureDependencies(
                askConfirmation=not slicer.app.testingEnabled(),
                confirm=lambda text, details: slicer.util.confirmOkCancelDisplay(text, detailedText=details),
            )
        except InstallError as error:
            if error.restartRequired and slicer.util.confirmOkCancelDisplay(str(error) + "\n\n" + _("Restart Slicer now?")):
                slicer.util.restart()
            raise

    def updateDisplay(self, referenceVolumeNode, overlay: str, opacity: float) -> None:
        from WDualMineFusionLib import outputs

        nodes = outputs.existingOutputNodes(referenceVolumeNode)
        if "fused" in nodes:
            self.showOutputs(nodes, overlay, opacity)


#
# Test
#


class WDualMineFusionTest(ScriptedLoadableModuleTest):
    """Runs in Slicer (CTest): the sample pair end to end, with the same checks as the pytest suite."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_FuseSample()

    def test_FuseSample(self):
        import numpy as np

        from wdualmine.sample_data import sample_paths

        self.delayDisplay("Loading the WDualMine sample MRI + PET")
        paths = sample_paths()
        mri = slicer.util.loadVolume(str(paths["MRI"]))
        pet = slicer.util.loadVolume(str(paths["PET"]))
        mriBefore = slicer.util.arrayFromVolume(mri).copy()
        logic = WDualMineFusionLogic(slicer.mrmlScene)
        self.delayDisplay("Fusing (CPU)")
        nodes = logic.fuse(mri, pet, task="pet", functional="second", device="cpu", workingSize=None)
        for key in OUTPUT_KEYS:
            self.assertIn(key, nodes)
        fused = slicer.util.arrayFromVolume(nodes["fused"])
        self.assertEqual(fused.shape, mriBefore.shape)
        ref, out = vtk.vtkMatrix4x4(), vtk.vtkMatrix4x4()
        mri.GetIJKToRASMatrix(ref)
        nodes["fused"].GetIJKToRASMatrix(out)
        for r in range(4):
            for c in range(4):
                self.assertAlmostEqual(ref.GetElement(r, c), out.GetElement(r, c), places=9)
        self.assertTrue(np.array_equal(mriBefore, slicer.util.arrayFromVolume(mri)))
        again = logic.fuse(mri, pet, task="pet", device="cpu", workingSize=None, computeMetrics=False)
        self.assertEqual(again["fused"].GetID(), nodes["fused"].GetID())
        composite = slicer.app.layoutManager().sliceWidget("Red").mrmlSliceCompositeNode()
        self.assertEqual(composite.GetBackgroundVolumeID(), nodes["fused"].GetID())
        self.assertEqual(composite.GetForegroundVolumeID(), nodes["reliabilityA"].GetID())
        self.delayDisplay("Test passed")
