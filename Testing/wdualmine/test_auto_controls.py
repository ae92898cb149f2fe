import numpy as np
import pytest
import SimpleITK as sitk

from wdualmine.auto_controls import CUSHIONS, PairScorer, choose_controls, sample_indices
from wdualmine.controls import FusionControls
from wdualmine.pipeline import fuse_volume


def slices(phantom, n=3, size=(72, 80)):
    a = phantom((n, *size), seed=1, functional=True)
    b = phantom((n, *size), seed=2)
    return np.round(a / a.max() * 255) / 255, np.round(b / b.max() * 255) / 255


def test_the_plain_average_scores_zero_margins(phantom):
    a, b = slices(phantom)
    scorer = PairScorer(a, b, hot_level=0.9)
    margins = scorer.margins(0.5 * (a + b))
    assert all(abs(v) < 1e-9 for v in margins.values())


def test_nothing_better_than_the_average_keeps_the_average(phantom):
    a, b = slices(phantom)
    rng = np.random.default_rng(0)

    def noisy_unless_neutral(controls):  # every candidate but the plain average is worse
        average = 0.5 * (a + b)
        if controls.equalise == controls.emphasis == controls.curve_strength == controls.detail_strength == 0 and controls.base_power == 1:
            return average
        return np.clip(average + rng.normal(0, 0.1, a.shape), 0, 1)

    choice = choose_controls(noisy_unless_neutral, a, b, 0.9, FusionControls(reliability_bias=0.5))
    c = choice.controls
    assert (c.equalise, c.base_power, c.emphasis, c.curve_strength, c.detail_strength) == (0, 1, 0, 0, 0)
    assert c.reliability_bias == 0.5  # never searched
    assert choice.objective == 0.0 and "plain average" in choice.describe()
    # and it says why: the candidate that came nearest, and the scores it fell short on, in the metrics' own units
    # (here the noise costs CC in every candidate, so none was scored on the rest)
    label, short = choice.nearest
    assert label in choice.describe() and "did not clear the safety margin on CC (-0.0" in choice.describe()
    assert list(short) == ["CC"] and short["CC"] < 0


def test_a_candidate_is_taken_only_when_it_beats_the_average_everywhere_by_the_cushions(phantom, pet_fuser):
    a, b = slices(phantom)
    encoded = pet_fuser.encode_batch(a.astype(np.float32), b.astype(np.float32))
    choice = choose_controls(lambda c: pet_fuser.decode_batch(encoded, c, None, maps=False).fused, a, b, 0.9)
    assert choice.evaluated > 10
    if choice.objective > 0:
        assert all(choice.margins[m] >= CUSHIONS[m] for m in choice.margins)
    fixed = choose_controls(lambda c: pet_fuser.decode_batch(encoded, c, None, maps=False).fused, a, b, 0.9,
                            FusionControls(base_power=2.0, detail_strength=0.0), fixed=("base_power", "detail_strength"))
    assert fixed.controls.base_power == 2.0 and fixed.controls.detail_strength == 0.0


def test_sampled_slices_have_anatomy_and_structure_in_both():
    a = np.zeros((20, 8, 8), np.float32)
    b = np.zeros((20, 8, 8), np.float32)
    a[5:15, 2:6, 2:6] = np.linspace(0.2, 0.8, 4)
    b[3:18, 1:7, 1:7] = np.linspace(0.1, 0.9, 6)
    picked = sample_indices(a, b, count=4)
    assert len(picked) == 4 and all(5 <= k < 15 for k in picked)


def test_auto_fusion_reports_the_controls_it_used_and_is_reproducible_with_them(phantom, pet_fuser):
    pet = sitk.GetImageFromArray(phantom((6, 72, 80), seed=1, functional=True))
    mri = sitk.GetImageFromArray(phantom((6, 72, 80), seed=2))
    auto = fuse_volume(pet_fuser, pet, mri, auto=True)
    assert auto.auto is not None and auto.controls == auto.auto.controls
    again = fuse_volume(pet_fuser, pet, mri, auto.controls)
    assert np.array_equal(sitk.GetArrayViewFromImage(auto.fused), sitk.GetArrayViewFromImage(again.fused))


def test_small_slices_are_fused_with_the_given_controls(phantom, pet_fuser):
    pet = sitk.GetImageFromArray(phantom((6, 24, 28), seed=1, functional=True))
    mri = sitk.GetImageFromArray(phantom((6, 24, 28), seed=2))
    result = fuse_volume(pet_fuser, pet, mri, FusionControls(detail_strength=0.5), auto=True)
    assert result.controls.detail_strength == 0.5 and "too small" in result.auto.describe()


def test_2d_keeps_the_given_controls_when_nothing_beats_the_average_and_they_hold_cc(phantom):
    a, b = slices(phantom)
    a, b = a[1:2], b[1:2]  # one image, as in 2-D

    def sharpened_unless_neutral(controls):
        average = 0.5 * (a + b)
        if controls == FusionControls(detail_strength=1.0, curve_strength=1.0):
            return average + 0.0 * a  # the given controls: the average's CC exactly
        return np.clip(average + np.random.default_rng(1).normal(0, 0.1, a.shape), 0, 1)

    given = FusionControls(detail_strength=1.0, curve_strength=1.0)
    choice = choose_controls(sharpened_unless_neutral, a, b, 0.9, given, fallback=given)
    assert choice.controls == given and choice.fallback and "hold the average's CC" in choice.describe()
    without = choose_controls(sharpened_unless_neutral, a, b, 0.9, given)
    assert without.controls.curve_strength == 0 and not without.fallback


def test_a_near_miss_is_refined_into_a_narrow_window_that_beats_the_average(monkeypatch):
    """The ridge's equalisation steps can straddle the window where everything holds (seen on a sarcoma PET:
    least equalisation 0.375 adds a trace of noise, 0.5 costs Qabf, 0.4375 passes); the refinement finds it."""
    import wdualmine.auto_controls as auto

    class Landscape:  # margins as a function of the controls: the "fused image" is the controls themselves
        def __init__(self, a, b, hot_level, detailed):
            self.cushions = CUSHIONS

        def cc_margin(self, controls):
            return 0.2 * controls.equalise - 0.05 * (controls.base_power - 1.0)

        def margins(self, controls):
            power_pays = 0.1 if controls.base_power == 1.25 and controls.emphasis == 0 and controls.detail_strength == 0 else -0.1
            return {
                "CC": self.cc_margin(controls),
                "MI": power_pays, "VIF": power_pays, "SSIM": power_pays, "hot contrast": 0.05,
                "Qabf": 0.47 - controls.equalise,  # more equalisation costs edges
                "flat noise": controls.equalise - 0.41,  # ... and quiets flat regions
            }

    monkeypatch.setattr(auto, "PairScorer", Landscape)
    a = b = np.zeros((4, 96, 96))
    choice = auto.choose_controls(lambda controls: controls, a, b, 0.9, adapt=False)  # the ridge and its refinement only
    c = choice.controls
    assert choice.objective > 0 and c.base_power == 1.25 and 0.41 < c.equalise < 0.47, choice.describe()
    assert all(choice.margins[m] >= CUSHIONS[m] for m in choice.margins)


def _winner_on_the_sample(monkeypatch, controls):
    """Make the search 'choose' these controls, as if they had beaten the average on its sample."""
    import wdualmine.pipeline as pipeline
    from wdualmine.auto_controls import AutoChoice

    def chosen(fuse_sample, a, b, hot_level, start, fixed, cancelled, statistics=None):
        fuse_sample(controls)
        return AutoChoice(controls, 0.5, {"CC": 0.5}, [], 1)

    monkeypatch.setattr(pipeline, "choose_controls", chosen)


def test_a_winner_is_checked_on_other_slices_than_the_sample(phantom, pet_fuser, monkeypatch):
    import wdualmine.pipeline as pipeline

    seen = []
    real_inputs = pipeline.slab_inputs
    def recording(pair, plan, index):
        if isinstance(index, list):  # auto's samples; the fusion itself passes slices
            seen.append(index)
        return real_inputs(pair, plan, index)

    monkeypatch.setattr(pipeline, "slab_inputs", recording)
    winner = FusionControls(equalise=0.5, base_power=1.25, curve_strength=0.0, detail_strength=0.0)
    _winner_on_the_sample(monkeypatch, winner)
    pet = sitk.GetImageFromArray(phantom((40, 72, 80), seed=1, functional=True))
    mri = sitk.GetImageFromArray(phantom((40, 72, 80), seed=2))
    result = fuse_volume(pet_fuser, pet, mri, auto=True)
    sample, others = seen[0], seen[1]
    assert len(others) >= 4 and not set(sample) & set(others)
    if result.auto.unconfirmed:  # the verdict of the real metrics on the other slices, either way consistent
        c = result.controls
        assert (c.equalise, c.base_power, c.emphasis, c.curve_strength, c.detail_strength) == (0, 1, 0, 0, 0)
        assert "not on" in result.auto.describe()
    else:
        assert result.controls == winner and result.auto.confirmed == len(others)


def test_a_winner_the_other_slices_do_not_confirm_gives_the_plain_average(phantom, pet_fuser, monkeypatch):
    import wdualmine.pipeline as pipeline

    _winner_on_the_sample(monkeypatch, FusionControls(equalise=0.5, base_power=1.25, curve_strength=0.0, detail_strength=0.0, reliability_bias=0.5))
    monkeypatch.setattr(pipeline, "confirm_choice", lambda *args: {"CC": 0.1, "Qabf": -0.2, "flat noise": 0.3})
    pet = sitk.GetImageFromArray(phantom((40, 72, 80), seed=1, functional=True))
    mri = sitk.GetImageFromArray(phantom((40, 72, 80), seed=2))
    result = fuse_volume(pet_fuser, pet, mri, FusionControls(reliability_bias=0.5), auto=True)
    c = result.controls
    assert (c.equalise, c.base_power, c.emphasis, c.curve_strength, c.detail_strength, c.reliability_bias) == (0, 1, 0, 0, 0, 0.5)
    assert "not on" in result.auto.describe() and "Qabf -0.20" in result.auto.describe()
    plain = fuse_volume(pet_fuser, pet, mri, c)
    assert np.array_equal(sitk.GetArrayViewFromImage(result.fused), sitk.GetArrayViewFromImage(plain.fused))


def test_a_fitted_curve_the_other_slices_do_not_confirm_gives_way_to_the_searched_winner(phantom, pet_fuser, monkeypatch):
    """The fit beat the search's winner on the sample, other slices reject the curve: the searched winner is checked next."""
    import wdualmine.pipeline as pipeline
    from wdualmine.auto_controls import ADAPTED, AutoChoice

    searched = FusionControls(equalise=0.25, base_power=1.25, curve_strength=0.0, detail_strength=0.0)
    curve = [[[0.2] * 9 for _ in range(9)], [[0.05] * 9 for _ in range(9)]]
    fitted = FusionControls(**ADAPTED, pair_curve=curve)

    def chosen(fuse_sample, a, b, hot_level, start, fixed, cancelled, statistics=None):
        return AutoChoice(fitted, 0.9, {"CC": 0.9}, [], 1, adapted=64, runner_up=(searched, 0.4, {"CC": 0.4}))

    verdicts = iter([{"CC": -0.1, "Qabf": 0.2}, {"CC": 0.05, "Qabf": 0.1}])  # the curve fails, the searched rule holds
    monkeypatch.setattr(pipeline, "choose_controls", chosen)
    monkeypatch.setattr(pipeline, "confirm_choice", lambda *args: next(verdicts))
    pet = sitk.GetImageFromArray(phantom((40, 72, 80), seed=1, functional=True))
    mri = sitk.GetImageFromArray(phantom((40, 72, 80), seed=2))
    result = fuse_volume(pet_fuser, pet, mri, auto=True)
    assert result.controls == searched and result.auto.adapted == 0 and result.auto.confirmed > 0
    text = result.auto.describe()
    assert text.startswith("auto controls: equalise 0.25") and "adapted to this pair" in text and "CC -0.10" in text
