import pytest

from wdualmine.controls import CONTROL_RANGES, FusionControls


def test_defaults_are_the_trained_operating_point():
    controls = FusionControls()
    assert (controls.detail_strength, controls.reliability_bias, controls.arbitration_bias, controls.base) == (1.0, 0.0, 0.0, "plain")


@pytest.mark.parametrize("name", sorted(CONTROL_RANGES))
def test_out_of_range_values_are_refused_with_the_range(name):
    low, high = CONTROL_RANGES[name]
    FusionControls(**{name: low})
    FusionControls(**{name: high})
    with pytest.raises(ValueError, match=rf"{name} must be a number in \[{low}, {high}\]"):
        FusionControls(**{name: high + 0.1})


def test_unknown_base_is_refused():
    with pytest.raises(ValueError, match="plain, zscore"):
        FusionControls(base="median")
