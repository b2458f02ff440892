"""Hyperparameter importance and marginal effects, computed from the results table alone.

Importance follows Greff et al. (2015, sec. 6), who used fANOVA (Hutter, Hoos & Leyton-Brown
2014) to find that the learning rate explains far more of the variance of an LSTM's performance
than any other hyperparameter. The table's rows are turned into an in-memory Optuna study (one
``create_trial`` per completed row, with a distribution inferred per hyperparameter), and Optuna's
``FanovaImportanceEvaluator`` (needs scikit-learn) or, without scikit-learn,
``PedAnovaImportanceEvaluator`` (Watanabe et al. 2023) scores each hyperparameter. Importances are
normalised to sum to 1 and measure main effects only. A hyperparameter's scale is the one its
rows record (the distribution it was drawn from, ``dist.<name>``), inferred only for rows that
record none. Log-scale hyperparameters enter both evaluators as log10 values on a linear range
(a momentum drawn log-uniform in 1 - m as log10(1 - m)), because Optuna's fANOVA reads
distributions on a linear scale and would otherwise integrate a learning rate over [1e-4, 1] as
if nearly all of the range lay above 0.1.
"""

from __future__ import annotations

import importlib.util
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from lstm_search.analysis._table import (
    HP_PREFIX,
    AnalysisError,
    Direction,
    completed,
    default_metric,
    group_keys,
    hparam_columns,
    metric_direction,
    require_columns,
    table_direction,
    task_groups,
)
from lstm_search.results import DIST_KEY, DIST_PREFIX

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

ALL_CELLS = "(all cells)"
CELL_PARAM = "cell"  # the cell itself as a categorical "hyperparameter" in pooled importance
Method = Literal["auto", "fanova", "ped-anova"]
IMPORTANCE_COLUMNS = ["task", "cell", "param", "importance", "importance_low",
                      "importance_high", "rank", "method", "target", "n_trials", "n_seeds",
                      "n_joint"]
SHARE_COLUMNS = ["task", "term", "kind", "share", "share_low", "share_high", "n_seeds",
                 "n_trials", "n_joint"]
N_SEEDS = 10  # fANOVA forests per group: the importances' spread over seeds is reported
MIN_JOINT = 20  # fewer distinct hyperparameter points than this: importances not identified
MARGINAL_COLUMNS = ["task", "cell", "param", "kind", "log", "bin", "left", "right", "center",
                    "n", "mean", "ci_low", "ci_high"]
# hyperparameters that are conventionally searched on a log scale
_LOG_NAMES = frozenset({"lr", "learning_rate", "weight_decay", "wd", "eps", "l2", "decay"})


def _name(column: str) -> str:
    return column[len(HP_PREFIX):] if column.startswith(HP_PREFIX) else column


def _is_log(name: str, v: np.ndarray) -> bool:
    """Log scale if positive, spanning over a decade, and more evenly spread in log space."""
    if v.size < 2 or v.min() <= 0:
        return False
    if _name(name).lower() in _LOG_NAMES:
        return True
    if v.max() / v.min() < 4:
        return False

    def skew(a: np.ndarray) -> float:
        s = a.std()
        return float(np.mean(((a - a.mean()) / s) ** 3)) if s > 0 else 0.0

    return abs(skew(np.log(v))) < abs(skew(v))


def recorded_distribution(df: pd.DataFrame, name: str) -> dict[str, Any] | None:
    """The distribution hyperparameter ``name`` was drawn from, as the rows record it (column
    ``dist.<name>`` of :func:`lstm_search.results.load_results`), or None when the rows record
    none or disagree (runs of different spaces: the scale is then inferred)."""
    column = DIST_PREFIX + _name(name)
    if column not in df.columns:
        return None
    values = df[column].dropna().unique()
    if len(values) != 1:
        return None
    try:
        data = json.loads(values[0]) if isinstance(values[0], str) else values[0]
    except ValueError:
        return None
    return data if isinstance(data, dict) and isinstance(data.get(DIST_KEY), str) else None


def _declared(recorded: Mapping[str, Any], v: np.ndarray) -> BaseDistribution | None:
    """The Optuna distribution of a recorded continuous distribution, widened to the values
    (None for a Choice or Fixed: their scale is inferred from the values)."""
    from optuna.distributions import FloatDistribution, IntDistribution

    kind = recorded.get(DIST_KEY)
    try:
        low, high = float(recorded["low"]), float(recorded["high"])
    except (KeyError, TypeError, ValueError):
        return None
    if kind == "OneMinusLogUniform":  # the value is 1 - m, m log-uniform in [low, high]
        low, high = 1.0 - high, 1.0 - low
    low, high = min(low, float(v.min())), max(high, float(v.max()))
    if kind == "LogUniform" and low > 0:
        return FloatDistribution(low, high, log=True)
    if kind in ("Uniform", "OneMinusLogUniform"):
        return FloatDistribution(low, high)
    if kind == "IntUniform":
        log = bool(recorded.get("log")) and low >= 1
        return IntDistribution(math.floor(low), math.ceil(high), log=log)
    return None


def one_minus_log(recorded: Mapping[str, Any] | None) -> bool:
    """Whether a recorded distribution is log-uniform in one minus the value (Greff et al.
    2015's momentum): such a hyperparameter is scored as log10(1 - value)."""
    return recorded is not None and recorded.get(DIST_KEY) == "OneMinusLogUniform"


def infer_distribution(name: str, column: pd.Series,
                       recorded: Mapping[str, Any] | None = None) -> BaseDistribution | None:
    """The Optuna distribution a hyperparameter column was (or looks) sampled from.

    ``recorded``: the distribution the rows record for it (:func:`recorded_distribution`): a
    log-uniform, uniform or integer range is taken as declared, so the scale is the one the
    search sampled on (a log-uniform hidden size is read on a log scale whatever its name).
    Otherwise (older rows, a Choice, a constant) it is inferred: strings, booleans and mixed
    values give a categorical distribution; integral numbers an ``IntDistribution``, other
    numbers a ``FloatDistribution``, both with ``log=True`` when the values are positive, span a
    factor of 4 or more and are less skewed in log space (or the name is a learning rate or
    weight decay). A column with a single value gives None (nothing to attribute variance to).
    """
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    raw = column.dropna()
    if raw.empty:
        return None
    numeric = pd.to_numeric(raw, errors="coerce")
    is_bool = raw.map(lambda x: isinstance(x, bool | np.bool_)).any()
    if is_bool or numeric.isna().any():
        choices = sorted({_categorical_value(x) for x in raw}, key=str)
        return CategoricalDistribution(choices) if len(choices) > 1 else None
    v = numeric.to_numpy(dtype=float)
    if not np.isfinite(v).all():
        raise AnalysisError(f"hyperparameter {name!r} has non-finite values")
    if v.min() == v.max():
        return None
    declared = _declared(recorded, v) if recorded else None
    if declared is not None:
        return declared
    log = _is_log(name, v)
    if np.all(v == np.round(v)):
        return IntDistribution(int(v.min()), int(v.max()), log=log and v.min() >= 1)
    return FloatDistribution(float(v.min()), float(v.max()), log=log)


def _categorical_value(x: Any) -> Any:
    return x if isinstance(x, str | int | float | bool | type(None)) else str(x)


def infer_distributions(df: pd.DataFrame, params: Sequence[str] | None = None
                        ) -> dict[str, BaseDistribution]:
    """:func:`infer_distribution` for each ``hp.*`` column (or ``params``), keyed by the name
    without ``hp.``; constant columns are left out."""
    columns = [_column(df, p) for p in params] if params else hparam_columns(df)
    out: dict[str, BaseDistribution] = {}
    for c in columns:
        dist = infer_distribution(c, df[c], recorded_distribution(df, c))
        if dist is not None:
            out[_name(c)] = dist
    return out


def _column(df: pd.DataFrame, param: str) -> str:
    for c in (param, HP_PREFIX + param):
        if c in df.columns:
            return c
    raise AnalysisError(f"hyperparameter {param!r} is not a column of the results table "
                        f"(have {hparam_columns(df)})")


def _param_value(dist: BaseDistribution, value: Any) -> Any:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return _categorical_value(value)
    if isinstance(dist, IntDistribution):
        return round(float(value))
    return float(value)


def build_study(df: pd.DataFrame, *, target: str = "objective",
                distributions: Mapping[str, BaseDistribution] | None = None,
                params: Sequence[str] | None = None, direction: Direction | None = None,
                include_cell: bool = False, log10: bool = False) -> optuna.Study:
    """An in-memory Optuna study with one completed trial per completed row of ``df``.

    Args:
        df: results rows (one task; pass several cells to pool them).
        target: the column used as the trial value (default the validation objective).
        distributions: per hyperparameter (``"lr"`` or ``"hp.lr"``), overriding inference.
        params: hyperparameters to include (default every ``hp.*`` column that varies).
        direction: default: the metric's direction from the table.
        include_cell: add the cell as a parameter ``"cell"``: the rank of the cell when cells
            are ordered by their mean target (``study.user_attrs["cell_order"]`` lists them).
        log10: give log-scale hyperparameters as their base-10 logarithm on a linear
            distribution (``study.user_attrs["log10"]`` names them). Optuna's fANOVA reads
            every distribution on a linear scale (``transform_log=False``), so without this a
            learning rate searched over [1e-4, 1] counts as if [0.1, 1] were 90% of its range.
    """
    import optuna
    from optuna.distributions import FloatDistribution, IntDistribution

    require_columns(df, [target], "build_study")
    rows = completed(df, target)
    dists = infer_distributions(rows, params)
    for key, dist in (distributions or {}).items():
        dists[_name(key)] = dist
    if params:
        wanted = {_name(p) for p in params}
        dists = {k: d for k, d in dists.items() if k in wanted}
    logged = [k for k, d in dists.items() if getattr(d, "log", False)] if log10 else []
    for key in logged:
        dists[key] = _log10_distribution(dists[key])
    # Greff's momentum: log-uniform in 1 - value, scored as log10(1 - value)
    flipped = [k for k in dists if k not in logged and log10
               and one_minus_log(recorded_distribution(rows, k))]
    for key in flipped:
        low, high = dists[key].low, dists[key].high  # type: ignore[attr-defined]
        dists[key] = _log10_distribution(FloatDistribution(1.0 - high, 1.0 - low))
    direction = direction or metric_direction(df, target)
    cell_rank: dict[str, int] = {}
    if include_cell and "cell" in rows.columns and rows["cell"].nunique() > 1:
        # The cell enters as an ordinal parameter, cells ordered by their mean target. For
        # regression trees this ordering yields the best split over all partitions of the
        # categories (Breiman et al. 1984, sec. 9.4), and it keeps fANOVA's forest as cheap as
        # one numeric column instead of one column per cell.
        means = pd.to_numeric(rows[target]).groupby(rows["cell"].astype(str)).mean()
        order = means.sort_values(ascending=(direction == "minimize"), kind="stable").index
        cell_rank = {str(c): i for i, c in enumerate(order)}
        dists[CELL_PARAM] = IntDistribution(0, len(cell_rank) - 1)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(direction=direction)
    finally:
        optuna.logging.set_verbosity(verbosity)
    trials = []
    for idx, row in rows.iterrows():
        values: dict[str, Any] = {}
        used: dict[str, BaseDistribution] = {}
        for name, dist in dists.items():
            raw = (cell_rank[str(row["cell"])] if name == CELL_PARAM and cell_rank
                   else row.get(HP_PREFIX + name, row.get(name)))
            if raw is None or (isinstance(raw, float) and math.isnan(raw)):
                continue  # conditional hyperparameter absent from this trial
            values[name] = (math.log10(float(raw)) if name in logged
                            else math.log10(1.0 - float(raw)) if name in flipped
                            else _param_value(dist, raw))
            used[name] = dist
        try:
            trials.append(optuna.trial.create_trial(
                params=values, distributions=used, value=float(row[target])))
        except ValueError as e:
            where = f"row {idx} (run {row.get('run')!r}, trial {row.get('trial')!r})"
            raise AnalysisError(f"build_study: {where} does not fit the distributions: {e}"
                                ) from e
    study.add_trials(trials)
    if cell_rank:
        study.set_user_attr("cell_order", list(cell_rank))
    if logged:
        study.set_user_attr("log10", logged)
    if flipped:
        study.set_user_attr("log10_one_minus", flipped)
    return study


def _log10_distribution(dist: BaseDistribution) -> BaseDistribution:
    """The linear distribution of log10 of a log-scale one (ints become floats)."""
    from optuna.distributions import FloatDistribution

    low, high = dist.low, dist.high  # type: ignore[attr-defined]
    return FloatDistribution(math.log10(low), math.log10(high))


def available_method(method: Method = "auto") -> str:
    """"fanova" when scikit-learn is installed (or asked for), else "ped-anova"."""
    if method == "auto":
        return "fanova" if importlib.util.find_spec("sklearn") is not None else "ped-anova"
    if method not in ("fanova", "ped-anova"):
        raise AnalysisError(f"importance method must be 'auto', 'fanova' or 'ped-anova', "
                            f"got {method!r}")
    if method == "fanova" and importlib.util.find_spec("sklearn") is None:
        raise AnalysisError("fANOVA needs scikit-learn (pip install 'lstm-search[importance]');"
                            " use method='ped-anova'")
    return method


def _evaluator(method: str, seed: int, n_trees: int, max_depth: int) -> Any:
    from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator

    if method == "fanova":
        return FanovaImportanceEvaluator(n_trees=n_trees, max_depth=max_depth, seed=seed)
    return PedAnovaImportanceEvaluator()


def hyperparameter_importance(df: pd.DataFrame, *, by: str | None = "cell",
                              pooled: bool = True, method: Method = "auto",
                              target: str = "objective",
                              distributions: Mapping[str, BaseDistribution] | None = None,
                              params: Sequence[str] | None = None, seed: int = 0,
                              min_trials: int = 10, n_trees: int = 64, max_depth: int = 8,
                              n_seeds: int = N_SEEDS) -> pd.DataFrame:
    """Normalised importance of each hyperparameter, per task and per cell and/or pooled.

    Args:
        df: the table of :func:`lstm_search.results.load_results`.
        by: column to split on (default per ``cell``; None: pooled only).
        pooled: also score all cells of a task together, with the cell as an extra parameter
            ``"cell"`` (see :func:`build_study`): how much the choice of cell matters next to
            the learning rate. These rows have ``cell == "(all cells)"``.
        method: "fanova" (Optuna's fANOVA, needs scikit-learn), "ped-anova", or "auto".
        target: column scored (default the validation objective the search optimised).
        distributions, params: see :func:`build_study`.
        seed: seed of fANOVA's first random forest; ``n_seeds`` forests (seeds ``seed``,
            ``seed + 1`` ...) are fitted and ``importance`` is their median,
            ``importance_low`` / ``importance_high`` their range (PED-ANOVA has no seed: one).
        n_trees, max_depth: fANOVA's forest. Optuna's default depth (64) lets the cost of the
            marginal-variance computation grow steeply with the number of trials (84 s for 1,100
            pooled trials); depth 8 (at most 256 leaves per tree) gave the same importances to
            within 0.001 on that table in 5 s.
        min_trials: groups with fewer completed trials are skipped. So are groups whose
            target does not vary (every trial scored the same) and groups the evaluator
            fails on; each is listed with its reason in ``result.attrs["skipped"]`` and the
            other groups are still scored.

    Log-scale hyperparameters (the learning rate) are scored as log10 values (see
    :func:`build_study`), and a task run at several settings is scored per setting.

    Returns:
        Columns ``task, cell, param, importance, importance_low, importance_high, rank,
        method, target, n_trials, n_seeds, n_joint`` (rank 1 = most important within the group
        by the median; ``n_joint``: distinct joint values of the hyperparameters, the cell left
        out; below ``MIN_JOINT`` the ranking is not identified).
    """
    require_columns(df, ["task", "status", target], "hyperparameter_importance")
    name = available_method(method)
    rows: list[dict[str, object]] = []
    skipped: list[str] = []
    for task, tdf in task_groups(df):
        groups: list[tuple[str, pd.DataFrame, bool]] = []
        if pooled:
            groups.append((ALL_CELLS, tdf, True))
        if by is not None:
            groups += [(str(g), tdf[tdf[by] == g], False) for g in group_keys(tdf, by)]
        for label, gdf, pool in groups:
            where = f"task {task!r}, {label}"
            seeds = [seed + k for k in range(n_seeds if name == "fanova" else 1)]
            runs: list[dict[str, float]] = []
            try:
                for sd in seeds:
                    scores, n = _group_importance(gdf, target, name, min_trials, pool, seed=sd,
                                                  n_trees=n_trees, max_depth=max_depth,
                                                  distributions=distributions, params=params)
                    runs.append(scores)
            except _Skip as e:
                skipped.append(f"{where}: {e}")
                continue
            except Exception as e:  # one group's failure must not cost the others
                skipped.append(f"{where}: {name} failed ({type(e).__name__}: {e})")
                continue
            table = pd.DataFrame(runs).fillna(0.0)  # (seeds, params)
            med = table.median()
            joint = joint_values(completed(gdf, target))
            for rank, param in enumerate(med.sort_values(ascending=False, kind="stable").index,
                                         1):
                rows.append({"task": task, "cell": label, "param": param,
                             "importance": float(med[param]),
                             "importance_low": float(table[param].min()),
                             "importance_high": float(table[param].max()), "rank": rank,
                             "method": name, "target": target, "n_trials": n,
                             "n_seeds": len(runs), "n_joint": joint})
    out = pd.DataFrame(rows, columns=IMPORTANCE_COLUMNS)
    out.attrs["skipped"] = skipped
    return out


def scales(df: pd.DataFrame) -> list[tuple[str, str, str]]:
    """Per varying hyperparameter: ``(name, scale, source)``, the scale importance reads it on
    ("log", "log of 1 - value", "linear", "categorical") and whether the rows recorded its
    distribution ("recorded") or it was inferred from the values ("inferred")."""
    from optuna.distributions import CategoricalDistribution

    out = []
    for column in hparam_columns(df):
        rec = recorded_distribution(df, column)
        dist = infer_distribution(column, df[column], rec)
        if dist is None:
            continue
        source = "recorded" if rec is not None else "inferred"
        if one_minus_log(rec):
            scale = "log of 1 - value"
        elif isinstance(dist, CategoricalDistribution):
            scale = "categorical"
        else:
            scale = "log" if getattr(dist, "log", False) else "linear"
        out.append((_name(column), scale, source))
    return out


def joint_values(df: pd.DataFrame) -> int:
    """How many distinct points of the hyperparameter space the rows visited (every ``hp.*``
    column together; the cell left out). A grid of 8 settings gives 8 whatever the number of
    cells: a forest can then split on any hyperparameter that separates the 8 points, and
    which one it credits is not identified by the data."""
    columns = [c for c in hparam_columns(df) if df[c].astype(str).nunique() > 1]
    if not columns:
        return 1 if len(df) else 0
    return int(df[columns].astype(str).drop_duplicates().shape[0])


def variance_shares(df: pd.DataFrame, *, target: str = "objective", seed: int = 0,
                    n_seeds: int = N_SEEDS, pair_seeds: int = 3, min_trials: int = 10,
                    n_trees: int = 16, max_depth: int = 8,
                    distributions: Mapping[str, BaseDistribution] | None = None
                    ) -> pd.DataFrame:
    """fANOVA's decomposition of the variance of ``target`` over all cells of each task (the
    cell one of the parameters): each main effect's and each pairwise interaction's share of
    the total variance, median and range over ``n_seeds`` forests (interactions over the
    first ``pair_seeds``: they cost far more; see :mod:`._fanova`).

    Unlike :func:`hyperparameter_importance` the shares are not normalised: main effects and
    interactions together show how much of the variance single hyperparameters explain.
    Needs scikit-learn. Groups with fewer than ``min_trials`` completed trials, or a constant
    target, are skipped (``result.attrs["skipped"]``).

    Returns:
        Columns ``task, term, kind, share, share_low, share_high, n_seeds, n_trials,
        n_joint``; ``kind`` is "main" or "interaction" (``term`` "lr × hidden_size").
    """
    from lstm_search.analysis._fanova import decompose

    available_method("fanova")
    require_columns(df, ["task", "status", target], "variance_shares")
    rows: list[dict[str, object]] = []
    skipped: list[str] = []
    for task, tdf in task_groups(df):
        done = completed(tdf, target)
        y = pd.to_numeric(done[target]).to_numpy(float)
        if len(done) < min_trials or np.ptp(y) == 0:
            skipped.append(f"task {task!r}: {len(done)} completed trial(s)"
                           + (", constant target" if len(done) and np.ptp(y) == 0 else ""))
            continue
        study = build_study(done, target=target, distributions=distributions,
                            direction=table_direction(done) if target == "objective" else None,
                            include_cell=True, log10=True)
        seeds = [seed + k for k in range(n_seeds)]
        names, main, inter = decompose(study, seeds=seeds, n_trees=n_trees,
                                       max_depth=max_depth, pair_seeds=pair_seeds)
        common = {"n_trials": len(done), "n_joint": joint_values(done)}
        terms = [(n, "main", main[:, i]) for i, n in enumerate(names)]
        terms += [(f"{a} × {b}", "interaction", v) for (a, b), v in inter.items()]
        for term, kind, v in terms:
            rows.append({"task": task, "term": term, "kind": kind,
                         "share": float(np.median(v)), "share_low": float(v.min()),
                         "share_high": float(v.max()), "n_seeds": len(v), **common})
    out = pd.DataFrame(rows, columns=SHARE_COLUMNS)
    out.attrs["skipped"] = skipped
    return out


class _Skip(Exception):
    """A group that cannot be scored, and why (too few trials, nothing varies ...)."""


def _group_importance(gdf: pd.DataFrame, target: str, method: str, min_trials: int,
                      pool: bool, *, seed: int, n_trees: int, max_depth: int,
                      distributions: Mapping[str, BaseDistribution] | None,
                      params: Sequence[str] | None) -> tuple[dict[str, float], int]:
    """Importance of each hyperparameter in one group of rows, and how many trials it used.

    Raises:
        _Skip: too few completed trials, a target without variance or nothing that varies.
    """
    import optuna

    done = completed(gdf, target)
    if len(done) < min_trials:
        raise _Skip(f"{len(done)} completed trial{'' if len(done) == 1 else 's'} "
                    f"(need {min_trials})")
    y = pd.to_numeric(done[target]).to_numpy(float)
    if np.ptp(y) == 0:
        raise _Skip(f"every completed trial has the same {target} ({y[0]:g}): no variance "
                    "to attribute")
    study = build_study(done, target=target, distributions=distributions, params=params,
                        direction=table_direction(done) if target == "objective" else None,
                        include_cell=pool, log10=True)
    if not study.trials or not study.trials[0].distributions:
        raise _Skip("no hyperparameter varies")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        scores = optuna.importance.get_param_importances(
            study, evaluator=_evaluator(method, seed, n_trees, max_depth))
    return dict(scores), len(done)


def marginal_effects(df: pd.DataFrame, *, params: Sequence[str] | None = None,
                     target: str | None = None, by: str | None = None, bins: int = 8,
                     confidence: float = 0.95,
                     distributions: Mapping[str, BaseDistribution] | None = None
                     ) -> pd.DataFrame:
    """Mean of ``target`` per bin of each hyperparameter, with a t confidence interval.

    Numeric hyperparameters are cut into ``bins`` equal-width bins (in log space for log-scale
    ones, matching a log axis), integer ones with few values get a bin per value, categorical
    ones a bin per category. Completed trials only; bins with one trial have no interval.

    Returns:
        Columns ``task, cell, param, kind, log, bin, left, right, center, n, mean, ci_low,
        ci_high``; ``cell`` is "(all cells)" unless ``by`` splits the table.
    """
    from optuna.distributions import CategoricalDistribution, IntDistribution
    from scipy import stats as sps

    require_columns(df, ["task", "status"], "marginal_effects")
    rows: list[dict[str, object]] = []
    for task, tdf in task_groups(df):
        tgt = target or default_metric(tdf)
        require_columns(tdf, [tgt], "marginal_effects")
        done = completed(tdf, tgt)
        groups = [(ALL_CELLS, done)] if by is None else [
            (str(g), done[done[by] == g]) for g in group_keys(done, by)]
        dists = infer_distributions(done, params)
        for key, dist in (distributions or {}).items():
            dists[_name(key)] = dist
        for label, gdf in groups:
            y_all = pd.to_numeric(gdf[tgt], errors="coerce")
            for param, dist in dists.items():
                col = _column(gdf, param)
                x = gdf[col]
                keep = x.notna()
                x, y = x[keep], y_all[keep].to_numpy(dtype=float)
                if x.empty:
                    continue
                if isinstance(dist, CategoricalDistribution):
                    keys = x.map(_categorical_value).astype(str)
                    cats = [str(c) for c in dist.choices]
                    spec = [(c, keys.to_numpy() == c, None, None, float(i))
                            for i, c in enumerate(cats)]
                    kind, log = "categorical", False
                else:
                    xv = pd.to_numeric(x).to_numpy(dtype=float)
                    log = bool(getattr(dist, "log", False))
                    kind = "numeric"
                    uniq = np.unique(xv)
                    if isinstance(dist, IntDistribution) and uniq.size <= bins:
                        spec = [(f"{u:g}", xv == u, u, u, u) for u in uniq]
                    else:
                        spec = _bin_spec(xv, bins, log)
                for i, (lab, mask, left, right, center) in enumerate(spec):
                    yy = y[mask]
                    n = yy.size
                    if n == 0:
                        continue
                    mean = float(yy.mean())
                    if n > 1:
                        half = float(sps.t.ppf(0.5 + confidence / 2, n - 1)
                                     * yy.std(ddof=1) / math.sqrt(n))
                    else:
                        half = float("nan")
                    rows.append({"task": task, "cell": label, "param": param, "kind": kind,
                                 "log": log, "bin": lab if kind == "categorical" else i,
                                 "left": left, "right": right, "center": center, "n": n,
                                 "mean": mean, "ci_low": mean - half, "ci_high": mean + half})
    return pd.DataFrame(rows, columns=MARGINAL_COLUMNS)


def _bin_spec(x: np.ndarray, bins: int, log: bool) -> list[tuple[str, np.ndarray, float, float,
                                                                   float]]:
    lo, hi = float(x.min()), float(x.max())
    if log:
        edges = np.exp(np.linspace(math.log(lo), math.log(hi), bins + 1))
        centers = np.sqrt(edges[:-1] * edges[1:])  # geometric centre on a log axis
    else:
        edges = np.linspace(lo, hi, bins + 1)
        centers = (edges[:-1] + edges[1:]) / 2
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1)  # last edge inclusive
    return [(f"[{edges[b]:.3g}, {edges[b + 1]:.3g}]", idx == b, float(edges[b]),
             float(edges[b + 1]), float(centers[b])) for b in range(bins)]
