"""The torch metrics the curve adaptation follows equal the protocol's numpy metrics on 8-bit images."""

import numpy as np
import pytest
import torch

from wdualmine.metrics import cc, mi, qabf, ssim, vif
from wdualmine.metrics import differentiable as dm
from wdualmine.metrics.flat_noise import local_sd


def images(seed=0, shape=(2, 64, 72)):
    rng = np.random.default_rng(seed)
    a = np.round(np.clip(rng.random(shape) ** 2 * 255, 0, 255))
    a[:, :, :20] = 0  # background, where R1's special cases (flat references, zero gradients) apply
    b = np.round(np.clip(0.5 * a + rng.normal(60, 25, shape), 0, 255))
    f = np.round(0.6 * a + 0.4 * b)
    return f, a, b


@pytest.mark.parametrize("name", ["CC", "SSIM", "VIF", "Qabf", "MI"])
def test_torch_metric_equals_numpy_metric_on_integer_images(name):
    f, a, b = images()
    numpy_metric = {"CC": cc, "SSIM": ssim, "VIF": vif, "Qabf": qabf, "MI": mi}[name]
    torch_metric = {"CC": dm.cc, "SSIM": dm.ssim, "VIF": dm.vif, "Qabf": dm.qabf, "MI": dm.mi}[name]
    expected = [numpy_metric(f[k], a[k], b[k]) for k in range(f.shape[0])]
    got = torch_metric(*(torch.from_numpy(x) for x in (f, a, b))).tolist()
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_local_sd_equals_the_flat_noise_check():
    f, _, _ = images()
    expected = np.stack([local_sd(f[k]) for k in range(f.shape[0])])
    assert dm.local_sd(torch.from_numpy(f)).numpy() == pytest.approx(expected, abs=1e-6)


def test_stretch_spans_0_to_255_per_slice():
    f = torch.tensor(np.stack([np.linspace(3, 7, 64).reshape(8, 8), np.linspace(-1, 1, 64).reshape(8, 8)]))
    s = dm.stretch(f)
    assert s.amin(dim=(1, 2)).tolist() == [0, 0] and s.amax(dim=(1, 2)).tolist() == pytest.approx([255, 255])


def test_smoothed_qabf_and_mi_have_bounded_gradients_where_the_exact_ones_do_not():
    f, a, b = images(seed=1)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    weight = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)
    fused = dm.stretch(weight * ta + (1 - weight) * tb + 0.3 * ta * tb / 255)
    for value in (dm.qabf(fused, ta, tb, smooth=1.0).sum(), dm.mi(fused, ta, tb, smooth=1.0).sum()):
        (gradient,) = torch.autograd.grad(value, weight, retain_graph=True)
        assert torch.isfinite(gradient) and abs(gradient.item()) < 1e3
    # the smoothing only changes the values a little (Qabf: the floor of 1 Sobel unit on F's strength)
    exact = dm.qabf(fused, ta, tb).detach()
    smoothed = dm.qabf(fused, ta, tb, smooth=1.0).detach()
    assert torch.allclose(exact, smoothed, atol=0.01)


def test_ordered_sums_do_not_depend_on_the_thread_count():
    from wdualmine.metrics.differentiable import ordered_mean, ordered_sum

    x = torch.from_numpy(np.random.default_rng(0).normal(size=(3, 1000, 1001)).astype(np.float32))
    sums = []
    for threads in (1, 2, 4):
        torch.set_num_threads(threads)
        sums.append((ordered_sum(x), ordered_sum(x, 1), ordered_mean(x[0])))
    for other in sums[1:]:
        assert all(torch.equal(s, o) for s, o in zip(sums[0], other))
    total, per_slice, mean = sums[0]
    assert float(total) == pytest.approx(float(x.double().sum()), abs=1e-2)
    assert torch.allclose(per_slice.double(), x.double().sum((1, 2)), atol=1e-2)
    assert float(mean) == pytest.approx(float(x[0].double().mean()), abs=1e-6)
