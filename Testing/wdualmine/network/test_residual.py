import torch

from wdualmine.network.residual import HIGHLIGHT_KNEE, ResidualToAverage, foreground_mask, fusion_base, highlight_rolloff


def plain_average(a, b):
    return fusion_base(a, b)


def zscored_average(a, b, scales=None):
    return fusion_base(a, b, "zscore", 1.0, scales)


def test_zscored_average_equals_plain_when_scales_match():
    a, b = torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8)
    scales = torch.full((2, 2), 0.3)
    assert torch.allclose(zscored_average(a, b, scales), plain_average(a, b))


def test_zscored_average_keeps_zero_background_and_reaches_the_cc_ceiling():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(1, 1, 16, 16, generator=g), 3 * torch.rand(1, 1, 16, 16, generator=g)
    a[..., :4, :], b[..., :4, :] = 0, 0
    z = zscored_average(a, b)
    assert torch.count_nonzero(z[..., :4, :]) == 0

    def corr(x, y):
        x, y = x.flatten() - x.mean(), y.flatten() - y.mean()
        return float((x @ y) / (x.norm() * y.norm()))

    rho = corr(a, b)
    ceiling = ((1 + rho) / 2) ** 0.5
    assert abs(0.5 * (corr(z, a) + corr(z, b)) - ceiling) < 1e-5
    assert 0.5 * (corr(plain_average(a, b), a) + corr(plain_average(a, b), b)) <= ceiling + 1e-6


def test_residual_is_bounded_masked_and_scaled_by_strength():
    head = ResidualToAverage(bound=0.2)
    base = torch.full((1, 1, 4, 4), 0.5)
    raw = torch.full_like(base, 100.0)
    mask = torch.ones_like(base)
    mask[..., 0, :] = 0
    fused, residual = head(base, raw, mask, strength=0.5)
    assert torch.allclose(residual[..., 1:, :], torch.full((3, 4), 0.2))
    assert torch.count_nonzero(residual[..., 0, :]) == 0
    assert torch.allclose(fused[..., 1:, :], torch.full((3, 4), 0.6))
    assert torch.count_nonzero(fused[..., 0, :]) == 0


def test_foreground_mask():
    a = torch.tensor([[[[0.0, 0.5, 0.0]]]])
    b = torch.tensor([[[[0.0, 0.0, 0.9]]]])
    assert foreground_mask(a, b).flatten().tolist() == [0.0, 1.0, 1.0]


def test_power_mean_base():
    a = torch.tensor([[[[0.0, 0.2, 0.8, 0.0]]]])
    b = torch.tensor([[[[0.0, 0.6, 0.0, 0.5]]]])
    assert torch.allclose(fusion_base(a, b, power=1.0), 0.5 * (a + b))
    p2 = fusion_base(a, b, power=2.0)
    # ((0.2**2 + 0.6**2) / 2) ** 0.5 = 0.2 ** 0.5; ((0.8**2) / 2) ** 0.5 = 0.8 / 2 ** 0.5
    assert torch.allclose(p2, torch.tensor([[[[0.0, 0.2**0.5, 0.8 / 2**0.5, 0.5 / 2**0.5]]]]))
    assert p2[..., 0].item() == 0.0  # background stays exactly 0
    assert (fusion_base(a, b, power=3.0) >= p2 - 1e-7).all()  # power means grow with p


def test_highlight_rolloff_keeps_order_instead_of_clipping():
    x = torch.linspace(0, 1.5, 301)
    y = highlight_rolloff(x)
    below = x <= HIGHLIGHT_KNEE
    assert torch.equal(y[below], x[below])  # untouched below the knee
    assert float(y.max()) < 1.0 and (torch.diff(y) > 0).all()  # never reaches 1, strictly increasing
    step = 1e-4
    slope = (highlight_rolloff(torch.tensor(HIGHLIGHT_KNEE + step)) - HIGHLIGHT_KNEE) / step
    assert abs(float(slope) - 1.0) < 1e-2  # no kink at the knee
