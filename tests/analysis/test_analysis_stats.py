"""Statistics against baselines: scipy parity, Holm by hand, exact rank tests, verdicts on known
effects for independent samples (the paired design is tested in test_analysis_design.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from lstm_search.analysis import (
    bootstrap_median_diff,
    cliffs_delta,
    cohens_d,
    compare_to_baselines,
    holm,
)


def synthetic(cells: dict[str, np.ndarray], *, direction: str = "minimize", metric: str = "nll",
              seed: int = 0) -> pd.DataFrame:
    """A results table: one completed row per value; validation = test + small noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for cell, values in cells.items():
        for v in values:
            rows.append({"task": "t", "cell": cell, "status": "complete", "run": "r",
                         "trial": len(rows), "objective": float(v + rng.normal(0, 0.01)),
                         "objective_name": metric, "direction": direction,
                         f"test.{metric}": float(v), "seed": len(rows)})  # independent
    return pd.DataFrame(rows)


def top(df: pd.DataFrame, cell: str, direction: str, metric: str = "test.nll") -> np.ndarray:
    rows = df[df["cell"] == cell]
    k = max(5, math.ceil(0.1 * len(rows)))
    rows = rows.sort_values("objective", ascending=direction == "minimize")
    return rows[metric].to_numpy()[:k]


def test_holm_matches_hand_computation():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone: .02 .03 .06 .06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    out = holm([np.nan, 0.01, 0.02])  # NaN is not part of the family: m = 2
    assert np.isnan(out[0])
    np.testing.assert_allclose(out[1:], [0.02, 0.02])
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])  # capped at 1
    assert holm([]).shape == (0,)


def test_effect_sizes_against_definitions():
    x = np.array([1.0, 2.0, 3.0, 4.0, 4.0])
    y = np.array([2.0, 2.0, 5.0, 6.0])
    pooled = math.sqrt(((len(x) - 1) * x.var(ddof=1) + (len(y) - 1) * y.var(ddof=1))
                       / (len(x) + len(y) - 2))
    assert cohens_d(x, y) == pytest.approx((x.mean() - y.mean()) / pooled)
    brute = sum(np.sign(a - b) for a in x for b in y) / (len(x) * len(y))
    assert cliffs_delta(x, y) == pytest.approx(brute)
    # the rank identity with scipy's U: delta = 2U/(nm) - 1
    u = sps.mannwhitneyu(x, y).statistic
    assert cliffs_delta(x, y) == pytest.approx(2 * u / (len(x) * len(y)) - 1)
    assert math.isnan(cohens_d(x[:1], y))


def test_bootstrap_is_seeded_and_covers_the_difference():
    rng = np.random.default_rng(3)
    x, y = rng.normal(1.0, 1, 400), rng.normal(0.0, 1, 400)
    a = bootstrap_median_diff(x, y, seed=7)
    assert a == bootstrap_median_diff(x, y, seed=7)
    assert a != bootstrap_median_diff(x, y, seed=8)
    diff, lo, hi = a
    assert diff == pytest.approx(np.median(x) - np.median(y))
    assert lo < diff < hi and lo < 1.0 < hi and hi - lo < 0.6


def test_known_effects_get_the_right_verdicts_and_scipy_p_values():
    rng = np.random.default_rng(0)
    base = rng.normal(1.0, 0.1, 60)
    df = synthetic({"lstm": base, "worse": rng.normal(1.4, 0.1, 60),
                    "identical": base.copy(), "same_dist": rng.normal(1.0, 0.1, 50),
                    "better": rng.normal(0.8, 0.1, 40)})
    out = compare_to_baselines(df, ["lstm"], seed=0, margin=0.1).set_index("cell")
    assert (out["design"] == "independent").all()
    assert out.loc["worse", "verdict"] == "worse"
    assert out.loc["better", "verdict"] == "better"
    # 60 / 50 trials per cell: Greff's best 10% (6 / 5 of them) applies, Welch agrees
    assert out["top_applies"].all()
    assert out.loc["worse", "verdict_tuned"] == "worse"
    assert out.loc["better", "verdict_tuned"] == "better"
    for cell in ("identical", "same_dist"):
        assert out.loc[cell, "verdict"] in ("equivalent", "inconclusive")
        assert out.loc[cell, "verdict_tuned"] == "inconclusive"
    assert out.loc["identical", "verdict"] == "equivalent"  # same 60 values: within any margin
    assert out.loc["identical", "cliffs_delta"] == 0.0
    # p-values equal scipy's on the same samples (best trials by validation / all trials)
    b_top = top(df, "lstm", "minimize")
    for cell in out.index:
        c_top = top(df, cell, "minimize")
        welch = sps.ttest_ind(c_top, b_top, equal_var=False)
        assert out.loc[cell, "welch_p"] == pytest.approx(welch.pvalue, rel=1e-9, nan_ok=True)
        c_all = df[df.cell == cell]["test.nll"]
        mwu = sps.mannwhitneyu(c_all, base, alternative="two-sided")
        assert out.loc[cell, "p"] == pytest.approx(mwu.pvalue, rel=1e-9)
        assert out.loc[cell, "t_p"] == pytest.approx(
            sps.ttest_ind(c_all, base, equal_var=False).pvalue, rel=1e-9)
        assert out.loc[cell, "top_n_cell"] == len(c_top)
    # Holm across the compared cells, per test
    np.testing.assert_allclose(out["welch_p_holm"], holm(out["welch_p"].to_numpy()))
    np.testing.assert_allclose(out["p_holm"], holm(out["p"].to_numpy()))
    np.testing.assert_allclose(out["tost_p_holm"], holm(out["tost_p"].to_numpy()))
    assert out.loc["worse", "top_mean_diff"] > 0.3  # cell - baseline, metric units


def test_direction_maximize_flips_the_verdict():
    rng = np.random.default_rng(1)
    df = synthetic({"gru": rng.normal(0.7, 0.05, 50), "higher": rng.normal(0.8, 0.05, 50),
                    "lower": rng.normal(0.6, 0.05, 50)}, direction="maximize", metric="acc")
    out = compare_to_baselines(df, ["gru"]).set_index("cell")
    assert (out["metric"] == "test.acc").all() and (out["direction"] == "maximize").all()
    assert out.loc["higher", "verdict"] == "better" and out.loc["lower", "verdict"] == "worse"
    assert out.loc["higher", "verdict_tuned"] == "better"
    assert out.loc["lower", "verdict_tuned"] == "worse"


def test_holm_changes_a_verdict_that_a_single_test_would_give():
    # three cells each with p ~ 0.03 uncorrected: Holm makes the family non-significant
    rng = np.random.default_rng(5)
    base = rng.normal(0, 1, 30)
    cells = {"lstm": base}
    shift = 2.2 * base.std(ddof=1) * math.sqrt(2 / 30)  # t = 2.2 on 58 df: p ~ 0.03
    for i in range(3):
        cells[f"c{i}"] = rng.permutation(base) + shift
    out = compare_to_baselines(synthetic(cells), ["lstm"], min_top=30)
    assert (out["welch_p"] < 0.05).all()
    assert (out["welch_p_holm"] >= 0.05).all()
    assert (out["verdict_tuned"] == "inconclusive").all()
    assert (out["p"] < 0.05).all() and (out["p_holm"] >= 0.05).all()
    assert (out["verdict"] == "inconclusive").all()  # and not equivalent: shifted by 0.6 SD


def test_missing_baseline_and_insufficient_data():
    rng = np.random.default_rng(2)
    df = synthetic({"lstm": rng.normal(1, 0.1, 20), "lonely": np.array([1.0])})
    with pytest.warns(UserWarning, match="'gru'"):
        out = compare_to_baselines(df, ["lstm", "gru"])
    assert out.attrs["missing_baselines"] == [("t", "gru")]
    assert list(out["baseline"]) == ["lstm"]
    row = out.set_index("cell").loc["lonely"]
    assert row["verdict"] == "insufficient data"
    assert row["verdict_tuned"] == "not applicable"  # 1 and 20 trials: no best 10%


def test_fixture_search_noaf_is_worse_than_lstm(greff_table, names):
    out = compare_to_baselines(greff_table, ["lstm", "gru"])
    by = out.set_index(["baseline", "cell"])
    for base in ("lstm", "gru"):
        assert by.loc[(base, "noaf"), "verdict"] == "worse"
        # Welch on the best 10% where noaf kept 20 completed trials
        assert by.loc[(base, "noaf"), "verdict_tuned"] in ("worse", "not applicable")
        assert by.loc[(base, names["random-better"]), "top_mean_diff"] < 0
    assert len(out) == 2 * (greff_table["cell"].nunique() - 1)


def test_cohens_d_is_undefined_without_spread():
    same = np.full(6, 0.5)
    assert math.isnan(cohens_d(same, same + 0.25))  # was +-inf
    assert math.isnan(cohens_d(same, same))


def test_constant_samples_get_no_t_test_and_the_rank_test_leads():
    import warnings

    df = synthetic({"lstm": np.full(6, 0.5), "same": np.full(6, 0.5), "up": np.full(6, 0.75),
                    "near": 0.5 + np.array([0, 1e-17, 0, 0, 2e-17, 0]),
                    "noisy": np.linspace(0.4, 0.6, 6)}, direction="maximize", metric="acc")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy's precision-loss RuntimeWarning must not leak
        out = compare_to_baselines(df, ["lstm"], margin=0.05).set_index("cell")
    assert math.isnan(out.loc["up", "t_p"]) and math.isnan(out.loc["up", "cohens_d"])
    assert out.loc["up", "ceiling"] and out.loc["noisy", "ceiling"]  # lstm is constant
    # exact Mann-Whitney on 6 vs 6 with every "up" above every "lstm": p = 2 / C(12, 6)
    assert out.loc["up", "p"] == pytest.approx(2 / math.comb(12, 6))
    assert out.loc["up", "verdict"] == "better"  # ranks still tell the groups apart
    assert out.loc["same", "verdict"] == "equivalent"
    assert math.isfinite(out.loc["noisy", "t_p"])


def test_baseline_without_a_completed_trial_is_named_as_such():
    rng = np.random.default_rng(4)
    df = synthetic({"lstm": rng.normal(1, 0.1, 8), "gru": rng.normal(1, 0.1, 8),
                    "nfg": rng.normal(1, 0.1, 8)})
    df.loc[df["cell"] == "gru", "status"] = "failed"
    with pytest.warns(UserWarning, match="'gru' has no completed trial on task 't'"):
        out = compare_to_baselines(df, ["lstm", "gru"])
    assert out.attrs["empty_baselines"] == [("t", "gru")]
    assert out.attrs["missing_baselines"] == []
    assert list(out["baseline"].unique()) == ["lstm"]


def test_best_trials_follow_the_objective_when_the_metric_is_maximised():
    # objective NLL (minimise); compared on test accuracy (maximise) which tracks it
    rng = np.random.default_rng(6)
    rows = []
    for cell, shift in (("lstm", 0.0), ("good", -0.4)):
        for _ in range(40):
            nll = float(rng.uniform(0.5, 3.0)) + shift
            rows.append({"task": "t", "cell": cell, "status": "complete", "run": "r",
                         "trial": len(rows), "objective": nll, "objective_name": "nll",
                         "direction": "minimize", "test.nll": nll, "test.acc": 1 - nll / 4})
    df = pd.DataFrame(rows)
    out = compare_to_baselines(df, ["lstm"], metric="test.acc").set_index("cell")
    for cell in ("lstm", "good"):
        tuned = df[df["cell"] == cell].nsmallest(5, "objective")["test.acc"]
        col = "top_mean_baseline" if cell == "lstm" else "top_mean_cell"
        assert out.loc["good", col] == pytest.approx(tuned.mean())
    assert out.loc["good", "direction"] == "maximize"


def test_comparisons_are_per_task_setting():
    rng = np.random.default_rng(7)
    parts = []
    for gap, loss in ((10, 0.0), (100, 0.5)):
        part = synthetic({"lstm": rng.normal(0.9, 0.02, 10),
                          "nfg": rng.normal(0.9 - loss, 0.02, 10)},
                         direction="maximize", metric="acc", seed=gap)
        parts.append(part.assign(**{"task.gap": gap, "trial": part["trial"] + 100 * gap}))
    out = compare_to_baselines(pd.concat(parts, ignore_index=True), ["lstm"])
    by = out.set_index("task")
    assert list(out["task"]) == ["t gap=10", "t gap=100"]
    assert by.loc["t gap=100", "verdict"] == "worse"
    assert by.loc["t gap=10", "verdict"] in ("inconclusive", "equivalent")
    assert (out["n_cell"] == 10).all()


def test_single_trials_are_insufficient_data_even_when_equal():
    # one trial per cell (a grid with one seed): equal values are no evidence of no difference
    df = synthetic({"lstm": np.array([1.0]), "gru": np.array([1.0]), "nfg": np.array([0.2])},
                   direction="maximize", metric="acc")
    out = compare_to_baselines(df, ["lstm"], min_top=1).set_index("cell")
    assert out.loc["gru", "verdict"] == "insufficient data"
    assert out.loc["gru", "verdict_tuned"] == "not applicable"
    assert out.loc["nfg", "verdict"] == "insufficient data"
