"""The SearchSpace protocol: define-by-run sampling, then a pure rebuild from the parameters.

A space samples in two steps so that the same code serves an ``optuna.Trial`` directly and Ray
Tune's ``OptunaSearch`` (whose define-by-run function may only sample, and whose trainable later
receives the sampled parameters as its config):

1. :meth:`SearchSpace.sample` calls ``trial.suggest_*`` and nothing else (no genome building,
   no validation, no I/O);
2. :meth:`SearchSpace.build` turns the sampled parameters (``trial.params``) into a
   :class:`Proposal`: the genome, its cell name and the hyperparameters. It is a pure function
   of the parameters, so a worker on another machine rebuilds the same cell.

:meth:`suggest` does both for a plain Optuna trial.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from lstm_search.genome import Genome, cell_name


@dataclass(frozen=True)
class Proposal:
    """What a space proposes: a cell and its hyperparameters (trainer field names)."""

    genome: Genome
    cell: str
    hparams: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hparams", dict(self.hparams))


@runtime_checkable
class SearchSpace(Protocol):
    """A named space of cells and hyperparameters (see the module docstring)."""

    name: str

    def hparam_names(self) -> frozenset[str]:
        """The hyperparameters a proposal may carry (trainer field names)."""
        ...

    def sample(self, trial: Any) -> None:
        """Sample every parameter with ``trial.suggest_*``; no heavy work."""
        ...

    def build(self, params: Mapping[str, Any]) -> Proposal:
        """The proposal for sampled parameters (pure, deterministic)."""
        ...


def suggest(space: SearchSpace, trial: Any) -> Proposal:
    """Sample ``space`` on an Optuna trial and build the proposal from ``trial.params``."""
    space.sample(trial)
    return space.build(dict(trial.params))


def distributions_of(space: Any, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The JSON of the distribution each hyperparameter in ``names`` is drawn from in ``space``
    (its ``dists``; ``{"__dist__": "LogUniform", "low": ..., "high": ...}``), for the row:
    analysis reads a hyperparameter's scale from it. Names the space does not declare (a cell,
    a setting index) are left out."""
    dists = getattr(space, "dists", None) or {}
    return {n: dists[n].to_json() for n in names
            if n in dists and callable(getattr(dists[n], "to_json", None))}


__all__ = ["Proposal", "SearchSpace", "cell_name", "distributions_of", "suggest"]
