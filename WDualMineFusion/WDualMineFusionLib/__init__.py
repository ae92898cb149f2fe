"""MRML glue of the WDualMineFusion module: no Qt, testable with the slicer-core wheel.

One concern per file:

* ``logic.py``             -- WDualMineFusionLogic: fuse(), the prepare / compute / write split, preview, display
* ``compute.py``           -- the computation of one job (engine only; no slicer, no vtk): runs in Slicer or in the process
* ``jobfiles.py``          -- a job and its outcome as files, the exchange format with the fusion process
* ``process.py``           -- the parent side of the fusion process: start, follow, cancel (kill), read back
* ``worker.py``            -- the fusion process itself (``PythonSlicer worker.py JOBDIR``)
* ``inputs.py``            -- the default choice of inputs, the bundled sample pair for the Sample Data module
* ``validation.py``        -- input checks with messages that name the problem and the fix
* ``volume_conversion.py`` -- MRML volume <-> SimpleITK image with full geometry and parent transforms
* ``outputs.py``           -- output nodes: creation, reuse on re-run, Subject Hierarchy folder, RGB fused volume
* ``display.py``           -- colour tables, slice composite nodes, thresholds
* ``metrics_table.py``     -- fusion metrics into a vtkMRMLTableNode
* ``alignment.py``         -- the engine's alignment check with the panel's advice, and the optional rigid registration
* ``preview.py``           -- cached live preview of one slice (encode once, decode per control change)
* ``dependencies.py``      -- first-use install of PyTorch and the engine's requirements (never at import); the one
  file that needs the Slicer application, for its install dialogs (the widget calls it on Apply)

No file imports torch, SimpleITK or the engine's network at import time (they are imported inside
functions), so the module loads fast at Slicer start and before PyTorch is installed.
"""
