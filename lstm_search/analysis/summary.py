"""Per-cell summary of a results table: counts by status, best, median and best-10% mean.

The best-10% mean follows Greff et al. (2015, "LSTM: A Search Space Odyssey", sec. 5): rank a
cell's completed trials by validation score, keep the best 10%, and average their test metric.
It measures how good a cell is when its hyperparameters are tuned, while the median over all
trials measures how forgiving it is of bad hyperparameters.
"""

from __future__ import annotations

import pandas as pd

from lstm_search.analysis._table import (
    STATUSES_ORDER,
    AnalysisError,
    Direction,
    best_trials,
    completed,
    default_metric,
    group_keys,
    metric_direction,
    require_columns,
    task_groups,
    values,
)

SUMMARY_COLUMNS = ["task", "cell", "genome_id", "metric", "direction", "trials", "complete",
                   "pruned", "failed", "invalid", "best", "median", "top_mean", "top_n",
                   "n_params", "seconds_median"]


def task_metric(df: pd.DataFrame, metric: str | None) -> tuple[str, Direction]:
    """The metric to analyse for the rows of one task and whether lower or higher is better."""
    chosen = metric or default_metric(df)
    if chosen not in df.columns:
        raise AnalysisError(f"metric {chosen!r} is not a column of the results table")
    return chosen, metric_direction(df, chosen)


def summarize(df: pd.DataFrame, metric: str | None = None, *, top_fraction: float = 0.1,
              min_top: int = 5) -> pd.DataFrame:
    """One row per (task, cell): trial counts by status and the quality of the cell.

    Args:
        df: the table of :func:`lstm_search.results.load_results`.
        metric: the column to summarise; default: per task, the test metric matching
            ``objective_name`` (objective "nll" gives ``test.nll``).
        top_fraction: the share of trials, best by validation score, averaged in ``top_mean``.
        min_top: ``top_mean`` averages at least this many trials (fewer if the cell has fewer).

    Tasks are split by setting (``"recall gap=50"``, see
    :func:`~lstm_search.analysis._table.task_labels`): the ``task`` column holds that label.

    Returns:
        Columns ``task, cell, genome_id, metric, direction, trials, complete, pruned, failed,
        invalid, best, median, top_mean, top_n, n_params, seconds_median``; ``best``/``median``
        over completed trials, ``n_params`` and ``seconds_median`` are medians per trial
        (``seconds_median`` over the trials that recorded a training time). Rows are
        ordered per task from the best ``top_mean`` to the worst.
    """
    require_columns(df, ["task", "cell", "status"], "summarize")
    if metric is not None and metric not in df.columns:
        raise AnalysisError(f"summarize: metric {metric!r} is not a column of the results "
                            f"table")
    rows: list[dict[str, object]] = []
    for task, tdf in task_groups(df):
        name, direction = task_metric(tdf, metric)
        task_rows: list[dict[str, object]] = []
        for cell in group_keys(tdf, "cell"):
            cdf = tdf[tdf["cell"] == cell]
            done = completed(cdf, name)
            v = values(done, name)
            top = best_trials(done, fraction=top_fraction, min_n=min_top)
            counts = cdf["status"].value_counts()
            row: dict[str, object] = {
                "task": task, "cell": cell,
                "genome_id": _first(cdf, "genome_id"),
                "metric": name, "direction": direction, "trials": len(cdf),
                **{s: int(counts.get(s, 0)) for s in STATUSES_ORDER},
                "best": (v.min() if direction == "minimize" else v.max()) if v.size else None,
                "median": float(pd.Series(v).median()) if v.size else None,
                "top_mean": float(values(top, name).mean()) if len(top) else None,
                "top_n": len(top),
                "n_params": _median(done if len(done) else cdf, "n_params"),
                "seconds_median": _median(cdf, "train_seconds", positive=True),
            }
            task_rows.append(row)
        task_rows.sort(key=lambda r: _rank_key(r["top_mean"], direction))
        rows.extend(task_rows)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _rank_key(value: object, direction: Direction) -> tuple[int, float]:
    if value is None or value != value:  # missing values last
        return (1, 0.0)
    v = float(value)  # type: ignore[arg-type]
    return (0, v if direction == "minimize" else -v)


def _first(df: pd.DataFrame, column: str) -> object:
    if column not in df.columns:
        return None
    v = df[column].dropna()
    return v.iloc[0] if len(v) else None


def _median(df: pd.DataFrame, column: str, *, positive: bool = False) -> float | None:
    if column not in df.columns:
        return None
    v = values(df, column)
    if positive:  # a time of 0 means "not recorded" (a trial that never trained)
        v = v[v > 0]
    return float(pd.Series(v).median()) if v.size else None
