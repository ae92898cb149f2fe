"""Import pytorch-wavelets without setuptools.

pytorch-wavelets 1.3 does ``from pkg_resources import resource_stream`` (to read its DT-CWT filter tables),
and setuptools 81+ no longer ships ``pkg_resources`` (Slicer 5.12 bundles setuptools 82). That one
function is ``importlib.resources`` under another name, so a stand-in module provides it for the import
and is removed again at once: other code that tries ``import pkg_resources`` still sees what is really
installed. A real ``pkg_resources`` that is already imported is used as it is.
"""

from __future__ import annotations

import importlib
import importlib.resources
import sys
import types
import warnings


def _resource_stream(package: str, resource: str):
    return importlib.resources.files(package).joinpath(resource).open("rb")


def import_pytorch_wavelets():
    """The ``pytorch_wavelets`` module, imported with a stand-in ``pkg_resources`` unless a real one is loaded."""
    if "pytorch_wavelets" in sys.modules:
        return sys.modules["pytorch_wavelets"]
    if sys.modules.get("pkg_resources") is not None:
        return importlib.import_module("pytorch_wavelets")
    stand_in = types.ModuleType("pkg_resources")
    stand_in.resource_stream = _resource_stream
    had_entry = "pkg_resources" in sys.modules  # e.g. None: someone blocked it on purpose
    previous = sys.modules.get("pkg_resources")
    sys.modules["pkg_resources"] = stand_in
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return importlib.import_module("pytorch_wavelets")
    finally:
        if sys.modules.get("pkg_resources") is stand_in:
            if had_entry:
                sys.modules["pkg_resources"] = previous
            else:
                del sys.modules["pkg_resources"]
