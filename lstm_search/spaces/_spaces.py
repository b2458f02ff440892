"""The kinds of search space: a fixed set of cells, random graphs, a template, mutations.

Every space is a frozen dataclass with a ``name`` and ``hparams`` (trainer field name ->
distribution or constant, see :mod:`lstm_search.spaces._dist`). Named instances live in the
repository's ``search_spaces/`` folder.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lstm_search.genome import FrozenMap, Genome, import_darts
from lstm_search.spaces._dist import (
    Choice,
    Dist,
    Fixed,
    as_dists,
    draw_setting,
    sample_all,
    values_of,
)
from lstm_search.spaces._space import Proposal, cell_name

_SEED_MAX = 2**31 - 1


def _zoo(name: str) -> Genome:
    from lstm_search import zoo

    return zoo.get(name)


@dataclass(frozen=True)
class _HparamSpace:
    name: str
    hparams: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hparams", as_dists(self.hparams))

    @property
    def dists(self) -> dict[str, Dist]:
        return dict(self.hparams)

    def hparam_names(self) -> frozenset[str]:
        return frozenset(self.hparams)

    def _hp(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return values_of(params, self.dists)


@dataclass(frozen=True)
class CellChoiceSpace(_HparamSpace):
    """One of a fixed list of zoo cells (parameter ``cell``) with sampled hyperparameters.

    Greff et al. 2015 compare the vanilla LSTM with eight variants this way, each under a random
    search of its hyperparameters; with one cell it is a pure hyperparameter search.

    ``settings = K`` replaces sampling by a fixed list of K random hyperparameter settings,
    drawn once from ``hparams`` with ``settings_seed`` (parameter ``setting``, 0..K-1): every
    cell is trained at the same K settings, as Jozefowicz et al. (2015) evaluate each
    architecture at 20 random settings. Grid search over cells x settings then gives a paired
    comparison with exactly K trials per cell.
    """

    cells: tuple[str, ...] = ("lstm",)
    settings: int = 0
    settings_seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "cells", tuple(self.cells))
        if not self.cells:
            raise ValueError(f"space {self.name!r}: cells must name at least one zoo cell")
        from lstm_search import zoo

        known = zoo.names(spatial=True)  # a spatial cell runs on a task of maps
        unknown = [c for c in self.cells if c not in known]
        if unknown:
            raise ValueError(f"space {self.name!r}: unknown zoo cells {unknown} "
                             f"(known: {', '.join(known)})")

    def sample(self, trial: Any) -> None:
        if len(self.cells) > 1:
            trial.suggest_categorical("cell", list(self.cells))
        if self.settings:
            trial.suggest_categorical("setting", list(range(self.settings)))
        else:
            sample_all(trial, self.dists)

    def grid(self) -> dict[str, list[Any]]:
        """Every point of the space, for grid search (``search.sampler = "grid"``): the cells
        times every :class:`Choice` hyperparameter (or times the ``settings``); fixed values
        are not sampled. A continuous distribution cannot be enumerated: :class:`ValueError`
        names it."""
        out: dict[str, list[Any]] = {"cell": list(self.cells)} if len(self.cells) > 1 else {}
        if self.settings:
            out["setting"] = list(range(self.settings))
            return out
        for name, dist in sorted(self.dists.items()):
            if isinstance(dist, Choice):
                out[name] = list(dist.choices)
            elif not isinstance(dist, Fixed):
                raise ValueError(f"space {self.name!r}: grid search enumerates Choice "
                                 f"hyperparameters only; {name!r} is {type(dist).__name__}")
        return out

    def build(self, params: Mapping[str, Any]) -> Proposal:
        cell = str(params.get("cell", self.cells[0]))
        if self.settings:
            hp = draw_setting(self.dists, self.settings_seed, int(params["setting"]))
            return Proposal(_zoo(cell), cell, hp)
        return Proposal(_zoo(cell), cell, self._hp(params))


@dataclass(frozen=True)
class RandomGraphSpace(_HparamSpace):
    """NAS-Bench-NLP-like random cells (Klyuchnikov et al. 2020): a sampled graph seed.

    The seed (parameter ``graph_seed``) fully determines the cell through
    :func:`lstm_search.genome.random_genome`, which grows a random graph over NAS-Bench-NLP's
    vocabulary and redraws until it is valid. A model-based sampler learns nothing from a seed:
    use random sampling with this space. ``op_weights`` and ``heads`` go to the generator
    (the default: NAS-Bench-NLP's vocabulary and weights, no head-wise projections; e.g.
    ``op_weights`` with ``exp``, ``logsigmoid``, ``max`` and ``heads=(2, 4)`` draws cells with
    the modern recurrences' ops and head-wise projections). ``scan`` (0 to 1) is the share of
    draws of the form the compiler runs as a parallel scan (minGRU-, minLSTM-, HGRN-like: gates
    of the input alone, each state affine in itself), which the free draw reaches by chance
    in about 1 of 150. ``memory`` (0 to 1) is the share of draws of a head-wise gated matrix
    memory (mLSTM- and gated-linear-attention-like: ``C' = f C + i v kᵀ`` read as ``C' q``),
    which the compiler runs in chunks; the stabilised (mLSTM) form has 27-30 nodes, so it is
    drawn only when ``n_nodes`` allows that many.
    """

    n_states: tuple[int, int] = (1, 2)
    n_nodes: tuple[int, int] = (4, 16)
    op_weights: Mapping[str, float] | None = None
    heads: tuple[int, ...] = ()
    scan: float = 0.0
    memory: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "heads", tuple(self.heads))
        if self.op_weights is not None:
            object.__setattr__(self, "op_weights", FrozenMap(dict(self.op_weights)))
        from lstm_search.genome import random_genome

        try:  # a bad vocabulary, weight or head count is named when the space is declared
            random_genome(0, n_states=tuple(self.n_states), n_nodes=tuple(self.n_nodes),
                          op_weights=self.op_weights, heads=self.heads, scan=self.scan,
                          memory=self.memory)
        except (ValueError, RuntimeError) as e:
            raise ValueError(f"space {self.name!r}: {e}") from None

    def sample(self, trial: Any) -> None:
        trial.suggest_int("graph_seed", 0, _SEED_MAX)
        sample_all(trial, self.dists)

    def build(self, params: Mapping[str, Any]) -> Proposal:
        from lstm_search.genome import random_genome

        g = random_genome(int(params["graph_seed"]), n_states=tuple(self.n_states),
                          n_nodes=tuple(self.n_nodes), op_weights=self.op_weights,
                          heads=self.heads, scan=self.scan, memory=self.memory)
        return Proposal(g, cell_name(g), self._hp(params))


@dataclass(frozen=True)
class TemplateSpace(_HparamSpace):
    """DARTS' recurrent search space (Liu et al. 2019, section 2.1 and appendix A.1.2): every
    cell it samples is a true DARTS cell, the one ``DARTSCell`` computes for the genotype.

    ``s_0 = h + σ(c_0) ⊙ (tanh(h_0) − h)`` with ``[c_0, h_0] = [x, h] W_0``; then node
    ``i = 1..n`` picks a predecessor ``j < i`` (parameter ``node<i>_pred``) and an activation
    (``node<i>_act``) and computes ``[c, k] = s_j W_i``, ``s_i = s_j + σ(c) ⊙ (act(k) − s_j)``;
    the new state and output is the mean of ``s_1..s_n``. No biases, 2n(m + n) + 2n²·n_nodes
    parameters (:func:`lstm_search.genome.import_darts` builds the genome).
    """

    n_nodes: int = 8
    activations: tuple[str, ...] = ("tanh", "relu", "sigmoid", "identity")

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "activations", tuple(self.activations))
        if not 2 <= self.n_nodes <= 8:  # add takes 2..8 inputs
            raise ValueError(f"space {self.name!r}: n_nodes must be in [2, 8], "
                             f"got {self.n_nodes}")

    def sample(self, trial: Any) -> None:
        for i in range(1, self.n_nodes + 1):
            trial.suggest_int(f"node{i}_pred", 0, i - 1)
            trial.suggest_categorical(f"node{i}_act", list(self.activations))
        sample_all(trial, self.dists)

    def build(self, params: Mapping[str, Any]) -> Proposal:
        recurrent = [(str(params[f"node{i}_act"]), int(params[f"node{i}_pred"]))
                     for i in range(1, self.n_nodes + 1)]
        g = import_darts({"recurrent": recurrent, "concat": range(1, self.n_nodes + 1)})
        return Proposal(g, cell_name(g), self._hp(params))


@dataclass(frozen=True)
class MutationSpace(_HparamSpace):
    """Cells a few mutations away from known ones (Jozefowicz et al. 2015, section 3).

    Samples a parent among ``parents`` (zoo names), a number of mutation operators (1 to
    ``max_mutations``; the paper draws 1-3) and a mutation seed; :meth:`build` calls
    :func:`lstm_search.genome.mutate` with that many operators and a ``random.Random`` seeded
    from the parameters. The evolutionary strategy
    (:mod:`lstm_search.search.evolution`) mutates members of its population instead and stores
    each genome with its trial; this define-by-run form serves random search and Ray Tune.

    ``hidden_size``: the width the mutants will be built at (the experiment's
    ``model.hidden_size`` when it fixes one); mutants whose heads do not divide it
    (``headwise_projection`` and ``matrix_memory`` draw 2 or 4) are redrawn, so no trial goes to
    a cell the compiler must refuse. A sampled ``hidden_size`` hyperparameter takes its place;
    None (the default) checks nothing, as with a parameter budget, which picks a width the
    heads divide itself.
    """

    parents: tuple[str, ...] = ("lstm", "gru")
    max_mutations: int = 3
    # lstm_search.genome.OPERATORS names; empty: the paper's six
    operators: tuple[str, ...] = ()
    hidden_size: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "parents", tuple(self.parents))
        if self.max_mutations < 1:
            raise ValueError(f"space {self.name!r}: max_mutations must be >= 1")
        object.__setattr__(self, "operators", tuple(self.operators))
        from lstm_search.genome import OPERATORS

        unknown = [o for o in self.operators if o not in OPERATORS]
        if unknown:
            raise ValueError(f"space {self.name!r}: unknown mutation operators "
                             f"{', '.join(map(repr, unknown))} (known: {', '.join(OPERATORS)})")
        h = self.hidden_size
        if h is not None and (isinstance(h, bool) or not isinstance(h, int) or h < 1):
            raise ValueError(f"space {self.name!r}: hidden_size must be a positive int or None, "
                             f"got {h!r}")

    def sample(self, trial: Any) -> None:
        trial.suggest_categorical("parent", list(self.parents))
        trial.suggest_int("n_mutations", 1, self.max_mutations)
        trial.suggest_int("mutation_seed", 0, _SEED_MAX)
        sample_all(trial, self.dists)

    def build(self, params: Mapping[str, Any]) -> Proposal:
        from lstm_search.genome import mutate

        rng = random.Random(int(params["mutation_seed"]))
        width = next((int(params[k]) for k in ("hidden_size", "model.hidden_size")
                      if k in params), self.hidden_size)
        g = mutate(_zoo(str(params["parent"])), rng, n_ops=int(params["n_mutations"]),
                   operators=self.operators or None, hidden_size=width).genome
        return Proposal(g, cell_name(g), self._hp(params))


_KINDS: dict[str, type] = {c.__name__: c for c in (CellChoiceSpace, RandomGraphSpace,
                                                    TemplateSpace, MutationSpace)}
SPACE_KEY = "__space__"


def space_to_json(space: Any) -> dict[str, Any] | None:
    """``space`` as data (``{"__space__": "CellChoiceSpace", "name": ..., "hparams": {name:
    distribution JSON}, ...}``) for ``run.json``, so that a run is rebuilt from what it recorded
    (:func:`space_from_json`), not from its declaration file as it is now. None for a space of
    another class (a user's own :class:`~lstm_search.spaces.SearchSpace`), which has no data
    form."""
    kind = type(space)
    if _KINDS.get(kind.__name__) is not kind:
        return None
    out: dict[str, Any] = {SPACE_KEY: kind.__name__}
    for f in dataclasses.fields(space):
        value = getattr(space, f.name)
        if f.name == "hparams":
            value = {k: d.to_json() for k, d in value.items()}
        elif isinstance(value, Mapping):  # a random graph space's op_weights
            value = dict(value)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def space_from_json(data: Mapping[str, Any]) -> Any:
    """The space :func:`space_to_json` wrote. Raises :class:`ValueError` naming what is wrong."""
    kind = _KINDS.get(str(data.get(SPACE_KEY)))
    if kind is None:
        raise ValueError(f"not a search space's data: {SPACE_KEY} is {data.get(SPACE_KEY)!r}; "
                         f"known: {', '.join(_KINDS)}")
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(data) - names - {SPACE_KEY})
    if unknown:
        raise ValueError(f"{kind.__name__} data has unknown fields {unknown}")
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
              if k != SPACE_KEY}
    return kind(**fields)


__all__ = ["CellChoiceSpace", "MutationSpace", "RandomGraphSpace", "TemplateSpace",
           "space_from_json", "space_to_json"]
