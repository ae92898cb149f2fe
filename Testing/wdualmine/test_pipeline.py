import gc

import numpy as np
import pytest
import SimpleITK as sitk

from wdualmine.errors import InputError
from wdualmine.inference import Cancelled
from wdualmine.pipeline import fuse_2d, fuse_slab, fuse_volume, plan_slices


def image(array, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0), direction=None):
    img = sitk.GetImageFromArray(array)
    img.SetSpacing(spacing[: img.GetDimension()])
    img.SetOrigin(origin[: img.GetDimension()])
    if direction is not None:
        img.SetDirection(direction)
    return img


def geometry(img):
    return img.GetSize(), img.GetSpacing(), img.GetOrigin(), img.GetDirection()


@pytest.fixture
def volumes(phantom):
    pet = image(phantom((16, 20, 24), seed=1, functional=True).astype(np.uint16), spacing=(3.0, 3.0, 3.0), origin=(-30.0, -28.0, -22.0))
    rotation = (0.9950042, -0.0998334, 0.0, 0.0998334, 0.9950042, 0.0, 0.0, 0.0, 1.0)  # 5.7 degrees about z
    mri = image(phantom((24, 32, 36), seed=2).astype(np.int16), spacing=(2.0, 2.0, 2.0), origin=(-34.0, -30.0, -24.0), direction=rotation)
    return pet, mri


def test_outputs_have_the_reference_geometry_exactly(random_fuser, volumes):
    pet, mri = volumes
    for reference, grid in (("a", pet), ("b", mri)):
        result = fuse_volume(random_fuser, pet, mri, maps=True, reference=reference)
        for out in [result.fused, *result.maps.values()]:
            assert geometry(out) == geometry(grid)
            assert out.GetPixelID() == sitk.sitkFloat32
        assert set(result.maps) == {"reliability_a", "reliability_b", "arbitration"}


@pytest.mark.parametrize("axis", ["axial", "coronal"])
def test_outputs_filled_in_place_hold_each_slab_where_it_belongs(random_fuser, volumes, axis):
    """The outputs are written into their images in place; they must equal the slabs fused one by one."""
    pet, mri = volumes
    result = fuse_volume(random_fuser, pet, mri, maps=True, axis=axis)
    gc.collect()  # the images own their pixels once the arrays that filled them are gone
    pair = result.aligned
    plan = plan_slices(pair, axis)
    outputs = {"fused": result.fused, **result.maps}
    arrays = {name: np.moveaxis(sitk.GetArrayFromImage(image), plan.along, 0) for name, image in outputs.items()}
    assert len({id(image) for image in outputs.values()}) == 4
    for start in range(0, pair.a.shape[plan.along], random_fuser.batch_size):
        index = slice(start, start + random_fuser.batch_size)
        slab = fuse_slab(random_fuser, pair, plan, index, maps=True)
        assert np.array_equal(arrays["fused"][index], slab.fused)
        for name, values in slab.maps.items():
            assert np.array_equal(arrays[name][index], values)


def test_inputs_are_not_modified(random_fuser, volumes):
    pet, mri = volumes
    before = [(sitk.GetArrayFromImage(v).copy(), geometry(v)) for v in volumes]
    fuse_volume(random_fuser, pet, mri, maps=True, reference="b")
    for (array, geo), v in zip(before, volumes):
        assert np.array_equal(array, sitk.GetArrayFromImage(v)) and geo == geometry(v)


def test_background_is_exactly_zero_and_range_is_0_1(random_fuser, volumes):
    pet, mri = volumes
    fused = sitk.GetArrayFromImage(fuse_volume(random_fuser, pet, mri).fused)
    pet_array = sitk.GetArrayFromImage(pet)
    mri_on_pet = sitk.GetArrayFromImage(sitk.Resample(mri, pet, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32))
    background = (pet_array <= np.percentile(pet_array, 0.5)) & (mri_on_pet <= 0)
    assert background.any() and np.all(fused[background] == 0)
    assert fused.min() >= 0 and fused.max() <= 1 and fused.max() > 0.5


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.uint32, np.int64, np.float32, np.float64])
def test_any_integer_or_float_type(random_fuser, phantom, dtype):
    a = image((phantom((8, 16, 16), functional=True) / 30).astype(dtype))
    b = image((phantom((8, 16, 16)) / 10).astype(dtype))
    fused = sitk.GetArrayFromImage(fuse_volume(random_fuser, a, b).fused)
    assert np.isfinite(fused).all() and fused.max() > 0


def test_nan_inf_and_constant_inputs_warn_and_still_fuse(random_fuser, phantom):
    values = phantom((8, 16, 16), functional=True)
    values[0, 0, :3] = [np.nan, np.inf, -np.inf]
    result = fuse_volume(random_fuser, image(values), image(np.zeros((8, 16, 16), np.float32)))
    assert any("3 NaN/Inf voxels" in w for w in result.warnings)
    assert any("is constant (0)" in w for w in result.warnings)
    assert np.isfinite(sitk.GetArrayFromImage(result.fused)).all()


def test_bad_pairs_are_refused(random_fuser, phantom):
    a = image(phantom((8, 16, 16)))
    with pytest.raises(InputError, match="A is 3-D but B is 2-D"):
        fuse_volume(random_fuser, a, image(phantom((8, 16, 16))[0]))
    with pytest.raises(InputError, match="do not overlap"):
        fuse_volume(random_fuser, a, image(phantom((8, 16, 16)), origin=(500.0, 0.0, 0.0)))
    vector = sitk.GetImageFromArray(np.zeros((8, 16, 16, 2), np.float32), isVector=True)
    with pytest.raises(InputError, match="2 components per voxel"):
        fuse_volume(random_fuser, a, vector)
    four_d = sitk.Image([8, 8, 4, 2], sitk.sitkFloat32)
    with pytest.raises(InputError, match="4-D"):
        fuse_volume(random_fuser, four_d, four_d)


def test_cancel_between_batches(random_fuser, volumes):
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(Cancelled):
        fuse_volume(random_fuser, *volumes, cancelled=cancelled)


def test_progress_counts_slices(random_fuser, volumes):
    seen = []
    fuse_volume(random_fuser, *volumes, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (16, 16) and len(seen) == 4  # 16 slices in batches of 4


def test_2d_grey_output_is_stretched_to_the_full_8_bit_range(random_fuser, phantom):
    a = image((phantom((3, 48, 48), functional=True)[1] / 20).clip(0, 255).astype(np.uint8))
    b = image((phantom((3, 48, 48))[1] / 4).clip(0, 255).astype(np.uint8))
    fused = sitk.GetArrayFromImage(fuse_2d(random_fuser, a, b).fused)
    assert fused.min() == 0 and fused.max() == 255


def test_2d_rgb_is_fused_on_luma_and_recoloured(random_fuser, phantom):
    grey = (phantom((3, 48, 48), functional=True)[1] / 20).clip(0, 255).astype(np.uint8)
    rgb = np.stack([grey, (grey * 0.5).astype(np.uint8), np.zeros_like(grey)], axis=-1)
    a = sitk.GetImageFromArray(rgb, isVector=True)
    b = image((phantom((3, 48, 48))[1] / 4).clip(0, 255).astype(np.uint8))
    result = fuse_2d(random_fuser, a, b, maps=True)
    assert result.fused_rgb is not None and result.fused_rgb.GetNumberOfComponentsPerPixel() == 3
    fused_rgb = sitk.GetArrayFromImage(result.fused_rgb).astype(float)
    luma = fused_rgb @ [0.299, 0.587, 0.114]
    grey = sitk.GetArrayFromImage(result.fused).astype(float)  # the grey output is stretched to 0..255, the colour one not
    inside = grey > 0
    scale = np.polyfit(luma[inside], grey[inside], 1)[0]
    assert np.abs(luma * scale - grey).max() <= 3.0 * scale + 1.0  # the same image up to the stretch, rounding and gamut clipping
    assert np.all(fused_rgb[grey == 0] == 0)
    with pytest.raises(InputError, match="must be registered slices of one size"):
        fuse_2d(random_fuser, a, image(np.zeros((40, 48), np.uint8)))


@pytest.mark.parametrize("working_size", [None, 64])  # the network at the slices' own size, and at another
def test_maps_of_a_rule_without_the_residual_need_no_encoding_and_equal_the_networks(pet_fuser, volumes, working_size, monkeypatch):
    from dataclasses import replace

    from wdualmine.controls import FusionControls
    from wdualmine.pipeline import align_volumes, decode_slab, fuse_inputs, slab_inputs

    pair = align_volumes(*volumes, reference="b")
    plan = plan_slices(pair, working_size=working_size)
    assert (plan.net_shape == plan.plane_shape) == (working_size is None)
    inputs = slab_inputs(pair, plan, slice(8, 14))
    rule = FusionControls(curve_strength=1.0, equalise=0.4, emphasis=0.5, detail_strength=0.0, arbitration_bias=0.7)
    # the network's own path: a residual scaled to almost nothing still runs the encoder and both experts
    through_network = decode_slab(pet_fuser, pet_fuser.encode_batch(inputs.a, inputs.b), inputs, plan, replace(rule, detail_strength=1e-30), maps=True)

    def no_encoding(*args, **kwargs):
        raise AssertionError("the encoder ran for a rule whose residual is scaled to 0")

    monkeypatch.setattr(pet_fuser.model, "encode", no_encoding)
    cheap = fuse_inputs(pet_fuser, inputs, plan, rule, maps=True, mask_maps=True)
    assert set(cheap.maps) == set(through_network.maps) == {"reliability_a", "reliability_b", "arbitration"}
    np.testing.assert_allclose(cheap.fused, through_network.fused, atol=1e-6)
    foreground = inputs.foreground
    for name, values in through_network.maps.items():
        np.testing.assert_allclose(cheap.maps[name], values * foreground, atol=1e-6, err_msg=name)
    assert np.ptp(cheap.maps["arbitration"][foreground]) > 0.01  # a map, not a constant
