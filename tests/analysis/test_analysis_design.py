"""Comparisons that fit the design: known answers on synthetic grids, printed in report.md.

Each table is a grid: every cell trained once at each of 12 settings (learning rates), so the
right analysis is paired on the setting. The setting itself moves the metric far more than the
cells differ, which is what makes a paired effect invisible to unpaired tests.
"""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from lstm_search.analysis import compare_to_baselines, summarize, write_report
from lstm_search.analysis._bootstrap import (
    exact_median_interval,
    median_of_resamples,
    percentile_interval,
    tolerance_for,
)
from lstm_search.analysis._rank import rank_sum, signed_rank
from lstm_search.analysis.design import detect_design

N_SETTINGS = 12


def grid(task: str, cells: dict[str, np.ndarray], *, metric: str = "nll",
         direction: str = "minimize", seed: int = 0) -> pd.DataFrame:
    """One completed row per (cell, setting); validation = test + small noise."""
    rng = np.random.default_rng(seed)
    lrs = np.logspace(-4, -1, N_SETTINGS)
    rows = []
    for cell, values in cells.items():
        for lr, v in zip(lrs, values):
            rows.append({"task": task, "cell": cell, "status": "complete", "run": "r",
                         "trial": len(rows), "hp.lr": float(lr), "seed": 1,
                         "objective": float(v + rng.normal(0, 1e-3)), "objective_name": metric,
                         "direction": direction, f"test.{metric}": float(v)})
    return pd.DataFrame(rows)


def paired_effect(seed: int = 0) -> pd.DataFrame:
    """`better` is 0.3 below `lstm` at every setting; settings spread the NLL by SD 2."""
    rng = np.random.default_rng(seed)
    setting = rng.normal(0, 2.0, N_SETTINGS)
    base = 5 + setting + rng.normal(0, 0.05, N_SETTINGS)
    return grid("paired", {"lstm": base,
                           "better": base - 0.3 + rng.normal(0, 0.05, N_SETTINGS)})


def null_effect(seed: int = 1) -> pd.DataFrame:
    """`same` differs from `lstm` by noise of SD 1 around 0 at each setting."""
    rng = np.random.default_rng(seed)
    base = 5 + rng.normal(0, 2.0, N_SETTINGS)
    return grid("null", {"lstm": base, "same": base + rng.normal(0, 1.0, N_SETTINGS)},
                seed=seed)


def equivalent_effect(seed: int = 2) -> pd.DataFrame:
    """`twin` within 0.02 of `lstm` at each setting; the default margin is about 0.5."""
    rng = np.random.default_rng(seed)
    base = 5 + rng.normal(0, 2.0, N_SETTINGS)
    return grid("equivalent", {"lstm": base,
                               "twin": base + rng.normal(0, 0.02, N_SETTINGS)}, seed=seed)


def ceiling_effect(seed: int = 3) -> pd.DataFrame:
    """Accuracy: `lstm` at 1.0 at every setting, `flaky` below it at 10 of 12."""
    rng = np.random.default_rng(seed)
    flaky = np.ones(N_SETTINGS)
    flaky[:10] = 1 - rng.uniform(0.002, 0.02, 10)
    return grid("ceiling", {"lstm": np.ones(N_SETTINGS), "flaky": flaky}, metric="acc",
                direction="maximize", seed=seed)


def comparison_row(markdown: str, task: str, baseline: str, cell: str) -> str:
    """The line of ``cell`` in the comparison table against ``baseline`` in task ``task``."""
    section = markdown.split(f"## Task {task}\n", 1)[1].split("\n## ", 1)[0]
    part = section.split(f"Against `{baseline}`", 1)[1]
    for line in part.splitlines():
        if line.startswith(f"| {cell} |"):
            return line
    raise AssertionError(f"no row for {cell!r} against {baseline!r} in task {task!r}")


@pytest.fixture(scope="module")
def known_report(tmp_path_factory: pytest.TempPathFactory) -> str:
    df = pd.concat([paired_effect(), null_effect(), equivalent_effect(), ceiling_effect()],
                   ignore_index=True)
    out = tmp_path_factory.mktemp("known")
    write_report(df, out, baselines=["lstm"], importance_method="ped-anova")
    return (out / "report.md").read_text(encoding="utf-8")


# --- the design ------------------------------------------------------------------------------

def test_a_grid_is_detected_as_paired_and_a_random_search_as_independent():
    design = detect_design(paired_effect())
    assert design.paired and design.n_settings == N_SETTINGS
    assert design.columns == ("hp.lr", "seed")
    assert "paired" in design.reason and "`hp.lr`, `seed`" in design.reason
    rng = np.random.default_rng(0)
    df = paired_effect().assign(**{"hp.lr": rng.uniform(1e-4, 1e-1, 2 * N_SETTINGS)})
    independent = detect_design(df)
    assert not independent.paired
    assert "no two cells share a setting" in independent.reason
    one = grid("t", {"lstm": [1.0], "gru": [2.0]})  # one trial per cell at one setting
    assert not detect_design(one).paired and "one setting" in detect_design(one).reason


def test_an_explicit_setting_column_pairs_and_repeats_break_the_pairing():
    df = paired_effect().assign(**{"hp.setting": list(range(N_SETTINGS)) * 2,
                                   "hp.lr": np.random.default_rng(0).uniform(0, 1, 24)})
    assert detect_design(df).columns == ("hp.setting",) and detect_design(df).paired
    twice = pd.concat([paired_effect(), paired_effect()], ignore_index=True)
    design = detect_design(twice)
    assert not design.paired and "more than once at one setting" in design.reason


# --- exact rank tests ------------------------------------------------------------------------

def test_exact_signed_rank_matches_scipy_without_ties_and_enumeration_with_ties():
    d = np.array([0.3, -1.1, 2.0, 0.7, 1.5, -0.2, 0.9, 1.2])
    w, p, exact = signed_rank(d)
    ref = sps.wilcoxon(d, method="exact")
    assert exact and p == pytest.approx(ref.pvalue)
    assert w == pytest.approx(sum(r for r, x in zip(sps.rankdata(abs(d)), d) if x > 0))
    # ties and a zero: brute force over every sign pattern of the nonzero mid-ranks
    t = np.array([1.0, 1.0, -2.0, 0.0, 3.0, 3.0, 3.0])
    nz = t[t != 0]
    r = sps.rankdata(abs(nz))
    obs = r[nz > 0].sum()
    null = [sum(ri for ri, s in zip(r, signs) if s) for signs in
            itertools.product([0, 1], repeat=nz.size)]
    brute = np.mean([abs(x - r.sum() / 2) >= abs(obs - r.sum() / 2) - 1e-9 for x in null])
    assert signed_rank(t)[1] == pytest.approx(brute)
    assert signed_rank(np.full(5, 1.0), "greater")[1] == pytest.approx(1 / 32)


def test_exact_rank_sum_matches_scipy_without_ties_and_counts_splits_with_ties():
    x, y = np.array([1.2, 3.4, 2.2, 5.0]), np.array([0.1, 0.5, 2.0, 0.7, 1.0])
    u, p, exact = rank_sum(x, y)
    ref = sps.mannwhitneyu(x, y, method="exact")
    assert exact and u == ref.statistic and p == pytest.approx(ref.pvalue)
    # at a ceiling: 5 at 1.0 against 5 below it, every split enumerated
    assert rank_sum(np.ones(5), np.linspace(0.9, 0.95, 5))[1] == pytest.approx(
        2 / math.comb(10, 5))


def test_smallest_n_the_exact_tests_can_reject_at():
    from lstm_search.analysis.stats import smallest_n

    # signed-rank: 2/2^5 = 0.0625 misses 0.05, 2/2^6 reaches it; Holm over 9 needs 2/2^n < 0.05/9
    assert smallest_n(1, 0.05, paired=True) == 6 and smallest_n(9, 0.05, paired=True) == 9
    # Mann-Whitney: 2/C(6,3) = 0.1 misses, 2/C(8,4) = 0.029 reaches
    assert smallest_n(1, 0.05, paired=False) == 4


# --- stable bootstraps -----------------------------------------------------------------------

def test_exact_bootstrap_has_no_seed_and_agrees_with_many_resamples():
    d = np.array([0.3, -1.1, 2.0, 0.7, 1.5, -0.2, 0.9, 40.0])  # one diverged setting
    exact = exact_median_interval(d)
    assert exact is not None and exact.n_boot == 0
    mc = percentile_interval(median_of_resamples(d), seed=0, tolerance=1e-9, start=200_000,
                             max_boot=200_000)
    assert (mc.low, mc.high) == pytest.approx((exact.low, exact.high), abs=1e-9)


@pytest.mark.parametrize("n", [25, 60])
def test_monte_carlo_bootstrap_endpoints_move_less_than_the_tolerance_between_seeds(n):
    rng = np.random.default_rng(n)
    d = np.concatenate([rng.normal(0.5, 1.0, n - 3), [30.0, 45.0, -20.0]])  # heavy tails
    tol = tolerance_for(d)  # 2% of the SD
    ends = []
    for seed in range(6):
        iv = percentile_interval(median_of_resamples(d), seed=seed, tolerance=tol)
        assert iv.settled and iv.moved <= tol
        ends.append((iv.low, iv.high))
    ends = np.array(ends)
    # between seeds (not only between the two streams one seed checks) the endpoints agree
    # within twice the tolerance: each stream is within tol of another at the same size
    assert np.ptp(ends[:, 0]) <= 2 * tol and np.ptp(ends[:, 1]) <= 2 * tol


def test_comparison_records_the_resamples_and_the_seed():
    rng = np.random.default_rng(9)
    rows = [{"task": "t", "cell": c, "status": "complete", "run": "r", "trial": i * 2 + k,
             "objective": float(v), "objective_name": "nll", "direction": "minimize",
             "test.nll": float(v), "seed": i * 2 + k}
            for i in range(40) for k, (c, v) in enumerate(
                (("lstm", rng.normal(1, 0.3)), ("gru", rng.normal(1.1, 0.3))))]
    out = compare_to_baselines(pd.DataFrame(rows), ["lstm"], seed=11)
    assert out.attrs["seed"] == 11 and out.loc[0, "design"] == "independent"
    assert out.loc[0, "n_boot"] >= 2000 and bool(out.loc[0, "ci_settled"])


# --- verdicts at the function level ----------------------------------------------------------

def test_a_paired_effect_is_found_paired_and_missed_unpaired():
    df = paired_effect()
    paired = compare_to_baselines(df, ["lstm"]).iloc[0]
    assert paired["design"] == "paired" and paired["n"] == N_SETTINGS
    assert paired["n_better"] == N_SETTINGS and paired["verdict"] == "better"
    assert paired["p"] == pytest.approx(2 / 2**N_SETTINGS)  # exact: every sign agrees
    unpaired = compare_to_baselines(df, ["lstm"], design="independent").iloc[0]
    assert unpaired["p"] > 0.3 and unpaired["verdict"] == "inconclusive"


def test_a_true_null_is_rarely_called_better_or_worse():
    wrong = 0
    for seed in range(40):
        v = compare_to_baselines(null_effect(seed), ["lstm"]).loc[0, "verdict"]
        wrong += v in ("better", "worse")  # "equivalent" is right: the true difference is 0
    assert wrong <= 5  # about 5% expected at alpha 0.05


def test_margin_is_validated_and_settable():
    from lstm_search.analysis import AnalysisError

    with pytest.raises(AnalysisError, match="margin must be a positive number"):
        compare_to_baselines(null_effect(), ["lstm"], margin=-1.0)
    wide = compare_to_baselines(null_effect(), ["lstm"], margin=50.0).iloc[0]
    assert wide["margin"] == 50.0 and wide["verdict"] == "equivalent"


def test_summary_best_is_chosen_on_validation_not_on_test():
    df = grid("t", {"lstm": np.linspace(1, 2, N_SETTINGS)})
    # the trial best on test (1.0) is not the one best on validation
    df.loc[0, "objective"] = 9.0
    df.loc[5, "objective"] = 0.5
    s = summarize(df).iloc[0]
    assert s["best"] == pytest.approx(df.loc[5, "test.nll"]) and s["best_trial"] == 5
    assert not s["top_applies"]  # 12 trials: Greff's best 10% would be 5 of 12


# --- the verdicts the report prints ----------------------------------------------------------

def test_report_states_the_design_and_why(known_report):
    section = known_report.split("## Task paired\n", 1)[1]
    assert "Design: paired: 24 of 24 trials sit at 12 settings" in section
    assert "Seed: 0." in known_report  # the bootstrap seed is recorded


def test_report_prints_better_for_a_paired_effect(known_report):
    row = comparison_row(known_report, "paired", "lstm", "better")
    assert "| better |" in row and "| 12 / 0 / 0 |" in row
    assert "Wilcoxon signed-rank (exact)" in row


def test_report_prints_inconclusive_with_the_mde_for_a_true_null(known_report):
    row = comparison_row(known_report, "null", "lstm", "same")
    assert "| inconclusive |" in row
    assert re.search(r"\| \d[\d.]* \(n ≈ \d+\) \|$", row)  # MDE and the n for the margin


def test_report_prints_equivalent_within_the_margin(known_report):
    row = comparison_row(known_report, "equivalent", "lstm", "twin")
    m = re.search(r"\| equivalent within ±([\d.]+) \|", row)
    assert m and 0.2 < float(m.group(1)) < 1.5


def test_report_at_a_ceiling_leads_with_ranks_and_withholds_cohens_d(known_report):
    row = comparison_row(known_report, "ceiling", "lstm", "flaky")
    assert "| worse |" in row and "n/a: ceiling" in row
    assert "| 0 / 10 / 2 |" in row


def test_report_warns_that_a_grid_of_12_points_does_not_identify_importance(known_report):
    section = known_report.split("## Task paired\n", 1)[1].split("\n## ", 1)[0]
    assert ("Warning: the hyperparameters take only 12 distinct joint values in the completed "
            "trials (fewer than 20)") in section
    assert "Scales read: `lr` log (inferred)" in section
