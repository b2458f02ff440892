"""The Optuna backend: N worker processes (spawn) on one study, ask/tell, rows to the table.

Each worker loads the experiment from its file, opens the study in the shared storage and loops:
under a file lock in the run folder it counts the trials taken (recorded in the table, or running
in the study) and asks for a new trial only while fewer than ``search.trials`` are taken, so
several workers finish exactly the budget. The driver watches its workers: a worker that dies
mid-trial has that trial recorded ``failed`` (and told FAIL) and is replaced while budget remains.
With one worker the loop runs in the driver's own process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lstm_search.experiment import Experiment, load_experiment
from lstm_search.genome import Genome
from lstm_search.results import ResultsWriter, TrialResult
from lstm_search.search._storage import (
    ABANDONED,
    directions,
    make_pruner,
    make_sampler,
    make_storage,
    second_value,
)
from lstm_search.search._trial import (
    Evaluate,
    SearchSetupError,
    failed_row,
    pick_metric,
    run_trial,
)
from lstm_search.spaces import Proposal, suggest

LOCK_FILE = ".ask.lock"


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker process needs to rebuild everything itself (picklable)."""

    experiment_path: str
    smoke: bool
    overrides: Mapping[str, Any]
    run: str
    run_dir: str
    storage: str
    study_name: str
    index: int
    evaluate: Evaluate | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def _locked(run_dir: str | Path) -> Iterator[None]:
    path = Path(run_dir) / LOCK_FILE
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def recorded_trials(run_dir: str | Path) -> set[int]:
    return ResultsWriter(run_dir).finished_trials()


def _running(study: Any) -> list[Any]:
    import optuna

    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))


def open_study(exp: Experiment, storage_url: str, study_name: str, *, seed: int,
               create: bool = False) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = make_storage(storage_url)
    if create:
        dirs = directions(exp)
        return optuna.create_study(storage=storage, study_name=study_name,
                                   directions=dirs, load_if_exists=True,
                                   sampler=make_sampler(exp, seed), pruner=make_pruner(exp))
    # reseed per worker and per restart so that resumed or parallel workers do not repeat draws
    probe = optuna.load_study(study_name=study_name, storage=storage)
    n = len(probe.get_trials(deepcopy=False))
    return optuna.load_study(study_name=study_name, storage=storage,
                             sampler=make_sampler(exp, seed + 7919 * n),
                             pruner=make_pruner(exp))


def proposal_from_attrs(attrs: Mapping[str, Any]) -> Proposal | None:
    """The proposal stored with a trial (user attrs ``genome``, ``cell``, ``hparams``)."""
    if "genome" not in attrs:
        return None
    return Proposal(Genome.from_json(attrs["genome"]), attrs.get("cell", ""),
                    json.loads(attrs.get("hparams", "{}")))


def tell(study: Any, trial_number: int, exp: Experiment, result: TrialResult) -> None:
    """Report a row's outcome to the study (complete -> values, pruned, failed/invalid -> FAIL)."""
    import optuna

    State = optuna.trial.TrialState
    try:
        if result.status == "pruned":
            study.tell(trial_number, state=State.PRUNED)
        elif result.status == "complete" and result.objective is not None:
            values = [float(result.objective)]
            if exp.search.second_objective:
                second = second_value(exp, result)
                if second is None:
                    study.tell(trial_number, state=State.FAIL)
                    return
                values.append(second)
            study.tell(trial_number, values)
        else:
            study.tell(trial_number, state=State.FAIL)
    except (RuntimeError, ValueError) as e:  # already finished (told by a resume sweep)
        if "finished" not in str(e).lower():
            raise


def _on_eval(trial: Any, exp: Experiment) -> Any:
    if exp.search.pruner == "none" or exp.search.second_objective:
        return None

    def on_eval(epoch: int, metrics: dict[str, float], final: bool) -> bool | None:
        import optuna

        name = pick_metric(metrics, exp.search.metric, exp.search.direction)
        if name is None or metrics[name] is None or metrics[name] != metrics[name]:
            return None
        trial.report(float(metrics[name]), epoch)
        if final:  # trained to the end: never pruned (it gets its test metrics)
            return None
        try:
            if trial.should_prune():
                raise optuna.TrialPruned()
        except optuna.TrialPruned:
            return True  # the trainer stops and records "pruned"
        return None

    return on_eval


def worker_loop(spec: WorkerSpec, exp: Experiment | None = None) -> int:
    """Ask, evaluate, record, tell until the run's budget is taken; returns trials run here."""
    exp = exp or load_experiment(spec.experiment_path, smoke=spec.smoke,
                                 overrides=spec.overrides)
    study = open_study(exp, spec.storage, spec.study_name, seed=exp.seed * 1000 + spec.index)
    evolution = None
    if exp.search.sampler == "evolution":
        from lstm_search.search.evolution import Evolution

        evolution = Evolution(exp, study, seed=exp.seed * 1000 + spec.index)
    ran = 0
    while True:
        references: dict[str, float] = {}
        proposal: Proposal | None = None
        failure: Exception | None = None
        with _locked(spec.run_dir):
            taken = recorded_trials(spec.run_dir) | {t.number for t in _running(study)}
            if len(taken) >= exp.search.trials:
                break
            wait = evolution is not None and evolution.waiting_for_reference()
            if not wait:
                trial = study.ask()
                trial.set_user_attr("pid", os.getpid())
                trial.set_user_attr("worker_index", spec.index)
                if evolution is not None:
                    # under the lock: the proposal's cell is stored before another worker
                    # proposes (two workers never seed the same cell)
                    try:
                        proposal = evolution.propose(trial)
                        references = evolution.references()
                    except Exception as e:
                        failure = e
        if wait:  # the GRU seed runs elsewhere: its result is every candidate's reference
            time.sleep(0.5)
            continue
        try:
            if failure is not None:
                raise failure
            if proposal is None:
                proposal = suggest(exp.space, trial)
        except Exception as e:  # a space that cannot build its cell: record it, go on
            proposal = Proposal(Genome((), (), {}, ""), "unbuilt", dict(trial.params))
            result = failed_row(exp, proposal, run=spec.run, trial=trial.number,
                                search=_search_name(exp, "optuna"),
                                error=f"space {exp.space.name!r} failed to build: "
                                      f"{type(e).__name__}: {e}")
            ResultsWriter(spec.run_dir).append(result)
            tell(study, trial.number, exp, result)
            ran += 1
            continue
        trial.set_user_attr("genome", proposal.genome.to_json(indent=None))
        trial.set_user_attr("cell", proposal.cell)
        trial.set_user_attr("hparams", json.dumps(dict(proposal.hparams), sort_keys=True))
        try:
            result = run_trial(exp, proposal, run=spec.run, trial=trial.number,
                               run_dir=spec.run_dir, search=_search_name(exp, "optuna"),
                               evaluate=spec.evaluate,
                               on_eval=_on_eval(trial, exp),
                               references=references)
        except SearchSetupError:
            study.tell(trial.number, state=optuna_fail())
            raise
        if evolution is not None:
            evolution.record(trial, result)
        tell(study, trial.number, exp, result)
        ran += 1
    return ran


def optuna_fail() -> Any:
    import optuna

    return optuna.trial.TrialState.FAIL


SETUP_ERROR_EXIT = 3


def _search_name(exp: Experiment, backend: str) -> str:
    return "evolution" if exp.search.sampler == "evolution" else f"{backend}-{exp.search.sampler}"


def _die_with_parent() -> None:
    """Linux: end this worker when the driver dies (a killed driver leaves no orphans)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _worker_entry(spec: WorkerSpec) -> None:
    _die_with_parent()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        worker_loop(spec)
    except SearchSetupError as e:
        print(f"lstm-search worker {spec.index}: {e}", file=sys.stderr, flush=True)
        sys.exit(SETUP_ERROR_EXIT)


def sweep_stale(exp: Experiment, spec: WorkerSpec, *, pids: set[int] | None = None,
                error: str = "") -> int:
    """Finish RUNNING trials left by dead workers (``pids``) or a killed driver (all).

    A trial whose row is in the table is told that outcome; a trial that died under a worker
    process (``pids`` given) gets a ``failed`` row saying so; a trial left by a killed driver
    (resume) is told FAIL without a row, so the budget draws a new trial in its place.
    """
    import optuna

    study = optuna.load_study(study_name=spec.study_name, storage=make_storage(spec.storage))
    rows = {r.trial: r for r in ResultsWriter(spec.run_dir).rows()}
    n = 0
    for t in _running(study):
        pid = t.user_attrs.get("pid")
        if pids is not None and pid not in pids:
            continue
        if t.number in rows:
            tell(study, t.number, exp, rows[t.number])
        elif pids is not None:
            proposal = proposal_from_attrs(t.user_attrs) or Proposal(
                Genome((), (), {}, ""), "unknown", dict(t.params))
            row = failed_row(exp, proposal, run=spec.run, trial=t.number,
                             search=_search_name(exp, "optuna"),
                             error=error or f"worker process {pid} died during the trial")
            ResultsWriter(spec.run_dir).append(row)
            tell(study, t.number, exp, row)
        else:
            # its point is drawn again (a grid search retries it: see _storage.ABANDONED)
            study._storage.set_trial_user_attr(t._trial_id, ABANDONED, True)
            study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        n += 1
    return n


def run_optuna(exp: Experiment, spec: WorkerSpec, *, workers: int, resume: bool,
               max_restarts: int | None = None) -> None:
    """Run the search with ``workers`` processes (in this process when ``workers == 1``)."""
    open_study(exp, spec.storage, spec.study_name, seed=exp.seed, create=True)
    if resume:
        sweep_stale(exp, spec)
    if workers == 1:
        worker_loop(spec, exp)
        return
    ctx = multiprocessing.get_context("spawn")
    procs: dict[int, Any] = {}
    restarts = 0
    limit = max_restarts if max_restarts is not None else exp.search.trials

    def start(i: int) -> None:
        p = ctx.Process(target=_worker_entry, args=(dataclasses.replace(spec, index=i),),
                        name=f"lstm-search-worker-{i}", daemon=False)
        p.start()
        procs[i] = p

    for i in range(workers):
        start(i)
    while procs:
        time.sleep(0.5)
        for i, p in list(procs.items()):
            if p.is_alive():
                continue
            p.join()
            del procs[i]
            if p.exitcode == SETUP_ERROR_EXIT:
                for q in procs.values():
                    q.terminate()
                    q.join()
                sweep_stale(exp, spec)
                raise SearchSetupError(f"a worker stopped on a setup error of {exp.name} "
                                       f"(its row in {spec.run_dir} says which); fix the "
                                       f"experiment, then --resume")
            if p.exitcode != 0:
                sweep_stale(exp, spec, pids={p.pid},
                            error=f"worker process {p.pid} died during the trial "
                                  f"(exit code {p.exitcode})")
                taken = recorded_trials(spec.run_dir)
                if len(taken) < exp.search.trials and restarts < limit:
                    restarts += 1
                    start(i)


__all__ = ["WorkerSpec", "open_study", "run_optuna", "sweep_stale", "tell",
           "worker_loop"]
