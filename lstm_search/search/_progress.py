"""Progress of a search read from its results table: done / total, best so far, ETA, reuse.

The table is the record every backend writes, so one monitor serves Optuna workers, Ray Tune
trials and the in-process loop alike: a thread re-reads ``trials.jsonl`` when it grows.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from lstm_search.results import TRIALS_FILE, read_rows, superseded


@dataclass
class Summary:
    """Counts over the rows of one run."""

    done: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    reused: int = 0
    best: float | None = None
    best_cell: str = ""
    best_trial: int | None = None
    objective_name: str = ""
    direction: str = "minimize"
    trial_numbers: set[int] = field(default_factory=set)


def summarise(run_dir: str | Path) -> Summary:
    """Counts, reuse and the best objective over the run's table (last row per trial wins)."""
    path = Path(run_dir) / TRIALS_FILE
    rows: dict[int, dict[str, Any]] = {}
    if path.exists():
        for r in read_rows(path):
            if "trial" in r:
                rows[int(r["trial"])] = r
    for t in superseded(rows.values()):  # a failed trial run again: its retry's row counts
        rows.pop(t, None)
    s = Summary(done=len(rows), trial_numbers=set(rows))
    for r in rows.values():
        st = r.get("status", "?")
        s.by_status[st] = s.by_status.get(st, 0) + 1
        if r.get("reused_from"):
            s.reused += 1
        obj = r.get("objective")
        if st == "complete" and obj is not None:
            better = (s.best is None or (obj > s.best if r.get("direction") == "maximize"
                                         else obj < s.best))
            if better:
                s.best, s.best_cell, s.best_trial = obj, r.get("cell", ""), int(r["trial"])
                s.objective_name = r.get("objective_name", "")
                s.direction = r.get("direction", "minimize")
    return s


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def progress_line(s: Summary, total: int, elapsed: float, done_at_start: int = 0) -> str:
    """``[ 7/20] best valid.nll 1.234 (gru, trial 5) | failed 1 | reused 2 | ETA 0:03:10``."""
    new = s.done - done_at_start
    eta = elapsed / new * max(0, total - s.done) if new > 0 else None
    best = (f"best {s.objective_name or 'objective'} {s.best:.4g} ({s.best_cell}, trial "
            f"{s.best_trial})" if s.best is not None else "best -")
    bad = ", ".join(f"{k} {v}" for k, v in sorted(s.by_status.items()) if k != "complete")
    width = len(str(total))
    parts = [f"[{s.done:>{width}}/{total}] {best}"]
    if bad:
        parts.append(bad)
    parts.append(f"reused {s.reused}")
    parts.append(f"ETA {_fmt_eta(eta)}")
    return " | ".join(parts)


class ProgressMonitor:
    """Prints a progress line whenever the run's table grows (a daemon thread)."""

    def __init__(self, run_dir: str | Path, total: int, *, stream: TextIO | None = None,
                 interval: float = 1.0) -> None:
        self.run_dir = Path(run_dir)
        self.total = total
        self.stream = stream or sys.stderr
        self.interval = interval
        self._stop = threading.Event()
        self._start = time.monotonic()
        self._done_at_start = summarise(self.run_dir).done
        self._last = -1
        self._thread = threading.Thread(target=self._loop, name="lstm-search-progress",
                                        daemon=True)

    def __enter__(self) -> ProgressMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.poll()

    def poll(self) -> Summary:
        s = summarise(self.run_dir)
        if s.done != self._last:
            self._last = s.done
            line = progress_line(s, self.total, time.monotonic() - self._start,
                                 self._done_at_start)
            print(line, file=self.stream, flush=True)
        return s

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:  # pragma: no cover - a half-written file: try again next tick
                continue


__all__ = ["ProgressMonitor", "Summary", "progress_line", "summarise"]
