"""The live preview off the event loop: one slice re-fused by the module's PreviewSession in a worker thread.

A slider sends many values while it moves; only the latest is computed once the previous one is done, so the
preview never queues up behind the hand. The MRML write (``writePreview``) happens on the event loop, where
every other MRML change happens. The first call builds the session (loads the model, encodes the slice): it
runs in the thread too, so the page stays live meanwhile.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Callable


class PreviewScheduler:
    def __init__(self, logic, onShown: Callable[[int, float], None], onError: Callable[[str], None]):
        self.logic = logic
        self.onShown, self.onError = onShown, onError
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wdualmine-preview")
        self._pending: dict | None = None
        self._task: asyncio.Task | None = None

    def request(self, controls: dict) -> None:
        """Ask for a preview with these controls; replaces any request not started yet."""
        self._pending = dict(controls)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._drain())

    async def warmUp(self) -> None:
        """Build the preview session (model, cached encoder work of the shown slice) before the first move."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self.logic.previewSession)
        except Exception:  # no fusion yet: the first request reports it
            return

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending is not None:
            controls, self._pending = self._pending, None
            started = loop.time()
            try:
                # the session (model load, alignment) is built in the thread; previewTarget then only reads views
                await loop.run_in_executor(self._executor, self.logic.previewSession)
                _, index = self.logic.previewTarget()
                result = await loop.run_in_executor(self._executor, lambda: self.logic.computePreview(index, **controls))
                self.logic.writePreview(self.logic.previewReference(), index, result)
            except Exception as error:  # FusionInputError says what to do; anything else is shown too
                self.onError(str(error))
                continue
            self.onShown(index, (loop.time() - started) * 1000.0)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
