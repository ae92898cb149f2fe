"""Render the sample fusion headless into PNGs: axial/coronal/sagittal x (fused, reliability PET, arbitration).

    python Testing/WDualMineFusion/render_screenshots.py OUTDIR

Needs slicer-core, torch and the engine (no display, no GPU): the slices come from vtkMRMLSliceLogic,
which blends the layers exactly as Slicer's slice views do, and vtkPNGWriter saves them.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1] / "WDualMineFusion")]

OVERLAYS = {"fused": "none", "reliability_pet": "reliabilityA", "arbitration": "arbitration"}
VIEWS = {"axial": "Red", "coronal": "Green", "sagittal": "Yellow"}


def render(outdir: Path, size: int = 512) -> list[Path]:
    import vtk

    import slicer
    from mrml_helpers import load_volume, make_scene
    from wdualmine import sample_data
    from WDualMineFusionLib.logic import WDualMineFusionLogic

    scene = make_scene()
    paths = sample_data.verify_sample()
    mri = load_volume(scene, paths["MRI"], "MRI")
    pet = load_volume(scene, paths["PET"], "PET")
    logic = WDualMineFusionLogic(scene, logCallback=print)
    nodes = logic.fuse(mri, pet, task="pet", functional="second", device="cpu", computeMetrics=False)

    # each view cuts through the hot lesion (LPS -> RAS) and is centred on the brain
    lesion = sample_data.LESION_CENTER_LPS_MM
    lesion_ras = (-lesion[0], -lesion[1], lesion[2])
    brain_ras = (0.0, -18.0, 18.0)
    through = {"Red": 2, "Green": 1, "Yellow": 0}  # the RAS axis each view's slice position is on
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    app_logic = slicer.vtkMRMLApplicationLogic()
    app_logic.SetMRMLScene(scene)
    for overlay_name, overlay in OVERLAYS.items():
        logic.showOutputs(nodes, overlay, 0.5)
        for view, layout in VIEWS.items():
            slice_node = next(scene.GetNthNodeByClass(i, "vtkMRMLSliceNode") for i in range(3)
                              if scene.GetNthNodeByClass(i, "vtkMRMLSliceNode").GetLayoutName() == layout)
            slice_node.SetDimensions(size, size, 1)
            slice_node.SetFieldOfView(210.0, 210.0, 1.0)
            centre = list(brain_ras)
            centre[through[layout]] = lesion_ras[through[layout]]
            slice_node.JumpSliceByCentering(*centre)
            slice_node.UpdateMatrices()
            slice_logic = slicer.vtkMRMLSliceLogic()
            slice_logic.SetMRMLApplicationLogic(app_logic)
            slice_logic.SetMRMLScene(scene)
            slice_logic.SetSliceNode(slice_node)
            slice_logic.SetSliceCompositeNode(next(scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode") for i in range(3)
                                                   if scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode").GetLayoutName() == layout))
            slice_logic.UpdatePipeline()
            blend = slice_logic.GetImageDataConnection().GetProducer()
            blend.Update()
            writer = vtk.vtkPNGWriter()
            path = outdir / f"{view}_{overlay_name}.png"
            writer.SetFileName(str(path))
            writer.SetInputConnection(slice_logic.GetImageDataConnection())
            writer.Write()
            written.append(path)
            print("wrote", path)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    render(Path(sys.argv[1]))
