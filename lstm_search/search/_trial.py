"""One trial of a search: a proposal evaluated (or its recorded outcome reused), one row written.

Every backend (Optuna in-process or in worker processes, Ray Tune trainables) and every
strategy (:mod:`lstm_search.search._strategy`) ends a trial here, so rows, reuse and staged
filtering behave the same everywhere.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from lstm_search.config import ConfigError
from lstm_search.experiment import Experiment, ExperimentError
from lstm_search.genome import genome_id
from lstm_search.results import ResultsWriter, TrialResult, now, task_options
from lstm_search.search._dedup import find_reusable, result_key, reuse
from lstm_search.search._strategy import strategy_of
from lstm_search.spaces import Proposal, distributions_of

if TYPE_CHECKING:
    from lstm_search.evaluate import Candidate
    from lstm_search.train import OnEval

# ``evaluate(candidate, *, experiment, run, trial, on_eval, writer, **extra)``: trains the
# resolved candidate (its task, model and train settings), like evaluate_candidate
Evaluate = Callable[..., TrialResult]

# Validation metrics tried in order when the experiment names none (lower is better).
_MINIMISED = ("valid.nll", "valid.loss", "valid.ppl", "valid.bpc", "valid.bpf")


class SearchSetupError(ExperimentError):
    """A trial failed because of the experiment's settings (an unknown hyperparameter, a
    missing data set): the search stops instead of failing every trial the same way."""


def recorded_data(exp: Experiment) -> dict[str, Any] | None:
    """``exp`` as the data workers and Ray trials rebuild it from (:meth:`Experiment.to_dict`,
    as ``run.json`` records it); None when its space has no data form."""
    from lstm_search.results import json_ready

    data = json_ready(exp.to_dict())
    return data if data["space"].get("data") else None


def rebuild_experiment(data: Mapping[str, Any] | None, *, path: str, smoke: bool,
                       overrides: Mapping[str, Any]) -> Experiment:
    """The driver's experiment in a worker process or a Ray trial: rebuilt from ``data``
    (:func:`recorded_data`), never from the declaration file, which may have been edited since
    the run began; a space of the user's own class (no data) is loaded from ``path`` again."""
    if data is not None:
        return Experiment.from_dict(data, where=f"the run of {path}")
    from lstm_search.experiment import load_experiment

    return load_experiment(path, smoke=smoke, overrides=overrides)


def default_evaluate() -> Evaluate:
    from lstm_search.evaluate import evaluate_candidate

    return evaluate_candidate


def worker_name() -> str:
    """``host:pid``, with the Ray node id when running inside a Ray worker."""
    name = f"{socket.gethostname()}:{os.getpid()}"
    try:
        import sys

        if "ray" in sys.modules:
            import ray

            if ray.is_initialized():
                name += f":{ray.get_runtime_context().get_node_id()[:12]}"
    except Exception:  # pragma: no cover - outside a Ray worker
        pass
    return name


def pick_metric(metrics: Mapping[str, float], preferred: str = "",
                direction: str = "minimize") -> str | None:
    """The metric reported to pruners: ``preferred``, else the first validation metric that
    goes the study's ``direction`` (a loss when minimising, an accuracy when maximising)."""
    if preferred:
        return preferred if preferred in metrics else None
    if direction == "maximize":
        return next((k for k in sorted(metrics) if k.startswith("valid.") and "acc" in k), None)
    for k in _MINIMISED:
        if k in metrics:
            return k
    return next((k for k in sorted(metrics) if k.startswith("valid.") and "acc" not in k), None)


def _failed_row(exp: Experiment, cand: Candidate, *, run: str, trial: int, search: str,
                error: str, task: str) -> TrialResult:
    from lstm_search.provenance import trial_provenance

    t = now()
    return TrialResult(
        experiment=exp.name, run=run, trial=trial, cell=cand.cell,
        genome_id=genome_id(cand.genome) if cand.genome.nodes else "",
        genome=cand.genome.to_json(indent=None), task=task, seed=cand.seed,
        task_options=task_options(cand.task) if task == cand.task.name else {},
        hparams=dict(cand.hparams), distributions=dict(cand.distributions), status="failed",
        error=error, search=search,
        # the study's direction, as its complete rows carry it (analysis ranks them all)
        direction=strategy_of(exp).direction(exp),
        worker=worker_name(), start_time=t, end_time=t,
        **trial_provenance(threads=exp.train.threads))


def resolve(exp: Experiment, proposal: Proposal) -> Candidate:
    """The trial ``proposal`` (a sampled point of ``exp.space``) is: the experiment's settings
    with the proposal's hyperparameters applied (:func:`lstm_search.evaluate.resolve_candidate`)
    and the distribution each was drawn from. Every backend trains exactly this.

    Raises :class:`ConfigError` for a hyperparameter no trial can take (an unknown key, a
    non-integer seed, one the strategy cannot apply: ``task.<option>`` under evolution).
    """
    from lstm_search.evaluate import resolve_candidate

    strategy_of(exp).check_hparams(proposal.hparams)
    return resolve_candidate(proposal.genome, proposal.cell, proposal.hparams, task=exp.task,
                             model=exp.model, train=exp.train, seed=exp.seed,
                             distributions=distributions_of(exp.space, proposal.hparams))


def _unresolved(exp: Experiment, proposal: Proposal) -> Candidate:
    """:func:`resolve`, or for a point it rejects, the proposal with the experiment's
    settings (a ``failed`` row records it as sampled)."""
    from lstm_search.evaluate import Candidate

    try:
        return resolve(exp, proposal)
    except ConfigError:
        return Candidate(proposal.genome, proposal.cell, exp.task, exp.model, exp.train,
                         exp.seed, proposal.hparams,
                         distributions_of(exp.space, proposal.hparams))


def failed_row(exp: Experiment, proposal: Proposal, *, run: str, trial: int, search: str,
               error: str) -> TrialResult:
    """A ``failed`` row for a trial that never produced a result (its worker died ...)."""
    return _failed_row(exp, _unresolved(exp, proposal), run=run, trial=trial, search=search,
                       error=error, task=strategy_of(exp).task_label(exp))


def _call(evaluate: Evaluate, exp: Experiment, cand: Candidate, *, run: str, trial: int,
          on_eval: OnEval | None, writer: ResultsWriter | None) -> TrialResult:
    extra: dict[str, Any] = {}
    if evaluate is default_evaluate():
        extra["task_obj"] = _task(cand.task)  # data loaded once per process, not once per trial
    return evaluate(cand, experiment=exp.name, run=run, trial=trial, on_eval=on_eval,
                    writer=writer, **extra)


_TASKS: dict[Any, Any] = {}


def _task(config: Any) -> Any:
    """The built task of ``config`` (a frozen TaskConfig), cached for this process."""
    if config not in _TASKS:
        from lstm_search.tasks import make_task

        if len(_TASKS) >= 8:  # the stages of one experiment, or the task settings of a grid
            _TASKS.pop(next(iter(_TASKS)))
        _TASKS[config] = make_task(config)
    return _TASKS[config]


def _setup_error(exp: Experiment, cand: Candidate, e: Exception, writer: ResultsWriter, *,
                 run: str, trial: int, search: str, task: str) -> NoReturn:
    """Record a ``failed`` row for a trial that tripped on the declaration (every trial would
    fail the same way), then stop the search with :class:`SearchSetupError`."""
    tb = traceback.format_exc(limit=4)
    writer.append(_failed_row(exp, cand, run=run, trial=trial, search=search,
                              error=f"{type(e).__name__}: {e}\n{tb}", task=task))
    raise SearchSetupError(f"trial {trial} of {exp.name}: {type(e).__name__}: {e}; "
                           f"the search stops (fix the experiment, then --resume)") from e


def run_trial(exp: Experiment, proposal: Proposal, *, run: str, trial: int, run_dir: str | Path,
              search: str, evaluate: Evaluate | None = None, on_eval: OnEval | None = None,
              context: Mapping[str, Any] | None = None,
              retry_of: int | None = None) -> TrialResult:
    """Resolve ``proposal`` (:func:`resolve`), evaluate it as trial ``trial`` of ``run`` and
    append its row exactly once.

    A recorded outcome for the same canonical cell, hyperparameters, seed and task is reused
    (the row says ``reused_from``). ``context``: what the strategy's proposer gives the
    evaluation (evolution: the GRU's references). ``retry_of``: the failed trial this one runs
    again. Never
    raises for a bad trial: an unexpected error becomes a ``failed`` row with the traceback's
    last lines. A setting every trial would trip on (:class:`ConfigError`, a missing data set)
    is recorded as a ``failed`` row, then raises :class:`SearchSetupError`.
    """
    writer = ResultsWriter(run_dir)
    worker = worker_name()
    strategy = strategy_of(exp)
    task_label = strategy.task_label(exp)
    try:
        cand = resolve(exp, proposal)
    except ConfigError as e:
        _setup_error(exp, _unresolved(exp, proposal), e, writer, run=run, trial=trial,
                     search=search, task=task_label)
    options = strategy.row_task_options(cand)
    try:
        key = result_key(genome_id(cand.genome), dict(cand.hparams), cand.seed, task_label,
                         options)
    except Exception:  # an invalid genome may have no canonical form: evaluate says why
        key = None
    original = find_reusable(run_dir, key) if key else None
    if original is not None:
        result = reuse(original, trial=trial, worker=worker, search=search, now=now())
    else:
        evaluate = evaluate or default_evaluate()

        def call(c: Candidate, on_eval: OnEval | None) -> TrialResult:
            return _call(evaluate, exp, c, run=run, trial=trial, on_eval=on_eval, writer=writer)

        try:
            result = strategy.evaluate(call, exp, cand, on_eval=on_eval, context=context or {})
        except Exception as e:
            if isinstance(e, ConfigError | FileNotFoundError):
                _setup_error(exp, cand, e, writer, run=run, trial=trial, search=search,
                             task=task_label)
            tb = traceback.format_exc(limit=4)
            result = _failed_row(exp, cand, run=run, trial=trial, search=search,
                                 error=f"{type(e).__name__}: {e}\n{tb}", task=task_label)
    result = dataclasses.replace(result, search=search, worker=worker, trial=trial, run=run,
                                 experiment=exp.name,
                                 distributions=dict(cand.distributions), retry_of=retry_of)
    writer.append(result)
    return result


__all__ = ["SearchSetupError", "failed_row", "pick_metric", "rebuild_experiment",
           "recorded_data", "resolve", "run_trial", "worker_name"]
