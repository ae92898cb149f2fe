"""Static checks of the module: .ui names used by the widget, and the CMake file list (no Slicer needed)."""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "WDualMineFusion"
PACKAGED_SUFFIXES = {".py", ".nrrd", ".pt", ".json", ".md", ".png", ".ui", ".txt"}


def ui_object_names() -> set[str]:
    tree = ElementTree.parse(MODULE / "Resources" / "UI" / "WDualMineFusion.ui")
    return {element.get("name") for element in tree.iter("widget")}


def test_every_self_ui_name_exists_in_the_ui_file():
    source = (MODULE / "WDualMineFusion.py").read_text()
    used = set(re.findall(r"self\.ui\.([A-Za-z_][A-Za-z0-9_]*)", source))
    assert used, "the widget uses no self.ui names?"
    missing = used - ui_object_names()
    assert not missing, f"self.ui names without a widget of that objectName in the .ui: {sorted(missing)}"


def test_parameter_names_in_ui_match_the_parameter_node():
    source = (MODULE / "WDualMineFusion.py").read_text()
    tree = ast.parse(source)
    fields = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "WDualMineFusionParameterNode":
            fields = {item.target.id for item in node.body if isinstance(item, ast.AnnAssign)}
    bound = set(re.findall(r'name="SlicerParameterName"[^>]*>\s*<string>([^<]+)</string>', (MODULE / "Resources/UI/WDualMineFusion.ui").read_text()))
    assert bound and bound <= fields, f"SlicerParameterName values not in the parameter node: {sorted(bound - fields)}"


def cmake_listed() -> set[str]:
    text = (MODULE / "CMakeLists.txt").read_text().replace("${MODULE_NAME}", "WDualMineFusion")
    listed = set()
    for block in re.findall(r"set\(MODULE_PYTHON_(?:SCRIPTS|RESOURCES)\s+(.*?)\)", text, re.S):
        listed.update(line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith("#"))
    return listed


def test_every_module_file_is_listed_in_cmake():
    present = {
        str(path.relative_to(MODULE))
        for path in MODULE.rglob("*")
        if path.is_file() and path.suffix in PACKAGED_SUFFIXES and path.name != "CMakeLists.txt"
        and not any(part == "__pycache__" or part.endswith(".egg-info") for part in path.parts)  # build artefacts
    }
    listed = cmake_listed()
    assert not present - listed, f"files not listed in WDualMineFusion/CMakeLists.txt: {sorted(present - listed)}"
    assert not listed - present, f"listed files that do not exist (CMake configure would fail): {sorted(listed - present)}"


def test_module_and_lib_compile_and_lib_has_no_qt():
    for path in [MODULE / "WDualMineFusion.py", *sorted((MODULE / "WDualMineFusionLib").glob("*.py"))]:
        compile(path.read_text(), str(path), "exec")
    for path in (MODULE / "WDualMineFusionLib").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] not in {"qt", "ctk", "PythonQt"}, f"{path.name} imports {name}"
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "app" and isinstance(node.value, ast.Name) and node.value.id == "slicer":
                raise AssertionError(f"{path.name} uses slicer.app (line {node.lineno})")


def test_extension_metadata_is_consistent():
    import json

    top = (REPO / "CMakeLists.txt").read_text()
    assert "project(WDualMine)" in top and 'set(EXTENSION_DEPENDS "PyTorch")' in top
    assert "add_subdirectory(WDualMineFusion)" in top
    entry = json.loads((REPO / "WDualMine.json").read_text())
    assert entry["build_dependencies"] == ["PyTorch"] and entry["category"] == "Filtering"
    for icon in (REPO / "Resources/Icons/WDualMine.png", MODULE / "Resources/Icons/WDualMineFusion.png"):
        assert icon.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def test_every_fusion_control_is_wired_through_the_module():
    """Each FusionControls field is a logic control, a parameter-node field in the engine's range, and in the GUI."""
    import dataclasses

    from wdualmine.controls import CONTROL_RANGES, FusionControls

    engine = [field.name for field in dataclasses.fields(FusionControls)]
    logic_tree = ast.parse((MODULE / "WDualMineFusionLib" / "logic.py").read_text())
    control_names = next(
        ast.literal_eval(node.value) for node in ast.walk(logic_tree)
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "CONTROL_NAMES" for t in node.targets)
    )
    assert sorted(control_names) == sorted(engine), "logic.CONTROL_NAMES differs from the FusionControls fields"

    module_tree = ast.parse((MODULE / "WDualMineFusion.py").read_text())
    function = next(n for n in ast.walk(module_tree) if isinstance(n, ast.FunctionDef) and n.name == "controlsFromParameterNode")
    returned = next(n.value for n in ast.walk(function) if isinstance(n, ast.Return))
    assert sorted(ast.literal_eval(key) for key in returned.keys) == sorted(engine), "controlsFromParameterNode misses a control"

    fields = {}
    for node in ast.walk(module_tree):
        if isinstance(node, ast.ClassDef) and node.name == "WDualMineFusionParameterNode":
            fields = {item.target.id: item for item in node.body if isinstance(item, ast.AnnAssign)}
    ui = ElementTree.parse(MODULE / "Resources" / "UI" / "WDualMineFusion.ui")
    sliders = {}
    for widget in ui.iter("widget"):
        props = {p.get("name"): p for p in widget.findall("property")}
        if "SlicerParameterName" in props:
            sliders[props["SlicerParameterName"].findtext("string")] = (widget, props)
    for name in engine:
        assert camel(name) in fields, f"no parameter-node field {camel(name)} for control {name}"
        assert camel(name) in sliders, f"no widget bound to {camel(name)} in the .ui"
        if name in CONTROL_RANGES:
            low, high = CONTROL_RANGES[name]
            annotation = ast.unparse(fields[camel(name)].annotation)
            assert f"WithinRange({low}, {high})" in annotation, f"{camel(name)}: {annotation} vs range {low, high}"
            widget, props = sliders[camel(name)]
            assert widget.get("class") == "ctkSliderWidget"
            assert float(props["minimum"].findtext("double")) == low and float(props["maximum"].findtext("double")) == high
            default = ast.literal_eval(fields[camel(name)].value)
            assert default == getattr(FusionControls(), name)
