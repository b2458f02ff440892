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

from lstm_search.results import STATUSES

Direction = Literal["minimize", "maximize"]

# Metric base names whose direction is known regardless of what the search optimised.
_MINIMIZE = frozenset({"nll", "loss", "ppl", "perplexity", "bpc", "bpd", "bits", "error", "err",
                       "mse", "mae", "rmse", "cer", "wer", "per"})
_MAXIMIZE = frozenset({"acc", "accuracy", "f1", "auc", "bleu", "r2", "precision", "recall_score"})

STATUSES_ORDER: tuple[str, ...] = STATUSES  # complete, pruned, failed, invalid
HP_PREFIX = "hp."
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


def best_trials(df: pd.DataFrame, direction: Direction, *, fraction: float = 0.1,
                min_n: int = 5, by: str = "objective") -> pd.DataFrame:
    """The best ``fraction`` of completed rows ranked by validation score (``by``).

    Greff et al. (2015, "LSTM: A Search Space Odyssey", sec. 5) compare variants on the test
    performance of the 10% of trials that were best on the validation set. With 200 trials per
    variant that is 20 trials; small searches take at least ``min_n`` so that a t-test on them
    has degrees of freedom.
    """
    rows = completed(df, by)
    k = n_top(len(rows), fraction, min_n) if len(rows) else 0
    scores = pd.to_numeric(rows[by], errors="coerce")
    order = scores.sort_values(ascending=(direction == "minimize"), kind="stable").index
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
