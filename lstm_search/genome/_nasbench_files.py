"""Read NAS-Bench-NLP recipes from files and write their genomes (``lstm-search import
nasbench``).

A source is a JSON file or a folder of them (searched recursively, in sorted order). A file
holds one recipe (an object ``node -> {"op", "input"}``), a list of recipes (the benchmark's
``recepies_example.json``; entries may be JSON text), or one training log of the benchmark
(``log_stats_model_*.json``: the recipe is its ``recepie`` field, JSON text; its
``num_params``, ``emsize``, ``nhid``, ``nlayers``, ``tied`` and ``status`` are kept).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lstm_search.genome._nasbench import import_nasbench_nlp, nasbench_cell_params
from lstm_search.genome._validate import GenomeError, n_params

_LOG_KEYS = ("num_params", "emsize", "nhid", "nlayers", "tied", "status")


@dataclass(frozen=True)
class RecipeSource:
    """One recipe and where it came from (``label``: file stem, ``_k`` for list entry k)."""

    label: str
    where: str
    recipe: Any
    log: Mapping[str, Any] = field(default_factory=dict)


def _is_recipe(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(
        isinstance(v, Mapping) and "op" in v for v in obj.values())


def read_recipes(path: str | Path) -> tuple[list[RecipeSource], list[str]]:
    """Every recipe under ``path`` and the problems met reading it (unreadable files, JSON
    that holds no recipe), each naming the file."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*.json") if p.is_file()) if path.is_dir() else [path]
    if path.is_dir() and not files:
        return [], [f"{path}: no .json files in this folder"]
    found: list[RecipeSource] = []
    problems: list[str] = []
    for f in files:
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except OSError as e:
            problems.append(f"{f}: cannot read: {e.strerror or e}")
            continue
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            problems.append(f"{f}: not a JSON file: {e}")
            continue
        stem = f.stem
        if isinstance(data, list):
            for k, r in enumerate(data):
                found.append(RecipeSource(f"{stem}_{k}", f"{f} [{k}]", r))
        elif isinstance(data, Mapping) and "recepie" in data:
            log = {k: data[k] for k in _LOG_KEYS if k in data}
            found.append(RecipeSource(stem, str(f), data["recepie"], log))
        elif _is_recipe(data):
            found.append(RecipeSource(stem, str(f), data))
        else:
            problems.append(f"{f}: holds no recipe (expected a recipe object, a list of "
                            "recipes, or a benchmark log with a 'recepie' field)")
    return found, problems


@dataclass
class ImportReport:
    """What :func:`import_recipes` did: one manifest row per imported recipe, one line per
    recipe refused (with every problem) or file unreadable."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


def import_recipes(source: str | Path, out_dir: str | Path, *, input_size: int = 400,
                   hidden_size: int = 600) -> ImportReport:
    """Import every recipe under ``source``; write ``<label>.json`` genome files and
    ``manifest.json`` (label, source, genome file, genome_id, the genome's parameter count and
    the benchmark's at ``input_size`` × ``hidden_size``, and the log's fields) to ``out_dir``."""
    from lstm_search.genome._canonical import genome_id

    recipes, report_unreadable = read_recipes(source)
    report = ImportReport(unreadable=report_unreadable)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for src in recipes:
        try:
            g = import_nasbench_nlp(src.recipe, name=src.label)
        except GenomeError as e:
            report.refused.append(f"{src.where}: " + "; ".join(str(p) for p in e.problems))
            continue
        except (TypeError, ValueError) as e:  # malformed JSON text of a log's recipe
            report.refused.append(f"{src.where}: {e}")
            continue
        (out / f"{src.label}.json").write_text(g.to_json() + "\n", encoding="utf-8")
        report.rows.append({
            "label": src.label, "source": src.where, "file": f"{src.label}.json",
            "genome_id": genome_id(g), "states": list(g.states),
            "cell_params": n_params(g, input_size, hidden_size),
            "benchmark_cell_params": nasbench_cell_params(src.recipe, input_size, hidden_size),
            "sizes": [input_size, hidden_size], **src.log,
        })
    (out / "manifest.json").write_text(json.dumps(report.rows, indent=1) + "\n",
                                       encoding="utf-8")
    return report
