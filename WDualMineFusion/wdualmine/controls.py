"""User controls that change the fusion at inference time, without retraining."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

# the fusion tasks, one shipped model each: the modality of the functional/CT input (the other is an MRI)
TASKS = ("ct", "pet", "spect")
BASES = ("plain", "zscore")
# bounds of an adapted curve's tables (A's log-odds, log gain): w_A stays in (0.0003, 0.9997), the gain in (0.14, 7.4)
PAIR_CURVE_LIMITS = (8.0, 2.0)
PAIR_CURVE_KNOTS = (2, 65)

# (minimum, maximum) of each numeric control; the CLI, the Slicer sliders and
# the validation below all read this table.
CONTROL_RANGES = {
    "detail_strength": (0.0, 2.0),
    "reliability_bias": (-2.0, 2.0),
    "arbitration_bias": (-4.0, 4.0),
    "base_power": (1.0, 3.0),
    "curve_strength": (0.0, 1.0),
    "equalise": (0.0, 1.0),
    "emphasis": (0.0, 1.0),
}


@dataclass(frozen=True)
class FusionControls:
    """Inference-time knobs of the W-DUALMINE network.

    detail_strength: scales the experts' residual R in F = base + s * R.
        0 gives the reliability-weighted base exactly (a per-pixel function of
        the two grey levels); 1 is the trained operating point; up to 2 adds
        more local detail at the cost of mutual information.
    reliability_bias: shifts the dense reliability map (the learned curve's
        weight of modality A) toward A (> 0, the CT/PET/SPECT input) or B (< 0,
        the MRI), in half-logit units: +1 multiplies A's odds by e**2 at every pixel.
    arbitration_bias: shifts the arbitration gate toward the wavelet expert (> 0,
        sharper edges) or the spatial expert (< 0, smoother), in logit units.
    base: what the reliability weights combine: "plain", the sources as they
        are, or "zscore", each source divided by its standard deviation first, which
        maximises the mean correlation with both sources but gives the
        higher-variance modality's edges less weight.
    base_power: p of the base's weighted power mean (w A**p + (1 - w) B**p)**(1/p),
        1 to 3: 1 is the arithmetic mean; above 1 each pixel leans toward the
        brighter source, which keeps edges that only one modality shows (Qabf,
        VIF, and the grey-level MI rise) at some cost in CC.
    curve_strength: how much of the learned reliability curve to apply, 0 to 1:
        0 gives the plain 50/50 average as the base (weight 0.5, gain 1 at every
        pixel), 1 the trained curve; in between, the curve's log-odds and log-gain
        are scaled. A fallback where the curve does not suit the images (it is
        learned on AANLIB's 8-bit slices).
    equalise: partial equalisation of the two inputs' contrast before they are
        combined, 0 to 1: each source is scaled by (mean sd / its sd) ** equalise,
        so 0 leaves them as they are and 1 is the z-scored base. More raises the
        correlation with both sources (CC) and the weaker modality's visibility.
    emphasis: functional emphasis, 0 to 1: raises the weight of A (CT/PET/SPECT)
        where A is in the brightest part of its own range (above its 90th
        foreground percentile, fully at the 99.5th), so a hot lesion or dense
        bone keeps its contrast in the fused image. 0 leaves the weights alone.
    pair_curve: a reliability curve adapted to this pair of images (auto's
        per-pair adaptation, ``curve_adaptation``): two K x K tables over the two
        grey levels, A's log-odds and the log gain, used in place of the model's
        learned curve; curve_strength scales it as it scales the learned one.
        None (default): the model's own curve.
    """

    detail_strength: float = 1.0
    reliability_bias: float = 0.0
    arbitration_bias: float = 0.0
    base: str = "plain"
    base_power: float = 1.0
    curve_strength: float = 1.0
    equalise: float = 0.0
    emphasis: float = 0.0
    pair_curve: tuple | None = None

    def __post_init__(self):
        for name, (low, high) in CONTROL_RANGES.items():
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not low <= float(value) <= high:
                raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")
        if self.base not in BASES:
            raise ValueError(f"base must be one of {', '.join(BASES)}, got {self.base!r}")
        if self.pair_curve is not None:
            object.__setattr__(self, "pair_curve", _checked_pair_curve(self.pair_curve))

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def arbitration_used(self) -> bool:
        """Whether the arbitration map shapes the fused image: it splits the experts' residual, so not at detail 0."""
        return self.detail_strength != 0


# said beside an arbitration map that was asked for but shapes nothing (auto's choices on volumes so far have
# no residual), so nobody reads the map as the reason for what the fused image shows
ARBITRATION_UNUSED = (
    "the arbitration map shapes nothing in this fusion: it splits the experts' residual between them, "
    "and the residual is off (detail 0)"
)


def _checked_pair_curve(curve) -> tuple:
    """The two tables as tuples of floats (JSON gives lists), or ValueError naming what is wrong."""
    try:
        tables = tuple(tuple(tuple(float(v) for v in row) for row in table) for table in curve)
    except (TypeError, ValueError):
        raise ValueError("pair_curve must be two square tables of numbers (log-odds, log gain)") from None
    low, high = PAIR_CURVE_KNOTS
    if len(tables) != 2 or any(len(t) != len(tables[0]) or any(len(row) != len(t) for row in t) for t in tables):
        raise ValueError("pair_curve must be two square tables of one size (log-odds, log gain)")
    if not low <= len(tables[0]) <= high:
        raise ValueError(f"pair_curve tables must have {low} to {high} knots per side, got {len(tables[0])}")
    for table, limit, name in zip(tables, PAIR_CURVE_LIMITS, ("log-odds", "log gain")):
        if not all(math.isfinite(v) and abs(v) <= limit for row in table for v in row):
            raise ValueError(f"pair_curve {name} must be finite numbers within +/-{limit:g}")
    return tables
