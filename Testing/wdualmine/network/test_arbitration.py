import torch

from wdualmine.network.arbitration import SoftGradientArbiter, sobel_magnitude


def test_sobel_magnitude_of_a_ramp():
    ramp = torch.arange(8.0).repeat(8, 1).view(1, 1, 8, 8)  # +1 per column
    magnitude = sobel_magnitude(ramp)
    # inside: Sobel-x of a unit ramp is (1+2+1) * 2 = 8, Sobel-y is 0
    assert torch.allclose(magnitude[..., 1:-1, 1:-1], torch.full((6, 6), 8.0))


def test_edges_lean_to_the_wavelet_expert():
    arbiter = SoftGradientArbiter()
    a = torch.zeros(1, 1, 16, 16)
    a[..., 8:] = 1.0
    b = torch.zeros_like(a)
    gate = arbiter(arbiter.gradients(a, b))
    assert gate[..., 4, 8].item() > 0.9 and gate[..., 4, 2].item() < 0.2
    shifted = arbiter(arbiter.gradients(a, b), bias=3.0)
    unsaturated = gate < 0.99
    assert (shifted >= gate).all() and (shifted[unsaturated] > gate[unsaturated]).all()
