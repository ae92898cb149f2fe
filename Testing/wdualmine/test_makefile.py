"""The Makefile's PyTorch choice, read with `make -n` (nothing is installed or downloaded)."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def dry_run(*variables):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    done = subprocess.run(["make", "-n", "-B", "-C", str(REPO), ".venv/.installed", *variables], capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


def test_default_uses_the_configured_index_and_cpu_uses_pytorchs_cpu_index():
    code, default = dry_run()
    assert code == 0 and '"torch==2.13.0"' in default and "--index-url" not in default
    code, cpu = dry_run("TORCH=cpu")
    assert code == 0 and "--index-url" in cpu and "/whl/cpu" in cpu
    code, bad = dry_run("TORCH=gpu")
    assert code != 0 and "TORCH must be default or cpu" in bad
