"""The ``modern_cells`` experiment: eight cells at one parameter budget over shared settings and
seeds, and the commands its docstring gives for the other tasks load, pass the task checks and
size every cell to the budget."""

from __future__ import annotations

import ast
import dataclasses
import shlex

import pytest

from lstm_search.evaluate import build_model, hidden_for_budget, n_parameters
from lstm_search.experiment import Experiment, find_experiment, load_experiment
from lstm_search.search._run import check_tasks
from lstm_search.tasks import make_task
from lstm_search.zoo import get, mlstm, slstm

CELLS = ("lstm", "gru", "slstm", "mingru", "minlstm", "rglru", "hgrn", "mlstm")


def _documented_overrides() -> dict[str, dict[str, str]]:
    """task name -> the ``--set`` pairs of each ``lstm-search run modern_cells`` command in the
    experiment's docstring."""
    tree = ast.parse(find_experiment("modern_cells").read_text(encoding="utf-8"))
    text = (ast.get_docstring(tree) or "").replace("\\\n", " ")
    found: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        if not line.strip().startswith("lstm-search run modern_cells "):
            continue
        words = shlex.split(line)
        sets = dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "--set")
        found[sets["task.name"]] = sets
    return found


def test_eight_cells_three_seeds_one_budget_adam_early_stopping() -> None:
    exp = load_experiment("modern_cells")
    assert exp.space.cells == CELLS
    assert exp.model.param_budget is not None and exp.train.optimizer == "adam"
    assert exp.train.patience is not None and exp.train.threads == 1
    lrs, seeds = exp.space.hparams["lr"].choices, exp.space.hparams["seed"].choices
    assert len(seeds) == 3
    assert exp.search.sampler == "grid" and exp.search.trials == len(CELLS) * len(lrs) * 3
    paper = load_experiment("modern_cells", overrides=exp.paper)
    paper_lrs = paper.space.hparams["lr"].choices
    assert paper.search.trials == len(CELLS) * len(paper_lrs) * 3
    # enough paired settings per cell for the exact signed-rank test to reach 0.05 after Holm's
    # correction over the other 7 cells (smallest two-sided p with n pairs: 2 / 2**n)
    assert 7 * 2 / 2 ** (len(paper_lrs) * 3) < 0.05


def test_the_documented_commands_cover_the_other_tasks_and_pass_the_checks() -> None:
    documented = _documented_overrides()
    assert set(documented) == {"mqar", "parity", "ptb"}
    for name, sets in documented.items():
        exp = load_experiment("modern_cells", overrides=sets)
        assert exp.task.name == name
        check_tasks(exp)  # options the task takes, direction equal to the task's


def _small(exp: Experiment) -> Experiment:
    task = dataclasses.replace(exp.task, n_train=64, n_valid=16, n_test=16)
    return dataclasses.replace(exp, task=task)


@pytest.mark.parametrize("name", ["selective_copy", "mqar", "parity"])
def test_param_budget_sizes_every_cell_to_within_three_percent(name: str) -> None:
    sets = _documented_overrides().get(name, {})
    exp = _small(load_experiment("modern_cells", overrides=sets))
    task, budget = make_task(exp.task), exp.model.param_budget
    assert budget is not None
    widths = {}
    for cell in CELLS:
        genome = get(cell)
        hidden = hidden_for_budget(genome, task, exp.model, exp.train, budget)
        model = dataclasses.replace(exp.model, hidden_size=hidden, param_budget=None)
        n = n_parameters(build_model(genome, task, model, exp.train, seed=1))
        assert abs(n - budget) <= 0.03 * budget, (cell, hidden, n)
        widths[cell] = hidden
    # the cells with fewer parameters per unit get more units at the same budget
    assert widths["mingru"] > widths["minlstm"] > widths["gru"] > widths["lstm"]


def test_a_head_wise_cell_gets_a_hidden_size_its_heads_divide() -> None:
    """Head-wise projections (the headwise_projection mutation, sLSTM with heads) and head-wise
    cells (mLSTM) need their heads to divide the hidden size: the budget's size is the
    multiple of the heads closest to the budget, and the model builds."""
    import random

    from lstm_search.evaluate import hidden_multiple
    from lstm_search.genome import OPERATORS

    exp = _small(load_experiment("modern_cells"))
    task, budget = make_task(exp.task), 19_000  # the LSTM's own size there: 47 units
    mutant, _ = OPERATORS["headwise_projection"](get("lstm"), random.Random(0))
    plain = hidden_for_budget(get("lstm"), task, exp.model, exp.train, budget)
    assert hidden_multiple(get("lstm")) == 1 and plain % 4 != 0  # the unconstrained size
    for genome, heads in ((mutant, 4), (slstm(4), 4), (mlstm(4), 4)):
        assert hidden_multiple(genome) == heads
        hidden = hidden_for_budget(genome, task, exp.model, exp.train, budget)
        assert hidden % heads == 0, (genome.name, hidden)
        model = dataclasses.replace(exp.model, hidden_size=hidden, param_budget=None)
        n = n_parameters(build_model(genome, task, model, exp.train, seed=1))
        step = n_parameters(build_model(genome, task, dataclasses.replace(
            model, hidden_size=hidden + heads), exp.train, seed=1)) - n
        assert abs(n - budget) <= step, (genome.name, hidden, n)  # the nearest multiple
