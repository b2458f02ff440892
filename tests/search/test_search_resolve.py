"""One resolved trial: a sampled point (cell, hyperparameters, a sampled seed, task options)
becomes one frozen :class:`~lstm_search.evaluate.Candidate` in one place
(:func:`lstm_search.search._trial.resolve`), and that candidate is what every backend trains
and what its row records."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import optuna
import pytest
from search_helpers import fake_evaluate, rows, write_experiment

from lstm_search.config import ConfigError
from lstm_search.experiment import load_experiment
from lstm_search.results import task_options
from lstm_search.search import run_experiment
from lstm_search.search._storage import make_storage
from lstm_search.search._strategy import Strategy
from lstm_search.search._trial import resolve
from lstm_search.spaces import Proposal
from lstm_search.zoo import get

# a model field, a train field, the seed and a task option, all sampled
SPACE = ('CellChoiceSpace(name="r", cells=("gru", "lstm"), hparams={"lr": Choice((0.1, 0.3)), '
         '"hidden_size": Choice((6, 8)), "seed": Choice((1, 2)), "task.gap": Choice((3, 4))})')
TRAINED: list[Any] = []


def recording_evaluate(candidate: Any, **kw: Any) -> Any:
    TRAINED.append(candidate)
    return fake_evaluate(candidate, **kw)


def test_resolve_applies_every_sampled_setting_once() -> None:
    exp = load_experiment("quickstart")
    cand = resolve(exp, Proposal(get("gru"), "gru", {"lr": 0.2, "hidden_size": 12, "seed": 7,
                                                     "task.n_train": 96}))
    assert (cand.train.lr, cand.model.hidden_size, cand.seed, cand.task.n_train) == (
        0.2, 12, 7, 96)
    assert dict(cand.hparams) == {"lr": 0.2, "hidden_size": 12}  # seed, task.* applied
    assert cand.cell == "gru" and cand.model.backend == exp.model.backend
    with pytest.raises(dataclasses.FrozenInstanceError):
        cand.seed = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        cand.hparams["lr"] = 1.0  # type: ignore[index]
    with pytest.raises(ConfigError, match="'seed' must be an integer"):
        resolve(exp, Proposal(get("gru"), "gru", {"seed": 1.5}))
    with pytest.raises(ConfigError, match="unknown hyperparameter 'learning_rate'"):
        resolve(exp, Proposal(get("gru"), "gru", {"learning_rate": 0.1}))
    # out of range: a candidate that fails without training, settings left as declared
    bad = resolve(exp, Proposal(get("gru"), "gru", {"lr": -1.0}))
    assert bad.problem and bad.train == exp.train
    # a generated cell is named once, from its genome
    assert resolve(exp, Proposal(get("gru"), "", {})).cell.startswith("cell-")


def _as_json(value: Any) -> Any:
    return json.loads(json.dumps(dict(value)))


def _expected(exp: Any, row: dict[str, Any]) -> Any:
    params = {"cell": row["cell"], "lr": row["hparams"]["lr"],
              "hidden_size": row["hparams"]["hidden_size"], "seed": row["seed"],
              "task.gap": row["task_options"]["gap"]}
    return resolve(exp, exp.space.build(params))


def _check_rows(exp: Any, table: list[dict[str, Any]]) -> None:
    for row in table:
        cand = _expected(exp, row)
        assert row["hparams"] == dict(cand.hparams)
        assert row["seed"] == cand.seed and row["task_options"] == task_options(cand.task)
        assert row["distributions"] == _as_json(cand.distributions)
        assert set(row["distributions"]) == {"lr", "hidden_size", "seed", "task.gap"}


def test_the_optuna_backend_trains_the_resolved_candidate(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, space=SPACE, search='trials=4, sampler="random"')
    TRAINED.clear()
    out = run_experiment(str(path), out=tmp_path / "results", run="r",
                         evaluate=recording_evaluate, stream=io.StringIO())
    exp = out.experiment
    study = optuna.load_study(study_name=f"{exp.name}/r",
                              storage=make_storage(f"sqlite:///{out.run_dir / 'study.db'}"))
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    table = sorted(rows(out.run_dir), key=lambda r: r["trial"])
    # a point drawn twice reuses the first row (no training): only the others are trained
    trained = [r for r in table if not r.get("reused_from")]
    assert len(table) == 4 and len(TRAINED) == len(trained) >= 1
    for cand, row in zip(TRAINED, trained, strict=True):
        params = by_number[row["trial"]].params
        assert cand == resolve(exp, exp.space.build(params))  # exactly the resolved trial
        assert cand.task.gap == params["task.gap"] and cand.train.lr == params["lr"]
        assert cand.model.hidden_size == params["hidden_size"] and cand.seed == params["seed"]
        assert row["hparams"] == dict(cand.hparams) and row["seed"] == cand.seed
        assert row["distributions"] == _as_json(cand.distributions)


@pytest.mark.ray
@pytest.mark.integration
def test_the_ray_backend_trains_the_resolved_candidate(tmp_path: Path) -> None:
    """The real evaluation under Ray: each row records the candidate resolved from its point
    (the hidden size it was built with included)."""
    path = write_experiment(tmp_path, space=SPACE, search='trials=3, sampler="random"')
    out = run_experiment(str(path), backend="ray", num_cpus=1, out=tmp_path / "results",
                         run="r", stream=io.StringIO())
    table = rows(out.run_dir)
    assert len(table) == 3 and {r["status"] for r in table} == {"complete"}
    _check_rows(out.experiment, table)
    for row in table:
        cand = _expected(out.experiment, row)
        assert row["hidden_size"] == cand.model.hidden_size


class _Tagged(Strategy):
    """A plug-in that evaluates every candidate twice and names its rows."""

    def search_name(self, exp: Any, backend: str) -> str:
        return f"tagged-{backend}"

    def evaluate(self, call: Any, exp: Any, cand: Any, *, on_eval: Any,
                 context: Any) -> Any:
        first = call(cand, on_eval)
        second = call(cand, on_eval)
        assert first.objective == second.objective  # the fake is a function of the point
        return dataclasses.replace(second, metrics={**second.metrics, "evaluations": 2.0})


def test_the_driver_asks_the_registered_strategy(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from lstm_search.search import _strategy
    from lstm_search.search.evolution import EVOLUTION

    assert _strategy.strategy_of(load_experiment("jozefowicz")) is EVOLUTION
    assert _strategy.strategy_of(load_experiment("quickstart")) is _strategy.PLAIN
    monkeypatch.setitem(_strategy._REGISTRY, "random", _Tagged())
    path = write_experiment(tmp_path, search='trials=2, sampler="random"')
    TRAINED.clear()
    out = run_experiment(str(path), out=tmp_path / "results", run="r",
                         evaluate=recording_evaluate, stream=io.StringIO())
    table = rows(out.run_dir)
    assert len(TRAINED) == 4 and len(table) == 2
    assert {r["search"] for r in table} == {"tagged-optuna"}
    assert all(r["metrics"]["evaluations"] == 2.0 for r in table)
