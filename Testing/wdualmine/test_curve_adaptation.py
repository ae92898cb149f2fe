"""Per-pair adaptation of the reliability curve: what it fits is what the model fuses, and it is kept only when it pays."""

import json

import numpy as np
import pytest
import torch

from wdualmine.auto_controls import ADAPTED, CUSHIONS, PairScorer, choose_controls, objective
from wdualmine.controls import FusionControls
from wdualmine.curve_adaptation import adapt_curve, curve_fusion


def slices(phantom, n=3, size=(72, 80)):
    a = phantom((n, *size), seed=1, functional=True)
    b = phantom((n, *size), seed=2)
    return (np.round(a / a.max() * 255) / 255).astype(np.float32), (np.round(b / b.max() * 255) / 255).astype(np.float32)


def test_the_adapted_curve_fuses_as_the_model_fuses_it(phantom, pet_fuser):
    a, b = slices(phantom)
    rng = np.random.default_rng(0)
    tables = np.stack([rng.normal(0, 1.0, (9, 9)), rng.normal(0, 0.3, (9, 9))])
    fitted = curve_fusion(torch.from_numpy(a), torch.from_numpy(b), *torch.from_numpy(tables).float()).numpy()
    controls = FusionControls(**ADAPTED, pair_curve=tables.tolist())
    fused, share = pet_fuser.compose(a, b, None, controls)
    assert np.abs(np.clip(fused, 0, 1) - fitted).max() < 1e-6
    assert not np.allclose(fused, 0.5 * (a + b), atol=1e-3)  # the tables were used, not the model's own curve
    # strength 0 scales the adapted curve away, as it does the learned one: the plain average
    plain, _ = pet_fuser.compose(a, b, None, FusionControls(**{**ADAPTED, "curve_strength": 0.0}, pair_curve=tables.tolist()))
    assert np.allclose(plain, np.where((a > 0) | (b > 0), 0.5 * (a + b), 0), atol=1e-6)


def test_adaptation_keeps_only_a_curve_that_beats_the_average_on_every_score(phantom):
    a, b = slices(phantom)
    scorer = PairScorer(a, b, hot_level=0.9)
    checked = []

    def recording(margins):
        checked.append(margins)
        return objective(margins)

    result = adapt_curve(scorer, a, b, CUSHIONS, recording, steps=16)
    assert len(checked) == 4  # every 4 steps, the exact metrics
    if result.objective > float("-inf"):
        assert all(result.margins[m] >= CUSHIONS[m] for m in result.margins) and result.steps > 0
        fused = curve_fusion(torch.from_numpy(a), torch.from_numpy(b), *torch.tensor(result.tables)).numpy()
        assert scorer.margins(fused) == pytest.approx(result.margins)
    else:
        assert result.steps == 0 and np.array_equal(np.array(result.tables), np.zeros((2, 9, 9)))


def test_auto_takes_the_adapted_curve_only_through_the_callers_own_fusion(phantom, monkeypatch):
    """The adapted curve is scored again through the fusion the caller will use; if it does not pay there, it is dropped."""
    import wdualmine.auto_controls as auto
    from wdualmine.curve_adaptation import AdaptedCurve

    a, b = slices(phantom)
    tables = tuple(tuple(tuple(0.1 for _ in range(9)) for _ in range(9)) for _ in range(2))
    monkeypatch.setattr(auto, "adapt_curve", lambda *args, **kwargs: AdaptedCurve(tables, 5.0, {}, 8))
    noise = np.random.default_rng(0).normal(0, 0.1, a.shape)

    def fuse(controls, curve_image):  # every searched candidate is noisier than the plain average
        average = 0.5 * (a + b)
        if controls.pair_curve is not None:
            return curve_image
        neutral = (controls.equalise, controls.emphasis, controls.curve_strength, controls.detail_strength, controls.base_power) == (0, 0, 0, 0, 1)
        return average if neutral else np.clip(average + noise, 0, 1)

    # the caller's fusion of the curve is noisy: the adaptation's claim is not taken
    dropped = choose_controls(lambda c: fuse(c, np.clip(0.5 * (a + b) + noise, 0, 1)), a, b, 0.9)
    assert dropped.controls.pair_curve is None and dropped.adapted == 0 and dropped.objective == 0.0
    # where the caller's fusion of the curve beats the average by every cushion, it is taken with those margins
    better = {"CC": 0.1, "MI": 0.1, "VIF": 0.1, "Qabf": 0.1, "SSIM": 0.1, "hot contrast": 0.1, "flat noise": 0.1}
    curve_image = np.clip(0.5 * (a + b) + 0.01, 0, 1)
    real_margins = PairScorer.margins
    monkeypatch.setattr(PairScorer, "margins", lambda self, f: better if np.array_equal(f, curve_image) else real_margins(self, f))
    chosen = choose_controls(lambda c: fuse(c, curve_image), a, b, 0.9)
    assert chosen.controls.pair_curve == tables and chosen.adapted == 8 and chosen.margins == better
    assert (chosen.controls.curve_strength, chosen.controls.detail_strength) == (1.0, 0.0)
    assert "adapted to this pair" in chosen.describe()


def test_a_control_the_user_fixed_against_the_curve_turns_adaptation_off(phantom, monkeypatch):
    import wdualmine.auto_controls as auto

    a, b = slices(phantom)
    called = []
    from wdualmine.curve_adaptation import AdaptedCurve

    missed = AdaptedCurve(((0.0,),), float("-inf"), {}, 0)
    monkeypatch.setattr(auto, "adapt_curve", lambda *args, **kwargs: called.append(1) or missed)
    choose_controls(lambda c: 0.5 * (a + b), a, b, 0.9, FusionControls(detail_strength=1.0), fixed=("detail_strength",))
    choose_controls(lambda c: 0.5 * (a + b), a, b, 0.9, FusionControls(reliability_bias=0.5))
    assert called == []
    # --no-curve-fit: the pair curve is a fixed control (none)
    from wdualmine.cli import build_parser, fixed_controls

    args = build_parser().parse_args(["fuse", "a.nii", "b.nii", "-o", "out.nii", "--no-curve-fit"])
    assert fixed_controls(args) == ("pair_curve",)
    choose_controls(lambda c: 0.5 * (a + b), a, b, 0.9, fixed=fixed_controls(args))
    assert called == []
    choose_controls(lambda c: 0.5 * (a + b), a, b, 0.9, fixed=fixed_controls(build_parser().parse_args(["fuse", "a.nii", "b.nii", "-o", "o.nii"])))
    assert called  # without the flag the curve is fitted


def test_pair_curve_is_checked_and_survives_json():
    tables = [[[0.5] * 5 for _ in range(5)], [[0.1] * 5 for _ in range(5)]]
    controls = FusionControls(pair_curve=tables)
    assert isinstance(controls.pair_curve, tuple) and controls == FusionControls(**json.loads(json.dumps(controls.as_dict())))
    for bad, words in [
        ([[[0.0] * 5] * 5], "two square tables"),
        ([[[0.0] * 5] * 4, [[0.0] * 5] * 4], "two square tables"),
        ([[[0.0]], [[0.0]]], "2 to 65 knots"),
        ([[[9.0] * 3] * 3, [[0.0] * 3] * 3], "log-odds"),
        ([[[0.0] * 3] * 3, [[float("nan")] * 3] * 3], "log gain"),
        ("curve", "two square tables"),
    ]:
        with pytest.raises(ValueError, match=words):
            FusionControls(pair_curve=bad)


def test_a_searched_rule_is_copied_into_tables_the_fit_can_start_from(phantom):
    from wdualmine.curve_adaptation import tables_like

    a, b = slices(phantom)
    power_mean = np.sqrt(0.5 * (a * a + b * b))  # base power 2, a rule the search tries
    tables = tables_like(a, b, power_mean)
    copied = curve_fusion(torch.from_numpy(a), torch.from_numpy(b), *torch.from_numpy(tables)).numpy()
    anatomy = (a > 0) | (b > 0)
    assert np.abs(copied - power_mean)[anatomy].mean() < 0.01
    assert np.abs(copied - power_mean)[anatomy].mean() < 0.3 * np.abs(0.5 * (a + b) - power_mean)[anatomy].mean()


def test_big_slices_are_fitted_on_a_crop_around_the_anatomy():
    from wdualmine.curve_adaptation import FIT_SIDE, fitting_window

    a = np.zeros((6, 512, 400), np.float32)
    b = np.zeros_like(a)
    a[:, 300:450, 200:380] = 0.5  # anatomy off centre
    b[:, 280:470, 190:390] = 0.4
    (rows, cols), detailed = fitting_window(a, b)
    assert (rows.stop - rows.start, cols.stop - cols.start) == (FIT_SIDE, FIT_SIDE)
    assert rows.start <= 280 and rows.stop >= 470 - 40 and 3 <= detailed <= 8
    small = np.zeros((16, 170, 160), np.float32)
    (rows, cols), detailed = fitting_window(small, small)
    assert (rows, cols) == (slice(0, 170), slice(0, 160)) and detailed == 8


def test_the_fit_looks_the_curve_up_per_pair_of_levels_with_the_same_values(phantom):
    from wdualmine.curve_adaptation import curve_table, level_index

    a, b = slices(phantom)
    rng = np.random.default_rng(1)
    logits, log_gain = torch.from_numpy(rng.normal(0, 1.0, (2, 9, 9)).astype(np.float32))
    index = level_index(a, b)
    assert index is not None and level_index(a + 0.001, b) is None  # only 8-bit levels have an index
    looked_up = curve_table(logits, log_gain).flatten()[index]
    assert torch.equal(looked_up, curve_fusion(torch.from_numpy(a), torch.from_numpy(b), logits, log_gain))


def test_the_fit_stops_when_the_user_cancels(phantom):
    from wdualmine.inference import Cancelled

    a, b = slices(phantom)
    scorer = PairScorer(a, b, hot_level=0.9)
    asked = []

    def cancelled():
        asked.append(1)
        return len(asked) > 5  # the user presses Cancel during the sixth step

    with pytest.raises(Cancelled, match="cancelled"):
        adapt_curve(scorer, a, b, CUSHIONS, objective, steps=64, cancelled=cancelled)
    assert len(asked) == 6  # asked before every step: a cancel waits one step at most


@pytest.mark.parametrize("cropped, fits", [(False, 2), (True, 1)])
def test_slices_too_big_for_one_crop_get_one_fit_from_the_searched_rule(phantom, monkeypatch, cropped, fits):
    import wdualmine.auto_controls as auto
    from wdualmine.curve_adaptation import AdaptedCurve

    a, b = slices(phantom, size=(80, 80))
    if cropped:  # as if the slices were bigger than the fit's crop (a 512 x 512 CT): fitted on a part of them
        monkeypatch.setattr(auto, "fitting_window", lambda a, b: ((slice(8, 72), slice(8, 72)), 3))
    starts = []
    monkeypatch.setattr(auto, "adapt_curve", lambda *args, initial=None, **kwargs: starts.append(initial) or AdaptedCurve(((0.0,),), float("-inf"), {}, 0))
    noise = np.random.default_rng(0).normal(0, 0.02, a.shape)
    zsum = a / a.std() + b / b.std()
    zsum = zsum / zsum.max()

    def fuse(controls):  # equalising raises CC (the search's ridge), the noise costs the rest: it ends on a near miss
        average = 0.5 * (a + b)
        neutral = (controls.equalise, controls.emphasis, controls.curve_strength, controls.detail_strength, controls.base_power) == (0, 0, 0, 0, 1)
        if neutral:
            return average
        mixed = (1 - controls.equalise) * average + controls.equalise * zsum
        return np.clip(mixed + noise * (controls.base_power - 0.5), 0, 1) * ((a > 0) | (b > 0))

    choose_controls(fuse, a, b, 0.9)
    assert len(starts) == fits and starts[-1] is not None  # the searched rule's tables are always one start
