"""Figures of one task's results: variant box plots, importance, hyperparameters, Pareto fronts.

Every function takes DataFrames (the results table and the tables computed from it) and returns a
:class:`matplotlib.figure.Figure`; nothing is shown or saved. seaborn and matplotlib are imported
when a figure is drawn, never at import.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from lstm_search.analysis._style import (
    COLORS,
    direction_label,
    grouped_limits,
    new_figure,
    readable_log_axis,
    robust_limits,
    spaced_labels,
    style,
    wants_log,
)
from lstm_search.analysis._table import (
    AnalysisError,
    base_tasks,
    best_trials,
    completed,
    require_columns,
    task_groups,
)
from lstm_search.analysis.importance import ALL_CELLS, CELL_PARAM, marginal_effects
from lstm_search.analysis.stats import INSUFFICIENT, NO_DIFFERENCE, stars
from lstm_search.analysis.summary import task_metric


def one_task(df: pd.DataFrame, task: str | None) -> tuple[str, pd.DataFrame]:
    """The rows of ``task`` (a task setting label such as ``"recall gap=50"``, or a task name
    with a single setting), or of the only one in ``df`` when ``task`` is None."""
    require_columns(df, ["task"], "plot")
    groups = dict(task_groups(df))
    tasks = list(groups)
    if task is None:
        if len(tasks) != 1:
            raise AnalysisError(f"the table holds {len(tasks)} tasks {tasks}; pass task=...")
        task = tasks[0]
    elif str(task) not in groups:
        named = [k for k, rows in groups.items() if (base_tasks(rows) == task).all()]
        if len(named) != 1:
            raise AnalysisError(f"task {task!r} is not in the table (have {tasks})")
        task = named[0]
    return str(task), groups[str(task)]


def _outside_note(ax: Any, n: int) -> None:
    # in the corner above the axes, where it cannot hide data or significance marks
    if n:
        ax.set_title(f"{n} trial{'s' if n > 1 else ''} off scale", loc="right", fontsize=8,
                     color="#666666", fontweight="normal")


def variant_boxplot(df: pd.DataFrame, comparison: pd.DataFrame | None = None, *,
                    baseline: str = "lstm", metric: str | None = None, task: str | None = None,
                    top_fraction: float = 0.1, min_top: int = 5, alpha: float = 0.05) -> Any:
    """Box and strip plots of the test metric per cell, marked against a baseline.

    The figure Greff et al. (2015, fig. 3) is known for: the top panel shows all completed
    trials (robustness to hyperparameters; marks from Mann-Whitney U), the bottom panel the best
    10% by validation score (tuned quality; marks from Welch's t-test), drawn only where that
    selection applies (at least 3 of at least 20 trials; the comparison's ``top_applies``).
    Boxes span the quartiles, whiskers the full range, the line is the median and the red dot
    the mean. Cells significantly better than the baseline (Holm-corrected) are blue, worse ones
    orange, the baseline dark grey; stars give the corrected p-value. Cells are ordered best
    first by the mean of their best trials.

    Args:
        comparison: the table of :func:`~lstm_search.analysis.compare_to_baselines` (computed
            here when None).
    """
    from lstm_search.analysis.stats import compare_to_baselines

    task, tdf = one_task(df, task)
    name, direction = task_metric(tdf, metric)
    done = completed(tdf, name)
    if done.empty:
        raise AnalysisError(f"task {task!r}: no completed trial has a value of {name!r}")
    if comparison is None and baseline in set(done["cell"]):
        comparison = compare_to_baselines(tdf, [baseline], metric=name,
                                          top_fraction=top_fraction, min_top=min_top,
                                          alpha=alpha)
    comp = pd.DataFrame()
    if comparison is not None and len(comparison):
        comp = comparison[(comparison["task"] == task)
                          & (comparison["baseline"] == baseline)].set_index("cell")
    tops = pd.concat([best_trials(g, fraction=top_fraction, min_n=min_top)
                      for _, g in done.groupby("cell", sort=False)])
    means = tops.groupby("cell")[name].mean()
    order = list(means.sort_values(ascending=direction == "minimize").index)
    sign = "<" if direction == "minimize" else ">"

    def colour(cell: str, column: str) -> str:
        if cell == baseline:
            return COLORS["baseline"]
        if len(comp) and cell in comp.index:
            return COLORS.get(str(comp.loc[cell, column]), COLORS[NO_DIFFERENCE])
        return COLORS[INSUFFICIENT]

    # Greff's tuned panel only where the best-10% rule applies (at least 3 of at least 20)
    tuned = not len(comp) or ("top_applies" not in comp.columns
                              or comp["top_applies"].astype(bool).any())
    width = max(6.5, 0.62 * len(order) + 2.2)
    with style() as sns:
        fig = new_figure(width, 7.4 if tuned else 4.4)
        axes = list(np.atleast_1d(fig.subplots(2 if tuned else 1, 1, sharex=True)))
        panels = [
            (axes[0], done, "verdict", "p_holm",
             f"All completed trials ({_lead_test(comp)} vs {baseline})"),
        ]
        if tuned:
            panels.append((axes[1], tops, "verdict_tuned", "welch_p_holm",
                           f"Best {top_fraction:.0%} by validation, at least {min_top} "
                           f"(Welch's t-test vs {baseline})"))
        for k, (ax, data, vcol, pcol, title) in enumerate(panels):
            palette = {c: colour(c, vcol) for c in order}
            with warnings.catch_warnings():  # seaborn 0.13 passes vert= to matplotlib 3.11
                warnings.filterwarnings("ignore", message=".*vert: bool.*")
                sns.boxplot(data=data, x="cell", y=name, order=order, hue="cell",
                            hue_order=order, palette=palette, legend=False, whis=(0, 100),
                            showfliers=False, width=0.62, linewidth=1.1, ax=ax,
                            medianprops={"color": "black", "linewidth": 1.6},
                            boxprops={"edgecolor": "#333333"},
                            whiskerprops={"color": "#333333"}, capprops={"color": "#333333"})
            for cell, box in zip(order, ax.containers):
                if cell == baseline:  # a black median would vanish in the dark box
                    for line in getattr(box, "medians", []):
                        line.set_color("white")
            sns.stripplot(data=data, x="cell", y=name, order=order, color=COLORS["points"],
                          size=2.6, alpha=0.45, jitter=0.18, ax=ax, zorder=3)
            _mark_small_groups(ax, data, name, order, palette)
            m = data.groupby("cell")[name].mean().reindex(order)
            ax.scatter(np.arange(len(order)), m.to_numpy(), color=COLORS["mean"], s=22,
                       zorder=4, edgecolor="white", linewidth=0.6, label="mean")
            # all trials: diverged ones would squash the boxes, so the axis shows each cell's
            # bulk; best trials: every one is shown
            y = pd.to_numeric(data[name])
            lo, hi, outside = grouped_limits([y[data["cell"] == c].to_numpy(float)
                                              for c in order], k=3.0 if k == 0 else np.inf)
            ax.set_ylim(lo, hi + 0.14 * (hi - lo))  # headroom for the stars
            _outside_note(ax, outside)
            if len(comp):
                for i, cell in enumerate(order):
                    if cell in comp.index:
                        mark = stars(float(comp.loc[cell, pcol]), alpha)
                        ax.text(i, 0.985, mark, transform=ax.get_xaxis_transform(),
                                ha="center", va="top", fontsize=11, fontweight="bold",
                                color=colour(cell, vcol))
            ax.set_title(title, loc="left")
            ax.set_xlabel("")
            ax.set_ylabel(direction_label(name, direction))
        axes[-1].tick_params(axis="x", rotation=35 if max(map(len, order)) > 5 else 0)
        for lab in axes[-1].get_xticklabels():
            lab.set_ha("right" if max(map(len, order)) > 5 else "center")
            if lab.get_text() == baseline:
                lab.set_fontweight("bold")
        _verdict_legend(fig, axes[0], baseline, alpha, sign)
        fig.suptitle(f"{task}: {name} per cell", fontweight="bold", x=0.01, ha="left")
    return fig


def _lead_test(comp: pd.DataFrame) -> str:
    """The test behind the top panel's colours: signed-rank when the design is paired."""
    if len(comp) and "design" in comp.columns and (comp["design"] == "paired").any():
        return "Wilcoxon signed-rank, paired on settings,"
    return "Mann-Whitney U"


def _mark_small_groups(ax: Any, data: pd.DataFrame, name: str, order: list[str],
                       palette: dict[str, str], max_n: int = 1) -> None:
    """A cell with a single trial gets a large outlined marker: its box is a flat line and
    a small grey point on a dark baseline box would not show."""
    for i, cell in enumerate(order):
        y = pd.to_numeric(data.loc[data["cell"] == cell, name]).to_numpy(float)
        if 0 < y.size <= max_n:
            ax.scatter(np.full(y.size, i), y, s=70, marker="D", color=palette[cell],
                       edgecolor="black", linewidth=1.0, zorder=3.5, label="_nolegend_")


def _verdict_legend(fig: Any, ax: Any, baseline: str, alpha: float, sign: str) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=COLORS["baseline"], label=f"baseline ({baseline})"),
               Patch(facecolor=COLORS["better"], label=f"better than {baseline}"),
               Patch(facecolor=COLORS["worse"], label=f"worse than {baseline}"),
               Patch(facecolor=COLORS[NO_DIFFERENCE], label="inconclusive / equivalent"),
               Line2D([], [], marker="o", ls="", color=COLORS["mean"], label="mean")]
    fig.legend(handles=handles, loc="outside lower center", ncol=5, frameon=False, fontsize=8.5,
               title=f"Holm-corrected: * p<{alpha:g}, ** p<0.01, *** p<0.001",
               title_fontsize=8.5)


def importance_plot(importance: pd.DataFrame, *, task: str | None = None) -> Any:
    """Hyperparameter importance: bars for all cells pooled, a heatmap per cell.

    Args:
        importance: the table of :func:`~lstm_search.analysis.hyperparameter_importance`.
    """
    task, imp = one_task(importance, task)
    if imp.empty:
        raise AnalysisError(f"task {task!r}: no importance to plot")
    method = ", ".join(sorted(set(imp["method"])))
    pooled = imp[imp["cell"] == ALL_CELLS].sort_values("importance", ascending=False)
    per_cell = imp[imp["cell"] != ALL_CELLS]
    params = list(pooled["param"]) if len(pooled) else list(
        per_cell.groupby("param")["importance"].mean().sort_values(ascending=False).index)
    params_cells = [p for p in params if p != CELL_PARAM]
    panels = int(len(pooled) > 0) + int(len(per_cell) > 0)
    n_cells = per_cell["cell"].nunique()
    with style() as sns:
        fig = new_figure(4.2 * int(len(pooled) > 0) + (0.9 * len(params_cells) + 2.8) *
                         int(len(per_cell) > 0), max(3.2, 0.34 * n_cells + 1.6))
        axes = list(np.atleast_1d(fig.subplots(1, panels, width_ratios=[
            1.0, 0.3 * len(params_cells) + 0.9][:panels] if panels == 2 else None)))
        if len(pooled):
            ax = axes.pop(0)
            colors = [COLORS["worse"] if p == CELL_PARAM else COLORS["better"]
                      for p in pooled["param"]]
            ax.barh(pooled["param"], pooled["importance"], color=colors)
            ax.invert_yaxis()
            ax.set_xlim(0, 1.08)
            for y, v in enumerate(pooled["importance"]):
                ax.text(v + 0.015, y, f"{v:.2f}", va="center", fontsize=9)
            ax.set_xlabel("share of explained variance")
            ax.set_title(f"All cells pooled (n={int(pooled['n_trials'].iloc[0])})", loc="left")
            ax.grid(axis="y", visible=False)
        if len(per_cell):
            ax = axes.pop(0)
            table = per_cell.pivot_table(index="cell", columns="param", values="importance")
            order = table.get(params_cells[0]).sort_values(ascending=False).index if \
                params_cells and params_cells[0] in table else table.index
            table = table.reindex(index=order, columns=[p for p in params_cells
                                                        if p in table.columns])
            sns.heatmap(table, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="Blues",
                        linewidths=0.5, linecolor="white", cbar_kws={"shrink": 0.7}, ax=ax,
                        annot_kws={"fontsize": 8})
            ax.set_title("Per cell", loc="left")
            ax.set_xlabel("")
            ax.set_ylabel("")
            ax.tick_params(axis="x", rotation=0)
        fig.suptitle(f"{task}: hyperparameter importance ({method})", fontweight="bold",
                     x=0.01, ha="left")
    return fig


# fewer trials than this per bin on average: points only, no binned mean or band
MIN_TRIALS_PER_BIN = 3


def hyperparameter_plot(df: pd.DataFrame, *, params: Sequence[str] | None = None,
                        metric: str | None = None, task: str | None = None,
                        marginal: pd.DataFrame | None = None, bins: int = 8) -> Any:
    """The metric against each hyperparameter: every completed trial as a point, and the binned
    mean with its 95% confidence interval (:func:`~lstm_search.analysis.marginal_effects`) where
    the bins hold at least ``MIN_TRIALS_PER_BIN`` trials (with fewer, larger points alone), the
    band clipped to the data's range. Hyperparameters sampled on a log scale (the rows'
    recorded distributions, else inferred) get a log x axis."""
    task, tdf = one_task(df, task)
    name, direction = task_metric(tdf, metric)
    done = completed(tdf, name)
    if done.empty:
        raise AnalysisError(f"task {task!r}: no completed trial has a value of {name!r}")
    if marginal is None:
        marginal = marginal_effects(done, params=params, target=name, bins=bins)
    marginal = marginal[(marginal["task"] == task) & (marginal["cell"] == ALL_CELLS)]
    names = list(dict.fromkeys(marginal["param"]))
    if not names:
        raise AnalysisError(f"task {task!r}: no hyperparameter varies")
    lo, hi, _ = robust_limits(pd.to_numeric(done[name]).to_numpy(float))
    ncol = min(len(names), 4)
    nrow = -(-len(names) // ncol)
    with style():
        fig = new_figure(3.4 * ncol + 0.4, 3.0 * nrow + 0.5)
        axes = np.atleast_1d(fig.subplots(nrow, ncol, sharey=True, squeeze=False)).ravel()
        for ax, param in zip(axes, names):
            m = marginal[marginal["param"] == param]
            col = f"hp.{param}" if f"hp.{param}" in done.columns else param
            y = pd.to_numeric(done[name]).to_numpy(float)
            if m["kind"].iloc[0] == "categorical":
                cats = list(m["bin"])
                codes = done[col].astype(str).map({c: i for i, c in enumerate(cats)})
                rng = np.random.default_rng(0)  # jitter only, fixed for reproducible figures
                x = codes.to_numpy(float) + rng.uniform(-0.15, 0.15, len(codes))
                ax.scatter(x, y, s=9, color=COLORS["cloud"], alpha=0.7, linewidth=0)
                ax.errorbar(np.arange(len(cats)), m["mean"],
                            yerr=[m["mean"] - m["ci_low"], m["ci_high"] - m["mean"]], fmt="o",
                            color=COLORS["baseline"], capsize=3)
                ax.set_xticks(np.arange(len(cats)), cats)
            else:
                x = pd.to_numeric(done[col], errors="coerce").to_numpy(float)
                few = len(done) < MIN_TRIALS_PER_BIN * len(m)  # too few for binned means
                ax.scatter(x, y, s=22 if few else 12, color=COLORS["baseline"],
                           alpha=0.8 if few else 0.45, linewidth=0, label="trial", zorder=3)
                if not few:
                    # the band only where a bin holds enough trials, and never past the data's
                    # range: a wide interval of a thin bin must not cover the points
                    ok = (m["n"] >= MIN_TRIALS_PER_BIN).to_numpy()
                    ax.fill_between(m["center"][ok], np.clip(m["ci_low"][ok], lo, hi),
                                    np.clip(m["ci_high"][ok], lo, hi), color=COLORS["better"],
                                    alpha=0.12, linewidth=0, label="95% CI of mean")
                    ax.plot(m["center"], np.clip(m["mean"], lo, hi), "-o",
                            color=COLORS["better"], ms=3.5, lw=1.6, label="binned mean")
                if bool(m["log"].iloc[0]):
                    ax.set_xscale("log")
                    readable_log_axis(ax.xaxis, x)
            ax.set_xlabel(param + (" (log)" if bool(m["log"].iloc[0]) else ""))
            ax.set_ylim(lo, hi)
        for ax in axes[len(names):]:
            ax.axis("off")
        for ax in axes[::ncol]:
            ax.set_ylabel(direction_label(name, direction))
        handles, labels = axes[0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside lower center", ncol=3, frameon=False,
                       fontsize=8.5)
        fig.suptitle(f"{task}: {name} against each hyperparameter (all cells)",
                     fontweight="bold", x=0.01, ha="left")
    return fig


def pareto_plot(df: pd.DataFrame, *, costs: Sequence[str] = ("n_params", "train_seconds"),
                metric: str | None = None, task: str | None = None, label_front: bool = True
                ) -> Any:
    """Quality against cost (one panel per cost column) with the Pareto front highlighted and
    its trials labelled by cell."""
    from lstm_search.analysis.pareto import pareto_mask

    task, tdf = one_task(df, task)
    name, direction = task_metric(tdf, metric)
    costs = [c for c in costs if c in tdf.columns and completed(tdf, c).shape[0]]
    done = completed(tdf, name)
    if done.empty or not costs:
        raise AnalysisError(f"task {task!r}: no completed trial has {name!r} and a cost "
                            f"column {list(costs)}")
    labels = {"n_params": "parameters", "train_seconds": "training time per trial (s)"}
    placed: list[tuple[Any, np.ndarray, list[Any]]] = []  # (axes, step corners, labels)
    with style():
        fig = new_figure(5.0 * len(costs) + 0.5, 4.2)
        axes = np.atleast_1d(fig.subplots(1, len(costs), sharey=True))
        for ax, cost in zip(axes, costs):
            d = completed(done, cost)
            x = pd.to_numeric(d[cost]).to_numpy(float)
            y = pd.to_numeric(d[name]).to_numpy(float)
            mask = pareto_mask(y, x, direction)
            ax.scatter(x[~mask], y[~mask], s=10, color=COLORS["cloud"], alpha=0.7,
                       linewidth=0, label="trial")
            order = np.argsort(x[mask])
            fx, fy = x[mask][order], y[mask][order]
            ax.step(fx, fy, where="post", color=COLORS["front"], lw=1.4, alpha=0.8)
            ax.scatter(fx, fy, s=26, color=COLORS["front"], zorder=3, edgecolor="white",
                       linewidth=0.6, label="Pareto front")
            if wants_log(x):
                ax.set_xscale("log")
                readable_log_axis(ax.xaxis, x)
            lo, hi, outside = robust_limits(y)
            ax.set_ylim(lo, hi)
            if label_front and fx.size:
                cells = d["cell"].to_numpy()[mask][order]
                first = np.r_[True, cells[1:] != cells[:-1]]  # label runs of one cell once
                ok = np.flatnonzero(first)[spaced_labels(ax, fx[first], fy[first])]
                notes = [_front_label(ax, str(cells[i]), fx[i], fy[i], direction)
                         for i in ok]
                placed.append((ax, _step_corners(fx, fy), notes))
            _outside_note(ax, outside)
            ax.set_xlabel(labels.get(cost, cost) + (" (log)" if wants_log(x) else ""))
        axes[0].set_ylabel(direction_label(name, direction))
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside lower center", ncol=2, frameon=False,
                   fontsize=8.5)
        fig.suptitle(f"{task}: quality against cost", fontweight="bold", x=0.01, ha="left")
        if placed:
            _place_front_labels(fig, placed, direction)
    return fig


def _step_corners(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The vertices of ``step(x, y, where="post")``: (x0, y0), (x1, y0), (x1, y1) ..."""
    return np.column_stack([np.repeat(x, 2)[1:], np.repeat(y, 2)[:-1]])


def _label_spots(direction: str) -> list[tuple[float, float, str, str]]:
    """Offsets (points) and alignment to try for a front label, best first.

    Nothing is both cheaper and better than a front point, so the region below-left of the
    staircase (above-left when higher is better) holds no trial and no line: labels go
    there. The cheapest point may have no room on its left inside the axes; it then tries
    the right, and below or above the point.
    """
    dy, va = (-5.0, "top") if direction == "minimize" else (5.0, "bottom")
    return [(-6.0, dy, "right", va), (6.0, dy, "left", va), (-6.0, 3 * dy, "right", va),
            (6.0, 3 * dy, "left", va)]


def _front_label(ax: Any, text: str, x: float, y: float, direction: str) -> Any:
    dx, dy, ha, va = _label_spots(direction)[0]
    return ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points",
                       fontsize=7.5, color="#333333", ha=ha, va=va,
                       bbox={"boxstyle": "round,pad=0.15", "facecolor": "white",
                             "edgecolor": "none", "alpha": 0.75})


def _place_front_labels(fig: Any, placed: list[tuple[Any, np.ndarray, list[Any]]],
                        direction: str) -> None:
    """Move each front label to the first spot of :func:`_label_spots` that lies inside its
    axes and off the step line, measured on the laid-out figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not hasattr(fig.canvas, "get_renderer"):
        FigureCanvasAgg(fig)
    fig.draw_without_rendering()  # runs the layout: positions below are final
    renderer = fig.canvas.get_renderer()
    for ax, corners, notes in placed:
        line = _dense(ax.transData.transform(corners))
        frame = ax.get_window_extent(renderer)
        for note in notes:
            for dx, dy, ha, va in _label_spots(direction):
                note.xyann = (dx, dy)
                note.set_horizontalalignment(ha)
                note.set_verticalalignment(va)
                box = note.get_window_extent(renderer)
                inside = (box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y0 >= frame.y0
                          and box.y1 <= frame.y1)
                if inside and not _hits(box, line):
                    break
            else:  # nowhere clear: the empty side, which at worst leaves the axes
                dx, dy, ha, va = _label_spots(direction)[0]
                note.xyann = (dx, dy)
                note.set_horizontalalignment(ha)
                note.set_verticalalignment(va)


def _dense(path: np.ndarray, per_segment: int = 40) -> np.ndarray:
    if len(path) < 2:
        return path
    return np.linspace(path[:-1], path[1:], per_segment).reshape(-1, 2)


def _hits(box: Any, points: np.ndarray) -> bool:
    """Whether any of the display-space ``points`` falls inside ``box``."""
    return bool(((points[:, 0] > box.x0) & (points[:, 0] < box.x1)
                 & (points[:, 1] > box.y0) & (points[:, 1] < box.y1)).any())
