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
    default_metric,
    leaderboard,
    metric_direction,
    pareto_front,
    pareto_mask,
    summarize,
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
        assert s.loc[cell, "best"] == pytest.approx(done["test.nll"].min())
        assert s.loc[cell, "median"] == pytest.approx(done["test.nll"].median())
        k = max(5, math.ceil(0.1 * len(done)))
        best = done.nsmallest(k, "objective")["test.nll"].mean()  # by validation, not test
        assert s.loc[cell, "top_mean"] == pytest.approx(best)
        assert s.loc[cell, "top_n"] == k
        assert s.loc[cell, "seconds_median"] == pytest.approx(rows["train_seconds"].median())
    # ordered best first, the clearly worse variant last among Greff's
    assert list(s["top_mean"]) == sorted(s["top_mean"])
    assert s.index[-1] == "noaf" or s.loc["noaf", "top_mean"] > s.loc["lstm", "top_mean"] + 0.5


def test_direction_is_respected_for_maximised_metrics(mixed_table):
    s = summarize(mixed_table)
    recall = s[s["task"] == "recall"].set_index("cell")
    assert (recall["metric"] == "test.acc").all()
    assert (recall["direction"] == "maximize").all()
    rows = mixed_table[(mixed_table["task"] == "recall") & (mixed_table["cell"] == "gru")]
    assert recall.loc["gru", "best"] == pytest.approx(rows["test.acc"].max())
    assert list(recall["top_mean"]) == sorted(recall["top_mean"], reverse=True)


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
