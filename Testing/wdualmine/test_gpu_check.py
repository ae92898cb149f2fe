"""The GPU check's machinery, run CPU against CPU on small inputs (the CUDA run itself needs a GPU)."""

import json

import pytest
import torch

from wdualmine.cli import main
from wdualmine.gpu_check import TOLERANCE, compare_devices


def test_same_device_agrees_exactly_and_reports_every_field():
    report = compare_devices("cpu", volume_shape=(6, 40, 48), include_sample=True, batches=(1, 2), repeats=1)
    assert report["agrees"] is True and report["best_batch"] in (1, 2) and report["slices_per_s"] > 0
    assert report["sample"]["max_abs_diff_fused"] <= TOLERANCE and report["sample"]["shape_kji"][0] > 1
    volume = report["volume_48x40x6"]
    assert volume["max_abs_diff_fused"] == 0.0 and volume["max_abs_diff_maps"] == 0.0 and volume["shape_kji"] == [6, 40, 48]
    json.dumps(report)  # one JSON line is printable


def test_without_cuda_the_command_skips_with_a_message(capsys):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here: `make gpu-check` runs the real check")
    assert main(["gpu-check"]) == 0
    captured = capsys.readouterr()
    assert "skipped: no CUDA device here" in captured.err
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["skipped"] is True
