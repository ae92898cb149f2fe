"""Saved controls read back exactly, and a bad controls file is one clear line that names the fix."""

import json

import numpy as np
import pytest

from wdualmine.controls import FusionControls
from wdualmine.controls_file import SavedControls, controls_text, read_controls_file, uses_model, window_differences
from wdualmine.errors import InputError


def fitted_like() -> FusionControls:
    # a curve as a fit leaves it: float32 tables, values that decimal text rounds unless written exactly
    tables = np.random.default_rng(3).normal(0, 0.7, (2, 9, 9)).astype(np.float32).clip(-2, 2)
    return FusionControls(detail_strength=0.0, curve_strength=1.0, equalise=0.59375, base_power=1.25, emphasis=0.1, pair_curve=tables.tolist())


def test_saved_controls_read_back_exactly(tmp_path):
    saved = SavedControls(fitted_like(), "pet", "auto controls: ...", "ab" * 32, {"a": [0.0, 18119.0], "b": [-3.5, 890.25]}, "b")
    path = tmp_path / "f.controls.json"
    path.write_text(controls_text(saved), encoding="utf-8")
    back = read_controls_file(path)
    assert back == saved  # every float of the curve bit for bit, the task, the model, the windows and the grid
    assert back.controls.pair_curve == saved.controls.pair_curve


def test_whether_controls_use_the_model():
    assert not uses_model(fitted_like())  # the fitted curve replaces the learned one, and there is no residual
    assert uses_model(FusionControls())  # the trained operating point: learned curve and experts
    assert uses_model(FusionControls(detail_strength=0.0, curve_strength=0.5))
    assert not uses_model(FusionControls(detail_strength=0.0, curve_strength=0.0))


def test_windows_that_differ_are_named():
    saved = {"a": [0.0, 20.0], "b": [0.0, 890.0]}
    assert window_differences(saved, {"a": [0.0, 20.0], "b": [0.0, 890.0]}) == []
    assert window_differences(saved, {"a": [0.0, 19.5], "b": [0.0, 890.0]}) == ["A's window is 0:19.5 here but was 0:20"]
    assert window_differences({"a": None, "b": None}, {"a": [0.0, 1.0], "b": [0.0, 1.0]}) == []  # 2-D: none recorded


def good_document():
    return json.loads(controls_text(SavedControls(FusionControls(), "ct", "given", None, {"a": None, "b": None})))


@pytest.mark.parametrize(
    "change, message",
    [
        (None, r"no such file; give a \.controls\.json written by --save-controls"),
        ("folder", r"is a folder; give the \.controls\.json file itself"),
        ("{not json", r"is not valid JSON .*give a file written by --save-controls"),
        ({"format": "something-else"}, r"is not a WDualMine controls file"),
        ({"version": 2}, r"format version 2; this WDualMine reads version 1: update WDualMine"),
        ({"controls": None}, r"holds no \"controls\" object"),
        ({"controls": {"sharpness": 1.0}}, r"unknown controls sharpness; known: "),
        ({"controls": {"equalise": 1.5}}, r"equalise must be a number in \[0.0, 1.0\], got 1.5"),
        ({"controls": {"pair_curve": [[[0.0]]]}}, r"pair_curve must be two square tables"),
        ('{"format": "wdualmine-controls", "version": 1, "task": "ct", "controls": {"equalise": NaN}}', r"NaN is not a number JSON allows"),
        ({"task": None}, r"does not say its task as ct, pet, spect \(it says None\)"),
        ({"task": "mr"}, r"does not say its task as ct, pet, spect \(it says 'mr'\)"),
    ],
)
def test_a_bad_controls_file_is_one_line_naming_the_fix(tmp_path, change, message):
    path = tmp_path / "bad.controls.json"
    if change == "folder":
        path.mkdir()
    elif isinstance(change, str):
        path.write_text(change)
    elif isinstance(change, dict):
        document = good_document()
        for key, value in change.items():
            if key == "controls" and isinstance(value, dict):
                document["controls"].update(value)
            else:
                document[key] = value
        path.write_text(json.dumps(document))
    with pytest.raises(InputError, match=message) as caught:
        read_controls_file(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_a_front_end_names_the_file_and_its_saver_in_its_own_words(tmp_path):
    from wdualmine.controls_file import WEB_SAVER

    path = tmp_path / "uploads" / "bad.controls.json"
    path.parent.mkdir()
    path.write_text("{not json")
    with pytest.raises(InputError) as caught:
        read_controls_file(path, "The controls file bad.controls.json", WEB_SAVER)
    message = str(caught.value)
    assert message.startswith("The controls file bad.controls.json is not valid JSON")
    assert message.endswith("give a file written by Download controls (or wdualmine fuse --save-controls)")
    assert "--controls " not in message and str(path.parent) not in message  # no option the page lacks, no server folder
