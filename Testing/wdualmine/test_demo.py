import csv

import numpy as np
import SimpleITK as sitk

from wdualmine import sample_data
from wdualmine.cli import main


def test_demo_writes_volumes_montage_and_metrics(tmp_path, capsys):
    out = tmp_path / "demo-output"
    assert main(["demo", "-o", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "W-DUALMINE" in printed and "average" in printed

    mri = sitk.ReadImage(str(sample_data.sample_paths()["MRI"]))
    for name in ("fused", "reliability_pet", "reliability_mri", "arbitration_wavelet"):
        image = sitk.ReadImage(str(out / f"{name}.nrrd"))
        assert image.GetSize() == mri.GetSize() and image.GetSpacing() == mri.GetSpacing()
        assert image.GetOrigin() == mri.GetOrigin() and image.GetDirection() == mri.GetDirection()
    fused = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "fused.nrrd")))
    assert 0 <= fused.min() and fused.max() <= 1 and (fused == 0).mean() > 0.2  # black background kept

    montage = sitk.ReadImage(str(out / "montage.png"))
    assert montage.GetNumberOfComponentsPerPixel() == 3 and montage.GetSize()[0] > 600
    with open(out / "metrics.csv") as stream:
        rows = {row["method"]: row for row in csv.DictReader(stream)}
    assert set(rows) == {"W-DUALMINE", "average", "max"}
    assert all(np.isfinite(float(rows["W-DUALMINE"][m])) for m in ("CC", "MI", "Qabf", "SSIM", "VIF"))
