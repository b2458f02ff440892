"""The Ray Tune backend: ``Tuner`` with ``OptunaSearch`` (define-by-run) and ASHA.

Ray runs locally (an instance started for the run with an explicit CPU count and shut down when
the run ends: :mod:`lstm_search.search._ray_local`) or joins a cluster (``address``). Each trial
runs :func:`_trainable` in a Ray worker: it rebuilds the experiment from its file, rebuilds the
cell from the sampled parameters (:meth:`SearchSpace.build`), evaluates it with per-epoch
``tune.report`` (ASHA stops weak trials) and appends its row to the run's table itself, before
its final report. Trial numbers are claimed in the run folder (``ray_trials.json``, under a file
lock) so that a retried trial keeps its number; rows for trials ASHA stopped or that failed past
their retries are written by the driver after ``fit``.

ASHA counts epochs (``time_attr="epoch"``): its rungs are at ``2, 4, 8 ...`` epochs (the grace
period matches the median pruner's warm-up) and below ``train.epochs``. A trial's epoch after
which the trainer stops (its last, or the end by patience or time budget) and its final summary
report are never offered to ASHA, so a trial that trained to the end always completes with its
test metrics; a run of at most 2 epochs is not pruned.

The table, not Ray's saved state, decides what a run (or a resumed one) still runs: a grid
search runs exactly the points of its plan the table lacks (:mod:`lstm_search.search._missing`;
each point once, however often the run was killed or interrupted), any other sampler runs
``trials - rows`` new trials with a sampler seeded apart from the earlier attempts (TPE starts
afresh: it does not know the earlier trials). Each attempt is a fresh ``Tuner`` in its own
folder under ``<run>/ray``; ``Tuner.restore`` is not used (its searcher state predates the
trials started after its last save, which then ran twice or never). The numbers claimed by
trials of an earlier attempt that left no row are retired, not reused (their curves keep them):
each trial number has at most one row.

Ctrl-C (SIGINT) stops the run at once: Tune's own handler (which ends the experiment
"gracefully", as if the running trials had been stopped) is disabled, the trials in progress
leave no row, the local instance is shut down, and ``run`` exits 130 printing the command that
resumes it; the resume runs those trials again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import json
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from lstm_search.experiment import Experiment
from lstm_search.genome import Genome
from lstm_search.results import ResultsWriter, TrialResult
from lstm_search.search._optuna import _locked
from lstm_search.search._storage import second_value
from lstm_search.search._strategy import strategy_of
from lstm_search.search._trial import (
    Evaluate,
    failed_row,
    pick_metric,
    rebuild_experiment,
    recorded_data,
    run_trial,
)
from lstm_search.spaces import Proposal

CLAIMS_FILE = "ray_trials.json"
KEY = "_lstm_search"  # the constants every trial's config carries


def _define_by_run(trial: Any, *, space: Any, constants: Mapping[str, Any]) -> dict[str, Any]:
    """OptunaSearch's define-by-run function: sample only; return the run's constants."""
    space.sample(trial)
    return {KEY: dict(constants)}


GRACE_EPOCHS = 2  # ASHA's first rung: like the median pruner, no verdict on a first epoch
SKIPPED = "skipped"  # the final status of a trial started beyond the budget (no row)


def read_claims(run_dir: str | Path) -> tuple[dict[str, int], dict[str, int]]:
    """The run's claims: (live, retired), each mapping a Ray trial id to its table number.

    Retired claims belong to trials that will never run again (a killed driver's); their
    numbers are not reused and they do not count against the budget.
    """
    path = Path(run_dir) / CLAIMS_FILE
    data = json.loads(path.read_text()) if path.exists() else {}
    if isinstance(data.get("claims"), dict):
        return ({k: int(v) for k, v in data["claims"].items()},
                {k: int(v) for k, v in data.get("retired", {}).items()})
    return {k: int(v) for k, v in data.items()}, {}  # the flat layout of older runs


def _write_claims(run_dir: str | Path, claims: Mapping[str, int],
                  retired: Mapping[str, int]) -> None:
    path = Path(run_dir) / CLAIMS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"claims": dict(claims), "retired": dict(retired)}, indent=1,
                              sort_keys=True))
    tmp.replace(path)


def claim_number(run_dir: str | Path, trial_id: str, budget: int | None = None) -> int | None:
    """The table trial number of Ray trial ``trial_id`` (the same one when it is retried).

    With ``budget``, a trial that has no number yet gets none (None) when the rows in the table
    and the live claims already make up the budget.
    """
    with _locked(run_dir):
        claims, retired = read_claims(run_dir)
        if trial_id not in claims:
            recorded = ResultsWriter(run_dir).finished_trials()
            if budget is not None and len(recorded | set(claims.values())) >= budget:
                return None
            taken = set(claims.values()) | set(retired.values()) | recorded
            claims[trial_id] = retired.pop(trial_id, max(taken, default=-1) + 1)
            _write_claims(run_dir, claims, retired)
        return int(claims[trial_id])


def retire_claims(run_dir: str | Path, keep: set[str]) -> list[int]:
    """Retire the claims without a row of trials not in ``keep`` (they will not run again);
    returns their numbers."""
    with _locked(run_dir):
        claims, retired = read_claims(run_dir)
        recorded = ResultsWriter(run_dir).finished_trials()
        gone = {t: n for t, n in claims.items() if n not in recorded and t not in keep}
        if gone:
            retired.update(gone)
            _write_claims(run_dir, {t: n for t, n in claims.items() if t not in gone}, retired)
        return sorted(gone.values())


def recorded_row(run_dir: str | Path, number: int) -> TrialResult | None:
    """The row of trial ``number`` in the run's table, if it has one."""
    rows = [r for r in ResultsWriter(run_dir).rows() if r.trial == number]
    return rows[-1] if rows else None


def _resolve(ref: str | None) -> Evaluate | None:
    if not ref:
        return None
    module, _, name = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _params(config: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != KEY}


def _final_report(exp: Experiment, result: TrialResult, number: int) -> dict[str, Any]:
    """The trial's last report: its outcome, with no ``epoch`` (ASHA ignores it)."""
    value = result.objective if result.status == "complete" else None
    final: dict[str, Any] = {"objective": float("nan") if value is None else float(value),
                             "status": result.status, "trial_number": number}
    if exp.search.second_objective:
        second = second_value(exp, result)
        final["cost"] = float("nan") if second is None else float(second)
    return final


def _trainable(config: dict[str, Any]) -> None:
    """One Ray Tune trial: evaluate the proposal, append its row, report the objective."""
    from ray import tune

    c = config[KEY]
    exp = rebuild_experiment(c.get("experiment_data"), path=c["experiment_path"],
                             smoke=c["smoke"], overrides=c["overrides"])
    number = claim_number(c["run_dir"], tune.get_context().get_trial_id(),
                          budget=exp.search.trials)
    if number is None:  # the budget is taken (a resumed run): no row
        final: dict[str, Any] = {"objective": float("nan"), "status": SKIPPED,
                                 "trial_number": -1}
        if exp.search.second_objective:
            final["cost"] = float("nan")
        tune.report(final)
        return
    done = recorded_row(c["run_dir"], number)
    if done is not None:  # a retried trial (its worker died) had written its row
        tune.report(_final_report(exp, done, number))
        return
    proposal = exp.space.build(_params(config))
    metric_name = exp.search.metric
    epoch_reports = not exp.search.second_objective

    def on_eval(epoch: int, metrics: dict[str, float], final: bool) -> None:
        # the epoch after which training ends is not ASHA's to cut: the trial then finishes
        # with its test metrics and its row
        if final:
            return
        name = pick_metric(metrics, metric_name, exp.search.direction)
        if epoch_reports and name is not None and metrics[name] is not None:
            tune.report({"objective": float(metrics[name]), "epoch": epoch})

    result = run_trial(exp, proposal, run=c["run"], trial=number, run_dir=c["run_dir"],
                       search=strategy_of(exp).search_name(exp, "ray"),
                       evaluate=_resolve(c.get("evaluate")),
                       on_eval=on_eval)
    tune.report(_final_report(exp, result, number))


def _evaluate_ref(evaluate: Evaluate | None) -> str | None:
    if evaluate is None:
        return None
    return f"{evaluate.__module__}:{evaluate.__qualname__}"


def _record_missing(exp: Experiment, run: str, run_dir: Path, grid: Any) -> None:
    """Rows for trials that ended without writing one: stopped by ASHA, or failed for good.

    A trial that ended without a row, an error or a scheduler that could have stopped it was
    not finished by the search: it gets no row (a resume runs it again)."""
    claims = read_claims(run_dir)[0]
    writer = ResultsWriter(run_dir)
    recorded = writer.finished_trials()
    search = strategy_of(exp).search_name(exp, "ray")
    asha = make_scheduler(exp) is not None
    for res in grid:
        config = res.config or {}
        if (res.metrics or {}).get("status") == SKIPPED or (res.error is None and not asha):
            continue
        trial_id = (res.metrics or {}).get("trial_id")
        if not trial_id:  # failed before its first report: find its id in its folder's name
            folder = Path(res.path).name
            trial_id = next((t for t in claims if f"_{t}_" in folder), folder)
        number = claims.get(trial_id)
        if number is None:
            # a trial that failed before claiming a number still gets a row
            number = claim_number(run_dir, trial_id)
        if number in recorded:
            continue
        try:
            proposal = exp.space.build(_params(config))
        except Exception:
            proposal = Proposal(Genome((), (), {}, ""), "unknown", _params(config))
        if res.error is not None:
            row = failed_row(exp, proposal, run=run, trial=number, search=search,
                             error=f"Ray trial {trial_id} failed after "
                                   f"{exp.search.max_retries} retries: {res.error}"[:4000])
        else:
            row = failed_row(exp, proposal, run=run, trial=number, search=search, error="")
            stopped: dict[str, Any] = {}
            last = (res.metrics or {}).get("objective")
            if last is not None and not (isinstance(last, float) and math.isnan(last)):
                stopped = {"metrics": {"last.objective": float(last)},
                           "epochs": int((res.metrics or {}).get("epoch", 0))}
            row = dataclasses.replace(row, status="pruned", error="stopped by the ASHA scheduler",
                                      objective_name=exp.search.metric, **stopped)
        writer.append(row)
        recorded.add(number)


@contextlib.contextmanager
def _sigint_raises() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt in ``Tuner.fit`` instead of ending the experiment as if
    its running trials had finished (Tune reads the variable when ``fit`` starts)."""
    key = "TUNE_DISABLE_SIGINT_HANDLER"
    before = os.environ.get(key)
    os.environ[key] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def _attempt_name(storage: Path) -> str:
    """A fresh Ray experiment folder per attempt: ``tune``, then ``tune-2``, ``tune-3`` ..."""
    name, n = "tune", 1
    while (storage / name).exists():
        n += 1
        name = f"tune-{n}"
    return name


def run_ray(exp: Experiment, *, experiment_path: str, smoke: bool, overrides: Mapping[str, Any],
            run: str, run_dir: Path, address: str | None = None, num_cpus: int | None = None,
            resume: bool = False, evaluate: Evaluate | None = None) -> Any:
    """Run the search with Ray Tune; returns Ray's ``ResultGrid`` (None when the table already
    holds the run's budget or, for a grid, every point of its plan).

    ``resume`` changes nothing here: whether fresh or resumed, the run's table says what is
    left to run."""
    from ray import tune

    from lstm_search.search._missing import missing_points
    from lstm_search.search._ray_local import local_ray

    strategy_of(exp).check_backend(exp, "ray")
    rows = ResultsWriter(run_dir).rows()
    recorded = {r.trial for r in rows}
    remaining = exp.search.trials - len(recorded)
    points = missing_points(exp, rows) if exp.search.sampler == "grid" else None
    if points is not None:
        remaining = min(remaining, len(points))
        points = points[:max(remaining, 0)]
    if remaining <= 0:
        return None  # the table holds the budget: nothing to run
    # trials of an earlier attempt that left no row will not run again: their numbers retire
    retire_claims(run_dir, keep=set())
    cpus = num_cpus or max(1, math.ceil(exp.search.workers * exp.search.cpus_per_trial))
    try:
        with local_ray(address=address, num_cpus=cpus,
                       num_gpus=None if exp.search.gpus_per_trial else 0):
            constants = {"experiment_path": experiment_path, "smoke": smoke,
                         "overrides": dict(overrides), "run": run, "run_dir": str(run_dir),
                         "evaluate": _evaluate_ref(evaluate),
                         # trials rebuild the driver's experiment from this, not the file
                         "experiment_data": recorded_data(exp)}
            trainable = tune.with_resources(_trainable, {"cpu": exp.search.cpus_per_trial,
                                                         "gpu": exp.search.gpus_per_trial})
            storage = Path(run_dir) / "ray"
            tuner = _new_tuner(exp, trainable, constants, name=_attempt_name(storage),
                               storage=str(storage), trials=remaining,
                               seed=exp.seed + 7919 * len(recorded), points=points)
            with _sigint_raises():
                grid = tuner.fit()
            _record_missing(exp, run, run_dir, grid)
            return grid
    except KeyboardInterrupt:  # run_experiment prints the command that resumes the run
        raise


def make_scheduler(exp: Experiment) -> Any:
    """ASHA over epochs for a single-objective run with a pruner (None otherwise).

    Rungs at ``GRACE_EPOCHS * 2**k`` epochs up to ``train.epochs - 1``; the last epoch is never
    a rung, and trials that pass the last rung train to the end (``stop_last_trials=False``).
    """
    from ray.tune.schedulers import ASHAScheduler

    last_cut = exp.train.epochs - 1  # the last epoch after which a trial may be stopped
    if exp.search.pruner == "none" or exp.search.second_objective or last_cut < GRACE_EPOCHS:
        return None
    return ASHAScheduler(time_attr="epoch", metric="objective",
                         mode="max" if exp.search.direction == "maximize" else "min",
                         max_t=last_cut, grace_period=GRACE_EPOCHS, reduction_factor=2,
                         stop_last_trials=False)


def _sampler(exp: Experiment, seed: int) -> Any:
    from lstm_search.search._storage import make_sampler

    if exp.search.sampler == "grid":
        import optuna

        # a grid's points are enqueued (points_to_evaluate); parameters outside the grid
        # (fixed values) are drawn at random
        return optuna.samplers.RandomSampler(seed=seed)
    return make_sampler(exp, seed)


def _new_tuner(exp: Experiment, trainable: Any, constants: Mapping[str, Any], *, name: str,
               storage: str, trials: int, seed: int,
               points: list[dict[str, Any]] | None = None) -> Any:
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    multi = bool(exp.search.second_objective)
    mode = "max" if exp.search.direction == "maximize" else "min"
    searcher = OptunaSearch(
        space=functools.partial(_define_by_run, space=exp.space, constants=constants),
        metric=["objective", "cost"] if multi else "objective",
        mode=[mode, "min"] if multi else mode,
        points_to_evaluate=points or None,
        sampler=_sampler(exp, seed))
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=make_scheduler(exp),
                                    num_samples=trials,
                                    max_concurrent_trials=exp.search.workers,
                                    # a worker process runs many trials: torch, the task's
                                    # data and compiled cells load once
                                    reuse_actors=True),
        run_config=tune.RunConfig(
            name=name, storage_path=storage, verbose=0,
            failure_config=tune.FailureConfig(max_failures=exp.search.max_retries)),
    )


__all__ = ["claim_number", "make_scheduler", "read_claims", "recorded_row",
           "retire_claims", "run_ray"]
