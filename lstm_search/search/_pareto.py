"""The Pareto front of a multi-objective run: quality against a cost (parameters, step time)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def pareto_front(rows: Sequence[Any] | Any, *, quality: str = "objective",
                 cost: str = "n_params", direction: str | None = None) -> Any:
    """The non-dominated complete rows: no other row is at least as good in quality and at
    least as cheap, and strictly better in one.

    ``rows``: a DataFrame from :func:`lstm_search.load_results` (or anything
    ``pandas.DataFrame`` accepts). ``direction`` of ``quality`` defaults to the rows' own
    ``direction`` column. Returns the front sorted by cost.
    """
    import pandas as pd

    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(
        [r.to_dict() if hasattr(r, "to_dict") else dict(r) for r in rows])
    if df.empty:
        return df
    df = df[(df.get("status") == "complete") if "status" in df else slice(None)]
    df = df.dropna(subset=[quality, cost])
    if direction is None:
        direction = str(df["direction"].iloc[0]) if "direction" in df and len(df) else "minimize"
    sign = -1.0 if direction == "maximize" else 1.0
    q = (sign * df[quality].astype(float)).to_numpy()  # lower is better
    c = df[cost].astype(float).to_numpy()
    keep = []
    for i in range(len(df)):
        dominated = ((q <= q[i]) & (c <= c[i]) & ((q < q[i]) | (c < c[i]))).any()
        keep.append(not dominated)
    return df[keep].sort_values(cost).reset_index(drop=True)


__all__ = ["pareto_front"]
