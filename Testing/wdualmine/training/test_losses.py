import torch

from wdualmine.training.losses import box_ssim, correlation, soft_mutual_information


def test_correlation():
    x = torch.rand(3, 1, 8, 8)
    assert torch.allclose(correlation(x, x), torch.ones(3), atol=1e-5)
    assert torch.allclose(correlation(x, -2 * x + 1), -torch.ones(3), atol=1e-5)


def test_soft_mi_prefers_dependence():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, 32, 32, generator=g)
    noise = torch.rand(2, 1, 32, 32, generator=g)
    assert (soft_mutual_information(x, x) > soft_mutual_information(x, noise) + 0.5).all()
    assert (soft_mutual_information(x, noise) >= -1e-4).all()


def test_box_ssim_is_one_for_identical_images_and_punishes_grey_background():
    x = torch.zeros(1, 1, 32, 32)
    x[..., 12:20, 12:20] = torch.rand(8, 8)
    assert torch.allclose(box_ssim(x, x), torch.ones(1))
    assert box_ssim(x + 0.05, x) < 0.7


def test_soft_qabf_matches_the_r1_metric():
    import numpy as np

    from wdualmine.metrics import qabf, r1_stretch
    from wdualmine.training.losses import soft_qabf

    g = torch.Generator().manual_seed(1)
    smooth = torch.nn.functional.avg_pool2d(torch.rand(3, 1, 70, 70, generator=g), 7, 1)  # 64 x 64 with structure
    a = torch.round(smooth[:1] * 255) / 255
    b = torch.round(smooth[1:2] * 255) / 255
    fused = 0.6 * a + 0.4 * b + 0.1 * smooth[2:]
    expected = qabf(r1_stretch(fused[0, 0].double().numpy()), a[0, 0].double().numpy() * 255, b[0, 0].double().numpy() * 255)
    # the metric rounds the stretched image; the loss does not
    assert abs(float(soft_qabf(fused, a, b)) - expected) < 0.01
    assert np.isfinite(expected)


def test_hinge_terms_cost_nothing_above_the_average_and_something_below():
    from wdualmine.network.model import FusionOutput
    from wdualmine.training.losses import FusionLoss, LossWeights

    g = torch.Generator().manual_seed(2)
    a, b = torch.rand(2, 1, 32, 32, generator=g), torch.rand(2, 1, 32, 32, generator=g)
    loss = FusionLoss(LossWeights(hinge=1, mi_bins=0, gradient=0, ssim=0, qabf=1, cc_margin=0.0, mi_margin=0.0))

    def output(fused):
        zero = torch.zeros_like(a)
        return FusionOutput(fused=fused, base=fused, residual=zero, reliability_a=zero, reliability_b=zero,
                            arbitration=zero, spatial=zero, wavelet=zero)

    _, at_average = loss(a, b, output(0.5 * (a + b)))
    assert at_average["cc"] == 0.0 and at_average["mi"] == 0.0
    _, noisy = loss(a, b, output(0.5 * (a + b) + 0.3 * torch.rand(2, 1, 32, 32, generator=g)))
    assert noisy["cc"] > 0.0 and noisy["mi"] > 0.0
    assert 0.0 < at_average["qabf"] < 1.0
    _, with_margin = FusionLoss(LossWeights(cc_margin=0.004, mi_margin=0.02))(a, b, output(0.5 * (a + b)))
    assert abs(with_margin["cc"] - 0.004) < 1e-5 and abs(with_margin["mi"] - 0.02) < 1e-4  # the average owes the margins
