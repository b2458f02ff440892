"""Run an experiment end to end: resolve, make the run folder, search, report where results are.

``results/<experiment>/<run>/`` holds ``run.json`` (resolved configuration, seed, versions, git
commit, how it was invoked), ``trials.jsonl`` (one row per trial), ``curves.jsonl``, and the
search's working memory (``study.db`` for Optuna, ``ray/`` for Ray Tune). ``--resume`` continues
the same folder: rows already in the table are kept and the budget is completed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from lstm_search.config import ConfigError, check_path_name
from lstm_search.experiment import Experiment, ExperimentError, find_experiment, load_experiment
from lstm_search.provenance import provenance, provenance_warnings
from lstm_search.results import RUN_FILE, ResultsWriter, now
from lstm_search.search._interrupt import catch_interrupts
from lstm_search.search._pool import warm_up
from lstm_search.search._progress import ProgressMonitor, Summary, summarise
from lstm_search.search._storage import default_storage_url
from lstm_search.search._strategy import strategy_of
from lstm_search.search._trial import Evaluate, recorded_data

BACKENDS = ("optuna", "ray")


@dataclass(frozen=True)
class RunOutcome:
    """Where a run's results are and what its table holds."""

    run_dir: Path
    experiment: Experiment
    summary: Summary
    problems: tuple[str, ...] = ()  # what breaks the record's invariant (see results.py)

    @property
    def all_failed(self) -> bool:
        """Every row of the run failed (or was invalid): nothing was learned."""
        good = sum(self.summary.by_status.get(k, 0) for k in ("complete", "pruned"))
        return self.summary.done > 0 and good == 0

    def first_error(self) -> str:
        """The first line of the first failed row's error ("" if none)."""
        from lstm_search.results import TRIALS_FILE, read_jsonl

        path = self.run_dir / TRIALS_FILE
        for r in read_jsonl(path) if path.exists() else ():
            if r.get("error"):
                return str(r["error"]).strip().splitlines()[0][:300]
        return ""


def _latest_run(exp_dir: Path) -> str:
    runs = sorted((p for p in exp_dir.iterdir() if (p / RUN_FILE).exists()),
                  key=lambda p: (p / RUN_FILE).stat().st_mtime) if exp_dir.is_dir() else []
    if not runs:
        raise ExperimentError(f"--resume: no earlier run of this experiment in {exp_dir}")
    return runs[-1].name


def _data_dirs(exp: Experiment) -> dict[str, str]:
    """``task.data_dir`` (and ``stages.task.data_dir``) as the absolute folder the data-path
    rule gives, for tasks that read a dataset; raise :class:`ExperimentError` naming the file,
    the folder searched and how to set it when the dataset is not there."""
    from lstm_search.data import DataError, dataset_folder

    out: dict[str, str] = {}
    tasks = [("task.data_dir", exp.task), *(("stages.task.data_dir", s.task) for s in exp.stages)]
    for key, task in tasks:
        try:
            folder = dataset_folder(task.name, task.data_dir)
        except DataError as e:
            raise ExperimentError(f"experiment {exp.name!r}: {e}") from None
        if folder is not None and task.data_dir != str(folder):
            out.setdefault(key, str(folder))
    return out


def _data_dir_sets(path: Path, data_dir: str | Path) -> dict[str, str]:
    """``--data-dir DIR`` as the overrides that set it for the task and every stage."""
    sets = {"task.data_dir": str(data_dir)}
    if load_experiment(path).stages:
        sets["stages.task.data_dir"] = str(data_dir)
    return sets


# settings that do not shape any trial: a resume may change them
_FREE_ON_RESUME = ("search.workers", "search.trials", "task.data_dir")


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def settings_changes(recorded: Mapping[str, Any], requested: Mapping[str, Any]) -> list[str]:
    """``key: old -> new`` for each resolved setting that differs between a run's ``run.json``
    (``recorded``) and a resuming command (``requested``, :meth:`Experiment.to_dict`)."""
    from lstm_search.results import json_ready

    def as_json(d: Mapping[str, Any]) -> dict[str, Any]:  # as run.json holds it
        return json.loads(json.dumps(json_ready(dict(d)), default=str))

    recorded, requested = as_json(recorded), as_json(requested)
    old, new = _flat(recorded), _flat(requested)
    if _space_data(recorded) and _space_data(requested):
        ignored = ("space.repr",)  # the data says it all (run.json reorders a repr's dicts)
    else:  # a run.json written before spaces were recorded as data, or a user's space class
        ignored = ("space.data",)
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new))
            if old.get(k) != new.get(k) and k not in _FREE_ON_RESUME
            and not k.startswith(ignored)]


def _space_data(experiment: Mapping[str, Any]) -> Any:
    space = experiment.get("space")
    return space.get("data") if isinstance(space, dict) else None


def resume_line(run_dir: Path, budget: int, *, retry_failed: bool = False,
                forced: list[str] | None = None) -> str:
    """What a resume continues: the run folder, rows present, trials missing, failed trials."""
    s = summarise(run_dir)
    failed = s.by_status.get("failed", 0)
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(s.by_status.items())) or "none"
    line = (f"lstm-search: resuming {run_dir}: {s.done} row(s) ({statuses}), "
            f"{max(0, budget - s.done)} of {budget} trial(s) to run, {failed} failed")
    if failed:
        line += (" (run again: --retry-failed)" if not retry_failed
                 else " (--retry-failed: run again)")
    if forced:
        line += f"; --force: settings changed: {'; '.join(forced)}"
    return line


def check_storage(url: str) -> None:
    """Raise :class:`ExperimentError` unless ``url`` names an Optuna storage this package opens
    (see :func:`lstm_search.search._storage.make_storage`), with its database driver installed.
    """
    if url.startswith("journal:") or url.endswith(".log"):
        if not (url[len("journal:"):] if url.startswith("journal:") else url).strip():
            raise ExperimentError(f"--storage {url!r}: the journal needs a file path "
                                  f"(journal:PATH)")
        _open_storage(url)
        return
    if "://" not in url:
        raise ExperimentError(f"--storage {url!r}: expected sqlite:///PATH, journal:PATH, a .log "
                              f"path, or a postgresql:// / mysql:// URL")
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as e:
        raise ExperimentError(f"--storage {url!r}: not a database URL Optuna can open "
                              f"({e}); expected sqlite:///PATH, journal:PATH, a .log path, "
                              f"or a postgresql:// / mysql:// URL") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ExperimentError(f"--storage {url!r}: an in-memory SQLite database keeps nothing "
                              f"(workers cannot share it, --resume cannot find it); give a "
                              f"file: sqlite:///PATH")
    try:
        dialect.import_dbapi()
    except ImportError as e:
        raise ExperimentError(f"--storage {url!r}: its database driver is not installed "
                              f"({e})") from None
    _open_storage(url)


def _open_storage(url: str) -> None:
    """Open the storage and read its studies once, so that an unopenable path, a file that is
    not a database or a damaged journal is an error before the run folder is written."""
    from lstm_search.search._storage import make_storage

    try:
        journal = url[len("journal:"):] if url.startswith("journal:") else url
        if not url.startswith(("sqlite:", "postgresql", "mysql")) and Path(journal).is_file():
            with open(journal, "rb") as f:  # Optuna reads a damaged last line as a torn write
                for line in f:
                    if line.endswith(b"\n") and "op_code" not in json.loads(line):
                        raise ValueError("a line of the journal is not an Optuna log entry")
        make_storage(url).get_all_studies()
    except Exception as e:  # sqlalchemy, journal (JSON, Unicode) and OS errors alike
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ExperimentError(f"--storage {url!r}: cannot be opened as an Optuna storage "
                              f"({type(e).__name__}: {first})") from None


def check_tasks(exp: Experiment) -> None:
    """Raise :class:`ExperimentError` when the task or a stage's task is unknown or is given an
    option it does not take (``task.name=mqar`` with the ``task.gap`` of a recall experiment):
    every trial would fail the same way; or when the study's direction is not the task's
    (``--set task.name=waveform`` on an accuracy experiment would maximise an error)."""
    from lstm_search.tasks import check_task_config, task_objective

    for where, task in (("task", exp.task), *(("stages.task", s.task) for s in exp.stages)):
        try:
            check_task_config(task)
        except ConfigError as e:
            raise ExperimentError(f"experiment {exp.name!r}: {where}: {e}") from None
    if exp.search.sampler != "evolution":  # evolution maximises its own fitness
        objective, direction = task_objective(exp.task.name)
        if exp.search.direction != direction:
            raise ExperimentError(
                f"experiment {exp.name!r}: search.direction is {exp.search.direction!r} but task "
                f"{exp.task.name!r} has its objective {objective} {direction}d: the study would "
                f"optimise the wrong way; set search.direction={direction}")


def check_hparam_values(exp: Experiment) -> None:
    """Raise :class:`ExperimentError` when a value the space can give a hyperparameter (a
    ``Choice``'s values, a ``Fixed`` or constant value, a range's ends) is out of the setting's
    range (``train.lr`` <= 0, ``task.gap`` < 1 ...): every trial drawing it would fail."""
    from lstm_search.config import SettingRangeError, apply_overrides
    from lstm_search.evaluate import apply_hparams

    for key, dist in dict(getattr(exp.space, "hparams", None) or {}).items():
        if key == "seed":
            continue
        for value in _declared_values(dist):
            try:
                if key.startswith("task."):
                    apply_overrides(exp.task, {key[len("task."):]: value})
                else:
                    apply_hparams({key: value}, exp.model, exp.train)
            except SettingRangeError as e:
                raise ExperimentError(f"experiment {exp.name!r}: hyperparameter {key!r} can "
                                      f"take the value {value!r}, out of range: {e}") from None
            except ConfigError:
                break  # an unknown key or a type: reported when a trial applies it


def _declared_values(dist: Any) -> list[Any]:
    """The values a hyperparameter declaration names: a Choice's, a Fixed or constant value,
    the ends of a range (none for a transformed range such as ``OneMinusLogUniform``)."""
    if hasattr(dist, "choices"):
        return list(dist.choices)
    if hasattr(dist, "value_"):
        return [dist.value_]
    if type(dist).__name__ == "OneMinusLogUniform":
        return []
    if hasattr(dist, "low") and hasattr(dist, "high"):
        return [dist.low, dist.high]
    return [dist] if isinstance(dist, int | float | str | bool) else []


def check_backend(exp: Experiment, backend: str, *, storage: str | None = None) -> None:
    """Raise :class:`ExperimentError` when ``exp`` cannot run on ``backend``."""
    if backend not in BACKENDS:
        raise ExperimentError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    strategy_of(exp).check_backend(exp, backend)
    if backend == "ray" and storage:
        raise ExperimentError("--storage is the Optuna backend's study storage; the ray backend "
                              "keeps its state in the run folder (ray/)")


def _search(exp: Experiment, backend: str, *, path: Path, smoke: bool, sets: Mapping[str, Any],
            run: str, run_dir: Path, storage: str, address: str | None, num_cpus: int | None,
            resume: bool, retry_failed: bool, evaluate: Evaluate | None,
            stream: TextIO) -> None:
    """The search itself, on ``backend``, with its progress line."""
    with ProgressMonitor(run_dir, exp.search.trials, stream=stream):
        if backend == "optuna":
            from lstm_search.search._optuna import WorkerSpec, run_optuna

            spec = WorkerSpec(experiment_path=str(path.resolve()), smoke=smoke, overrides=sets,
                              run=run, run_dir=str(run_dir.resolve()), storage=storage,
                              study_name=f"{exp.name}/{run}", index=0, evaluate=evaluate,
                              experiment_data=recorded_data(exp))
            run_optuna(exp, spec, workers=exp.search.workers, resume=resume,
                       retry_failed=retry_failed)
        else:
            from lstm_search.search._ray import run_ray

            run_ray(exp, experiment_path=str(path.resolve()), smoke=smoke, overrides=sets,
                    run=run, run_dir=run_dir.resolve(), address=address, num_cpus=num_cpus,
                    resume=resume, evaluate=evaluate)


def resume_command(exp: Experiment, *, experiment_path: str, run: str, run_dir: Path,
                   backend: str = "optuna", address: str | None = None,
                   num_cpus: int | None = None) -> str:
    """The ``lstm-search run`` command that resumes this run (its settings and storage come
    from run.json): a catalogue experiment by its name, a user's file by its path."""
    import shlex

    path = Path(experiment_path)
    try:
        named = find_experiment(exp.name).resolve() == path.resolve()
    except ExperimentError:
        named = False
    args = ["lstm-search", "run", exp.name if named else str(path)]
    if backend != "optuna":
        args += ["--backend", backend]
    args += ["--out", str(Path(run_dir).parent.parent), "--run", run, "--resume"]
    if address:
        args += ["--address", address]
    if num_cpus:
        args += ["--num-cpus", str(num_cpus)]
    return shlex.join(args)


def _command_sets(path: Path, overrides: Mapping[str, Any] | None, *, trials: int | None,
                  workers: int | None, seed: int | None, paper: bool,
                  smoke: bool) -> dict[str, Any]:
    """The command's dotted overrides: ``--set`` values, ``--trials``/``--workers``/``--seed``,
    over the declaration's ``paper`` ones with ``--paper``."""
    sets: dict[str, Any] = dict(overrides or {})
    if trials is not None:
        sets["search.trials"] = trials
    if workers is not None:
        sets["search.workers"] = workers
    if seed is not None:
        sets["seed"] = seed
    if paper:
        if smoke:
            raise ExperimentError("--smoke and --paper exclude each other")
        declared = load_experiment(path)
        if not declared.paper:
            raise ExperimentError(f"experiment {declared.name!r} declares no paper scale "
                                  f"(its defaults are the published configuration)")
        sets = {**declared.paper, **sets}
    return sets


def _resumed(path: Path, exp_dir: Path, run: str | None, sets: Mapping[str, Any], *,
             smoke: bool, force: bool) -> tuple[str, dict[str, Any], Experiment, list[str],
                                                list[str], str | None]:
    """The run a ``--resume`` continues: (run, its overrides with the command's on top, the
    experiment, the settings the command changes, where the declaration file now differs from
    the run's record, the run's storage).

    The experiment is the one the run recorded in its ``run.json`` (rebuilt from the data,
    :meth:`Experiment.from_dict`) with the command's ``--set`` values on top: editing the
    declaration or space file mid-study does not change the study. Without ``force`` it raises
    when the command changes a setting or the file no longer declares the recorded settings;
    with ``force`` the command's settings apply and the file's changes do not. A run whose
    space has no data form (a space class of the user's own) is resolved from its file.
    """
    run = run or _latest_run(exp_dir)
    run_file = exp_dir / run / RUN_FILE
    if not run_file.is_file():
        raise ExperimentError(f"--resume: no run {run!r} in {exp_dir} (no {RUN_FILE})")
    info = json.loads(run_file.read_text())
    inv = info.get("invocation", {})
    # the resumed run keeps its --set values; new ones come on top. --smoke is not taken
    # from the run: resuming a smoke run without it (or the reverse) changes the settings
    merged = {**inv.get("overrides", {}), **sets}
    declared = load_experiment(path, smoke=smoke, overrides=merged)
    recorded = info.get("experiment")
    exp, changed, drift = declared, [], []
    if isinstance(recorded, dict) and _space_data(recorded):
        exp = Experiment.from_dict(recorded, where=str(run_file)).resolved(overrides=sets)
        changed = settings_changes(recorded, exp.to_dict())
        drift = settings_changes(exp.to_dict(), declared.to_dict())
    elif isinstance(recorded, dict):  # nothing to rebuild from: the file, compared
        changed = settings_changes(recorded, declared.to_dict())
    # (a run.json without its resolved settings, written by hand, has nothing to compare)
    if (changed or drift) and not force and bool(inv.get("smoke")) != smoke:
        # the usual cause, said first: the latest run was a smoke run (or the reverse)
        kind = ("a --smoke run and this command is not" if inv.get("smoke")
                else "not a --smoke run and this command is")
        raise ExperimentError(
            f"--resume: run {run!r} ({run_file}) was {kind}: resume it "
            f"{'with' if inv.get('smoke') else 'without'} --smoke, start a new run (leave out "
            f"--resume), or name another run with --run")
    if (changed or drift) and not force:
        was = (" (the run was a --smoke run; this command is not)"
               if inv.get("smoke") and not smoke else
               " (this command is --smoke; the run was not)"
               if smoke and not inv.get("smoke") else "")
        parts = []
        if changed:
            parts.append(f"the settings of run {run!r} ({run_file}) differ from this "
                         f"command's{was}: {'; '.join(changed)}")
        if drift:
            parts.append(f"{path} no longer declares the settings run {run!r} recorded "
                         f"in {run_file}{was if not changed else ''}: {'; '.join(drift)} "
                         f"(with --force the run goes on with its recorded settings)")
        raise ExperimentError(
            f"--resume: {'; and '.join(parts)}. Resuming would mix trials run at different "
            f"settings in one table: give the same settings, choose another run with --run, "
            f"or pass --force")
    return run, merged, exp, changed, drift, inv.get("storage")


def _new_run(exp_dir: Path, run: str | None, *, smoke: bool, paper: bool) -> str:
    """The name of a new run (``--run``, else a time stamp); its folder must not exist."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    run = run or (f"smoke-{stamp}" if smoke else f"paper-{stamp}" if paper else stamp)
    if (exp_dir / run / RUN_FILE).exists():
        raise ExperimentError(f"run folder {exp_dir / run} exists; pass --resume to continue "
                              f"it or choose another --run")
    return run


def _check_before_writing(exp: Experiment, backend: str, *, explicit_storage: str | None,
               storage: str | None, resume: bool, retry_failed: bool) -> None:
    """Every problem with the backend, the hyperparameters or the storage, before anything is
    written."""
    check_backend(exp, backend, storage=explicit_storage)
    check_tasks(exp)
    check_hparam_values(exp)
    if retry_failed and not resume:
        raise ExperimentError("--retry-failed runs the failed trials of an earlier run again: "
                              "use it with --resume")
    if retry_failed and (backend != "optuna" or not strategy_of(exp).retries_failed):
        raise ExperimentError("--retry-failed works with the optuna backend's samplers (not "
                              "the ray backend, nor a strategy whose next proposals depend on "
                              f"each outcome: {strategy_of(exp).label(exp)})")
    if storage and backend == "optuna":
        check_storage(storage)


def _write_run_json(run_dir: Path, exp: Experiment, *, path: Path, smoke: bool, paper: bool,
                    sets: Mapping[str, Any], backend: str, storage: str, address: str | None,
                    resume: bool, changed: list[str], stream: TextIO) -> None:
    """``run.json``: the resolved experiment, how it was invoked, provenance, and (on resume)
    the history of resumptions and forced setting changes; warns about the code that runs."""
    writer = ResultsWriter(run_dir)
    info_path = run_dir / RUN_FILE
    previous = json.loads(info_path.read_text()) if info_path.exists() else {}
    for warning in provenance_warnings(previous.get("provenance") or {} if resume else {}):
        print(f"lstm-search: {warning}", file=stream, flush=True)
    writer.write_run_info({
        "experiment": exp.to_dict(),
        "run": run_dir.name,
        "seed": exp.seed,
        "invocation": {"experiment_file": str(path.resolve()), "smoke": smoke, "paper": paper,
                       "overrides": dict(sets), "backend": backend,
                       "storage": storage, "address": address, "workers": exp.search.workers},
        "provenance": provenance(),
        "started": previous.get("started", now()),
        "resumed": [*previous.get("resumed", []), now()] if resume else [],
        "settings_changed": [*previous.get("settings_changed", []),
                             *([{"time": now(), "changes": changed}] if changed else [])],
    })


def _print_record_check(run_dir: Path, *, backend: str, storage: str, study_name: str,
                        stream: TextIO) -> list[str]:
    """Print what :func:`record_problems` finds (or that the record is whole); return it."""
    problems = record_problems(run_dir, backend=backend, storage=storage, study_name=study_name)
    if problems:
        print(f"lstm-search: the record of {run_dir} has {len(problems)} problem(s):",
              file=stream, flush=True)
        for p in problems:
            print(f"  - {p}", file=stream, flush=True)
    else:
        print("lstm-search: record check: one row per trial, every point as often as planned, "
              "study and table agree", file=stream, flush=True)
    return problems


def run_experiment(
    experiment: str | Path,
    *,
    smoke: bool = False,
    paper: bool = False,
    overrides: Mapping[str, Any] | None = None,
    backend: str = "optuna",
    trials: int | None = None,
    workers: int | None = None,
    seed: int | None = None,
    out: str | Path = "results",
    run: str | None = None,
    resume: bool = False,
    force: bool = False,
    retry_failed: bool = False,
    storage: str | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    data_dir: str | Path | None = None,
    evaluate: Evaluate | None = None,
    stream: TextIO | None = None,
) -> RunOutcome:
    """Run (or resume) a search of ``experiment`` (a name in ``experiments/`` or a path).

    ``paper`` applies the declaration's ``paper`` overrides (the published scale) under the
    explicit ones. Every problem with the declaration or the overrides raises before anything
    is written.
    ``resume`` continues the run (or joins it while another driver works on it): trials left
    running by a dead driver are run again; a live driver's are left alone. It refuses when the
    resolved settings differ from the run's ``run.json`` (``force`` resumes anyway, with the
    new settings recorded); ``retry_failed`` runs the point of each failed trial again.
    ``data_dir`` is the data folder of the task and of every stage (the data-path rule's first
    step; an explicit ``task.data_dir`` in ``overrides`` wins). ``evaluate`` replaces
    :func:`lstm_search.evaluate.evaluate_candidate` (called the same way, with each trial's
    resolved :class:`~lstm_search.evaluate.Candidate`; it must be picklable
    by reference for several workers).
    """
    if backend not in BACKENDS:
        raise ExperimentError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    if run is not None:  # a folder under out/<experiment>/: one plain name, never a path
        check_path_name(run, "--run")
    stream = stream or sys.stderr
    out = Path(out)
    explicit_storage = storage
    path = find_experiment(experiment)
    sets = _command_sets(path, overrides, trials=trials, workers=workers, seed=seed,
                         paper=paper, smoke=smoke)
    if data_dir is not None:
        sets = {**_data_dir_sets(path, data_dir), **sets}
    exp = load_experiment(path, smoke=smoke, overrides=sets)  # raises on any bad input
    if backend == "optuna" and exp.search.workers > 1:
        warm_up()  # the workers' fork server imports while the checks below run
    exp_dir = out / exp.name
    changed: list[str] = []
    if resume:
        run, sets, exp, changed, drift, recorded_storage = _resumed(
            path, exp_dir, run, sets, smoke=smoke, force=force)
        storage = storage or recorded_storage
        if drift:
            print(f"lstm-search: --force: {path} no longer declares the settings run {run} "
                  f"recorded ({'; '.join(drift)}); the run goes on with its recorded settings",
                  file=stream, flush=True)
    else:
        run = _new_run(exp_dir, run, smoke=smoke, paper=paper)
    run_dir = exp_dir / run
    # every problem with the backend or the storage is reported before anything is written
    _check_before_writing(exp, backend, explicit_storage=explicit_storage, storage=storage,
               resume=resume, retry_failed=retry_failed)
    data_dirs = _data_dirs(exp)  # a missing dataset is reported here, before the first trial
    if data_dirs:
        # workers (Ray trials run in their own folders) see the folder the rule gives here
        sets.update(data_dirs)
        exp = exp.with_overrides(data_dirs)
    storage = storage or default_storage_url(run_dir)
    _write_run_json(run_dir, exp, path=path, smoke=smoke, paper=paper, sets=sets,
                    backend=backend, storage=storage, address=address, resume=resume,
                    changed=changed, stream=stream)
    print(f"lstm-search: {exp.name} run {run}: {exp.search.trials} trials, backend {backend}, "
          f"{exp.search.workers} worker(s); results in {run_dir}", file=stream, flush=True)
    if resume:
        print(resume_line(run_dir, exp.search.trials, retry_failed=retry_failed,
                          forced=changed), file=stream, flush=True)
    _prebuild_native(exp, stream)
    try:
        with catch_interrupts():
            _search(exp, backend, path=path, smoke=smoke, sets=sets, run=run, run_dir=run_dir,
                    storage=storage, address=address, num_cpus=num_cpus, resume=resume,
                    retry_failed=retry_failed, evaluate=evaluate, stream=stream)
    except KeyboardInterrupt:
        command = resume_command(exp, experiment_path=str(path), run=run, run_dir=run_dir,
                                 backend=backend, address=address, num_cpus=num_cpus)
        print(f"lstm-search run: interrupted; the trials in progress left no row and run "
              f"again on resume:\n  {command}", file=stream, flush=True)
        raise
    summary = summarise(run_dir)
    print(f"lstm-search: {summary.done} trials recorded "
          f"({', '.join(f'{k} {v}' for k, v in sorted(summary.by_status.items()))}; "
          f"reused {summary.reused}). Results: {run_dir / 'trials.jsonl'}", file=stream,
          flush=True)
    problems = _print_record_check(run_dir, backend=backend, storage=storage,
                                   study_name=f"{exp.name}/{run}", stream=stream)
    return RunOutcome(run_dir=run_dir, experiment=exp, summary=summary,
                      problems=tuple(problems))


def _prebuild_native(exp: Experiment, stream: TextIO) -> None:
    """With ``model.backend=native`` and a fixed list of zoo cells, build every cell's native
    library before the first trial, as one library (torch's headers parsed once, not once per
    cell and worker): the workers then load them from the cache. Other spaces (random graphs,
    mutations) build each new cell in the trial that meets it."""
    cells = getattr(exp.space, "cells", None)
    if exp.model.backend != "native" or not cells:
        return
    from lstm_search import zoo
    from lstm_search.evaluate import prepare_native

    seconds = prepare_native([zoo.get(name) for name in cells], exp.model)
    if seconds:
        print(f"lstm-search: built the native kernels of {len(cells)} cell(s) in "
              f"{seconds:.0f} s (cached for later runs)", file=stream, flush=True)


def record_problems(run_dir: str | Path, *, backend: str = "optuna", storage: str | None = None,
                    study_name: str | None = None) -> list[str]:
    """:func:`lstm_search.results.check_run` on the table, plus (Optuna) where the study and
    the table disagree."""
    from lstm_search.results import check_run

    problems = check_run(run_dir)
    if backend == "optuna" and storage and study_name:
        from lstm_search.search._optuna import check_study

        try:
            problems += check_study(run_dir, storage, study_name)
        except Exception as e:  # a study that cannot be read is a problem, not a crash
            problems.append(f"study {study_name!r} in {storage} could not be read: "
                            f"{type(e).__name__}: {e}")
    return problems


__all__ = ["BACKENDS", "RunOutcome", "check_backend", "check_hparam_values", "check_storage",
           "check_tasks", "record_problems", "resume_command", "resume_line", "run_experiment",
           "settings_changes"]
