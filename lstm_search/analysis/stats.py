"""Comparison of cells with baseline cells (LSTM, GRU or any cell by name) that fits the design.

The design decides the test (:mod:`.design`):

* **paired** (cells trained at the same settings: a grid, fixed hyperparameter points, seeds):
  Wilcoxon's signed-rank test on the per-setting differences (exact at small n), with the
  paired t-test beside it, the sign count ("better at 7 of 8 settings") and the median paired
  difference with a bootstrap interval over settings;
* **independent** (every trial drew its own hyperparameters): the Mann-Whitney U test on all
  completed trials (exact at small n), with Welch's t-test beside it and the difference of
  medians with a bootstrap interval resampling each group.

The rank test leads: at a ceiling (every trial of a cell at accuracy 1.0) a t statistic divides
by a spread near zero and its p-value means nothing, while ranks still order the trials.
Equivalence is tested, not read from a failure to reject: two one-sided rank tests (TOST,
Schuirmann 1987) against a margin m, settable, by default ``DEFAULT_MARGIN_FRACTION`` of the
robust standard deviation (1.4826 MAD) of the baseline's completed trials. The verdict is
"better", "worse", "equivalent" (within +-m) or "inconclusive"; an inconclusive comparison
carries the minimum detectable effect at its spread and n and the n needed to detect an effect
of m.

Greff et al. (2015, "LSTM: A Search Space Odyssey", sec. 5)'s tuned-quality test (Welch on the
best 10% of trials by validation score) is computed only where that selection keeps at least
``GREFF_MIN_SELECTED`` trials out of at least ``GREFF_MIN_TRIALS`` per cell; below that the
column says "not applicable".

p-values are corrected for multiple comparisons with Holm's step-down method (Holm 1979) across
the cells compared with one baseline in one task, separately for each test. Differences and
effect sizes are signed ``cell - baseline`` in the metric's own units; the verdicts turn them
into "better" / "worse" using the metric's direction.
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from lstm_search.analysis._bootstrap import (
    TOLERANCE,
    Interval,
    exact_median_interval,
    median_difference_of_resamples,
    median_of_resamples,
    percentile_interval,
    tolerance_for,
)
from lstm_search.analysis._rank import rank_sum, signed_rank
from lstm_search.analysis._table import (
    AnalysisError,
    Direction,
    best_trials,
    better_sign,
    completed,
    group_keys,
    require_columns,
    task_groups,
    values,
)
from lstm_search.analysis.design import Design, detect_design, paired_values
from lstm_search.analysis.summary import (
    greff_applies,
    task_metric,
)

BETTER = "better"
WORSE = "worse"
EQUIVALENT = "equivalent"
INCONCLUSIVE = "inconclusive"
INSUFFICIENT = "insufficient data"
NOT_APPLICABLE = "not applicable"
NO_DIFFERENCE = INCONCLUSIVE  # the colour of a comparison that found no difference
VERDICTS = (BETTER, EQUIVALENT, INCONCLUSIVE, WORSE, INSUFFICIENT, NOT_APPLICABLE)
DEFAULT_BASELINES = ("lstm", "gru")
DEFAULT_MARGIN_FRACTION = 0.25  # default equivalence margin: this share of the baseline's SD
POWER = 0.8  # power of the minimum detectable effect

COMPARISON_COLUMNS = [
    "task", "baseline", "cell", "metric", "direction", "design",
    "n_cell", "n_baseline", "n", "test", "statistic", "p", "p_holm",
    "estimate", "ci_low", "ci_high", "n_boot", "ci_settled",
    "n_better", "n_worse", "n_tied",
    "t_test", "t_p", "cliffs_delta", "cohens_d", "ceiling",
    "margin", "tost_p", "tost_p_holm", "mde", "n_for_margin", "verdict",
    "top_applies", "top_n_cell", "top_n_baseline", "top_mean_cell", "top_mean_baseline",
    "top_mean_diff", "welch_t", "welch_p", "welch_p_holm", "verdict_tuned",
]


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (Holm 1979), NaN entries left out of the family.

    With the m finite p-values sorted ascending, p_(i) becomes max_{j<=i} min(1, (m-j+1) p_(j));
    rejecting where the adjusted value is below alpha controls the family-wise error rate.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    if m == 0:
        return out
    order = finite[np.argsort(p[finite], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]  # (m - j + 1) p_(j) with j counted from 1
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


def cohens_d(x: np.ndarray, y: np.ndarray) -> float:
    """Cohen's d of ``x - y`` with the pooled standard deviation (Cohen 1988).

    NaN (undefined) with fewer than two values in a group or a pooled standard deviation of 0:
    a difference in units of a spread that is zero has no finite size.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    nx, ny = x.size, y.size
    if nx < 2 or ny < 2:
        return float("nan")
    pooled = ((nx - 1) * x.var(ddof=1) + (ny - 1) * y.var(ddof=1)) / (nx + ny - 2)
    if not pooled > 0:
        return float("nan")
    return float((x.mean() - y.mean()) / np.sqrt(pooled))


def welch_test(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Welch's t statistic and two-sided p-value; NaN for fewer than two values in a group or
    when both groups are constant (the statistic would be 0/0 or a division by zero)."""
    from scipy import stats as sps

    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2 or y.size < 2 or (np.ptp(x) == 0 and np.ptp(y) == 0):
        return float("nan"), float("nan")
    with warnings.catch_warnings():  # nearly identical samples: scipy warns, the result stands
        warnings.filterwarnings("ignore", message=".*catastrophic cancellation.*",
                                category=RuntimeWarning)
        t = sps.ttest_ind(x, y, equal_var=False)
    return float(t.statistic), float(t.pvalue)


def mann_whitney(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mann-Whitney U and its two-sided p-value; NaN for fewer than two values in a group."""
    from scipy import stats as sps

    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2 or y.size < 2:
        return float("nan"), float("nan")
    u = sps.mannwhitneyu(x, y, alternative="two-sided")
    return float(u.statistic), float(u.pvalue)


def cliffs_delta(x: np.ndarray, y: np.ndarray) -> float:
    """Cliff's delta P(X > Y) - P(X < Y) over all pairs (Cliff 1993), in [-1, 1]."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size == 0 or y.size == 0:
        return float("nan")
    # rank form, O((n + m) log(n + m)): #(x > y) - #(x < y) summed over x
    ys = np.sort(y)
    greater = np.searchsorted(ys, x, side="left")  # y strictly below each x
    less = y.size - np.searchsorted(ys, x, side="right")  # y strictly above each x
    return float((greater.sum() - less.sum()) / (x.size * y.size))


def bootstrap_median_diff(x: np.ndarray, y: np.ndarray, *, n_boot: int = 2000,
                          confidence: float = 0.95, seed: int | np.random.Generator = 0
                          ) -> tuple[float, float, float]:
    """median(x) - median(y) with a percentile bootstrap confidence interval.

    Each group is resampled with replacement on its own (the groups are independent trials);
    ``seed`` makes the interval reproducible.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size == 0 or y.size == 0:
        return (float("nan"),) * 3
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    mx = np.median(x[rng.integers(0, x.size, size=(n_boot, x.size))], axis=1)  # (n_boot,)
    my = np.median(y[rng.integers(0, y.size, size=(n_boot, y.size))], axis=1)  # (n_boot,)
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(mx - my, [tail, 1 - tail])
    return float(np.median(x) - np.median(y)), float(lo), float(hi)


def stars(p: float, alpha: float = 0.05) -> str:
    """Significance marks for figures: *** p<0.001, ** p<0.01, * p<alpha, "" otherwise."""
    if not np.isfinite(p) or p >= alpha:
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*"


def _pair_seed(seed: int, *names: object) -> np.random.SeedSequence:
    # a stream per (task, baseline, cell), independent of the order cells are compared in
    key = [zlib.crc32(str(n).encode()) for n in names]
    return np.random.SeedSequence([seed, *key])


def compare_to_baselines(df: pd.DataFrame, baselines: Sequence[str] = DEFAULT_BASELINES, *,
                         metric: str | None = None, cells: Sequence[str] | None = None,
                         top_fraction: float = 0.1, min_top: int = 5, alpha: float = 0.05,
                         margin: float | None = None,
                         margin_fraction: float = DEFAULT_MARGIN_FRACTION,
                         seed: int = 0, tolerance: float = TOLERANCE,
                         design: str = "auto") -> pd.DataFrame:
    """Compare every cell with every baseline, per task setting, with the test the design calls
    for.

    Args:
        df: the table of :func:`lstm_search.results.load_results`.
        baselines: cell names to compare against (default LSTM and GRU); a baseline missing from
            a task (or without a completed trial there) is skipped with a warning and listed in
            ``result.attrs["missing_baselines"]`` (or ``attrs["empty_baselines"]``).
        metric: the column compared (default per task: the test metric of the objective).
        cells: restrict the compared cells (default: every cell of the task but the baseline).
        top_fraction, min_top: Greff's best-10% selection by validation score, used for the
            tuned-quality columns only where it keeps at least 3 of at least 20 trials.
        alpha: level for the verdicts, applied to Holm-corrected p-values.
        margin: equivalence margin in metric units (default per task and baseline:
            ``margin_fraction`` times the robust standard deviation, 1.4826 times the median
            absolute deviation, of the baseline's completed trials).
        seed: seeds the bootstrap intervals (each comparison its own stream).
        tolerance: bootstrap endpoints must agree within this fraction of the data's standard
            deviation between two streams (see :mod:`._bootstrap`).
        design: "auto" (detected, see :func:`~lstm_search.analysis.design.detect_design`),
            "paired" or "independent" (forced).

    Returns:
        One row per (task, baseline, cell) with the columns of ``COMPARISON_COLUMNS``;
        ``result.attrs["designs"]`` maps each task label to its :class:`Design`.
    """
    require_columns(df, ["task", "cell", "status", "objective"], "compare_to_baselines")
    if metric is not None and metric not in df.columns:
        raise AnalysisError(f"compare_to_baselines: metric {metric!r} is not a column of the "
                            "results table")
    if not baselines:
        raise AnalysisError("compare_to_baselines: give at least one baseline cell name")
    if margin is not None and not (math.isfinite(margin) and margin > 0):
        raise AnalysisError(f"compare_to_baselines: the margin must be a positive number, got "
                            f"{margin!r}")
    if design not in ("auto", "paired", "independent"):
        raise AnalysisError(f"design must be 'auto', 'paired' or 'independent', got {design!r}")
    rows: list[dict[str, object]] = []
    missing: list[tuple[str, str]] = []
    empty: list[tuple[str, str]] = []
    designs: dict[str, Design] = {}
    for task, tdf in task_groups(df):
        name, direction = task_metric(tdf, metric)
        found = detect_design(tdf)
        if design != "auto" and design != found.kind:
            found = Design(design, found.key, found.columns, found.n_settings,
                           f"{design}: set by the caller (detected: {found.reason})")
        designs[task] = found
        present = group_keys(tdf, "cell")
        compared = present if cells is None else [c for c in cells if c in present]
        for base in baselines:
            if base not in present:
                missing.append((task, base))
                continue
            bdf = completed(tdf[tdf["cell"] == base], name)
            if bdf.empty:
                empty.append((task, base))
                continue
            b_all = values(bdf, name)
            m = margin if margin is not None else _default_margin(b_all, margin_fraction)
            family = [_compare_pair(task, base, cell, tdf, found, name, direction, m,
                                    top_fraction=top_fraction, min_top=min_top, alpha=alpha,
                                    seed=seed, tolerance=tolerance)
                      for cell in compared if cell != base]
            _add_verdicts(family, direction, alpha)
            rows.extend(family)
    _warn_baselines(missing, empty)
    out = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    out.attrs.update(missing_baselines=missing, empty_baselines=empty, alpha=alpha,
                     designs=designs, seed=seed, tolerance=tolerance,
                     margin_fraction=None if margin is not None else margin_fraction)
    return out


def robust_sd(v: np.ndarray) -> float:
    """1.4826 times the median absolute deviation (the standard deviation of a normal sample,
    which a few diverged trials do not inflate); the plain standard deviation when more than
    half the values share one value (MAD 0); NaN for fewer than two values."""
    v = np.asarray(v, float)
    if v.size < 2:
        return float("nan")
    spread = 1.4826 * float(np.median(np.abs(v - np.median(v))))
    return spread if spread > 0 else float(np.std(v, ddof=1))


def _default_margin(baseline: np.ndarray, fraction: float) -> float:
    """``fraction`` of the baseline's robust standard deviation (:func:`robust_sd`), NaN
    without spread: no default."""
    spread = robust_sd(baseline)
    return fraction * spread if spread > 0 else float("nan")


def tost(c: np.ndarray, b: np.ndarray, margin: float, *, paired: bool) -> float:
    """p-value of two one-sided rank tests (Schuirmann 1987) of "the difference cell - baseline
    lies within (-margin, margin)": the larger of the two one-sided p-values. Paired: signed-rank
    tests of d + m > 0 and d - m < 0; independent: Mann-Whitney tests of the shifted cell."""
    if not (np.isfinite(margin) and margin > 0):
        return float("nan")
    if paired:
        d = np.asarray(c, float) - np.asarray(b, float)
        lo = signed_rank(d + margin, "greater")[1]
        hi = signed_rank(d - margin, "less")[1]
    else:
        lo = rank_sum(np.asarray(c, float) + margin, b, "greater")[1]
        hi = rank_sum(np.asarray(c, float) - margin, b, "less")[1]
    return float(max(lo, hi))


def minimum_detectable_effect(sd: float, n: int, alpha: float, *, n_other: int | None = None,
                              sd_other: float | None = None, power: float = POWER) -> float:
    """The difference a two-sided t-test at ``alpha`` detects with probability ``power`` at
    this spread (the comparisons pass :func:`robust_sd`) and size: (t_{1-alpha/2} +
    t_{power}) * SE, SE = sd / sqrt(n) for paired differences, sqrt(sd^2/n + sd_other^2/n_other)
    for two independent groups."""
    from scipy import stats as sps

    if n_other is None:
        if n < 2:
            return float("nan")
        se, df = sd / math.sqrt(n), n - 1
    else:
        if n < 2 or n_other < 2:
            return float("nan")
        se = math.sqrt(sd**2 / n + (sd_other or 0.0) ** 2 / n_other)
        df = n + n_other - 2
    return float((sps.t.ppf(1 - alpha / 2, df) + sps.t.ppf(power, df)) * se)


def n_for_effect(sd: float, effect: float, alpha: float, *, paired: bool,
                 power: float = POWER) -> float:
    """Settings (paired) or trials per cell (independent) a two-sided test at ``alpha`` needs
    to detect ``effect`` with probability ``power`` (normal approximation)."""
    from scipy import stats as sps

    if not (np.isfinite(effect) and effect > 0 and np.isfinite(sd)):
        return float("nan")
    z = sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power)
    n = (z * sd / effect) ** 2 * (1 if paired else 2)
    return float(max(2, math.ceil(n)))


def _compare_pair(task: str, base: str, cell: str, tdf: pd.DataFrame, design: Design,
                  name: str, direction: Direction, margin: float, *, top_fraction: float,
                  min_top: int, alpha: float, seed: int, tolerance: float
                  ) -> dict[str, object]:
    """One comparison row: the design's test, equivalence, effect sizes, Greff's tuned test."""
    bdf = completed(tdf[tdf["cell"] == base], name)
    cdf = completed(tdf[tdf["cell"] == cell], name)
    b_all, c_all = values(bdf, name), values(cdf, name)
    row: dict[str, object] = {
        "task": task, "baseline": base, "cell": cell, "metric": name, "direction": direction,
        "design": design.kind, "n_cell": c_all.size, "n_baseline": b_all.size,
        "margin": margin,
    }
    rng = _pair_seed(seed, task, base, cell)
    if design.paired:
        c, b, _ = paired_values(design, tdf, cell, base, name)
        row.update(_paired_tests(c, b, direction, alpha, margin, rng, tolerance))
    else:
        row.update(_independent_tests(c_all, b_all, alpha, margin, rng, tolerance))
    row["cliffs_delta"] = cliffs_delta(c_all, b_all)
    row.update(_tuned(bdf, cdf, name, top_fraction, min_top))
    return row


def _interval(data: Sequence[np.ndarray], seed: np.random.SeedSequence,
              tolerance: float) -> Interval:
    """Bootstrap interval of the median (one sample: paired differences) or of the difference
    of medians (two independent samples): exact when small enough, else Monte Carlo with as
    many resamples as the tolerance needs."""
    exact = exact_median_interval(*data)
    if exact is not None:
        return exact
    draw = (median_of_resamples(data[0]) if len(data) == 1
            else median_difference_of_resamples(data[0], data[1]))
    return percentile_interval(draw, seed=seed,
                               tolerance=tolerance_for(*data, fraction=tolerance))


def _paired_tests(c: np.ndarray, b: np.ndarray, direction: Direction, alpha: float,
                  margin: float, seed: np.random.SeedSequence, tolerance: float
                  ) -> dict[str, object]:
    from scipy import stats as sps

    d = c - b  # (n,) per setting, cell - baseline
    n = d.size
    out: dict[str, object] = {"n": n, "test": "Wilcoxon signed-rank", "t_test": "paired t"}
    if n == 0:
        return out
    w, p, exact = signed_rank(d)
    if not np.any(d != 0):
        p = 1.0 if n >= 2 else float("nan")  # identical at every setting
    out["test"] += " (exact)" if exact else " (normal approx.)"
    sign = better_sign(direction) * d
    sd = float(np.std(d, ddof=1)) if n > 1 else float("nan")
    out.update(statistic=w, p=p, estimate=float(np.median(d)),
               n_better=int((sign > 0).sum()), n_worse=int((sign < 0).sum()),
               n_tied=int((sign == 0).sum()), ceiling=bool(sd == 0 or at_ceiling(c, b)),
               _shift=_signed_rank_shift(w, d))
    if n > 1 and sd > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out["t_p"] = float(sps.ttest_rel(c, b).pvalue)
        out["cohens_d"] = float(np.mean(d) / sd)  # d_z: mean difference over its SD
    iv = _interval([d], seed, tolerance)
    out.update(ci_low=iv.low, ci_high=iv.high, n_boot=iv.n_boot, ci_settled=iv.settled)
    out["tost_p"] = tost(c, b, margin, paired=True)
    spread = robust_sd(d)
    out["mde"] = minimum_detectable_effect(spread, n, alpha)
    out["n_for_margin"] = n_for_effect(spread, margin, alpha, paired=True)
    return out


def at_ceiling(*groups: np.ndarray) -> bool:
    """Whether a group has (near) no spread: zero variance, or more than half of its values tied
    at one value (accuracy 1.0 at most settings). There a t statistic and Cohen's d divide by a
    spread that measures the bound, not the cell; rank statistics still order the trials."""
    for g in groups:
        g = np.asarray(g, float)
        if g.size < 2:
            continue
        if np.ptp(g) == 0 or np.unique(g, return_counts=True)[1].max() > g.size / 2:
            return True
    return False


def _signed_rank_shift(w: float, d: np.ndarray) -> float:
    """W+ minus its null mean n'(n'+1)/4 over the n' nonzero differences: positive when the
    cell tends to be larger (the direction the signed-rank test found)."""
    nz = int(np.count_nonzero(d))
    return float(w - nz * (nz + 1) / 4) if np.isfinite(w) else 0.0


def _independent_tests(c: np.ndarray, b: np.ndarray, alpha: float, margin: float,
                       seed: np.random.SeedSequence, tolerance: float) -> dict[str, object]:
    n = min(c.size, b.size)
    out: dict[str, object] = {"n": n, "test": "Mann-Whitney U", "t_test": "Welch"}
    if c.size < 2 or b.size < 2:
        return out
    u, p, exact = rank_sum(c, b)
    out["test"] += " (exact)" if exact else " (normal approx.)"
    out.update(statistic=u, p=p, estimate=float(np.median(c) - np.median(b)),
               _shift=float(u - c.size * b.size / 2),
               ceiling=at_ceiling(c, b))
    out["t_p"] = welch_test(c, b)[1]
    out["cohens_d"] = cohens_d(c, b)
    iv = _interval([c, b], seed, tolerance)
    out.update(ci_low=iv.low, ci_high=iv.high, n_boot=iv.n_boot, ci_settled=iv.settled)
    out["tost_p"] = tost(c, b, margin, paired=False)
    sc, sb = robust_sd(c), robust_sd(b)
    out["mde"] = minimum_detectable_effect(sc, c.size, alpha, n_other=b.size, sd_other=sb)
    pooled = math.sqrt((sc**2 + sb**2) / 2)
    out["n_for_margin"] = n_for_effect(pooled, margin, alpha, paired=False)
    return out


def _tuned(bdf: pd.DataFrame, cdf: pd.DataFrame, name: str, top_fraction: float,
           min_top: int) -> dict[str, object]:
    """Greff's best-10% comparison, where the selection keeps enough trials to mean it."""
    b_top = values(best_trials(bdf, fraction=top_fraction, min_n=min_top), name)
    c_top = values(best_trials(cdf, fraction=top_fraction, min_n=min_top), name)
    applies = (greff_applies(len(bdf), b_top.size) and greff_applies(len(cdf), c_top.size))
    out: dict[str, object] = {
        "top_applies": applies, "top_n_cell": c_top.size, "top_n_baseline": b_top.size,
        "top_mean_cell": _mean(c_top), "top_mean_baseline": _mean(b_top),
        "top_mean_diff": _mean(c_top) - _mean(b_top),
    }
    if applies:
        out["welch_t"], out["welch_p"] = welch_test(c_top, b_top)
    return out


def _add_verdicts(family: list[dict[str, object]], direction: Direction, alpha: float) -> None:
    """Holm-correct one family (the cells compared with one baseline) and add the verdicts."""
    for column in ("p", "tost_p", "welch_p"):
        adjusted = holm([float(r.get(column, np.nan)) for r in family])  # type: ignore[arg-type]
        for r, a in zip(family, adjusted):
            r[f"{column}_holm"] = float(a)
    for r in family:
        # no n below the exact rank test's reach can detect anything after Holm
        floor = smallest_n(len(family), alpha, paired=r["design"] == "paired")
        if np.isfinite(float(r.get("n_for_margin", np.nan))):  # type: ignore[arg-type]
            r["n_for_margin"] = max(float(r["n_for_margin"]), float(floor))  # type: ignore[arg-type]
        shift = float(r.pop("_shift", 0.0))  # type: ignore[arg-type]
        r["verdict"] = _lead_verdict(r, shift, direction, alpha)
        if not r["top_applies"]:
            r["verdict_tuned"] = NOT_APPLICABLE
        elif not np.isfinite(float(r["welch_p_holm"])):  # type: ignore[arg-type]
            r["verdict_tuned"] = INSUFFICIENT
        elif float(r["welch_p_holm"]) < alpha and float(r["top_mean_diff"]) != 0:  # type: ignore[arg-type]
            good = better_sign(direction) * float(r["top_mean_diff"]) > 0  # type: ignore[arg-type]
            r["verdict_tuned"] = BETTER if good else WORSE
        else:
            r["verdict_tuned"] = INCONCLUSIVE


def smallest_n(family: int, alpha: float, *, paired: bool) -> int:
    """The fewest settings (paired) or trials per cell (independent, equal groups) at which
    the exact rank test can reject at ``alpha`` after Holm's first step over ``family``
    comparisons: 2 / 2^n (signed-rank) or 2 / C(2n, n) (Mann-Whitney) below alpha / family."""
    n = 1
    while (2 / 2**n if paired else 2 / math.comb(2 * n, n)) * family >= alpha:
        n += 1
    return n


def _lead_verdict(r: dict[str, object], shift: float, direction: Direction,
                  alpha: float) -> str:
    """better / worse on the rank test, else equivalent on TOST, else inconclusive."""
    p = float(r.get("p_holm", np.nan))  # type: ignore[arg-type]
    if int(r.get("n", 0) or 0) < 2 or not np.isfinite(p):  # type: ignore[call-overload]
        return INSUFFICIENT
    if p < alpha and shift != 0:
        return BETTER if better_sign(direction) * shift > 0 else WORSE
    if float(r.get("tost_p_holm", np.nan)) < alpha:  # type: ignore[arg-type]
        return EQUIVALENT
    return INCONCLUSIVE


def _warn_baselines(missing: list[tuple[str, str]], empty: list[tuple[str, str]]) -> None:
    if missing:
        warnings.warn("baseline(s) not in the results table: "
                      + ", ".join(f"{b!r} (task {t!r})" for t, b in missing), stacklevel=3)
    if empty:
        warnings.warn("baseline(s) without a completed trial: "
                      + ", ".join(f"{b!r} has no completed trial on task {t!r}"
                                  for t, b in empty), stacklevel=3)


def _mean(v: np.ndarray) -> float:
    return float(v.mean()) if v.size else float("nan")

