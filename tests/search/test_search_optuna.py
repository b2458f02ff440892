"""Searches with the Optuna backend on a tiny real task (JSB Chorales, one epoch, 8 units):
the table, run.json, reuse of equal cells, diverging trials, several worker processes on one
storage, multi-objective runs and the evolutionary strategy."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import optuna
import pytest
from search_helpers import lr_space, rows, write_experiment

from lstm_search.analysis import pareto_front
from lstm_search.results import load_results
from lstm_search.search import run_experiment
from lstm_search.search._storage import make_storage


def _run(path: Path, tmp_path: Path, **kw):
    stream = io.StringIO()
    out = run_experiment(str(path), out=tmp_path / "results", stream=stream, **kw)
    return out, stream.getvalue()


def test_search_writes_one_row_per_trial_and_run_json(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, search='trials=3, sampler="random"')
    out, log = _run(path, tmp_path, run="r1")
    table = rows(out.run_dir)
    assert sorted(r["trial"] for r in table) == [0, 1, 2]
    assert all(r["status"] == "complete" and r["search"] == "optuna-random" for r in table)
    assert all(r["objective_name"] == "valid.acc" and r["objective"] >= 0 for r in table)
    assert {r["cell"] for r in table} <= {"lstm", "gru", "cifg"}
    info = json.loads((out.run_dir / "run.json").read_text())
    assert info["seed"] == 3 and info["experiment"]["search"]["trials"] == 3
    assert info["provenance"]["torch_version"] and "git_commit" in info["provenance"]
    assert (out.run_dir / "study.db").exists()
    # progress: done/total, best so far, reuse count, ETA; the end says where the results are
    assert "[3/3] best valid.acc" in log and "reused 0" in log and "ETA" in log
    assert str(out.run_dir / "trials.jsonl") in log


def test_equal_cells_are_not_trained_twice(tmp_path: Path) -> None:
    space = 'CellChoiceSpace(name="one", cells=("gru",), hparams={"lr": 0.3})'
    path = write_experiment(tmp_path, space=space, search='trials=3, sampler="random"')
    out, log = _run(path, tmp_path)
    table = sorted(rows(out.run_dir), key=lambda r: r["trial"])
    assert table[0]["reused_from"] is None and table[0]["train_seconds"] > 0
    assert [r["reused_from"] for r in table[1:]] == [f"{out.run_dir.name}/0"] * 2
    assert {r["objective"] for r in table} == {table[0]["objective"]}
    assert "reused 2" in log and out.summary.reused == 2


def test_diverging_trial_is_recorded_failed_and_the_search_goes_on(tmp_path: Path) -> None:
    # identity activations and a learning rate of 1e6: the state overflows to inf, then NaN
    space = ('TemplateSpace(name="div", n_nodes=2, activations=("identity",), '
             'hparams={"lr": Choice((1e6, 0.1))})')
    path = write_experiment(tmp_path, space=space, search='trials=6, sampler="random"',
                            clip=None)
    out, _ = _run(path, tmp_path)
    table = sorted(rows(out.run_dir), key=lambda r: r["trial"])
    assert len(table) == 6
    diverged = [r for r in table if r["hparams"]["lr"] == 1e6]
    assert diverged and len(diverged) < 6, "the seed draws both learning rates"
    for r in diverged:
        assert r["status"] == "failed" and "nan" in r["error"].lower()
    assert all(r["status"] == "complete" for r in table if r["hparams"]["lr"] == 0.1)


def both_workers_evaluate(candidate, **kw):
    """evaluate_candidate, once both worker processes are up: each trial waits (60 s at most)
    until two processes have begun one, so a worker that starts fast cannot take every trial."""
    import time

    from lstm_search.evaluate import evaluate_candidate

    folder = Path(kw["writer"].run_dir) / "worker-pids"
    folder.mkdir(exist_ok=True)
    (folder / str(os.getpid())).touch()
    end = time.monotonic() + 60
    while len(list(folder.iterdir())) < 2 and time.monotonic() < end:
        time.sleep(0.05)
    return evaluate_candidate(candidate, **kw)


@pytest.mark.integration
def test_two_worker_processes_share_one_study(tmp_path: Path) -> None:
    n = 6
    path = write_experiment(tmp_path, search=f'trials={n}, sampler="tpe", workers=2')
    out, _ = _run(path, tmp_path, run="par", evaluate=both_workers_evaluate)
    table = rows(out.run_dir)
    numbers = [r["trial"] for r in table]
    assert sorted(numbers) == list(range(n)), "no trial lost, none duplicated"
    study = optuna.load_study(study_name="tiny/par",
                              storage=make_storage(f"sqlite:///{out.run_dir / 'study.db'}"))
    states = [t.state for t in study.trials]
    assert len(states) == n and all(s.is_finished() for s in states)
    # the trials ran in the spawned worker processes, not in the driver, and in both
    assert all(int(r["worker"].split(":")[1]) != os.getpid() for r in table)
    assert len({r["worker"] for r in table}) == 2


def test_journal_storage(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, search='trials=2, sampler="random"')
    journal = tmp_path / "journal.log"
    out, _ = _run(path, tmp_path, storage=f"journal:{journal}")
    assert len(rows(out.run_dir)) == 2 and journal.stat().st_size > 0


def test_multi_objective_pareto_front(tmp_path: Path) -> None:
    space = ('TemplateSpace(name="d", n_nodes=3, activations=("tanh", "identity"), '
             'hparams={"lr": 0.3})')
    path = write_experiment(tmp_path, space=space,
                            search='trials=4, sampler="nsga2", second_objective="n_params"')
    out, _ = _run(path, tmp_path, run="mo")
    study = optuna.load_study(study_name="tiny/mo",
                              storage=make_storage(f"sqlite:///{out.run_dir / 'study.db'}"))
    assert len(study.directions) == 2 and len(study.best_trials) >= 1
    front = pareto_front(load_results(out.run_dir), cost="n_params", metric="objective")
    assert len(front) >= 1
    done = [r for r in rows(out.run_dir) if r["status"] == "complete"]
    for _, f in front.iterrows():  # nothing dominates a front member
        assert not any(r["objective"] <= f["objective"] and r["n_params"] <= f["n_params"]
                       and (r["objective"] < f["objective"] or r["n_params"] < f["n_params"])
                       for r in done)


def test_evolution_seeds_with_gru_and_lstm_then_mutates(tmp_path: Path) -> None:
    space = 'load_space("jozefowicz")'
    path = write_experiment(
        tmp_path, space=space,
        search='trials=5, sampler="evolution", population=3, reeval_prob=0.3',
        stages="(Stage(TASK, 0.5),)")
    text = path.read_text().replace(
        "from lstm_search.spaces import", "from lstm_search.spaces import load_space;"
        " from lstm_search.spaces import")
    path.write_text(text)
    out, _ = _run(path, tmp_path, run="evo")
    table = sorted(rows(out.run_dir), key=lambda r: r["trial"])
    assert [r["cell"] for r in table[:2]] == ["gru", "lstm"]
    assert len(table) == 5 and all(r["search"] == "evolution" for r in table)
    assert table[0]["objective_name"] == "fitness.min" and table[0]["objective"] == 1.0
    assert all("fitness.recall" in r["metrics"] for r in table if r["status"] == "complete")
    study = optuna.load_study(study_name="tiny/evo",
                              storage=make_storage(f"sqlite:///{out.run_dir / 'study.db'}"))
    steps = [t.user_attrs["step"] for t in sorted(study.trials, key=lambda t: t.number)]
    assert steps[:2] == ["seed", "seed"] and set(steps[2:]) <= {"mutate", "reeval"}
    assert all("genome" in t.user_attrs for t in study.trials)


def _check_pruning(table: list[dict], epochs: int) -> list[dict]:
    """Pruned trials stopped before their last epoch, without test metrics; complete ones
    trained to the end and have them. Returns the pruned rows."""
    pruned = [r for r in table if r["status"] == "pruned"]
    assert all(r["epochs"] < epochs and "test.mse" not in r["metrics"] for r in pruned)
    assert all(r["epochs"] == epochs and "test.mse" in r["metrics"]
               for r in table if r["status"] == "complete")
    assert {r["status"] for r in table} <= {"complete", "pruned"}
    return pruned


@pytest.mark.integration  # searches of several epochs
@pytest.mark.parametrize("epochs", [3, 2])
def test_median_pruning_prunes_the_useless_rate_but_never_a_last_epoch(
        tmp_path: Path, epochs: int) -> None:
    # a learning rate that learns and one that does not, drawn b b G G | b G G b: after 4
    # complete trials (2 of each), the useless rate is worse than the median from epoch 2 on
    path = write_experiment(tmp_path, task="adding", space=lr_space(distinct=True),
                            epochs=epochs,
                            search='trials=8, sampler="random", pruner="median"')
    out, _ = _run(path, tmp_path)
    table = rows(out.run_dir)
    assert len(table) == 8
    pruned = _check_pruning(table, epochs=epochs)
    if epochs == 3:
        assert [r["trial"] for r in pruned] == [4, 7]
        assert all(r["hparams"]["lr"] == 1e-4 and r["epochs"] == 2 for r in pruned)
    else:  # epoch 2 is the first the pruner judges, and the last: trained, so complete
        assert not pruned


@pytest.mark.integration  # a search of several epochs
def test_successive_halving_prunes_the_useless_learning_rate(tmp_path: Path) -> None:
    # drawn b b G G b G: from the first rung (epoch 1) only the best so far go on
    path = write_experiment(tmp_path, task="adding", space=lr_space(distinct=True),
                            epochs=2, search='trials=6, sampler="random", pruner="halving"')
    out, _ = _run(path, tmp_path)
    table = rows(out.run_dir)
    assert len(table) == 6
    pruned = _check_pruning(table, epochs=2)
    assert any(r["hparams"]["lr"] == 1e-4 for r in pruned)
    assert any(r["status"] == "complete" and r["hparams"]["lr"] == 0.1 for r in table)


@pytest.mark.integration
def test_grid_over_cells_and_seeds_runs_every_point_once(tmp_path: Path) -> None:
    # a fixed comparison: every cell at every seed exactly once, two worker processes
    space = ('CellChoiceSpace(name="g", cells=("lstm", "gru"), '
             'hparams={"lr": 0.3, "seed": Choice((1, 2))})')
    path = write_experiment(tmp_path, space=space, search='trials=4, sampler="grid"')
    out, _ = _run(path, tmp_path, workers=2)
    table = rows(out.run_dir)
    assert sorted((r["cell"], r["seed"]) for r in table) == [
        ("gru", 1), ("gru", 2), ("lstm", 1), ("lstm", 2)]
    assert all(r["status"] == "complete" and r["reused_from"] is None for r in table)
    assert all(r["search"] == "optuna-grid" and "seed" not in r["hparams"] for r in table)
    # the seed reaches the trainer: the same cell at two seeds trains differently
    by = {(r["cell"], r["seed"]): r for r in table}
    assert by[("lstm", 1)]["metrics"] != by[("lstm", 2)]["metrics"]


def test_grid_needs_enumerable_hyperparameters_and_a_budget_within_the_grid(
        tmp_path: Path) -> None:
    from lstm_search.experiment import ExperimentError, load_experiment

    continuous = write_experiment(tmp_path, name="cont", search='trials=2, sampler="grid"')
    with pytest.raises(ExperimentError, match="'lr' is LogUniform"):
        load_experiment(str(continuous))
    space = 'CellChoiceSpace(name="g", cells=("lstm", "gru"), hparams={"lr": 0.3})'
    too_many = write_experiment(tmp_path, name="many", space=space,
                                search='trials=3, sampler="grid"')
    with pytest.raises(ExperimentError, match="grid of space 'g' has 2 point"):
        load_experiment(str(too_many))


def test_parameter_budget_gives_each_cell_its_hidden_size(tmp_path: Path) -> None:
    space = 'CellChoiceSpace(name="b", cells=("lstm", "gru", "rnn_tanh"), hparams={"lr": 0.3})'
    path = write_experiment(tmp_path, space=space, search='trials=3, sampler="grid"')
    out, _ = _run(path, tmp_path, overrides={"model.param_budget": "2000"})
    table = {r["cell"]: r for r in rows(out.run_dir)}
    hidden = {c: r["hidden_size"] for c, r in table.items()}
    # a wider RNN and GRU than LSTM at the same budget, each model within one unit's worth
    assert hidden["rnn_tanh"] > hidden["gru"] > hidden["lstm"]
    assert all(abs(r["n_params"] - 2000) < 0.1 * 2000 for r in table.values())


def test_every_hyperparameter_of_a_grid_trial_is_a_user_attr_in_the_study(
        tmp_path: Path) -> None:
    """optuna-dashboard shows a grid trial's ``lr`` (the grid's params are ``cell`` and the
    ``setting`` index only): each hyperparameter, fixed or enumerated, is a user attribute."""
    space = ('CellChoiceSpace(name="g", cells=("gru",), settings=2, settings_seed=1, '
             'hparams={"lr": LogUniform(1e-3, 1e-1), "clip": 2.0})')
    path = write_experiment(tmp_path, space=space, search='trials=2, sampler="grid"')
    out, _ = _run(path, tmp_path)
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{out.run_dir / 'study.db'}")
    by_trial = {r["trial"]: r for r in rows(out.run_dir)}
    assert len(study.trials) == 2
    for t in study.trials:
        assert "lr" not in t.params  # the grid samples an index, not the rate
        assert t.user_attrs["lr"] == by_trial[t.number]["hparams"]["lr"]
        assert t.user_attrs["clip"] == 2.0 and t.user_attrs["cell"] == "gru"
    assert len({t.user_attrs["lr"] for t in study.trials}) == 2


def test_hparam_attrs_keep_the_search_own_names_apart() -> None:
    from lstm_search.search._optuna import hparam_attrs

    assert hparam_attrs({"lr": 0.1, "cell": "x", "layers": [1, 2]}, {"genome": "{}"}) == {
        "lr": 0.1, "hp.cell": "x", "layers": "[1, 2]"}
