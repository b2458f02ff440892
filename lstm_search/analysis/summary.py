"""Per-cell summary of a results table: counts by status, best, median and best-10% mean.

Selection never looks at the test metric: a cell's "best" trial is the one best on the
validation objective, and ``best`` is that trial's test value (``best_trial`` names it).

The best-10% mean follows Greff et al. (2015, "LSTM: A Search Space Odyssey", sec. 5): rank a
cell's completed trials by validation score, keep the best 10%, and average their test metric.
It measures how good a cell is when its hyperparameters are tuned, while the median over all
trials measures how forgiving it is of bad hyperparameters. With 200 trials per cell the paper's
10% is 20 trials; with 5 it would be all of them, a mean over every trial that calls itself a
selection. ``top_applies`` says whether the selection keeps at least ``GREFF_MIN_SELECTED`` of
at least ``GREFF_MIN_TRIALS`` completed trials; the report reads ``top_mean`` only where it does.
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
                   "pruned", "failed", "invalid", "best", "best_valid", "best_trial", "median",
                   "top_mean", "top_n", "top_applies", "n_params", "seconds_median"]
GREFF_MIN_TRIALS = 20  # Greff's best-10% criterion needs at least this many trials ...
GREFF_MIN_SELECTED = 3  # ... and must keep at least this many


def greff_applies(n_trials: int, n_selected: int) -> bool:
    """Whether "the best 10%" of ``n_trials`` completed trials (``n_selected`` kept) is a
    selection in Greff et al.'s sense: at least 3 kept out of at least 20."""
    return n_trials >= GREFF_MIN_TRIALS and n_selected >= GREFF_MIN_SELECTED


def best_by_validation(done: pd.DataFrame, by: str = "objective") -> pd.Series | None:
    """The completed row best on the validation objective (the table's search direction),
    or None when no row has a finite ``by``."""
    rows = completed(done, by) if by in done.columns else done.iloc[0:0]
    if rows.empty:
        return None
    scores = pd.to_numeric(rows[by])
    sense = metric_direction(rows, by)
    return rows.loc[scores.idxmin() if sense == "minimize" else scores.idxmax()]


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
        invalid, best, best_valid, best_trial, median, top_mean, top_n, top_applies, n_params,
        seconds_median``: ``best`` is the test value of the trial best on the validation
        objective (``best_valid``, trial ``best_trial``), never the best test value;
        ``median`` over completed trials; ``top_applies`` whether Greff's selection is
        meaningful at this size (:func:`greff_applies`); ``n_params`` and ``seconds_median``
        are medians per trial (``seconds_median`` over the trials that recorded a training
        time). Rows are ordered per task from the best ``top_mean`` to the worst where every
        cell's selection applies, else by ``median``.
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
            pick = best_by_validation(done)
            row: dict[str, object] = {
                "task": task, "cell": cell,
                "genome_id": _first(cdf, "genome_id"),
                "metric": name, "direction": direction, "trials": len(cdf),
                **{s: int(counts.get(s, 0)) for s in STATUSES_ORDER},
                "best": None if pick is None else float(pick[name]),
                "best_valid": None if pick is None else float(pick["objective"]),
                "best_trial": None if pick is None else _plain(pick.get("trial")),
                "median": float(pd.Series(v).median()) if v.size else None,
                "top_mean": float(values(top, name).mean()) if len(top) else None,
                "top_n": len(top),
                "top_applies": greff_applies(len(done), len(top)),
                "n_params": _median(done if len(done) else cdf, "n_params"),
                "seconds_median": _median(cdf, "train_seconds", positive=True),
            }
            task_rows.append(row)
        key = "top_mean" if all(r["top_applies"] for r in task_rows) else "median"
        task_rows.sort(key=lambda r: _rank_key(r[key], direction))
        rows.extend(task_rows)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _rank_key(value: object, direction: Direction) -> tuple[int, float]:
    if value is None or value != value:  # missing values last
        return (1, 0.0)
    v = float(value)  # type: ignore[arg-type]
    return (0, v if direction == "minimize" else -v)


def _plain(value: object) -> object:
    item = getattr(value, "item", None)
    return item() if callable(item) else value


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
