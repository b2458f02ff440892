"""The evolutionary strategy's bookkeeping, with stand-in evaluations (no training): seeding
(a failed GRU seed is seeded again; two workers never seed one cell twice, and wait for the
GRU's reference) and staged filtering (a weak cell stops at the stage it fails). Real Optuna
studies in SQLite, real worker processes."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from search_helpers import rows, write_experiment

from lstm_search.experiment import ExperimentError, load_experiment
from lstm_search.genome import genome_id
from lstm_search.results import TrialResult
from lstm_search.search import run_experiment
from lstm_search.search._storage import make_storage
from lstm_search.search.evolution import Evolution

STAGES = '(Stage(TaskConfig(name="memorize", n_train=64, n_valid=16, n_test=16), 0.9),)'
# every task: the GRU 0.8, the LSTM 0.76 (95 % of it: passes 0.9), a mutant 0.4 (half)
VALUES = {"gru": 0.8, "lstm": 0.76}
CALLS: list[tuple[str, str]] = []  # (cell, task) of each evaluation in this process
FAIL_FIRST_GRU: list[bool] = []


def _result(cand: Any, task: Any, experiment: str, run: str, trial: int,
            value: float | None) -> TrialResult:
    ok = value is not None
    return TrialResult(
        experiment=experiment, run=run, trial=trial, cell=cand.cell,
        genome_id=genome_id(cand.genome), genome=cand.genome.to_json(indent=None),
        task=task.name, seed=cand.seed, hparams=dict(cand.hparams),
        status="complete" if ok else "failed", error=None if ok else "valid nll is nan",
        objective=value, objective_name="valid.acc", direction="maximize",
        metrics={"valid.acc": value} if ok else {}, epochs=1)


def graded(cand: Any, *, experiment: str = "", run: str = "", trial: int = 0,
           **_: Any) -> TrialResult:
    """A stand-in for evaluate_candidate: fixed results by cell."""
    task = cand.task
    CALLS.append((cand.cell, task.name))
    if cand.cell == "gru" and FAIL_FIRST_GRU:
        FAIL_FIRST_GRU.pop()
        return _result(cand, task, experiment, run, trial, None)  # diverged
    return _result(cand, task, experiment, run, trial, VALUES.get(cand.cell, 0.4))


def slow_gru(cand: Any, **kw: Any) -> TrialResult:
    """``graded``, with a GRU that takes a while (another worker is free meanwhile)."""
    if cand.cell == "gru":
        time.sleep(1.5)
    return graded(cand, **kw)


def tuned_gru(cand: Any, *, trial: int = 0, **kw: Any) -> TrialResult:
    """``graded``, with a GRU poor at its first setting (0.2) and good at its second (0.8)."""
    if cand.cell != "gru":
        return graded(cand, trial=trial, **kw)
    task = cand.task
    CALLS.append((cand.cell, task.name))
    if trial not in GRU_TRIALS:
        GRU_TRIALS.append(trial)
    value = 0.2 if GRU_TRIALS.index(trial) == 0 else 0.8
    return _result(cand, task, kw.get("experiment", ""), kw.get("run", ""), trial, value)


GRU_TRIALS: list[int] = []


def _experiment(tmp_path: Path, trials: int, workers: int = 1, extra: str = "") -> Path:
    path = write_experiment(
        tmp_path, space='load_space("jozefowicz")', stages=STAGES,
        search=f'trials={trials}, sampler="evolution", population=3, reeval_prob=0.0, '
               f'workers={workers}{extra}')
    path.write_text(path.read_text().replace(
        "from lstm_search.spaces import", "from lstm_search.spaces import load_space;"
        " from lstm_search.spaces import"))
    return path


def _steps(run_dir: Path, name: str) -> dict[int, str]:
    study = optuna.load_study(study_name=name,
                              storage=make_storage(f"sqlite:///{run_dir / 'study.db'}"))
    return {t.number: t.user_attrs["step"] for t in study.trials}


def test_a_weak_cell_stops_at_the_stage_below_its_fraction(tmp_path: Path) -> None:
    CALLS.clear()
    out = run_experiment(str(_experiment(tmp_path, trials=5)), out=tmp_path / "results",
                         run="staged", evaluate=graded, stream=io.StringIO())
    table = {r["trial"]: r for r in rows(out.run_dir)}
    assert [table[t]["cell"] for t in (0, 1)] == ["gru", "lstm"]
    assert table[0]["objective"] == 1.0 and table[1]["objective"] == 0.95
    assert ("lstm", "recall") in CALLS, "95 % of the GRU passes the 0.9 stage"
    steps = _steps(out.run_dir, "tiny/staged")
    mutants = [table[t] for t in table if steps[t] == "mutate"]
    assert len(mutants) == 3
    for r in mutants:
        assert r["status"] == "complete" and r["objective"] == 0.5
        assert r["metrics"]["fitness.memorize"] == 0.5 and "fitness.recall" not in r["metrics"]
        assert (r["cell"], "memorize") in CALLS and (r["cell"], "recall") not in CALLS


def test_a_failed_gru_seed_is_seeded_again(tmp_path: Path) -> None:
    CALLS.clear()
    FAIL_FIRST_GRU[:] = [True]  # the first GRU evaluation diverges
    out = run_experiment(str(_experiment(tmp_path, trials=5)), out=tmp_path / "results",
                         run="reseed", evaluate=graded, stream=io.StringIO())
    table = {r["trial"]: r for r in rows(out.run_dir)}
    assert [(table[t]["cell"], table[t]["status"]) for t in (0, 1, 2)] == [
        ("gru", "failed"), ("gru", "complete"), ("lstm", "complete")]
    steps = _steps(out.run_dir, "tiny/reseed")
    assert [steps[t] for t in (0, 1, 2)] == ["seed"] * 3
    # the GRU's result is the reference: the mutants are judged by it (not 1.0 for lack of one)
    assert all(table[t]["objective"] == 0.5 for t in (3, 4))


def test_seed_cells_are_tuned_on_seed_evals_settings_before_evolving(tmp_path: Path) -> None:
    CALLS.clear()
    GRU_TRIALS.clear()
    out = run_experiment(str(_experiment(tmp_path, trials=7, extra=", seed_evals=2")),
                         out=tmp_path / "results", run="tuned", evaluate=tuned_gru,
                         stream=io.StringIO())
    table = {r["trial"]: r for r in rows(out.run_dir)}
    steps = _steps(out.run_dir, "tiny/tuned")
    assert [(table[t]["cell"], steps[t]) for t in range(4)] == [
        ("gru", "seed"), ("gru", "seed"), ("lstm", "seed"), ("lstm", "seed")]
    assert [steps[t] for t in (4, 5, 6)] == ["mutate"] * 3
    # judged by the GRU's best over its two settings (0.8), not by its first (0.2)
    assert table[2]["objective"] == 0.95 and table[3]["objective"] == 0.95
    assert all(table[t]["objective"] == 0.5 for t in (4, 5, 6))
    # the first GRU was told 1.0 (against itself); the population ranks it by today's reference
    study = optuna.load_study(study_name="tiny/tuned",
                              storage=make_storage(f"sqlite:///{out.run_dir / 'study.db'}"))
    evolution = Evolution(load_experiment(str(tmp_path / "tiny.py")), study, seed=1)
    first = study.trials[0]
    assert first.value == 1.0 and evolution.fitness(first) == 0.25
    assert [evolution.fitness(t) for t in study.trials[1:4]] == [1.0, 0.95, 0.95]
    assert [(cell, fit) for fit, _, cell in evolution.population()][:2] == [
        ("gru", 1.0), ("lstm", 0.95)]


def test_seed_evals_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError, match=r"search\.seed_evals must be >= 1, got 0"):
        load_experiment(str(_experiment(tmp_path, trials=3, extra=", seed_evals=0")))


def test_two_proposals_in_flight_seed_different_cells(tmp_path: Path) -> None:
    exp = load_experiment(str(_experiment(tmp_path, trials=5)))
    storage = make_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    evolution = Evolution(exp, study, seed=1)
    first, second = study.ask(), study.ask()
    # neither is evaluated yet: the second proposal sees the first one's cell
    assert evolution.propose(first).cell == "gru"
    assert evolution.propose(second).cell == "lstm"
    assert evolution.waiting_for_reference(), "nothing to propose without the GRU's result"
    study.tell(second.number, 0.9)
    assert evolution.waiting_for_reference()
    study.tell(first.number, 1.0)
    assert not evolution.waiting_for_reference()


@pytest.mark.integration
def test_two_workers_seed_each_cell_once_and_wait_for_the_gru(tmp_path: Path) -> None:
    out = run_experiment(str(_experiment(tmp_path, trials=5, workers=2)),
                         out=tmp_path / "results", run="par", evaluate=slow_gru,
                         stream=io.StringIO())
    table = {r["trial"]: r for r in rows(out.run_dir)}
    assert sorted(table) == [0, 1, 2, 3, 4]
    steps = _steps(out.run_dir, "tiny/par")
    seeds = sorted(table[t]["cell"] for t in table if steps[t] == "seed")
    assert seeds == ["gru", "lstm"]
    assert len({r["worker"] for r in table.values()}) == 2
    # every mutant was judged by the GRU's result: the free worker waited for it
    assert all(table[t]["objective"] == 0.5 for t in table if steps[t] == "mutate")


def test_the_search_mutates_with_the_operators_it_names(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``search.mutation_operators`` reaches every mutation of the search, and the mutants are
    made by those operators alone."""
    from lstm_search.search import evolution

    names = ("drop_state_projection", "stabilised_exp_gates")
    seen: list[tuple[Any, tuple[str, ...]]] = []

    widths: list[Any] = []

    def spy(genome: Any, rng: Any, *args: Any, **kw: Any) -> Any:
        m = evolution.mutate.__wrapped__(genome, rng, *args, **kw)
        seen.append((kw.get("operators"), m.ops))
        widths.append(kw.get("hidden_size"))
        return m

    spy.__wrapped__ = evolution.mutate  # type: ignore[attr-defined]
    monkeypatch.setattr(evolution, "mutate", spy)
    CALLS.clear()
    extra = f", mutation_operators={names!r}"
    path = _experiment(tmp_path, trials=8, extra=extra)
    out = run_experiment(str(path), out=tmp_path / "results", run="modern", evaluate=graded,
                         stream=io.StringIO())
    assert len(rows(out.run_dir)) == 8 and len(seen) == 6
    assert all(ops == names for ops, _ in seen)
    assert {op for _, applied in seen for op in applied} <= set(names)
    # at the experiment's fixed width, so that the mutants' heads divide it
    width = load_experiment(str(path)).model.hidden_size
    assert widths == [width] * 6
