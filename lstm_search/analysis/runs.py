"""Where am I: the runs under a results folder and, per run, each cell's trials and its best
and median validation objective. Read from the tables alone (``run.json``, ``trials.jsonl``),
with the standard library: ``lstm-search runs`` and the end of ``lstm-search run`` print these.

The objective of a row is the validation metric the search optimised (``objective_name``, e.g.
``valid.acc``): selection on validation, as the report does; test metrics stay in the report.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lstm_search.results import RUN_FILE, STATUSES, TRIALS_FILE, read_rows, superseded

__all__ = ["CellLine", "RunInfo", "cell_lines", "find_runs", "format_cells", "format_runs",
           "run_info"]


@dataclass(frozen=True)
class RunInfo:
    """One run folder: experiment, run name, start time, trials by status, best objective."""

    path: Path
    experiment: str
    run: str
    started: str
    by_status: dict[str, int] = field(default_factory=dict)
    best: float | None = None
    best_cell: str = ""
    objective_name: str = ""

    @property
    def trials(self) -> int:
        return sum(self.by_status.values())


@dataclass(frozen=True)
class CellLine:
    """One cell of a run: trials (and how many completed), best and median objective."""

    cell: str
    trials: int
    complete: int
    best: float | None
    median: float | None


def _rows(run_dir: Path) -> list[dict[str, Any]]:
    """The run's rows, one per trial (the last), without rows superseded by a retry."""
    path = run_dir / TRIALS_FILE
    rows: dict[int, dict[str, Any]] = {}
    if path.is_file():
        for r in read_rows(path):
            rows[int(r["trial"])] = r
    for t in superseded(rows.values()):
        rows.pop(t, None)
    return [rows[t] for t in sorted(rows)]


def _objectives(rows: Iterable[Mapping[str, Any]]) -> list[float]:
    return [float(r["objective"]) for r in rows
            if r.get("status") == "complete" and isinstance(r.get("objective"), int | float)]


def _maximize(rows: Sequence[Mapping[str, Any]]) -> bool:
    return any(r.get("direction") == "maximize" for r in rows)


def _best(values: list[float], maximize: bool) -> float | None:
    return (max(values) if maximize else min(values)) if values else None


def run_info(run_dir: str | os.PathLike[str]) -> RunInfo:
    """What :class:`RunInfo` says about the run in ``run_dir`` (a folder with ``run.json``)."""
    folder = Path(run_dir)
    try:
        meta = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    meta = meta if isinstance(meta, dict) else {}
    exp = meta.get("experiment")
    rows = _rows(folder)
    by_status = {s: n for s in STATUSES if (n := sum(r.get("status") == s for r in rows))}
    maximize = _maximize(rows)
    done = [r for r in rows if r.get("status") == "complete"
            and isinstance(r.get("objective"), int | float)]
    top = sorted(done, key=lambda r: float(r["objective"]), reverse=maximize)[:1]
    return RunInfo(
        path=folder,
        experiment=str(exp.get("name", "?")) if isinstance(exp, dict) else folder.parent.name,
        run=str(meta.get("run", folder.name)), started=str(meta.get("started", "")),
        by_status=by_status, best=float(top[0]["objective"]) if top else None,
        best_cell=str(top[0].get("cell", "")) if top else "",
        objective_name=str(rows[0].get("objective_name", "")) if rows else "")


def find_runs(root: str | os.PathLike[str] = "results") -> list[RunInfo]:
    """Every run under ``root`` (``root`` itself when it is a run): each folder holding a
    ``run.json`` or a ``trials.jsonl``, oldest first."""
    base = Path(root)
    if (base / RUN_FILE).is_file() or (base / TRIALS_FILE).is_file():
        folders = {base}
    else:
        folders = {p.parent for name in (RUN_FILE, TRIALS_FILE) for p in base.rglob(name)}
    return sorted((run_info(f) for f in folders), key=lambda i: (i.started, str(i.path)))


def cell_lines(run_dir: str | os.PathLike[str]) -> list[CellLine]:
    """Per cell of the run, best objective first: trials, completed, best and median."""
    rows = _rows(Path(run_dir))
    maximize = _maximize(rows)
    cells: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        cells.setdefault(str(r.get("cell", "?")), []).append(r)
    lines = []
    for cell, group in cells.items():
        values = _objectives(group)
        lines.append(CellLine(cell=cell, trials=len(group),
                              complete=sum(r.get("status") == "complete" for r in group),
                              best=_best(values, maximize),
                              median=statistics.median(values) if values else None))
    sign = -1.0 if maximize else 1.0
    return sorted(lines, key=lambda c: (c.best is None, sign * (c.best or 0.0), c.cell))


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    out = []
    for row in [header, *rows]:
        out.append("  ".join(str(x).rjust(w) if i in right else str(x).ljust(w)
                             for i, (x, w) in enumerate(zip(row, widths))).rstrip())
    return "\n".join(out)


def format_cells(lines: Sequence[CellLine], objective_name: str = "") -> str:
    """The per-cell table ``run`` prints at its end."""
    name = objective_name or "objective"
    rows = [(c.cell, f"{c.trials}", f"{c.complete}", _fmt(c.best), _fmt(c.median))
            for c in lines]
    return _table(("cell", "trials", "complete", f"best {name}", f"median {name}"), rows,
                  right={1, 2, 3, 4})


def format_runs(runs: Sequence[RunInfo]) -> str:
    """The table ``lstm-search runs`` prints."""
    rows = []
    for r in runs:
        status = ", ".join(f"{s} {n}" for s, n in r.by_status.items()) or "no trials"
        best = f"{_fmt(r.best)} {r.objective_name} ({r.best_cell})" if r.best is not None else "-"
        rows.append((r.experiment, r.run, r.started.replace("+00:00", "Z"), status, best,
                     str(r.path)))
    return _table(("experiment", "run", "started", "trials", "best (validation)", "path"), rows,
                  right=set())
