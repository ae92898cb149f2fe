"""Bundled WDualMine sample data: a small 3-D T1 MRI and a simulated FDG PET.

The two files ship inside the package, so the demo and the Slicer sample data
work offline:

* ``MRI_T1.nrrd``  -- the MNI ICBM152 2009a symmetric T1 template (skull
  stripped), anti-aliased down to 2 mm isotropic, int16, values 0..~1000.
* ``PET_FDG.nrrd`` -- a simulated FDG PET of the same anatomy on a different
  grid (3 mm isotropic, identity direction, other origin and extent), uint16,
  1 count = 1 Bq/ml.  It has one hot lesion in the right hemisphere and a
  hypometabolic region in the left temporal lobe.

See ``README.md`` next to this file for the grids, the simulation parameters
and the template's copyright notice.  The files are regenerated with
``python -m wdualmine.sample_data.generate`` (needs the optional development
dependency nilearn, which carries the template, plus SimpleITK and SciPy).

This module imports only the standard library.  All coordinates below are
physical millimetres in LPS (the convention of ITK, SimpleITK and NRRD),
the same frame as the MNI coordinates with the signs of x and y flipped.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Dict, Iterable, Optional

__all__ = [
    "SAMPLE_FILES",
    "SAMPLE_SHA256",
    "PET_UNITS",
    "PET_SCALE_BQML_PER_COUNT",
    "LESION_CENTER_LPS_MM",
    "LESION_RADIUS_MM",
    "HYPO_CENTER_LPS_MM",
    "HYPO_RADIUS_MM",
    "SampleDataError",
    "sample_paths",
    "sha256_of",
    "verify_sample",
]

_HERE = Path(__file__).resolve().parent

#: File name of each sample volume, next to this module.
SAMPLE_FILES: Dict[str, str] = {
    "PET": "PET_FDG.nrrd",
    "MRI": "MRI_T1.nrrd",
}

#: SHA-256 of the shipped files (rewritten by ``generate.py``).
SAMPLE_SHA256: Dict[str, str] = {
    "PET": "4ae733024555ba2f51503c4586772699f6703e4343f0864694c456f4184b860f",
    "MRI": "ba8e424f91596c54750cb7db5646cdc006ce1f6d233456cc07c3fe228e10eeaa",
}

#: PET voxel values are activity concentrations: value * scale = Bq/ml.
PET_UNITS = "Bq/ml"
PET_SCALE_BQML_PER_COUNT = 1.0

#: Hot lesion: a sphere in the right hemisphere (MNI x = +36 mm) at the
#: grey/white junction, uptake 2.5 x normal grey matter.
LESION_CENTER_LPS_MM = (-36.0, 16.0, 40.0)
LESION_RADIUS_MM = 6.0

#: Hypometabolism: grey and white matter inside this sphere in the left
#: temporal lobe (MNI x = -56 mm) take up 40 % of normal.
HYPO_CENTER_LPS_MM = (56.0, 22.0, -10.0)
HYPO_RADIUS_MM = 18.0


class SampleDataError(RuntimeError):
    """A bundled sample file is missing or does not match its checksum."""


def sample_paths() -> Dict[str, Path]:
    """Return ``{"PET": Path, "MRI": Path}`` of the bundled sample volumes."""
    return {key: _HERE / name for key, name in SAMPLE_FILES.items()}


def sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sample(keys: Optional[Iterable[str]] = None) -> Dict[str, Path]:
    """Check the bundled files against :data:`SAMPLE_SHA256`.

    ``keys`` restricts the check (default: all of them).  Returns the same
    mapping as :func:`sample_paths`.  Raises :class:`SampleDataError` naming
    the file when one is missing or its checksum differs.
    """
    paths = sample_paths()
    for key in (list(keys) if keys is not None else list(paths)):
        if key not in paths:
            raise KeyError(f"unknown sample key {key!r}; expected one of {sorted(paths)}")
        path = paths[key]
        if not path.is_file():
            raise SampleDataError(f"sample {key} file is missing: {path}")
        actual = sha256_of(path)
        expected = SAMPLE_SHA256[key]
        if actual != expected:
            raise SampleDataError(
                f"sample {key} file {path} has SHA-256 {actual}, expected {expected}; "
                "the file is damaged or was regenerated without updating SAMPLE_SHA256 "
                "(run python -m wdualmine.sample_data.generate)"
            )
    return paths
