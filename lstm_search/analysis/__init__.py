"""Analysis of results tables: summaries, statistics against baselines, importance, figures,
reports.

Everything takes the pandas DataFrame of :func:`lstm_search.results.load_results` (and of
:func:`~lstm_search.results.load_curves`) and returns DataFrames or matplotlib figures; nothing
here needs torch or a model. Tasks are analysed per setting: the task options recorded with a
trial (``task.gap`` ...) that vary within a task label its rows (:func:`task_labels`).
seaborn, matplotlib, optuna and scipy are imported only by the functions that use them.

Modules: :mod:`.summary` (per-cell table), :mod:`.design` (paired or independent samples),
:mod:`.stats` (tests that fit the design, equivalence, effect sizes, Holm),
:mod:`.importance` (fANOVA / PED-ANOVA, marginal effects), :mod:`.pareto` (fronts,
leaderboard), :mod:`.plots` and :mod:`.curves` (figures), :mod:`.diagrams` (cell drawings),
:mod:`.report` (Markdown / HTML / CSV report), :mod:`.suite_report` (a suite's parts side by
side).
"""

from lstm_search.analysis._output import default_report_dir, prepare_report_dir
from lstm_search.analysis._style import figure_png
from lstm_search.analysis._table import (
    AnalysisError,
    best_trials,
    completed,
    default_metric,
    metric_columns,
    metric_direction,
    task_groups,
    task_keys,
    task_labels,
    with_task_labels,
)
from lstm_search.analysis.curves import (
    curves_with_cells,
    gap_column_of,
    gap_data,
    gap_plot,
    gap_settings,
    learning_curve_data,
    learning_curves_plot,
)
from lstm_search.analysis.design import Design, detect_design
from lstm_search.analysis.diagrams import draw_cells
from lstm_search.analysis.importance import (
    build_study,
    hyperparameter_importance,
    infer_distributions,
    marginal_effects,
    recorded_distribution,
    variance_shares,
)
from lstm_search.analysis.pareto import leaderboard, pareto_front, pareto_mask
from lstm_search.analysis.plots import (
    hyperparameter_plot,
    importance_plot,
    pareto_plot,
    variant_boxplot,
)
from lstm_search.analysis.report import ReportFiles, build_report, write_report
from lstm_search.analysis.stats import (
    bootstrap_median_diff,
    cliffs_delta,
    cohens_d,
    compare_to_baselines,
    holm,
    minimum_detectable_effect,
    tost,
)
from lstm_search.analysis.suite_report import SuiteReportFiles, write_suite_report
from lstm_search.analysis.summary import summarize

__all__ = [
    "AnalysisError",
    "Design",
    "ReportFiles",
    "SuiteReportFiles",
    "best_trials",
    "bootstrap_median_diff",
    "build_report",
    "build_study",
    "cliffs_delta",
    "cohens_d",
    "compare_to_baselines",
    "completed",
    "curves_with_cells",
    "default_metric",
    "default_report_dir",
    "detect_design",
    "draw_cells",
    "figure_png",
    "gap_column_of",
    "gap_data",
    "gap_plot",
    "gap_settings",
    "holm",
    "hyperparameter_importance",
    "hyperparameter_plot",
    "importance_plot",
    "infer_distributions",
    "leaderboard",
    "learning_curve_data",
    "learning_curves_plot",
    "marginal_effects",
    "metric_columns",
    "metric_direction",
    "minimum_detectable_effect",
    "pareto_front",
    "pareto_mask",
    "pareto_plot",
    "prepare_report_dir",
    "recorded_distribution",
    "summarize",
    "task_groups",
    "task_keys",
    "task_labels",
    "tost",
    "variance_shares",
    "variant_boxplot",
    "with_task_labels",
    "write_report",
    "write_suite_report",
]
