"""Fusion controls saved beside a fusion and read back, so the same fusion can be made again exactly.

Auto's choice for a pair (a searched rule or a reliability curve fitted to its slices) takes seconds to find,
and another version of WDualMine, torch or numpy may find another (the fit is erratic, and its tables are
kept on a grid only against a CPU's own rounding). Saved with the fusion, the choice is applied as it is:
the same inputs and windows get the same fusion on any machine (at most a float's last bits can differ
between machines), and a follow-up scan can be fused with the curve chosen for the first one.

The file is JSON: the format and its version, the task, the controls (every field of ``FusionControls``; the
fitted curve as two tables of numbers, written exactly), what chose them, the SHA-256 of the model they ran
with (the experts' residual and the learned curve are the model's), the windows the inputs were read with and
whose grid the fusion was on. The command line (``wdualmine fuse --save-controls``/``--controls``) and the
Slicer panel (Save/Load controls) write and read the same file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

from .controls import TASKS, FusionControls
from .errors import InputError

FORMAT = "wdualmine-controls"
VERSION = 1
SUFFIX = ".controls.json"


@dataclass(frozen=True)
class SavedControls:
    controls: FusionControls
    task: str
    chosen_by: str
    model_sha256: str | None  # None: not recorded
    windows: dict  # "a"/"b": [low, high] in the input's units, or None (2-D 8-bit inputs, not recorded)
    reference: str | None = None  # whose grid the fusion was on: "a" (the CT/PET/SPECT's) or "b" (the MRI's)


def uses_model(controls: FusionControls) -> bool:
    """Whether these controls fuse through the model's weights (its learned curve or its experts' residual)."""
    return controls.detail_strength != 0 or (controls.curve_strength != 0 and controls.pair_curve is None)


def controls_text(saved: SavedControls) -> str:
    """The file's text: JSON, its floats in Python's shortest form that reads back to the same float."""
    document = {
        "format": FORMAT,
        "version": VERSION,
        "task": saved.task,
        "chosen_by": saved.chosen_by,
        "model_sha256": saved.model_sha256,
        "windows": saved.windows,
        "reference": saved.reference,
        "controls": saved.controls.as_dict(),
    }
    return json.dumps(document, indent=2) + "\n"


# How each front end names the file and the way to write a good one, in its messages: the panel and the web
# page have no --controls option, and the page's upload folder is the server's business, not the user's
CLI_SAVER = "--save-controls"
PANEL_SAVER = "the panel's Save controls... (or wdualmine fuse --save-controls)"
WEB_SAVER = "Download controls (or wdualmine fuse --save-controls)"


def read_controls_file(path: Path | str, shown_as: str | None = None, saver: str = CLI_SAVER) -> SavedControls:
    """The controls in a file written by ``controls_text``, or an InputError that names the problem and the fix.

    ``shown_as`` is how the messages name the file (default: the command line's ``--controls PATH``), and
    ``saver`` what writes a good one, in the words of the front end that reads it.
    """
    path = Path(path)
    where = shown_as or f"--controls {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{where}: no such file; give a .controls.json written by {saver}") from None
    except IsADirectoryError:
        raise InputError(f"{where} is a folder; give the .controls.json file itself") from None
    except (OSError, UnicodeDecodeError) as error:  # the reason alone: an OSError's text repeats the path
        raise InputError(f"{where}: cannot read it ({getattr(error, 'strerror', None) or error}); check the file") from None
    try:
        document = json.loads(text, parse_constant=_no_constant)
    except ValueError as error:
        raise InputError(f"{where} is not valid JSON ({error}); give a file written by {saver}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InputError(f"{where} is not a WDualMine controls file (no \"format\": \"{FORMAT}\"); give a file written by {saver}")
    version = document.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise InputError(f"{where} has format version {version!r}; this WDualMine reads version {VERSION}: update WDualMine")
    controls = document.get("controls")
    if not isinstance(controls, dict):
        raise InputError(f"{where} holds no \"controls\" object; save the controls again with {saver}")
    known = {f.name for f in fields(FusionControls)}
    unknown = sorted(set(controls) - known)
    if unknown:
        raise InputError(f"{where} has unknown controls {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    try:
        chosen = FusionControls(**controls)
    except (TypeError, ValueError) as error:
        raise InputError(f"{where}: {error}; save the controls again with {saver} or correct the value") from None
    task = document.get("task")
    if not isinstance(task, str) or task.lower() not in TASKS:
        raise InputError(f"{where} does not say its task as {', '.join(TASKS)} (it says {task!r}); correct it or save the controls again with {saver}")
    windows = document.get("windows") or {}
    model = document.get("model_sha256")
    reference = document.get("reference")
    return SavedControls(
        chosen, task.lower(), str(document.get("chosen_by", "")), model if isinstance(model, str) else None, windows,
        reference if reference in ("a", "b") else None,
    )


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def window_bounds(window) -> list[float] | None:
    """A window as the file records it: [low, high], or None where there is none (percentiles not recorded)."""
    return None if window is None else [float(window.low), float(window.high)]


def window_pair(aligned) -> dict:
    """The windows an aligned volume pair was read with, as the file records them (None for 2-D fusions)."""
    if aligned is None:
        return {"a": None, "b": None}
    return {"a": window_bounds(aligned.window_a), "b": window_bounds(aligned.window_b)}


def window_differences(saved: dict, used: dict) -> list[str]:
    """The inputs whose window now differs from the saved one, in words (the same controls on other grey levels
    give another fusion)."""
    differences = []
    for name in ("a", "b"):
        before, now = saved.get(name), used.get(name)
        if not before or not now or len(before) != 2:
            continue
        if not all(math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-9) for x, y in zip(before, now)):
            differences.append(f"{name.upper()}'s window is {now[0]:g}:{now[1]:g} here but was {before[0]:g}:{before[1]:g}")
    return differences
