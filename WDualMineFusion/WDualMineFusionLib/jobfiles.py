"""A fusion job and its outcome as files, the exchange format with the fusion process.

Job: ``a.nrrd`` and ``b.nrrd`` (the two inputs as prepared in Slicer, parent transforms folded in) and
``job.json`` (everything else). The geometry is also stored in the JSON with full float precision and
re-applied on reading, so the process sees exactly the images the in-process path sees. Outcome:
``outcome.npz`` (the arrays) and ``outcome.json`` (metrics, alignment check, warnings, device, the controls
used, auto's summary).
No slicer, no vtk: both sides of the process use this.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from .compute import FusionJob, FusionOutcome

JOB_JSON, OUTCOME_JSON, OUTCOME_ARRAYS = "job.json", "outcome.json", "outcome.npz"
IMAGE_FILES = {"imageA": "a.nrrd", "imageB": "b.nrrd"}


def _geometry(image) -> dict:
    return {"origin": list(image.GetOrigin()), "spacing": list(image.GetSpacing()), "direction": list(image.GetDirection())}


def _window(window):
    return None if window is None else [float(window.low), float(window.high)]


def _readWindow(bounds):
    from wdualmine.volume.window import Window

    return None if bounds is None else Window(*bounds)


def writeJob(job: FusionJob, folder) -> Path:
    import SimpleITK as sitk

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    description = {
        "referenceID": job.referenceID,
        "secondID": job.secondID,
        "task": job.task,
        "functional": job.functional,
        "controls": job.controls.as_dict(),
        "names": list(job.names),
        "windowA": _window(job.windowA),
        "windowB": _window(job.windowB),
        "engineReference": job.engineReference,
        "device": job.device,
        "batchSize": int(job.batchSize),
        "workingSize": job.workingSize,
        "computeMetrics": bool(job.computeMetrics),
        "auto": bool(job.auto),
        "warnings": list(job.warnings),
        "geometry": {},
    }
    for key, name in IMAGE_FILES.items():
        image = getattr(job, key)
        sitk.WriteImage(image, str(folder / name), useCompression=False)
        description["geometry"][key] = _geometry(image)
    if job.colourLookup is not None:
        np.save(folder / "colour_lookup.npy", job.colourLookup)
    (folder / JOB_JSON).write_text(json.dumps(description, indent=1))
    return folder


def readJob(folder) -> FusionJob:
    import SimpleITK as sitk

    from wdualmine.controls import FusionControls

    folder = Path(folder)
    description = json.loads((folder / JOB_JSON).read_text())
    images = {}
    for key, name in IMAGE_FILES.items():
        image = sitk.ReadImage(str(folder / name))
        geometry = description["geometry"][key]
        image.SetOrigin(geometry["origin"])
        image.SetSpacing(geometry["spacing"])
        image.SetDirection(geometry["direction"])
        images[key] = image
    lookupPath = folder / "colour_lookup.npy"
    return FusionJob(
        referenceID=description["referenceID"],
        secondID=description["secondID"],
        task=description["task"],
        functional=description["functional"],
        controls=FusionControls(**description["controls"]),
        imageA=images["imageA"],
        imageB=images["imageB"],
        names=tuple(description["names"]),
        windowA=_readWindow(description["windowA"]),
        windowB=_readWindow(description["windowB"]),
        engineReference=description["engineReference"],
        device=description["device"],
        batchSize=description["batchSize"],
        workingSize=description["workingSize"],
        computeMetrics=description["computeMetrics"],
        auto=description["auto"],
        colourLookup=np.load(lookupPath) if lookupPath.exists() else None,
        warnings=description["warnings"],
    )


def writeOutcome(outcome: FusionOutcome, folder) -> None:
    folder = Path(folder)
    arrays = {"fused": outcome.fused, **{"map_" + name: values for name, values in outcome.maps.items()}}
    if outcome.rgb is not None:
        arrays["rgb"] = outcome.rgb
    np.savez(folder / OUTCOME_ARRAYS, **arrays)
    description = {
        "metrics": outcome.metrics,
        "metricSlices": [int(s) for s in outcome.metricSlices],
        "alignment": dataclasses.asdict(outcome.alignment),
        "warnings": list(outcome.warnings),
        "deviceDescription": outcome.deviceDescription,
        "controls": outcome.controls,
        "autoDescription": outcome.autoDescription,
    }
    # written last: its presence means the outcome is complete
    (folder / OUTCOME_JSON).write_text(json.dumps(description, indent=1))


def readOutcome(folder) -> FusionOutcome:
    from wdualmine.volume.alignment import AlignmentCheck

    folder = Path(folder)
    description = json.loads((folder / OUTCOME_JSON).read_text())
    with np.load(folder / OUTCOME_ARRAYS) as arrays:
        fused = arrays["fused"]
        maps = {key[len("map_"):]: arrays[key] for key in arrays.files if key.startswith("map_")}
        rgb = arrays["rgb"] if "rgb" in arrays.files else None
    return FusionOutcome(
        fused=fused,
        maps=maps,
        rgb=rgb,
        metrics=description["metrics"],
        metricSlices=description["metricSlices"],
        alignment=AlignmentCheck(**description["alignment"]),
        warnings=description["warnings"],
        pair=None,
        deviceDescription=description["deviceDescription"],
        controls=description["controls"],
        autoDescription=description["autoDescription"],
    )
