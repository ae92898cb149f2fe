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
