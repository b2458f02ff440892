"""An evolutionary run's fitness against the GRU's final references.

Jozefowicz et al. (2015, sec. 3) score a candidate by the minimum, over the stages it reached,
of its result as a fraction of the GRU's best result on that stage's task. The search scores
each trial against the GRU's best *so far* and records that value as the trial's objective
(``fitness.min``); the reference only improves as the seed GRU is tuned on more settings and
re-evaluated, so early recorded values are against a weaker reference (a GRU scored against a
diverged first GRU trial records 2.37; the diverged one records 1.000 against itself). The
search ranks its population by fitness against the current references; the analysis does the
same with the final ones: :func:`rescore_evolution` sets each completed evolutionary trial's
``objective`` to its fitness against the GRU's best result on every stage over the whole run,
from the per-stage results the rows record (``stage.<task>``, ``maximize.<task>``), and keeps
the recorded value in ``fitness.recorded``.
"""

from __future__ import annotations

import math

import pandas as pd

from lstm_search.results import MAXIMIZE_PREFIX, STAGE_PREFIX, ratio_to_gru

REFERENCE_CELL = "gru"
RECORDED = "fitness.recorded"


def _stages(df: pd.DataFrame) -> list[str]:
    return sorted(c[len(STAGE_PREFIX):] for c in df.columns if c.startswith(STAGE_PREFIX))


def _maximize(df: pd.DataFrame, task: str) -> bool:
    flags = pd.to_numeric(df.get(MAXIMIZE_PREFIX + task), errors="coerce").dropna()
    return bool(flags.iloc[0]) if len(flags) else True


def final_references(run: pd.DataFrame) -> dict[str, float]:
    """The GRU's best result on each stage's task over the rows of one run (any status: a
    trial that stopped after a stage still recorded it)."""
    gru = run[run["cell"] == REFERENCE_CELL]
    refs: dict[str, float] = {}
    for task in _stages(run):
        values = pd.to_numeric(gru.get(STAGE_PREFIX + task), errors="coerce").dropna()
        values = values[values.map(math.isfinite)]
        if len(values):
            refs[task] = float(values.max() if _maximize(run, task) else values.min())
    return refs


def final_fitness(row: pd.Series, refs: dict[str, float], maximize: dict[str, bool]) -> float:
    """``row``'s fitness against ``refs``: the minimum ratio over the stages it reached (NaN
    when it reached none)."""
    ratios = []
    for task, up in maximize.items():
        value = row.get(STAGE_PREFIX + task)
        if value is None or pd.isna(value):
            continue
        ratios.append(ratio_to_gru(float(value), refs.get(task),
                                   "maximize" if up else "minimize"))
    return min(ratios) if ratios else float("nan")


def rescore_evolution(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every completed evolutionary trial's ``objective`` rescored against its
    run's final GRU references (the recorded value kept in ``fitness.recorded``); a table
    without evolutionary rows is returned as it is."""
    if "search" not in df.columns or not _stages(df):
        return df
    evo = df["search"].astype(str).eq("evolution")
    if not evo.any():
        return df
    out = df.copy()
    out[RECORDED] = out["objective"].where(evo)
    keys = [c for c in ("experiment", "run") if c in out.columns]
    for _, run in out[evo].groupby(keys, sort=False) if keys else [((), out[evo])]:
        refs = final_references(run)
        maximize = {t: _maximize(run, t) for t in _stages(run)}
        done = run[run["status"] == "complete"]
        out.loc[done.index, "objective"] = [final_fitness(r, refs, maximize)
                                            for _, r in done.iterrows()]
    return out


__all__ = ["final_fitness", "final_references", "rescore_evolution"]
