"""The seed-system experiments (seed_clockwork, seed_attention, seed_attention_ptb, seed_grid,
seed_convlstm, seed_depth_gated):
each compares its cell with the baselines at one equal parameter budget over a grid shared by
every cell, on a task whose direction is the study's; their smoke runs finish."""

from __future__ import annotations

import dataclasses
import io
import math
from pathlib import Path

import pytest

from lstm_search import zoo
from lstm_search.evaluate import build_model, hidden_for_budget, n_parameters
from lstm_search.experiment import load_experiment
from lstm_search.search._run import check_tasks
from lstm_search.spaces import CellChoiceSpace
from lstm_search.tasks import make_task

# experiment -> (its seed-system cell, the baselines it must include)
SEEDS = {
    "seed_clockwork": ("clockwork", ("rnn_tanh", "lstm", "gru")),
    "seed_attention": ("lstm_attention", ("lstm", "gru")),
    "seed_attention_ptb": ("lstm_attentive_readout", ("lstm_attention", "lstm", "gru")),
    "seed_grid": ("grid_lstm", ("lstm", "gru")),
    "seed_convlstm": ("convlstm", ("lstm",)),
    "seed_depth_gated": ("depth_gated", ("lstm", "gru")),
}


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_every_cell_runs_the_same_grid_of_settings_and_seeds(name: str) -> None:
    exp = load_experiment(name)
    check_tasks(exp)  # the study's direction is its task's
    space = exp.space
    assert isinstance(space, CellChoiceSpace)
    cell, baselines = SEEDS[name]
    assert space.cells[0] == cell and set(baselines) <= set(space.cells)
    grid = space.grid()
    assert exp.search.sampler == "grid" and len(grid["seed"]) >= 2 and len(grid["lr"]) >= 2
    # exactly one trial per grid point: every cell at every setting and seed
    assert exp.search.trials == math.prod(len(v) for v in grid.values())
    assert exp.model.param_budget is not None and exp.train.threads == 1
    assert exp.train.patience is not None  # early stopping


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_the_budget_gives_every_cell_about_the_same_parameter_count(name: str) -> None:
    exp = load_experiment(name, smoke=True)  # the smoke data: same model sizes, cheap to build
    task = make_task(exp.task)
    budget = exp.model.param_budget
    assert budget is not None
    counts = {}
    for cell in exp.space.cells:
        genome = zoo.get(cell)
        hidden = hidden_for_budget(genome, task, exp.model, exp.train, budget)
        model = dataclasses.replace(exp.model, hidden_size=hidden, param_budget=None)
        counts[cell] = n_parameters(build_model(genome, task, model, exp.train, seed=1))
    assert all(abs(c - budget) <= 0.1 * budget for c in counts.values()), counts


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(SEEDS))
def test_smoke_run_records_every_cell(name: str, tmp_path: Path) -> None:
    from lstm_search.results import load_results
    from lstm_search.search import run_experiment

    out = run_experiment(name, smoke=True, workers=1, out=tmp_path, stream=io.StringIO())
    df = load_results(out.run_dir)
    assert set(df["cell"]) == set(load_experiment(name).space.cells)
    assert (df["status"] == "complete").all()
