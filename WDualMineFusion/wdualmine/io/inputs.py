"""An input is an image file or a folder holding a DICOM series; one interface for both."""

from __future__ import annotations

from pathlib import Path

import SimpleITK as sitk

from ..errors import InputError
from . import dicom
from .images import IMAGE_SUFFIXES, HeaderInfo, full_suffix, header_info, read_image


def looks_like_series(path: Path) -> bool:
    """A folder with no image files of a known type in which GDCM finds a series (folders of NIfTI
    pairs are never scanned as DICOM)."""
    path = Path(path)
    if not path.is_dir():
        return False
    if any(child.is_file() and full_suffix(child) in IMAGE_SUFFIXES for child in path.iterdir()):
        return False
    return dicom.is_dicom_folder(path)


def input_header(path: Path, series: tuple[str, ...] = ()) -> HeaderInfo:
    """What the header(s) say; for a DICOM folder the series is chosen and its slices checked here."""
    if not Path(path).is_dir():
        return header_info(path)
    chosen = dicom.choose_series(path, series)
    dicom.check_slices(chosen)
    first = sitk.ImageFileReader()
    first.SetFileName(chosen.files[0])
    first.ReadImageInformation()
    dimension = 3 if len(chosen.files) > 1 else first.GetDimension()
    pixel = sitk.sitkFloat32 if chosen.modality in ("PT", "NM") else first.GetPixelID()
    return HeaderInfo(dimension, first.GetNumberOfComponents(), pixel)


def read_input(path: Path, series: tuple[str, ...] = ()) -> tuple[sitk.Image, list[str]]:
    """The image and notes about how it was read (DICOM: which series, SUV or not)."""
    if not Path(path).is_dir():
        return read_image(path), []
    chosen = dicom.choose_series(path, series)
    image = dicom.read_series(chosen)
    return image, chosen.notes


def task_of(path: Path, series: tuple[str, ...] = ()) -> str | None:
    """ct, pet or spect from a DICOM series' modality; None for files, folders of files and other modalities."""
    if not looks_like_series(path):
        return None
    chosen = dicom.choose_series(path, series)
    if chosen.modality == "MR":
        raise InputError(f"{path} is an MR series; give the CT, PET or SPECT as A and the MRI as B")
    return dicom.MODALITY_TASKS.get(chosen.modality)
