"""SIGTERM and SIGHUP during a write: clean up the temporary files first, then die of the signal.

Python's default for these signals ends the process at once, so `finally` blocks never run and
staged outputs of hundreds of MB stay behind. Inside ``cleanup_on_termination`` the signals raise
``Terminated`` instead; once the caller's cleanup has run, the signal is delivered again with the
default action, so the exit status still says what happened (128 + signal number).
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager

SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(BaseException):
    """The process was asked to stop by a signal (a BaseException, so no `except Exception` eats it)."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by signal {signum}")
        self.signum = signum


def _raise(signum, frame):
    raise Terminated(signum)


@contextmanager
def cleanup_on_termination():
    """Turn SIGTERM/SIGHUP into ``Terminated`` for the duration of the block (main thread only).

    The block's own `finally` clauses run on the way out; then the previous handlers are put back and
    the signal is raised again. Elsewhere than the main thread (Slicer's workers) nothing changes,
    since Python only lets the main thread set handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # only signals that would kill us outright: an ignored SIGHUP (nohup) or a host's own handler stays
    previous = {signum: signal.signal(signum, _raise) for signum in SIGNALS if signal.getsignal(signum) == signal.SIG_DFL}
    try:
        yield
    except Terminated as stop:
        if not previous:  # an outer block turned the signals into Terminated: it delivers the signal again
            raise
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        previous = {}
        os.kill(os.getpid(), stop.signum)  # die of the signal, as without us
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
