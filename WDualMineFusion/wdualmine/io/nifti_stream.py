"""NIfTI outputs written slab by slab while the fusion runs, so a big volume's outputs are never held whole.

A ``StreamedVolume`` is an uncompressed .nii file in its own staging folder, its space reserved up front
(a full disk is found before the fusion). The fusion writes each slab of slices into it with a plain
positioned write (which raises on a full disk, where a write through a memory map would kill the
process), so the outputs live in the page cache, not in the process's memory. ``finish`` turns the file into the
staged output: as it is for .nii, as one gzip member for .nii.gz (``write_gzip``: chunks that compress
are deflated at level 1, the others stored). The header is ITK's own, written for a 2 x 2 x 2 image of the same geometry and
then given the real size: only the dimensions depend on the size. The writer then reads the staged file's
geometry back and compares it with the reference before anything is put in place.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from .images import full_suffix

STREAMED_SUFFIXES = (".nii", ".nii.gz")
HEADER_BYTES = 352  # NIfTI-1 header and the 4-byte extension flag; ITK puts the voxels right after
GZIP_LEVEL = 1
CHUNK = 8 << 20  # bytes compressed at a time
PROBE = 64 << 10  # bytes taken from each of four places in a chunk and compressed first: does it pay?
WORTH_IT = 0.8  # a chunk is compressed only if its probe shrinks below this fraction of its size


class StreamUnavailable(Exception):
    """This output cannot be streamed (format, size, or no room to reserve); write it from memory instead."""


def nifti_header(reference: sitk.Image) -> bytes:
    """A NIfTI-1 float32 header with the reference's geometry and size, written by ITK."""
    size = reference.GetSize()
    if reference.GetDimension() != 3 or max(size) > 32767:
        raise StreamUnavailable("NIfTI-1 holds at most 32767 voxels along an axis")
    template = sitk.Image([2, 2, 2], sitk.sitkFloat32)
    template.SetOrigin(reference.GetOrigin())
    template.SetSpacing(reference.GetSpacing())
    template.SetDirection(reference.GetDirection())
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "template.nii")
        sitk.WriteImage(template, path, useCompression=False)
        with open(path, "rb") as stream:
            header = bytearray(stream.read(HEADER_BYTES))
    # a little-endian NIfTI-1 single file with its voxels at 352, as ITK writes on this machine
    if struct.unpack("<i", header[:4])[0] != 348 or struct.unpack("<f", header[108:112])[0] != HEADER_BYTES:
        raise StreamUnavailable("ITK wrote a NIfTI header of another kind")
    dims = struct.unpack("<8h", header[40:56])
    if dims[:4] != (3, 2, 2, 2):
        raise StreamUnavailable("ITK wrote the template's dimensions differently")
    header[42:48] = struct.pack("<3h", *size)
    return bytes(header)


def write_gzip(source, sink) -> None:
    """Copy ``source`` into ``sink`` as one standard gzip member, compressing only the chunks where it pays.

    Float voxels with noisy mantissas barely compress (to 0.9 of their size at level 1, at about 22 MB/s
    here: 25 s for a 512 x 512 x 300 volume's four outputs to save a tenth), while background and smooth
    maps shrink to a fraction, faster. Each chunk is deflated on its own (level 1, or stored when a probe
    of it does not shrink below ``WORTH_IT``) and ends on a byte boundary, so the chunks join into one
    deflate stream (as pigz does); the gzip trailer carries the CRC and size of the whole.
    """
    sink.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")  # gzip header: deflate, no name, no time, unknown OS
    crc, size = 0, 0
    chunk = source.read(CHUNK)
    while chunk:
        following = source.read(CHUNK)
        step = max(1, len(chunk) // 4)
        probe = b"".join(chunk[start : start + PROBE] for start in range(0, len(chunk), step))
        level = GZIP_LEVEL if len(zlib.compress(probe, GZIP_LEVEL)) < WORTH_IT * len(probe) else 0
        deflate = zlib.compressobj(level, zlib.DEFLATED, -15)  # raw deflate: the wrapper is written here
        sink.write(deflate.compress(chunk))
        sink.write(deflate.flush(zlib.Z_SYNC_FLUSH if following else zlib.Z_FINISH))
        crc, size = zlib.crc32(chunk, crc), size + len(chunk)
        chunk = following
    if size == 0:
        sink.write(zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -15).flush())
    sink.write(struct.pack("<II", crc, size % 2**32))


class StreamedVolume:
    """One float32 output volume with the reference's geometry, written slab by slab into a staging file.

    Slabs are slices along the first array axis (k, the slowest in the file), so each slab is one
    contiguous write; the pipeline streams only when it fuses along that axis.
    """

    def __init__(self, target: Path, reference: sitk.Image, staging_prefix: str):
        self.target = Path(target)
        self.suffix = full_suffix(self.target)
        if self.suffix not in STREAMED_SUFFIXES:
            raise StreamUnavailable(f"{self.suffix} outputs are written from memory")
        header = nifti_header(reference)
        self.reference = reference
        self.shape = tuple(reversed(reference.GetSize()))
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self.folder = Path(tempfile.mkdtemp(prefix=staging_prefix, dir=self.target.parent))
        except OSError as error:  # the in-memory path then says what is wrong with the folder
            raise StreamUnavailable(f"cannot stage {self.target} ({error.strerror or error})") from error
        self.raw = self.folder / (self.target.name[: -len(self.suffix)] + ".nii")
        self._fd: int | None = None
        try:
            reserve = getattr(os, "posix_fallocate", None)
            if reserve is None:
                raise StreamUnavailable("this system cannot reserve a file's space up front")
            self._fd = os.open(self.raw, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o666)  # the umask applies
            self._write_at(header, 0)
            # reserve every block now: a full disk is found before the fusion, not after it
            reserve(self._fd, 0, HEADER_BYTES + int(np.prod(self.shape)) * 4)
        except StreamUnavailable:
            self.discard()
            raise
        except OSError as error:
            self.discard()
            raise StreamUnavailable(f"cannot reserve {self.target}'s space beside it ({error.strerror or error})") from error

    def _write_at(self, data, offset: int) -> None:
        view = memoryview(data).cast("B")
        while view:
            written = os.pwrite(self._fd, view, offset)
            view, offset = view[written:], offset + written

    def write_slab(self, start: int, values: np.ndarray) -> None:
        """Write slices ``start``, ``start + 1``, ... (first array axis) of the volume."""
        data = np.ascontiguousarray(values, dtype="<f4")
        if data.shape[1:] != self.shape[1:] or start + data.shape[0] > self.shape[0]:
            raise ValueError(f"a slab of {data.shape} at {start} does not fit a volume of {self.shape}")
        plane = data[0].nbytes if data.shape[0] else 0
        try:
            self._write_at(data, HEADER_BYTES + start * plane)
        except OSError as error:  # Python's writes raise on a full disk (ENOSPC), unlike ITK's NIfTI writer
            raise InputError(
                f"cannot write {self.target} ({error.strerror or error}); free some space or choose another folder"
            ) from error

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def finish(self) -> list[str]:
        """Close the staging file and make the staged output under its final name; returns the names made."""
        self._close()
        final = self.folder / self.target.name
        if self.suffix == ".nii":
            os.replace(self.raw, final)
            return [final.name]
        with open(self.raw, "rb") as source, open(final, "wb") as sink:
            write_gzip(source, sink)
        self.raw.unlink()
        return [final.name]

    def check_geometry(self, path: Path) -> None:
        """The staged file must read back with exactly the reference's size and (nearly) its geometry."""
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        reader.ReadImageInformation()
        reference = self.reference
        same = (
            reader.GetSize() == reference.GetSize()
            and np.allclose(reader.GetSpacing(), reference.GetSpacing(), rtol=1e-5, atol=1e-6)
            and np.allclose(reader.GetOrigin(), reference.GetOrigin(), rtol=1e-5, atol=1e-4)
            and np.allclose(reader.GetDirection(), reference.GetDirection(), atol=1e-5)
        )
        if not same:
            raise OSError("the streamed output's geometry reads back differently from the reference's")

    def discard(self) -> None:
        self._close()
        shutil.rmtree(self.folder, ignore_errors=True)
