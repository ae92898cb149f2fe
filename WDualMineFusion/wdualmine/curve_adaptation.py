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

The curve acts on a pixel-wise base rule: the plain average, or the search's
best rule (its equalisation, power and emphasis, with the volume's fixed
statistics), so w_A and the gain reshape what the search found. It starts at
the rule itself (tables at 0), so the first steps move only where every metric
can gain; the result is still a function of the two grey levels at each pixel
(no new structure, no smoothing across pixels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from .controls import PAIR_CURVE_LIMITS
from .metrics import differentiable as dm
from .inference import Cancelled
from .network.reliability import curve_weight_and_gain, emphasis_logit
from .network.residual import BACKGROUND_LEVEL, compose_output, foreground_mask, fusion_terms

if TYPE_CHECKING:
    from .auto_controls import PairScorer

KNOTS = 9  # per axis: 81 weights and 81 gains, smooth enough to fit on a few slices
STEPS = 64
CHECK_EVERY = 4  # exact scoring of the current curve (the surrogates only point the way)
LEARNING_RATE = 0.03
SMOOTHNESS = 0.1  # weight of the tables' squared second differences
SOFTNESS = 0.02  # temperature of the soft minimum over the margins (margin units)
SURPLUS = 0.1  # margin units above the target where the loss stops rewarding a metric
TARGET = 0.02  # each margin is pushed this far above its cushion, so the exact scores keep some room
SURROGATE_SMOOTH = {"Qabf": 1.0, "MI": 1.0, "flat noise": 1.0}
# After every step the tables are rounded to this grid, so a gradient that differs in its last bits (another
# CPU's vector instructions round exp, log and sums otherwise) almost never moves the curve a fit ends on:
# unrounded, STS_002 PET-MRI's tables ended 1.3e-4 apart with torch's plain and AVX-512 kernels. The grid is
# a thirtieth of the smallest step size (LEARNING_RATE / 10), so the fit moves much as before.
TABLE_STEP = 1e-4
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
    nearest: dict[str, float] = field(default_factory=dict)  # exact margins of the checked curve that missed least


@dataclass(frozen=True)
class BaseRule:
    """The pixel-wise rule the fitted curve's weight and gain act on: auto's searched controls of that name,
    with the volume's fixed statistics (sources' standard deviations, A's two hot levels) where the rule
    equalises or emphasises. The default is the plain average."""

    equalise: float = 0.0
    base_power: float = 1.0
    emphasis: float = 0.0
    statistics: tuple[float, float, float, float] | None = None

    def __post_init__(self):
        if (self.equalise or self.emphasis) and self.statistics is None:
            raise ValueError("a rule that equalises or emphasises needs the volume's statistics: the fit's lookup table is one for all slices")

    def controls(self) -> dict[str, float]:
        return {"equalise": self.equalise, "base_power": self.base_power, "emphasis": self.emphasis}


def curve_fusion(a: torch.Tensor, b: torch.Tensor, logits: torch.Tensor, log_gain: torch.Tensor, rule: BaseRule = BaseRule()) -> torch.Tensor:
    """The fused slices (N x H x W in [0, 1)) of the curve on ``rule``, computed as the model computes them."""
    a4, b4 = a[:, None], b[:, None]
    statistics = None
    if rule.statistics is not None:
        statistics = torch.tensor([rule.statistics], dtype=a.dtype).expand(a.shape[0], len(rule.statistics))
    extra = emphasis_logit(a4, rule.emphasis, None if statistics is None else statistics[:, 2:4])
    weight_a, gain = curve_weight_and_gain(logits, log_gain, a4, b4, extra=extra)
    foreground = foreground_mask(a4, b4)
    scales = None if statistics is None else statistics[:, :2]
    base, _ = fusion_terms(a4, b4, "plain", rule.base_power, scales, weight_a, gain, rule.equalise)
    return compose_output(base * foreground, torch.zeros_like(base), foreground, 0.0, True)[:, 0]


LEVELS = 256


def _grey_levels() -> torch.Tensor:
    """The 256 levels of 8-bit inputs in [0, 1], as float32 values identical to the pipeline's quantised ones."""
    return torch.arange(LEVELS, dtype=torch.float32) / torch.tensor(255.0, dtype=torch.float32)


def curve_table(logits: torch.Tensor, log_gain: torch.Tensor, rule: BaseRule = BaseRule()) -> torch.Tensor:
    """The curve's fused value for every pair of 8-bit levels (256 x 256, A's level first), as ``curve_fusion`` gives it.

    The fit works on 8-bit inputs, so a fused slice is this table looked up at each pixel's pair of levels: the
    curve is computed 65,536 times per step instead of once per pixel, and its gradient gathers there too.
    """
    levels = _grey_levels()
    grid_a, grid_b = levels.view(1, LEVELS, 1).expand(1, LEVELS, LEVELS), levels.view(1, 1, LEVELS).expand(1, LEVELS, LEVELS)
    return curve_fusion(grid_a, grid_b, logits, log_gain, rule)[0]


def level_index(a: np.ndarray, b: np.ndarray) -> torch.Tensor | None:
    """Each pixel's index into ``curve_table`` (A's level * 256 + B's), or None if the inputs are not 8-bit levels."""
    ia, ib = np.rint(np.asarray(a) * 255.0), np.rint(np.asarray(b) * 255.0)
    levels = _grey_levels().numpy()
    if not (np.array_equal(levels[ia.astype(np.intp).clip(0, 255)], a) and np.array_equal(levels[ib.astype(np.intp).clip(0, 255)], b)):
        return None
    return torch.from_numpy((ia * LEVELS + ib).astype(np.int64))


class _LookUp(torch.autograd.Function):
    """table.flatten()[index], whose gradient is summed per table entry with one bincount (indexing's own
    backward accumulates pixel by pixel, several times slower on a CPU)."""

    @staticmethod
    def forward(ctx, table, index):
        ctx.save_for_backward(index)
        ctx.size = table.numel()
        return table.flatten()[index]

    @staticmethod
    def backward(ctx, grad):
        (index,) = ctx.saved_tensors
        summed = torch.bincount(index.flatten(), weights=grad.flatten().double(), minlength=ctx.size)
        return summed.to(grad.dtype).view(LEVELS, LEVELS), None


class _Part:
    """One half of the sampled slices, which every other step scores (each step costs half as much)."""

    def __init__(self, scorer: PairScorer, kept: list[int], detailed: list[int], a: torch.Tensor, b: torch.Tensor, index):
        self.slices = sorted(set(kept) | set(detailed))
        where = {k: n for n, k in enumerate(self.slices)}
        self.kept, self.detailed = [where[k] for k in kept], [where[k] for k in detailed]
        self.a, self.b = a[self.slices], b[self.slices]
        self.a8, self.b8 = torch.round(self.a * 255), torch.round(self.b * 255)
        self.index = None if index is None else index[self.slices]
        # the regions as 0/1 weights: a weighted sum needs no boolean indexing, whose backward took about a
        # fifth of a step on 256 x 256 crops
        self.hot = torch.from_numpy(scorer.hot[self.slices]).to(a.dtype)
        self.rest = torch.from_numpy(scorer.rest[self.slices]).to(a.dtype)
        self.flat = torch.from_numpy(np.stack([scorer.flat[k] for k in detailed])).to(a.dtype) if detailed else None
        self.terms = dm.SourceTerms(self.a8[self.detailed], self.b8[self.detailed])  # the sources' part of the metrics, once

    def fused(self, tables: torch.Tensor, rule: BaseRule) -> torch.Tensor:
        if self.index is None:
            return curve_fusion(self.a, self.b, tables[0], tables[1], rule)
        return _LookUp.apply(curve_table(tables[0], tables[1], rule), self.index)


class _Surrogate:
    """Torch scores of a curve's fusion, as differences from the plain average's in margin units (see ``_Part``)."""

    def __init__(self, scorer: PairScorer, a: torch.Tensor, b: torch.Tensor, index, rule: BaseRule):
        self.scorer, self.rule = scorer, rule
        halves = 2 if len(scorer.detailed) >= 2 and len(scorer.kept) >= 2 else 1
        self.parts = [_Part(scorer, scorer.kept[h::halves], scorer.detailed[h::halves], a, b, index) for h in range(halves)]
        with torch.no_grad():
            self.average = [self.scores(0.5 * (part.a + part.b), part) for part in self.parts]

    def scores(self, fused: torch.Tensor, part: _Part) -> dict[str, torch.Tensor]:
        stretched = dm.stretch(fused)
        # rounded as the protocol's 8-bit round trip, so the values are the exact metrics' (gradients pass straight through)
        stretched = stretched + (torch.round(stretched) - stretched).detach()
        kept, detailed = part.kept, part.detailed
        f, fa, fb = stretched[detailed], part.a8[detailed], part.b8[detailed]
        out = {
            "CC": dm.cc(stretched[kept], part.a8[kept], part.b8[kept]).mean(),
            "MI": dm.mi(f, fa, fb, SURROGATE_SMOOTH["MI"]).mean(),
            "VIF": part.terms.vif(f).mean(),
            "Qabf": part.terms.qabf(f, SURROGATE_SMOOTH["Qabf"]).mean(),
            "SSIM": part.terms.ssim(f).mean(),
        }
        around = _region_mean(fused, part.rest) if part.rest.any() else fused.new_tensor(1.0)
        out["hot contrast"] = (_region_mean(fused, part.hot) - around) / around.clamp_min(1e-6) if part.hot.any() else fused.new_tensor(0.0)
        flat = part.flat
        if flat is not None and flat.any():
            out["flat noise"] = -_region_mean(dm.local_sd(f, SURROGATE_SMOOTH["flat noise"]), flat)
        else:  # no flat region: nothing to filter
            out["flat noise"] = fused.new_tensor(0.0)
        return out

    def margins(self, tables: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        number = step % len(self.parts)
        part = self.parts[number]
        scores = self.scores(part.fused(tables, self.rule), part)
        return {m: (scores[m] - self.average[number][m]) / self.scorer.scale[m] for m in scores}


def _region_mean(values: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where the 0/1 ``region`` is 1."""
    return dm.ordered_sum(values * region) / region.sum()


def fitting_window(a: np.ndarray, b: np.ndarray, side: int = FIT_SIDE) -> tuple[tuple[slice, slice], int]:
    """Where big sampled slices are cut for the fit (at most side x side around the centre of their anatomy),
    and how many of them to score on the filtering metrics (at least 3, at most 8, about FIT_PIXELS pixels)."""
    height, width = a.shape[-2:]
    r0 = c0 = 0
    if height > side or width > side:
        rows, cols = np.nonzero(((a > BACKGROUND_LEVEL) | (b > BACKGROUND_LEVEL)).any(axis=0))
        centre = ((rows.min() + rows.max()) // 2, (cols.min() + cols.max()) // 2) if rows.size else (height // 2, width // 2)
        r0 = int(np.clip(centre[0] - side // 2, 0, max(0, height - side)))
        c0 = int(np.clip(centre[1] - side // 2, 0, max(0, width - side)))
    window = (slice(r0, r0 + min(side, height)), slice(c0, c0 + min(side, width)))
    pixels = min(side, height) * min(side, width)
    return window, max(3, min(8, FIT_PIXELS // pixels))


class _Adam:
    """Adam on one tensor, its step size decaying on a half cosine to a tenth (large steps first, then settle).

    Written out because torch.optim's first use imports its compiler stack (1.6 s), more than a fit's steps take.
    """

    def __init__(self, tensor: torch.Tensor, steps: int, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        self.tensor, self.steps = tensor, max(1, steps)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.mean = torch.zeros_like(tensor)
        self.square = torch.zeros_like(tensor)
        self.count = 0

    def step(self, gradient: torch.Tensor) -> None:
        rate = LEARNING_RATE * (0.55 + 0.45 * np.cos(np.pi * min(self.count, self.steps) / self.steps))
        self.count += 1
        self.mean.mul_(self.beta1).add_(gradient, alpha=1 - self.beta1)
        self.square.mul_(self.beta2).addcmul_(gradient, gradient, value=1 - self.beta2)
        mean = self.mean / (1 - self.beta1**self.count)
        square = self.square / (1 - self.beta2**self.count)
        self.tensor.sub_(rate * mean / (square.sqrt() + self.eps))


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
    rule: BaseRule = BaseRule(),
) -> AdaptedCurve:
    """Fit the curve's tables to the sampled slices ``a``/``b`` (N x H x W in [0, 1], 8-bit levels).

    ``scorer`` scores fused slices exactly against the plain average (auto's
    ``PairScorer`` of these slices); ``cushions`` and ``objective`` are auto's.
    Returns the best curve by the exact objective among the checked ones (the
    average's own tables, objective minus infinity, when none beat it).
    ``rule`` is the pixel-wise rule the curve acts on (by default the plain
    average; e.g. the search's winner): the fit starts at tables 0, the rule itself.
    """
    ta = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    tb = torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32))
    index = level_index(ta.numpy(), tb.numpy())  # None: inputs off the 8-bit levels, fused pixel by pixel
    surrogate = _Surrogate(scorer, ta, tb, index, rule)
    tables = torch.zeros(2, knots, knots).requires_grad_(True)  # log-odds 0, log gain 0: the rule itself
    adam = _Adam(tables, steps)
    limits = torch.tensor(PAIR_CURVE_LIMITS).view(2, 1, 1)
    best = AdaptedCurve(_as_tuples(torch.zeros(2, knots, knots)), float("-inf"), {}, 0)
    nearest = None  # (how far it fell short, exact margins) of the checked curve that came nearest
    # each metric is pushed TARGET past its cushion, but CC no further than halfway into the room any fusion
    # has above the average here: a goal past the CC ceiling would pull the curve toward the z-scored sum at
    # the cost of everything else, and still miss
    goals = {m: cushions.get(m, 0.0) + TARGET for m in scorer.scale}
    goals["CC"] = min(goals["CC"], 0.5 * (cushions.get("CC", 0.0) + scorer.cc_room))
    for step in range(steps + 1):
        if cancelled is not None and cancelled():
            raise Cancelled("fusion cancelled by the user; no output was written")
        if step and step % CHECK_EVERY == 0 or step == steps:
            with torch.no_grad():
                if index is None:
                    fused = curve_fusion(ta, tb, tables[0], tables[1], rule)
                else:
                    fused = curve_table(tables[0], tables[1], rule).flatten()[index]
            exact = scorer.margins(fused.double().numpy())
            value = objective(exact)
            if value > best.objective:
                best = AdaptedCurve(_as_tuples(tables.detach()), value, exact, step)
            miss = min(exact[m] - cushions.get(m, 0.0) for m in exact)
            if nearest is None or miss > nearest[0]:
                nearest = (miss, exact)
            if step == steps:
                break
        margins = surrogate.margins(tables, step)
        short = torch.stack([margins[m] - goals[m] for m in margins])
        soft_minimum = -SOFTNESS * torch.logsumexp(-short / SOFTNESS, 0)
        # beyond SURPLUS a metric's gain earns nothing more: it must not pull against the metric that is short
        loss = -(soft_minimum + 0.25 * short.clamp(max=SURPLUS).mean()) + SMOOTHNESS * _roughness(tables)
        (gradient,) = torch.autograd.grad(loss, tables)
        with torch.no_grad():
            adam.step(gradient)
            tables.copy_(_on_grid(torch.maximum(torch.minimum(tables, limits), -limits)))
    if nearest is not None:
        best.nearest = nearest[1]
    return best


def _on_grid(tables: torch.Tensor) -> torch.Tensor:
    """The tables rounded to TABLE_STEP, in float64 numpy: value * 10^4 is exact there, and IEEE division and
    the cast back round alike on every CPU (torch's kernels may divide by multiplying with a reciprocal)."""
    per_unit = round(1.0 / TABLE_STEP)
    grid = np.round(tables.numpy().astype(np.float64) * per_unit) / per_unit
    return torch.from_numpy(grid.astype(np.float32))


def _as_tuples(tables: torch.Tensor) -> tuple:
    return tuple(tuple(tuple(float(v) for v in row) for row in table) for table in tables.tolist())
