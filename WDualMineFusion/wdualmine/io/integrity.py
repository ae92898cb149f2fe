"""Is an image file complete? Byte-level checks for the formats whose readers and writers do not say.

ITK's NIfTI reader fills the missing part of a truncated .nii or .nii.gz with zeros, and its writer
returns normally after a short write on a full disk. These checks compare the bytes on disk with what
the header promises (and the gzip trailer: CRC and size), so such files are refused on input and
never renamed into place on output. NRRD and MetaImage readers and writers raise on their own.
"""

from __future__ import annotations

import gzip
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

CHUNK = 1 << 20


class IncompleteFile(InputError):
    """The file holds fewer bytes than its header promises, or its compressed stream is broken."""

    def __init__(self, message: str, problem: str):
        super().__init__(message)
        self.problem = problem  # the problem alone, without the file name or the advice


@dataclass(frozen=True)
class NiftiLayout:
    data_offset: int  # where the voxels start
    data_bytes: int  # how many bytes of voxels the header promises

    @property
    def total(self) -> int:
        return self.data_offset + self.data_bytes


def _nifti_suffix(path: Path) -> str | None:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else ".nii" if name.endswith(".nii") else None


def nifti_layout(header: bytes) -> NiftiLayout | None:
    """Offset and size of the voxel data from a NIfTI-1 or NIfTI-2 header; None if it is not one."""
    for endian in "<>":
        if len(header) >= 348 and struct.unpack(endian + "i", header[:4])[0] == 348:
            dims = struct.unpack(endian + "8h", header[40:56])
            bitpix = struct.unpack(endian + "h", header[72:74])[0]
            offset = int(struct.unpack(endian + "f", header[108:112])[0])
            offset = max(offset, 352)  # a single-file .nii never has its data inside the header
            break
        if len(header) >= 540 and struct.unpack(endian + "i", header[:4])[0] == 540:
            bitpix = struct.unpack(endian + "h", header[14:16])[0]
            dims = struct.unpack(endian + "8q", header[16:80])
            offset = max(struct.unpack(endian + "q", header[168:176])[0], 544)
            break
    else:
        return None
    rank = dims[0]
    if not 1 <= rank <= 7 or bitpix <= 0 or bitpix % 8:
        return None  # not a header we can reason about; leave the verdict to the reader
    voxels = 1
    for size in dims[1 : rank + 1]:
        voxels *= max(int(size), 1)
    return NiftiLayout(offset, voxels * bitpix // 8)


def _read_gzip_head(path: Path, size: int) -> bytes:
    try:
        with gzip.open(path, "rb") as stream:
            return stream.read(size)
    except (OSError, EOFError, zlib.error):
        return b""


def _incomplete(path: Path, have: int, want: int) -> IncompleteFile:
    problem = f"it holds {have} of the {want} bytes its header promises"
    return IncompleteFile(f"{path} is incomplete: {problem} (a cut-short copy or download, or a full disk); copy or export it again", problem)


def _corrupt(path: Path, reason: str) -> IncompleteFile:
    return IncompleteFile(f"{path} is damaged ({reason}); copy or export it again", reason)


def gzip_size(path: Path) -> int:
    """Decompress the whole file, checking every member's CRC and length; the decompressed size."""
    total = 0
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(CHUNK):
                total += len(chunk)
    except EOFError as error:
        raise _corrupt(path, "the compressed data ends early: the file was cut short") from error
    except (gzip.BadGzipFile, zlib.error) as error:
        raise _corrupt(path, f"gzip: {error}") from error
    return total


def check_nifti(path: Path | str, thorough: bool = True) -> None:
    """Raise IncompleteFile if a .nii/.nii.gz holds fewer voxel bytes than its header promises.

    ``thorough`` decompresses a .nii.gz in full (gzip CRC and length checked); otherwise only the
    gzip trailer's size field is compared, and a mismatch leads to the full check. Not NIfTI:
    nothing to say.
    """
    path = Path(path)
    suffix = _nifti_suffix(path)
    if suffix is None:
        return
    if suffix == ".nii":
        with open(path, "rb") as stream:
            layout = nifti_layout(stream.read(540))
        size = path.stat().st_size
        if layout is not None and size < layout.total:
            raise _incomplete(path, size, layout.total)
        return
    layout = nifti_layout(_read_gzip_head(path, 540))
    if layout is None:
        return
    if not thorough:
        with open(path, "rb") as stream:
            stream.seek(-4, 2)
            trailer = struct.unpack("<I", stream.read(4))[0]
        if trailer == layout.total % 2**32:
            return  # the single-member case: the trailer agrees, the full check comes at read time
    size = gzip_size(path)
    if size < layout.total:
        raise _incomplete(path, size, layout.total)


_DATA_FILE_KEYS = {
    ".mhd": re.compile(rb"^\s*ElementDataFile\s*=\s*(.+?)\s*$"),
    ".nhdr": re.compile(rb"^\s*data ?file\s*:\s*(.+?)\s*$"),
}


def data_files(path: Path | str) -> list[Path]:
    """The separate voxel file(s) a .mhd or .nhdr header names (none for LOCAL, lists or patterns)."""
    path = Path(path)
    pattern = _DATA_FILE_KEYS.get(path.suffix.lower())
    if pattern is None or not path.is_file():
        return []
    with open(path, "rb") as stream:
        head = stream.read(1 << 16)
    for line in head.splitlines():
        match = pattern.match(line)
        if match:
            name = match.group(1).decode("utf-8", "replace")
            if name.upper() == "LOCAL" or name.upper().startswith("LIST") or "%" in name or " " in name:
                return []
            return [path.parent / name]
    return []
