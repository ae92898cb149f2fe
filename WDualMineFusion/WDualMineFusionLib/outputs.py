"""Output nodes: created once, found again on re-run through node references on the reference volume.

Each role (fused, reliabilityA, reliabilityB, arbitration, fusedRGB, metrics) is a node reference
``WDualMineFusion.<role>`` on the reference volume, so re-running with the same reference overwrites the
same nodes instead of adding new ones. Outputs carry the attribute ``WDualMineFusion.Role`` and are put in a
Subject Hierarchy folder under the reference volume's study when Subject Hierarchy has an item for it.
"""

from __future__ import annotations

import logging

REFERENCE_PREFIX = "WDualMineFusion."
ROLE_ATTRIBUTE = "WDualMineFusion.Role"
FOLDER_NAME = "WDualMine fusion"

# role -> (node class, name suffix)
OUTPUT_ROLES = {
    "fused": ("vtkMRMLScalarVolumeNode", "fused"),
    "reliabilityA": ("vtkMRMLScalarVolumeNode", "reliability {functional}"),
    "reliabilityB": ("vtkMRMLScalarVolumeNode", "reliability MRI"),
    "arbitration": ("vtkMRMLScalarVolumeNode", "arbitration (wavelet expert weight)"),
    "fusedRGB": ("vtkMRMLVectorVolumeNode", "fused colour"),
    "metrics": ("vtkMRMLTableNode", "fusion metrics"),
}

log = logging.getLogger(__name__)


def referenceRole(role: str) -> str:
    return REFERENCE_PREFIX + role


def findOutputNode(referenceNode, role: str):
    node = referenceNode.GetNodeReference(referenceRole(role))
    if node is not None and node.GetScene() is referenceNode.GetScene() and node.GetAttribute(ROLE_ATTRIBUTE) == role:
        return node
    return None


def outputName(referenceNode, role: str, functionalName: str) -> str:
    suffix = OUTPUT_ROLES[role][1].format(functional=functionalName)
    return f"{referenceNode.GetName()} {suffix}"


def getOrCreateOutputNode(scene, referenceNode, role: str, functionalName: str = "functional", inputs=()):
    """The node of a role, reused when a previous run made it; a new one otherwise.

    A previous output that is now one of the ``inputs`` (e.g. an earlier fused volume chosen as the second
    volume) is never overwritten: a new node takes the role instead.
    """
    className, _ = OUTPUT_ROLES[role]
    node = findOutputNode(referenceNode, role)
    if node is not None and any(node is other for other in inputs):
        node = None
    if node is None:
        node = scene.AddNewNodeByClass(className, outputName(referenceNode, role, functionalName))
        node.SetAttribute(ROLE_ATTRIBUTE, role)
        referenceNode.SetNodeReferenceID(referenceRole(role), node.GetID())
    else:
        node.SetName(outputName(referenceNode, role, functionalName))
    return node


def existingOutputNodes(referenceNode) -> dict:
    return {role: node for role in OUTPUT_ROLES if (node := findOutputNode(referenceNode, role)) is not None}


def subjectHierarchyNode(scene):
    try:
        import slicer

        return slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    except Exception:  # no subject hierarchy in this build
        return None


def placeInFolder(scene, referenceNode, nodes) -> int:
    """Put the output nodes in a 'WDualMine fusion' folder next to the reference volume (under its study).

    Returns the folder item ID, or 0 when Subject Hierarchy has no item for the reference (e.g. a bare
    scene without the Subject Hierarchy module logic, as in the headless tests): then nothing is done.
    """
    shNode = subjectHierarchyNode(scene)
    if shNode is None:
        return 0
    referenceItem = shNode.GetItemByDataNode(referenceNode)
    if not referenceItem:
        log.info("Subject Hierarchy has no item for %s; outputs are not put in a folder", referenceNode.GetName())
        return 0
    parentItem = shNode.GetItemParent(referenceItem) or shNode.GetSceneItemID()
    folderItem = shNode.GetItemChildWithName(parentItem, FOLDER_NAME)
    if not folderItem:
        folderItem = shNode.CreateFolderItem(parentItem, FOLDER_NAME)
    for node in nodes:
        item = shNode.GetItemByDataNode(node)
        if not item:
            item = shNode.CreateItem(folderItem, node)
        else:
            shNode.SetItemParent(item, folderItem)
    return folderItem
