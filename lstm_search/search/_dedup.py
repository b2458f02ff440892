"""Equal cells are not trained twice: a recorded outcome is reused for the same cell and settings.

A result is identified by the canonical ``genome_id`` (the same cell written two ways has one id),
the hyperparameters, the seed and the task. Rows that were themselves reused are not indexed (they
point to the original), and failures are not reused (a crashed worker is no property of a cell).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from lstm_search.results import TRIALS_FILE, TrialResult, read_rows

REUSABLE = ("complete", "pruned", "invalid")


def result_key(genome_id: str, hparams: dict[str, Any], seed: int, task: str,
               task_options: dict[str, Any] | None = None) -> str:
    """The identity of an outcome: canonical cell, hyperparameters, seed, task and the task's
    options (the recall gap, the data sizes ...)."""
    return json.dumps([genome_id, hparams, int(seed), task, task_options or {}], sort_keys=True,
                      default=str)


def find_reusable(run_dir: str | Path, key: str) -> TrialResult | None:
    """The first reusable row of ``run_dir``'s table with identity ``key``, if any.

    The table is read afresh each time so that rows appended by other workers count.
    """
    path = Path(run_dir) / TRIALS_FILE
    if not path.exists():
        return None
    for r in read_rows(path):
        if r.get("reused_from") or r.get("status") not in REUSABLE:
            continue
        if result_key(r.get("genome_id", ""), r.get("hparams") or {}, r.get("seed", 0),
                      r.get("task", ""), r.get("task_options")) == key:
            return TrialResult.from_dict(r)
    return None


def reuse(original: TrialResult, *, trial: int, worker: str, search: str, now: str) -> TrialResult:
    """A row for trial ``trial`` carrying ``original``'s outcome; it costs no training time."""
    return dataclasses.replace(
        original, trial=trial, reused_from=f"{original.run}/{original.trial}", worker=worker,
        search=search, train_seconds=0.0, start_time=now, end_time=now)


__all__ = ["REUSABLE", "find_reusable", "result_key", "reuse"]
