import numpy as np
import pytest
import SimpleITK as sitk

from wdualmine.cli import main
from wdualmine.errors import InputError
from wdualmine.evaluation import evaluate, format_table
from wdualmine.metrics import cc_ceiling, compute_all, r1_stretch


def write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(array.astype(np.uint8)), str(path))


@pytest.fixture
def layout(tmp_path, phantom):
    sources, fused = tmp_path / "sources", tmp_path / "fused"
    for n in range(3):
        a = (phantom((3, 48, 48), seed=n, functional=True)[1] / 16).clip(0, 255)
        b = (phantom((3, 48, 48), seed=10 + n)[1] / 3).clip(0, 255)
        write_png(sources / "CT-MRI" / "CT" / f"00{n}.png", a)
        write_png(sources / "CT-MRI" / "MRI" / f"00{n}.png", b)
        write_png(fused / "CT-MRI" / f"00{n}.png", np.maximum(a, b))
    return sources, fused


def test_rows_are_the_means_of_per_image_metrics(layout):
    sources, fused = layout
    rows = evaluate(sources, fused, references=("average", "max"), method_name="mine")
    assert [(r.task, r.method, r.count) for r in rows] == [("CT-MRI", "mine", 3), ("CT-MRI", "average", 3), ("CT-MRI", "max", 3)]
    expected, ceilings = [], []
    for n in range(3):
        a = sitk.GetArrayFromImage(sitk.ReadImage(str(sources / "CT-MRI" / "CT" / f"00{n}.png"))).astype(float)
        b = sitk.GetArrayFromImage(sitk.ReadImage(str(sources / "CT-MRI" / "MRI" / f"00{n}.png"))).astype(float)
        expected.append(compute_all(r1_stretch(0.5 * (a + b)), a, b))
        ceilings.append(cc_ceiling(a, b))
    for name in ("CC", "MI", "SSIM", "Qabf"):
        assert rows[1].metrics[name] == pytest.approx(np.mean([e[name] for e in expected]))
    assert rows[1].ceiling == pytest.approx(np.mean(ceilings))
    # the fused folder holds max-rule images, so its row equals the max reference
    assert rows[0].metrics == pytest.approx(rows[2].metrics)
    assert "CC ceiling" in format_table(rows)


def test_missing_fused_images_are_listed(layout):
    sources, fused = layout
    (fused / "CT-MRI" / "001.png").unlink()
    with pytest.raises(InputError, match="lacks 1 fused image.*CT-MRI/001.png"):
        evaluate(sources, fused)


def test_wrong_layout_is_explained(tmp_path):
    with pytest.raises(InputError, match="no task folders of the layout"):
        evaluate(tmp_path)


def test_eval_command_prints_one_row_per_task_and_method(layout, capsys):
    sources, fused = layout
    assert main(["eval", str(sources), str(fused)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:4] == ["task", "method", "n", "CC"]
    assert [line.split()[1] for line in lines[1:]] == ["W-DUALMINE", "average", "max"]


def test_reference_rows_on_the_training_pairs(aanlib_root):
    """The pixel average on real CT-MRI pairs lands near the published reference magnitudes."""
    rows = {r.method: r for r in evaluate(aanlib_root, None, ("average", "max"), tasks=["ct"])}
    average = rows["average"].metrics
    assert 0.75 < average["CC"] <= rows["average"].ceiling
    assert average["CC"] > rows["max"].metrics["CC"]
    assert 1.0 < average["SSIM"] < 1.8 and 0.3 < average["Qabf"] < 0.7
