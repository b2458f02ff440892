"""Rank tests exact at small n: Wilcoxon's signed-rank test on paired differences and the
Mann-Whitney U test on two independent samples, two-sided or one-sided, with ties.

At the sizes of a small grid (8 settings, 5 trials per cell) the normal approximation is poor
and scipy's exact null distributions assume no ties, which a metric at its ceiling (accuracy
1.0) always has. Here the null distribution is enumerated: every assignment of signs to the
nonzero differences (Wilcoxon 1945; zeros dropped, mid-ranks for ties), every split of the
pooled values into the two groups (Mann & Whitney 1947; mid-ranks). Larger samples use scipy's
normal approximation with tie correction.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import numpy as np

Alternative = Literal["two-sided", "greater", "less"]
MAX_EXACT_SIGNED = 16  # 2**16 sign assignments
MAX_EXACT_SPLITS = 50_000  # C(n + m, n) splits of the pooled sample


def _ranks(a: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(a)


def signed_rank(d: np.ndarray, alternative: Alternative = "two-sided") -> tuple[float, float,
                                                                                bool]:
    """Wilcoxon's signed-rank test of "the differences ``d`` are centred on 0".

    Returns ``(W+, p, exact)``: the sum of the ranks of the positive differences, the p-value
    (``"greater"``: differences tend to be positive) and whether it was enumerated exactly.
    NaN when no difference is nonzero.
    """
    d = np.asarray(d, float)
    d = d[d != 0]
    n = d.size
    if n == 0:
        return float("nan"), float("nan"), True
    r = _ranks(np.abs(d))
    w = float(r[d > 0].sum())
    if n <= MAX_EXACT_SIGNED:
        signs = (np.arange(2**n)[:, None] >> np.arange(n)) & 1  # (2**n, n): every sign pattern
        null = signs @ r  # (2**n,) W+ under each pattern
        return w, _tail(null, w, r.sum() / 2, alternative), True
    from scipy import stats as sps

    res = sps.wilcoxon(d, alternative=alternative, method="approx", zero_method="wilcox")
    return w, float(res.pvalue), False


def rank_sum(x: np.ndarray, y: np.ndarray, alternative: Alternative = "two-sided"
             ) -> tuple[float, float, bool]:
    """Mann-Whitney U test of "``x`` and ``y`` come from one distribution".

    Returns ``(U, p, exact)`` with U the number of pairs where x > y (ties count a half);
    ``"greater"``: x tends to be larger. NaN for an empty sample.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    nx, ny = x.size, y.size
    if nx == 0 or ny == 0:
        return float("nan"), float("nan"), True
    pooled = np.concatenate([x, y])
    r = _ranks(pooled)
    u = float(r[:nx].sum() - nx * (nx + 1) / 2)
    if math.comb(nx + ny, nx) <= MAX_EXACT_SPLITS:
        idx = np.array(list(itertools.combinations(range(nx + ny), nx)))  # (splits, nx)
        null = r[idx].sum(axis=1) - nx * (nx + 1) / 2
        return u, _tail(null, u, nx * ny / 2, alternative), True
    from scipy import stats as sps

    res = sps.mannwhitneyu(x, y, alternative=alternative, method="asymptotic")
    return u, float(res.pvalue), False


def _tail(null: np.ndarray, observed: float, centre: float, alternative: Alternative) -> float:
    """P-value of ``observed`` under the enumerated ``null`` (equally likely outcomes)."""
    eps = 1e-9 * max(1.0, abs(centre))
    if alternative == "greater":
        return float(np.mean(null >= observed - eps))
    if alternative == "less":
        return float(np.mean(null <= observed + eps))
    return float(min(1.0, np.mean(np.abs(null - centre) >= abs(observed - centre) - eps)))


def smallest_p(n: int, paired: bool, n_other: int = 0) -> float:
    """The smallest two-sided p-value the exact test can give at this size: a test that
    cannot reach alpha at any effect is the reason a comparison stays inconclusive."""
    if n <= 0:
        return 1.0
    if paired:
        return min(1.0, 2.0 / 2**n)
    return min(1.0, 2.0 / math.comb(n + n_other, n))
