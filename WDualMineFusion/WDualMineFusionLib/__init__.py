"""MRML glue of the WDualMineFusion module: no Qt, no slicer.app, testable with the slicer-core wheel.

One concern per file:

* ``logic.py``             -- WDualMineFusionLogic: fuse(), the prepare / compute / write split the widget threads
* ``validation.py``        -- input checks with messages that name the problem and the fix
* ``volume_conversion.py`` -- MRML volume <-> SimpleITK image with full geometry and parent transforms
* ``outputs.py``           -- output nodes: creation, reuse on re-run, Subject Hierarchy folder, RGB fused volume
* ``display.py``           -- colour tables, slice composite nodes, thresholds
* ``metrics_table.py``     -- fusion metrics into a vtkMRMLTableNode
* ``alignment.py``         -- mutual-information alignment check and optional rigid registration
* ``preview.py``           -- cached live preview of one slice (encode once, decode per control change)
* ``dependencies.py``      -- first-use install of PyTorch and the engine's requirements (never at import)

Nothing here imports torch or the engine at import time except ``logic``, ``preview`` and ``alignment``,
which import the engine lazily inside functions, so the module loads before PyTorch is installed.
"""
