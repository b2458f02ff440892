"""Search throughput: start-up and per-trial overhead, Optuna vs Ray Tune, 1 and 2 workers.

Each measurement runs in a fresh Python process (as ``lstm-search run`` would), through
:func:`lstm_search.search.run_experiment`, and reads the results table:

1. **cold**: the experiment's smoke grid (4 trials) in the new process: imports, Ray's start,
   worker start-up, storage, everything a user waits for;
2. **warm**: then, in the same process, the same search again with ``n_small`` trials and with
   ``n_large`` trials (a wider grid of the same trials). Through Ray the process first starts
   one local Ray instance that both warm searches join (as a search joins a running cluster).

From the two warm searches (wall ``w``, summed training seconds ``T``, ``n`` trials):

- **overhead per trial** = ``(workers * (w_large - w_small) - (T_large - T_small)) /
  (n_large - n_small)``: the worker time a trial costs beyond its training (ask/tell, the
  record's appends and fsyncs, building the model, compiling a new cell);
- **fixed seconds** = ``w_small - n_small * (w_large - w_small) / (n_large - n_small)``: what a
  search costs before and after its trials (storage, workers' start, Ray's trial actors);
- **steady trials/hour** = ``3600 * (n_large - n_small) / (w_large - w_small)``.

The old single figure ``(workers * wall - sum(train)) / trials`` of the cold search is kept as
``cold overhead/trial``: with 4 trials it is mostly start-up.

    python benchmarks/search_throughput.py [--experiments quickstart greff_jsb] [--set K=V]

Writes ``benchmarks/results/<name>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# the wider grid of each experiment's smoke mode: n_large trials of the same kind
WIDE = {"quickstart": ({"space.settings": "5"}, 20),
        "greff_jsb": ({"space.settings": "10"}, 20)}


def _search(experiment: str, backend: str, workers: int, trials: int, out: Path,
            overrides: dict[str, str], num_cpus: int | None) -> dict:
    from lstm_search.results import load_results
    from lstm_search.search import run_experiment

    t0 = time.perf_counter()
    res = run_experiment(experiment, smoke=True, trials=trials, workers=workers,
                         overrides=overrides, backend=backend, out=out, stream=io.StringIO(),
                         num_cpus=num_cpus)
    wall = time.perf_counter() - t0
    df = load_results(res.run_dir)
    return {"trials": len(df), "wall": wall, "train": float(df["train_seconds"].sum()),
            "status": df["status"].value_counts().to_dict()}


def child(args: argparse.Namespace) -> None:
    """One measurement in this (fresh) process; prints one JSON line."""
    t_start = float(args.t_start)
    overrides = json.loads(args.overrides)
    ex, backend, w = args.experiment, args.backend, args.workers
    num_cpus = w if backend == "ray" else None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cold = _search(ex, backend, w, 4, root / "cold", overrides, num_cpus)
        cold_wall = time.time() - t_start  # from the process's launch, imports included
        wide, n_large = WIDE[ex]
        ray_mod = None
        if backend == "ray":
            import ray

            # as the run's own instance does (lstm_search.search._ray_local): workers at
            # niceness 0, not Ray's 15
            os.environ.setdefault("RAY_worker_niceness", "0")
            ray.init(address="local", num_cpus=w, include_dashboard=False, log_to_driver=False,
                     object_store_memory=200 * 1024 * 1024)
            ray_mod = ray
        try:
            small = _search(ex, backend, w, 4, root / "small", overrides, None)
            large = _search(ex, backend, w, n_large, root / "large", {**overrides, **wide},
                            None)
        finally:
            if ray_mod is not None:
                ray_mod.shutdown()
    dn = large["trials"] - small["trials"]
    dw = large["wall"] - small["wall"]
    row = {
        "experiment": ex, "backend": backend, "workers": w,
        "cold_trials": cold["trials"], "cold_wall_seconds": round(cold_wall, 2),
        "cold_overhead_per_trial": round((w * cold_wall - cold["train"]) / cold["trials"], 3),
        "warm_small": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in small.items()},
        "warm_large": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in large.items()},
        "train_seconds_per_trial": round(large["train"] / large["trials"], 3),
        "overhead_per_trial": round((w * dw - (large["train"] - small["train"])) / dn, 3),
        "fixed_seconds": round(small["wall"] - small["trials"] * dw / dn, 2),
        "steady_trials_per_hour": round(3600 * dn / dw, 1),
    }
    print("RESULT " + json.dumps(row), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", nargs="+", default=["quickstart", "greff_jsb"],
                    choices=sorted(WIDE))
    ap.add_argument("--backends", nargs="+", default=["optuna", "ray"])
    ap.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="override on top of the smoke mode (default: train.epochs=4)")
    ap.add_argument("--name", default="search_throughput", help="results file name")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--experiment", help=argparse.SUPPRESS)
    ap.add_argument("--backend", help=argparse.SUPPRESS)
    ap.add_argument("--overrides", help=argparse.SUPPRESS)
    ap.add_argument("--t-start", help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.child:
        args.workers = args.workers[0]
        child(args)
        return
    overrides = dict(item.split("=", 1) for item in (args.sets or ["train.epochs=4"]))
    rows = []
    for ex in args.experiments:
        for backend in args.backends:
            for w in args.workers:
                cmd = [sys.executable, str(Path(__file__).resolve()), "--child",
                       "--experiment", ex, "--backend", backend, "--workers", str(w),
                       "--overrides", json.dumps(overrides), "--t-start", repr(time.time())]
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                if proc.returncode != 0 or not lines:
                    sys.exit(f"{ex} {backend} {w}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
                r = json.loads(lines[-1][len("RESULT "):])
                print(json.dumps(r), flush=True)
                rows.append(r)
    sys.path.insert(0, str(HERE))
    from train_common import machine

    host = machine()
    info = {"rows": rows, "overrides": overrides, "machine": host}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"{args.name}.json").write_text(json.dumps(info, indent=2) + "\n")
    sets = " ".join(f"{k}={v}" for k, v in overrides.items())
    lines = [f"# Search throughput (smoke modes, {sets})", "",
             f"{host['cpu']}, {host['cores']} CPU cores, torch {host['torch']}, "
             f"Python {host['python']}, commit {host['commit']}, "
             f"load at start {host['load_average_at_start'][0]:.2f}", "",
             "Cold: the 4-trial smoke grid in a fresh process (imports and start-up included). "
             "Warm: the same process then runs the grid (4 trials) and a wider one (20); "
             "overhead per trial and fixed seconds come from the difference of the two "
             "(see the script's docstring).", "",
             "| experiment | backend | workers | cold wall s | cold overhead/trial s | "
             "warm fixed s | train s/trial | overhead/trial s | steady trials/hour |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['experiment']} | {r['backend']} | {r['workers']} | "
                     f"{r['cold_wall_seconds']} | {r['cold_overhead_per_trial']} | "
                     f"{r['fixed_seconds']} | {r['train_seconds_per_trial']} | "
                     f"{r['overhead_per_trial']} | {r['steady_trials_per_hour']} |")
    (HERE / "results" / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
