"""Importance reads each hyperparameter's scale from the distribution its rows record."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from lstm_search.analysis import build_study, infer_distributions, recorded_distribution


def _table(n: int = 24, record: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    hidden = np.linspace(20, 200, n).round()  # evenly spread: inference reads it as linear
    momentum = 1.0 - np.exp(rng.uniform(math.log(0.01), 0.0, n))
    df = pd.DataFrame({"task": "t", "cell": "lstm", "status": "complete", "run": "r",
                       "trial": range(n), "direction": "minimize", "objective_name": "nll",
                       "objective": rng.normal(size=n), "hp.hidden_size": hidden.astype(int),
                       "hp.momentum": momentum})
    if record:
        df["dist.hidden_size"] = json.dumps({"__dist__": "IntUniform", "high": 200, "log": True,
                                             "low": 20}, sort_keys=True)
        df["dist.momentum"] = json.dumps({"__dist__": "OneMinusLogUniform", "high": 1.0,
                                          "low": 0.01}, sort_keys=True)
    return df


def test_a_recorded_log_scale_is_used_where_inference_would_say_linear() -> None:
    guessed = infer_distributions(_table(record=False))
    assert not guessed["hidden_size"].log  # what the name-and-shape guess gives
    read = infer_distributions(_table())
    assert read["hidden_size"].log
    assert (read["hidden_size"].low, read["hidden_size"].high) == (20, 200)


def test_a_momentum_drawn_in_one_minus_is_scored_as_log10_of_one_minus() -> None:
    study = build_study(_table(), log10=True)
    assert study.user_attrs["log10_one_minus"] == ["momentum"]
    assert study.user_attrs["log10"] == ["hidden_size"]
    df = _table()
    first = study.trials[0].params["momentum"]
    assert math.isclose(first, math.log10(1.0 - df["hp.momentum"].iloc[0]))
    dist = study.trials[0].distributions["momentum"]
    assert math.isclose(dist.low, -2.0) and dist.high >= first  # log10 of [0.01, 1]


def test_rows_that_disagree_on_a_distribution_fall_back_to_inference() -> None:
    df = _table()
    assert recorded_distribution(df, "hidden_size")["log"] is True
    df.loc[0, "dist.hidden_size"] = json.dumps({"__dist__": "IntUniform", "low": 20,
                                                "high": 200, "log": False})
    assert recorded_distribution(df, "hidden_size") is None
    assert recorded_distribution(df, "lr") is None  # no such column: nothing recorded
