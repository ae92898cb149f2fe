"""Opening two volumes for the web app: only files under the data folder (or uploaded), checked before use.

The checks are the engine's and the module's own, so a bad file gives the message the CLI and the Slicer panel
give: the engine's header check (not an image, unreadable), the module's node checks (2-D, label map, several
components) and the engine's physical overlap check. A pair that fails leaves the scene as it was.
"""

from __future__ import annotations

from pathlib import Path

from wdualmine.errors import InputError


class OutsideDataFolder(InputError):
    """A path that leaves the folders the server may read."""


def confine(path: str | Path, roots: list[Path]) -> Path:
    """The path resolved (relative paths against the first root); refused unless it lies under one of the roots."""
    text = str(path).strip()
    if not text:
        raise InputError("no file given; type a path under the data folder or upload a file")
    candidate = Path(text)
    if not candidate.is_absolute():
        candidate = roots[0] / candidate
    resolved = candidate.resolve()  # symbolic links and '..' are followed before the check
    for root in roots:
        if resolved == root.resolve() or root.resolve() in resolved.parents:
            return resolved
    raise OutsideDataFolder(
        f"{text} is outside the data folder {roots[0]}; this server reads only files under it (or uploaded files). "
        "Copy the file there, or upload it"
    )


def loadVolume(ioManager, path: Path, name: str):
    """One volume node from a file, named ``name``; the engine's header check first (the CLI's message)."""
    from wdualmine.io.inputs import input_header

    input_header(path)
    nodes = ioManager.load_volumes([str(path)])
    if not nodes:
        raise InputError(f"{path}: cannot be read as an image; give a NIfTI/NRRD/MHA volume")
    node = nodes[0]
    node.SetName(name)
    return node


def openPair(scene, ioManager, referencePath: Path, secondPath: Path, names: tuple[str, str]) -> tuple:
    """(reference node, second node), checked as the module and the engine check them; on failure nothing stays."""
    from wdualmine.volume.geometry import check_overlap
    from WDualMineFusionLib.validation import checkPair
    from WDualMineFusionLib.volume_conversion import volumeToImage

    added = []
    try:
        for path, name in ((referencePath, names[0]), (secondPath, names[1])):
            added.append(loadVolume(ioManager, path, name))
        reference, second = added
        checkPair(reference, second)
        check_overlap(volumeToImage(reference, frameNode=reference), volumeToImage(second, frameNode=reference),
                      (referencePath.name, secondPath.name))
        return reference, second
    except BaseException:
        for node in added:  # the scene as it was: a refused pair leaves no node behind
            removeWithDisplay(scene, node)
        raise


def removeWithDisplay(scene, node) -> None:
    for index in range(node.GetNumberOfDisplayNodes()):
        display = node.GetNthDisplayNode(index)
        if display is not None:
            scene.RemoveNode(display)
    storage = node.GetStorageNode()
    if storage is not None:
        scene.RemoveNode(storage)
    scene.RemoveNode(node)
