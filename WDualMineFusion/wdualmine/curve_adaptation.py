"""Per-pair adaptation of the dense reliability curve: fit the curve's tables to the user's own two images.

The shipped curve is a table over the absolute grey levels of AANLIB's 8-bit
slices, and no fixed table suits scanner volumes with their own windows and
contrasts. So the curve (A's weight w_A and a gain, each a K x K table over the
two grey levels; fused = gain * (w_A A + (1 - w_A) B)) is fitted to a few slices
of the pair itself: a few dozen gradient steps on the evaluation's own metrics
(torch versions, ``metrics.differentiable``) measured against the plain average
of the same slices, each in units of how far the max rule lies from the
average. The loss asks every metric to beat the average by its cushion (a
soft minimum over the margins) and, among such curves, for more gain
everywhere; a smoothness term keeps the tables free of ripples. Every few steps
the curve is scored with the exact metrics, and the best curve by auto's own
objective is kept; if none beats the average on every score, there is no
adapted curve. Unsupervised (no reference image), bounded (a fixed number of
steps on a fixed sample) and deterministic.

It starts from the plain average (tables at 0), so the first steps move only
where every metric can gain; the result is still a function of the two grey
levels at each pixel (no new structure, no smoothing across pixels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from .controls import PAIR_CURVE_LIMITS
from .metrics import differentiable as dm
from .network.reliability import bilinear_lookup
from .network.residual import BACKGROUND_LEVEL, compose_output, fusion_terms

if TYPE_CHECKING:
    from .auto_controls import PairScorer

KNOTS = 9  # per axis: 81 weights and 81 gains, smooth enough to fit on a few slices
STEPS = 64
CHECK_EVERY = 4  # exact scoring of the current curve (the surrogates only point the way)
LEARNING_RATE = 0.03
SMOOTHNESS = 0.1  # weight of the tables' squared second differences
SOFTNESS = 0.02  # temperature of the soft minimum over the margins (margin units)
TARGET = 0.02  # each margin is pushed this far above its cushion, so the exact scores keep some room
SURROGATE_SMOOTH = {"Qabf": 1.0, "MI": 1.0, "flat noise": 1.0}
# Big slices are fitted on a crop around the anatomy's centre: the curve is pixel-wise, so it carries over,
# and the fit's time grows with the pixels its filtering metrics see (about this many at most)
FIT_SIDE = 256
FIT_PIXELS = 8 * 192 * 192


@dataclass
class AdaptedCurve:
    tables: tuple  # (log-odds, log gain), K x K nested tuples, as FusionControls.pair_curve takes them
    objective: float  # auto's objective of the exact margins (minus infinity: it beat nothing)
    margins: dict[str, float]
    steps: int


def curve_fusion(a: torch.Tensor, b: torch.Tensor, logits: torch.Tensor, log_gain: torch.Tensor) -> torch.Tensor:
    """The fused slices (N x H x W in [0, 1)) of the curve, computed as the model computes them."""
    a4, b4 = a[:, None], b[:, None]
    weight_a = torch.sigmoid(bilinear_lookup(logits, a4, b4))
    gain = torch.exp(bilinear_lookup(log_gain, a4, b4))
    foreground = ((a4 > BACKGROUND_LEVEL) | (b4 > BACKGROUND_LEVEL)).to(a4.dtype)
    base, _ = fusion_terms(a4, b4, "plain", 1.0, None, weight_a, gain, 0.0)
    return compose_output(base * foreground, torch.zeros_like(base), foreground, 0.0, True)[:, 0]


class _Surrogate:
    """Torch scores of fused slices on the scorer's slices, as differences from the plain average's, in margin units."""

    def __init__(self, scorer: PairScorer, a: torch.Tensor, b: torch.Tensor):
        self.scorer = scorer
        self.a8, self.b8 = torch.round(a * 255), torch.round(b * 255)
        self.kept, self.detailed = scorer.kept, scorer.detailed
        self.hot = torch.from_numpy(scorer.hot)
        self.rest = torch.from_numpy(scorer.rest)
        self.flat = torch.from_numpy(np.stack([scorer.flat[k] for k in self.detailed])) if self.detailed else None
        with torch.no_grad():
            self.average = self.scores(0.5 * (a + b))

    def scores(self, fused: torch.Tensor) -> dict[str, torch.Tensor]:
        stretched = dm.stretch(fused)
        # rounded as the protocol's 8-bit round trip, so the values are the exact metrics' (gradients pass straight through)
        stretched = stretched + (torch.round(stretched) - stretched).detach()
        d, a8, b8 = self.detailed, self.a8, self.b8
        f, fa, fb = stretched[d], a8[d], b8[d]
        out = {
            "CC": dm.cc(stretched[self.kept], a8[self.kept], b8[self.kept]).mean(),
            "MI": dm.mi(f, fa, fb, SURROGATE_SMOOTH["MI"]).mean(),
            "VIF": dm.vif(f, fa, fb).mean(),
            "Qabf": dm.qabf(f, fa, fb, SURROGATE_SMOOTH["Qabf"]).mean(),
            "SSIM": dm.ssim(f, fa, fb).mean(),
        }
        around = fused[self.rest].mean() if self.rest.any() else fused.new_tensor(1.0)
        out["hot contrast"] = (fused[self.hot].mean() - around) / around.clamp_min(1e-6) if self.hot.any() else fused.new_tensor(0.0)
        if self.flat is not None and self.flat.any():
            out["flat noise"] = -dm.local_sd(f, SURROGATE_SMOOTH["flat noise"])[self.flat].mean()
        else:
            out["flat noise"] = fused.new_tensor(0.0)
        return out

    def margins(self, fused: torch.Tensor) -> dict[str, torch.Tensor]:
        scores = self.scores(fused)
        return {m: (scores[m] - self.average[m]) / self.scorer.scale[m] for m in scores}


def fitting_crops(a: np.ndarray, b: np.ndarray, side: int = FIT_SIDE) -> tuple[np.ndarray, np.ndarray, int]:
    """The sampled slices cropped to at most side x side around the centre of their anatomy, and how many of them
    to score on the filtering metrics (at least 3, at most 8, about FIT_PIXELS pixels)."""
    height, width = a.shape[-2:]
    if height > side or width > side:
        rows, cols = np.nonzero(((a > BACKGROUND_LEVEL) | (b > BACKGROUND_LEVEL)).any(axis=0))
        centre = ((rows.min() + rows.max()) // 2, (cols.min() + cols.max()) // 2) if rows.size else (height // 2, width // 2)
        r0 = int(np.clip(centre[0] - side // 2, 0, max(0, height - side)))
        c0 = int(np.clip(centre[1] - side // 2, 0, max(0, width - side)))
        a, b = a[:, r0:r0 + side, c0:c0 + side], b[:, r0:r0 + side, c0:c0 + side]
    detailed = max(3, min(8, FIT_PIXELS // (a.shape[-2] * a.shape[-1])))
    return a, b, detailed


def _roughness(tables: torch.Tensor) -> torch.Tensor:
    rows = tables[:, 2:] - 2 * tables[:, 1:-1] + tables[:, :-2]
    cols = tables[:, :, 2:] - 2 * tables[:, :, 1:-1] + tables[:, :, :-2]
    return rows.pow(2).sum() + cols.pow(2).sum()


def adapt_curve(
    scorer: PairScorer,
    a: np.ndarray,
    b: np.ndarray,
    cushions: dict[str, float],
    objective: Callable[[dict[str, float]], float],
    steps: int = STEPS,
    knots: int = KNOTS,
    cancelled: Callable[[], bool] | None = None,
) -> AdaptedCurve:
    """Fit the curve's tables to the sampled slices ``a``/``b`` (N x H x W in [0, 1], 8-bit levels).

    ``scorer`` scores fused slices exactly against the plain average (auto's
    ``PairScorer`` of these slices); ``cushions`` and ``objective`` are auto's.
    Returns the best curve by the exact objective among the checked ones (the
    average's own tables, objective minus infinity, when none beat it).
    """
    from .inference import Cancelled  # the engine's cancellation (imported here: inference imports the network)

    ta = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    tb = torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32))
    surrogate = _Surrogate(scorer, ta, tb)
    tables = torch.zeros(2, knots, knots, requires_grad=True)  # log-odds 0, log gain 0: the plain average
    optimiser = torch.optim.Adam([tables], lr=LEARNING_RATE)
    # large steps first, then settle: a cosine decay to a tenth
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda k: 0.55 + 0.45 * np.cos(np.pi * min(k, steps) / steps))
    limits = torch.tensor(PAIR_CURVE_LIMITS).view(2, 1, 1)
    best = AdaptedCurve(_as_tuples(torch.zeros(2, knots, knots)), float("-inf"), {}, 0)
    for step in range(steps + 1):
        if cancelled is not None and cancelled():
            raise Cancelled("fusion cancelled by the user; no output was written")
        fused = curve_fusion(ta, tb, tables[0], tables[1])
        if step and step % CHECK_EVERY == 0 or step == steps:
            exact = scorer.margins(fused.detach().double().numpy())
            value = objective(exact)
            if value > best.objective:
                best = AdaptedCurve(_as_tuples(tables.detach()), value, exact, step)
            if step == steps:
                break
        margins = surrogate.margins(fused)
        short = torch.stack([margins[m] - cushions.get(m, 0.0) - TARGET for m in margins])
        soft_minimum = -SOFTNESS * torch.logsumexp(-short / SOFTNESS, 0)
        loss = -(soft_minimum + 0.25 * short.mean()) + SMOOTHNESS * _roughness(tables)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        with torch.no_grad():
            tables.copy_(torch.maximum(torch.minimum(tables, limits), -limits))
    return best


def _as_tuples(tables: torch.Tensor) -> tuple:
    return tuple(tuple(tuple(float(v) for v in row) for row in table) for table in tables.tolist())
