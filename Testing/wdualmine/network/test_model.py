import pytest
import torch

from wdualmine.controls import FusionControls
from wdualmine.network import WDualMineNet, count_parameters
from wdualmine.network.residual import fusion_base, highlight_rolloff


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return WDualMineNet().eval()


def pair(n=2, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(n, 1, size, size, generator=g)
    b = torch.rand(n, 1, size, size, generator=g)
    a[..., :6, :] = 0  # a background band where both inputs are 0
    b[..., :6, :] = 0
    return a, b


def test_small_model():
    assert count_parameters(WDualMineNet()) < 2_000_000


@torch.inference_mode()
def test_outputs_have_input_shape_and_ranges(net):
    a, b = pair()
    out = net(a, b)
    for name in ("fused", "base", "residual", "reliability_a", "reliability_b", "arbitration"):
        assert getattr(out, name).shape == a.shape, name
    assert out.fused.min() >= 0 and out.fused.max() <= 1
    assert torch.allclose(out.reliability_a + out.reliability_b, torch.ones_like(a))
    assert ((out.arbitration >= 0) & (out.arbitration <= 1)).all()
    assert out.residual.abs().max() <= net.config.residual_bound + 1e-6


@torch.inference_mode()
def test_background_stays_exactly_zero(net):
    a, b = pair()
    out = net(a, b, FusionControls(detail_strength=2.0, arbitration_bias=4.0))
    assert torch.count_nonzero(out.fused[..., :6, :]) == 0


@torch.inference_mode()
def test_untrained_reliability_is_each_sources_share_of_an_exact_average(net):
    a, b = pair()
    out = net(a, b)
    total = a + b
    # the map is what A contributes to the 50/50 average at each pixel (w_A = 0.5 where both are 0)
    expected = torch.where(total > 1e-12, a / total.clamp_min(1e-12), torch.full_like(a, 0.5))
    assert torch.allclose(out.reliability_a, expected, atol=1e-6)
    assert torch.allclose(out.reliability_a + out.reliability_b, torch.ones_like(a))


@torch.inference_mode()
def test_functional_emphasis_raises_a_share_only_where_a_is_hot(net):
    a, b = pair()
    plain = net(a, b, FusionControls(detail_strength=0.0))
    emphasised = net(a, b, FusionControls(detail_strength=0.0, emphasis=1.0))
    hot = a > torch.quantile(a[a > 0], 0.995)
    cold = (a > 0) & (a < torch.quantile(a[a > 0], 0.85))
    assert (emphasised.reliability_a[hot] > plain.reliability_a[hot]).all()
    assert (emphasised.reliability_a[hot] > 0.95).all()
    assert torch.allclose(emphasised.reliability_a[cold], plain.reliability_a[cold])


@torch.inference_mode()
def test_equalise_one_is_the_zscored_base(net):
    a, b = pair()
    half = net(a, b, FusionControls(detail_strength=0.0, equalise=1.0))
    zscored = net(a, b, FusionControls(detail_strength=0.0, base="zscore"))
    assert torch.equal(half.fused, zscored.fused)


@torch.inference_mode()
def test_zero_detail_gives_the_base_average(net):
    a, b = pair()
    out = net(a, b, FusionControls(detail_strength=0.0))
    assert torch.allclose(out.fused, highlight_rolloff(fusion_base(a, b)))
    powered = net(a, b, FusionControls(detail_strength=0.0, base="zscore", base_power=1.5))
    assert torch.allclose(powered.fused, highlight_rolloff(fusion_base(a, b, "zscore", 1.5)))


@torch.inference_mode()
def test_encode_decode_equals_forward(net):
    a, b = pair()
    controls = FusionControls(detail_strength=1.5, reliability_bias=0.5, arbitration_bias=-1.0)
    assert torch.equal(net(a, b, controls).fused, net.decode(net.encode(a, b), controls).fused)


@torch.inference_mode()
def test_controls_move_the_maps_the_right_way(net):
    a, b = pair()
    encoded = net.encode(a, b)
    towards_a = net.decode(encoded, FusionControls(reliability_bias=1.0))
    towards_b = net.decode(encoded, FusionControls(reliability_bias=-1.0))
    neutral = net.decode(encoded, FusionControls())
    anatomy = (a > 0) & (b > 0)  # where both contribute, A's share moves with the bias
    assert (towards_a.reliability_a[anatomy] > neutral.reliability_a[anatomy]).all()
    assert (towards_b.reliability_a[anatomy] < neutral.reliability_a[anatomy]).all()
    wavelet = net.decode(encoded, FusionControls(arbitration_bias=2.0)).arbitration
    spatial = net.decode(encoded, FusionControls(arbitration_bias=-2.0)).arbitration
    # (a sigmoid saturates to exactly 1 in float32 on strong edges, hence >=)
    assert (wavelet >= spatial).all() and (wavelet > spatial).float().mean() > 0.5


def test_rejects_sizes_the_network_cannot_take(net):
    with pytest.raises(ValueError, match="multiples of 8"):
        net(torch.rand(1, 1, 30, 32), torch.rand(1, 1, 30, 32))
    with pytest.raises(ValueError, match="one shape"):
        net(torch.rand(1, 1, 32, 32), torch.rand(1, 1, 40, 32))


def test_trains_end_to_end():
    """Every component receives gradient (none is dead weight)."""
    torch.manual_seed(1)
    net = WDualMineNet()
    # move the zero-initialised heads off zero so gradients reach the layers behind them
    with torch.no_grad():
        for p in net.parameters():
            if p.abs().sum() == 0:
                p.normal_(0, 0.01)
    a, b = pair(size=32)
    net(a, b).fused.sum().backward()
    for name in ("encoder", "reliability", "spatial_expert", "wavelet_expert", "arbiter"):
        grads = [p.grad for n, p in net.named_parameters() if n.startswith(name)]
        assert grads and all(g is not None for g in grads), name
        assert sum(float(g.abs().sum()) for g in grads) > 0, name


@pytest.mark.parametrize("switch", ["reliability_maps", "wavelet_expert", "arbitration", "residual_to_average"])
@torch.inference_mode()
def test_ablation_switches(switch):
    from wdualmine.network import ModelConfig

    torch.manual_seed(0)
    net = WDualMineNet(ModelConfig(**{switch: False})).eval()
    a, b = pair()
    out = net(a, b, FusionControls(reliability_bias=1.0, arbitration_bias=2.0))
    assert out.fused.shape == a.shape and torch.count_nonzero(out.fused[..., :6, :]) == 0
    if switch == "reliability_maps":
        # the bias has nothing to shift: the map is A's share of the plain average
        share = torch.where(a + b > 1e-12, a / (a + b).clamp_min(1e-12), torch.full_like(a, 0.5))
        assert torch.allclose(out.reliability_a, share, atol=1e-6)
        assert torch.equal(out.base, 0.5 * (a + b))  # and the base is the plain average
    if switch == "wavelet_expert":
        assert torch.count_nonzero(out.arbitration) == 0
    if switch == "arbitration":
        assert torch.equal(out.arbitration, torch.full_like(a, 0.5))
    if switch == "residual_to_average":
        # detail strength no longer scales anything: the output is the experts' image
        assert torch.equal(out.fused, net(a, b, FusionControls(detail_strength=0.0, reliability_bias=1.0, arbitration_bias=2.0)).fused)
