"""Kill/resume chaos: does the record hold when the driver is killed or interrupted at random?

For each storage (SQLite, journal file) and worker count (1, 2): a 12-point grid (3 cells x 4
learning rates) with a stand-in evaluate (metrics a fixed function of the point, 0.3 s a trial
per worker), the driver SIGKILLed (its workers die with it) or sent SIGINT (the whole process
group, as Ctrl-C does) at seeded random moments ``--cycles`` times, ``--resume`` after each,
then ``--resume`` until done; plus ``lstm-search run`` itself with real 1-epoch trials.
Each final table is compared with an uninterrupted run of the same grid:

- rows lost: rows seen after one interruption and missing after a later one, plus reference
  points with no row at the end;
- duplicated: trial numbers with more than one row, plus grid points evaluated more than once;
- points missing: grid points never evaluated; metrics differing from the uninterrupted run;
- problems: what ``check_run`` and ``check_study`` report (table and study disagreeing).

    python benchmarks/chaos.py [--cycles 5] [--no-real]

Writes ``benchmarks/results/chaos.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "search"))

from search_helpers import (  # noqa: E402  (the test helpers drive the runs)
    GRID_SPACE,
    chaos,
    drive,
    grid_experiment,
    points,
    rows,
    run_command,
    write_experiment,
)
from train_common import machine  # noqa: E402

from lstm_search.results import check_run  # noqa: E402
from lstm_search.search._optuna import check_study  # noqa: E402


def _finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"uninterrupted run failed: {err.decode()[-2000:]}")


def measure(root: Path, *, storage: str, workers: int, cycles: int, seed: int,
            real: bool) -> dict:
    folder = root / f"{'real' if real else 'fake'}-{storage}-{workers}"
    folder.mkdir(parents=True)
    if real:
        path = write_experiment(folder, "real12", space=GRID_SPACE,
                                search='trials=12, sampler="grid"')
        ref = run_command(path, folder / "results", "reference", "--workers", str(workers),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    else:
        path = grid_experiment(folder)
        ref = drive(path, folder / "results", "reference", stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE)
    _finish(ref)
    reference = folder / "results" / path.stem / "reference"
    url = (f"sqlite:///{folder / 'study.db'}" if storage == "sqlite"
           else f"journal:{folder / 'study.log'}")
    t0 = time.perf_counter()
    record = chaos(path, folder / "results", "c", workers=workers, kills=cycles, seed=seed,
                   storage=url, real=real, seconds=0.5 if real else 0.3 * workers)
    wall = time.perf_counter() - t0
    run_dir = folder / "results" / path.stem / "c"
    table = rows(run_dir)
    by_trial = Counter(r["trial"] for r in table)
    got, want = Counter(points(run_dir)), Counter(points(reference))
    by_point = Counter((r["cell"], json.dumps(r["hparams"], sort_keys=True), r["seed"])
                       for r in table)
    problems = check_run(run_dir) + check_study(run_dir, url, f"{path.stem}/c")
    return {
        "trials": "real 1-epoch (lstm-search run)" if real else f"stand-in, {0.3 * workers:.1f} s",
        "storage": storage, "workers": workers, "cycles": len(record),
        "signals": " ".join(c["signal"] for c in record),
        # interruptions that hit a running search (the others came after it had ended)
        "mid_run": sum(c["exit"] != 0 and c["rows_at_signal"] < 12 for c in record),
        "rows_at_signal": [c["rows_at_signal"] for c in record],
        "rows": len(table),
        "rows_lost": sum(c["lost"] for c in record) + sum((want - got).values()),
        "duplicated": sum(n - 1 for n in by_trial.values() if n > 1)
        + sum(n - 1 for n in by_point.values() if n > 1),
        "points_missing": len(set(want) - set(got)),
        "equal_to_uninterrupted": got == want,
        "problems": problems, "wall_s": round(wall, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cycles", type=int, default=5)
    p.add_argument("--no-real", action="store_true", help="skip the real-trials run")
    args = p.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        configs = [(s, w, False) for s in ("sqlite", "journal") for w in (1, 2)]
        if not args.no_real:
            configs.append(("sqlite", 2, True))
        for i, (storage, workers, real) in enumerate(configs):
            r = measure(Path(tmp), storage=storage, workers=workers, cycles=args.cycles,
                        seed=100 + i, real=real)
            print(json.dumps(r), flush=True)
            results.append(r)
    out = HERE / "results"
    info = {"machine": machine(), "cycles": args.cycles, "results": results}
    (out / "chaos.json").write_text(json.dumps(info, indent=2) + "\n")
    lines = [
        "# Kill/resume chaos: the record after random interruptions",
        "",
        f"`python benchmarks/chaos.py --cycles {args.cycles}` on {info['machine']['cpu']} "
        f"(commit {info['machine']['commit']}, torch {info['machine']['torch']}). "
        "A 12-point grid, the driver SIGKILLed or sent SIGINT (alternately) at seeded random "
        "moments, `--resume` after each, then `--resume` to the end; compared with an "
        "uninterrupted run (see the script's docstring for each column).",
        "",
        "| trials | storage | workers | cycles | mid-run interruptions | signals | "
        "rows at each signal | rows | rows lost | duplicated | points missing | "
        "equal to uninterrupted | problems | wall s |",
        "|---|---|---:|---:|---:|---|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['trials']} | {r['storage']} | {r['workers']} | {r['cycles']} | "
            f"{r['mid_run']} | {r['signals']} | "
            f"{' '.join(map(str, r['rows_at_signal']))} | {r['rows']} | "
            f"{r['rows_lost']} | {r['duplicated']} | {r['points_missing']} | "
            f"{'yes' if r['equal_to_uninterrupted'] else 'NO'} | {len(r['problems'])} | "
            f"{r['wall_s']} |")
    (out / "chaos.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
