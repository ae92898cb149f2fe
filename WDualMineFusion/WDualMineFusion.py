"""WDualMineFusion: W-DUALMINE multimodal image fusion (CT/PET/SPECT + MRI) in 3D Slicer.

Three layers, one-way: the engine (``wdualmine/``, no Slicer), the MRML logic (``WDualMineFusionLib/``, no Qt),
and this file (Qt widget, parameter node, dialogs, module registration, self-test).

No torch or numpy work runs in a Python thread here: Slicer's main thread holds the GIL while it idles in the
Qt event loop, so such a thread would crawl. Apply runs the whole-volume fusion in a separate process
(PythonSlicer), followed by a QTimer; the live preview (tens of ms) and the rigid registration run on the main
thread. Requires Slicer 5.10 or later (the engine needs Python 3.10+); ``slicer.packaging`` and the
non-blocking ``launchConsoleProcess`` are used when present (5.12+).
"""

from __future__ import annotations

import enum
import inspect
import logging
import os
import shutil
import sys
import time
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
from WDualMineFusionLib.parameters import fittedCurveInUse, forgetStalePairCurve, readJsonControl

MODULE_DIR = os.path.dirname(os.path.abspath(__file__))
PREVIEW_DEBOUNCE_MS = 250
POLL_MS = 200


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
    import SampleData

    from WDualMineFusionLib.inputs import sampleDataSource

    thumbnail = os.path.join(MODULE_DIR, "Resources", "Icons", "WDualMineFusion.png")
    SampleData.SampleDataLogic.registerCustomSampleDataSource(**sampleDataSource(thumbnail))


#
# Parameter node
#


# Each enum is saved by member name; ``label`` is what the parameter node's combo-box connector shows.
class Task(enum.Enum):
    pet = enum.auto()
    spect = enum.auto()
    ct = enum.auto()

    def label(self) -> str:
        return {"pet": _("PET-MRI"), "spect": _("SPECT-MRI"), "ct": _("CT-MRI")}[self.name]


class Functional(enum.Enum):
    second = enum.auto()
    reference = enum.auto()

    def label(self) -> str:
        return {"second": _("the second volume"), "reference": _("the reference volume")}[self.name]


class Base(enum.Enum):
    plain = enum.auto()
    zscore = enum.auto()

    def label(self) -> str:
        return {"plain": _("plain average"), "zscore": _("z-scored average")}[self.name]


class Overlay(enum.Enum):
    reliabilityA = enum.auto()
    reliabilityB = enum.auto()
    arbitration = enum.auto()
    none = enum.auto()

    def label(self) -> str:
        return {
            "reliabilityA": _("reliability of CT/PET/SPECT"),
            "reliabilityB": _("reliability of MRI"),
            "arbitration": _("arbitration (wavelet expert weight)"),
            "none": _("none"),
        }[self.name]


class Device(enum.Enum):
    auto = enum.auto()
    cuda = enum.auto()
    cpu = enum.auto()

    def label(self) -> str:
        return {"auto": _("Auto"), "cuda": _("CUDA"), "cpu": _("CPU")}[self.name]


class WindowSource(enum.Enum):
    display = enum.auto()
    percentiles = enum.auto()

    def label(self) -> str:
        return {"display": _("display window/level"), "percentiles": _("percentiles")}[self.name]


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
    equalise: Annotated[float, WithinRange(0.0, 1.0)] = 0.0
    emphasis: Annotated[float, WithinRange(0.0, 1.0)] = 0.0
    pairCurve: str = ""  # JSON of the reliability curve auto adapted to the current pair; "" = the model's own
    pairCurveFor: str = ""  # the node IDs of the two volumes it was adapted to
    autoTune: bool = True  # off after an auto-tuned Apply (``adoptAutoChoice``), so later tweaks are kept
    livePreview: bool = True
    overlay: Overlay = Overlay.reliabilityA
    opacity: Annotated[float, WithinRange(0.0, 1.0)] = 0.5
    device: Device = Device.auto
    batchSize: Annotated[int, WithinRange(0, 64)] = 0  # 0: the engine's default for the device
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
        "equalise": float(parameterNode.equalise),
        "emphasis": float(parameterNode.emphasis),
        "pair_curve": readJsonControl(parameterNode.pairCurve),
    }


#
# Widget
#


def pythonSlicerExecutable() -> str:
    """Slicer's own Python launcher, which runs the fusion process with Slicer's packages."""
    path = shutil.which("PythonSlicer")
    if not path:
        raise RuntimeError(
            _("PythonSlicer was not found on the PATH of this Slicer; the fusion runs in it. Reinstall Slicer.")
        )
    return path


def nonBlockingLaunchAvailable() -> bool:
    """Slicer 5.12+ reads a process's output without blocking (``launchConsoleProcess(blocking=False)``)."""
    return "blocking" in inspect.signature(slicer.util.launchConsoleProcess).parameters


class WDualMineFusionWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._process = None  # the running FusionProcess
        self._job = None
        self._started = 0.0
        self._lastControls = None
        self.timings = {}  # seconds of the last fusion and preview (read by the smoke script)

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/WDualMineFusion.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = WDualMineFusionModuleLogic(logCallback=self.addLog)

        # polls the fusion process's log file where launchConsoleProcess cannot read without blocking (< 5.12)
        self.processTimer = qt.QTimer()
        self.processTimer.setInterval(POLL_MS)
        self.processTimer.connect("timeout()", self.onProcessPoll)
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
        self.ui.saveControlsButton.connect("clicked(bool)", self.onSaveControls)
        self.ui.loadControlsButton.connect("clicked(bool)", self.onLoadControls)
        self.ui.progressBar.setVisible(False)
        self.updateDeviceNote()

        self.initializeParameterNode()

    def cleanup(self) -> None:
        """Called on reload and when the application quits: stop the timers and the fusion process."""
        self.removeObservers()
        for timer in (getattr(self, "processTimer", None), getattr(self, "previewTimer", None)):
            if timer is not None:
                timer.stop()
        self.stopFusion()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified)

    def onSceneStartClose(self, caller, event) -> None:
        if self.stopFusion():
            self.addLog(_("The scene was closed: the fusion was cancelled."))
        self.previewTimer.stop()
        self.setParameterNode(None)
        if self.logic is not None:
            self.logic.resetPreview()  # its cached volumes belong to the closing scene

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        from WDualMineFusionLib.inputs import defaultInputs

        self.setParameterNode(self.logic.getParameterNode())
        node = self._parameterNode
        reference, second = defaultInputs(slicer.mrmlScene, node.referenceVolume, node.secondVolume)
        if reference is not None and not node.referenceVolume:
            node.referenceVolume = reference
        if second is not None and not node.secondVolume:
            node.secondVolume = second

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            # the views keep whatever they show until the overlay or opacity changes (or a fusion ends)
            self.logic.noteDisplay(self._parameterNode.overlay.name, self._parameterNode.opacity)
            self._lastControls = controlsFromParameterNode(self._parameterNode)
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified)
            self.onParameterNodeModified()

    # ------------------------------------------------------------ state
    def isRunning(self) -> bool:
        return self._process is not None

    def onParameterNodeModified(self, caller=None, event=None) -> None:
        self.updateApplyButton()
        node = self._parameterNode
        if node is None:
            return
        self.updateDeviceNote()
        if forgetStalePairCurve(node):
            self.addLog(_("Other volumes chosen: the curve adapted to the previous pair is no longer used."))
            return  # dropping it modified the node again, which has run this already
        if fittedCurveInUse(node):
            self.ui.curveStrengthLabel.text = _("Reliability curve (fitted to this pair):")
            self.ui.curveStrengthLabel.toolTip = _(
                "Auto fitted the reliability curve to these two volumes; the slider scales it (0 = the plain average). "
                "It is dropped when other volumes are chosen.")
        else:
            self.ui.curveStrengthLabel.text = _("Reliability curve:")
            self.ui.curveStrengthLabel.toolTip = _("The model's trained reliability curve; the slider scales it (0 = the plain average).")
        controls = controlsFromParameterNode(node)
        # the arbitration map splits the experts' residual: at detail 0 it shapes nothing, and the label says so
        note = self.logic.arbitrationNote(controls) if node.overlay == Overlay.arbitration else ""
        self.ui.overlayLabel.text = _("Overlay (unused at detail 0):") if note else _("Overlay:")
        self.ui.overlayLabel.toolTip = note
        if controls != self._lastControls:
            self._lastControls = controls
            if node.livePreview and self.logic.hasPreviewFor(node.referenceVolume, node.secondVolume):
                self.previewTimer.start()  # debounced: restarts while the slider moves
        self.logic.updateDisplay(node.referenceVolume, node.overlay.name, node.opacity)

    def updateApplyButton(self) -> None:
        if self.isRunning():
            cancelling = self._process.cancelled
            self.ui.applyButton.text = _("Cancelling...") if cancelling else _("Cancel")
            self.ui.applyButton.toolTip = _("Stop the fusion now; nothing is written")
            self.ui.applyButton.enabled = not cancelling
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
        self.ui.applyButton.enabled = not problems
        self.ui.applyButton.toolTip = " ".join(problems) if problems else _("Fuse the whole volume")

    def updateDeviceNote(self) -> None:
        choice = self._parameterNode.device.name if self._parameterNode else "auto"
        torch = sys.modules.get("torch")
        if torch is None:
            # importing torch only to label the panel would cost seconds at start-up
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

    # ------------------------------------------------------------ Apply: the fusion process
    def onApplyButton(self) -> None:
        if self.isRunning():
            self.addLog(_("Cancelling..."))
            self._process.cancel()
            self.updateApplyButton()
            return
        node = self._parameterNode
        # installs first, without a wait cursor: they may ask questions
        with slicer.util.tryWithErrorDisplay(_("Could not install what the fusion needs."), waitCursor=False):
            self.logic.ensureDependencies()  # raises (after showing the message) when something is still missing
        with slicer.util.tryWithErrorDisplay(_("Failed to start the fusion."), waitCursor=True):
            job = self.logic.prepareFusion(
                node.referenceVolume,
                node.secondVolume,
                task=node.task.name,
                functional=node.functional.name,
                device=node.device.name,
                batchSize=node.batchSize,
                windowSource=node.windowSource.name,
                computeMetrics=node.computeMetrics,
                auto=node.autoTune,
                **controlsFromParameterNode(node),
            )
            self.ui.statusLabel.clear()
            self.addLog(_("Fusing '{second}' onto the grid of '{reference}' in a separate process...").format(
                second=node.secondVolume.GetName(), reference=node.referenceVolume.GetName()))
            if node.autoTune:
                self.addLog(_("Auto-tuning the controls for this pair first (a few seconds)..."))
            self.startFusion(job)

    def startFusion(self, job) -> None:
        process = self.logic.fusionProcess(job, python=pythonSlicerExecutable(), env=slicer.util.startupEnvironment(),
                                           onProgress=self.onProgress, onLog=logging.info)
        try:
            if nonBlockingLaunchAvailable():
                proc = slicer.util.launchConsoleProcess(
                    process.command(), blocking=False, logCallback=process.handleLine,
                    completedCallback=lambda returncode, process=process: self.onFusionEnded(process, returncode),
                )
                process.attach(proc)
            else:
                process.startPolled()
                self.processTimer.start()
        except Exception:
            process.cleanup()
            raise
        # callbacks arrive from timers, so after this method: the state can be set last
        self._process, self._job = process, job
        self._started = time.perf_counter()
        self.ui.progressBar.setVisible(True)
        self.ui.progressBar.maximum = 0  # busy until the first progress line (model loading)
        self.ui.progressBar.value = 0
        self.updateApplyButton()

    def onProcessPoll(self) -> None:
        process = self._process
        if process is None:
            self.processTimer.stop()
            return
        returncode = process.poll()
        if returncode is not None:
            self.processTimer.stop()
            self.onFusionEnded(process, returncode)

    def onProgress(self, done: int, total: int) -> None:
        self.ui.progressBar.maximum = total
        self.ui.progressBar.value = done

    def stopFusion(self) -> bool:
        """Kill a running fusion without writing anything (scene close, reload, quit); True if one ran."""
        process, self._process, self._job = self._process, None, None
        if process is None:
            return False
        process.cancel()
        process.cleanup()
        self.processTimer.stop()
        self.ui.progressBar.setVisible(False)
        self.updateApplyButton()
        return True

    def onFusionEnded(self, process, returncode: int) -> None:
        from WDualMineFusionLib.parameters import adoptAutoChoice
        from WDualMineFusionLib.process import FusionCancelled

        if process is not self._process:  # stopped by a scene close or reload; its end no longer matters
            process.cleanup()
            return
        job = self._job
        self._process, self._job = None, None
        self.ui.progressBar.setVisible(False)
        self.updateApplyButton()
        node = self._parameterNode
        try:
            with slicer.util.tryWithErrorDisplay(_("The fusion failed."), waitCursor=True):
                try:
                    outcome = process.result(returncode)
                except FusionCancelled:
                    self.addLog(_("Cancelled; no output was written."))
                    return
                if node is None:
                    return
                nodes = self.logic.writeFusionOutputs(job, outcome, node.overlay.name, node.opacity)
                if nodes.autoDescription is not None:
                    # the outputs already show auto's controls: moving the sliders to them must not start a preview
                    self._lastControls = dict(nodes.controls)
                    adoptAutoChoice(node, nodes)
                    self.addLog(_("Auto-tune is now off: the sliders show its choice; your changes are kept on the next Apply."))
                self.timings["fusionSeconds"] = time.perf_counter() - self._started
                self.addLog(_("Done on {device}: {names}").format(
                    device=outcome.deviceDescription, names=", ".join(n.GetName() for n in nodes.values())))
                slicer.util.resetSliceViews()
        finally:
            process.cleanup()
            self.updateDeviceNote()

    # ------------------------------------------------------------ live preview: main thread, synchronous
    def onPreviewTimeout(self) -> None:
        node = self._parameterNode
        if node is None or self.isRunning() or not self.logic.hasPreviewFor(node.referenceVolume, node.secondVolume):
            return  # the inputs changed since the last Apply, or a new fusion is on its way
        started = time.perf_counter()
        with slicer.util.tryWithErrorDisplay(_("Live preview failed."), waitCursor=False):
            try:
                sliceNode, sliceIndex = self.logic.previewTarget()
            except ValueError as error:  # no view shows the fusion's slices: say which orientation to set
                self.addLog(str(error))
                return
            self.logic.previewSlice(node.referenceVolume, sliceIndex, **controlsFromParameterNode(node))
        self.timings["previewSeconds"] = time.perf_counter() - started

    # ------------------------------------------------------------ other actions
    def onLoadSample(self) -> None:
        from WDualMineFusionLib.inputs import SAMPLE_NAME, sampleInputs

        with slicer.util.tryWithErrorDisplay(_("Failed to load the sample data."), waitCursor=True):
            registerSampleData()
            import SampleData

            mri, pet = sampleInputs(SampleData.SampleDataLogic().downloadSamples(SAMPLE_NAME))
            self._parameterNode.referenceVolume = mri
            self._parameterNode.secondVolume = pet
            self._parameterNode.task = Task.pet
            self._parameterNode.functional = Functional.second

    def onCheckAlignment(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not install what the check needs."), waitCursor=False):
            self.logic.ensureDependencies()
        with slicer.util.tryWithErrorDisplay(_("Alignment check failed."), waitCursor=True):
            node = self._parameterNode
            result = self.logic.checkAlignment(node.referenceVolume, node.secondVolume)
        if result.misaligned:
            slicer.util.warningDisplay(result.message, windowTitle=_("WDualMine alignment check"))

    def onSaveControls(self) -> None:
        """The controls shown, as the file the command line's --controls reads (same format, same fusion)."""
        from WDualMineFusionLib.parameters import controlsFileText, writeControlsFile

        node = self._parameterNode
        path = qt.QFileDialog.getSaveFileName(
            self.parent, _("Save the fusion controls"), "fusion.controls.json", _("WDualMine controls (*.controls.json)"))
        if not node or not path:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not save the controls."), waitCursor=True):
            second = node.functional == Functional.second
            functionalNode, mriNode = (node.secondVolume, node.referenceVolume) if second else (node.referenceVolume, node.secondVolume)
            windows = self.logic.recordedWindows(functionalNode, mriNode, node.windowSource.name)
            # the panel fuses on the reference volume's grid: the MRI's ("b") when the second volume is the functional
            text = controlsFileText(controlsFromParameterNode(node), node.task.name, "saved from the 3D Slicer panel", windows,
                                    "b" if second else "a")
            writeControlsFile(path, text)
            self.addLog(_("Controls saved to {path}.").format(path=path))

    def onLoadControls(self) -> None:
        from WDualMineFusionLib.parameters import adoptSavedControls

        node = self._parameterNode
        path = qt.QFileDialog.getOpenFileName(
            self.parent, _("Load fusion controls"), "", _("WDualMine controls (*.controls.json);;All files (*)"))
        if not node or not path:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not load the controls."), waitCursor=True):
            saved = adoptSavedControls(node, path)
            self.addLog(_("Controls loaded from {path} ({chosen}); auto-tune is off, so Apply fuses with them.").format(
                path=path, chosen=saved.chosen_by or _("no origin recorded")))

    def onRegister(self) -> None:
        if self.isRunning():
            return
        node = self._parameterNode
        self.addLog(_("Rigid registration (Mattes mutual information); Slicer waits until it is done..."))
        slicer.app.processEvents()  # show the note before the main thread is busy
        # one SimpleITK Execute call on the main thread: seconds, and no Python thread to starve
        with slicer.util.tryWithErrorDisplay(_("Registration failed."), waitCursor=True):
            transform = self.logic.registerRigid(node.referenceVolume, node.secondVolume)
            self.addLog(_("Rigid registration done: '{name}' is now the second volume's parent transform.").format(
                name=transform.GetName()))


#
# Logic (Slicer side: parameter node and dependencies; the work is in WDualMineFusionLib.logic)
#


class WDualMineFusionModuleLogic(ScriptedLoadableModuleLogic, WDualMineFusionLogic):
    def __init__(self, scene=None, logCallback=None) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        # the base class derives the parameter node's module name from the class name
        self.moduleName = "WDualMineFusion"
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


#
# Test
#


class WDualMineFusionTest(ScriptedLoadableModuleTest):
    """Runs in Slicer (CTest): the sample pair end to end, in the fusion process, with the pytest suite's checks."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        from WDualMineFusionLib.dependencies import missingPackages

        missing = missingPackages()
        if missing:  # e.g. the extensions factory: pip_ensure installs nothing in testing mode
            self.skipTest("WDualMineFusion self-test skipped: not installed: " + ", ".join(missing))
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
        self.delayDisplay("Fusing (CPU, in a PythonSlicer process)")
        nodes = logic.fuse(mri, pet, task="pet", functional="second", device="cpu", workingSize=None, useProcess=True)
        for key in OUTPUT_KEYS:
            self.assertIn(key, nodes)
        fused = slicer.util.arrayFromVolume(nodes["fused"]).copy()
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
        self.assertTrue(np.array_equal(fused, slicer.util.arrayFromVolume(again["fused"])))
        composite = slicer.app.layoutManager().sliceWidget("Red").mrmlSliceCompositeNode()
        self.assertEqual(composite.GetBackgroundVolumeID(), nodes["fused"].GetID())
        self.assertEqual(composite.GetForegroundVolumeID(), nodes["reliabilityA"].GetID())
        self.delayDisplay("Test passed")
