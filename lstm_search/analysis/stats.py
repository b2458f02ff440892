"""Statistical comparison of cells against baseline cells (LSTM, GRU or any cell by name).

Two questions, two tests, as in Greff et al. (2015, "LSTM: A Search Space Odyssey", sec. 5):

* tuned quality: Welch's t-test on the test metric of the best 10% of trials by validation
  score (Greff's criterion; at least ``min_top`` trials), effect size Cohen's d;
* robustness over the hyperparameter space: Mann-Whitney U on the test metric of all completed
  trials, effect size Cliff's delta, and a seeded bootstrap confidence interval of the difference
  of medians.

p-values are corrected for multiple comparisons with Holm's step-down method (Holm 1979) across
the cells compared with one baseline in one task, separately for each test. Differences and
effect sizes are signed ``cell - baseline`` in the metric's own units; the verdict columns turn
them into "better" / "worse" using the metric's direction.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

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
from lstm_search.analysis.summary import task_metric

BETTER = "better"
WORSE = "worse"
NO_DIFFERENCE = "no significant difference"
INSUFFICIENT = "insufficient data"
VERDICTS = (BETTER, NO_DIFFERENCE, WORSE, INSUFFICIENT)
DEFAULT_BASELINES = ("lstm", "gru")

COMPARISON_COLUMNS = [
    "task", "baseline", "cell", "metric", "direction",
    "n_cell", "n_baseline", "top_n_cell", "top_n_baseline",
    "top_mean_cell", "top_mean_baseline", "top_mean_diff", "welch_t", "welch_p", "welch_p_holm",
    "cohens_d",
    "median_cell", "median_baseline", "median_diff", "median_diff_ci_low", "median_diff_ci_high",
    "mwu_u", "mwu_p", "mwu_p_holm", "cliffs_delta",
    "verdict", "verdict_all",
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


def verdict(p_adjusted: float, difference: float, direction: Direction, alpha: float) -> str:
    """"better" / "worse" when the corrected p-value is below ``alpha`` (by the sign of
    ``difference`` = cell - baseline and the direction), else "no significant difference"."""
    if not np.isfinite(p_adjusted):
        return INSUFFICIENT if np.isnan(difference) else NO_DIFFERENCE
    if p_adjusted >= alpha or difference == 0:
        return NO_DIFFERENCE
    return BETTER if better_sign(direction) * difference > 0 else WORSE


def stars(p: float, alpha: float = 0.05) -> str:
    """Significance marks for figures: *** p<0.001, ** p<0.01, * p<alpha, "" otherwise."""
    if not np.isfinite(p) or p >= alpha:
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*"


def _pair_seed(seed: int, *names: object) -> np.random.Generator:
    # a stream per (task, baseline, cell), independent of the order cells are compared in
    key = [zlib.crc32(str(n).encode()) for n in names]
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))


def compare_to_baselines(df: pd.DataFrame, baselines: Sequence[str] = DEFAULT_BASELINES, *,
                         metric: str | None = None, cells: Sequence[str] | None = None,
                         top_fraction: float = 0.1, min_top: int = 5, alpha: float = 0.05,
                         n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Compare every cell with every baseline, per task setting.

    Args:
        df: the table of :func:`lstm_search.results.load_results`.
        baselines: cell names to compare against (default LSTM and GRU); a baseline missing from
            a task (or without a completed trial there) is skipped with a warning and listed in
            ``result.attrs["missing_baselines"]`` (or ``attrs["empty_baselines"]``).
        metric: the column compared (default per task: the test metric of the objective).
        cells: restrict the compared cells (default: every cell of the task but the baseline).
        top_fraction, min_top: Greff's best-10% selection by validation score (``objective``,
            ranked in the search's own direction whatever the metric compared).
        alpha: level for the verdicts, applied to Holm-corrected p-values.
        n_boot, seed: bootstrap resamples and seed for the median-difference interval.

    Returns:
        One row per (task, baseline, cell) with the columns of ``COMPARISON_COLUMNS``:
        ``verdict`` from Welch on the best trials (tuned quality), ``verdict_all`` from
        Mann-Whitney on all completed trials (robustness). Differences and effect sizes are
        ``cell - baseline`` in metric units. A task run at several settings (``task.gap`` ...)
        is compared per setting; ``task`` holds the label (``"recall gap=50"``).
    """
    require_columns(df, ["task", "cell", "status", "objective"], "compare_to_baselines")
    if metric is not None and metric not in df.columns:
        raise AnalysisError(f"compare_to_baselines: metric {metric!r} is not a column of the "
                            "results table")
    if not baselines:
        raise AnalysisError("compare_to_baselines: give at least one baseline cell name")
    opts = dict(top_fraction=top_fraction, min_top=min_top, n_boot=n_boot, seed=seed)
    rows: list[dict[str, object]] = []
    missing: list[tuple[str, str]] = []
    empty: list[tuple[str, str]] = []
    for task, tdf in task_groups(df):
        name, direction = task_metric(tdf, metric)
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
            family = [_compare_pair(task, base, cell, bdf, completed(tdf[tdf["cell"] == cell],
                                                                     name), name, direction,
                                    **opts) for cell in compared if cell != base]
            _add_verdicts(family, direction, alpha)
            rows.extend(family)
    _warn_baselines(missing, empty)
    out = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    out.attrs.update(missing_baselines=missing, empty_baselines=empty, alpha=alpha)
    return out


def _compare_pair(task: str, base: str, cell: str, bdf: pd.DataFrame, cdf: pd.DataFrame,
                  name: str, direction: Direction, *, top_fraction: float, min_top: int,
                  n_boot: int, seed: int) -> dict[str, object]:
    """One comparison row: cell against baseline on the best trials and on all trials."""
    b_all, c_all = values(bdf, name), values(cdf, name)
    b_top = values(best_trials(bdf, fraction=top_fraction, min_n=min_top), name)
    c_top = values(best_trials(cdf, fraction=top_fraction, min_n=min_top), name)
    row: dict[str, object] = {
        "task": task, "baseline": base, "cell": cell, "metric": name,
        "direction": direction, "n_cell": c_all.size, "n_baseline": b_all.size,
        "top_n_cell": c_top.size, "top_n_baseline": b_top.size,
        "top_mean_cell": _mean(c_top), "top_mean_baseline": _mean(b_top),
        "top_mean_diff": _mean(c_top) - _mean(b_top),
    }
    row["welch_t"], row["welch_p"] = welch_test(c_top, b_top)
    row["cohens_d"] = cohens_d(c_top, b_top)
    med, lo, hi = bootstrap_median_diff(c_all, b_all, n_boot=n_boot,
                                        seed=_pair_seed(seed, task, base, cell))
    row.update(median_cell=_median(c_all), median_baseline=_median(b_all), median_diff=med,
               median_diff_ci_low=lo, median_diff_ci_high=hi)
    row["mwu_u"], row["mwu_p"] = mann_whitney(c_all, b_all)
    row["cliffs_delta"] = cliffs_delta(c_all, b_all)
    return row


def _add_verdicts(family: list[dict[str, object]], direction: Direction, alpha: float) -> None:
    """Holm-correct one family (the cells compared with one baseline) and add the verdicts."""
    welch_holm = holm([r["welch_p"] for r in family])  # type: ignore[misc]
    mwu_holm = holm([r["mwu_p"] for r in family])  # type: ignore[misc]
    for r, pw, pm in zip(family, welch_holm, mwu_holm):
        r["welch_p_holm"], r["mwu_p_holm"] = float(pw), float(pm)
        top_n = min(int(r["top_n_cell"]), int(r["top_n_baseline"]))  # type: ignore[call-overload]
        all_n = min(int(r["n_cell"]), int(r["n_baseline"]))  # type: ignore[call-overload]
        r["verdict"] = _verdict_or_insufficient(r["welch_p"], pw, r["top_mean_diff"],
                                                direction, alpha, n=top_n)
        r["verdict_all"] = _verdict_or_insufficient(r["mwu_p"], pm, r["cliffs_delta"],
                                                    direction, alpha, n=all_n)


def _warn_baselines(missing: list[tuple[str, str]], empty: list[tuple[str, str]]) -> None:
    if missing:
        warnings.warn("baseline(s) not in the results table: "
                      + ", ".join(f"{b!r} (task {t!r})" for t, b in missing), stacklevel=3)
    if empty:
        warnings.warn("baseline(s) without a completed trial: "
                      + ", ".join(f"{b!r} has no completed trial on task {t!r}"
                                  for t, b in empty), stacklevel=3)


def _verdict_or_insufficient(p: object, p_adj: float, diff: object, direction: Direction,
                             alpha: float, *, n: int = 2) -> str:
    """The verdict; without a p-value "insufficient data", except for identical constant
    samples of at least two values each (``n``: the smaller sample), plainly not different."""
    if not np.isfinite(float(p)):  # type: ignore[arg-type]
        d = float(diff)  # type: ignore[arg-type]
        return NO_DIFFERENCE if d == 0 and n >= 2 else INSUFFICIENT
    return verdict(p_adj, float(diff), direction, alpha)  # type: ignore[arg-type]


def _mean(v: np.ndarray) -> float:
    return float(v.mean()) if v.size else float("nan")


def _median(v: np.ndarray) -> float:
    return float(np.median(v)) if v.size else float("nan")
