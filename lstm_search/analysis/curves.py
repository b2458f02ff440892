"""Curves: learning curves per cell (from ``curves.jsonl``) and accuracy against the lag of a
long-lag recall task.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from lstm_search.analysis._style import (
    cell_palette,
    direction_label,
    new_figure,
    readable_log_axis,
    robust_limits,
    style,
    wants_log,
)
from lstm_search.analysis._table import (
    TASK_PREFIX,
    AnalysisError,
    best_trials,
    completed,
    metric_direction,
    objective_base,
    require_columns,
    task_labels,
    with_task_labels,
)
from lstm_search.analysis.plots import one_task
from lstm_search.analysis.summary import greff_applies, summarize, task_metric


def curves_with_cells(curves: pd.DataFrame, df: pd.DataFrame) -> pd.DataFrame:
    """``curves`` joined with each trial's ``cell``, ``task`` and ``status`` on (run, trial)."""
    require_columns(curves, ["run", "trial", "epoch"], "learning curves")
    require_columns(df, ["run", "trial", "cell", "task"], "learning curves")
    keys = with_task_labels(df)[["run", "trial", "cell", "task", "status"]]
    if keys.duplicated(["run", "trial"]).any():
        # curves.jsonl rows carry (run, trial) only: experiments sharing a run name collide
        warnings.warn("several rows share a (run, trial); their learning curves are "
                      "ambiguous and the first row's cell is used", stacklevel=2)
        keys = keys.drop_duplicates(["run", "trial"])
    return curves.merge(keys, on=["run", "trial"], how="inner")


def learning_curve_data(curves: pd.DataFrame, df: pd.DataFrame, *, metric: str | None = None,
                        cells: Sequence[str] | None = None, task: str | None = None,
                        top_fraction: float = 0.1, min_top: int = 5) -> pd.DataFrame:
    """Per cell and epoch: median and quartiles of ``metric`` over the cell's best trials.

    Trials are the best ``top_fraction`` by validation score (Greff's selection, at least
    ``min_top``), so a curve shows how a tuned cell trains; trials stopped early leave the
    later epochs to those still running (``n`` says how many).

    Returns:
        Columns ``task, cell, epoch, n, median, q25, q75``.
    """
    task, tdf = one_task(df, task)
    name = metric or _curve_metric(curves, tdf)
    if name not in curves.columns:
        raise AnalysisError(f"curves have no column {name!r} (have "
                            f"{[c for c in curves.columns if c not in ('run', 'trial')]})")
    chosen = list(cells) if cells is not None else list(dict.fromkeys(tdf["cell"]))
    picked = pd.concat([best_trials(tdf[tdf["cell"] == c], fraction=top_fraction,
                                    min_n=min_top) for c in chosen]) if chosen else tdf.iloc[:0]
    if picked.empty:
        return pd.DataFrame(columns=["task", "cell", "epoch", "n", "median", "q25", "q75"])
    joined = curves_with_cells(curves, picked)
    joined = joined[np.isfinite(pd.to_numeric(joined[name], errors="coerce").to_numpy(float))]
    if joined.empty:
        return pd.DataFrame(columns=["task", "cell", "epoch", "n", "median", "q25", "q75"])
    g = joined.groupby(["cell", "epoch"])[name]
    out = pd.DataFrame({"n": g.size(), "median": g.median(), "q25": g.quantile(0.25),
                        "q75": g.quantile(0.75)}).reset_index()
    # stop a cell's curve once fewer than half of its trials (or 2) are still running: a median
    # over the one or two longest runs only adds noise at the end
    started = joined.groupby("cell")["trial"].nunique()
    need = np.maximum(2, np.ceil(0.5 * out["cell"].map(started))).astype(int)
    out = out[(out["n"] >= need) | (out["cell"].map(started) < 2)]
    out.insert(0, "task", task)
    return out


def _curve_metric(curves: pd.DataFrame, tdf: pd.DataFrame) -> str:
    base = objective_base(tdf)
    if base and f"valid.{base}" in curves.columns:
        return f"valid.{base}"
    found = [c for c in curves.columns if str(c).startswith("valid.")]
    if not found:
        raise AnalysisError("curves have no validation metric column (valid.*)")
    return found[0]


def learning_curves_plot(curves: pd.DataFrame, df: pd.DataFrame, *, metric: str | None = None,
                         cells: Sequence[str] | None = None, task: str | None = None,
                         baselines: Sequence[str] = ("lstm", "gru"), max_cells: int = 8,
                         top_fraction: float = 0.1, min_top: int = 5) -> Any:
    """Median learning curve (band: quartiles) of each cell's best trials.

    Without ``cells``: the baselines and the best cells by Greff's best-10% mean, up to
    ``max_cells`` lines so the figure stays readable.
    """
    task, tdf = one_task(df, task)
    name = metric or _curve_metric(curves, tdf)
    if cells is None:
        ranked = list(summarize(tdf, top_fraction=top_fraction, min_top=min_top)
                      .dropna(subset=["top_mean"])["cell"])
        keep = [b for b in baselines if b in ranked]
        cells = keep + [c for c in ranked if c not in keep][:max(0, max_cells - len(keep))]
    data = learning_curve_data(curves, tdf, metric=name, cells=cells, task=task,
                               top_fraction=top_fraction, min_top=min_top)
    if data.empty:
        raise AnalysisError(f"task {task!r}: no learning curves for the chosen cells")
    direction = metric_direction(tdf, name)
    with style():
        fig = new_figure(7.2, 4.4)
        ax = fig.add_subplot()
        palette = cell_palette(list(cells), list(baselines))
        for cell in cells:
            d = data[data["cell"] == cell]
            if d.empty:
                continue
            bold = cell in baselines
            ax.fill_between(d["epoch"], d["q25"], d["q75"], color=palette[cell], alpha=0.12,
                            linewidth=0)
            ax.plot(d["epoch"], d["median"], color=palette[cell], lw=2.4 if bold else 1.5,
                    ls="--" if bold else "-", label=cell)
        lo, hi, _ = robust_limits(data["median"].to_numpy(float), k=1.5)
        ax.set_ylim(lo, hi)
        ax.set_xlabel("epoch")
        ax.set_ylabel(direction_label(name, direction))
        # beside the axes: curves fill the corners a legend inside would cover
        fig.legend(title="cell (dashed:\nbaseline)", fontsize=8.5, title_fontsize=8.5,
                   loc="outside right upper", frameon=False)
        ax.set_title(f"{task}: {name}, median and quartiles of the best {top_fraction:.0%} "
                     "trials", loc="left")
    return fig


GAP_COLUMNS = ("task.gap", "hp.gap")  # the lag as a task option, or (older tables) an hparam
Select = Literal["best", "all"]


def gap_column_of(df: pd.DataFrame, gap_column: str = "task.gap") -> str:
    """``gap_column`` if the table has it; for the default lag columns, whichever of
    ``task.gap`` and ``hp.gap`` (older tables searched the gap as a hyperparameter) it has."""
    candidates = [gap_column] + ([c for c in GAP_COLUMNS if c != gap_column]
                                 if gap_column in GAP_COLUMNS else [])
    for column in candidates:
        if column in df.columns and df[column].notna().any():
            return column
    raise AnalysisError(f"accuracy against gap: the results table has no column "
                        f"{' or '.join(map(repr, candidates))}")


def gap_settings(df: pd.DataFrame, gap_column: str = "task.gap"
                 ) -> list[tuple[str, pd.DataFrame]]:
    """``(label, rows)`` per task and setting of every option but the gap (``"recall"``, or
    ``"recall n_train=2000"`` when ``n_train`` varies as well): the rows one accuracy-against-
    gap figure draws."""
    option = gap_column[len(TASK_PREFIX):] if gap_column.startswith(TASK_PREFIX) else None
    labels = task_labels(df, exclude=[option] if option else [])
    return [(str(k), df[labels == k]) for k in pd.unique(labels)]


def _gap_rows(df: pd.DataFrame, task: str | None, gap_column: str) -> tuple[str, pd.DataFrame]:
    settings = dict(gap_settings(df, gap_column))
    if task is None:
        if len(settings) != 1:
            raise AnalysisError(f"the table holds {len(settings)} tasks {list(settings)}; "
                                "pass task=...")
        task = next(iter(settings))
    if task not in settings:
        raise AnalysisError(f"task {task!r} is not in the table (have {list(settings)})")
    return task, settings[task]


def gap_data(df: pd.DataFrame, *, gap_column: str = "task.gap", metric: str | None = None,
             task: str | None = None, select: Select = "best", top_fraction: float = 0.1,
             min_top: int = 5, confidence: float = 0.95) -> pd.DataFrame:
    """``metric`` per cell and gap: mean, standard deviation and a t confidence interval of
    the mean over the chosen trials.

    Args:
        gap_column: the lag column, ``task.gap`` (``hp.gap`` in older tables is found too).
        task: a task name, or the label of one setting of its other options.
        select: "best": per cell and gap, Greff's best ``top_fraction`` of completed trials by
            validation objective (at least ``min_top``): how well a tuned cell recalls; only
            where that keeps at least 3 of at least 20 trials (``summary.greff_applies``),
            else every completed trial of the point (a few seeds: their mean);
            "all": every completed trial.

    Returns:
        Columns ``task, cell, gap, n, mean, sd, ci_low, ci_high, selection`` (``best`` or
        ``all``: which trials a point averages), and ``values`` (the chosen trials' values).
    """
    from scipy import stats as sps

    gap = gap_column_of(df, gap_column)
    task, tdf = _gap_rows(df, task, gap)
    name, _ = task_metric(tdf, metric)
    done = completed(completed(tdf, name), gap)
    rows = []
    for (cell, value), g in done.groupby(["cell", gap], sort=True):
        chosen, which = g, "all"
        if select == "best":
            top = best_trials(g, fraction=top_fraction, min_n=min_top)
            if greff_applies(len(g), len(top)):
                chosen, which = top, "best"
        v = pd.to_numeric(chosen[name]).to_numpy(float)
        sd = float(v.std(ddof=1)) if v.size > 1 else float("nan")
        half = (float(sps.t.ppf(0.5 + confidence / 2, v.size - 1) * sd / np.sqrt(v.size))
                if v.size > 1 else float("nan"))
        rows.append({"task": task, "cell": cell, "gap": float(value), "n": v.size,
                     "mean": float(v.mean()), "sd": sd, "ci_low": float(v.mean() - half),
                     "ci_high": float(v.mean() + half), "selection": which,
                     "values": [float(x) for x in v]})
    out = pd.DataFrame(rows, columns=["task", "cell", "gap", "n", "mean", "sd", "ci_low",
                                      "ci_high", "selection", "values"])
    out.attrs.update(select=select, gap_column=gap, metric=name)
    return out


def gap_plot(df: pd.DataFrame, *, gap_column: str = "task.gap", metric: str | None = None,
             task: str | None = None, baselines: Sequence[str] = ("lstm", "gru"),
             select: Select = "best", top_fraction: float = 0.1, min_top: int = 5) -> Any:
    """Accuracy (or ``metric``) against the lag between the token and its recall, per cell:
    the mean over the chosen trials (see :func:`gap_data`) with a band of one standard
    deviation either side, and each chosen trial as a dot (a few seeds stay visible). Lag
    axes spanning a decade are log."""
    data = gap_data(df, gap_column=gap_column, metric=metric, task=task, select=select,
                    top_fraction=top_fraction, min_top=min_top)
    task, tdf = _gap_rows(df, task, data.attrs["gap_column"])
    name = data.attrs["metric"]
    if data.empty:
        raise AnalysisError(f"task {task!r}: no completed trial has {name!r} and "
                            f"{data.attrs['gap_column']!r}")
    direction = metric_direction(tdf, name)
    found = list(dict.fromkeys(data["cell"]))
    cells = [b for b in baselines if b in found] + [c for c in found if c not in baselines]
    with style():
        fig = new_figure(7.4, 4.2)
        ax = fig.add_subplot()
        palette = cell_palette(cells, list(baselines))
        for cell in cells:
            _gap_line(ax, data[data["cell"] == cell], cell, palette[cell], cell in baselines,
                      clip=name.endswith("acc"))
        _gap_axes(ax, data, data.attrs["gap_column"], name, direction)
        fig.legend(title="cell", fontsize=8.5, title_fontsize=8.5, loc="outside right upper",
                   frameon=False)
        ax.set_title(f"{task}: {name} against the lag\nmean ± SD (dots: trials) over "
                     f"{gap_selection_text(data, top_fraction, min_top)}", loc="left")
    return fig


def gap_selection_text(data: pd.DataFrame, top_fraction: float = 0.1,
                       min_top: int = 5) -> str:
    """Which trials the points of :func:`gap_data` average, in words."""
    kinds = set(data["selection"]) if "selection" in data else {"all"}
    best = f"the best {top_fraction:.0%} by validation (at least {min_top})"
    if kinds == {"best"}:
        return best
    if kinds == {"all"}:
        return "all completed trials"
    return f"{best} where that keeps at least 3 of at least 20 trials, else all trials"


def _gap_line(ax: Any, d: pd.DataFrame, cell: str, color: Any, bold: bool, clip: bool) -> None:
    lo, hi = d["mean"] - d["sd"].fillna(0), d["mean"] + d["sd"].fillna(0)
    if clip:  # an accuracy band stays within [0, 1]
        lo, hi = lo.clip(0, 1), hi.clip(0, 1)
    ax.fill_between(d["gap"], lo, hi, color=color, alpha=0.15, linewidth=0)
    ax.plot(d["gap"], d["mean"], marker="o", ms=4, color=color, lw=2.4 if bold else 1.5,
            ls="--" if bold else "-", label=cell)
    if "values" in d:
        xs = [g for g, vals in zip(d["gap"], d["values"], strict=True) for _ in vals]
        ys = [v for vals in d["values"] for v in vals]
        ax.scatter(xs, ys, s=14, color=color, alpha=0.6, linewidths=0, zorder=3)


def _gap_axes(ax: Any, data: pd.DataFrame, gap_column: str, name: str, direction: str) -> None:
    gaps = np.unique(data["gap"].to_numpy(float))
    if wants_log(gaps):
        ax.set_xscale("log")
        readable_log_axis(ax.xaxis, gaps)
    if gaps.size <= 10:
        ax.set_xticks(gaps, [f"{g:g}" for g in gaps])
    if name.endswith("acc"):
        ax.set_ylim(-0.02, 1.02)
    option = gap_column.split(".", 1)[-1]
    ax.set_xlabel(f"{option} (time steps between token and recall)")
    ax.set_ylabel(direction_label(name, direction))
