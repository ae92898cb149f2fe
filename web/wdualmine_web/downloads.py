"""An output volume as file bytes (NRRD or NIfTI) for the browser to save; MRML's own volume writer, geometry kept."""

from __future__ import annotations

import re
from pathlib import Path
from tempfile import TemporaryDirectory

FORMATS = {"nrrd": ".nrrd", "nifti": ".nii.gz"}


def fileName(node, fmt: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", node.GetName()).strip("_") or "volume"
    return stem + FORMATS[fmt]


def volumeBytes(node, fmt: str) -> tuple[str, bytes]:
    """(file name, content) of a volume node written as ``fmt`` (``nrrd`` or ``nifti``)."""
    from slicer import vtkMRMLVolumeArchetypeStorageNode

    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    name = fileName(node, fmt)
    with TemporaryDirectory(prefix="wdualmine-web-") as folder:
        path = Path(folder) / name
        storage = vtkMRMLVolumeArchetypeStorageNode()  # not added to the scene: the scene stays as it was
        storage.SetFileName(str(path))
        if not storage.WriteData(node):
            raise OSError(f"could not write {node.GetName()} as {fmt}")
        return name, path.read_bytes()
