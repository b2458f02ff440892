"""Figures: structure of each figure, significance marks, log axes, and no global state."""

from __future__ import annotations

import io
import sys

import pytest
from PIL import Image

from lstm_search.analysis import (
    AnalysisError,
    compare_to_baselines,
    draw_cells,
    figure_png,
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
    for panel, pcol in ((axes[0], "mwu_p_holm"), (axes[1], "welch_p_holm")):
        marks = {t.get_position()[0]: t.get_text() for t in panel.texts if "*" in t.get_text()
                 or t.get_text() == ""}
        for i, cell in enumerate(order):
            if cell == "lstm":
                continue
            assert marks.get(i, "") == stars(comp.loc[cell, pcol]), cell
    assert stars(comp.loc["noaf", "welch_p_holm"]) != ""
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
    # without the drawing module: no files, one reason, no exception
    real = diagrams.importlib.import_module

    def missing(name, *a):
        if name == "lstm_search.genome.draw":
            raise ImportError("no drawing here")
        return real(name, *a)

    monkeypatch.setattr(diagrams.importlib, "import_module", missing)
    drawn, notes = draw_cells(greff_table, cells, tmp_path / "b")
    assert drawn == {} and "not available" in notes[0]
