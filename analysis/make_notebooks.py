"""Write the analysis notebooks (outputs stripped) from the cell sources below.

    python analysis/make_notebooks.py

Each notebook reads one results folder, set in its first code cell (tagged "parameters", so
papermill can override it; a relative path is read from the repository root when it is not
found from the notebook's own folder, where Jupyter runs it) or by the environment variable
LSTM_SEARCH_RESULTS, and calls
lstm_search.analysis for every table and figure: the notebooks hold no analysis logic of their
own, so the report command and the notebooks always agree.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

PARAMETERS = ('RESULTS = "results/quickstart"  # a results folder (searched recursively): '
              'absolute, or relative to the repository root')

SETUP = """\
import os

from IPython.display import Markdown, display

from lstm_search import analysis as la
from lstm_search.results import load_curves, load_results

%matplotlib inline

RESULTS = os.environ.get("LSTM_SEARCH_RESULTS", RESULTS)
# Jupyter runs a notebook in its own folder (analysis/): a relative path that is not there is
# read from the repository root (the first folder up with pyproject.toml)
if not os.path.isabs(RESULTS) and not os.path.exists(RESULTS):
    root = os.path.abspath(".")
    while (not os.path.isfile(os.path.join(root, "pyproject.toml"))
           and os.path.dirname(root) != root):
        root = os.path.dirname(root)
    RESULTS = os.path.join(root, RESULTS)
if not os.path.exists(RESULTS):
    raise FileNotFoundError(f"no results folder {RESULTS}: run `lstm-search run quickstart` "
                            "first, or set RESULTS above (or LSTM_SEARCH_RESULTS)")
# one task run at several settings (task.gap ...) becomes one "task" per setting: "recall gap=50"
df = la.with_task_labels(load_results(RESULTS))
curves = load_curves(RESULTS)
tasks = la.task_keys(df) if len(df) else []
print(f"{len(df)} trials, {df['cell'].nunique() if len(df) else 0} cells, tasks: {tasks}")"""


def notebook(title: str, intro: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    params = new_code_cell(PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [new_markdown_cell(f"# {title}\n\n{intro}"), params, new_code_cell(SETUP)]
    for kind, source in cells:
        nb.cells.append(new_markdown_cell(source) if kind == "md" else new_code_cell(source))
    slug = "".join(ch for ch in title.lower() if ch.isalnum())[:12]
    for i, cell in enumerate(nb.cells):  # stable ids: regenerating gives identical files
        cell["id"] = f"{slug}-{i:02d}"
    return nb


VARIANT_COMPARISON = notebook(
    "Variant comparison",
    "Every cell against the baselines (LSTM and GRU by default), with the test the design "
    "calls for: paired on shared settings (Wilcoxon signed-rank) or independent samples "
    "(Mann-Whitney U), Holm-corrected across cells, with an equivalence test against a margin; "
    "Greff et al.'s (2015) Welch test on the best 10% by validation where it applies.",
    [
        ("code", 'BASELINES = ["lstm", "gru"]\nla.summarize(df)'),
        ("md", "## Comparison with the baselines\n\nDifferences and effect sizes are cell "
               "minus baseline; `design` says whether cells were paired on shared settings, "
               "`verdict` (better / worse / equivalent / inconclusive) comes from all trials, "
               "`verdict_tuned` from Greff's best 10% where that keeps 3 of at least 20 "
               "trials."),
        ("code", "present = [b for b in BASELINES if b in set(df['cell'])]\n"
                 "comparison = la.compare_to_baselines(df, present) if present else None\n"
                 "comparison"),
        ("code", "for task in tasks:\n"
                 "    for base in present:\n"
                 "        display(Markdown(f'### {task}: against `{base}`'))\n"
                 "        display(la.variant_boxplot(df, comparison, baseline=base, "
                 "task=task))"),
        ("md", "## Leaderboard"),
        ("code", "la.leaderboard(df)"),
        ("md", "## Learning curves of the best trials"),
        ("code", "for task in tasks:\n"
                 "    if len(curves) and task in set(la.curves_with_cells(curves, df)"
                 "['task']):\n"
                 "        display(la.learning_curves_plot(curves, df, task=task, "
                 "baselines=BASELINES))"),
    ])

SEARCH_OVERVIEW = notebook(
    "Search overview",
    "What a search did: trials per cell and status, what failed and why, the best cells with "
    "their genome ids, and quality against cost (parameters, training time).",
    [
        ("code", "la.summarize(df)"),
        ("md", "## Failed and invalid trials"),
        ("code", "bad = df[df['status'].isin(['failed', 'invalid'])] if len(df) else df\n"
                 "bad.groupby(['status', 'error']).size().rename('trials').to_frame() "
                 "if len(bad) else 'no failed or invalid trials'"),
        ("md", "## Leaderboard"),
        ("code", "la.leaderboard(df, top=10)"),
        ("md", "## Quality against cost"),
        ("code", "for task in tasks:\n"
                 "    display(Markdown(f'### {task}'))\n"
                 "    display(la.pareto_front(df[df['task'] == task], cost='n_params'))\n"
                 "    display(la.pareto_plot(df, task=task))"),
        ("md", "## Accuracy against lag (long-lag recall tasks)"),
        ("md", "Drawn for each task run at more than one gap (`task.gap`, or `hp.gap` in older "
               "tables): per cell and gap, the mean and standard deviation of the best 10% of "
               "trials by validation score."),
        ("code", "for setting, rows in (la.gap_settings(df) if len(df) else []):\n"
                 "    try:\n"
                 "        gap = la.gap_column_of(rows)\n"
                 "    except la.AnalysisError:\n"
                 "        continue  # not a long-lag task\n"
                 "    if la.completed(rows, gap)[gap].nunique() > 1:\n"
                 "        display(la.gap_data(rows, task=setting, gap_column=gap))\n"
                 "        display(la.gap_plot(rows, task=setting, gap_column=gap))"),
    ])

HYPERPARAMETER_IMPORTANCE = notebook(
    "Hyperparameter importance",
    "How much of the variance of the validation objective each hyperparameter explains "
    "(fANOVA, or PED-ANOVA without scikit-learn), per cell and with all cells pooled, and the "
    "metric against each hyperparameter. Greff et al. (2015) found the learning rate by far "
    "the most important.",
    [
        ("code", "importance = la.hyperparameter_importance(df, seed=0)\n"
                 "print(importance.attrs.get('skipped') or 'no group skipped')\n"
                 "importance[importance['cell'] == '(all cells)']"),
        ("code", "for task in tasks:\n"
                 "    if (importance['task'] == task).any():\n"
                 "        display(la.importance_plot(importance, task=task))"),
        ("md", "## Marginal effects\n\nBinned means with 95% confidence intervals (log bins "
               "for log-scale hyperparameters such as the learning rate)."),
        ("code", "marginal = la.marginal_effects(df)\nmarginal"),
        ("code", "for task in tasks:\n"
                 "    display(la.hyperparameter_plot(df, task=task))"),
    ])

NOTEBOOKS = {
    "variant_comparison.ipynb": VARIANT_COMPARISON,
    "search_overview.ipynb": SEARCH_OVERVIEW,
    "hyperparameter_importance.ipynb": HYPERPARAMETER_IMPORTANCE,
}


def main() -> None:
    for name, nb in NOTEBOOKS.items():
        nbformat.validate(nb)
        nbformat.write(nb, HERE / name)
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
