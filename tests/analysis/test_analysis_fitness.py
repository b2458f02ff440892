"""An evolutionary run's recorded fitness is against the GRU's best result so far; the analysis
rescores it against the run's final references, as the search ranks its population."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from lstm_search.analysis import write_report
from lstm_search.analysis.fitness import RECORDED, final_references, rescore_evolution


def _row(trial: int, cell: str, memorize: float, ptb: float | None, recorded: float,
         status: str = "complete") -> dict:
    row = {"experiment": "evo", "run": "r", "trial": trial, "cell": cell, "search": "evolution",
           "status": status, "objective": recorded, "objective_name": "fitness.min",
           "direction": "maximize", "task": "memorize+ptb", "genome_id": f"g{trial}",
           "stage.memorize": memorize, "maximize.memorize": 1.0, "maximize.ptb": 0.0,
           "fitness.min": recorded, "n_params": 100}
    if ptb is not None:
        row["stage.ptb"] = ptb
    return row


def _table() -> pd.DataFrame:
    # trial 0: a GRU that diverged, alone, so it recorded 1.000 against itself; trial 1: a good
    # GRU, recorded against trial 0 (0.9 / 0.1 = 9); trial 2: a candidate stopped after the
    # first stage, recorded against trial 1; trial 3: a candidate through both stages
    return pd.DataFrame([
        _row(0, "gru", 0.1, 1e30, 1.0),
        _row(1, "gru", 0.9, 400.0, 9.0),
        _row(2, "cell-a", 0.45, None, 0.5),
        _row(3, "cell-b", 0.81, 800.0, 0.5),
        _row(4, "cell-c", float("nan"), None, float("nan"), status="failed"),
    ])


def test_final_references_are_the_grus_best_per_stage() -> None:
    assert final_references(_table()) == {"memorize": 0.9, "ptb": 400.0}


def test_rescoring_against_the_final_references() -> None:
    out = rescore_evolution(_table()).set_index("trial")
    assert out.loc[0, "objective"] == pytest.approx(min(0.1 / 0.9, 400 / 1e30))
    assert out.loc[1, "objective"] == pytest.approx(1.0)  # the reference itself
    assert out.loc[2, "objective"] == pytest.approx(0.5)  # memorize only: 0.45 / 0.9
    assert out.loc[3, "objective"] == pytest.approx(0.5)  # min(0.81 / 0.9, 400 / 800)
    assert math.isnan(out.loc[4, "objective"])  # failed: no fitness
    assert list(out[RECORDED].iloc[:2]) == [1.0, 9.0]  # what the rows recorded stays


def test_a_table_without_evolution_is_left_alone() -> None:
    df = _table().assign(search="optuna-grid")
    assert rescore_evolution(df) is df


def test_the_report_ranks_by_the_rescored_fitness_and_says_so(tmp_path: Path) -> None:
    write_report(_table(), tmp_path / "report", baselines=("gru",))
    text = (tmp_path / "report" / "report.md").read_text()
    assert "fitness against the GRU's best result on every stage over the whole run" in text
    assert "2 trial(s) change, by up to 8." in text
    summary = pd.read_csv(tmp_path / "report" / "summary.csv").set_index("cell")
    assert summary.loc["gru", "median"] == pytest.approx(0.5)  # of 1.0 and ~0, not of 1 and 9
