"""WDualMine in the browser: a trame-slicer front end on the Slicer module's MRML logic.

One concern per file:

* ``app.py``      -- the command ``wdualmine-web``: options, the trame server, start-up with the sample
* ``session.py``  -- one MRML scene and its WDualMineFusionLogic: open a pair, Apply/Cancel, preview, display
* ``runner.py``   -- the fusion process followed from the event loop (progress, cancel), never blocking it
* ``preview.py``  -- the live preview off the event loop, latest control values win
* ``volumes.py``  -- opening two volumes: data-folder confinement, the engine's and the module's checks
* ``downloads.py``-- an output node as NRRD or NIfTI bytes
* ``ui.py``       -- the page: controls, slice views, progress, metrics, messages

Nothing here fuses, resamples, windows, sets up displays or previews: ``WDualMineFusionLib`` does, as in Slicer.
"""

import sys
from pathlib import Path

# WDualMineFusionLib and the engine sit in the Slicer module folder (as Slicer loads them), not in site-packages
MODULE_FOLDER = Path(__file__).resolve().parents[2] / "WDualMineFusion"
if MODULE_FOLDER.is_dir() and str(MODULE_FOLDER) not in sys.path:
    sys.path.insert(0, str(MODULE_FOLDER))
