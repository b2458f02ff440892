"""An evolutionary run's candidates, scored against the GRU's final best results.

A trial's recorded fitness (``fitness.min`` in the results table) is relative to the GRU
reference of its time, which improves as the seed GRU is tuned; this script rescores every
completed trial from its per-stage results (``stage.<task>``) against the final references, as
the search ranks its population (:meth:`lstm_search.search.evolution.Evolution.fitness`), and
writes the table as markdown.

    python benchmarks/evolution_fitness.py benchmarks/reproductions/jozefowicz/cpu-2core
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import optuna

from lstm_search.experiment import load_experiment
from lstm_search.search._storage import make_storage
from lstm_search.search.evolution import Evolution


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if abs(value) >= 1e4:
        return f"{value:.2g}"
    return f"{value:.{digits}f}"


def table(run_dir: Path) -> str:
    run = json.loads((run_dir / "run.json").read_text())
    inv = run.get("invocation", {})
    # the run's declaration and settings, as --resume rebuilds them
    overrides = {k: v for k, v in inv.get("overrides", {}).items() if k != "task.data_dir"}
    exp = load_experiment(run["experiment"]["name"], smoke=bool(inv.get("smoke")),
                          overrides=overrides)
    study_name = f"{exp.name}/{run_dir.name}"
    study = optuna.load_study(study_name=study_name,
                              storage=make_storage(f"sqlite:///{run_dir / 'study.db'}"))
    evolution = Evolution(exp, study, seed=exp.seed)
    refs = evolution.references()
    tasks = [s.task.name for s in exp.stages] + [exp.task.name]
    head = ["trial", "cell", "step", "parent", "lr", *tasks, "recorded fitness",
            "fitness now"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for t in sorted(study.trials, key=lambda t: t.number):
        if "genome" not in t.user_attrs:
            continue
        stages = json.loads(t.user_attrs.get("stages", "{}"))
        done = t.state == optuna.trial.TrialState.COMPLETE
        cells = [_fmt(stages[k][0]) if k in stages else "" for k in tasks]
        lines.append("| " + " | ".join([
            str(t.number), t.user_attrs.get("cell", ""), t.user_attrs.get("step", ""),
            t.user_attrs.get("parent_id", "")[:8], _fmt(t.params.get("lr")), *cells,
            _fmt(t.values[0]) if done else t.state.name.lower(),
            _fmt(evolution.fitness(t, refs)) if done else ""]) + " |")
    ref_text = ", ".join(f"{k} {_fmt(v)}" for k, v in refs.items())
    return (f"# Evolutionary search `{study_name}`: candidates against the GRU's best\n\n"
            f"GRU references (best over its trials): {ref_text}. Stage columns: each "
            f"task's objective (accuracy; PTB: validation perplexity), empty where the "
            f"candidate stopped before it. Fitness: min over reached stages of result / GRU "
            f"(perplexity: GRU / result).\n\n" + "\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, help="markdown file (default: beside the run)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    text = table(args.run_dir)
    out = args.out or args.run_dir / "fitness.md"
    out.write_text(text)
    print(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
