"""A grid over cells and task settings in one run: task.<option> hyperparameters."""

from __future__ import annotations

import io
from pathlib import Path

from search_helpers import rows, write_experiment

from lstm_search.results import load_results
from lstm_search.search import run_experiment


def test_grid_over_cells_and_task_gaps_records_each_gap(tmp_path: Path) -> None:
    space = ('CellChoiceSpace(name="lag", cells=("lstm", "rnn_tanh"), '
             'hparams={"lr": 0.3, "task.gap": Choice((2, 6))})')
    path = write_experiment(tmp_path, space=space, search='trials=4, sampler="grid"')
    out = run_experiment(str(path), out=tmp_path / "results", stream=io.StringIO())
    table = rows(out.run_dir)
    assert sorted((r["cell"], r["task_options"]["gap"]) for r in table) == [
        ("lstm", 2), ("lstm", 6), ("rnn_tanh", 2), ("rnn_tanh", 6)]
    # not reused across gaps, and the gap is a task option, not a trainer hyperparameter
    assert all(r["reused_from"] is None and r["status"] == "complete" for r in table)
    assert all(r["hparams"] == {"lr": 0.3} for r in table)
    df = load_results(out.run_dir)
    assert sorted(df["task.gap"].unique().tolist()) == [2, 6]


def test_grid_runs_the_point_of_an_abandoned_trial_again() -> None:
    # a killed driver leaves a trial running; --resume finishes it as FAIL, marked abandoned:
    # its grid point must be drawn again, not a visited point repeated
    from types import SimpleNamespace

    import optuna

    from lstm_search.search._storage import ABANDONED, make_sampler
    from lstm_search.spaces import CellChoiceSpace

    space = CellChoiceSpace(name="g", cells=("lstm", "gru", "cifg"))
    exp = SimpleNamespace(space=space, seed=0, search=SimpleNamespace(sampler="grid"))
    study = optuna.create_study(sampler=make_sampler(exp, seed=0))
    cells = []
    for i in range(3):
        t = study.ask()
        cells.append(t.suggest_categorical("cell", list(space.cells)))
        if i == 1:
            study._storage.set_trial_user_attr(t._trial_id, ABANDONED, True)
            study.tell(t, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(t, 1.0)
    t = study.ask()
    assert t.suggest_categorical("cell", list(space.cells)) == cells[1]
    assert sorted(cells) == ["cifg", "gru", "lstm"]
