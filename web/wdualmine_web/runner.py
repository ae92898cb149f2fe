"""The module's fusion process, followed from the server's event loop.

``FusionProcess.startPolled`` runs ``worker.py`` with its output in a log file; polling that file a few times a
second from an asyncio task costs microseconds, so other clients' views keep rendering while a volume fuses
(no PyTorch work runs in the server process). Cancel kills the process: nothing is written, as in Slicer.
"""

from __future__ import annotations

import asyncio
from typing import Callable

POLL_SECONDS = 0.1


async def runProcess(process, onProgress: Callable[[int, int], None] | None = None) -> object:
    """Start the process, poll it until it ends, return its outcome (or raise FusionCancelled/FusionProcessError)."""
    process.onProgress = onProgress
    process.startPolled()
    try:
        while True:
            returncode = process.poll()
            if returncode is not None:
                return process.result(returncode)
            await asyncio.sleep(POLL_SECONDS)
    except asyncio.CancelledError:  # the server shuts down: the process must not outlive it
        process.cancel()
        raise
    finally:
        if process.isRunning():
            process.cancel()
        process.cleanup()
