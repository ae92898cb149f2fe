import torch

from wdualmine.network.wavelet_expert import WaveletExpert


def test_identical_inputs_reconstruct_exactly():
    expert = WaveletExpert(feature_channels=4)
    image = torch.rand(2, 1, 16, 16)
    low, detail = expert.transform(image, image)
    features = torch.zeros(2, 4, 8, 8)
    out = expert(low, detail, features, torch.full((2, 1, 8, 8), 0.5))
    assert torch.allclose(out, image, atol=1e-5)


def test_detail_bands_follow_the_stronger_edge():
    expert = WaveletExpert(feature_channels=1)
    edge = torch.zeros(1, 1, 16, 16)
    edge[..., 8:] = 1.0  # a vertical edge between columns 7 and 8
    flat = torch.full_like(edge, 0.5)
    low, detail = expert.transform(edge, flat)
    out = expert(low, detail, torch.zeros(1, 1, 8, 8), torch.full((1, 1, 8, 8), 0.5))
    average = 0.5 * (edge + flat)
    # the soft max-abs rule keeps the edge's full contrast where the average halves it
    contrast_out = (out[..., 8:] .mean() - out[..., :8].mean()).item()
    contrast_avg = (average[..., 8:].mean() - average[..., :8].mean()).item()
    assert contrast_out >= contrast_avg - 1e-6
