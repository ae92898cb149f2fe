"""Writing a set of outputs all or nothing: staged, verified, then renamed into place together.

Each output is written under its final name into a hidden staging folder beside it, so a .mhd or
.nhdr header names its data file by the final name too. Every staged file is checked (the header
reads back; a NIfTI file holds all its bytes) and synced before anything is renamed; data files
are renamed before the headers that point to them. On any failure, interruption, SIGTERM or SIGHUP
the staging folders are removed and the folder holds what it held before.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import SimpleITK as sitk

from ..errors import InputError
from .images import IMAGE_2D_SUFFIXES, full_suffix
from .integrity import IncompleteFile, check_nifti
from .nifti_stream import StreamedVolume
from .termination import cleanup_on_termination

STAGING_PREFIX = ".wdualmine-staging-"

# Formats whose ITK writers keep no global state and were stress-tested writing (and failing on a full
# disk) from several threads at once. Every other writer holds one lock: NRRD's library (teem) keeps its
# error messages in a global, and two NRRD writes failing together crash the process.
THREAD_SAFE_SUFFIXES = {".nii", ".nii.gz", ".mha", ".mhd"}
_SERIAL_WRITER = threading.Lock()


class WriteError(InputError):
    """An output could not be written completely; nothing of the set was put in place."""


@dataclass
class Staged:
    target: Path  # the final name of the main (header) file
    folder: Path  # the staging folder it was written into
    files: list[str] = field(default_factory=list)  # names written for it: data files first, header last


@dataclass(frozen=True)
class TextOutput:
    """A small text file written with the images, all or nothing with them (e.g. the fusion's controls)."""

    text: str


def _reason(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return (lines[-1] if lines else type(error).__name__)[:200]


@contextlib.contextmanager
def _captured_c_stderr():
    """Hold back what C/C++ code prints on fd 2 during a write (ITK's NIfTI writer prints partial-write
    notices there); yields a function that returns it. Printed afterwards only if the write succeeded,
    so a failure is one clear line."""
    try:
        sys.stderr.flush()
        sink = tempfile.TemporaryFile()
    except (OSError, ValueError):  # no usable stderr or temporary folder: nothing is held back
        yield lambda: ""
        return
    with sink:
        try:
            saved = os.dup(2)
        except OSError:  # no fd 2 (some embedded hosts)
            yield lambda: ""
            return
        os.dup2(sink.fileno(), 2)
        try:
            yield lambda: (sink.seek(0), sink.read().decode("utf-8", "replace"))[1]
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    except OSError:  # some filesystems cannot sync a directory; the data files were synced already
        pass
    finally:
        os.close(descriptor)


def _verify(path: Path) -> None:
    """The staged file must read back as an image and, for NIfTI, hold every byte its header promises."""
    if not path.is_file() or path.stat().st_size == 0:
        raise WriteError("the file came out empty")
    try:
        check_nifti(path, thorough=True)
    except IncompleteFile as error:
        raise WriteError(f"the file came out incomplete: {error.problem}") from error
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    if full_suffix(path) in IMAGE_2D_SUFFIXES:
        reader.Execute()  # small images: read them back whole


def _stage(image: sitk.Image | TextOutput, target: Path, folder: Path, compress: bool) -> Staged:
    """Write one image into its own (empty) staging folder, then verify and sync what it made."""
    if isinstance(image, TextOutput):
        return _stage_text(image, target, folder)
    staged = Staged(target, folder)
    main = folder / target.name
    suffix = full_suffix(target)
    # the read-back check takes turns too: it runs the same format's library
    with contextlib.nullcontext() if suffix in THREAD_SAFE_SUFFIXES else _SERIAL_WRITER:
        try:
            sitk.WriteImage(image, str(main), useCompression=compress and suffix not in IMAGE_2D_SUFFIXES)
        finally:
            # every file this write made, data files before the header, so a failure can be cleaned up
            made = sorted(os.listdir(folder))
            staged.files = [name for name in made if name != target.name] + [target.name]
        _verify(main)
    for name in staged.files:
        _fsync(folder / name)
    return staged


def _stage_text(output: TextOutput, target: Path, folder: Path) -> Staged:
    """Write a text output into its staging folder, synced; it must read back byte for byte."""
    data = output.text.encode("utf-8")
    main = folder / target.name
    with open(main, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    if main.read_bytes() != data:
        raise WriteError("the file did not read back as written")
    return Staged(target, folder, [target.name])


def _finish_stream(stream: StreamedVolume) -> Staged:
    """A streamed output made final in its own staging folder, checked like any other and synced.

    Python's file writes raise on a full disk, so the size in the gzip trailer is check enough here."""
    staged = Staged(stream.target, stream.folder, stream.finish())
    main = stream.folder / stream.target.name
    try:
        check_nifti(main, thorough=False)
    except IncompleteFile as error:
        raise WriteError(f"the file came out incomplete: {error.problem}") from error
    stream.check_geometry(main)
    for name in staged.files:
        _fsync(stream.folder / name)
    return staged


def _free_space(folder: Path) -> str:
    try:
        return f"{shutil.disk_usage(folder).free / 2**20:.0f} MiB free there"
    except OSError:
        return "free space unknown"


def write_all(images: dict[Path, sitk.Image | StreamedVolume | TextOutput], protect: Iterable[Path] = (), compress: bool = True) -> list[Path]:
    """Write every image to its path, all or nothing; returns every file put in place (data files too).

    An image may also be a ``StreamedVolume`` already filled on disk for that path: it is finished
    (compressed) in its own staging folder, and put in place, or removed, with the rest; or a
    ``TextOutput``, written as UTF-8 and checked byte for byte.

    ``protect`` lists files that must never be replaced (the inputs and their data files): a write
    that would land on one is refused before anything is renamed. Outputs get the permissions any
    new file gets (the umask), not a temporary file's 0600.
    """
    protected = {Path(p).resolve() for p in protect}
    staging: dict[Path, Path] = {}  # destination folder -> its staging folder
    with cleanup_on_termination():  # outermost, so the cleanup below runs before the signal is re-raised
        try:
            staged = _stage_all(images, staging, compress)
            for item in staged:
                for name in item.files:
                    destination = item.target.parent / name
                    if destination.resolve() in protected:
                        raise WriteError(f"writing {item.target} would replace the input {destination}; choose another output name")
            written = []
            for item in staged:
                for name in item.files:  # data files first: a header never names a missing file
                    os.replace(item.folder / name, item.target.parent / name)
                    written.append(item.target.parent / name)
            for parent in {item.target.parent for item in staged}:  # the renames themselves made durable
                _fsync(parent)
            return written
        except (RuntimeError, OSError) as error:
            raise WriteError(f"cannot put the outputs in place ({_reason(error)}); check the output folder") from error
        finally:
            for folder in staging.values():
                shutil.rmtree(folder, ignore_errors=True)
            for image in images.values():
                if isinstance(image, StreamedVolume):
                    image.discard()


def _stage_all(images: dict[Path, sitk.Image | StreamedVolume | TextOutput], staging: dict[Path, Path], compress: bool) -> list[Staged]:
    """Write and verify every image in a staging folder beside its destination, several at once.

    SimpleITK releases the GIL while it writes, so the gzip compression of the outputs runs in
    parallel (two 512 x 512 x 150 volumes: 11.8 s one after the other, 5.6 s on two threads). Each
    output gets a folder of its own inside the staging folder, so every write knows the files it made.
    """
    jobs = []
    for index, (path, image) in enumerate(images.items()):
        path = Path(path)
        if isinstance(image, StreamedVolume):
            jobs.append((path, image, None))
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.parent not in staging:
                staging[path.parent] = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=path.parent))
            own = staging[path.parent] / str(index)
            own.mkdir()
        except OSError as error:
            raise _write_error(path, error) from error
        jobs.append((path, image, own))
    with _captured_c_stderr() as printed:  # fd 2 is one per process: held back once, around every write
        # leaving this block waits for every write, so a failure is cleaned up only after all have stopped
        with ThreadPoolExecutor(max_workers=max(1, min(len(jobs), os.cpu_count() or 1))) as pool:
            futures = [
                (path, pool.submit(_finish_stream, image) if own is None else pool.submit(_stage, image, path, own, compress))
                for path, image, own in jobs
            ]
            staged = []
            for path, future in futures:
                try:
                    staged.append(future.result())
                except (WriteError, RuntimeError, OSError) as error:
                    raise _write_error(path, error) from error
        noise = printed()
    if noise.strip():
        print(noise, end="", file=sys.stderr)
    return staged


def _write_error(path: Path, error: BaseException) -> WriteError:
    if isinstance(error, WriteError):
        return WriteError(f"cannot write {path}: {error} ({_free_space(path.parent)}); free some space or choose another folder")
    return WriteError(
        f"cannot write {path} ({_reason(error)}); check that the folder is writable and has free space ({_free_space(path.parent)})"
    )
