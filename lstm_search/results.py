"""The results table: one :class:`TrialResult` row per trial, the record of truth of a search.

Layout on disk (``results/<experiment>/<run>/``)::

    run.json        the resolved experiment configuration, seed, versions, git commit
    trials.jsonl    one JSON object per line, one line per finished trial (append-only)
    curves.jsonl    one JSON object per (trial, epoch): the per-epoch metrics of every trial

Rows are appended by :func:`append_jsonl`: under an exclusive ``flock`` on the file, one
``O_APPEND`` write then ``fsync``, so several worker processes may append to the same table. A
write that fails or comes up short is undone and raises :class:`TableWriteError`; a last line
left torn by a process killed mid-write is terminated before the next row is written, so it
never takes a whole row with it. Readers take a shared ``flock``, so a row being appended is
never seen half written; :func:`load_results` skips a torn line with a warning.

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
import math
import os
import platform
import socket
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


@dataclass(frozen=True)
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
    # the distribution each hyperparameter was drawn from, as its JSON
    # (``{"__dist__": "LogUniform", "low": 1e-4, "high": 1e-1}``): analysis reads the scale
    # from it instead of guessing
    distributions: dict[str, Any] = field(default_factory=dict)
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
    git_commit: str = ""  # the commit of the package's source tree ("" outside a checkout)
    git_dirty: bool | None = None  # tracked files differed from the commit (None: unknown)
    git_diff: str = ""  # short hash of ``git diff HEAD`` when dirty: tells dirty states apart
    torch_version: str = ""
    cpu_model: str = ""
    threads: int | None = None  # torch's intra-op threads during the trial
    gemm_path: str = ""  # "onednn-packed" or "F.linear" (lstm_search.compile._gemm)
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


def json_default(value: Any) -> Any:
    """The ``default`` of :func:`json.dumps` for rows and ``run.json``: numpy / torch scalars as
    numbers, paths as strings, and any object with a ``to_json()`` method (a search-space
    distribution, :mod:`lstm_search.spaces`) as what that method returns."""
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    if isinstance(value, Path):
        return str(value)
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
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


def json_ready(value: Any) -> Any:
    """``value`` as the table writes it: NaN and infinities as null, distributions and numpy
    scalars in their JSON form (what reading it back from a file gives)."""
    return json.loads(json.dumps(_clean(value), default=json_default))


def append_jsonl(path: str | os.PathLike[str], record: Mapping[str, Any]) -> None:
    """Append one JSON line whole, or raise :class:`TableWriteError` and leave the file as it was.

    Under an exclusive ``flock`` on the file: a last line left unterminated by a process killed
    mid-write (or by a short write that could not be undone) is terminated first, so the new row
    never lands on a torn one; then one ``O_APPEND`` write and ``fsync``. A short or failed
    write is undone (the file is truncated back to its length before the attempt). Ctrl-C and
    SIGTERM arriving meanwhile take effect once the row is whole.
    """
    line = json.dumps(_clean(dict(record)), default=json_default, sort_keys=True) + "\n"
    data = line.encode("utf-8")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with _signals_held():
        _append_bytes(path, data)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM held back while a row is written, and delivered after it: Ctrl-C or a
    stop request never tears a row (a fatal signal can cut a ``write`` short). SIGKILL cannot be
    held; the torn line it may leave is terminated by the next append.

    Python-level handlers record a signal that arrives (on whichever thread the kernel picks)
    and it is raised again once the row is whole, reaching the handler that was in place (the
    default action, Ctrl-C's KeyboardInterrupt, an ignore). Handlers can only be changed in the
    main thread; elsewhere the row is written as is.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    # a handler installed outside Python (getsignal None) could not be put back: left alone
    held = [s for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) is not None]
    before = {s: signal.signal(s, lambda signum, _frame: arrived.append(signum)) for s in held}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
        for signum in dict.fromkeys(arrived):
            signal.raise_signal(signum)


def _append_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    import fcntl  # POSIX; imported here so that analysis-only installs need no fcntl

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


def _objects(lines: Iterable[bytes]) -> tuple[list[tuple[int, dict[str, Any]]], list[int]]:
    """The JSON objects among ``lines`` with their line numbers, and the numbers of the lines
    that are not a JSON object (truncated, corrupt, bad UTF-8, an array ...)."""
    objects: list[tuple[int, dict[str, Any]]] = []
    damaged: list[int] = []
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            value = None  # ValueError: JSON errors and over-long integer literals
        if isinstance(value, dict):
            objects.append((lineno, value))
        else:
            damaged.append(lineno)
    return objects, damaged


def _jsonl_objects(path: str | os.PathLike[str]) -> tuple[list[tuple[int, dict[str, Any]]],
                                                          list[int]]:
    """:func:`_objects` of the lines of a JSON-lines file, read under a shared ``flock``
    (where the platform has one): a row another process is appending is never seen half
    written and taken for a damaged one."""
    with open(path, "rb") as f:
        _lock_shared(f)
        data = f.read()
    return _objects(data.split(b"\n"))


def _lock_shared(f: Any) -> None:
    """A shared ``flock`` on the open file ``f``, released when it is closed; nothing where
    the platform has no ``fcntl`` (an analysis-only install elsewhere than POSIX)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return
    fcntl.flock(f, fcntl.LOCK_SH)


def damaged_lines_message(path: str | os.PathLike[str], lines: list[int]) -> str:
    """``"<path>: skipped 3 damaged lines (4, 9, 12)"`` (at most 20 numbers listed)."""
    shown = ", ".join(map(str, lines[:20])) + (", ..." if len(lines) > 20 else "")
    return (f"{path}: skipped {len(lines)} damaged line{'s' if len(lines) != 1 else ''} "
            f"({shown})")


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSON-lines file. Lines that are not a JSON object (a truncated or
    corrupt line, bad UTF-8, another JSON value) are skipped with one warning for the file that
    counts them and names their line numbers."""
    objects, damaged = _jsonl_objects(path)
    if damaged:
        warnings.warn(damaged_lines_message(path, damaged), stacklevel=2)
    for _, obj in objects:
        yield obj


def read_rows(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The usable rows of a ``trials.jsonl``, as :func:`read_jsonl` gives them, without the
    damaged ones (a line that is not a JSON object; ``trial`` not an integer, an unknown
    ``status``, ``metrics`` not an object, ``objective`` not a number ...), which are skipped
    with one warning for the file that counts them and names their line numbers."""
    yield from _usable_rows(path, *_jsonl_objects(path))


def _usable_rows(path: str | os.PathLike[str], objects: list[tuple[int, dict[str, Any]]],
                 damaged: list[int]) -> list[dict[str, Any]]:
    rows = []
    damaged = list(damaged)
    for lineno, r in objects:
        objective = r.get("objective")
        if _row_damage(r) is not None or not (objective is None or (
                isinstance(objective, int | float) and not isinstance(objective, bool))):
            damaged.append(lineno)
        else:
            rows.append(r)
    if damaged:
        warnings.warn(damaged_lines_message(path, sorted(damaged)), stacklevel=3)
    return rows


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
        tmp.write_text(json.dumps(_clean(dict(info)), default=json_default, indent=2,
                                  sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.run_dir / RUN_FILE)

    def append(self, result: TrialResult) -> None:
        append_jsonl(self.trials_path, result.to_dict())

    def append_curve(self, run: str, trial: int, epoch: int, metrics: Mapping[str, float]) -> None:
        append_jsonl(self.curves_path, {"run": run, "trial": trial, "epoch": epoch, **metrics})

    def _records(self) -> list[dict[str, Any]]:
        """The table's usable rows (as :func:`read_rows` gives them), read under a shared lock,
        so that a row another process is appending is never seen half-written (and taken for
        a missing or a damaged one)."""
        try:
            return _usable_rows(self.trials_path, *_jsonl_objects(self.trials_path))
        except FileNotFoundError:
            return []

    def finished_trials(self) -> set[int]:
        """Trial numbers already recorded in this run's table (used on resume)."""
        return {r["trial"] for r in self._records()}

    def rows(self) -> list[TrialResult]:
        """The table's rows; damaged ones (see :func:`read_rows`) are left out."""
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


DIST_PREFIX = "dist."  # load_results: the JSON of the distribution of hyperparameter hp.<name>
DIST_KEY = "__dist__"  # in that JSON, the distribution's kind (lstm_search.spaces writes it)
_NESTED = ("hparams", "distributions", "task_options", "metrics")


def task_options(task: Any) -> dict[str, Any]:
    """The options of a :class:`lstm_search.config.TaskConfig` that are set, for the row:
    every field but ``name`` and ``data_dir`` (a machine's path) whose value is not None."""
    return {f.name: getattr(task, f.name) for f in dataclasses.fields(task)
            if f.name not in ("name", "data_dir") and getattr(task, f.name) is not None}


STAGE_PREFIX = "stage."  # an evolutionary trial's metric: its objective on a stage's task
MAXIMIZE_PREFIX = "maximize."  # ... and whether that objective is maximised (1) or not (0)


def ratio_to_gru(value: float | None, reference: float | None, direction: str) -> float:
    """How good ``value`` is as a fraction of the GRU's ``reference`` (1 = as good; 1 as well
    while there is no reference yet: the GRU itself is evaluated first; 0 for no value).

    The fitness of Jozefowicz et al. (2015, sec. 3) is the minimum of these ratios over the
    stages a candidate reached; rows record each stage's result (``stage.<task>``) and its
    ratio to the reference of the time (``fitness.<task>``, ``fitness.min``).
    """
    if reference is None:
        return 1.0
    if value is None or value != value:
        return 0.0
    if direction == "maximize":
        return value / reference if reference > 0 else 1.0
    return reference / value if value > 0 else 1.0


# a row is damaged (skipped) when one of these fields has another type
_ROW_TYPES: dict[str, tuple[type, ...]] = {
    "experiment": (str,), "run": (str,), "cell": (str,), "task": (str,), "genome_id": (str,),
    "objective_name": (str,), "hparams": (dict,), "task_options": (dict,), "metrics": (dict,),
    "distributions": (dict,),
}
# metrics whose values lie in [0, 1], and those that cannot be negative
_UNIT_METRICS = frozenset({"acc", "accuracy", "f1", "auc", "precision", "recall_score"})
_NONNEG_METRICS = frozenset({"nll", "loss", "bpc", "bpd", "bits", "mse", "nmse", "mae", "rmse",
                             "cer", "wer", "per", "error", "err"})
ABSURD = 1e100  # no metric of a trial is this large: a value beyond it is a damaged record
PROBLEMS_ATTR = "problems"  # DataFrame.attrs key: what load_results skipped or flagged


def _row_damage(r: Mapping[str, Any]) -> str | None:
    """Why the table row ``r`` cannot be used, or None."""
    trial = r.get("trial")
    if isinstance(trial, bool) or not isinstance(trial, int):
        return "trial is not an integer"
    for key in ("experiment", "run"):
        if key not in r:
            return f"no {key}"
    for key, types in _ROW_TYPES.items():
        if r.get(key) is not None and not isinstance(r[key], types):
            return f"{key} is not a {types[0].__name__}"
    if r.get("status", "complete") not in STATUSES:
        return "unknown status"
    if r.get("direction", "minimize") not in ("minimize", "maximize"):
        return "unknown direction"
    return None


def _metric_problem(name: str, value: Any) -> str | None:
    """"non-numeric" or "implausible" for a metric value that cannot be used, else None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "non-numeric"
    v = float(value)
    base = name.rsplit(".", 1)[-1].lower()
    if (not math.isfinite(v) or abs(v) >= ABSURD or (base in _UNIT_METRICS and not 0 <= v <= 1)
            or (base in _NONNEG_METRICS and v < 0) or (base in ("ppl", "perplexity") and v < 1)):
        return "implausible"
    return None


def _scalar(value: Any) -> Any:
    """Lists and dicts in flattened columns become their JSON text (hashable, comparable)."""
    return json.dumps(value, sort_keys=True, default=str) if isinstance(value, list | dict) \
        else value


def _flatten(r: dict[str, Any], flagged: dict[str, int]) -> dict[str, Any]:
    row = {k: _scalar(v) for k, v in r.items() if k not in _NESTED}
    for k, v in (r.get("hparams") or {}).items():
        row[f"hp.{k}"] = _scalar(v)
    for k, v in (r.get("distributions") or {}).items():
        row[f"{DIST_PREFIX}{k}"] = _scalar(v)
    for k, v in (r.get("task_options") or {}).items():
        row[f"task.{k}"] = _scalar(v)
    values = [(str(k), v) for k, v in (r.get("metrics") or {}).items()]
    values.append(("objective", r.get("objective")))
    objective_name = str(r.get("objective_name") or "objective")
    for k, v in values:
        problem = _metric_problem(objective_name if k == "objective" else k, v)
        if problem:
            flagged[problem] = flagged.get(problem, 0) + 1
            v = None
        row[k] = v
    return row


# training settings of run.json that do not change what a trial measures
_SETTING_SKIP = frozenset({"train.progress", "train.device", "train.threads", "model.backend"})
SETTING_PREFIX = "cfg."  # columns of the run settings that differ between the runs read


def _run_settings(trials_file: Path) -> dict[str, Any]:
    """The resolved model and training settings of the run whose table is
    ``trials_file``, from the ``run.json`` beside it (flattened, ``train.epochs`` ...)."""
    try:
        info = json.loads((trials_file.parent / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    exp = info.get("experiment") if isinstance(info, dict) else None
    out: dict[str, Any] = {}
    if isinstance(exp, dict):  # task options are in every row (task_options) already
        for section in ("model", "train"):
            values = exp.get(section)
            if isinstance(values, dict):
                for k, v in values.items():
                    key = f"{section}.{k}"
                    if key not in _SETTING_SKIP:
                        out[key] = _scalar(v)
    return out


def load_results(*paths: str | os.PathLike[str]) -> Any:
    """Read every ``trials.jsonl`` under the given folders (or files) into a pandas DataFrame.

    One row per trial. Columns: every :class:`TrialResult` field, with ``hparams`` flattened to
    ``hp.<name>``, ``distributions`` to ``dist.<name>`` (the JSON text of the distribution
    ``hp.<name>`` was drawn from), ``task_options`` to ``task.<option>`` (``task.gap`` ...) and
    ``metrics`` to ``<split>.<metric>`` (``valid.ppl``, ``test.nll`` ...).

    A damaged table never stops the analysis; every problem is warned about (one warning per
    file and kind, with counts and line numbers) and listed in ``df.attrs["problems"]``, which
    the report prints:

    - lines that are not a JSON object, and rows with wrong types (``trial`` not an integer,
      ``metrics`` not an object, an unknown ``status`` ...) are skipped;
    - a row recorded again for the same (experiment, run, trial) is ignored: the first row is
      the original (a run records each trial once; a later copy is a duplicate append);
    - metric values that are not numbers, not finite, or implausible (an accuracy outside
      [0, 1], a negative NLL, a magnitude beyond 1e100) are treated as missing;
    - runs whose ``run.json`` settings (model, training) differ get one ``cfg.<key>``
      column per setting that differs (``cfg.train.epochs``), so that analysis labels them
      apart instead of pooling them.
    """
    import pandas as pd

    if not paths:
        raise ValueError("load_results needs at least one path")
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    seen: dict[tuple[Any, Any, Any], str] = {}
    settings: dict[tuple[str, str], dict[str, Any]] = {}
    for file in _find(paths, TRIALS_FILE):
        objects, damaged = _jsonl_objects(file)
        flagged: dict[str, int] = {}
        duplicates: list[str] = []
        run_settings = _run_settings(file)
        for lineno, r in objects:
            if _row_damage(r) is not None:
                damaged.append(lineno)
                continue
            key = (r["experiment"], r["run"], r["trial"])
            if key in seen:
                duplicates.append(f"{key[0]}/{key[1]} trial {key[2]} (line {lineno}, first at "
                                  f"{seen[key]})")
                continue
            seen[key] = f"{file}:{lineno}"
            settings.setdefault((r["experiment"], r["run"]), run_settings)
            records.append(_flatten(r, flagged))
        found = []
        if damaged:
            found.append(damaged_lines_message(file, sorted(damaged)))
        if duplicates:
            found.append(f"{file}: ignored {len(duplicates)} duplicated (experiment, run, trial) "
                         f"row(s), the first row kept: " + "; ".join(duplicates[:10])
                         + ("; ..." if len(duplicates) > 10 else ""))
        for kind, n in sorted(flagged.items()):
            found.append(f"{file}: {n} {kind} metric value{'s' if n != 1 else ''} treated as "
                         f"missing")
        for text in found:
            warnings.warn(text, stacklevel=2)
        problems.extend(found)
    columns = [f.name for f in dataclasses.fields(TrialResult) if f.name not in _NESTED]
    df = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=columns)
    differing = _differing_settings(settings)
    if differing and records:
        for key in differing:
            df[SETTING_PREFIX + key] = [
                settings.get((r["experiment"], r["run"]), {}).get(key) for r in records]
    df = df.reset_index(drop=True)
    df.attrs[PROBLEMS_ATTR] = problems
    return df


def _differing_settings(settings: Mapping[tuple[str, str], Mapping[str, Any]]) -> list[str]:
    """The setting keys whose values differ between the runs of one experiment that recorded
    them (runs of different experiments differ in their task anyway)."""
    by_experiment: dict[str, list[Mapping[str, Any]]] = {}
    for (experiment, _), values in settings.items():
        if values:
            by_experiment.setdefault(experiment, []).append(values)
    keys: list[str] = []
    for runs in by_experiment.values():
        for key in sorted({k for values in runs for k in values}):
            if len({json.dumps(values.get(key), sort_keys=True, default=str)
                    for values in runs}) > 1 and key not in keys:
                keys.append(key)
    return keys


def load_curves(*paths: str | os.PathLike[str]) -> Any:
    """Read every ``curves.jsonl`` under the given folders into a long DataFrame
    (run, trial, epoch, one column per metric)."""
    import pandas as pd

    records: list[dict[str, Any]] = []
    problems: list[str] = []
    for file in _find(paths, CURVES_FILE):
        objects, damaged = _jsonl_objects(file)
        for lineno, r in objects:
            epoch, trial = r.get("epoch"), r.get("trial")
            if (isinstance(trial, int) and not isinstance(trial, bool)
                    and isinstance(epoch, int | float) and not isinstance(epoch, bool)
                    and isinstance(r.get("run"), str)):
                records.append({k: v for k, v in r.items() if not isinstance(v, list | dict)})
            else:
                damaged.append(lineno)
        if damaged:
            problems.append(damaged_lines_message(file, sorted(damaged)))
            warnings.warn(problems[-1], stacklevel=2)
    df = pd.DataFrame.from_records(records) if records else pd.DataFrame(
        columns=["run", "trial", "epoch"])
    df.attrs[PROBLEMS_ATTR] = problems
    return df


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
    objects, damaged = _jsonl_objects(path) if path.exists() else ([], [])
    rows = [r for _, r in objects if isinstance(r.get("trial"), int)]
    bad = len(damaged) + len(objects) - len(rows)
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


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
