"""Quality against cost: Pareto fronts over trials, and the leaderboard of the best cells.

A trial is on the Pareto front when no other trial of the same task is at least as good on the
metric and at most as costly (``n_params`` or ``train_seconds``), and strictly better on one of
them. The leaderboard ranks cells by Greff's best-10% mean (see :mod:`.summary`) and names the
trial one would pick (best validation score) with its hyperparameters and genome id.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from lstm_search.analysis._table import (
    AnalysisError,
    Direction,
    completed,
    hparam_columns,
    require_columns,
    table_direction,
    task_groups,
)
from lstm_search.analysis.summary import summarize, task_metric

LEADERBOARD_COLUMNS = ["rank", "task", "cell", "genome_id", "metric", "top_mean", "best",
                       "median", "complete", "n_params", "best_run", "best_trial",
                       "best_valid", "best_test", "best_hparams"]


def pareto_mask(quality: np.ndarray, cost: np.ndarray, direction: Direction) -> np.ndarray:
    """Boolean mask of the points not dominated in (better quality, lower cost).

    Exact duplicates keep one representative. NaN points are never on the front.
    """
    q = np.asarray(quality, float)
    c = np.asarray(cost, float)
    if q.shape != c.shape:
        raise AnalysisError(f"pareto_mask: quality {q.shape} and cost {c.shape} differ in shape")
    loss = q if direction == "minimize" else -q  # lower is better from here on
    mask = np.zeros(q.shape, bool)
    ok = np.flatnonzero(np.isfinite(loss) & np.isfinite(c))
    order = ok[np.lexsort((loss[ok], c[ok]))]  # by cost, then by quality (best first)
    best = math.inf
    for i in order:  # sweep towards higher cost; a point is kept if it beats all cheaper ones
        if loss[i] < best:
            mask[i] = True
            best = loss[i]
    return mask


def pareto_front(df: pd.DataFrame, *, cost: str = "n_params", metric: str | None = None
                 ) -> pd.DataFrame:
    """The completed trials on the quality-versus-``cost`` front, per task, cheapest first.

    A task run at several settings has a front per setting (``task`` holds its label).
    Returns the rows of ``df`` on the front with ``metric`` (default per task: the test metric
    of the objective) and ``cost`` columns kept, plus ``front_metric`` naming the metric used.
    """
    require_columns(df, ["task", "cell", "status", cost], "pareto_front")
    parts = []
    for _, tdf in task_groups(df):
        name, direction = task_metric(tdf, metric)
        done = completed(completed(tdf, name), cost)
        if done.empty:
            continue
        mask = pareto_mask(pd.to_numeric(done[name]).to_numpy(float),
                           pd.to_numeric(done[cost]).to_numpy(float), direction)
        front = done[mask].assign(front_metric=name)
        parts.append(front.sort_values(cost, kind="stable"))
    if not parts:
        return df.iloc[0:0].assign(front_metric=pd.Series(dtype=str))
    return pd.concat(parts, ignore_index=True)


def leaderboard(df: pd.DataFrame, *, metric: str | None = None, top: int = 10,
                top_fraction: float = 0.1, min_top: int = 5) -> pd.DataFrame:
    """The ``top`` cells per task by the mean of their best 10% of trials.

    Each row names the cell's genome id and the trial with the best validation score
    (``best_run``, ``best_trial``, its ``best_valid`` objective, ``best_test`` metric and
    ``best_hparams`` as JSON), i.e. the configuration one would retrain.
    """
    require_columns(df, ["task", "cell", "status", "objective"], "leaderboard")
    summary = summarize(df, metric, top_fraction=top_fraction, min_top=min_top)
    rows: list[dict[str, object]] = []
    hps = hparam_columns(df)
    for task, tdf in task_groups(df):
        name, _ = task_metric(tdf, metric)
        objective_direction = table_direction(tdf)
        s = summary[(summary["task"] == task) & summary["top_mean"].notna()].head(top)
        for rank, rec in enumerate(s.itertuples(index=False), 1):
            done = completed(tdf[tdf["cell"] == rec.cell], "objective")
            obj = pd.to_numeric(done["objective"])
            pick = done.loc[obj.idxmin() if objective_direction == "minimize" else obj.idxmax()]
            hparams = {c[3:]: _hp_value(tdf[c], pick[c]) for c in hps if pd.notna(pick[c])}
            rows.append({
                "rank": rank, "task": task, "cell": rec.cell, "genome_id": rec.genome_id,
                "metric": name, "top_mean": rec.top_mean, "best": rec.best,
                "median": rec.median, "complete": rec.complete, "n_params": rec.n_params,
                "best_run": pick.get("run"), "best_trial": _plain(pick.get("trial")),
                "best_valid": float(pick["objective"]),
                "best_test": _plain(pick.get(name)),
                "best_hparams": json.dumps(hparams, sort_keys=True),
            })
    return pd.DataFrame(rows, columns=LEADERBOARD_COLUMNS)


def _plain(value: object) -> object:
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _hp_value(column: pd.Series, value: object) -> object:
    # a column of integers becomes float when some rows lack it (NaN); give ints back
    if isinstance(value, bool | np.bool_) or pd.api.types.is_bool_dtype(column.dropna()):
        return _plain(value)
    numbers = pd.to_numeric(column.dropna(), errors="coerce")
    if numbers.notna().all() and len(numbers) and (numbers == numbers.round()).all():
        return int(float(value))  # type: ignore[arg-type]
    return _plain(value)
