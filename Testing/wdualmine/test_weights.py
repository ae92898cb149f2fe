import pytest
import torch

from wdualmine.network import WDualMineNet
from wdualmine.weights import TASKS, WeightsError, load_catalogue, load_model, save_checkpoint, sha256_of


@pytest.mark.parametrize("task", TASKS)
def test_shipped_weights_match_their_checksums_and_load(task):
    entry = load_catalogue()[task]
    assert sha256_of(entry.path) == entry.sha256
    model, meta = load_model(entry.path, entry.sha256)
    assert meta["task"] == task
    assert not model.training


@pytest.mark.parametrize("task", TASKS)
@torch.inference_mode()
def test_shipped_models_neither_clip_hot_spots_nor_grey_the_background(task):
    # issue: no clipping at bright bone or hot lesions, background exactly 0
    from wdualmine.controls import FusionControls

    model, _ = load_model(load_catalogue()[task].path)
    y, x = torch.meshgrid(torch.linspace(-1, 1, 64), torch.linspace(-1, 1, 64), indexing="ij")
    head = ((x * x + y * y) < 0.8).float()
    hot = ((x - 0.3) ** 2 + y**2) < 0.1
    ramp = 0.85 + 0.15 * (x - x[hot].min()) / (x[hot].max() - x[hot].min())  # 0.85 .. 1.0 across the hot spot
    a = head * torch.where(hot, ramp, torch.full_like(x, 0.3))  # saturating lesion / dense bone
    b = head * (0.5 + 0.3 * torch.sin(6 * y))  # bright MRI texture under it
    for strength in (1.0, 2.0):
        fused = model(a.view(1, 1, 64, 64), b.view(1, 1, 64, 64), FusionControls(detail_strength=strength)).fused[0, 0]
        assert float(fused.max()) < 1.0  # rolled off, never clipped flat
        assert torch.count_nonzero(fused[head == 0]) == 0
    # across the hot spot the order of the source values survives: no plateau at the top
    row = fused[32][hot[32]]
    assert len(torch.unique(row)) == len(row)
    assert float(fused[hot].mean()) > float(fused[(head > 0) & ~hot].mean())


def test_round_trip(tmp_path):
    torch.manual_seed(3)
    model = WDualMineNet()
    digest = save_checkpoint(model, tmp_path / "m.pt", {"task": "ct"})
    loaded, meta = load_model(tmp_path / "m.pt", digest)
    assert meta == {"task": "ct"}
    for (name, p), (_, q) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(p, q), name
    assert not list(tmp_path.glob("*.partial"))


def test_wrong_checksum_names_the_file(tmp_path):
    save_checkpoint(WDualMineNet(), tmp_path / "m.pt")
    with pytest.raises(WeightsError, match=r"m\.pt is corrupt or was replaced"):
        load_model(tmp_path / "m.pt", "0" * 64)


def test_corrupt_and_missing_files(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=r"bad\.pt is not a usable W-DUALMINE checkpoint"):
        load_model(bad)
    with pytest.raises(WeightsError, match="does not exist"):
        load_model(tmp_path / "absent.pt")


def test_checkpoints_cannot_run_code_on_load(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pt"
    torch.save({"config": {}, "state_dict": {}, "meta": Payload()}, evil)
    with pytest.raises(WeightsError):
        load_model(evil)


def test_a_folder_or_non_finite_weights_are_refused(tmp_path):
    with pytest.raises(WeightsError, match="is a folder; give the checkpoint file itself"):
        load_model(tmp_path)
    model = WDualMineNet()
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    save_checkpoint(model, tmp_path / "diverged.pt")
    with pytest.raises(WeightsError, match=r"diverged\.pt holds NaN or Inf values \(.*\); the training run that wrote it diverged"):
        load_model(tmp_path / "diverged.pt")
