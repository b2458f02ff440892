"""Hyperparameter importance from the table alone (Optuna fANOVA / PED-ANOVA)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from scipy import stats as sps

from lstm_search.analysis import (
    AnalysisError,
    build_study,
    hyperparameter_importance,
    infer_distributions,
    marginal_effects,
)


def lr_table(n: int = 150, seed: int = 0) -> pd.DataFrame:
    """Metric strongly dependent on lr (parabola in log lr), weakly on momentum, not on the
    rest; lr log-uniform, hidden log-int, one categorical and one constant hyperparameter."""
    rng = np.random.default_rng(seed)
    lr = 10 ** rng.uniform(-4, 0, n)
    momentum = rng.uniform(0, 1, n)
    hidden = np.round(2 ** rng.uniform(4, 9, n)).astype(int)
    opt = rng.choice(["sgd", "adam"], n)
    y = (np.log10(lr) + 2) ** 2 + 0.15 * momentum + rng.normal(0, 0.05, n)
    return pd.DataFrame({
        "task": "t", "cell": np.where(np.arange(n) % 2, "a", "b"), "status": "complete",
        "run": "r", "trial": np.arange(n), "objective": y, "objective_name": "nll",
        "direction": "minimize", "test.nll": y + 0.01, "hp.lr": lr, "hp.momentum": momentum,
        "hp.hidden": hidden, "hp.optimizer": opt, "hp.layers": 2})


def test_inferred_distributions():
    d = infer_distributions(lr_table())
    assert isinstance(d["lr"], FloatDistribution) and d["lr"].log
    assert isinstance(d["momentum"], FloatDistribution) and not d["momentum"].log
    assert isinstance(d["hidden"], IntDistribution) and d["hidden"].log
    assert isinstance(d["optimizer"], CategoricalDistribution)
    assert set(d["optimizer"].choices) == {"sgd", "adam"}
    assert "layers" not in d  # constant: nothing to attribute


@pytest.mark.parametrize("method", ["fanova", "ped-anova"])
def test_learning_rate_ranks_first(method):
    imp = hyperparameter_importance(lr_table(), method=method, by=None, seed=0, n_seeds=3)
    ranked = imp.sort_values("rank")
    assert ranked["param"].iloc[0] == "lr"
    assert ranked["importance"].iloc[0] > 0.5
    # medians over forest seeds of importances that each sum to 1
    assert imp["importance"].sum() == pytest.approx(1.0, abs=0.02)
    assert (imp["importance_low"] <= imp["importance"]).all()
    assert (imp["importance"] <= imp["importance_high"]).all()
    assert (imp["n_seeds"] == (3 if method == "fanova" else 1)).all()
    assert (imp["method"] == method).all()
    assert set(imp["param"]) <= {"lr", "momentum", "hidden", "optimizer", "cell"}


def test_per_cell_pooled_and_skipped():
    df = lr_table()
    df.loc[df.index[:3], "cell"] = "tiny"
    imp = hyperparameter_importance(df, method="ped-anova", min_trials=10)
    assert set(imp["cell"]) == {"(all cells)", "a", "b"}
    assert any("tiny" in s for s in imp.attrs["skipped"])
    pooled = imp[imp["cell"] == "(all cells)"]
    assert "cell" in set(pooled["param"])
    for cell in ("a", "b"):
        rows = imp[imp["cell"] == cell].sort_values("rank")
        assert rows["param"].iloc[0] == "lr"
        assert rows["n_trials"].iloc[0] == (df["cell"] == cell).sum()


def test_fixture_search_lr_dominates(greff_table):
    imp = hyperparameter_importance(greff_table, by=None, seed=0, n_seeds=2)
    pooled = imp.sort_values("rank")
    assert pooled["param"].iloc[0] == "lr"


def test_build_study_uses_given_distributions_and_reports_bad_rows():
    df = lr_table(30)
    dist = {"hp.lr": FloatDistribution(1e-5, 1.0, log=True)}
    study = build_study(df, distributions=dist, params=["lr", "momentum"])
    assert len(study.trials) == 30
    assert study.trials[0].distributions["lr"] == dist["hp.lr"]
    assert set(study.trials[0].params) == {"lr", "momentum"}
    assert study.direction.name == "MINIMIZE"
    with pytest.raises(AnalysisError, match="does not fit"):
        build_study(df, distributions={"lr": FloatDistribution(0.5, 1.0)})


def test_marginal_effects_by_hand():
    df = lr_table(200)
    m = marginal_effects(df, params=["lr"], bins=4)
    assert (m["log"]).all() and len(m) == 4
    lo, hi = np.log(df["hp.lr"].min()), np.log(df["hp.lr"].max())
    edges = np.exp(np.linspace(lo, hi, 5))
    idx = np.clip(np.searchsorted(edges, df["hp.lr"], side="right") - 1, 0, 3)
    for b, row in m.set_index("bin").iterrows():
        y = df["test.nll"].to_numpy()[idx == b]
        assert row["n"] == len(y)
        assert row["mean"] == pytest.approx(y.mean())
        half = sps.t.ppf(0.975, len(y) - 1) * y.std(ddof=1) / math.sqrt(len(y))
        assert row["ci_high"] - row["mean"] == pytest.approx(half)
    # the parabola: the middle bins are better than the outer ones
    assert m["mean"].iloc[1:3].max() < min(m["mean"].iloc[0], m["mean"].iloc[3])
    cat = marginal_effects(df, params=["optimizer"])
    assert set(cat["bin"]) == {"adam", "sgd"} and (cat["kind"] == "categorical").all()


def test_ped_anova_is_the_fallback_without_scikit_learn(monkeypatch):
    import importlib.util

    from lstm_search.analysis import importance

    real = importlib.util.find_spec
    monkeypatch.setattr(importance.importlib.util, "find_spec",
                        lambda name, *a: None if name == "sklearn" else real(name, *a))
    assert importance.available_method("auto") == "ped-anova"
    with pytest.raises(AnalysisError, match="scikit-learn"):
        importance.available_method("fanova")
    imp = hyperparameter_importance(lr_table(), by=None)
    assert (imp["method"] == "ped-anova").all()
    assert imp.sort_values("rank")["param"].iloc[0] == "lr"


def small_lr_table(n: int = 300, seed: int = 1) -> pd.DataFrame:
    """Learning rates below 1e-3 are better by a step (a quarter of a log-uniform [1e-4, 1]
    sample, but 0.09% of that range read linearly); momentum has a smaller, linear effect."""
    rng = np.random.default_rng(seed)
    lr = 10 ** rng.uniform(-4, 0, n)
    momentum = rng.uniform(0, 1, n)
    y = -1.0 * (lr < 1e-3) + 0.3 * momentum + rng.normal(0, 0.02, n)
    return pd.DataFrame({"task": "t", "cell": "a", "status": "complete", "run": "r",
                         "trial": np.arange(n), "objective": y, "objective_name": "nll",
                         "direction": "minimize", "hp.lr": lr, "hp.momentum": momentum})


@pytest.mark.parametrize("method", ["fanova", "ped-anova"])
def test_log_scale_counts_in_the_importance(method):
    imp = hyperparameter_importance(small_lr_table(), method=method, by=None, seed=0,
                                    n_seeds=2)
    scores = imp.set_index("param")["importance"]
    assert scores["lr"] > scores["momentum"]
    if method == "fanova":
        # main-effect variances over log10(lr): 0.25 * 0.75 = 0.19, of momentum 0.09 / 12;
        # read linearly (Optuna's transform_log=False) lr got 0.11 and momentum 0.89
        assert scores["lr"] > 0.8


def test_build_study_gives_log10_of_log_scale_parameters():
    df = lr_table()
    study = build_study(df, params=["lr", "momentum", "hidden"], log10=True)
    dists = study.trials[0].distributions
    assert isinstance(dists["lr"], FloatDistribution) and not dists["lr"].log
    assert dists["lr"].low == pytest.approx(math.log10(df["hp.lr"].min()))
    assert dists["hidden"].high == pytest.approx(math.log10(df["hp.hidden"].max()))
    assert not dists["momentum"].log and dists["momentum"].high == df["hp.momentum"].max()
    values = [t.params["lr"] for t in study.trials]
    np.testing.assert_allclose(values, np.log10(df["hp.lr"]))
    assert sorted(study.user_attrs["log10"]) == ["hidden", "lr"]
    plain = build_study(df, params=["lr"])
    assert plain.trials[0].distributions["lr"].log  # the default keeps Optuna's own view


@pytest.mark.parametrize("method", ["fanova", "ped-anova"])
def test_a_group_without_variance_is_skipped_and_the_others_scored(method):
    df = lr_table()
    df.loc[df["cell"] == "a", "objective"] = 0.25  # every trial of cell a scored the same
    imp = hyperparameter_importance(df, method=method, seed=0, n_seeds=2)
    assert set(imp["cell"]) == {"(all cells)", "b"}
    assert any(s.startswith("task 't', a: every completed trial has the same objective")
               for s in imp.attrs["skipped"]), imp.attrs["skipped"]
    pooled = imp[imp["cell"] == "(all cells)"]
    assert pooled["importance"].sum() == pytest.approx(1.0, abs=0.02)
    assert imp[imp["cell"] == "b"].sort_values("rank")["param"].iloc[0] == "lr"


def test_an_evaluator_failure_costs_only_its_group(monkeypatch):
    from optuna.importance import BaseImportanceEvaluator

    from lstm_search.analysis import importance

    real = importance._evaluator

    class Breaks(BaseImportanceEvaluator):
        def evaluate(self, study, params=None, *, target=None):
            raise RuntimeError("zero total variance")

    calls = iter(range(100))
    monkeypatch.setattr(importance, "_evaluator", lambda *a: Breaks() if next(calls) == 1
                        else real(*a))
    imp = hyperparameter_importance(lr_table(), method="ped-anova")
    # the second group scored (the first cell of the table, b) broke
    assert set(imp["cell"]) == {"(all cells)", "a"}
    assert any("RuntimeError: zero total variance" in s for s in imp.attrs["skipped"])


def interaction_table(kind: str, n: int = 120, seed: int = 0) -> pd.DataFrame:
    """y = x1 * x2 (a pure interaction: neither alone explains anything) or y = x1 + x2 / 2
    (additive: no interaction), x1, x2 uniform in [-1, 1], one cell."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    y = x1 * x2 if kind == "product" else x1 + 0.5 * x2
    return pd.DataFrame({"task": "t", "cell": "a", "status": "complete", "run": "r",
                         "trial": np.arange(n), "objective": y + rng.normal(0, 0.01, n),
                         "objective_name": "nll", "direction": "minimize",
                         "hp.x1": x1, "hp.x2": x2})


@pytest.mark.parametrize("kind", ["product", "sum"])
def test_variance_shares_find_a_known_interaction(kind):
    from lstm_search.analysis.importance import variance_shares

    shares = variance_shares(interaction_table(kind), n_seeds=2, pair_seeds=1, n_trees=8)
    by = shares.set_index("term")
    inter, main = by.loc["x1 × x2", "share"], by.loc[["x1", "x2"], "share"].sum()
    if kind == "product":
        assert inter > 0.5 and main < 0.3
    else:
        assert inter < 0.1 and main > 0.8
        assert by.loc["x1", "share"] > 3 * by.loc["x2", "share"]  # variance 1/3 vs 1/12
    assert (by["share_low"] <= by["share_high"]).all()
    assert by.loc["x1", "n_seeds"] == 2 and by.loc["x1 × x2", "n_seeds"] == 1


def test_joint_values_count_the_points_of_a_grid_whatever_the_cells():
    from lstm_search.analysis.importance import joint_values

    df = lr_table(40)
    grid = pd.concat([df.iloc[:8].assign(cell=c) for c in ("a", "b", "c")], ignore_index=True)
    assert joint_values(grid) == 8
    assert joint_values(df) == 40
