"""The fusion process: ``PythonSlicer worker.py JOBDIR`` fuses the job in JOBDIR and writes its outcome there.

Slicer's main thread holds the Python GIL while it idles in the Qt event loop, so torch work in a Python
thread of Slicer's process crawls; a separate process runs at full speed, cannot freeze or crash Slicer,
and is cancelled by killing it. It reports on stdout, one event per line: ``WDUALMINE {json}`` with
``event`` = started (with its pid), progress (done, total slices), error (kind, message) or done.
Exit status: 0 done, 2 bad input, 3 out of memory, 1 any other error.
"""

from __future__ import annotations

import json
import os
import sys

EVENT_PREFIX = "WDUALMINE "
EXIT_INPUT, EXIT_OUT_OF_MEMORY, EXIT_ERROR = 2, 3, 1


def formatEvent(event: str, **fields) -> str:
    return EVENT_PREFIX + json.dumps({"event": event, **fields})


def parseEvent(line: str) -> dict | None:
    """The event of an output line, or None for any other output (warnings, library messages)."""
    if not line.startswith(EVENT_PREFIX):
        return None
    try:
        return json.loads(line[len(EVENT_PREFIX):])
    except ValueError:
        return None


def emit(event: str, **fields) -> None:
    print(formatEvent(event, **fields), flush=True)


def isOutOfMemory(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    from wdualmine.device import is_out_of_memory

    return is_out_of_memory(error)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: PythonSlicer worker.py JOBDIR", file=sys.stderr)
        return EXIT_ERROR
    # run as a script: the module folder (WDualMineFusionLib's and the engine's parent) goes on the path
    moduleDir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if moduleDir not in sys.path:
        sys.path.insert(0, moduleDir)
    emit("started", pid=os.getpid())
    try:
        from WDualMineFusionLib.compute import loadFuser, runFusion
        from WDualMineFusionLib.jobfiles import readJob, writeOutcome

        job = readJob(argv[0])
        fuser = loadFuser(job.task, job.device, job.batchSize)
        outcome = runFusion(job, fuser, progress=lambda done, total: emit("progress", done=done, total=total))
        writeOutcome(outcome, argv[0])
    except Exception as error:  # reported as an event: the parent turns it into a message
        from wdualmine.errors import InputError

        if isOutOfMemory(error):
            emit("error", kind="out-of-memory", message=str(error))
            return EXIT_OUT_OF_MEMORY
        if isinstance(error, InputError):
            emit("error", kind="input", message=str(error))
            return EXIT_INPUT
        import traceback

        traceback.print_exc(file=sys.stdout)
        emit("error", kind="error", message=f"{type(error).__name__}: {error}")
        return EXIT_ERROR
    emit("done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
