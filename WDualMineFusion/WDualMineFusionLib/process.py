"""The parent side of the fusion process: write the job, start ``worker.py``, follow it, cancel it, read back.

No Qt and no threads: the output is either read line by line until the end (``runBlocking``, for scripts
and tests) or polled from a log file (``startPolled`` + ``poll``, which the widget calls from a QTimer on
Slicer versions whose ``launchConsoleProcess`` cannot read without blocking). On Slicer 5.12+ the widget
starts ``command()`` with ``slicer.util.launchConsoleProcess(blocking=False)`` and passes each line to
``handleLine``. Whatever started it, ``result(returncode)`` gives the outcome or a message that says
what went wrong and what to do.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import deque
from pathlib import Path
from typing import Callable

from .compute import FusionJob, FusionOutcome
from .jobfiles import OUTCOME_JSON, readOutcome, writeJob
from .worker import EXIT_INPUT, EXIT_OUT_OF_MEMORY, parseEvent

WORKER = Path(__file__).resolve().with_name("worker.py")
LOG_FILE = "output.log"
TAIL_LINES = 15
MEMORY_ADVICE = (
    "lower 'Slices per batch' (Advanced), choose Device CPU when the GPU is small, or crop the volumes "
    "(Crop Volume module), then Apply again"
)


class FusionCancelled(RuntimeError):
    """The user cancelled; nothing was written."""


class FusionProcessError(RuntimeError):
    """The fusion process failed; the message says why and what to do."""


def pythonExecutable() -> str:
    """Slicer's ``PythonSlicer`` when it is on the PATH (inside Slicer it is), else this Python."""
    return shutil.which("PythonSlicer") or sys.executable


def killProcessTree(proc, reportedPid: int | None = None) -> None:
    """Kill the process, its children (PythonSlicer is a launcher that starts the real Python) and ``reportedPid``."""
    try:
        import psutil  # not in every Slicer; the worker's own pid covers the launcher case without it

        for child in psutil.Process(proc.pid).children(recursive=True):
            child.kill()
    except Exception:  # psutil missing, or the process is already gone
        pass
    if reportedPid and reportedPid != proc.pid:
        try:
            os.kill(reportedPid, getattr(signal, "SIGKILL", signal.SIGTERM))
        except OSError:  # already gone
            pass
    if proc.poll() is None:
        proc.kill()


class FusionProcess:
    def __init__(self, job: FusionJob, python: str | None = None, workDir=None, env: dict | None = None,
                 onProgress: Callable[[int, int], None] | None = None, onLog: Callable[[str], None] | None = None):
        self.python = python or pythonExecutable()
        self.folder = Path(workDir) if workDir is not None else Path(tempfile.mkdtemp(prefix="WDualMine-"))
        writeJob(job, self.folder)
        self.env = env
        self.onProgress, self.onLog = onProgress, onLog
        self.progress = (0, 0)
        self.childPid = None
        self.error = None
        self.cancelled = False
        self.proc = None
        self.tail = deque(maxlen=TAIL_LINES)
        self._reader = None
        self._partial = ""

    def command(self) -> list[str]:
        return [self.python, str(WORKER), str(self.folder)]

    def attach(self, proc) -> None:
        """The started process (from ``launchConsoleProcess`` or ``subprocess.Popen``), for ``cancel``."""
        self.proc = proc

    def handleLine(self, line: str) -> None:
        line = line.rstrip("\r\n")
        event = parseEvent(line)
        if event is None:
            if line:
                self.tail.append(line)
                if self.onLog is not None:
                    self.onLog(line)
            return
        kind = event.get("event")
        if kind == "started":
            self.childPid = int(event["pid"])
        elif kind == "progress":
            self.progress = (int(event["done"]), int(event["total"]))
            if self.onProgress is not None:
                self.onProgress(*self.progress)
        elif kind == "error":
            self.error = event

    # ------------------------------------------------------------ ways to run it
    def runBlocking(self, cancelled: Callable[[], bool] | None = None) -> FusionOutcome:
        """Start, read every line until the process ends (``cancelled()`` is checked per line), return the outcome."""
        proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace", env=self.env)
        self.attach(proc)
        for line in proc.stdout:
            self.handleLine(line)
            if cancelled is not None and cancelled():
                self.cancel()
        return self.result(proc.wait())

    def startPolled(self) -> None:
        """Start with the output going to a log file in the job folder; then call ``poll()`` now and then."""
        logPath = self.folder / LOG_FILE
        with open(logPath, "w") as log:  # the child keeps its own handle
            proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=self.env)
        self.attach(proc)
        self._reader = open(logPath, encoding="utf-8", errors="replace")

    def poll(self) -> int | None:
        """Handle the complete lines written since the last call; the return code once the process ended."""
        returncode = self.proc.poll()  # first: all output is in the file once it has ended
        text = self._partial + self._reader.read()
        lines = text.split("\n")
        self._partial = lines.pop()
        for line in lines:
            self.handleLine(line)
        if returncode is not None:
            if self._partial:
                self.handleLine(self._partial)
                self._partial = ""
            self._reader.close()
        return returncode

    def isRunning(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cancel(self) -> None:
        """Kill the process and its children now; ``result`` then raises FusionCancelled."""
        self.cancelled = True
        if self.proc is not None:
            killProcessTree(self.proc, self.childPid)

    # ------------------------------------------------------------ the end
    def result(self, returncode: int) -> FusionOutcome:
        if self.cancelled:
            raise FusionCancelled("fusion cancelled; no output was written")
        if returncode == 0 and (self.folder / OUTCOME_JSON).exists():
            return readOutcome(self.folder)
        raise FusionProcessError(self.failureMessage(returncode))

    def failureMessage(self, returncode: int) -> str:
        kind = (self.error or {}).get("kind")
        message = (self.error or {}).get("message", "")
        if kind == "out-of-memory" or returncode == EXIT_OUT_OF_MEMORY:
            return f"the fusion ran out of memory ({message}); {MEMORY_ADVICE}"
        if kind == "input" or returncode == EXIT_INPUT:
            return message
        if returncode is not None and (returncode < 0 or returncode == 137):
            return (
                f"the fusion process was stopped by the system (exit status {returncode}), most likely because the "
                f"computer ran out of memory; close other programs, or {MEMORY_ADVICE}"
            )
        if kind == "error":
            return f"the fusion failed: {message}. The process output is in the application log"
        tail = "\n".join(self.tail) or "(no output)"
        return (
            f"the fusion process ({self.python}) ended with exit status {returncode} before reporting a result. "
            f"Check that PythonSlicer runs and the module's Python packages are installed. Its last output:\n{tail}"
        )

    def cleanup(self) -> None:
        """Remove the job folder (inputs, outputs, log); keep it while debugging by not calling this."""
        if self._reader is not None and not self._reader.closed:
            self._reader.close()
        shutil.rmtree(self.folder, ignore_errors=True)
