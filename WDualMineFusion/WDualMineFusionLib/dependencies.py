"""First-use installation of PyTorch and the engine's other requirements. Never called at import time.

The only part of the Lib that needs the Slicer application: the installs show Slicer's dialogs
(``slicer.packaging.pip_ensure``, ``PyTorchUtils``), so the widget calls ``ensureDependencies`` on Apply,
on the main thread. ``missingPackages`` needs nothing and also serves the self-test.

Order matters: torch first, through the PyTorch extension's PyTorchUtils (it picks the CUDA build that
matches the driver), then pytorch-wavelets, PyWavelets and tqdm, so that none of them pulls a CPU torch
from PyPI. SimpleITK and numpy come with Slicer and are never installed or upgraded here.
"""

from __future__ import annotations

import importlib.util
import logging

log = logging.getLogger(__name__)

TORCH_REQUIREMENT = ">=2.1"
TORCH_MINIMUM = (2, 1)
# the engine's requirements besides torch, numpy and SimpleITK (which Slicer bundles). No setuptools: the
# one pkg_resources function pytorch-wavelets uses is provided by wdualmine.wavelets_import, so Slicer's own
# setuptools (82 on 5.12+, without pkg_resources) is never downgraded.
REQUIREMENTS = ("pytorch-wavelets>=1.3", "PyWavelets>=1.4", "tqdm>=4.60")
IMPORT_NAMES = {"pytorch-wavelets": "pytorch_wavelets", "PyWavelets": "pywt", "tqdm": "tqdm"}


class InstallError(RuntimeError):
    def __init__(self, message: str, restartRequired: bool = False):
        super().__init__(message)
        self.restartRequired = restartRequired


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("+")[0].split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def isImportable(moduleName: str) -> bool:
    try:
        return importlib.util.find_spec(moduleName) is not None
    except (ImportError, ValueError):  # a parent package fails, or the module was blocked in sys.modules
        return False


def missingRequirements() -> list[str]:
    """Requirements whose import module is absent (cheap check, no pip call)."""
    missing = []
    for requirement in REQUIREMENTS:
        name = requirement.split(">")[0].split("<")[0].split("=")[0]
        if not isImportable(IMPORT_NAMES[name]):
            missing.append(requirement)
    return missing


def missingPackages() -> list[str]:
    """Python packages the fusion needs that are not installed (torch first), by requirement; empty when all are."""
    return ([f"torch{TORCH_REQUIREMENT}"] if not isImportable("torch") else []) + missingRequirements()


def ensureTorch(askConfirmation: bool = True) -> None:
    """Install PyTorch through the PyTorch extension if needed (asks the user when ``askConfirmation``)."""
    try:
        import PyTorchUtils
    except ModuleNotFoundError as error:
        raise InstallError(
            "This module requires the PyTorch extension. Install 'PyTorch' from the Extensions Manager and restart Slicer."
        ) from error
    torchLogic = PyTorchUtils.PyTorchUtilsLogic()
    if not torchLogic.torchInstalled():
        log.info("PyTorch is not installed; installing it through PyTorchUtils (%s)", TORCH_REQUIREMENT)
        torch = torchLogic.installTorch(askConfirmation=askConfirmation, torchVersionRequirement=TORCH_REQUIREMENT)
        if torch is None:
            raise InstallError("PyTorch is required and was not installed; fusion cannot run without it.")
        return
    import torch

    if _version_tuple(torch.__version__) < TORCH_MINIMUM:
        raise InstallError(
            f"PyTorch {torch.__version__} is too old (need {TORCH_REQUIREMENT}). Open the 'PyTorch Util' module, uninstall "
            "PyTorch, restart Slicer and install it again.",
            restartRequired=True,
        )


def ensureRequirements(confirm=None) -> None:
    """Install the missing engine requirements: slicer.packaging.pip_ensure on Slicer 5.12+, else pip_install.

    ``confirm(message, details) -> bool`` asks the user on older Slicer versions (the widget passes a dialog);
    pip_ensure asks by itself and is skipped in testing mode.
    """
    import subprocess

    import slicer

    missing = missingRequirements()
    if not missing:
        return
    packaging = _packagingModule()
    try:
        if packaging is not None:
            # only what is missing: pip_ensure would otherwise also act on packages Slicer already has
            packaging.pip_ensure(missing, requester="WDualMineFusion")
        else:
            if confirm is not None and not confirm(
                "WDualMine needs a few Python packages that are not installed yet. Install them now? (This takes a minute.)",
                "\n".join(missing),
            ):
                raise InstallError("The required Python packages were not installed: " + ", ".join(missing))
            slicer.util.pip_install(" ".join(missing))
    except InstallError:
        raise
    except subprocess.CalledProcessError as error:  # pip failed: one clear message instead of the raw error
        raise InstallError(
            f"Installing {', '.join(missing)} failed (pip exit status {error.returncode}); the pip output is in the "
            "application log (Help > Report a bug shows it). Check the network or proxy settings and press Apply again."
        ) from error
    except RuntimeError as error:  # pip_ensure raises a plain RuntimeError when the user declines
        raise InstallError(f"The required Python packages were not installed ({error}): " + ", ".join(missing)) from error
    importlib.invalidate_caches()
    still = missingRequirements()
    if still:  # e.g. declined, offline, or testing mode, where pip_ensure installs nothing
        raise InstallError(
            "These Python packages are still missing: " + ", ".join(still) + ". Install them from the Python console with "
            "slicer.util.pip_install('" + " ".join(still) + "'), or check the network or proxy settings."
        )


def _packagingModule():
    """Slicer's packaging helpers (pip_ensure, 5.12+) when this Slicer has them; None on older versions."""
    for name in ("slicer.packaging", "slicer.pydeps"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "pip_ensure"):
            return module
    return None


def ensureDependencies(askConfirmation: bool = True, confirm=None) -> None:
    """PyTorch first, then the rest. Call it on Apply (main thread), not at import."""
    ensureTorch(askConfirmation)
    ensureRequirements(confirm)
