"""The Optuna backend: N worker processes on one study, ask/tell, rows to the table.

Each worker loads the experiment from its file, opens the study in the shared storage and loops:
under a file lock in the run folder it counts the trials taken (recorded in the table, or running
in the study, less abandoned ones) and asks for a new trial only while fewer than
``search.trials`` are taken, so several workers finish exactly the budget. A trial's row is
appended before the study is told its outcome; a row that cannot be written leaves the trial
abandoned (FAIL, no row), never done. The driver holds a lease on the study (``_lease``) and
tags every trial with it, so ``--resume`` settles only the trials of dead drivers and a second
driver can join a live run. The driver watches its workers: a worker that dies mid-trial has
that trial recorded ``failed`` (and told FAIL) and is replaced while budget remains; on Ctrl-C
(workers ignore SIGINT) the driver stops its workers and abandons their unfinished trials,
which ``--resume`` runs again. With one worker the loop runs in the driver's own process;
several are forked from a warm fork server that has imported torch and the framework once per
process (``_pool``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import wait as wait_for
from pathlib import Path
from typing import Any

from lstm_search.experiment import Experiment
from lstm_search.genome import Genome
from lstm_search.results import ResultsWriter, TableWriteError, TrialResult
from lstm_search.search._interrupt import check as check_interrupt
from lstm_search.search._lease import DRIVER_ATTR, Lease, live_drivers
from lstm_search.search._pool import (
    driver_alive,
    enter_worker,
    watch_driver,
    worker_context,
    worker_environment,
)
from lstm_search.search._storage import (
    ABANDONED,
    directions,
    make_pruner,
    make_sampler,
    make_storage,
    second_value,
)
from lstm_search.search._strategy import Proposer, strategy_of
from lstm_search.search._trial import (
    Evaluate,
    SearchSetupError,
    failed_row,
    pick_metric,
    rebuild_experiment,
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
    driver: str = ""  # the lease key of the driver these workers belong to (see _lease)
    driver_pid: int = 0  # the driver's process id (a worker whose driver is gone stops)
    # the driver's experiment as data (recorded_data): workers rebuild it from this, not from
    # the file (None: a space of the user's own class, loaded from the file)
    experiment_data: Mapping[str, Any] | None = None
    # the driver's environment when it started the worker (see _pool.enter_worker)
    env: Mapping[str, str] | None = None


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


def _held(study: Any) -> set[int]:
    """Numbers of the running trials that count against the budget (not abandoned ones)."""
    return {t.number for t in _running(study) if not t.user_attrs.get(ABANDONED)}


RETRY_ATTR = "retry_of"  # user attr of a trial that runs a failed trial's point again


def _taken(study: Any, run_dir: str | Path) -> set[int]:
    """The trials that count against the budget: rows (less failed rows superseded by a retry,
    done or pending) and running trials (less abandoned ones).

    The study is read before the table: a trial of another worker that finishes in between
    (row appended, then told) is then seen running or has its row. Read the other way round,
    it was in neither, and one trial too many was asked."""
    import optuna

    held = _held(study)
    states = (optuna.trial.TrialState.WAITING, optuna.trial.TrialState.RUNNING)
    pending = {t.user_attrs[RETRY_ATTR] for t in study.get_trials(deepcopy=False, states=states)
               if RETRY_ATTR in t.user_attrs and not t.user_attrs.get(ABANDONED)}
    rows = ResultsWriter(run_dir).rows()
    retried = {r.retry_of for r in rows if r.retry_of is not None}
    return ({r.trial for r in rows} - retried - pending) | held


def schedule_retries(exp: Experiment, spec: WorkerSpec) -> list[int]:
    """Queue one new trial (Optuna WAITING, the same parameters) for each failed row not yet
    retried; the workers take them first. Returns the failed trial numbers queued."""
    import optuna

    study = optuna.load_study(study_name=spec.study_name, storage=make_storage(spec.storage))
    queued: list[int] = []
    with _locked(spec.run_dir):
        rows = ResultsWriter(spec.run_dir).rows()
        done = {r.retry_of for r in rows if r.retry_of is not None}
        live = (optuna.trial.TrialState.WAITING, optuna.trial.TrialState.RUNNING)
        done |= {t.user_attrs[RETRY_ATTR] for t in study.get_trials(deepcopy=False,
                                                                     states=live)
                 if RETRY_ATTR in t.user_attrs and not t.user_attrs.get(ABANDONED)}
        trials = {t.number: t for t in study.get_trials(deepcopy=False)}
        for r in rows:
            if r.status != "failed" or r.trial in done or r.trial not in trials:
                continue
            study.enqueue_trial(trials[r.trial].params, user_attrs={RETRY_ATTR: r.trial},
                                skip_if_exists=False)
            queued.append(r.trial)
            done.add(r.trial)
    return queued


def abandon(study: Any, trial_number: int) -> None:
    """Finish a trial that has no row and never will (its driver died, or its row could not be
    written) as FAIL marked abandoned: it does not count against the budget, and a grid
    search draws its point again."""
    import optuna

    storage = study._storage
    trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id, trial_number)
    storage.set_trial_user_attr(trial_id, ABANDONED, True)
    with contextlib.suppress(RuntimeError, ValueError):  # finished meanwhile
        study.tell(trial_number, state=optuna.trial.TrialState.FAIL)


def settle(study: Any, trial_number: int, exp: Experiment, run_dir: str | Path) -> None:
    """Make the study agree with the table for a trial that will not go on: its row's outcome
    when the row was written, else abandoned."""
    rows = {r.trial: r for r in ResultsWriter(run_dir).rows()}
    if trial_number in rows:
        tell(study, trial_number, exp, rows[trial_number])
    else:
        abandon(study, trial_number)


def open_study(exp: Experiment, storage_url: str, study_name: str, *, seed: int,
               create: bool = False, run_dir: str | Path | None = None) -> Any:
    """The run's study (created with ``create``); a grid study opened with ``run_dir`` counts
    the points of that table's rows as held (see ``_storage``'s grid sampler)."""
    study = _open_study(exp, storage_url, study_name, seed=seed, create=create)
    if run_dir is not None and hasattr(study.sampler, "record_in"):
        study.sampler.record_in(exp, run_dir)
    return study


def _open_study(exp: Experiment, storage_url: str, study_name: str, *, seed: int,
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


_OWN_ATTRS = frozenset({"genome", "cell", "hparams", "pid", "worker_index", "step", "stages",
                        "genome_id", DRIVER_ATTR, RETRY_ATTR, ABANDONED})


def hparam_attrs(hparams: Mapping[str, Any], taken: Mapping[str, Any] = ()) -> dict[str, Any]:
    """Each hyperparameter of a trial (sampled or fixed) as a user attribute of its own, named
    as in the space (``lr``), ``hp.<name>`` where the name is one of the search's own
    attributes; numbers, strings and booleans as they are, anything else as its JSON."""
    out: dict[str, Any] = {}
    for key, value in hparams.items():
        name = f"hp.{key}" if key in _OWN_ATTRS or key in taken else str(key)
        plain = value is None or isinstance(value, bool | int | float | str)
        out[name] = value if plain else json.dumps(value, sort_keys=True, default=str)
    return out


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
    exp = exp or rebuild_experiment(spec.experiment_data, path=spec.experiment_path,
                                    smoke=spec.smoke, overrides=spec.overrides)
    study = open_study(exp, spec.storage, spec.study_name, seed=exp.seed * 1000 + spec.index,
                       run_dir=spec.run_dir)
    # a strategy that proposes trials itself (evolution) does so from the study's history
    proposer = strategy_of(exp).proposer(exp, study, seed=exp.seed * 1000 + spec.index)
    ran = 0
    while True:
        check_interrupt()  # a Ctrl-C a finaliser swallowed during the last trial
        context: Mapping[str, Any] = {}
        proposal: Proposal | None = None
        failure: Exception | None = None
        with _locked(spec.run_dir):
            taken = _taken(study, spec.run_dir)
            if len(taken) >= exp.search.trials and _sweep(study, exp, spec):
                # trials held by a driver that died meanwhile (a joined run): run them here
                taken = _taken(study, spec.run_dir)
            if len(taken) >= exp.search.trials:
                break
            wait = proposer is not None and proposer.waiting()
            if not wait:
                trial = study.ask()
                # under the lock: a sweep (which takes it) never sees a trial without its driver
                trial.set_user_attr(DRIVER_ATTR, spec.driver)
                trial.set_user_attr("pid", os.getpid())
                trial.set_user_attr("worker_index", spec.index)
                if proposer is not None:
                    # under the lock: the proposal is stored before another worker proposes
                    # (two workers never seed the same cell)
                    try:
                        proposal = proposer.propose(trial)
                        context = proposer.context()
                    except Exception as e:
                        failure = e
        if wait:  # e.g. the GRU seed runs elsewhere: its result is every candidate's reference
            time.sleep(0.5)
            continue
        try:
            _evaluate_trial(exp, spec, study, trial, proposal, failure, context, proposer)
        except (TableWriteError, KeyboardInterrupt):
            # no row, or a row not yet told: the study must not count the trial done without
            # its row (an abandoned trial is run again on --resume)
            with contextlib.suppress(Exception):
                settle(study, trial.number, exp, spec.run_dir)
            raise
        ran += 1
    return ran


def _evaluate_trial(exp: Experiment, spec: WorkerSpec, study: Any, trial: Any,
                    proposal: Proposal | None, failure: Exception | None,
                    context: Mapping[str, Any], proposer: Proposer | None) -> None:
    """Evaluate one asked trial, append its row, then tell the study (in that order)."""
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
        return
    trial.set_user_attr("genome", proposal.genome.to_json(indent=None))
    trial.set_user_attr("cell", proposal.cell)
    trial.set_user_attr("hparams", json.dumps(dict(proposal.hparams), sort_keys=True))
    for key, value in hparam_attrs(proposal.hparams, trial.user_attrs).items():
        trial.set_user_attr(key, value)  # optuna-dashboard shows each (a grid's are no params)
    try:
        result = run_trial(exp, proposal, run=spec.run, trial=trial.number,
                           run_dir=spec.run_dir, search=_search_name(exp, "optuna"),
                           evaluate=spec.evaluate,
                           on_eval=_on_eval(trial, exp),
                           context=context,
                           retry_of=trial.user_attrs.get(RETRY_ATTR))
    except SearchSetupError:
        study.tell(trial.number, state=optuna_fail())
        raise
    if proposer is not None:
        proposer.record(trial, result)
    tell(study, trial.number, exp, result)


def optuna_fail() -> Any:
    import optuna

    return optuna.trial.TrialState.FAIL


SETUP_ERROR_EXIT = 3


def _search_name(exp: Experiment, backend: str) -> str:
    return strategy_of(exp).search_name(exp, backend)


def _die_with_parent(driver: int = 0) -> None:
    """Linux: end this worker when the driver dies (a killed driver leaves no orphans).

    The death signal comes from the worker's parent: the driver (spawn), or the fork server,
    which ends as soon as the driver's process ends (``_pool``). It is SIGTERM, not SIGKILL:
    its default action ends the worker as promptly, but a row being written is finished first
    (``append_jsonl`` holds SIGTERM back while it writes), so a driver's death never tears a
    row.

    The death signal only covers a parent that dies after it is set: a driver (pid ``driver``)
    killed while this worker was still starting ends it now. A fork server outlives its driver
    by about a second: a thread of the worker watches the driver too (``_pool.watch_driver``).
    """
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if driver and not driver_alive(driver):  # gone, or a zombie not yet reaped
        os._exit(1)
    if driver:
        watch_driver(driver)


TABLE_ERROR_EXIT = 4
INTERRUPTED_EXIT = 130


def _worker_entry(spec: WorkerSpec) -> None:
    import signal

    # Ctrl-C reaches the whole process group: the driver alone decides (it stops its workers
    # and settles their trials), so a worker never dies half-way through its own bookkeeping
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(spec.driver_pid)
    enter_worker(spec.env)
    _thread_lock_for_tqdm()
    try:
        worker_loop(spec)
    except SearchSetupError as e:
        print(f"lstm-search worker {spec.index}: {e}", file=sys.stderr, flush=True)
        sys.exit(SETUP_ERROR_EXIT)
    except TableWriteError as e:
        print(f"lstm-search worker {spec.index}: {e}", file=sys.stderr, flush=True)
        sys.exit(TABLE_ERROR_EXIT)


def _thread_lock_for_tqdm() -> None:
    """tqdm's default lock holds a named multiprocessing semaphore; a worker stopped at
    Ctrl-C never unlinks it and the resource tracker then warns about each ("leaked semaphore
    objects") after the run's last line. A worker prints alone: a thread lock is enough."""
    import threading

    with contextlib.suppress(ImportError):
        from tqdm import tqdm

        tqdm.set_lock(threading.RLock())


def sweep_stale(exp: Experiment, spec: WorkerSpec, *, pids: set[int] | None = None,
                error: str = "", abandon_all: bool = False) -> int:
    """Finish the RUNNING trials of dead processes so that the study agrees with the table.

    - ``pids`` given: trials of this driver's workers with those process ids (the driver saw
      them exit). A trial whose row is in the table is told that outcome; else it gets a
      ``failed`` row saying the worker died, or, with ``abandon_all`` (the driver stopped its
      workers itself, on Ctrl-C or an error), it is abandoned.
    - ``pids`` None (``--resume``): trials whose driver is dead (see ``_lease``); trials of a
      live driver (a run being joined) are left alone. A trial with its row is told that
      outcome; one without is abandoned (FAIL, no row, its point drawn again).

    Runs under the run folder's ask lock: a trial asked under it always carries its driver.
    """
    import optuna

    study = optuna.load_study(study_name=spec.study_name, storage=make_storage(spec.storage))
    with _locked(spec.run_dir):
        return _sweep(study, exp, spec, pids=pids, error=error, abandon_all=abandon_all)


def _sweep(study: Any, exp: Experiment, spec: WorkerSpec, *, pids: set[int] | None = None,
           error: str = "", abandon_all: bool = False) -> int:
    """:func:`sweep_stale` for a caller that holds the ask lock already."""
    n = 0
    live = live_drivers(study) if pids is None else set()
    rows: dict[int, TrialResult] | None = None
    for t in _running(study):
        driver = t.user_attrs.get(DRIVER_ATTR)
        pid = t.user_attrs.get("pid")
        if pids is not None:
            if pid not in pids or driver != spec.driver:
                continue
        elif driver and driver in live:
            continue  # another driver's trial, running now
        if rows is None:
            rows = {r.trial: r for r in ResultsWriter(spec.run_dir).rows()}
        if t.number in rows:
            tell(study, t.number, exp, rows[t.number])
        elif pids is not None and not abandon_all:
            proposal = proposal_from_attrs(t.user_attrs) or Proposal(
                Genome((), (), {}, ""), "unknown", dict(t.params))
            row = failed_row(exp, proposal, run=spec.run, trial=t.number,
                             search=_search_name(exp, "optuna"),
                             error=error or f"worker process {pid} died during the trial")
            ResultsWriter(spec.run_dir).append(row)
            tell(study, t.number, exp, row)
        else:
            abandon(study, t.number)
        n += 1
    return n


def _stop_workers(procs: Mapping[int, Any]) -> set[int]:
    """Terminate the driver's worker processes and wait for them; their pids."""
    pids = {p.pid for p in procs.values()}
    for p in procs.values():
        if p.is_alive():
            p.terminate()
    for p in procs.values():
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
            p.join()
    return pids


def run_optuna(exp: Experiment, spec: WorkerSpec, *, workers: int, resume: bool,
               max_restarts: int | None = None, retry_failed: bool = False) -> None:
    """Run the search with ``workers`` processes (in this process when ``workers == 1``).

    The driver holds a lease on the study while it runs (see ``_lease``); ``resume`` first
    settles the trials of dead drivers, never those of a live one (joining a running search).
    """
    open_study(exp, spec.storage, spec.study_name, seed=exp.seed, create=True)
    with Lease(spec.storage, spec.study_name) as lease:
        spec = dataclasses.replace(spec, driver=lease.key)
        if resume:
            sweep_stale(exp, spec)
        if retry_failed:
            schedule_retries(exp, spec)
        if workers == 1:
            worker_loop(spec, exp)
            return
        _drive(exp, spec, workers=workers, max_restarts=max_restarts)


def _drive(exp: Experiment, spec: WorkerSpec, *, workers: int,
           max_restarts: int | None) -> None:
    ctx = worker_context()
    env = worker_environment()
    procs: dict[int, Any] = {}
    started: set[int] = set()
    restarts = 0
    limit = max_restarts if max_restarts is not None else exp.search.trials

    def start(i: int) -> None:
        p = ctx.Process(target=_worker_entry,
                        args=(dataclasses.replace(spec, index=i, driver_pid=os.getpid(),
                                                  env=env),),
                        name=f"lstm-search-worker-{i}", daemon=False)
        p.start()
        procs[i] = p
        started.add(p.pid)

    try:
        for i in range(workers):
            start(i)
        while procs:
            # wakes as soon as a worker ends (the search's last second is not a poll's wait)
            wait_for([p.sentinel for p in procs.values()], timeout=0.5)
            check_interrupt()
            for i, p in list(procs.items()):
                if p.is_alive():
                    continue
                p.join()
                del procs[i]
                if p.exitcode in (SETUP_ERROR_EXIT, TABLE_ERROR_EXIT):
                    _stop_workers(procs)
                    procs.clear()
                    sweep_stale(exp, spec, pids=started, abandon_all=True)
                    if p.exitcode == TABLE_ERROR_EXIT:
                        raise TableWriteError(f"a worker could not write its row to "
                                              f"{spec.run_dir} (its message is above); "
                                              f"nothing recorded is lost: fix the cause "
                                              f"(disk space?), then --resume")
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
    except BaseException:
        # Ctrl-C (or any error here): stop the workers, then make the study agree with the
        # table for their trials; an interrupted trial is abandoned and run again on --resume
        _stop_workers(procs)
        with contextlib.suppress(Exception):
            sweep_stale(exp, spec, pids=started, abandon_all=True)
        raise


_STATE_OF_STATUS = {"complete": "COMPLETE", "pruned": "PRUNED", "failed": "FAIL",
                    "invalid": "FAIL"}


def check_study(run_dir: str | Path, storage_url: str, study_name: str) -> list[str]:
    """Where the study and the run's table disagree, one sentence each ([] = they agree).

    A finished trial without its row; a row whose trial the study does not have, or holds in
    another state; a trial left running by a dead driver (``--resume`` settles it).
    """
    import optuna

    study = optuna.load_study(study_name=study_name, storage=make_storage(storage_url))
    rows = {r.trial: r for r in ResultsWriter(run_dir).rows()}
    live = live_drivers(study)
    problems: list[str] = []
    numbers = set()
    for t in study.get_trials(deepcopy=False):
        numbers.add(t.number)
        row = rows.get(t.number)
        state = t.state.name
        if t.state == optuna.trial.TrialState.RUNNING:
            if t.user_attrs.get(DRIVER_ATTR) not in live:
                problems.append(f"trial {t.number} was left running by a dead driver "
                                f"({'it has its row' if row else 'no row'}; --resume settles "
                                f"it)")
            continue
        if t.state == optuna.trial.TrialState.WAITING:
            continue
        if row is None:
            if not t.user_attrs.get(ABANDONED):
                problems.append(f"trial {t.number} is {state} in the study but has no row")
            continue
        if t.user_attrs.get(ABANDONED):
            problems.append(f"trial {t.number} is marked abandoned but has a row")
        elif _STATE_OF_STATUS.get(row.status) != state and not (
                row.status == "complete" and state == "FAIL"
                and row.objective is None):  # a complete row without objective is told FAIL
            problems.append(f"trial {t.number}: the row says {row.status}, the study {state}")
    for n in sorted(set(rows) - numbers):
        problems.append(f"row for trial {n}, which the study does not have")
    return problems


__all__ = ["WorkerSpec", "abandon", "check_study", "open_study", "run_optuna", "settle",
           "sweep_stale", "tell", "worker_loop"]
