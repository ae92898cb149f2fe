"""Small real filesystems for the data-safety tests: a nearly full disk and a read-only folder.

Mounting needs root and a kernel that allows it (containers often do, CI runners often do not);
where it is refused the tests that need it are skipped, and the failing-writer tests still run.
"""

from __future__ import annotations

import os
import subprocess

import pytest


def _mount_tmpfs(folder, options: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    return done.returncode == 0


@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KiB tmpfs: a few volumes of this test's size do not fit."""
    folder = tmp_path / "tiny"
    if not _mount_tmpfs(folder, "size=256k"):
        pytest.skip("cannot mount a tmpfs here (needs root); the failing-writer tests cover the same path")
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


@pytest.fixture
def read_only_folder(tmp_path):
    folder = tmp_path / "read-only"
    if not _mount_tmpfs(folder, "ro,size=64k"):
        folder.chmod(0o500)  # enough when not root
        if os.access(folder, os.W_OK):
            pytest.skip("cannot make a folder unwritable here (root without mount)")
        yield folder
        folder.chmod(0o700)
        return
    yield folder
    subprocess.run(["umount", str(folder)], check=False)
