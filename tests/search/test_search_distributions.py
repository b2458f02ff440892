"""Rows carry the distribution each hyperparameter was drawn from, so analysis reads its scale
instead of guessing it from the hyperparameter's name."""

from __future__ import annotations

import json
from pathlib import Path

from search_helpers import rows, write_experiment

from lstm_search import results, spaces
from lstm_search.results import load_results
from lstm_search.search import run_experiment
from lstm_search.spaces import (
    CellChoiceSpace,
    IntUniform,
    LogUniform,
    OneMinusLogUniform,
    distributions_of,
)


def test_distributions_of_a_space_are_the_json_of_its_declared_dists() -> None:
    space = CellChoiceSpace(name="s", cells=("lstm",),
                            hparams={"lr": LogUniform(1e-3, 1.0), "momentum":
                                     OneMinusLogUniform(0.01, 1.0), "hidden_size":
                                     IntUniform(20, 200, log=True), "epochs": 2})
    out = distributions_of(space, ["lr", "momentum", "hidden_size", "epochs", "cell"])
    assert out["lr"] == LogUniform(1e-3, 1.0).to_json()
    assert out["momentum"]["__dist__"] == "OneMinusLogUniform"
    assert out["hidden_size"] == {"__dist__": "IntUniform", "low": 20, "high": 200, "log": True}
    assert out["epochs"]["__dist__"] == "Fixed"  # a constant is recorded as such
    assert "cell" not in out  # not a hyperparameter of the space
    # the row's key naming the kind is the one the spaces write
    assert results.DIST_KEY == spaces._dist.DIST_KEY


def test_every_row_records_its_hyperparameters_distributions(tmp_path: Path) -> None:
    space = ('CellChoiceSpace(name="d", cells=("lstm", "gru"), hparams={"lr": '
             'LogUniform(0.05, 1.0), "seed": Choice((1, 2))})')
    path = write_experiment(tmp_path, space=space, search='trials=3, sampler="random"')
    out = run_experiment(str(path), out=tmp_path / "results", run="r")
    table = rows(out.run_dir)
    assert len(table) == 3
    for row in table:
        assert row["distributions"]["lr"] == LogUniform(0.05, 1.0).to_json()
        assert row["distributions"]["seed"] == {"__dist__": "Choice", "choices": [1, 2]}
    df = load_results(out.run_dir)
    assert json.loads(df["dist.lr"].iloc[0]) == LogUniform(0.05, 1.0).to_json()
