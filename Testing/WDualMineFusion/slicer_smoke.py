"""Smoke run of the WDualMine Fusion module inside a real 3D Slicer (it cannot run without the application).

    make slicer-smoke SLICER=/path/to/Slicer
    # or: Slicer --no-splash --additional-module-paths WDualMineFusion --python-script Testing/WDualMineFusion/slicer_smoke.py

Drives the widget as a user would: loads the sample with the button, presses Apply and times it (and the
longest stall of Slicer's main thread meanwhile), starts a second Apply and cancels it midway (the scene must be
as before), moves the detail slider and times the live preview, switches the overlay, runs the alignment check,
closes the scene during a third run, and saves the main window as PNGs. Prints one JSON line
``WDUALMINE_SMOKE {...}`` with the timings and any error, writes it to summary.json, and exits 0 when
nothing failed. Output folder: $WDUALMINE_SMOKE_OUTPUT (default ./slicer-smoke-output). The same checks,
where they need no application, are in the headless tests next to this file.
"""

import hashlib
import json
import os
import statistics
import time
import traceback

import qt

import slicer

OUTPUT = os.path.abspath(os.environ.get("WDUALMINE_SMOKE_OUTPUT", "slicer-smoke-output"))
TICK_MS = 20
summary = {"slicerVersion": slicer.app.applicationVersion, "errors": [], "screenshots": []}


class MainThreadWatch:
    """Longest gap between ticks of a 20 ms QTimer: how long the GUI could not repaint."""

    def __init__(self):
        self.last = None
        self.longest = 0.0
        self.timer = qt.QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.connect("timeout()", self.tick)

    def tick(self):
        now = time.perf_counter()
        if self.last is not None:
            self.longest = max(self.longest, now - self.last)
        self.last = now

    def __enter__(self):
        self.last, self.longest = None, 0.0
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.timer.stop()


def pump(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        slicer.app.processEvents(qt.QEventLoop.AllEvents, 20)


def waitFor(condition, timeout: float, what: str) -> float:
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"{what}: not done after {timeout:.0f} s")
        slicer.app.processEvents(qt.QEventLoop.AllEvents, 20)
    return time.perf_counter() - start


def screenshot(name: str) -> None:
    pump(0.3)  # let the views render
    path = os.path.join(OUTPUT, name + ".png")
    slicer.util.mainWindow().grab().save(path)
    summary["screenshots"].append(path)


def fusedDigest(widget) -> str:
    from WDualMineFusionLib.outputs import existingOutputNodes

    nodes = existingOutputNodes(widget._parameterNode.referenceVolume)
    return hashlib.sha256(slicer.util.arrayFromVolume(nodes["fused"]).tobytes()).hexdigest() if "fused" in nodes else ""


def step(name):
    """Decorator that runs the check at once; an error is recorded and the next check still runs."""
    def decorator(function):
        try:
            function()
        except Exception as error:
            summary["errors"].append(f"{name}: {type(error).__name__}: {error}")
            traceback.print_exc()
    return decorator


def main():
    os.makedirs(OUTPUT, exist_ok=True)
    slicer.util.selectModule("WDualMineFusion")
    widget = slicer.modules.wdualminefusion.widgetRepresentation().self()
    import WDualMineFusion as moduleFile  # loaded by Slicer from the module path

    @step("load sample")
    def _():
        widget.ui.loadSampleButton.click()
        node = widget._parameterNode
        assert node.referenceVolume and node.secondVolume, "the sample button selected no inputs"
        summary["inputs"] = [node.referenceVolume.GetName(), node.secondVolume.GetName()]

    @step("apply")
    def _():
        with MainThreadWatch() as watch:
            widget.ui.applyButton.click()
            assert widget.isRunning(), "Apply did not start the fusion process"
            summary["applySeconds"] = round(waitFor(lambda: not widget.isRunning(), 900, "Apply"), 2)
        summary["fusionSeconds"] = round(widget.timings.get("fusionSeconds", float("nan")), 2)
        summary["longestMainThreadStallMs"] = round(watch.longest * 1000)
        assert fusedDigest(widget), "Apply wrote no fused volume: " + widget.ui.statusLabel.toPlainText()[-500:]
        screenshot("1-after-apply")

    @step("cancel midway")
    def _():
        before = (slicer.mrmlScene.GetNumberOfNodes(), fusedDigest(widget))
        widget._parameterNode.detailStrength = 1.5
        widget.ui.applyButton.click()
        waitFor(lambda: widget._process is not None and widget._process.progress[0] > 0, 300, "first batch")
        widget.ui.applyButton.click()  # Cancel
        summary["cancelSeconds"] = round(waitFor(lambda: not widget.isRunning(), 30, "cancel"), 2)
        after = (slicer.mrmlScene.GetNumberOfNodes(), fusedDigest(widget))
        summary["cancelLeftSceneAsBefore"] = after == before
        assert after == before, f"cancel changed the scene: {before} -> {after}"

    @step("live preview")
    def _():
        times = []
        for value in (1.2, 0.8, 1.6, 0.5, 1.0):
            widget.timings.pop("previewSeconds", None)
            widget._parameterNode.detailStrength = value
            waitFor(lambda: "previewSeconds" in widget.timings, 30, "preview")
            times.append(widget.timings["previewSeconds"] * 1000)
        summary["previewMs"] = {"first": round(times[0]), "median_of_rest": round(statistics.median(times[1:]))}
        screenshot("2-after-preview")

    @step("overlay switch")
    def _():
        widget._parameterNode.overlay = moduleFile.Overlay.arbitration
        composite = slicer.app.layoutManager().sliceWidget("Red").mrmlSliceCompositeNode()
        foreground = slicer.mrmlScene.GetNodeByID(composite.GetForegroundVolumeID() or "")
        summary["overlayShown"] = foreground.GetName() if foreground else None
        assert foreground is not None and foreground.GetAttribute("WDualMineFusion.Role") == "arbitration"
        labels = [widget.ui.overlayComboBox.itemText(i) for i in range(widget.ui.overlayComboBox.count)]
        summary["overlayLabels"] = labels
        assert "arbitration" not in labels, "the combo box shows raw enum names"
        screenshot("3-arbitration-overlay")

    @step("alignment check")
    def _():
        start = time.perf_counter()
        widget.ui.checkAlignmentButton.click()
        summary["alignmentCheckSeconds"] = round(time.perf_counter() - start, 2)
        summary["alignmentLog"] = widget.ui.statusLabel.toPlainText().splitlines()[-1:]

    @step("scene close during a fusion")
    def _():
        widget._parameterNode.detailStrength = 0.7
        widget.ui.applyButton.click()
        waitFor(lambda: widget._process is not None and widget._process.progress[0] > 0, 300, "first batch")
        slicer.mrmlScene.Clear(0)
        pump(1.0)  # the killed process's end must be ignored quietly
        summary["sceneCloseStoppedFusion"] = not widget.isRunning()
        assert not widget.isRunning()
        screenshot("4-after-scene-close")


try:
    main()
except Exception as error:
    summary["errors"].append(f"smoke script: {type(error).__name__}: {error}")
    traceback.print_exc()
line = json.dumps(summary)
print("WDUALMINE_SMOKE " + line, flush=True)
os.makedirs(OUTPUT, exist_ok=True)
with open(os.path.join(OUTPUT, "summary.json"), "w") as handle:
    handle.write(line + "\n")
slicer.util.exit(1 if summary["errors"] else 0)
