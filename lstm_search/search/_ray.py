"""The Ray Tune backend: ``Tuner`` with ``OptunaSearch`` (define-by-run) and ASHA.

Ray runs locally (``ray.init(num_cpus=...)``, always with an explicit CPU count) or joins a
cluster (``address``). Each trial runs :func:`_trainable` in a Ray worker: it rebuilds the
experiment from its file, rebuilds the cell from the sampled parameters
(:meth:`SearchSpace.build`), evaluates it with per-epoch ``tune.report`` (ASHA stops weak trials)
and appends its row to the run's table itself, before its final report. Trial numbers are
claimed in the run folder (``ray_trials.json``, under a file lock) so that a retried trial keeps
its number; rows for trials ASHA stopped or that failed past their retries are written by the
driver after ``fit``. Ray's experiment folder (``<run>/ray``) is the search's working memory:
``resume`` restores it with ``Tuner.restore``.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lstm_search.experiment import Experiment, ExperimentError, load_experiment
from lstm_search.genome import Genome
from lstm_search.results import ResultsWriter
from lstm_search.search._optuna import _locked
from lstm_search.search._storage import second_value
from lstm_search.search._trial import Evaluate, failed_row, pick_metric, run_trial
from lstm_search.spaces import Proposal

CLAIMS_FILE = "ray_trials.json"
KEY = "_lstm_search"  # the constants every trial's config carries


def _define_by_run(trial: Any, *, space: Any, constants: Mapping[str, Any]) -> dict[str, Any]:
    """OptunaSearch's define-by-run function: sample only; return the run's constants."""
    space.sample(trial)
    return {KEY: dict(constants)}


def claim_number(run_dir: str | Path, trial_id: str) -> int:
    """The table trial number of Ray trial ``trial_id`` (the same one when it is retried)."""
    path = Path(run_dir) / CLAIMS_FILE
    with _locked(run_dir):
        claims = json.loads(path.read_text()) if path.exists() else {}
        if trial_id not in claims:
            taken = set(claims.values()) | ResultsWriter(run_dir).finished_trials()
            claims[trial_id] = max(taken, default=-1) + 1
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(claims, indent=1, sort_keys=True))
            tmp.replace(path)
        return int(claims[trial_id])


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


def _trainable(config: dict[str, Any]) -> None:
    """One Ray Tune trial: evaluate the proposal, append its row, report the objective."""
    from ray import tune

    c = config[KEY]
    exp = load_experiment(c["experiment_path"], smoke=c["smoke"], overrides=c["overrides"])
    number = claim_number(c["run_dir"], tune.get_context().get_trial_id())
    proposal = exp.space.build(_params(config))
    metric_name = exp.search.metric
    epoch_reports = not exp.search.second_objective

    def on_eval(epoch: int, metrics: dict[str, float]) -> None:
        name = pick_metric(metrics, metric_name, exp.search.direction)
        if epoch_reports and name is not None and metrics[name] is not None:
            tune.report({"objective": float(metrics[name]), "epoch": epoch})

    result = run_trial(exp, proposal, run=c["run"], trial=number, run_dir=c["run_dir"],
                       search=f"ray-{exp.search.sampler}", evaluate=_resolve(c.get("evaluate")),
                       on_eval=on_eval)
    value = result.objective if result.status == "complete" else None
    final: dict[str, Any] = {"objective": float("nan") if value is None else float(value),
                             "status": result.status, "trial_number": number}
    if exp.search.second_objective:
        second = second_value(exp, result)
        final["cost"] = float("nan") if second is None else float(second)
    tune.report(final)


def _evaluate_ref(evaluate: Evaluate | None) -> str | None:
    if evaluate is None:
        return None
    return f"{evaluate.__module__}:{evaluate.__qualname__}"


def _record_missing(exp: Experiment, run: str, run_dir: Path, grid: Any) -> None:
    """Rows for trials that ended without writing one: stopped by ASHA, or failed for good."""
    path = run_dir / CLAIMS_FILE
    claims = json.loads(path.read_text()) if path.exists() else {}
    writer = ResultsWriter(run_dir)
    recorded = writer.finished_trials()
    for res in grid:
        config = res.config or {}
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
            row = failed_row(exp, proposal, run=run, trial=number, search=f"ray-"
                             f"{exp.search.sampler}", error=f"Ray trial {trial_id} failed after "
                             f"{exp.search.max_retries} retries: {res.error}"[:4000])
        else:
            row = failed_row(exp, proposal, run=run, trial=number,
                             search=f"ray-{exp.search.sampler}", error="")
            row.status = "pruned"
            row.error = "stopped by the ASHA scheduler"
            last = (res.metrics or {}).get("objective")
            if last is not None and not (isinstance(last, float) and math.isnan(last)):
                row.metrics = {"last.objective": float(last)}
                row.epochs = int((res.metrics or {}).get("training_iteration", 0))
        writer.append(row)
        recorded.add(number)


def run_ray(exp: Experiment, *, experiment_path: str, smoke: bool, overrides: Mapping[str, Any],
            run: str, run_dir: Path, address: str | None = None, num_cpus: int | None = None,
            resume: bool = False, evaluate: Evaluate | None = None) -> Any:
    """Run the search with Ray Tune; returns Ray's ``ResultGrid``."""
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from lstm_search.search._storage import make_sampler

    if exp.search.sampler == "evolution":
        raise ExperimentError("the evolutionary strategy runs on the optuna backend "
                              "(--backend optuna)")
    started_here = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            cpus = num_cpus or max(1, math.ceil(exp.search.workers * exp.search.cpus_per_trial))
            ray.init(num_cpus=cpus, num_gpus=None if exp.search.gpus_per_trial else 0,
                     include_dashboard=False, log_to_driver=False,
                     object_store_memory=200 * 1024 * 1024)
        started_here = True
    try:
        constants = {"experiment_path": experiment_path, "smoke": smoke,
                     "overrides": dict(overrides), "run": run, "run_dir": str(run_dir),
                     "evaluate": _evaluate_ref(evaluate)}
        trainable = tune.with_resources(_trainable, {"cpu": exp.search.cpus_per_trial,
                                                     "gpu": exp.search.gpus_per_trial})
        storage = str(run_dir / "ray")
        name = "tune"
        if resume and tune.Tuner.can_restore(str(Path(storage) / name)):
            tuner = tune.Tuner.restore(str(Path(storage) / name), trainable,
                                       resume_unfinished=True, resume_errored=True)
        else:
            multi = bool(exp.search.second_objective)
            mode = "max" if exp.search.direction == "maximize" else "min"
            searcher = OptunaSearch(
                space=functools.partial(_define_by_run, space=exp.space, constants=constants),
                metric=["objective", "cost"] if multi else "objective",
                mode=[mode, "min"] if multi else mode,
                sampler=make_sampler(exp, exp.seed))
            scheduler = None
            if exp.search.pruner != "none" and not multi:
                scheduler = ASHAScheduler(metric="objective", mode=mode,
                                          max_t=exp.train.epochs + 1, grace_period=1,
                                          reduction_factor=2)
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler,
                                            num_samples=exp.search.trials,
                                            max_concurrent_trials=exp.search.workers,
                                            # a worker process runs many trials: torch, the
                                            # task's data and compiled cells load once
                                            reuse_actors=True),
                run_config=tune.RunConfig(
                    name=name, storage_path=storage, verbose=0,
                    failure_config=tune.FailureConfig(max_failures=exp.search.max_retries)),
            )
        grid = tuner.fit()
        _record_missing(exp, run, run_dir, grid)
        return grid
    finally:
        if started_here:
            ray.shutdown()


__all__ = ["claim_number", "run_ray"]
