"""fANOVA's variance decomposition with interactions, over several forest seeds.

Optuna's ``FanovaImportanceEvaluator`` reports each hyperparameter's main effect normalised so
that the main effects sum to 1; the share of the variance they leave to interactions is lost.
Here the same forest and marginal computation (Hutter, Hoos & Leyton-Brown 2014, sec. 3;
Optuna's ``_Fanova`` and ``_FanovaTree``) give, per tree, the fraction of the tree's variance
explained by each hyperparameter alone (V_i / V) and by each pair beyond its two main effects
((V_ij - V_i - V_j) / V), averaged over trees; this is repeated for several forest seeds, so a
ranking that flips with the seed shows as overlapping ranges.

Uses Optuna's private fANOVA classes (stable since Optuna 2); if they move, :func:`decompose`
raises ``ImportError`` and the caller reports that interactions could not be computed.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import optuna


def decompose(study: optuna.Study, *, seeds: Sequence[int], n_trees: int = 16,
              max_depth: int = 8, pair_seeds: int = 3
              ) -> tuple[list[str], np.ndarray, dict[tuple[str, str], np.ndarray]]:
    """Variance shares of the main effects and pairwise interactions of a study's parameters,
    one value per forest seed.

    A pair's marginal is evaluated at every combination of the two parameters' split points
    in every tree, which costs far more than a main effect; pairs are computed on the first
    ``pair_seeds`` forests only.

    Returns:
        ``(names, main, inter)``: ``main`` of shape (len(seeds), len(names)), the fraction of
        the variance each parameter explains alone; ``inter[(a, b)]`` of shape
        (min(pair_seeds, len(seeds)),), the fraction the pair explains beyond its main effects.
    """
    from optuna._transform import _SearchSpaceTransform
    from optuna.importance._fanova._fanova import _Fanova
    from optuna.trial import TrialState

    trials = [t for t in study.trials if t.state == TrialState.COMPLETE]
    names = sorted(set.intersection(*(set(t.params) for t in trials))) if trials else []
    dists = {n: trials[0].distributions[n] for n in names
             if not trials[0].distributions[n].single()}
    names = list(dists)
    if not names or len(trials) < 2:
        return names, np.zeros((len(seeds), len(names))), {}
    trans = _SearchSpaceTransform(dists, transform_log=False, transform_step=False)
    x = np.array([trans.transform({n: t.params[n] for n in names}) for t in trials])
    y = np.array([float(t.value) for t in trials])  # type: ignore[arg-type]
    cols = trans.column_to_encoded_columns
    main = np.zeros((len(seeds), len(names)))
    n_pairs = min(pair_seeds, len(seeds))
    inter = {pair: np.zeros(n_pairs) for pair in itertools.combinations(names, 2)}
    for s, seed in enumerate(seeds):
        fan = _Fanova(n_trees=n_trees, max_depth=max_depth, min_samples_split=2,
                      min_samples_leaf=1, seed=int(seed))
        fan.fit(X=x, y=y, search_spaces=trans.bounds, column_to_encoded_columns=cols)
        for i in range(len(names)):
            main[s, i] = fan.get_importance(i)[0]
        if s >= n_pairs:
            continue
        trees = [t for t in fan._trees or [] if t.variance > 0]
        singles = fan._variances or {}
        kept = [k for k, t in enumerate(fan._trees or []) if t.variance > 0]
        for (a, b), out in inter.items():
            i, j = names.index(a), names.index(b)
            both = np.concatenate([cols[i], cols[j]])
            fr = [(max(0.0, tree.get_marginal_variance(both)) - singles[i][k] - singles[j][k])
                  / tree.variance for tree, k in zip(trees, kept)]
            out[s] = float(np.mean(fr)) if fr else 0.0
    return names, main, inter
