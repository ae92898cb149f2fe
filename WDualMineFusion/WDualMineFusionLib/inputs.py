"""Which volumes to fuse: the default choice in a scene, and the bundled sample pair (Sample Data module)."""

from __future__ import annotations

import os
import pathlib

from .outputs import ROLE_ATTRIBUTE

SAMPLE_NAME = "WDualMineBrainPETMRI"
SAMPLE_NODE_NAMES = {"MRI": "WDualMine MRI T1", "PET": "WDualMine PET FDG"}


def selectableVolumes(scene) -> list:
    """Plain scalar volumes that are not outputs of this module.

    Exactly vtkMRMLScalarVolumeNode: its subclasses (label maps, vector, DWI and tensor volumes) cannot be
    fused and are not shown by the module's volume selectors.
    """
    volumes = [scene.GetNthNodeByClass(i, "vtkMRMLScalarVolumeNode") for i in range(scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode"))]
    return [v for v in volumes if v.GetClassName() == "vtkMRMLScalarVolumeNode" and v.GetAttribute(ROLE_ATTRIBUTE) is None]


def defaultInputs(scene, reference=None, second=None) -> tuple:
    """Fill in the unset inputs: an MRI-looking volume as reference, another volume as second."""
    volumes = selectableVolumes(scene)
    if reference is None and volumes:
        mri = [v for v in volumes if "mr" in v.GetName().lower()]
        reference = mri[0] if mri else volumes[0]
    if second is None:
        others = [v for v in volumes if v is not reference]
        second = others[0] if others else None
    return reference, second


def sampleDataSource(thumbnailFileName: str) -> dict:
    """Keyword arguments of ``SampleDataLogic.registerCustomSampleDataSource`` for the bundled pair (local files)."""
    from wdualmine.sample_data import SAMPLE_SHA256, sample_paths

    paths = sample_paths()
    roles = ("MRI", "PET")
    return dict(
        category="WDualMine",
        sampleName=SAMPLE_NAME,
        uris=[pathlib.Path(paths[role]).resolve().as_uri() for role in roles],
        fileNames=[f"WDualMine_{os.path.basename(str(paths[role]))}" for role in roles],
        nodeNames=[SAMPLE_NODE_NAMES[role] for role in roles],
        thumbnailFileName=thumbnailFileName,
        loadFileTypes=["VolumeFile", "VolumeFile"],
        checksums=["SHA256:" + SAMPLE_SHA256[role] for role in roles],
    )


def sampleInputs(nodes) -> tuple:
    """(MRI, PET) from what ``SampleDataLogic.downloadSamples`` returned for the sample."""
    byName = {node.GetName(): node for node in (nodes or []) if node is not None}
    missing = [name for name in SAMPLE_NODE_NAMES.values() if name not in byName]
    if missing:
        raise RuntimeError(
            f"the sample did not load {', '.join(missing)}; reinstall the extension (the sample files ship with it)"
        )
    return byName[SAMPLE_NODE_NAMES["MRI"]], byName[SAMPLE_NODE_NAMES["PET"]]
