"""Per-pair adaptation: choose the fusion controls for the user's own two images before fusing them.

The shipped curve was learned on AANLIB's 8-bit slices; real volumes come with
other windows, contrasts and noise, and no fixed rule over absolute grey levels
suits them all. So, before a fusion, a few slices of the pair itself are fused
under candidate controls and scored against the plain average of the same
slices with the evaluation's own metrics (CC, MI, VIF, Qabf, SSIM), the
contrast of A's hottest part (a lesion, dense bone) and the noise in flat
regions. The search walks the CC ridge: for each shape of rule (base power,
functional emphasis, learned curve, experts' detail) it finds the least
contrast equalisation that holds CC, scores that candidate on everything, and
refines the best one. For volumes the reliability curve is then fitted to
the sampled slices (``curve_adaptation``), which reaches settings no
searched rule can. A candidate is kept only if it beats the average on every
score by a cushion; otherwise the result is the plain average. It is
unsupervised (no reference image), bounded (a fixed number of slices,
candidates and fitting steps) and deterministic.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import torch

from .controls import FusionControls
from .curve_adaptation import BaseRule, adapt_curve, fitting_window
from .inference import Cancelled, Fuser
from .metrics import cc, cc_ceiling, mi, qabf, r1_stretch, ssim, vif
from .metrics.flat_noise import flat_mask, flat_noise
from .network.residual import BACKGROUND_LEVEL

AUTO_METRICS = {"CC": cc, "MI": mi, "VIF": vif, "Qabf": qabf, "SSIM": ssim}
# the searched controls and the steps the refinement moves them by (equalise is found by bisection)
SEARCH_GRID = {
    "equalise": (0.0, 0.25, 0.5, 0.75, 1.0),
    "base_power": (1.0, 1.25, 1.5, 2.0, 2.5, 3.0),
    "emphasis": (0.0, 0.25, 0.5, 0.75, 1.0),
    "curve_strength": (0.0, 0.5, 1.0),
    "detail_strength": (0.0, 0.25, 0.5, 1.0),
}
# margins are measured in units of how far the max rule lies from the average, but never finer than these
MARGIN_FLOORS = {"CC": 0.01, "MI": 0.2, "VIF": 0.02, "Qabf": 0.02, "SSIM": 0.02, "hot contrast": 0.05, "flat noise": 0.1}
# The shapes of rule tried along the CC ridge: more base power leans each pixel toward the brighter source
# (edges of either modality, VIF, Qabf, MI) but costs CC; contrast equalisation buys CC back, so each shape
# gets the least equalisation that holds CC. The learned v0.2 curve with its experts is one of the shapes.
# Rules without the experts' residual are computed without the network, so the ridge is walked with
# them; the residual (detail) is tried in the refinement step, and with the learned curve.
RIDGE_SHAPES = tuple(
    {"base_power": power, "emphasis": emphasis, "detail_strength": 0.0, "curve_strength": 0.0}
    for power in (1.0, 1.25, 1.5, 2.0)
    for emphasis in (0.0, 0.5)
) + (
    {"base_power": 1.0, "emphasis": 0.0, "detail_strength": 0.0, "curve_strength": 1.0},
    {"base_power": 1.0, "emphasis": 0.0, "detail_strength": 1.0, "curve_strength": 1.0},
)
RIDGE_EXTRA = 0.125
EQUALISE_BISECTIONS = 5
NEAR_STEP, NEAR_TRIES = 1.0 / 16.0, 4
REFINE_ROUNDS = 3  # coordinate-search rounds from the best candidate (or the nearest miss)
SAMPLE_SLICES = 16  # scored on CC (cheap)
SAMPLE_PIXELS = SAMPLE_SLICES * 256 * 256  # ... when slices are this size or smaller (they are encoded at once)
DETAILED_SLICES = 8  # of those, scored on every metric
DETAILED_PIXELS = 256 * 256  # ... when slices are this size or smaller
MIN_SIDE = 64  # smaller slices are fused with the given controls
CONFIRM_PIXELS = 24 * 256 * 256  # a volume's winner is checked on this many other pixels (at least 4 slices)
NEUTRAL = {"equalise": 0.0, "base_power": 1.0, "emphasis": 0.0, "curve_strength": 0.0, "detail_strength": 0.0, "pair_curve": None}
# the controls of a curve adapted to the pair: its curve in full, alone (no residual, equalisation, power or emphasis)
ADAPTED = {"equalise": 0.0, "base_power": 1.0, "emphasis": 0.0, "curve_strength": 1.0, "detail_strength": 0.0}


@dataclass
class AutoChoice:
    """The chosen controls, their objective and margins over the average, and what the search looked at."""

    controls: FusionControls
    objective: float
    margins: dict[str, float]
    slices: list[int]
    evaluated: int  # candidate fusions of the sampled slices
    history: list[tuple[dict, float, dict]] = field(default_factory=list, repr=False)  # (controls, objective, margins) scored
    skipped: str = ""  # why no search ran (the given controls were used)
    fallback: bool = False  # nothing beat the average, and the given controls held its CC: they were kept
    unconfirmed: str = ""  # the winner that other slices did not confirm (the plain average was used instead)
    confirmed: int = 0  # how many other slices confirmed the winner (volumes)
    adapted: int = 0  # gradient steps of the curve adapted to the pair, where that curve won
    # the search's own winner where a fitted curve beat it: (controls, objective, margins), tried if the curve is not confirmed
    runner_up: tuple | None = field(default=None, repr=False)
    # where nothing beat the average: the candidate that came nearest, in words, and the scores where it missed its cushion
    # (its difference from the average in the metric's own units)
    nearest: tuple[str, dict[str, float]] | None = None

    def describe(self) -> str:
        c = self.controls
        if self.skipped:
            return f"auto controls: not adapted ({self.skipped}); the given controls were used"
        if self.unconfirmed and not self.confirmed:
            return f"auto controls: the plain average ({self.unconfirmed})"
        if self.fallback:
            return (
                f"auto controls: the given controls (curve {c.curve_strength:g}, detail {c.detail_strength:g}): no candidate beat "
                "the plain average on every metric, and these hold the average's CC on this image"
            )
        worst = min(self.margins, key=self.margins.get)
        if self.objective <= 0:
            if self.nearest is not None:
                label, short = self.nearest
                shortfall = ", ".join(f"{name} ({value:+.4f} against the average)" for name, value in short.items())
                return (
                    f"auto controls: the plain average (no candidate beat it on every metric with room to spare on the "
                    f"{len(self.slices)} sampled slices; the nearest, {label}, did not clear the safety margin on {shortfall})"
                )
            return (
                f"auto controls: the plain average (no candidate beat it on every metric on the {len(self.slices)} "
                f"sampled slices; worst margin {worst} {self.margins[worst]:+.2f})"
            )
        return (
            f"auto controls: {searched_controls(c)} "
            f"(worst margin over the plain average on {len(self.slices)} sampled slices: {worst} {self.margins[worst]:+.2f}"
            + (f"; confirmed on {self.confirmed} other slices)" if self.confirmed else ")")
            + (f"; not {self.unconfirmed}" if self.unconfirmed else "")
        )


def searched_controls(c: FusionControls) -> str:
    """The controls auto sets, in words."""
    if c.pair_curve is not None:
        return f"the reliability curve adapted to this pair{_on(c)} (strength {c.curve_strength:g}, detail {c.detail_strength:g})"
    return (
        f"equalise {c.equalise:g}, base power {c.base_power:g}, emphasis {c.emphasis:g}, "
        f"curve {c.curve_strength:g}, detail {c.detail_strength:g}"
    )


def _on(rule) -> str:
    """The searched rule a fitted curve acts on, in words ("" for the plain average)."""
    if (rule.equalise, rule.base_power, rule.emphasis) == (0, 1, 0):
        return ""
    return f" on equalise {rule.equalise:g}, base power {rule.base_power:g}, emphasis {rule.emphasis:g}"


def sample_indices(a: np.ndarray, b: np.ndarray, count: int = SAMPLE_SLICES) -> list[int]:
    """Up to ``count`` slices (axis 0) spread over those with enough anatomy and structure in both inputs."""
    return spread([k for k in range(a.shape[0]) if has_anatomy(a[k], b[k])], count)


def has_anatomy(a: np.ndarray, b: np.ndarray, min_foreground: float = 0.1) -> bool:
    """Whether a windowed slice pair has enough anatomy, and structure in both inputs, to score fusions on."""
    sa, sb = np.round(a * 255), np.round(b * 255)
    return bool(np.mean((sa > 0) | (sb > 0)) >= min_foreground and np.ptp(sa) > 0 and np.ptp(sb) > 0)


def spread(usable: list[int], count: int) -> list[int]:
    """Up to ``count`` of the usable slices, evenly spread, skipping the extreme (partial) ones."""
    if len(usable) <= count:
        return list(usable)
    positions = np.linspace(0, len(usable) - 1, count + 2)[1:-1]
    return [usable[int(round(p))] for p in positions]


def hot_contrast(fused: np.ndarray, hot: np.ndarray, rest: np.ndarray) -> float:
    """(mean in A's hot part - mean in the rest of the anatomy) / mean in the rest."""
    if not hot.any() or not rest.any():
        return 0.0
    around = float(fused[rest].mean())
    return (float(fused[hot].mean()) - around) / around if around > 0 else 0.0


class PairScorer:
    """Scores candidate fusions of sampled slices against the plain average and the max rule of the same slices.

    CC, cheap to compute, is scored on every sampled slice; the filtering
    metrics (MI, VIF, Qabf, SSIM) on an evenly spread ``detailed`` subset of them.
    """

    def __init__(self, a: np.ndarray, b: np.ndarray, hot_level: float, detailed: int = DETAILED_SLICES):
        # slices where a source is constant have no correlation to score; they are left out
        self.sources = [(np.round(a[k] * 255), np.round(b[k] * 255)) for k in range(a.shape[0])]
        self.kept = [k for k, (sa, sb) in enumerate(self.sources) if np.ptp(sa) > 0 and np.ptp(sb) > 0]
        spread = np.linspace(0, len(self.kept) - 1, min(detailed, len(self.kept))) if self.kept else []
        self.detailed = sorted({self.kept[int(round(p))] for p in spread})
        self.flat = {k: flat_mask(*self.sources[k]) for k in self.detailed}
        foreground = (a > BACKGROUND_LEVEL) | (b > BACKGROUND_LEVEL)
        self.hot = (a >= hot_level) & foreground
        self.rest = foreground & ~self.hot
        self.average = self.raw_scores(0.5 * (a + b))
        maximum = self.raw_scores(np.maximum(a, b))
        alone = hot_contrast(a, self.hot, self.rest)
        self.scale = {m: max(abs(maximum[m] - self.average[m]), MARGIN_FLOORS[m]) for m in AUTO_METRICS}
        self.scale["hot contrast"] = max(abs(alone - self.average["hot contrast"]), MARGIN_FLOORS["hot contrast"])
        self.scale["flat noise"] = max(abs(maximum["flat noise"] - self.average["flat noise"]), MARGIN_FLOORS["flat noise"])
        # How far any fusion can raise CC above the average here (the sources' CC ceiling), in margin units.
        # Where the two sources already correlate closely (the bundled sample: average 0.9778, ceiling 0.9780)
        # a fixed cushion would lie beyond every fusion; CC's cushion is then half of that room (other
        # slices still confirm a volume's winner with no cushion at all).
        ceiling = float(np.mean([cc_ceiling(*self.sources[k]) for k in self.kept])) if self.kept else self.average["CC"]
        self.cc_room = (ceiling - self.average["CC"]) / self.scale["CC"]
        self.cushions = CUSHIONS | {"CC": max(0.0, min(CUSHIONS["CC"], 0.5 * self.cc_room))}

    def mean_cc(self, fused: np.ndarray) -> float:
        values = [cc(r1_stretch(fused[k]), *self.sources[k]) for k in self.kept]
        return float(np.mean(values)) if values else 0.0

    def _slice_scores(self, k: int, fused: np.ndarray) -> dict[str, float]:
        """The filtering metrics and the flat-region noise (NaN where the slice has no flat region) of one slice."""
        sa, sb = self.sources[k]
        f = r1_stretch(fused)
        scores = {name: AUTO_METRICS[name](f, sa, sb) for name in AUTO_METRICS if name != "CC"}
        scores["flat noise"] = flat_noise(f, sa, sb, self.flat[k]) if self.flat[k].any() else float("nan")
        return scores

    def raw_scores(self, fused: np.ndarray) -> dict[str, float]:
        # the detailed slices are scored side by side: the metrics are numpy filters that release the GIL,
        # and they would otherwise use one core (on 512 x 512 slices they are most of auto's search)
        workers = min(torch.get_num_threads(), len(self.detailed))
        if workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                per_slice = list(pool.map(lambda k: self._slice_scores(k, fused[k]), self.detailed))
        else:
            per_slice = [self._slice_scores(k, fused[k]) for k in self.detailed]
        scores = {"CC": self.mean_cc(fused)}
        scores |= {m: float(np.mean([s[m] for s in per_slice])) if per_slice else 0.0 for m in AUTO_METRICS if m != "CC"}
        scores["hot contrast"] = hot_contrast(fused, self.hot, self.rest)
        noise = [s["flat noise"] for s in per_slice if not np.isnan(s["flat noise"])]
        scores["flat noise"] = -float(np.mean(noise)) if noise else 0.0  # negated: higher is better, like the rest
        return scores

    def cc_margin(self, fused: np.ndarray) -> float:
        """CC's margin alone (cheap: no filtering), for the bisection on the equalisation."""
        return (self.mean_cc(fused) - self.average["CC"]) / self.scale["CC"]

    def margins(self, fused: np.ndarray) -> dict[str, float]:
        scores = self.raw_scores(fused)
        return {m: (scores[m] - self.average[m]) / self.scale[m] for m in scores}


# Each metric must beat the average by a cushion (in margin units): sampled slices estimate the whole
# volume's metrics only roughly (on the bundled sample 4 slices said CC +0.01 units while the volume lost
# 0.1). CC, the metric the average is hardest to beat on and the one that costs the others most to
# raise, is estimated on all sampled slices, so it needs the smallest cushion.
CUSHIONS = {"CC": 0.02, "MI": 0.02, "VIF": 0.01, "Qabf": 0.01, "SSIM": 0.01, "hot contrast": 0.0, "flat noise": 0.0}


def slack(margins: dict[str, float], cushions: dict[str, float] = CUSHIONS) -> float:
    """How far the worst metric is above its cushion (negative: by how much the candidate misses)."""
    return min(value - cushions.get(name, 0.0) for name, value in margins.items())


def objective(margins: dict[str, float], cushions: dict[str, float] = CUSHIONS) -> float:
    """Minus infinity unless every metric beats the average by its cushion; else the worst margin plus a quarter of the mean.

    So a candidate is taken only where the sampled slices say it is better than
    the plain average on every metric with room to spare; among those, the one
    with the best worst margin (ties broken toward more gain everywhere).
    """
    if not slack(margins, cushions) >= 0:  # NaN included
        return float("-inf")
    return min(margins.values()) + 0.25 * float(np.mean(list(margins.values())))


def choose_controls(
    fuse_slices: Callable[[FusionControls], np.ndarray],
    a: np.ndarray,
    b: np.ndarray,
    hot_level: float,
    start: FusionControls = FusionControls(),
    fixed: tuple[str, ...] = (),
    cancelled: Callable[[], bool] | None = None,
    fallback: FusionControls | None = None,
    adapt: bool = True,
    statistics: tuple[float, float, float, float] | None = None,
) -> AutoChoice:
    """Search along the CC ridge, refine, then adapt the curve (controls in ``fixed`` keep ``start``'s value).

    ``fuse_slices(controls)`` fuses the sampled slices ``a``/``b`` (N x H x W,
    windowed to [0, 1]) under the controls and returns the N x H x W result.
    For each shape of the rule (base power, emphasis, detail, curve) the least
    contrast equalisation that keeps CC above the average by its cushion is
    found by bisection (CC is cheap to score); the candidate is then scored on
    every metric. The best candidate that beats the average on all of them is
    refined by a coordinate search. With ``adapt``, the reliability curve is then
    fitted to the sampled slices (``curve_adaptation``) and taken where its
    objective beats the search's best. If nothing beats the average, the result is
    the average, or ``fallback`` where that holds the average's CC on these slices.
    """
    if min(a.shape[-2:]) < MIN_SIDE:  # the metrics' windows need room (VIF works on four scales)
        return AutoChoice(start, 0.0, {}, [], 0, skipped=f"slices of {a.shape[-1]}x{a.shape[-2]} pixels are too small to score")
    # the filtering metrics cost time per pixel: big slices get fewer detailed slices (at least 3)
    detailed = max(3, min(DETAILED_SLICES, round(DETAILED_SLICES * DETAILED_PIXELS / (a.shape[-1] * a.shape[-2]))))
    scorer = PairScorer(a, b, hot_level, detailed)
    cushions = scorer.cushions

    def judged(margins: dict[str, float]) -> float:
        return objective(margins, cushions)

    start = neutral_controls(start, fixed)
    seen: dict[tuple, tuple[float, dict]] = {}
    cc_seen: dict[tuple, float] = {}

    def key_of(controls: FusionControls) -> tuple:
        return tuple(round(float(getattr(controls, name)), 4) for name in SEARCH_GRID)

    def fused(controls: FusionControls) -> np.ndarray:
        if cancelled is not None and cancelled():
            raise Cancelled("fusion cancelled by the user; no output was written")
        return fuse_slices(controls)

    scored: list[FusionControls] = []

    def score(controls: FusionControls) -> float:
        key = key_of(controls)
        if key not in seen:
            margins = scorer.margins(fused(controls))
            seen[key] = (judged(margins), margins)
            cc_seen[key] = margins["CC"]
            scored.append(controls)
        return seen[key][0]

    def cc_margin(controls: FusionControls) -> float:
        key = key_of(controls)
        if key not in cc_seen:
            cc_seen[key] = scorer.cc_margin(fused(controls))
        return cc_seen[key]

    def least_equalisation(controls: FusionControls, near: float | None = None) -> FusionControls | None:
        """The smallest equalise (to 1/32) whose CC margin clears the cushion, or None if even 1 does not.

        With ``near`` (the answer for the same rule without the experts' residual,
        which moves CC little) only a few steps up from there are tried, since
        each try of a rule with a residual runs the network.
        """
        if "equalise" in fixed:
            return controls
        if near is not None:
            for equalise in np.arange(max(0.0, near - NEAR_STEP), 1.0 + 1e-9, NEAR_STEP)[: NEAR_TRIES]:
                trial = replace(controls, equalise=float(equalise))
                if cc_margin(trial) >= cushions["CC"]:
                    return trial
            return None
        if cc_margin(replace(controls, equalise=0.0)) >= cushions["CC"]:
            return replace(controls, equalise=0.0)
        if cc_margin(replace(controls, equalise=1.0)) < cushions["CC"]:
            return None
        lo, hi = 0.0, 1.0
        for _ in range(EQUALISE_BISECTIONS):
            mid = 0.5 * (lo + hi)
            if cc_margin(replace(controls, equalise=mid)) >= cushions["CC"]:
                hi = mid
            else:
                lo = mid
        return replace(controls, equalise=hi)

    score(start)
    best, current = 0.0, start  # the plain average's own objective: a candidate must beat it
    without_residual: dict[tuple, float] = {}
    for shape in RIDGE_SHAPES:
        candidate = replace(start, **{name: value for name, value in shape.items() if name not in fixed})
        rule = (candidate.base_power, candidate.emphasis, candidate.curve_strength)
        near = without_residual.get(rule) if candidate.detail_strength else None
        if candidate.detail_strength and near is None:
            continue  # no equalisation held CC without the residual either
        candidate = least_equalisation(candidate, near)
        if candidate is None:
            continue
        if not candidate.detail_strength:
            without_residual[rule] = candidate.equalise
        for extra in (0.0, RIDGE_EXTRA):  # a little more equalisation than CC needs can pay elsewhere
            trial = candidate if not extra or "equalise" in fixed else replace(candidate, equalise=min(1.0, candidate.equalise + extra))
            value = score(trial)
            if value > best + 1e-9:
                best, current = value, trial
    refined = ("equalise", "base_power", "emphasis", "detail_strength")
    if best <= 0 and len(seen) > 1:
        # Nothing passed: refine the nearest miss instead, since one step of another control often pays for
        # the metric it misses (emphasis lowers the flat noise a power mean adds, at some Qabf and SSIM).
        # Only the pixel-wise controls move then: a step of detail would run the network on the sample
        # (on 512 x 512 slices that doubled auto's time and memory for a candidate that rarely pays).
        pixel_wise = [c for c in scored if c != start and not c.detail_strength and not c.curve_strength]
        if pixel_wise:
            current = max(pixel_wise, key=lambda c: slack(seen[key_of(c)][1], cushions))
            refined = ("equalise", "base_power", "emphasis")
    for _ in range(REFINE_ROUNDS if current != start else 0):  # one control at a time, re-balancing CC with the equalisation
        moved = False
        for name in [n for n in refined if n not in fixed]:
            for step in (-1, 1):
                if name == "equalise":  # finer than the ridge's extra step: the window that pays can be narrow
                    trial = replace(current, equalise=float(np.clip(current.equalise + step * NEAR_STEP, 0.0, 1.0)))
                else:
                    values = SEARCH_GRID[name]
                    position = _nearest(values, getattr(current, name)) + step
                    if not 0 <= position < len(values):
                        continue
                    trial = least_equalisation(replace(current, **{name: values[position]}), current.equalise)
                if trial is None or key_of(trial) == key_of(current):
                    continue
                value = score(trial)
                missed_less = best <= 0 and slack(seen[key_of(trial)][1], cushions) > slack(seen[key_of(current)][1], cushions) + 1e-9
                if value > best + 1e-9 or missed_less:
                    best, current, moved = max(best, value), trial, True
        if not moved:
            break
    seed = current  # the search's winner, or the nearest miss it refined: where the curve's fit starts
    if best <= 0:
        current = start
    fits: list = []
    if adapt and adaptable(start, fixed):
        window, fit_detailed = fitting_window(a, b)
        fit_a, fit_b = a[(slice(None), *window)], b[(slice(None), *window)]
        fit_scorer = scorer if fit_a.shape == a.shape and fit_detailed == len(scorer.detailed) else PairScorer(fit_a, fit_b, hot_level, fit_detailed)
        # two fits: one on the plain average, one on the search's best pixel-wise rule (its equalisation,
        # power and emphasis kept, the curve's weight and gain fitted on top), which often lies closer to
        # where every metric holds; the fit is erratic enough that two tries pay. Slices too big for one crop
        # (a 512 x 512 CT) get the second only: their volumes already cost the most to fuse, and a fit there
        # takes about 25 s on 2 cores
        starts = [BaseRule()]
        # (a rule that equalises or emphasises is fitted only with the volume's fixed statistics: without them
        # the caller normalises each slice on its own, which no single table of the two levels reproduces)
        per_slice = statistics is None and (seed.equalise or seed.emphasis)
        if seed != start and not seed.detail_strength and not seed.curve_strength and not per_slice:
            starts.append(BaseRule(seed.equalise, seed.base_power, seed.emphasis, statistics if seed.equalise or seed.emphasis else None))
            if fit_a.shape != a.shape:
                starts = starts[1:]
        fits = [(rule, adapt_curve(fit_scorer, fit_a, fit_b, cushions, judged, cancelled=cancelled, rule=rule)) for rule in starts]
        rule, adapted = max(fits, key=lambda fit: fit[1].objective)
        if adapted.objective > best + 1e-9:
            # scored again as the caller fuses (the fusion that will be used, not the adaptation's own copy of it)
            controls = replace(start, **(ADAPTED | rule.controls()), pair_curve=adapted.tables)
            margins = scorer.margins(fused(controls))
            value = judged(margins)
            if value > best + 1e-9:
                history = [(dict(zip(SEARCH_GRID, k)), v[0], v[1]) for k, v in seen.items()]
                history.append(({"pair curve": adapted.steps}, value, margins))
                runner_up = (current, best, seen[key_of(current)][1]) if best > 0 else None
                return AutoChoice(controls, value, margins, [], len(cc_seen) + adapted.steps + 1, history, adapted=adapted.steps, runner_up=runner_up)
    kept_fallback = False
    if best <= 0 and fallback is not None and cc_margin(fallback) >= 0:
        current, kept_fallback = fallback, True
        score(current)
    key = key_of(current)
    history = [(dict(zip(SEARCH_GRID, k)), v[0], v[1]) for k, v in seen.items()]
    nearest = None
    if best <= 0:  # say what came nearest and on which scores it fell short: why the user gets the average
        misses = [(searched_controls(c), seen[key_of(c)][1]) for c in scored if c != start]
        misses += [(f"the reliability curve adapted to this pair{_on(rule)}", fit.nearest) for rule, fit in fits if fit.nearest]
        if misses:
            label, margins = max(misses, key=lambda miss: slack(miss[1], cushions))
            short = {m: value * scorer.scale[m] for m, value in margins.items() if value < cushions.get(m, 0.0)}
            short = {m: (-value if m == "flat noise" else value) for m, value in short.items()}  # noise: + is more noise
            nearest = (label, short)
        else:  # no candidate held CC, so none was scored on the rest: the one with the most CC
            tried = {k: v for k, v in cc_seen.items() if k != key_of(start)}
            if tried:
                closest = max(tried, key=tried.get)
                nearest = (searched_controls(replace(start, **dict(zip(SEARCH_GRID, closest)))), {"CC": tried[closest] * scorer.scale["CC"]})
    # every fusion of the sample is in cc_seen (a full score records its CC there too)
    return AutoChoice(current, best if best > 0 else 0.0, seen[key][1], [], len(cc_seen), history, fallback=kept_fallback, nearest=nearest)


def adaptable(start: FusionControls, fixed: tuple[str, ...] = ()) -> bool:
    """Whether the curve may be adapted: the controls the user fixed agree with an adapted curve used alone."""
    agrees = all(getattr(start, name) == value for name, value in ADAPTED.items() if name in fixed)
    return agrees and "pair_curve" not in fixed and start.base == "plain" and start.reliability_bias == 0.0 and start.pair_curve is None


def neutral_controls(start: FusionControls, fixed: tuple[str, ...] = ()) -> FusionControls:
    """The plain average (or, for the controls in ``fixed``, the given values): where the search starts and falls back to."""
    return replace(start, **{name: value for name, value in NEUTRAL.items() if name not in fixed})


def confirm_choice(fused: np.ndarray, a: np.ndarray, b: np.ndarray, hot_level: float) -> dict[str, float]:
    """Margins over the plain average of a chosen fusion on other slices than those it was chosen on.

    Every metric is scored on every slice here; the choice stands only if none is below the average
    (no cushion: these slices were not searched on, so the check is not biased toward the winner).
    """
    return PairScorer(a, b, hot_level, detailed=a.shape[0]).margins(fused)


def _nearest(grid: tuple[float, ...], value: float) -> int:
    return int(np.argmin([abs(g - value) for g in grid]))


def choose_for_fuser(
    fuser: Fuser,
    a: np.ndarray,
    b: np.ndarray,
    hot_level: float,
    start: FusionControls = FusionControls(),
    fixed: tuple[str, ...] = (),
    scales: tuple[float, ...] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> AutoChoice:
    """``choose_controls`` for 2-D slices fused at their own size by a Fuser (each candidate decodes the cached encoding).

    For 2-D images the given controls (by default the trained operating point,
    whose curve was learned on 8-bit atlas slices like these) are kept instead
    of the plain average when nothing beats the average and they hold its CC.
    The curve is not adapted to 2-D images (not yet measured on the atlas, where
    the trained curve was fitted).
    """
    encoded = fuser.encode_batch(a, b)
    return choose_controls(
        lambda controls: fuser.decode_batch(encoded, controls, scales, maps=False).fused, a, b, hot_level, start, fixed, cancelled,
        fallback=start, adapt=False,
    )
