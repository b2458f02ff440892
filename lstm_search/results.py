"""The results table: one :class:`TrialResult` row per trial, the record of truth of a search.

Layout on disk (``results/<experiment>/<run>/``)::

    run.json        the resolved experiment configuration, seed, versions, git commit
    trials.jsonl    one JSON object per line, one line per finished trial (append-only)
    curves.jsonl    one JSON object per (trial, epoch): the per-epoch metrics of every trial

Rows are appended with a single ``write`` on a file opened with ``O_APPEND`` followed by
``fsync``, so several worker processes may append to the same table and a process killed
mid-write leaves at most one truncated last line, which :func:`load_results` skips with a
warning. Optuna studies and Ray Tune folders are working memory of a search; this table is what
analysis reads, and it needs neither torch nor a model to do so.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
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


def append_jsonl(path: str | os.PathLike[str], record: Mapping[str, Any]) -> None:
    """Append one JSON line atomically (single O_APPEND write, then fsync)."""
    line = json.dumps(_clean(dict(record)), default=_json_default, sort_keys=True) + "\n"
    data = line.encode("utf-8")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(os.fspath(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, data)
        if written != len(data):  # pragma: no cover - local file systems write whole lines
            raise OSError(f"short write to {path}: {written} of {len(data)} bytes")
        os.fsync(fd)
    finally:
        os.close(fd)


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

    def finished_trials(self) -> set[int]:
        """Trial numbers already recorded in this run's table (used on resume)."""
        if not self.trials_path.exists():
            return set()
        return {int(r["trial"]) for r in read_jsonl(self.trials_path) if "trial" in r}

    def rows(self) -> list[TrialResult]:
        if not self.trials_path.exists():
            return []
        return [TrialResult.from_dict(r) for r in read_jsonl(self.trials_path)]


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


@dataclass(frozen=True)
class GitState:
    """The git state of a source tree: commit, whether tracked files changed, and a short hash
    of ``git diff HEAD`` when they did (two dirty states of one commit differ in it)."""

    commit: str = ""
    dirty: bool | None = None
    diff: str = ""


def git_state(where: str | os.PathLike[str]) -> GitState:
    """The :class:`GitState` of the checkout whose tracked files include ``where`` (a file or
    folder); empty when ``where`` is not tracked by git (an installed copy of the package, even
    one inside a checkout's ignored virtualenv, has no commit)."""
    where = Path(where).resolve()
    folder = where if where.is_dir() else where.parent

    def git(*args: str) -> bytes:
        return subprocess.run(["git", *args], cwd=folder, capture_output=True, timeout=30,
                              check=True).stdout

    try:
        git("ls-files", "--error-unmatch", "--", str(where))
        sha = git("rev-parse", "HEAD").decode("ascii", "replace").strip()
        diff = git("diff", "HEAD", "--no-ext-diff", "--no-color", "--binary")
    except (OSError, subprocess.SubprocessError):
        return GitState()
    dirty = bool(diff)
    return GitState(commit=sha, dirty=dirty,
                    diff=hashlib.sha256(diff).hexdigest()[:12] if dirty else "")


@functools.lru_cache(maxsize=1)
def source_state() -> GitState:
    """The :class:`GitState` of this package's source (computed once per process: the code a
    process runs is the code it imported, whatever lands in the checkout later)."""
    return git_state(Path(__file__).resolve())


def git_commit(cwd: str | os.PathLike[str] | None = None) -> str:
    """The commit of ``cwd``'s checkout (default: this package's source), "" outside git."""
    return (git_state(cwd) if cwd else source_state()).commit


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, else :func:`platform.processor`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def gemm_path() -> str:
    """The matrix-product path compiled cells take on CPU float32 in this process:
    ``"onednn-packed"`` or ``"F.linear"`` (``LSTM_SEARCH_ONEDNN``; lstm_search.compile._gemm).
    """
    from lstm_search.compile._gemm import onednn_available

    return "onednn-packed" if onednn_available() else "F.linear"


def trial_provenance(threads: int | None = None) -> dict[str, Any]:
    """The provenance fields of a :class:`TrialResult` made in this process: versions, the
    source's commit and dirty state, CPU model, torch's thread count during the trial
    (``threads``, the trainer's setting, else torch's current count) and the GEMM path."""
    import torch

    git = source_state()
    return {"package_version": _package_version(), "git_commit": git.commit,
            "git_dirty": git.dirty, "git_diff": git.diff, "torch_version": torch.__version__,
            "cpu_model": cpu_model(), "threads": int(threads or torch.get_num_threads()),
            "gemm_path": gemm_path()}


def provenance_warnings(previous: Mapping[str, Any]) -> list[str]:
    """One-line warnings about the code a run executes: a dirty source tree, and a commit that
    differs from ``previous`` (the provenance recorded in an earlier ``run.json`` of the same
    run: a resumed run should execute the code its first trials ran)."""
    git = source_state()
    out = []
    if git.dirty:
        out.append(f"warning: the source tree has uncommitted changes (commit {git.commit[:12]}"
                   f", diff {git.diff}): rows record them, but the commit alone does not pin "
                   f"the code")
    before = str(previous.get("git_commit") or "")
    if before and git.commit and before.removesuffix("-dirty") != git.commit:
        out.append(f"warning: this run was started at commit {before[:12]}, it now runs "
                   f"{git.commit[:12]}: its rows record different code")
    return out


def _package_version() -> str:
    from lstm_search import __version__

    return __version__


def provenance() -> dict[str, Any]:
    """Versions and commit recorded with every run and every row."""
    from lstm_search import __version__

    git = source_state()
    info: dict[str, Any] = {
        "package_version": __version__,
        "git_commit": git.commit,
        "git_dirty": git.dirty,
        "git_diff": git.diff,
        "cpu_model": cpu_model(),
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
