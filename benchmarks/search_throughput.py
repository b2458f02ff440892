"""Search throughput: trials per hour and per-trial overhead, Optuna vs Ray Tune, 1 and 2 workers.

Runs the smoke mode of ``quickstart`` and ``greff_jsb`` with a fixed number of trials through
:func:`lstm_search.search.run_experiment` and reads the results table. Per-trial overhead is the
worker time not spent training: ``(workers * wall - sum(train_seconds)) / trials`` (process
start, imports, data loading, compilation, storage and scheduling).

    python benchmarks/search_throughput.py [--trials 4] [--experiments quickstart greff_jsb]

Writes ``benchmarks/results/search_throughput.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from train_common import machine

from lstm_search.provenance import provenance
from lstm_search.results import load_results
from lstm_search.search import run_experiment

HERE = Path(__file__).resolve().parent


def measure(experiment: str, backend: str, workers: int, trials: int, root: Path,
            overrides: dict[str, str]) -> dict:
    t0 = time.perf_counter()
    out = run_experiment(experiment, smoke=True, trials=trials, workers=workers,
                         overrides=overrides,
                         backend=backend, out=root / f"{backend}-{workers}", stream=io.StringIO(),
                         num_cpus=workers if backend == "ray" else None)
    wall = time.perf_counter() - t0
    df = load_results(out.run_dir)
    train = float(df["train_seconds"].sum())
    return {
        "experiment": experiment, "backend": backend, "workers": workers, "trials": len(df),
        "status": df["status"].value_counts().to_dict(),
        "wall_seconds": round(wall, 2),
        "trials_per_hour": round(len(df) / wall * 3600, 1),
        "mean_train_seconds": round(train / max(1, len(df)), 3),
        "overhead_seconds_per_trial": round((workers * wall - train) / max(1, len(df)), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=4,
                    help="trials per measurement (at most the smoke grid's 4 points)")
    ap.add_argument("--experiments", nargs="+", default=["quickstart", "greff_jsb"])
    ap.add_argument("--backends", nargs="+", default=["optuna", "ray"])
    ap.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="override on top of the smoke mode (e.g. train.epochs=6)")
    ap.add_argument("--name", default="search_throughput", help="results file name")
    args = ap.parse_args()
    overrides = dict(item.split("=", 1) for item in args.sets)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for exp in args.experiments:
            for backend in args.backends:
                for w in args.workers:
                    r = measure(exp, backend, w, args.trials, Path(tmp) / exp, overrides)
                    print(json.dumps(r), flush=True)
                    rows.append(r)
    prov = provenance()
    host = machine()
    info = {"rows": rows, "overrides": overrides, "cpus": os.cpu_count(),
            "machine": host["cpu"] or platform.machine(), "provenance": prov}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"{args.name}.json").write_text(json.dumps(info, indent=2) + "\n")
    lines = [f"# Search throughput (smoke modes{', ' if overrides else ''}"
             f"{' '.join(f'{k}={v}' for k, v in overrides.items())})", "",
             f"{info['machine']}, {os.cpu_count()} CPU cores (shared), "
             f"torch {prov['torch_version']}, commit {prov['git_commit'][:12]}, {prov['time']}", "",
             "| experiment | backend | workers | trials | wall s | trials/hour | "
             "train s/trial | overhead s/trial |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['experiment']} | {r['backend']} | {r['workers']} | {r['trials']} | "
                     f"{r['wall_seconds']} | {r['trials_per_hour']} | "
                     f"{r['mean_train_seconds']} | {r['overhead_seconds_per_trial']} |")
    (HERE / "results" / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
