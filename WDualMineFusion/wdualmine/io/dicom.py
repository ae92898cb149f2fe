"""DICOM series folders as inputs: pick the series, check its slices, read it, PET in SUV when the tags allow.

SimpleITK's GDCM series reader does the reading. Its own checks are weak: it places slices evenly
whatever their positions say (a missing slice or uneven spacing silently distorts the geometry), so
the positions are checked here first. pydicom is used only for the PET dose information, which sits
in a sequence GDCM's metadata does not expose; without it the PET stays in its stored units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import InputError

MODALITY_TASKS = {"PT": "pet", "NM": "spect", "CT": "ct"}
SPACING_TOLERANCE = 0.05  # relative: DICOM positions are decimal strings of 16 characters at most


@dataclass
class Series:
    folder: Path
    uid: str
    files: list[str]
    modality: str = ""
    description: str = ""
    notes: list[str] = field(default_factory=list)

    def label(self) -> str:
        extra = f", {self.description!r}" if self.description else ""
        return f"{self.uid} ({self.modality or 'modality unknown'}, {len(self.files)} files{extra})"


def _header(file: str) -> sitk.ImageFileReader:
    reader = sitk.ImageFileReader()
    reader.SetFileName(file)
    reader.ReadImageInformation()
    return reader


def _tag(reader: sitk.ImageFileReader, key: str) -> str:
    return reader.GetMetaData(key).strip() if reader.HasMetaDataKey(key) else ""


def is_dicom_folder(path: Path | str) -> bool:
    """A folder in which GDCM finds at least one image series (its files need no .dcm suffix)."""
    path = Path(path)
    return path.is_dir() and bool(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(path)))


def series_in(folder: Path | str) -> list[Series]:
    folder = Path(folder)
    found = []
    for uid in sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)):
        files = list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid))
        series = Series(folder, uid, files)
        try:
            first = _header(files[0])
            series.modality, series.description = _tag(first, "0008|0060").upper(), _tag(first, "0008|103e")
        except RuntimeError:
            pass  # the slice checks say what is wrong with the files
        found.append(series)
    return found


def choose_series(folder: Path | str, wanted: tuple[str, ...] = ()) -> Series:
    """The folder's one series, or the one whose UID is in ``wanted``; otherwise an error listing them."""
    folder = Path(folder)
    series = series_in(folder)
    if not series:
        raise InputError(f"{folder} holds no DICOM image series; give a folder of one series' DICOM files")
    listing = "; ".join(s.label() for s in series)
    matching = [s for s in series if s.uid in wanted]
    if len(matching) == 1:
        return matching[0]
    if len(series) == 1 and not matching:  # --series may name the other input's series
        return series[0]
    if wanted and not matching:
        raise InputError(f"{folder}: no series with the UID given by --series; it holds {listing}")
    raise InputError(f"{folder} holds {len(series)} DICOM series: {listing}; pick one with --series UID")


def _floats(text: str, count: int) -> list[float] | None:
    try:
        values = [float(v) for v in text.replace("\\", " ").split()]
    except ValueError:
        return None
    return values if len(values) == count else None


def check_slices(series: Series) -> None:
    """One size and orientation for every slice, no two at one position, and even spacing with no gaps."""
    positions, shapes, orientations = [], set(), set()
    for file in series.files:
        try:
            header = _header(file)
        except RuntimeError as error:
            raise InputError(f"{file}: cannot be read as DICOM ({str(error).strip().splitlines()[-1][:120]}); remove it or export the series again") from error
        shapes.add(header.GetSize()[:2])
        orientation = _floats(_tag(header, "0020|0037"), 6)
        position = _floats(_tag(header, "0020|0032"), 3)
        if orientation is None or position is None:
            raise InputError(f"{file} has no image position or orientation, so the slices cannot be placed; export the series with them")
        orientations.add(tuple(round(v, 4) for v in orientation))
        positions.append(position)
    where = f"{series.folder} (series {series.uid})"
    if len(shapes) > 1:
        raise InputError(f"{where} mixes slices of different sizes {sorted(shapes)}; give a folder of one acquisition")
    if len(orientations) > 1:
        raise InputError(f"{where} mixes slice orientations; give a folder of one acquisition")
    if len(positions) < 2:
        return
    row, column = np.array(next(iter(orientations))[:3]), np.array(next(iter(orientations))[3:])
    depth = np.sort(np.array(positions) @ np.cross(row, column))
    steps = np.diff(depth)
    typical = float(np.median(steps))
    if np.min(steps) < 1e-3 * max(typical, 1e-3):
        raise InputError(f"{where} has two slices at one position (two acquisitions in one series?); give one acquisition per folder")
    if np.max(steps) > (1.5 * typical):
        gaps = int(np.sum(np.round(steps / typical) - 1))
        raise InputError(
            f"{where} has a gap: slices {typical:.3g} mm apart but {np.max(steps):.3g} mm at one place "
            f"(about {gaps} slice(s) missing); export the complete series"
        )
    if (np.max(steps) - np.min(steps)) > SPACING_TOLERANCE * typical:
        raise InputError(
            f"{where} has uneven slice spacing ({np.min(steps):.3g} to {np.max(steps):.3g} mm), which would be read as even "
            "and distort the geometry; resample it to even spacing first (e.g. in Slicer) and give the result"
        )


def read_series(series: Series) -> sitk.Image:
    """The series as one volume; PET in SUV (body weight) when its tags allow, with a note either way."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(series.files)
    if series.modality in ("PT", "NM"):
        reader.SetOutputPixelType(sitk.sitkFloat32)  # per-slice rescale slopes would be truncated in an integer volume
    try:
        image = reader.Execute()
    except RuntimeError as error:
        raise InputError(f"{series.folder}: the DICOM series cannot be read ({str(error).strip().splitlines()[-1][:160]}); export it again") from error
    if series.modality == "PT":
        factor, reason = suv_factor(series.files[0])
        if factor is None:
            series.notes.append(f"{series.folder}: PET kept in its stored units, not SUV: {reason}")
        elif factor != 1.0:
            image = image * factor
            series.notes.append(f"{series.folder}: PET converted to SUV (body weight), factor {factor:.4g}")
    return image


def _seconds(time: str) -> float | None:
    """DICOM TM (HHMMSS.FFFFFF) as seconds after midnight."""
    time = str(time or "").strip()
    if len(time) < 6:
        return None
    try:
        return int(time[:2]) * 3600 + int(time[2:4]) * 60 + float(time[4:])
    except ValueError:
        return None


def suv_factor(file: str) -> tuple[float | None, str]:
    """Multiplier from Bq/ml to SUVbw (decayed dose at the series start), or None and the reason why not."""
    try:
        import pydicom
    except ImportError:
        return None, "the dose tags need pydicom (pip install pydicom)"
    data = pydicom.dcmread(file, stop_before_pixels=True)
    units = str(data.get("Units", "")).upper()
    if units == "GML":
        return 1.0, ""
    if units != "BQML":
        return None, f"its units are {units or 'not given'}, not Bq/ml"
    if str(data.get("DecayCorrection", "")).upper() != "START":
        return None, "its decay correction is not to the scan start"
    weight = float(data.get("PatientWeight", 0) or 0)
    sequence = data.get("RadiopharmaceuticalInformationSequence")
    if not weight:
        return None, "the patient's weight is not given"
    if not sequence:
        return None, "the injected dose is not given"
    drug = sequence[0]
    dose, half_life = float(drug.get("RadionuclideTotalDose", 0) or 0), float(drug.get("RadionuclideHalfLife", 0) or 0)
    injected = _seconds(drug.get("RadiopharmaceuticalStartTime", "")) or _seconds(str(drug.get("RadiopharmaceuticalStartDateTime", ""))[8:])
    scan = _seconds(data.get("SeriesTime", "")) or _seconds(data.get("AcquisitionTime", ""))
    acquired = _seconds(data.get("AcquisitionTime", ""))
    if scan is not None and acquired is not None and scan > acquired:
        scan = acquired  # a series time after the acquisition: a post-processed series
    if not dose or not half_life or injected is None or scan is None:
        return None, "the dose, half-life, injection time or scan time is missing"
    elapsed = (scan - injected) % 86400  # injected before midnight, scanned after
    return weight * 1000.0 / (dose * 2.0 ** (-elapsed / half_life)), ""
