"""Shared helpers over the results table: metric choice, direction, completed rows, best trials.

Every analysis function takes the DataFrame of :func:`lstm_search.results.load_results` and uses
these helpers so that "which metric", "is lower better" and "the best 10% of trials" mean the same
thing in every table and figure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
import pandas as pd

from lstm_search.results import SETTING_PREFIX, STATUSES

Direction = Literal["minimize", "maximize"]

# Metric base names whose direction is known regardless of what the search optimised.
_MINIMIZE = frozenset({"nll", "loss", "ppl", "perplexity", "bpc", "bpd", "bits", "error", "err",
                       "mse", "mae", "rmse", "cer", "wer", "per"})
_MAXIMIZE = frozenset({"acc", "accuracy", "f1", "auc", "bleu", "r2", "precision", "recall_score"})

STATUSES_ORDER: tuple[str, ...] = STATUSES  # complete, pruned, failed, invalid
HP_PREFIX = "hp."
TASK_PREFIX = "task."
TASK_NAME = "task_name"  # the task's own name once ``task`` holds its setting label
# task options that draw another replicate of the same setting rather than a new setting
REPLICATE_OPTIONS = frozenset({"data_seed", "seed"})
SPLITS = ("train", "valid", "test")


class AnalysisError(ValueError):
    """The results table cannot answer the question asked (a missing column, no trials ...)."""


def require_columns(df: pd.DataFrame, columns: Iterable[str], where: str) -> None:
    """Raise :class:`AnalysisError` naming every column ``where`` needs that ``df`` lacks."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise AnalysisError(f"{where}: the results table has no column(s) {missing}; "
                            f"available: {sorted(map(str, df.columns))}")


def metric_columns(df: pd.DataFrame) -> list[str]:
    """The ``<split>.<metric>`` columns of the table (``valid.nll``, ``test.acc`` ...)."""
    return [c for c in df.columns
            if isinstance(c, str) and "." in c and c.split(".", 1)[0] in SPLITS]


def hparam_columns(df: pd.DataFrame) -> list[str]:
    """The ``hp.<name>`` columns of the table, in table order."""
    return [c for c in df.columns if isinstance(c, str) and c.startswith(HP_PREFIX)]


def _mode(values: pd.Series) -> Any:
    values = values.dropna()
    values = values[values.astype(str) != ""]
    if values.empty:
        return None
    return values.astype(str).value_counts().index[0]


def objective_base(df: pd.DataFrame) -> str | None:
    """The metric name the search optimised (``"nll"`` for ``objective_name`` "nll" or
    "valid.nll"), the most frequent one if rows disagree, or None if the table does not say."""
    if "objective_name" not in df.columns:
        return None
    name = _mode(df["objective_name"])
    if name is None:
        return None
    return name.split(".", 1)[1] if name.split(".", 1)[0] in SPLITS and "." in name else name


def table_direction(df: pd.DataFrame) -> Direction:
    """The search direction recorded in the table (``direction`` column); rows that disagree are
    an error because their objectives cannot be ranked together."""
    if "direction" not in df.columns or df["direction"].dropna().empty:
        return "minimize"
    found = sorted(set(df["direction"].dropna().astype(str)))
    if len(found) > 1:
        raise AnalysisError(f"rows disagree on the search direction {found}; "
                            "analyse one task (or objective) at a time")
    if found[0] not in ("minimize", "maximize"):
        raise AnalysisError(f"direction must be 'minimize' or 'maximize', got {found[0]!r}")
    return found[0]  # type: ignore[return-value]


def default_metric(df: pd.DataFrame) -> str:
    """The test metric matching ``objective_name`` (objective "nll" gives ``test.nll``), falling
    back to the validation metric and then to ``objective`` itself."""
    base = objective_base(df)
    if base is not None:
        for split in ("test", "valid"):
            if f"{split}.{base}" in df.columns and df[f"{split}.{base}"].notna().any():
                return f"{split}.{base}"
    return "objective"


def metric_direction(df: pd.DataFrame, metric: str) -> Direction:
    """Whether lower or higher ``metric`` is better.

    The table's ``direction`` applies to the objective and to every split of the objective's
    metric; other metrics use their known sense (``acc`` is maximised, ``nll``/``ppl``/``bpc``
    minimised) and otherwise inherit the table's direction.
    """
    if metric == "objective":
        return table_direction(df)
    base = metric.split(".", 1)[1] if "." in metric else metric
    if base == objective_base(df):
        return table_direction(df)
    if base.lower() in _MINIMIZE:
        return "minimize"
    if base.lower() in _MAXIMIZE:
        return "maximize"
    return table_direction(df)


def completed(df: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Rows with status "complete" (and, if ``metric`` is given, a finite value of it)."""
    out = df[df["status"] == "complete"] if "status" in df.columns else df
    if metric is not None:
        values = pd.to_numeric(out[metric], errors="coerce")
        out = out[np.isfinite(values.to_numpy(dtype=float))]
    return out


def n_top(n: int, fraction: float, min_n: int) -> int:
    """How many trials "the best ``fraction``" means for ``n`` trials (at least ``min_n``)."""
    if not 0 < fraction <= 1:
        raise AnalysisError(f"top fraction must be in (0, 1], got {fraction}")
    return min(n, max(min_n, math.ceil(fraction * n)))


def best_trials(df: pd.DataFrame, direction: Direction | None = None, *,
                fraction: float = 0.1, min_n: int = 5, by: str = "objective") -> pd.DataFrame:
    """The best ``fraction`` of completed rows ranked by validation score (``by``).

    Greff et al. (2015, "LSTM: A Search Space Odyssey", sec. 5) compare variants on the test
    performance of the 10% of trials that were best on the validation set. With 200 trials per
    variant that is 20 trials; small searches take at least ``min_n`` so that a t-test on them
    has degrees of freedom.

    Args:
        direction: whether lower or higher ``by`` is better. Default: ``by``'s own direction
            (for ``objective`` the table's search direction), never the direction of the
            metric compared afterwards: ranking an NLL objective by the sense of a test
            accuracy would pick the worst trials.
    """
    rows = completed(df, by)
    k = n_top(len(rows), fraction, min_n) if len(rows) else 0
    if k == 0:
        return rows
    sense = direction or metric_direction(rows, by)
    scores = pd.to_numeric(rows[by], errors="coerce")
    order = scores.sort_values(ascending=(sense == "minimize"), kind="stable").index
    return rows.loc[order[:k]]


def values(df: pd.DataFrame, column: str) -> np.ndarray:
    """The finite float values of ``column``."""
    v = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)
    return v[np.isfinite(v)]


def better_sign(direction: Direction) -> float:
    """+1 if higher is better, -1 if lower is better: ``sign * (a - b) > 0`` means a is better."""
    return 1.0 if direction == "maximize" else -1.0


def group_keys(df: pd.DataFrame, column: str) -> list[Any]:
    """Distinct values of ``column`` in order of first appearance (NaN left out)."""
    if column not in df.columns:
        return []
    return list(pd.unique(df[column].dropna()))


def task_option_columns(df: pd.DataFrame) -> list[str]:
    """The ``task.<option>`` columns of the table (``task.gap``, ``task.n_train`` ...), then
    the ``cfg.<setting>`` columns of run settings that differ between the runs read
    (``cfg.train.epochs``, see :func:`lstm_search.results.load_results`): both tell settings
    apart that must not be pooled."""
    return ([c for c in df.columns if isinstance(c, str) and c.startswith(TASK_PREFIX)]
            + [c for c in df.columns if isinstance(c, str) and c.startswith(SETTING_PREFIX)])


def _option_name(column: str) -> str:
    """``task.gap`` -> ``gap``; ``cfg.train.epochs`` -> ``train.epochs``."""
    return column.split(".", 1)[1]


def base_tasks(df: pd.DataFrame) -> pd.Series:
    """Each row's task name, without the setting label :func:`with_task_labels` adds."""
    return df[TASK_NAME] if TASK_NAME in df.columns else df["task"]


def varying_options(df: pd.DataFrame, exclude: Iterable[str] = ()) -> list[str]:
    """The task options (names without ``task.``) that take more than one value in ``df``, the
    rows of one task; replicate options (``data_seed``) and ``exclude`` are left out."""
    return [_option_name(c) for c in _varying_columns(df, exclude)]


def _varying_columns(df: pd.DataFrame, exclude: Iterable[str] = ()) -> list[str]:
    skip = set(exclude) | REPLICATE_OPTIONS
    return [column for column in task_option_columns(df)
            if _option_name(column) not in skip
            and df[column].dropna().astype(str).nunique() > 1]


def _option_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"  # a row that does not record the option (an older table)
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    return str(value)


def task_labels(df: pd.DataFrame, *, exclude: Iterable[str] = ()) -> pd.Series:
    """Per row, its task and the options that vary within that task: ``"recall gap=50"``.

    Runs of one task at different settings (gap, sizes ...) measure different things, so every
    analysis keeps them apart. Options that are the same for all of a task's rows, replicate
    options (``data_seed``) and ``exclude`` stay out of the label; tables without ``task.*``
    columns (older ones) label every row with its task name.
    """
    base = base_tasks(df).astype(str)
    labels = base.copy()
    for task in pd.unique(base):
        mask = (base == task).to_numpy()
        columns = _varying_columns(df[mask], exclude)
        if not columns:
            continue
        parts = [df.loc[mask, c].map(lambda v, o=o: f"{o}={_option_text(v)}")
                 for c, o in ((c, _option_name(c)) for c in columns)]
        labels[mask] = task + " " + pd.concat(parts, axis=1).agg(" ".join, axis=1)
    return labels


def with_task_labels(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with ``task`` holding :func:`task_labels` and the plain name kept in
    ``task_name``; unchanged when no option varies or when already labelled (so the rows of
    one setting, passed on, keep their label)."""
    if TASK_NAME in df.columns or "task" not in df.columns or not task_option_columns(df):
        return df
    labels = task_labels(df)
    if (labels == df["task"].astype(str)).all():
        return df
    return df.assign(**{TASK_NAME: df["task"], "task": labels})


def task_keys(df: pd.DataFrame) -> list[str]:
    """The task labels of a labelled table: tasks in order of first appearance, the settings
    of one task in increasing order of their option values."""
    if "task" not in df.columns:
        return []
    base = base_tasks(df)
    rows = df.assign(_base=base.astype(str), _label=df["task"].astype(str))
    options = task_option_columns(df)
    keys: list[str] = []
    for task in pd.unique(rows["_base"]):
        sub = rows[rows["_base"] == task].drop_duplicates("_label")
        sort_cols = [c for c in options if sub[c].nunique(dropna=False) > 1]
        if sort_cols:
            sub = sub.sort_values(sort_cols, kind="stable", key=_numeric_first)
        keys.extend(sub["_label"])
    return keys


def _numeric_first(column: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(column, errors="coerce")
    return numbers if numbers.notna().all() else column.astype(str)


def task_groups(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """``(label, rows)`` per task setting (see :func:`task_labels`), rows labelled."""
    if "task" not in df.columns:
        return []
    labelled = with_task_labels(df)
    task = labelled["task"].astype(str)
    return [(key, labelled[task == key]) for key in task_keys(labelled)]
