"""The alignment check that every front end warns with: registered pairs pass, shifted ones are flagged."""

import numpy as np

from wdualmine.volume.alignment import COMMAND_LINE_REMEDY, check_alignment
from wdualmine.volume.window import Window


def two_modalities(phantom, shift_voxels=0):
    """A functional and an anatomical volume of one head on one 2 mm grid (raw grey levels), B optionally moved."""
    a = phantom((40, 48, 56), seed=1, functional=True)
    b = phantom((40, 48, 56), seed=2)
    if shift_voxels:
        b = np.roll(b, shift_voxels, axis=(0, 1, 2))
    return a, b


def test_a_registered_pair_looks_aligned_and_a_moved_one_does_not(phantom):
    a, b = two_modalities(phantom)
    windows = (Window(0.0, 4000.0), Window(0.0, 800.0))
    aligned = check_alignment(a, b, (2.0, 2.0, 2.0), *windows)
    assert not aligned.misaligned and aligned.gain > 0.5 and "look aligned" in aligned.message
    moved = check_alignment(*two_modalities(phantom, shift_voxels=12), (2.0, 2.0, 2.0), *windows)  # 24 mm along each axis
    assert moved.misaligned and moved.gain < aligned.gain
    assert "may be misaligned" in moved.message and moved.message.endswith(COMMAND_LINE_REMEDY)
    # a front end names its own way to register
    assert check_alignment(*two_modalities(phantom, 12), (2.0, 2.0, 2.0), *windows, remedy="use the panel").message.endswith("; use the panel")


def test_windowing_the_sample_is_windowing_the_volume_and_nothing_is_modified(phantom):
    a, b = two_modalities(phantom)
    wa, wb = Window(0.0, 4000.0), Window(0.0, 800.0)
    before = a.copy(), b.copy()
    raw = check_alignment(a, b, (2.0, 2.0, 2.0), wa, wb)
    windowed = check_alignment(wa.apply(a), wb.apply(b), (2.0, 2.0, 2.0))
    assert (raw.nmi, raw.nmi_shifted) == (windowed.nmi, windowed.nmi_shifted)
    np.testing.assert_array_equal(a, before[0])
    np.testing.assert_array_equal(b, before[1])


def test_a_big_volume_is_checked_on_a_sub_grid(phantom, monkeypatch):
    # the sampled voxels, not the volume, are windowed: about 4 x SAMPLE_LIMIT of them at most
    import wdualmine.volume.alignment as alignment

    monkeypatch.setattr(alignment, "SAMPLE_LIMIT", 2_000)
    seen = []
    real = Window.apply
    monkeypatch.setattr(Window, "apply", lambda self, values: seen.append(values.size) or real(self, values))
    a, b = two_modalities(phantom)
    result = check_alignment(a, b, (2.0, 2.0, 2.0), Window(0.0, 4000.0), Window(0.0, 800.0))
    assert seen and max(seen) <= 4 * 2_000 * 1.5 and not result.misaligned


def test_a_constant_volume_is_not_called_misaligned(phantom):
    # the constant image has its own warning; "misaligned" on top of it would send the user the wrong way
    a, b = two_modalities(phantom)
    result = check_alignment(np.full_like(a, 7.0), b, (2.0, 2.0, 2.0), Window(0.0, 4000.0), Window(0.0, 800.0))
    assert not result.misaligned and "cannot be checked" in result.message
