"""Figures: structure of each figure, significance marks, log axes, and no global state."""

from __future__ import annotations

import io
import itertools
import sys

import analysis_fixture_tables as tables
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from lstm_search.analysis import (
    AnalysisError,
    compare_to_baselines,
    draw_cells,
    figure_png,
    gap_data,
    gap_plot,
    hyperparameter_importance,
    hyperparameter_plot,
    importance_plot,
    learning_curves_plot,
    pareto_front,
    pareto_plot,
    variant_boxplot,
)
from lstm_search.analysis.stats import stars
from lstm_search.results import load_results


@pytest.fixture(scope="module")
def comparison(greff_table):
    return compare_to_baselines(greff_table, ["lstm"])


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_variant_boxplot_marks_follow_the_comparison(greff_table, comparison):
    fig = variant_boxplot(greff_table, comparison, baseline="lstm")
    axes = fig.axes
    assert len(axes) == 2
    order = [t.get_text() for t in axes[1].get_xticklabels()]
    assert sorted(order) == sorted(greff_table["cell"].unique())
    comp = comparison.set_index("cell")
    for panel, pcol in ((axes[0], "p_holm"), (axes[1], "welch_p_holm")):
        marks = {t.get_position()[0]: t.get_text() for t in panel.texts if "*" in t.get_text()
                 or t.get_text() == ""}
        for i, cell in enumerate(order):
            if cell == "lstm":
                continue
            assert marks.get(i, "") == stars(comp.loc[cell, pcol]), cell
    assert stars(comp.loc["noaf", "p_holm"]) != ""
    bold = [t for t in axes[1].get_xticklabels() if t.get_fontweight() == "bold"]
    assert [t.get_text() for t in bold] == ["lstm"]
    assert "lower is better" in axes[0].get_ylabel()
    png = figure_png(fig)
    assert Image.open(io.BytesIO(png)).size[0] > 600


def test_boxplot_without_the_baseline_still_draws(greff_table):
    fig = variant_boxplot(greff_table[greff_table["cell"] != "lstm"], baseline="lstm")
    assert not any("*" in t for ax in fig.axes for t in texts(ax))


def test_hyperparameter_plot_uses_log_axis_for_lr(greff_table):
    fig = hyperparameter_plot(greff_table)
    labels = {ax.get_xlabel(): ax for ax in fig.axes if ax.get_xlabel()}
    assert labels["lr (log)"].get_xscale() == "log"
    assert labels["momentum"].get_xscale() == "linear"
    assert len(labels) == 4


def test_importance_plot_has_pooled_bars_and_a_heatmap(greff_table):
    imp = hyperparameter_importance(greff_table, method="ped-anova")
    fig = importance_plot(imp)
    pooled, heat = fig.axes[0], fig.axes[1]
    assert next(t.get_text() for t in pooled.get_yticklabels()) == "lr"
    assert {t.get_text() for t in heat.get_yticklabels()} == set(greff_table["cell"])
    with pytest.raises(AnalysisError, match="pass task"):
        importance_plot(imp.assign(task=["a", "b"] * (len(imp) // 2) + ["a"] * (len(imp) % 2)))


def test_pareto_plot_highlights_the_front(greff_table):
    fig = pareto_plot(greff_table)
    assert len(fig.axes) == 2
    front = pareto_front(greff_table, cost="n_params")
    highlighted = fig.axes[0].collections[1].get_offsets()
    assert len(highlighted) == len(front)
    assert fig.axes[0].get_xscale() == "log"


def test_learning_curves_and_gap_plot(greff_table, greff_curves, mixed_table):
    fig = learning_curves_plot(greff_curves, greff_table, max_cells=5)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels[:2] == ["lstm", "gru"] and len(labels) == 5
    fig = gap_plot(mixed_table, task="recall")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert {line.get_label() for line in ax.get_lines()} == {"lstm", "gru", "vanilla", "nfg"}
    with pytest.raises(AnalysisError, match=r"hp\.nope"):
        gap_plot(mixed_table, task="recall", gap_column="hp.nope")


def test_figures_leave_no_pyplot_state(greff_table):
    variant_boxplot(greff_table, baseline="gru")
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        assert plt.get_fignums() == []


def test_cell_diagrams_are_optional(greff_table, names, tmp_path, monkeypatch):
    from lstm_search.analysis import diagrams

    cells = ["lstm", names["random-better"]]
    drawer, why = diagrams.cell_drawer()
    drawn, notes = draw_cells(greff_table, cells, tmp_path / "a")
    if drawer is not None:
        assert set(drawn) == set(cells), notes
        assert all(Image.open(p).size[0] > 100 for p in drawn.values())
    else:
        assert drawn == {} and notes == [why]
    # without matplotlib: no files, one reason, no exception
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    drawn, notes = draw_cells(greff_table, cells, tmp_path / "b")
    assert drawn == {} and "not available" in notes[0]


def test_gap_data_per_cell_and_gap_best_or_all(mixed_table):
    """Three trials a point: Greff's best 10% does not apply (it needs at least 3 of at least
    20), so a point is the mean of all three, as with select="all"."""
    recall = mixed_table[mixed_table["task"] == "recall"]
    best = gap_data(mixed_table, task="recall", min_top=2)
    every = gap_data(mixed_table, task="recall", select="all")
    assert len(best) == len(every) == len(tables.RECALL_REACH) * len(tables.RECALL_GAPS)
    assert (best["n"] == 3).all() and (every["n"] == 3).all()
    assert set(best["selection"]) == {"all"}
    row = best[(best["cell"] == "gru") & (best["gap"] == 100)].iloc[0]
    rows = recall[(recall["cell"] == "gru") & (recall["task.gap"] == 100)]
    assert row["mean"] == pytest.approx(rows["test.acc"].mean())
    assert row["sd"] == pytest.approx(rows["test.acc"].std(ddof=1))
    assert sorted(row["values"]) == pytest.approx(sorted(rows["test.acc"]))
    assert best.attrs["select"] == "best" and best.attrs["gap_column"] == "task.gap"


def test_gap_data_takes_greffs_best_10_percent_from_20_trials_a_point(mixed_table):
    recall = mixed_table[mixed_table["task"] == "recall"]
    one = recall[(recall["cell"] == "gru") & (recall["task.gap"] == 100)].iloc[[0]]
    many = pd.concat([one] * 24, ignore_index=True)
    many["objective"] = np.linspace(0.1, 0.9, 24)
    many["test.acc"] = np.linspace(0.2, 0.8, 24)
    many["trial"] = range(24)
    data = gap_data(many, task="recall")
    (row,) = data.itertuples()
    assert row.selection == "best" and row.n == 5  # 10% of 24, at least 5
    assert row.mean == pytest.approx(many.nlargest(5, "objective")["test.acc"].mean())


def test_gap_plot_reads_older_tables_with_the_gap_as_a_hyperparameter(tmp_path):
    tables.write_recall_results(tmp_path, gaps=(10, 50, 200), gap_as="hp")
    df = load_results(tmp_path)
    assert "hp.gap" in df.columns and "task.gap" not in df.columns
    fig = gap_plot(df)
    ax = fig.axes[0]
    assert list(ax.get_lines()[0].get_xdata()) == [10, 50, 200]
    assert ax.get_xlabel().startswith("gap")
    assert len(gap_data(df, gap_column="hp.gap")) == 4 * 3


def test_legends_sit_outside_the_data(greff_table, greff_curves, mixed_table):
    for fig in (learning_curves_plot(greff_curves, greff_table, max_cells=5),
                pareto_plot(mixed_table, task="recall gap=50"),  # accuracy: the front rises
                gap_plot(mixed_table, task="recall")):
        assert all(ax.get_legend() is None for ax in fig.axes)
        assert len(fig.legends) == 1


def test_a_single_trial_baseline_is_drawn_visibly(greff_table):
    lstm = greff_table[(greff_table["cell"] == "lstm") & (greff_table["status"] == "complete")]
    df = greff_table[(greff_table["cell"] != "lstm") | (greff_table.index == lstm.index[0])]
    fig = variant_boxplot(df, baseline="lstm")
    value = lstm["test.nll"].iloc[0]
    position = [t.get_text() for t in fig.axes[-1].get_xticklabels()].index("lstm")
    for ax in fig.axes:
        big = [c for c in ax.collections if len(c.get_offsets()) == 1
               and np.allclose(c.get_offsets()[0], [position, value])
               and c.get_sizes()[0] >= 50]
        assert big, "the one lstm trial has no visible marker"
        assert big[0].get_edgecolor()[0][:3].tolist() == [0, 0, 0]


@pytest.mark.parametrize("maximize", [False, True])
def test_pareto_labels_keep_off_the_step_line(greff_table, mixed_table, maximize):
    fig = (pareto_plot(mixed_table, task="recall gap=50") if maximize
           else pareto_plot(greff_table))
    assert front_labels_on_the_line(fig) == []
    assert sum(len(ax.texts) for ax in fig.axes) >= 2


def test_pareto_labels_clear_a_steep_front():
    # twelve front trials close in cost and far apart in quality: a label right of a point
    # would sit on the next step down
    import pandas as pd

    n = 12
    cost = 1000 + 40 * np.arange(n)
    nll = 10 - 0.4 * np.arange(n)
    df = pd.DataFrame({"task": "t", "cell": [f"cell-{i:02d}abcd" for i in range(n)],
                       "status": "complete", "objective": nll, "objective_name": "nll",
                       "direction": "minimize", "test.nll": nll, "n_params": cost})
    fig = pareto_plot(df, costs=("n_params",))
    assert front_labels_on_the_line(fig) == []
    assert len(fig.axes[0].texts) >= 6


def front_labels_on_the_line(fig) -> list[str]:
    """Front labels whose box a step segment crosses, measured on the drawn figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()
    bad = []
    for ax in fig.axes:
        step = ax.lines[0]
        x, y = np.asarray(step.get_xdata(), float), np.asarray(step.get_ydata(), float)
        corners = np.column_stack([np.repeat(x, 2)[1:], np.repeat(y, 2)[:-1]])  # steps-post
        path = ax.transData.transform(corners)
        dense = np.concatenate([np.linspace(a, b, 60) for a, b in itertools.pairwise(path)])
        for text in ax.texts:
            box = text.get_window_extent(renderer).shrunk(0.96, 0.9)
            if ((dense[:, 0] > box.x0) & (dense[:, 0] < box.x1)
                    & (dense[:, 1] > box.y0) & (dense[:, 1] < box.y1)).any():
                bad.append(text.get_text())
    return bad
