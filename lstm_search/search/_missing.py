"""The points of a grid search that its table does not hold yet: the record decides what a
resumed grid runs, never a search library's saved state.

A grid run evaluates a fixed list of points (:func:`grid_plan`: the grid's points in an order
shuffled by the experiment's seed, repeated when the budget exceeds the grid). A point and a
row are matched by what the row records of the trial (canonical cell, hyperparameters, seed,
task and its options; the identity equal cells are reused by), so rows written by any backend,
reused rows and failed rows all count, and :func:`missing_points` is the list minus the table,
as a multiset: after any interruption the points run exactly as often as in an uninterrupted
run.
"""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from lstm_search.experiment import Experiment
from lstm_search.results import TrialResult


def grid_plan(exp: Experiment) -> list[dict[str, Any]]:
    """The ``search.trials`` points a grid experiment evaluates (its space's ``grid()``)."""
    from lstm_search.search._storage import grid_points

    grid = grid_points(exp)
    names = sorted(grid)
    points = [dict(zip(names, values, strict=True))
              for values in itertools.product(*(grid[n] for n in names))]
    random.Random(f"lstm-search-grid:{exp.seed}").shuffle(points)
    return [points[i % len(points)] for i in range(exp.search.trials)] if points else []


def _key(genome_id: str, hparams: Mapping[str, Any], seed: Any, task: str,
         options: Mapping[str, Any] | None) -> str:
    from lstm_search.search._dedup import result_key

    # as the row stores them: through JSON
    hp = json.loads(json.dumps(dict(hparams), sort_keys=True, default=str))
    opts = json.loads(json.dumps(dict(options or {}), sort_keys=True, default=str))
    return result_key(genome_id, hp, int(seed), task, opts)


def point_key(exp: Experiment, params: Mapping[str, Any]) -> str | None:
    """The identity a trial of ``params`` records in its row (None if the point cannot be
    built: it then matches no row and counts as missing)."""
    from lstm_search.genome import genome_id, validate
    from lstm_search.search._strategy import strategy_of
    from lstm_search.search._trial import resolve

    strategy = strategy_of(exp)
    try:
        cand = resolve(exp, exp.space.build(dict(params)))
        gid = "" if validate(cand.genome) else genome_id(cand.genome)
        return _key(gid, cand.hparams, cand.seed, strategy.task_label(exp),
                    strategy.row_task_options(cand))
    except Exception:
        return None


def row_key(row: TrialResult) -> str:
    """The identity of the trial ``row`` records (see :func:`point_key`)."""
    return _key(row.genome_id, row.hparams, row.seed, row.task, row.task_options)


def missing_points(exp: Experiment, rows: Iterable[TrialResult]) -> list[dict[str, Any]]:
    """The points of :func:`grid_plan` that ``rows`` do not account for, in plan order."""
    recorded = Counter(row_key(r) for r in rows)
    missing = []
    for point in grid_plan(exp):
        key = point_key(exp, point)
        if key is not None and recorded[key] > 0:
            recorded[key] -= 1
        else:
            missing.append(point)
    return missing


__all__ = ["grid_plan", "missing_points", "point_key", "row_key"]
