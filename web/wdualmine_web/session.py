"""One MRML scene, its WDualMineFusionLogic and the page's state: open a pair, Apply, Cancel, preview, display.

Every step is a call into the Slicer module's logic (``prepareFusion``, ``fusionProcess``,
``writeFusionOutputs``, ``updateDisplay``, ``computePreview``/``writePreview``); this file only connects those
calls to the page's state and to the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from wdualmine.controls import BASES, CONTROL_RANGES, FusionControls
from wdualmine.errors import InputError

from . import downloads
from .preview import PreviewScheduler
from .runner import runProcess
from .volumes import confine, openPair

log = logging.getLogger(__name__)

# the controls in the order of the Slicer panel; ranges and defaults come from the engine (as the CLI's do)
NUMERIC_CONTROLS = ("detail_strength", "reliability_bias", "arbitration_bias", "base_power", "curve_strength", "equalise", "emphasis")
CONTROL_LABELS = {
    "detail_strength": "Detail strength",
    "reliability_bias": "Reliability bias",
    "arbitration_bias": "Arbitration bias",
    "base_power": "Base power",
    "curve_strength": "Reliability curve",
    "equalise": "Contrast equalisation",
    "emphasis": "Functional emphasis",
}
OVERLAY_LABELS = {
    "reliabilityA": "Reliability of the PET/CT/SPECT",
    "reliabilityB": "Reliability of the MRI",
    "arbitration": "Arbitration (wavelet expert weight)",
    "none": "None",
}
OUTPUT_LABELS = {
    "fused": "fused", "reliabilityA": "reliability (functional)", "reliabilityB": "reliability (MRI)",
    "arbitration": "arbitration", "fusedRGB": "fused colour (RGB)",
}


def defaultControls() -> dict:
    defaults = FusionControls()
    return {name: getattr(defaults, name) for name in (*NUMERIC_CONTROLS, "base")}


class FusionSession:
    def __init__(self, server, slicerApp, dataFolder: Path, uploadFolder: Path, device: str = "auto"):
        from WDualMineFusionLib.logic import WDualMineFusionLogic

        self.server, self.state = server, server.state
        self.slicerApp = slicerApp
        self.scene = slicerApp.scene
        self.roots = [Path(dataFolder), Path(uploadFolder)]
        self.uploadFolder = Path(uploadFolder)
        self.device = device
        self.logic = WDualMineFusionLogic(self.scene, logCallback=self.logLine)
        self.preview = PreviewScheduler(self.logic, self._previewShown, self._previewError)
        self.reference = self.second = None
        self.outputs: dict = {}
        self.process = None
        self.lastControls: dict | None = None
        self.lastControlsFile: str | None = None  # the last fusion's controls as a controls file (its download)
        self.pairCurve = None  # the reliability curve auto adapted to the open pair (kept here: no slider shows it)
        self._fitViews = True
        self.initialState()

    # ---------------------------------------------------------------- state
    def initialState(self) -> None:
        state = self.state
        state.update(defaultControls())
        state.update(
            task="pet", functional="second", auto_tune=True, live_preview=True,
            overlay="reliabilityA", opacity=0.5, background="fused",
            busy=False, progress=0, status="starting", error="", log_lines=[], arbitration_note="",
            fusion_count=0, preview_count=0, preview_ms=None, apply_seconds=None,
            metrics_headers=[], metrics_rows=[], reference_path="", second_path="",
            pair_names="", has_rgb=False, data_folder=str(self.roots[0]), scene_volumes=0,
        )
        state.control_specs = [
            {"name": name, "label": CONTROL_LABELS[name], "min": CONTROL_RANGES[name][0], "max": CONTROL_RANGES[name][1],
             "step": round((CONTROL_RANGES[name][1] - CONTROL_RANGES[name][0]) / 40, 4)}
            for name in NUMERIC_CONTROLS
        ]
        state.bases = list(BASES)
        state.overlays = [{"value": key, "title": title} for key, title in OVERLAY_LABELS.items()]

    def controls(self) -> dict:
        values = {name: float(self.state[name]) for name in NUMERIC_CONTROLS}
        values["base"] = str(self.state.base)
        values["pair_curve"] = self.pairCurve
        return values

    def logLine(self, message: str) -> None:  # the logic has logged it already
        with self.state:
            self.state.log_lines = [*self.state.log_lines[-30:], message]

    def countVolumes(self) -> None:
        """How many volume nodes the scene holds: shown, so a refused input visibly leaves the scene as it was."""
        with self.state:
            self.state.scene_volumes = self.scene.GetNumberOfNodesByClass("vtkMRMLVolumeNode")

    def showError(self, message: str) -> None:
        log.warning(message)
        with self.state:
            self.state.error = message
            self.state.status = "error"

    # ---------------------------------------------------------------- inputs
    def openPaths(self, referencePath: str, secondPath: str, names: tuple[str, str] | None = None) -> bool:
        """Open two files (under the data or upload folder) as the new pair; on any problem the scene stays."""
        if self.process is not None:
            self.showError("a fusion is running; cancel it or wait before opening other volumes")
            return False
        try:
            reference, second = (confine(path, self.roots) for path in (referencePath, secondPath))
            names = names or (reference.name.split(".")[0], second.name.split(".")[0])
            nodes = openPair(self.scene, self.slicerApp.io_manager, reference, second, names)
        except InputError as error:
            self.showError(str(error))
            self.countVolumes()
            return False
        self.reference, self.second = nodes
        self.countVolumes()
        self.outputs = {}
        self.pairCurve = None  # adapted to the previous pair
        self._fitViews = True
        self.logic.showOutputs({"fused": self.reference}, "none")  # the new reference until it is fused
        self.slicerApp.display_manager.reset_views()
        with self.state:
            self.state.error = ""
            self.state.pair_names = f"{names[0]} (reference) + {names[1]}"
            self.state.status = "opened"
        return True

    def _adoptControls(self, controls: dict) -> None:
        """Controls chosen for the open pair (auto's, or a controls file's) into the sliders, auto off; call inside ``with state``."""
        self.state.update({name: value for name, value in controls.items() if name in (*NUMERIC_CONTROLS, "base")})
        self.pairCurve = controls.get("pair_curve")
        self.state.auto_tune = False

    def loadControls(self, clientFile: dict) -> bool:
        """An uploaded controls file (``wdualmine fuse --save-controls``, the panel's or this page's download) into the
        sliders and the task, auto off, so Apply fuses with it; a fitted curve in it is kept for the pair open now."""
        from wdualmine.controls_file import WEB_SAVER, read_controls_file

        try:  # named as the user chose it: the upload folder is the server's
            saved = read_controls_file(self.saveUpload(clientFile), f"The controls file {Path(clientFile.get('name', '')).name}", WEB_SAVER)
        except InputError as error:
            self.showError(str(error))
            return False
        controls = saved.controls.as_dict()
        with self.state:
            self._adoptControls({**controls, "pair_curve": None if controls["pair_curve"] is None else [list(map(list, t)) for t in controls["pair_curve"]]})
            self.state.task = saved.task
            self.state.error = ""
            self.state.log_lines = [*self.state.log_lines[-30:], f"controls loaded ({saved.chosen_by or 'no origin recorded'}); auto-tune is off, so Apply fuses with them"]
        return True

    def saveUpload(self, clientFile: dict) -> Path:
        """An uploaded file into the upload folder (its name only: no path from the browser is used)."""
        from trame.app.file_upload import ClientFile

        upload = ClientFile(clientFile)
        target = self.uploadFolder / Path(upload.name).name
        target.write_bytes(upload.content)
        return target

    # ---------------------------------------------------------------- Apply / Cancel
    async def apply(self) -> bool:
        """Fuse the current pair with the page's controls in the module's fusion process; True when written."""
        from WDualMineFusionLib.process import FusionCancelled, FusionProcessError

        if self.process is not None:
            return False
        state = self.state
        try:
            job = self.logic.prepareFusion(
                self.reference, self.second, task=state.task, functional=state.functional, device=self.device,
                windowSource="display", computeMetrics=True, auto=bool(state.auto_tune), **self.controls(),
            )
        except InputError as error:
            self.showError(str(error))
            return False
        started = time.perf_counter()
        self.process = self.logic.fusionProcess(job, onLog=log.debug)
        with state:
            state.busy, state.progress, state.error = True, 0, ""
            state.status = "fusing"
        try:
            outcome = await runProcess(self.process, self._progress)
        except FusionCancelled as error:
            with state:
                state.status = "cancelled"
                state.log_lines = [*state.log_lines[-30:], str(error)]
            return False
        except (FusionProcessError, InputError) as error:
            self.showError(str(error))
            return False
        finally:
            self.process = None
            with state:
                state.busy = False
        nodes = self.logic.writeFusionOutputs(job, outcome, state.overlay, float(state.opacity))
        self.outputs = dict(nodes)
        self.lastControls = dict(nodes.controls)
        self.lastControlsFile = self._controlsFile(job, nodes)
        self._showBackground()
        if self._fitViews:
            self.slicerApp.display_manager.reset_views()
            self._fitViews = False
        with state:
            if nodes.autoDescription is not None:  # as the panel: the sliders take auto's choice, auto unticks
                self._adoptControls(nodes.controls)
            state.apply_seconds = round(time.perf_counter() - started, 2)
            state.has_rgb = "fusedRGB" in nodes
            state.arbitration_note = self.logic.arbitrationNote(nodes.controls)
            state.metrics_headers, state.metrics_rows = self._metrics(nodes.get("metrics"))
            state.progress = 100
            state.status = "fused"
            state.fusion_count += 1
        self.countVolumes()
        asyncio.ensure_future(self.preview.warmUp())
        return True

    def cancel(self) -> None:
        if self.process is not None:
            self.process.cancel()

    def _progress(self, done: int, total: int) -> None:
        with self.state:
            self.state.progress = int(100 * done / max(total, 1))

    @staticmethod
    def _metrics(table) -> tuple[list, list]:
        if table is None:
            return [], []
        from WDualMineFusionLib.metrics_table import readMetricsTable

        columns = readMetricsTable(table)
        names = list(next(iter(columns.values()), {}))
        headers = [{"title": "Metric", "key": "metric"}] + [{"title": column, "key": column} for column in columns]
        rows = [{"metric": name, **{column: round(values[name], 4) for column, values in columns.items()}} for name in names]
        return headers, rows

    # ---------------------------------------------------------------- display
    def updateDisplay(self) -> None:
        """Overlay or opacity changed: the module's own rule (only these touch the views)."""
        if self.reference is None or "fused" not in self.outputs:
            return
        if self.logic.updateDisplay(self.reference, self.state.overlay, float(self.state.opacity)):
            self._showBackground()

    def _showBackground(self) -> None:
        """The colour (RGB) fused volume as background when chosen, with the same overlay on top."""
        from WDualMineFusionLib import display

        if self.state.background != "fusedRGB" or "fusedRGB" not in self.outputs:
            return
        role = display.OVERLAYS[self.state.overlay]
        display.showInSliceViews(self.scene, self.outputs["fusedRGB"], self.outputs.get(role) if role else None, float(self.state.opacity))

    def setBackground(self) -> None:
        if "fused" not in self.outputs:
            return
        if self.state.background == "fusedRGB":
            self._showBackground()
        else:
            self.logic.showOutputs(self.outputs, self.state.overlay, float(self.state.opacity))

    # ---------------------------------------------------------------- live preview
    def controlsChanged(self) -> None:
        # a newly opened pair has no fusion yet: its preview starts after its first Apply
        if not self.state.live_preview or self.process is not None or not self.logic.hasPreviewFor(self.reference, self.second):
            return
        controls = self.controls()
        if controls == self.lastControls:
            return
        self.preview.request(controls)

    def _previewShown(self, index: int, milliseconds: float) -> None:
        with self.state:
            self.state.preview_ms = round(milliseconds, 1)
            self.state.preview_count += 1
            self.state.error = ""

    def _previewError(self, message: str) -> None:
        self.showError(message)

    # ---------------------------------------------------------------- downloads
    @staticmethod
    def _controlsFile(job, nodes) -> str:
        """The controls a fusion ran with as the command line's controls file, with the windows and grid it used."""
        from wdualmine.controls_file import window_bounds
        from WDualMineFusionLib.parameters import controlsFileText

        windows = {"a": window_bounds(job.windowA), "b": window_bounds(job.windowB)}
        chosenBy = nodes.autoDescription or "given in the WDualMine web app"
        return controlsFileText(dict(nodes.controls), job.task, chosenBy, windows, job.engineReference)

    def downloadControls(self):
        if self.lastControlsFile is None:
            return None
        return self.server.protocol.addAttachment(self.lastControlsFile.encode("utf-8"))

    def download(self, role: str, fmt: str):
        node = self.outputs.get(role)
        if node is None:
            return None
        _, content = downloads.volumeBytes(node, fmt)
        return self.server.protocol.addAttachment(content)

    def downloadName(self, role: str, fmt: str) -> str:
        node = self.outputs.get(role)
        return downloads.fileName(node, fmt) if node is not None else "missing"
