"""The W-DUALMINE network: reliability-weighted dual-expert fusion with residual-to-average output."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ..controls import FusionControls
from .arbitration import SoftGradientArbiter
from .encoder import SiameseEncoder
from .reliability import ReliabilityCurve, hot_levels, weight_at_scale, weighted_fusion
from .residual import ResidualToAverage, foreground_mask, fusion_terms, needs_rolloff
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

    def base_and_share(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        controls: FusionControls = FusionControls(),
        statistics: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The per-pixel part of the fusion at any resolution: (base, A's share of it, A's curve weight).

        ``statistics`` (N x 4: the sources' standard deviations, then A's two hot
        levels) fixes the per-image normalisations, e.g. to whole-volume values;
        without it each image's own are used. The pipeline calls this at the
        volume's native resolution, so the pixel-wise rule is never resampled.
        """
        scales = statistics[:, :2] if statistics is not None else None
        hot = statistics[:, 2:4] if statistics is not None and statistics.shape[1] >= 4 else None
        if self.config.reliability_maps:
            if controls.emphasis and hot is None:
                hot = hot_levels(a)
            tables = None
            if controls.pair_curve is not None:
                tables = tuple(torch.tensor(t, dtype=a.dtype, device=a.device) for t in controls.pair_curve)
            weight_a, gain = self.reliability(
                a, b, controls.reliability_bias, controls.curve_strength, controls.emphasis, hot, tables
            )
        else:
            weight_a, gain = torch.full_like(a, 0.5), None
        base, share = fusion_terms(
            a, b, controls.base, controls.base_power, scales,
            weight_a if self.config.reliability_maps else None, gain, controls.equalise,
        )
        return base * foreground_mask(a, b), share, weight_a  # a gain cannot lift the background off 0

    def decode(
        self,
        encoded: EncodedPair,
        controls: FusionControls = FusionControls(),
        scales: torch.Tensor | None = None,
    ) -> FusionOutput:
        """Fuse an encoded pair under the given controls.

        ``scales`` (N x 4 statistics, see ``base_and_share``; N x 2 standard
        deviations also accepted) fixes the normalisations, e.g. to whole-volume values.
        """
        config = self.config
        a, b = encoded.a, encoded.b
        base, share, weight_a = self.base_and_share(a, b, controls, scales)
        weights = [weight_at_scale(weight_a, fa) for fa in encoded.features_a]
        fused_features = [weighted_fusion(fa, fb, w) for fa, fb, w in zip(encoded.features_a, encoded.features_b, weights)]

        spatial = self.spatial_expert(fused_features)
        wavelet = self.wavelet_expert(encoded.low, encoded.detail, fused_features[1], weights[1]) - base
        gate = self.gate(encoded.gradients, controls.arbitration_bias)
        if config.residual_to_average:
            fused, residual = self.output(
                base, gate * wavelet + (1 - gate) * spatial, encoded.foreground, controls.detail_strength, needs_rolloff(controls)
            )
        else:  # ablation: the experts' images are the output, no base average
            direct = gate * (wavelet + base) + (1 - gate) * torch.sigmoid(spatial)
            fused = direct.clamp(0.0, 1.0) * encoded.foreground
            residual = fused - base

        return FusionOutput(
            fused=fused,
            base=base,
            residual=residual,
            reliability_a=share,
            reliability_b=1.0 - share,
            arbitration=gate,
            spatial=spatial,
            wavelet=wavelet,
        )

    def gate(self, gradients: torch.Tensor, bias: float = 0.0) -> torch.Tensor:
        """The arbitration map (the wavelet expert's share of the residual) from ``SoftGradientArbiter.gradients``.

        It needs only the two sources' gradients, not the encoding, so the map can be shown cheaply where
        the residual is scaled to 0 and the rest of the network need not run.
        """
        like = gradients[:, :1]
        if not self.config.wavelet_expert:  # ablations: only the spatial expert, or an even split
            return torch.zeros_like(like)
        if not self.config.arbitration:
            return torch.full_like(like, 0.5)
        return self.arbiter(gradients, bias)

    def forward(self, a: torch.Tensor, b: torch.Tensor, controls: FusionControls = FusionControls()) -> FusionOutput:
        return self.decode(self.encode(a, b), controls)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
