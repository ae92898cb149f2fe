import json

import numpy as np
import SimpleITK as sitk
import torch

from wdualmine.training.trainer import TrainConfig, train
from wdualmine.weights import load_model


def tiny_dataset(root, phantom):
    for series in ("100", "200", "300", "400", "500"):
        for k in range(2):
            a = (phantom((3, 48, 48), seed=int(series) + k, functional=True)[1] / 16).clip(0, 255).astype(np.uint8)
            b = (phantom((3, 48, 48), seed=int(series) + k + 7)[1] / 3).clip(0, 255).astype(np.uint8)
            for folder, image in (("CT", a), ("MRI", b)):
                (root / "CT-MRI" / folder).mkdir(parents=True, exist_ok=True)
                sitk.WriteImage(sitk.GetImageFromArray(image), str(root / "CT-MRI" / folder / f"{series}{k:02d}.png"))


def config(steps):
    return TrainConfig(task="ct", steps=steps, batch_size=2, crop=16, eval_every=2, checkpoint_every=1, threads=1)


def test_resumed_training_equals_uninterrupted_training(tmp_path, phantom):
    tiny_dataset(tmp_path / "data", phantom)
    train(config(4), tmp_path / "data", tmp_path / "straight")

    # the same run, stopped after 2 steps and resumed from its checkpoint
    interrupted = tmp_path / "resumed"
    cfg = config(4)
    import wdualmine.training.trainer as trainer

    original = trainer.FusionLoss.forward
    calls = {"n": 0}

    def stop_after_two(self, *args):
        calls["n"] += 1
        if calls["n"] > 2:
            raise KeyboardInterrupt
        return original(self, *args)

    trainer.FusionLoss.forward = stop_after_two
    try:
        train(cfg, tmp_path / "data", interrupted)
    except KeyboardInterrupt:
        pass
    finally:
        trainer.FusionLoss.forward = original
    assert not (interrupted / "model.pt").exists()
    metrics = train(cfg, tmp_path / "data", interrupted)

    a, _ = load_model(tmp_path / "straight" / "model.pt")
    b, meta = load_model(interrupted / "model.pt")
    for (name, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(p, q), name
    assert meta["task"] == "ct" and meta["validation"] == metrics and "CC" in metrics
    # re-running a finished run changes nothing and still reports its last validation
    assert train(config(4), tmp_path / "data", tmp_path / "straight") == load_model(tmp_path / "straight" / "model.pt")[1]["validation"]
    assert load_model(tmp_path / "straight" / "model.pt")[1]["validation"] != {}
    log = [json.loads(line) for line in (tmp_path / "straight" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4] and set(log[0]) >= {"loss", "cc", "mi", "qabf", "residual", "val"}


def test_train_command_with_loss_weights(tmp_path, phantom, capsys):
    from wdualmine.cli import main

    tiny_dataset(tmp_path / "data", phantom)
    args = ["train", "ct", "--data", str(tmp_path / "data"), "--work-dir", str(tmp_path / "run"), "--steps", "2",
            "--batch-size", "2", "--crop", "16", "--eval-every", "2", "--threads", "1", "--loss", "mi=2,mi_bins=16"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    _, meta = load_model(report["model"])
    assert meta["train"]["loss"]["mi"] == 2.0 and meta["train"]["loss"]["mi_bins"] == 16
    assert main(args[:-1] + ["bogus=1"]) == 2


def test_sweep_command_scores_the_validation_split(tmp_path, phantom, capsys):
    from wdualmine.cli import main

    tiny_dataset(tmp_path / "data", phantom)
    plot = tmp_path / "tradeoff.png"
    assert main(["sweep", "ct", "--data", str(tmp_path / "data"), "--details", "0,1", "--threads", "1", "--json", "--plot", str(plot)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert plot.stat().st_size > 10_000
    assert [r["detail"] for r in rows] == [0.0, 1.0]
    # detail 0 is the reliability curve alone, 1 adds the experts
    assert rows[0]["CC"] != rows[1]["CC"] and all(0 < r["CC"] <= 1 for r in rows)


def test_ablate_command_trains_every_variant(tmp_path, phantom, capsys):
    from wdualmine.cli import main
    from wdualmine.training.ablation import VARIANTS

    tiny_dataset(tmp_path / "data", phantom)
    args = ["ablate", "ct", "--data", str(tmp_path / "data"), "--work-dir", str(tmp_path / "ablation"), "--steps", "1",
            "--batch-size", "2", "--crop", "16", "--eval-every", "1", "--threads", "1", "--json"]
    assert main(args) == 0
    results = json.loads(capsys.readouterr().out)
    assert list(results) == list(VARIANTS)
    configs = {p.parent.name: load_model(p)[1]["train"]["model"] for p in (tmp_path / "ablation").glob("*/model.pt")}
    assert configs["full"]["wavelet_expert"] and not configs["wavelet_expert"]["wavelet_expert"]
    assert not configs["residual_to_average"]["residual_to_average"] and configs["residual_to_average"]["arbitration"]


def test_train_command_defaults_are_the_recipe():
    # the CLI spells the defaults out (building the parser must not import torch): keep them equal
    from wdualmine.cli import build_parser
    from wdualmine.training.trainer import TrainConfig

    args = build_parser().parse_args(["train", "pet", "--data", "d", "--work-dir", "w"])
    recipe = TrainConfig(task="pet")
    assert (args.steps, args.batch_size, args.crop, args.lr, args.curve_lr, args.seed, args.eval_every, args.threads) == (
        recipe.steps, recipe.batch_size, recipe.crop, recipe.learning_rate, recipe.curve_learning_rate, recipe.seed,
        recipe.eval_every, recipe.threads)
    assert (args.base, args.base_power) == (recipe.base, recipe.base_power)
