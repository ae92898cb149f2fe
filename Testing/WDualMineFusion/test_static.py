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
    from WDualMineFusionLib.parameters import JSON_CONTROLS

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
        if name in JSON_CONTROLS:  # auto's adapted curve: held as JSON text, scaled by the curve-strength slider, no widget
            continue
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


# ---------------------------------------------------------------- the GIL inside Slicer, and conventions (issue 9)
THREAD_MODULES = {"threading", "_thread", "concurrent", "multiprocessing"}
THREAD_NAMES = {"Thread", "ThreadPoolExecutor", "ThreadPool", "QThread", "QThreadPool", "QRunnable", "QtConcurrent"}


def thread_uses(source: str) -> list[str]:
    """Every import of a thread module and every use of a thread class in the source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in THREAD_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in THREAD_MODULES:
            found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Attribute) and node.attr in THREAD_NAMES:
            found.append(f"{node.attr} (line {node.lineno})")
        elif isinstance(node, ast.Name) and node.id in THREAD_NAMES:
            found.append(f"{node.id} (line {node.lineno})")
    return found


def test_no_python_threads_in_the_module():
    """Slicer's main thread holds the GIL while idle, so torch/numpy work in a Python thread crawls: none may exist.

    Whole volumes are fused in a separate process; the preview and the registration run on the main thread.
    """
    assert thread_uses("import concurrent.futures\npool = concurrent.futures.ThreadPoolExecutor(1)\nqt.QThread()")
    for path in [MODULE / "WDualMineFusion.py", *sorted((MODULE / "WDualMineFusionLib").glob("*.py"))]:
        assert not thread_uses(path.read_text()), f"{path.name} uses threads: {thread_uses(path.read_text())}"
    widget = (MODULE / "WDualMineFusion.py").read_text()
    assert "launchConsoleProcess(" in widget and "blocking=False" in widget and ".startPolled()" in widget


def module_tree():
    return ast.parse((MODULE / "WDualMineFusion.py").read_text())


def test_every_enum_has_a_translatable_label_for_each_member():
    """The parameter node's combo-box connector shows ``Enum.label(member)`` when the enum has one, else the raw name."""
    enums = [n for n in ast.walk(module_tree()) if isinstance(n, ast.ClassDef) and any(
        isinstance(b, ast.Attribute) and b.attr == "Enum" for b in n.bases)]
    assert len(enums) == 6
    for cls in enums:
        members = [item.targets[0].id for item in cls.body if isinstance(item, ast.Assign)]
        label = next((item for item in cls.body if isinstance(item, ast.FunctionDef) and item.name == "label"), None)
        assert label is not None, f"{cls.name} has no label()"
        table = next(n for n in ast.walk(label) if isinstance(n, ast.Dict))
        assert [ast.literal_eval(k) for k in table.keys] == members, cls.name
        for value in table.values:  # _("literal"): what Slicer's translation tools extract
            assert isinstance(value, ast.Call) and value.func.id == "_" and isinstance(value.args[0].value, str), cls.name


def test_module_conventions():
    source = (MODULE / "WDualMineFusion.py").read_text()
    tree = module_tree()
    logic = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == "WDualMineFusionModuleLogic")
    # ScriptedLoadableModuleLogic names the parameter node after the class ("WDualMineFusionModule") unless told
    assert "self.moduleName = 'WDualMineFusion'" in ast.unparse(logic)
    assert ".downloadSamples(" in source and ".downloadSample(" not in source  # downloadSample returns one node
    assert "aboutToQuit" not in source  # cleanup() already runs on quit; a connection would add one per reload
    assert "loadFileType=" not in source and "loadFileType=" not in (MODULE / "WDualMineFusionLib/inputs.py").read_text()
    test_class = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == "WDualMineFusionTest")
    assert "self.skipTest(" in ast.unparse(test_class) and "missingPackages()" in ast.unparse(test_class)
    top = (REPO / "CMakeLists.txt").read_text()
    assert "cmake_minimum_required(VERSION 3.20.6...3.22.6 FATAL_ERROR)" in top  # the current extension template


def test_requirements_file_matches_the_installer_and_needs_no_setuptools():
    from WDualMineFusionLib.dependencies import REQUIREMENTS

    lines = [line.strip() for line in (MODULE / "Resources" / "requirements.txt").read_text().splitlines()]
    assert tuple(line for line in lines if line and not line.startswith("#")) == REQUIREMENTS
    assert not any("setuptools" in requirement for requirement in REQUIREMENTS)


def test_module_and_engine_parse_with_the_oldest_supported_python():
    """Slicer 5.10 (Python 3.12) is the oldest supported; the engine's floor is Python 3.10: no newer syntax."""
    for path in [MODULE / "WDualMineFusion.py", *MODULE.glob("WDualMineFusionLib/*.py"), *MODULE.glob("wdualmine/**/*.py")]:
        ast.parse(path.read_text(), str(path), feature_version=(3, 10))
