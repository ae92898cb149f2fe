import numpy as np
import torch

from wdualmine.controls import FusionControls
from wdualmine.network import WDualMineNet
from wdualmine.network.reliability import ReliabilityCurve, bilinear_lookup, weight_at_scale


def test_lookup_is_exact_at_knots_and_bilinear_between():
    table = torch.arange(9.0).view(3, 3)  # value = 3 * i + j at (a, b) = (i / 2, j / 2)
    a = torch.tensor([0.0, 0.5, 1.0, 0.25, 0.75])
    b = torch.tensor([0.0, 1.0, 0.5, 0.25, 0.5])
    # a bilinear table of a bilinear function reproduces it everywhere: 3 * 2a + 2b
    assert torch.allclose(bilinear_lookup(table, a, b), 6 * a + 2 * b)


def test_untrained_curve_is_the_plain_average_and_bias_shifts_trust():
    curve = ReliabilityCurve()
    a, b = torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 16)
    weight, gain = curve(a, b)
    assert torch.equal(weight, torch.full_like(a, 0.5)) and torch.equal(gain, torch.ones_like(a))
    towards_a, _ = curve(a, b, bias=1.0)
    assert torch.allclose(towards_a, torch.full_like(a, 1 / (1 + np.exp(-2.0))))


def net_with_a_curve(seed: int) -> WDualMineNet:
    """An untrained network whose reliability curve has been given random, non-trivial tables."""
    torch.manual_seed(seed)
    net = WDualMineNet().eval()
    with torch.no_grad():
        net.reliability.logits.normal_(0, 1)
        net.reliability.log_gain.normal_(0, 0.2)
    return net


def test_curve_output_is_a_function_of_the_pixel_pair_only():
    # a trained curve must map equal (a, b) pairs to equal outputs wherever they are:
    # that is what keeps the evaluation's grey-level MI (shuffling pixels shuffles the output)
    net = net_with_a_curve(0)
    a = torch.rand(1, 1, 32, 32) * (torch.rand(1, 1, 32, 32) > 0.2)
    b = torch.rand(1, 1, 32, 32)
    order = torch.randperm(32 * 32)
    shuffle = lambda x: x.flatten()[order].view_as(x)  # noqa: E731
    with torch.inference_mode():
        base = net(a, b, FusionControls(detail_strength=0.0)).fused
        shuffled = net(shuffle(a), shuffle(b), FusionControls(detail_strength=0.0)).fused
    assert torch.allclose(shuffle(base), shuffled, atol=1e-6)
    assert not torch.allclose(base, 0.5 * (a + b), atol=1e-3)  # and the curve does change the image


def test_weight_at_scale_averages_down():
    weight = torch.zeros(1, 1, 8, 8)
    weight[..., :4, :] = 1.0
    small = weight_at_scale(weight, torch.empty(1, 3, 2, 2))
    assert torch.equal(small, torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]]))


@torch.inference_mode()
def test_curve_strength_runs_from_the_plain_average_to_the_trained_curve():
    net = net_with_a_curve(1)
    a, b = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
    off = net(a, b, FusionControls(curve_strength=0.0))
    assert torch.allclose(off.reliability_a, a / (a + b), atol=1e-6)  # A's share of the 50/50 average
    assert torch.allclose(off.base, 0.5 * (a + b), atol=1e-6)
    half = net(a, b, FusionControls(curve_strength=0.5))
    full = net(a, b, FusionControls())
    # the reliability map lies between 50/50 and the trained curve's at every pixel
    low = torch.minimum(full.reliability_a, off.reliability_a)
    high = torch.maximum(full.reliability_a, off.reliability_a)
    assert ((half.reliability_a >= low - 1e-7) & (half.reliability_a <= high + 1e-7)).all()
    assert (half.base - off.base).abs().mean() < (full.base - off.base).abs().mean()
