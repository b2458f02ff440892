"""Per-cell summary, metric choice and direction, Pareto fronts and the leaderboard."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest

from lstm_search.analysis import (
    AnalysisError,
    best_trials,
    default_metric,
    leaderboard,
    metric_direction,
    pareto_front,
    pareto_mask,
    summarize,
    task_keys,
    task_labels,
    with_task_labels,
)


def test_summary_counts_and_statistics_by_hand(greff_table):
    s = summarize(greff_table).set_index("cell")
    assert set(s.index) == set(greff_table["cell"])
    assert (s["metric"] == "test.nll").all() and (s["direction"] == "minimize").all()
    for cell, rows in greff_table.groupby("cell"):
        counts = rows["status"].value_counts()
        for status in ("complete", "pruned", "failed", "invalid"):
            assert s.loc[cell, status] == counts.get(status, 0)
        assert s.loc[cell, "trials"] == len(rows)
        done = rows[rows["status"] == "complete"]
        # the test value of the trial best on validation, not the best test value
        pick = done.loc[done["objective"].idxmin()]
        assert s.loc[cell, "best"] == pytest.approx(pick["test.nll"])
        assert s.loc[cell, "best_trial"] == pick["trial"]
        assert s.loc[cell, "median"] == pytest.approx(done["test.nll"].median())
        k = max(5, math.ceil(0.1 * len(done)))
        best = done.nsmallest(k, "objective")["test.nll"].mean()  # by validation, not test
        assert s.loc[cell, "top_mean"] == pytest.approx(best)
        assert s.loc[cell, "top_n"] == k
        timed = rows.loc[rows["train_seconds"] > 0, "train_seconds"]  # 0: never trained
        assert s.loc[cell, "seconds_median"] == pytest.approx(timed.median())
    # ordered best first (by the best-10% mean where Greff's selection applies to every cell,
    # else by the median), the clearly worse variant last among Greff's
    key = "top_mean" if s["top_applies"].all() else "median"
    assert list(s[key]) == sorted(s[key])
    assert (s["top_applies"] == (s["complete"] >= 20)).all()
    assert s.index[-1] == "noaf" or s.loc["noaf", "top_mean"] > s.loc["lstm", "top_mean"] + 0.5


def test_direction_is_respected_for_maximised_metrics(mixed_table):
    s = summarize(mixed_table)
    recall = s[s["task"] == "recall gap=50"].set_index("cell")
    assert (recall["metric"] == "test.acc").all()
    assert (recall["direction"] == "maximize").all()
    rows = mixed_table[(mixed_table["task"] == "recall") & (mixed_table["cell"] == "gru")
                       & (mixed_table["task.gap"] == 50)]
    done = rows[rows["status"] == "complete"]
    obj = done["objective"]
    pick = done.loc[obj.idxmin() if done["direction"].iloc[0] == "minimize" else obj.idxmax()]
    assert recall.loc["gru", "best"] == pytest.approx(pick["test.acc"])
    key = "top_mean" if recall["top_applies"].all() else "median"
    assert list(recall[key]) == sorted(recall[key], reverse=True)


def test_metric_choice_and_direction(greff_table):
    assert default_metric(greff_table) == "test.nll"
    assert metric_direction(greff_table, "test.nll") == "minimize"
    assert metric_direction(greff_table.assign(direction="maximize"), "test.acc") == "maximize"
    assert metric_direction(greff_table, "valid.acc") == "maximize"  # known sense of acc
    only_valid = greff_table.drop(columns=["test.nll"])
    assert default_metric(only_valid) == "valid.nll"
    with pytest.raises(AnalysisError, match=r"test\.ppl"):
        summarize(greff_table, "test.ppl")
    with pytest.raises(AnalysisError, match="direction"):
        metric_direction(pd.concat([greff_table.head(3), greff_table.head(3).assign(
            direction="maximize")]), "objective")


def test_pareto_mask_against_brute_force():
    rng = np.random.default_rng(0)
    for direction in ("minimize", "maximize"):
        q = rng.integers(0, 6, 40).astype(float)  # many ties
        c = rng.integers(0, 6, 40).astype(float)
        mask = pareto_mask(q, c, direction)
        sign = 1 if direction == "minimize" else -1
        for i in range(40):
            dominated = any(
                c[j] <= c[i] and sign * q[j] <= sign * q[i]
                and (c[j] < c[i] or sign * q[j] < sign * q[i]) for j in range(40))
            if dominated:
                assert not mask[i]
        # every non-dominated (cost, quality) pair is represented exactly once
        front = {(c[i], q[i]) for i in range(40) if mask[i]}
        assert len(front) == mask.sum()
        for i, j in itertools.combinations(np.flatnonzero(mask), 2):
            assert not (c[i] <= c[j] and sign * q[i] <= sign * q[j])
            assert not (c[j] <= c[i] and sign * q[j] <= sign * q[i])
    assert not pareto_mask(np.array([np.nan, 1.0]), np.array([1.0, 2.0]), "minimize")[0]


def test_pareto_front_and_leaderboard(greff_table, names):
    front = pareto_front(greff_table, cost="n_params")
    assert list(front["n_params"]) == sorted(front["n_params"])
    assert list(front["test.nll"]) == sorted(front["test.nll"], reverse=True)
    done = greff_table[greff_table["status"] == "complete"]
    assert front["test.nll"].min() == pytest.approx(done["test.nll"].min())
    board = leaderboard(greff_table, top=5)
    assert list(board["rank"]) == [1, 2, 3, 4, 5]
    assert board["cell"].iloc[0] == names["random-better"]
    summary = summarize(greff_table).set_index("cell")
    for row in board.itertuples():
        assert row.genome_id == summary.loc[row.cell, "genome_id"]
        picked = done[(done["cell"] == row.cell)].nsmallest(1, "objective").iloc[0]
        assert row.best_trial == picked["trial"]
        hp = json.loads(row.best_hparams)
        assert hp["lr"] == pytest.approx(picked["hp.lr"])
        assert isinstance(hp["hidden"], int)


def nll_search(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """Objective NLL (minimised), compared on test accuracy (maximised): the two disagree on
    the direction, and a low NLL goes with a high accuracy."""
    rng = np.random.default_rng(seed)
    nll = rng.uniform(0.5, 3.0, n)
    return pd.DataFrame({
        "task": "t", "cell": np.where(np.arange(n) % 2, "a", "b"), "status": "complete",
        "run": "r", "trial": np.arange(n), "objective": nll, "objective_name": "nll",
        "direction": "minimize", "valid.nll": nll, "test.nll": nll + 0.05,
        "test.acc": 1.0 - nll / 4 + rng.normal(0, 0.01, n), "n_params": 100})


def test_best_trials_rank_by_the_objective_not_by_the_compared_metric():
    df = nll_search()
    assert metric_direction(df, "test.acc") == "maximize"
    s = summarize(df, "test.acc").set_index("cell")
    assert (s["direction"] == "maximize").all()
    for cell, rows in df.groupby("cell"):
        k = max(5, math.ceil(0.1 * len(rows)))
        tuned = rows.nsmallest(k, "objective")  # lowest validation NLL: the tuned trials
        assert s.loc[cell, "top_mean"] == pytest.approx(tuned["test.acc"].mean())
        assert s.loc[cell, "top_mean"] > rows["test.acc"].median()
        picked = best_trials(rows)
        assert set(picked["trial"]) == set(tuned["trial"])
    board = leaderboard(df, metric="test.acc").set_index("cell")
    assert board.loc["a", "top_mean"] == pytest.approx(s.loc["a", "top_mean"])
    # an explicit direction is the direction of ``by``
    assert set(best_trials(df, "maximize")["trial"]) == set(df.nlargest(5, "objective")["trial"])


def gap_table() -> pd.DataFrame:
    """One task at gaps 5, 10 and 50 (two data seeds each), another that records no options."""
    rows = []
    for gap in (50, 5, 10):
        for data_seed in (1, 2):
            for cell, acc in (("lstm", 0.9), ("nfg", 0.9 - gap / 60)):
                rows.append({"task": "recall", "cell": cell, "status": "complete",
                             "objective": acc, "objective_name": "acc",
                             "direction": "maximize", "test.acc": acc, "task.gap": gap,
                             "task.n_train": 128, "task.data_seed": data_seed})
    rows += [{"task": "jsb", "cell": "lstm", "status": "complete", "objective": 8.0 + i,
              "objective_name": "nll", "direction": "minimize", "test.nll": 8.1 + i}
             for i in range(3)]
    return pd.DataFrame(rows)


def test_task_labels_keep_settings_apart():
    df = gap_table()
    labels = task_labels(df)
    # the gap varies (in the label); n_train does not; data_seed draws replicates (pooled)
    assert set(labels[df["task"] == "recall"]) == {"recall gap=5", "recall gap=10",
                                                   "recall gap=50"}
    assert set(labels[df["task"] == "jsb"]) == {"jsb"}  # no task.* values: its plain name
    labelled = with_task_labels(df)
    assert task_keys(labelled) == ["recall gap=5", "recall gap=10", "recall gap=50", "jsb"]
    assert with_task_labels(labelled) is labelled
    one = labelled[labelled["task"] == "recall gap=10"]
    assert set(with_task_labels(one)["task"]) == {"recall gap=10"}  # a subset keeps its label
    s = summarize(df)
    assert list(s["task"]) == ["recall gap=5"] * 2 + ["recall gap=10"] * 2 + \
        ["recall gap=50"] * 2 + ["jsb"]
    at50 = s[s["task"] == "recall gap=50"].set_index("cell")
    assert at50.loc["nfg", "top_mean"] == pytest.approx(0.9 - 50 / 60)  # not pooled over gaps
    assert at50.loc["nfg", "complete"] == 2
    assert set(pareto_front(df.assign(n_params=1), cost="n_params")["task"]) == \
        set(s["task"])
    # a row without the option (an older run next to newer ones) is its own setting
    mixed = df.astype({"task.gap": float})
    mixed.loc[0, "task.gap"] = np.nan
    assert task_labels(mixed)[0] == "recall gap=n/a"


def test_tables_without_task_option_columns_are_unchanged(greff_table):
    assert not [c for c in greff_table.columns if c.startswith("task.")]
    assert with_task_labels(greff_table) is greff_table
    assert set(summarize(greff_table)["task"]) == {"jsb"}
