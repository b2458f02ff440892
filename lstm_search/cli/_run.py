"""``lstm-search run EXPERIMENT``: run or resume a search and say where its results are."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", help="a name in experiments/ (e.g. quickstart) or a path "
                        "to an experiment file; a suite (e.g. seed_systems) runs each of its "
                        "experiments")
    parser.add_argument("--smoke", action="store_true",
                        help="the experiment's smoke mode: little data, few epochs and trials")
    parser.add_argument("--paper", action="store_true",
                        help="the published scale (all the paper's trials and epochs: for a "
                             "cluster); the defaults fit a 2-core machine")
    parser.add_argument("--backend", choices=("optuna", "ray"), default="optuna")
    parser.add_argument("--trials", type=int, help="number of trials (search.trials)")
    parser.add_argument("--workers", type=int,
                        help="parallel trials: worker processes (optuna) or concurrent trials "
                             "(ray)")
    parser.add_argument("--address", help="Ray cluster to join (e.g. 10.0.0.1:6379 or auto); "
                        "default: start Ray locally")
    parser.add_argument("--num-cpus", type=int,
                        help="CPUs of the local Ray instance (default: the workers needed)")
    parser.add_argument("--storage", help="Optuna storage: sqlite:///PATH (default: study.db in "
                        "the run folder), journal:PATH, or a postgresql:// / mysql:// URL")
    parser.add_argument("--out", default="results", help="results root (default: ./results)")
    parser.add_argument("--run", help="run folder name (default: a UTC time stamp)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run (--run, else the latest) keeping recorded trials")
    parser.add_argument("--force", action="store_true",
                        help="with --resume: continue even though the settings differ from "
                             "the run's run.json (the change is recorded there)")
    parser.add_argument("--retry-failed", action="store_true",
                        help="with --resume: run the point of every failed trial again (the "
                             "failed row stays, superseded by the retry's row)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. --set train.lr=0.5 (repeatable)")
    parser.add_argument("--seed", type=int, help="the experiment's seed")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="folder holding the corpora (ptb/, music/ ...) for the task and "
                             "every stage (default: $LSTM_SEARCH_DATA, else ./data)")


def run(args: argparse.Namespace) -> int:
    from lstm_search.config import ConfigError, parse_assignments
    from lstm_search.experiment import ExperimentError

    if args.backend == "ray" and importlib.util.find_spec("ray") is None:
        print(_NO_RAY, file=sys.stderr)
        return 2
    if args.backend == "ray" and args.address == "auto":
        problem = _no_ray_cluster()
        if problem:
            print(problem, file=sys.stderr)
            return 2
    from lstm_search.suite import is_suite

    if is_suite(args.experiment):
        return _run_suite(args)
    try:
        overrides = parse_assignments(args.sets)
        from lstm_search.search import run_experiment

        outcome = run_experiment(
            args.experiment, smoke=args.smoke, paper=args.paper, overrides=overrides,
            backend=args.backend,
            trials=args.trials, workers=args.workers, seed=args.seed, out=args.out,
            run=args.run, resume=args.resume, force=args.force,
            retry_failed=args.retry_failed, storage=args.storage, address=args.address,
            num_cpus=args.num_cpus, data_dir=args.data_dir)
    except (ExperimentError, ConfigError) as e:
        print(f"lstm-search run: error: {e}", file=sys.stderr)
        return 2
    except ConnectionError as e:  # ray.init(address=...) with no cluster there
        first = (str(e).strip().splitlines() or [""])[0]
        where = f" --address {args.address}" if args.address else ""
        print(f"lstm-search run: error: cannot connect to the Ray cluster{where}: {first}\n"
              f"{_RAY_HINT}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # run_experiment printed the command that resumes the run
        return 130
    _summary(outcome.run_dir)
    print(outcome.run_dir)
    if outcome.all_failed:
        print(f"lstm-search run: error: every trial failed ({outcome.summary.done} of "
              f"{outcome.summary.done}); the first: {outcome.first_error() or 'no error text'}",
              file=sys.stderr)
        return 1
    return 0


def _run_suite(args: argparse.Namespace) -> int:
    """``lstm-search run SUITE``: every part in turn, then each part's cells and the report
    command of the suite."""
    import shlex

    from lstm_search.config import ConfigError, parse_assignments
    from lstm_search.experiment import ExperimentError

    if args.trials is not None:
        print("lstm-search run: error: --trials does not apply to a suite (each part runs its "
              "own grid); set a part's trials in its experiment file", file=sys.stderr)
        return 2
    try:
        from lstm_search.search import run_suite

        outcome = run_suite(
            args.experiment, smoke=args.smoke, paper=args.paper,
            overrides=parse_assignments(args.sets), backend=args.backend,
            workers=args.workers, seed=args.seed, out=args.out, run=args.run,
            resume=args.resume, force=args.force, retry_failed=args.retry_failed,
            storage=args.storage, address=args.address, num_cpus=args.num_cpus,
            data_dir=args.data_dir)
    except (ExperimentError, ConfigError) as e:
        print(f"lstm-search run: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # run_suite printed the command that resumes the suite
        return 130
    from lstm_search.analysis.runs import cell_lines, format_cells, run_info

    failed = []
    for part in outcome.parts:
        print(f"{part.experiment.name}:")
        lines = cell_lines(part.run_dir)
        if lines:
            print(format_cells(lines, run_info(part.run_dir).objective_name))
        if part.all_failed:
            failed.append(part.experiment.name)
    print(f"next: lstm-search report {shlex.quote(str(outcome.suite_dir))}   (writes "
          f"{outcome.suite_dir / 'report' / 'report.html'} and each part's report)")
    print(outcome.suite_dir)
    if failed:
        print(f"lstm-search run: error: every trial failed in {', '.join(failed)}",
              file=sys.stderr)
        return 1
    return 0


def _summary(run_dir: Path) -> None:
    """Per cell: trials, best and median validation objective; then the report command."""
    import shlex

    from lstm_search.analysis.runs import cell_lines, format_cells, run_info

    lines = cell_lines(run_dir)
    if lines:
        print(format_cells(lines, run_info(run_dir).objective_name))
    print(f"next: lstm-search report {shlex.quote(str(run_dir))}   (writes "
          f"{run_dir / 'report' / 'report.html'})")


_NO_RAY = ("lstm-search run: error: --backend ray needs Ray Tune, which is not installed\n"
           "install it with: pip install 'lstm-search[ray]' (bash scripts/setup.sh does)")
_RAY_HINT = ("start one with `ray start --head`, give its address (--address HOST:6379), or "
             "leave --address out: run then starts Ray on this machine")


def _no_ray_cluster() -> str | None:
    """The two-line error for ``--address auto`` when no Ray cluster runs here (none started
    with ``ray start``, ``RAY_ADDRESS`` unset), found before anything is written; None when one
    is found or Ray cannot say (then ``ray.init`` decides)."""
    try:
        from ray._private.services import canonicalize_bootstrap_address
    except ImportError:
        return _NO_RAY
    try:
        canonicalize_bootstrap_address("auto")
    except ConnectionError:
        return ("lstm-search run: error: --address auto: no running Ray cluster found on this "
                f"machine (nothing started with `ray start`, RAY_ADDRESS unset)\n{_RAY_HINT}")
    except Exception:  # an internal API that changed: leave it to ray.init
        return None
    return None
