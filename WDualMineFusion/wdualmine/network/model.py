"""The W-DUALMINE network: reliability-weighted dual-expert fusion with residual-to-average output."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ..controls import FusionControls
from .arbitration import SoftGradientArbiter
from .encoder import SiameseEncoder
from .reliability import ReliabilityCurve, weight_at_scale, weighted_fusion
from .residual import ResidualToAverage, foreground_mask, fusion_base
from .spatial_expert import SpatialExpert
from .wavelet_expert import WaveletExpert

# Height and width must be multiples of this (three stride-2 stages and a DWT).
SIZE_MULTIPLE = 8


@dataclass(frozen=True)
class ModelConfig:
    channels: tuple[int, ...] = (8, 16, 24, 32)
    wave: str = "haar"
    residual_bound: float = 0.25
    # ablation switches (all on in the shipped models): without reliability maps the
    # base is the plain average and the features are averaged 50/50; without the
    # wavelet expert only the spatial one is used; without arbitration the gate is
    # a fixed 0.5; without residual-to-average the experts output the fused image directly
    reliability_maps: bool = True
    wavelet_expert: bool = True
    arbitration: bool = True
    residual_to_average: bool = True

    def as_dict(self) -> dict:
        return {**asdict(self), "channels": list(self.channels)}

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        values = dict(values)
        values["channels"] = tuple(values.get("channels", cls.channels))
        return cls(**values)


@dataclass
class EncodedPair:
    """Everything that depends only on the two input images, not on the controls.

    The live preview caches this per slice and re-runs only ``decode`` when a
    slider moves.
    """

    a: torch.Tensor
    b: torch.Tensor
    features_a: list[torch.Tensor]
    features_b: list[torch.Tensor]
    low: torch.Tensor
    detail: torch.Tensor
    gradients: torch.Tensor
    foreground: torch.Tensor


@dataclass
class FusionOutput:
    """Fused image and the intermediate maps a user inspects, all N x 1 x H x W in [0, 1] (residuals signed)."""

    fused: torch.Tensor
    base: torch.Tensor
    residual: torch.Tensor
    reliability_a: torch.Tensor
    reliability_b: torch.Tensor
    arbitration: torch.Tensor  # weight of the wavelet expert; 1 - it is the spatial expert's
    spatial: torch.Tensor = field(repr=False)
    wavelet: torch.Tensor = field(repr=False)


class WDualMineNet(nn.Module):
    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        self.config = config or ModelConfig()
        channels = self.config.channels
        self.encoder = SiameseEncoder(channels)
        self.reliability = ReliabilityCurve()
        self.spatial_expert = SpatialExpert(channels)
        self.wavelet_expert = WaveletExpert(channels[1], wave=self.config.wave)
        self.arbiter = SoftGradientArbiter()
        self.output = ResidualToAverage(self.config.residual_bound)

    def encode(self, a: torch.Tensor, b: torch.Tensor) -> EncodedPair:
        """Encode a batch of image pairs (N x 1 x H x W each, values in [0, 1])."""
        if a.shape != b.shape or a.dim() != 4 or a.shape[1] != 1:
            raise ValueError(f"expected two N x 1 x H x W tensors of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
        if a.shape[-1] % SIZE_MULTIPLE or a.shape[-2] % SIZE_MULTIPLE:
            raise ValueError(f"height and width must be multiples of {SIZE_MULTIPLE}, got {tuple(a.shape[-2:])}")
        low, detail = self.wavelet_expert.transform(a, b)
        return EncodedPair(
            a=a,
            b=b,
            features_a=self.encoder(a),
            features_b=self.encoder(b),
            low=low,
            detail=detail,
            gradients=self.arbiter.gradients(a, b),
            foreground=foreground_mask(a, b),
        )

    def decode(
        self,
        encoded: EncodedPair,
        controls: FusionControls = FusionControls(),
        scales: torch.Tensor | None = None,
    ) -> FusionOutput:
        """Fuse an encoded pair under the given controls.

        ``scales`` (N x 2 standard deviations) fixes the z-scored base's
        normalisation, e.g. to whole-volume values.
        """
        config = self.config
        a, b = encoded.a, encoded.b
        if config.reliability_maps:
            weight_a, gain = self.reliability(a, b, controls.reliability_bias, controls.curve_strength)
        else:
            weight_a, gain = torch.full_like(a, 0.5), None
        weights = [weight_at_scale(weight_a, fa) for fa in encoded.features_a]
        fused_features = [weighted_fusion(fa, fb, w) for fa, fb, w in zip(encoded.features_a, encoded.features_b, weights)]
        base = fusion_base(a, b, controls.base, controls.base_power, scales, weight_a if config.reliability_maps else None, gain)
        base = base * encoded.foreground  # a gain cannot lift the background off 0

        spatial = self.spatial_expert(fused_features)
        wavelet = self.wavelet_expert(encoded.low, encoded.detail, fused_features[1], weights[1]) - base
        if not config.wavelet_expert:
            gate = torch.zeros_like(base)
        elif not config.arbitration:
            gate = torch.full_like(base, 0.5)
        else:
            gate = self.arbiter(encoded.gradients, controls.arbitration_bias)
        if config.residual_to_average:
            fused, residual = self.output(base, gate * wavelet + (1 - gate) * spatial, encoded.foreground, controls.detail_strength)
        else:  # ablation: the experts' images are the output, no base average
            direct = gate * (wavelet + base) + (1 - gate) * torch.sigmoid(spatial)
            fused = direct.clamp(0.0, 1.0) * encoded.foreground
            residual = fused - base

        reliability_a = weight_a
        return FusionOutput(
            fused=fused,
            base=base,
            residual=residual,
            reliability_a=reliability_a,
            reliability_b=1.0 - reliability_a,
            arbitration=gate,
            spatial=spatial,
            wavelet=wavelet,
        )

    def forward(self, a: torch.Tensor, b: torch.Tensor, controls: FusionControls = FusionControls()) -> FusionOutput:
        return self.decode(self.encode(a, b), controls)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
