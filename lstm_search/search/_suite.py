"""Run a suite (:mod:`lstm_search.suite`): its experiments one after the other, each an ordinary
run folder under the suite's, every problem with any part reported before the first trial."""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from lstm_search.config import ConfigError, check_path_name
from lstm_search.experiment import Experiment, ExperimentError, find_experiment, load_experiment
from lstm_search.provenance import provenance
from lstm_search.results import RUN_FILE, json_ready
from lstm_search.search._run import (
    RunOutcome,
    _check_before_writing,
    _command_sets,
    _data_dir_sets,
    _data_dirs,
    run_experiment,
)
from lstm_search.suite import SUITE_FILE, SUITE_FORMAT, Suite, load_suite, read_suite_record


@dataclass(frozen=True)
class SuiteOutcome:
    """A suite run: its folder and each part's outcome, in the suite's order."""

    suite_dir: Path
    suite: Suite
    parts: tuple[RunOutcome, ...]


def _resolve_parts(suite: Suite, *, smoke: bool, paper: bool, overrides: Mapping[str, Any],
                   workers: int | None, seed: int | None, data_dir: str | Path | None,
                   backend: str, storage: str | None, resume: bool,
                   retry_failed: bool) -> list[Experiment]:
    """Each part's resolved experiment, checked as ``run_experiment`` would check it (paper
    scale, overrides, task, cells, data, backend, storage) so that a problem in the last part
    stops the suite before the first part runs. Errors name the part."""
    exps = []
    for part in suite.parts:
        where = f"suite {suite.name!r}, part {part.experiment!r}"
        try:
            path = find_experiment(part.experiment)
            sets = _command_sets(path, overrides, trials=None, workers=workers, seed=seed,
                                 paper=paper, smoke=smoke)
            if data_dir is not None:
                sets = {**_data_dir_sets(path, data_dir), **sets}
            exp = load_experiment(path, smoke=smoke, overrides=sets)
            cells = tuple(getattr(exp.space, "cells", ()) or ())
            missing = [b for b in part.baselines + part.cells if b not in cells]
            if not cells or missing:
                raise ExperimentError(
                    f"{', '.join(missing or part.baselines)} not among the cells of the "
                    f"experiment's space {exp.space.name!r} (cells: "
                    f"{', '.join(cells) or 'none: not a list of cells'})")
            _check_before_writing(exp, backend, explicit_storage=storage, storage=storage,
                                  resume=resume, retry_failed=retry_failed)
            _data_dirs(exp)
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
        except ExperimentError as e:
            raise ExperimentError(f"{where}: {e}") from None
        exps.append(exp)
    names = [e.name for e in exps]
    if len(set(names)) != len(names):
        raise ExperimentError(f"suite {suite.name!r}: two parts are the same experiment "
                              f"({', '.join(names)})")
    return exps


def _suite_run(suite_root: Path, run: str | None, *, resume: bool, smoke: bool,
               paper: bool) -> str:
    """The suite run's name: ``--run``; on resume without it, the latest suite run."""
    if run is not None:
        check_path_name(run, "--run")
    if resume:
        if run is None:
            runs = sorted((p for p in suite_root.glob(f"*/{SUITE_FILE}")),
                          key=lambda p: p.stat().st_mtime)
            if not runs:
                raise ExperimentError(f"--resume: no suite run under {suite_root}")
            run = runs[-1].parent.name
        if not (suite_root / run / SUITE_FILE).is_file():
            raise ExperimentError(f"--resume: {suite_root / run} is not a suite run (no "
                                  f"{SUITE_FILE})")
        return run
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    run = run or (f"smoke-{stamp}" if smoke else f"paper-{stamp}" if paper else stamp)
    if (suite_root / run / SUITE_FILE).exists():
        raise ExperimentError(f"suite run folder {suite_root / run} exists; pass --resume to "
                              "continue it or choose another --run")
    return run


def _write_record(suite_dir: Path, suite: Suite, exps: list[Experiment], *, run: str,
                  mode: str, sets: Mapping[str, Any], backend: str, resume: bool,
                  force: bool) -> None:
    """``suite.json``: the suite, its mode and overrides, each part's folder and baselines,
    provenance; on resume the earlier record is kept and the resumption appended (a change of
    mode or overrides refused unless ``force``)."""
    path = suite_dir / SUITE_FILE
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    parts = [{"experiment": exp.name, "declared": part.experiment,
              "cells": list(part.cells or tuple(exp.space.cells)[:1]),
              "baselines": list(part.baselines), "run_dir": f"{exp.name}/{run}"}
             for part, exp in zip(suite.parts, exps, strict=True)]
    record: dict[str, Any]
    if resume:
        try:
            record = read_suite_record(suite_dir)
        except ValueError as e:
            raise ExperimentError(str(e)) from None
        was = (record.get("mode"), record.get("sets"))
        now_is = (mode, json_ready(dict(sets)))
        if was != now_is and not force:
            raise ExperimentError(
                f"--resume: suite run {suite_dir} was started with mode {was[0]!r} and "
                f"--set {was[1]!r}; this command gives mode {now_is[0]!r} and --set "
                f"{now_is[1]!r} (repeat the original options, or --force)")
        record.setdefault("resumed", []).append({"time": now, "mode": mode,
                                                 "sets": json_ready(dict(sets)),
                                                 "forced": was != now_is})
        record["parts"] = parts
    else:
        record = {"format": SUITE_FORMAT, "suite": suite.name, "description": suite.description,
                  "run": run, "mode": mode, "sets": json_ready(dict(sets)), "backend": backend,
                  "started": now, "parts": parts, "provenance": json_ready(provenance()),
                  "invocation": json_ready(sys.argv)}
    suite_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{SUITE_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def run_suite(
    suite: str | Path,
    *,
    smoke: bool = False,
    paper: bool = False,
    overrides: Mapping[str, Any] | None = None,
    backend: str = "optuna",
    workers: int | None = None,
    seed: int | None = None,
    out: str | Path = "results",
    run: str | None = None,
    resume: bool = False,
    force: bool = False,
    retry_failed: bool = False,
    storage: str | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    data_dir: str | Path | None = None,
    stream: TextIO | None = None,
) -> SuiteOutcome:
    """Run (or resume) every part of ``suite`` (a suite file's name in ``experiments/`` or its
    path) into ``OUT/<suite>/<RUN>/<experiment>/<RUN>``.

    The mode (``smoke``/``paper``), ``overrides`` (``--set``), ``workers``, ``seed``,
    ``data_dir``, backend and storage apply to every part; each part is a run of
    :func:`~lstm_search.search.run_experiment` (its own study ``<experiment>/<RUN>``, record
    check and resume). Every part is resolved and checked first: a bad override, a missing
    dataset or a baseline missing from a part's space raises before anything is written.
    ``resume`` continues the suite run (``run``, else the latest): parts already recorded are
    resumed (a complete one adds nothing), the others started.
    """
    stream = stream or sys.stderr
    loaded = load_suite(suite)
    sets = dict(overrides or {})
    if smoke and paper:
        raise ExperimentError("--smoke and --paper exclude each other")
    suite_root = Path(out) / loaded.name
    run = _suite_run(suite_root, run, resume=resume, smoke=smoke, paper=paper)
    suite_dir = suite_root / run
    if resume and not (sets or smoke or paper):  # resumed as recorded
        try:
            record = read_suite_record(suite_dir)
        except ValueError as e:
            raise ExperimentError(str(e)) from None
        smoke, paper = record.get("mode") == "smoke", record.get("mode") == "paper"
        sets = dict(record.get("sets") or {})
    exps = _resolve_parts(loaded, smoke=smoke, paper=paper, overrides=sets, workers=workers,
                          seed=seed, data_dir=data_dir, backend=backend, storage=storage,
                          resume=resume, retry_failed=retry_failed)
    mode = "smoke" if smoke else "paper" if paper else "default"
    _write_record(suite_dir, loaded, exps, run=run, mode=mode, sets=sets, backend=backend,
                  resume=resume, force=force)
    outcomes = []
    for k, (part, exp) in enumerate(zip(loaded.parts, exps, strict=True), 1):
        part_resume = resume and (suite_dir / exp.name / run / RUN_FILE).is_file()
        print(f"lstm-search: suite {loaded.name} run {run}: part {k} of {len(exps)}: "
              f"{exp.name}", file=stream, flush=True)
        try:
            outcomes.append(run_experiment(
                part.experiment, smoke=smoke, paper=paper, overrides=sets, backend=backend,
                workers=workers, seed=seed, out=suite_dir, run=run, resume=part_resume,
                force=force, retry_failed=retry_failed and part_resume, storage=storage,
                address=address, num_cpus=num_cpus, data_dir=data_dir, stream=stream))
        except KeyboardInterrupt:
            print(f"lstm-search run: suite {loaded.name} interrupted in part {k} "
                  f"({exp.name}); continue every part with:\n  "
                  f"{suite_resume_command(suite, backend=backend, out=out, run=run)}",
                  file=stream, flush=True)
            raise
    return SuiteOutcome(suite_dir=suite_dir, suite=loaded, parts=tuple(outcomes))


def suite_resume_command(suite: str | Path, *, backend: str, out: str | Path,
                         run: str) -> str:
    """The command that resumes a suite run (its mode and ``--set`` values come from
    ``suite.json``, each part's settings from its ``run.json``)."""
    args = ["lstm-search", "run", str(suite)]
    if backend != "optuna":
        args += ["--backend", backend]
    args += ["--out", str(out), "--run", run, "--resume"]
    return shlex.join(args)


__all__ = ["SuiteOutcome", "run_suite", "suite_resume_command"]
