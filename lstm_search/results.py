"""The results table: one :class:`TrialResult` row per trial, the record of truth of a search.

Layout on disk (``results/<experiment>/<run>/``)::

    run.json        the resolved experiment configuration, seed, versions, git commit
    trials.jsonl    one JSON object per line, one line per finished trial (append-only)
    curves.jsonl    one JSON object per (trial, epoch): the per-epoch metrics of every trial

Rows are appended by :func:`append_jsonl`: under an exclusive ``flock`` on the file, one
``O_APPEND`` write then ``fsync``, so several worker processes may append to the same table. A
write that fails or comes up short is undone and raises :class:`TableWriteError`; a last line
left torn by a process killed mid-write is terminated before the next row is written, so it
never takes a whole row with it. :func:`load_results` skips a torn line with a warning.

**The record's invariant.** Whatever happens to the processes (Ctrl-C, SIGKILL of the driver or
of a worker, a full disk, a second driver joining, ``--resume``):

- each trial number of a run has exactly one row;
- every trial the study counts as finished with a result (COMPLETE, PRUNED, or FAIL with a
  row) has its row; a trial whose row could not be written is never told done: it is finished
  as FAIL marked ``abandoned`` (no row, no place in the budget) and its point is run again;
- every grid point (or fixed setting) is evaluated exactly as often as an uninterrupted run
  evaluates it;
- the study and the table never disagree for long: where they can (a driver killed between
  appending a row and telling the study), ``--resume`` repairs the study from the table.

``--resume --retry-failed`` runs the point of a failed trial again as a new trial, whose row
says ``retry_of: <failed trial>``. The failed row stays (the table is append-only, and each
trial number keeps its one row) but is *superseded*: :func:`superseded` names such rows, and
budgets, grid checks and progress counts leave them out (:func:`load_results` keeps them; its
``retry_of`` column links each retry to the row it supersedes).

:func:`check_run` checks what the table alone can show (duplicated trial numbers, unreadable
lines, grid points missing or evaluated twice, trials missing from the budget);
``lstm_search.search`` adds the study's side (rows missing for finished trials, running trials
whose driver is dead). Optuna studies and Ray Tune folders are working memory of a search; this
table is what analysis reads, and it needs neither torch nor a model to do so.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import socket
import subprocess
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

SCHEMA_VERSION = 1
TRIALS_FILE = "trials.jsonl"
CURVES_FILE = "curves.jsonl"
RUN_FILE = "run.json"

Status = Literal["complete", "pruned", "failed", "invalid"]
STATUSES: tuple[str, ...] = ("complete", "pruned", "failed", "invalid")


@dataclass
class TrialResult:
    """One trial of one experiment: identity, outcome, cost and provenance.

    ``metrics`` maps ``"<split>.<metric>"`` (for example ``"valid.ppl"``, ``"test.nll"``,
    ``"valid.acc"``) to the value at the best epoch; ``objective`` is the validation value the
    search optimised (``objective_name`` says which metric, ``direction`` whether lower or higher
    is better).
    """

    # identity
    experiment: str
    run: str
    trial: int
    cell: str
    genome_id: str
    genome: str  # canonical genome JSON
    task: str
    seed: int
    hparams: dict[str, Any] = field(default_factory=dict)
    # the task's options that are set (recall ``gap``, ``seq_len``, sizes ...), never data_dir
    task_options: dict[str, Any] = field(default_factory=dict)
    # outcome
    status: Status = "complete"
    error: str | None = None
    objective: float | None = None
    objective_name: str = ""
    direction: Literal["minimize", "maximize"] = "minimize"
    metrics: dict[str, float] = field(default_factory=dict)
    best_epoch: int | None = None
    epochs: int = 0
    n_params: int | None = None
    hidden_size: int | None = None  # the model's hidden size (chosen by a parameter budget)
    # cost
    train_seconds: float = 0.0
    tokens_per_second: float | None = None
    backend: str = ""
    device: str = ""
    # search bookkeeping
    search: str = ""  # "optuna", "ray", "grid", "evolution", ...
    reused_from: str | None = None  # "<run>/<trial>" whose outcome was reused (same cell + hparams)
    retry_of: int | None = None  # the failed trial this one runs again (--retry-failed)
    worker: str = ""
    # provenance
    package_version: str = ""
    git_commit: str = ""
    torch_version: str = ""
    python_version: str = field(default_factory=platform.python_version)
    start_time: str = ""
    end_time: str = ""
    host: str = field(default_factory=socket.gethostname)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"TrialResult.status must be one of {STATUSES}, got {self.status!r}")
        if self.direction not in ("minimize", "maximize"):
            raise ValueError(f"TrialResult.direction must be 'minimize' or 'maximize', "
                             f"got {self.direction!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _json_default(value: Any) -> Any:
    # numpy / torch scalars
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "sample") and hasattr(value, "draw") and dataclasses.is_dataclass(value):
        from lstm_search.spaces._dist import dist_to_json  # a search-space distribution

        return dist_to_json(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _clean(value: Any) -> Any:
    """NaN and infinities are not JSON: store them as null (the error text says what happened)."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


class TableWriteError(OSError):
    """A row could not be written whole (disk full, a short write, an I/O error). The table is
    left as it was before the attempt; the trial must not be counted as done."""


def append_jsonl(path: str | os.PathLike[str], record: Mapping[str, Any]) -> None:
    """Append one JSON line whole, or raise :class:`TableWriteError` and leave the file as it was.

    Under an exclusive ``flock`` on the file: a last line left unterminated by a process killed
    mid-write (or by a short write that could not be undone) is terminated first, so the new row
    never lands on a torn one; then one ``O_APPEND`` write and ``fsync``. A short or failed
    write is undone (the file is truncated back to its length before the attempt).
    """
    import fcntl  # POSIX; imported here so that analysis-only installs need no fcntl

    line = json.dumps(_clean(dict(record)), default=_json_default, sort_keys=True) + "\n"
    data = line.encode("utf-8")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(os.fspath(path), os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a torn last line: it stays torn, but alone on its line
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise TableWriteError(f"short write to {path}: {written} of {len(data)} bytes")
            os.fsync(fd)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
                os.fsync(fd)
            if isinstance(e, TableWriteError):
                raise
            raise TableWriteError(f"could not append a row to {path}: {e}") from e
    finally:
        os.close(fd)  # releases the lock


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Read a JSON-lines file, skipping (with a warning) a truncated or corrupt line."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                warnings.warn(f"{path}:{lineno}: skipping a corrupt or truncated line",
                              stacklevel=2)


class ResultsWriter:
    """Appends rows and curves to ``<root>/<experiment>/<run>/``; safe across processes."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)

    @property
    def trials_path(self) -> Path:
        return self.run_dir / TRIALS_FILE

    @property
    def curves_path(self) -> Path:
        return self.run_dir / CURVES_FILE

    def write_run_info(self, info: Mapping[str, Any]) -> None:
        """Write run.json atomically (temp file + rename)."""
        tmp = self.run_dir / (RUN_FILE + f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(_clean(dict(info)), default=_json_default, indent=2,
                                  sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.run_dir / RUN_FILE)

    def append(self, result: TrialResult) -> None:
        append_jsonl(self.trials_path, result.to_dict())

    def append_curve(self, run: str, trial: int, epoch: int, metrics: Mapping[str, float]) -> None:
        append_jsonl(self.curves_path, {"run": run, "trial": trial, "epoch": epoch, **metrics})

    def _records(self) -> list[dict[str, Any]]:
        """The table's rows as written: read under a shared lock, so that a row another
        process is appending is never seen half-written (and taken for a missing one)."""
        import fcntl

        try:
            with open(self.trials_path, "rb") as f:
                fcntl.flock(f, fcntl.LOCK_SH)
                data = f.read()
        except FileNotFoundError:
            return []
        out = []
        for lineno, line in enumerate(data.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:  # a torn line (a process killed mid-write), or bad UTF-8
                warnings.warn(f"{self.trials_path}:{lineno}: skipping a corrupt or truncated "
                              f"line", stacklevel=3)
                continue
            if isinstance(row, dict):
                out.append(row)
        return out

    def finished_trials(self) -> set[int]:
        """Trial numbers already recorded in this run's table (used on resume)."""
        return {int(r["trial"]) for r in self._records() if "trial" in r}

    def rows(self) -> list[TrialResult]:
        return [TrialResult.from_dict(r) for r in self._records()]


def _find(paths: Iterable[str | os.PathLike[str]], name: str) -> list[Path]:
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_file():
            found.append(p if p.name == name else p.parent / name)
        elif p.is_dir():
            found.extend(sorted(p.rglob(name)))
        else:
            raise FileNotFoundError(f"results path does not exist: {p}")
    return [f for f in found if f.exists()]


_NESTED = ("hparams", "task_options", "metrics")


def task_options(task: Any) -> dict[str, Any]:
    """The options of a :class:`lstm_search.config.TaskConfig` that are set, for the row:
    every field but ``name`` and ``data_dir`` (a machine's path) whose value is not None."""
    return {f.name: getattr(task, f.name) for f in dataclasses.fields(task)
            if f.name not in ("name", "data_dir") and getattr(task, f.name) is not None}


def load_results(*paths: str | os.PathLike[str]) -> Any:
    """Read every ``trials.jsonl`` under the given folders (or files) into a pandas DataFrame.

    One row per trial. Columns: every :class:`TrialResult` field, with ``hparams`` flattened to
    ``hp.<name>``, ``task_options`` to ``task.<option>`` (``task.gap`` ...) and ``metrics`` to
    ``<split>.<metric>`` (``valid.ppl``, ``test.nll`` ...).
    Rows recorded twice for the same (experiment, run, trial) keep the last one.
    """
    import pandas as pd

    if not paths:
        raise ValueError("load_results needs at least one path")
    records: list[dict[str, Any]] = []
    for file in _find(paths, TRIALS_FILE):
        for r in read_jsonl(file):
            row = {k: v for k, v in r.items() if k not in _NESTED}
            for k, v in (r.get("hparams") or {}).items():
                row[f"hp.{k}"] = v
            for k, v in (r.get("task_options") or {}).items():
                row[f"task.{k}"] = v
            for k, v in (r.get("metrics") or {}).items():
                row[k] = v
            records.append(row)
    columns = [f.name for f in dataclasses.fields(TrialResult) if f.name not in _NESTED]
    if not records:
        return pd.DataFrame(columns=columns)
    df = pd.DataFrame.from_records(records)
    df = df.drop_duplicates(subset=["experiment", "run", "trial"], keep="last")
    return df.reset_index(drop=True)


def load_curves(*paths: str | os.PathLike[str]) -> Any:
    """Read every ``curves.jsonl`` under the given folders into a long DataFrame
    (run, trial, epoch, one column per metric)."""
    import pandas as pd

    records = [r for file in _find(paths, CURVES_FILE) for r in read_jsonl(file)]
    return pd.DataFrame.from_records(records) if records else pd.DataFrame(
        columns=["run", "trial", "epoch"])


def superseded(rows: Iterable[Mapping[str, Any]]) -> set[int]:
    """Trial numbers whose row is superseded by a retry (another row's ``retry_of``)."""
    return {int(r["retry_of"]) for r in rows if isinstance(r.get("retry_of"), int)}


def _point(row: Mapping[str, Any]) -> str:
    """A row's point of the search: cell, canonical genome, hyperparameters, seed, task options."""
    return json.dumps([row.get("cell"), row.get("genome_id"), row.get("hparams") or {},
                       row.get("seed"), row.get("task"), row.get("task_options") or {}],
                      sort_keys=True, default=str)


def _describe_point(row: Mapping[str, Any]) -> str:
    hp = json.dumps(row.get("hparams") or {}, sort_keys=True, default=str)
    opts = row.get("task_options") or {}
    return (f"cell {row.get('cell')!r}, hparams {hp}, seed {row.get('seed')}"
            + (f", task {json.dumps(opts, sort_keys=True, default=str)}" if opts else ""))


def check_run(run_dir: str | os.PathLike[str]) -> list[str]:
    """Problems with the record of one run that its table shows, one sentence each ([] = none).

    Checked: unreadable lines; trial numbers with more than one row; rows short of the run's
    budget (``search.trials`` in ``run.json``); for a grid search, a point evaluated more than
    once (which leaves another never run) or points fewer than the budget. Superseded rows
    (see the module's docstring) count for neither budget nor points.
    """
    run_dir = Path(run_dir)
    problems: list[str] = []
    path = run_dir / TRIALS_FILE
    rows: list[dict[str, Any]] = []
    bad = 0
    if path.exists():
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    bad += 1
                    continue
                if isinstance(row, dict) and isinstance(row.get("trial"), int):
                    rows.append(row)
                else:
                    bad += 1
    if bad:
        problems.append(f"{path}: {bad} unreadable line(s)")
    by_trial: dict[int, int] = {}
    for r in rows:
        by_trial[r["trial"]] = by_trial.get(r["trial"], 0) + 1
    for t, n in sorted(by_trial.items()):
        if n > 1:
            problems.append(f"trial {t} has {n} rows")
    retried = superseded(rows)
    for t in sorted(retried - set(by_trial)):
        problems.append(f"a row retries trial {t}, which has no row")
    rows = [r for r in rows if r["trial"] not in retried]
    by_trial = {t: n for t, n in by_trial.items() if t not in retried}
    info: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        info = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    search = ((info.get("experiment") or {}).get("search") or {}) if isinstance(info, dict) \
        else {}
    budget = search.get("trials")
    if isinstance(budget, int) and len(by_trial) < budget:
        problems.append(f"{budget - len(by_trial)} of {budget} trials have no row yet "
                        f"(--resume completes the run)")
    if search.get("sampler") == "grid":
        counts: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            counts.setdefault(_point(r), []).append(r)
        for same in counts.values():
            if len(same) > 1:
                problems.append(f"grid point ({_describe_point(same[0])}) evaluated "
                                f"{len(same)} times (trials "
                                f"{', '.join(str(r['trial']) for r in same)})")
        if isinstance(budget, int) and len(by_trial) >= budget and len(counts) < budget:
            problems.append(f"grid: {budget - len(counts)} of {budget} points never evaluated")
    return problems


def git_commit(cwd: str | os.PathLike[str] | None = None) -> str:
    """The current git commit (with ``-dirty`` if the tree has changes), or "" outside git."""
    where = Path(cwd) if cwd else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=where, capture_output=True, text=True, timeout=10).stdout
        return sha + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def provenance() -> dict[str, str]:
    """Versions and commit recorded with every run and every row."""
    from lstm_search import __version__

    info = {
        "package_version": __version__,
        "git_commit": git_commit(),
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    torch = sys.modules.get("torch")
    if torch is None:
        try:
            import torch
        except ImportError:  # analysis-only installs
            torch = None
    info["torch_version"] = getattr(torch, "__version__", "") if torch else ""
    # the search libraries, from their installed metadata: importing Ray takes seconds
    info["optuna_version"] = _installed_version("optuna")
    info["ray_version"] = _installed_version("ray")
    return info


def _installed_version(dist: str) -> str:
    """The installed version of distribution ``dist`` ("" when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return ""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
