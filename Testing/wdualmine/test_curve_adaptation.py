"""Per-pair adaptation of the reliability curve: what it fits is what the model fuses, and it is kept only when it pays."""

import json

import numpy as np
import pytest
import torch

from wdualmine.auto_controls import ADAPTED, CUSHIONS, PairScorer, choose_controls, objective
from wdualmine.controls import FusionControls
from wdualmine.curve_adaptation import BaseRule, adapt_curve, curve_fusion


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


def test_a_curve_fitted_on_a_searched_rule_fuses_as_the_model_fuses_it(phantom, pet_fuser):
    """The second fit keeps the search's equalisation, power and emphasis (with the volume's fixed statistics)
    and fits the curve's weight and gain on top: at tables 0 it is that rule exactly."""
    from wdualmine.curve_adaptation import BaseRule, curve_table, level_index

    a, b = slices(phantom)
    statistics = (0.2, 0.3, 0.7, 0.95)  # the sources' standard deviations and A's two hot levels, as a volume's plan has them
    rule = BaseRule(0.4, 1.5, 0.5, statistics)
    tables = np.random.default_rng(3).normal(0, 0.5, (2, 9, 9)).astype(np.float32)
    controls = FusionControls(**(ADAPTED | rule.controls()), pair_curve=tables.tolist())
    fused, _ = pet_fuser.compose(a, b, None, controls, statistics)
    fitted = curve_fusion(torch.from_numpy(a), torch.from_numpy(b), *torch.from_numpy(tables), rule).numpy()
    looked_up = curve_table(*torch.from_numpy(tables), rule).flatten()[level_index(a, b)].numpy()
    assert np.array_equal(fused, fitted) and np.array_equal(fused, looked_up)
    searched, _ = pet_fuser.compose(a, b, None, FusionControls(**rule.controls(), curve_strength=0.0, detail_strength=0.0), statistics)
    at_zero = curve_fusion(torch.from_numpy(a), torch.from_numpy(b), torch.zeros(9, 9), torch.zeros(9, 9), rule).numpy()
    assert np.abs(at_zero - searched).max() < 1e-6
    with pytest.raises(ValueError, match="statistics"):
        BaseRule(equalise=0.5)  # per-slice statistics would make the fit's one lookup table wrong


def test_cc_cushion_is_never_beyond_the_room_any_fusion_has_above_the_average(phantom):
    """Sources that already correlate closely leave the average within a hair of the CC ceiling; CC's cushion
    must then shrink to half that room, or no fusion could ever be taken (the bundled sample)."""
    a, _ = slices(phantom)
    b = np.round(np.clip(a * 0.8 + 0.05 * (a > 0), 0, 1) * 255) / 255  # nearly a linear copy of A
    close = PairScorer(a, b.astype(np.float32), hot_level=0.9)
    assert 0 <= close.cc_room < 2 * CUSHIONS["CC"]
    assert close.cushions["CC"] == pytest.approx(0.5 * close.cc_room) and close.cushions["MI"] == CUSHIONS["MI"]
    far = PairScorer(*slices(phantom), hot_level=0.9)
    assert far.cc_room > 2 * CUSHIONS["CC"] and far.cushions == CUSHIONS


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
    monkeypatch.setattr(auto, "adapt_curve", lambda *args, rule, **kwargs: starts.append(rule) or AdaptedCurve(((0.0,),), float("-inf"), {}, 0))
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

    statistics = (float(a.std()), float(b.std()), 0.9, 1.0)
    choice = choose_controls(fuse, a, b, 0.9, statistics=statistics)
    label, short = choice.nearest  # the average, and why: the near miss and the noise it added
    assert "equalise" in label and short["flat noise"] > 0 and label in choice.describe()
    # the searched rule (its equalisation, with the volume's statistics) is always one base the curve is fitted on
    assert len(starts) == fits and starts[-1].equalise > 0 and starts[-1].statistics == statistics
    if fits == 2:
        assert starts[0] == BaseRule()  # and the plain average the other
    starts.clear()
    choose_controls(fuse, a, b, 0.9)  # without fixed statistics an equalising rule cannot be one lookup table: not fitted
    assert all(rule == BaseRule() for rule in starts)


def test_the_fit_ends_on_the_same_curve_whatever_the_thread_count(phantom):
    """torch splits a long sum among its threads, so a fit's rounding, and through its steps the curve it ends
    on, followed the thread count; the surrogates sum block by block now, so a user's 16 cores fit as CI's 2."""
    a, b = slices(phantom, n=6, size=(256, 256))  # sums long enough for torch to split them among threads
    scorer = PairScorer(a, b, hot_level=0.9)
    checked = {}
    for threads in (1, 4):
        torch.set_num_threads(threads)  # the suite's fixture puts the count back
        seen = checked.setdefault(threads, [])
        adapt_curve(scorer, a, b, CUSHIONS, lambda margins: seen.append(margins) or objective(margins), steps=8)
    assert checked[1] == checked[4]  # the exact scores of the curve after steps 4 and 8, to the last bit
    assert checked[1][0] != checked[1][1]  # the steps moved the curve: the comparison means something


FIT_IN_A_PROCESS = """
import json, sys
import numpy as np
import wdualmine.curve_adaptation as adaptation
from wdualmine.auto_controls import CUSHIONS, PairScorer, objective
pair = np.load(sys.argv[1])
scorer = PairScorer(pair["a"], pair["b"], hot_level=0.9)
after = []  # the tables each step starts from
margins = adaptation._Surrogate.margins
adaptation._Surrogate.margins = lambda self, tables, step: after.append(tables.tolist()) or margins(self, tables, step)
adaptation.adapt_curve(scorer, pair["a"], pair["b"], CUSHIONS, objective, steps=int(sys.argv[2]))
print(json.dumps(after))
"""


def test_the_fit_ends_on_the_same_curve_whatever_the_cpus_vector_instructions(phantom, tmp_path):
    """Another machine rounds exp, log and sums in other ways (torch picks its kernels by the CPU's vector
    instructions), and an erratic fit amplified those last bits into another curve. The tables are rounded
    to a grid after every step now, so torch's plain kernels and this CPU's fastest fit alike. (The fused
    values can still differ in their last bit, as any float computation on another CPU.)"""
    import os
    import subprocess
    import sys

    a, b = slices(phantom, n=6, size=(256, 256))
    np.savez(tmp_path / "pair.npz", a=a, b=b)
    tables = {}
    for kernels in ("default", None):  # torch's plain C++ kernels, then this CPU's own (AVX2, AVX-512, ...)
        env = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"} | {"OMP_NUM_THREADS": "1"}
        if kernels:
            env["ATEN_CPU_CAPABILITY"] = kernels
        run = subprocess.run([sys.executable, "-c", FIT_IN_A_PROCESS, str(tmp_path / "pair.npz"), "16"], env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        tables[kernels] = json.loads(run.stdout)
    assert len(tables[None]) == 16 and tables["default"] == tables[None]  # the tables of every step, to the last bit
    assert tables[None][0] != tables[None][-1]  # the steps moved the curve: the comparison means something
