"""Search strategies: what a ``search.sampler`` changes in how trials are proposed, evaluated
and recorded, behind one interface, so the backends and the driver ask the experiment's
strategy instead of testing sampler names.

:class:`Strategy` is the plain case (``tpe``, ``random``, ``grid``, ``nsga2``): the space
samples each trial (define-by-run, under Optuna's or Ray Tune's sampler), each trial is one
evaluation on the experiment's task, and the study goes the experiment's direction. A strategy
that proposes trials itself (the evolutionary strategy, :mod:`lstm_search.search.evolution`)
subclasses it and registers under its sampler name with :func:`register`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from lstm_search.experiment import Experiment, ExperimentError
from lstm_search.results import TrialResult, task_options

if TYPE_CHECKING:
    from lstm_search.evaluate import Candidate
    from lstm_search.spaces import Proposal
    from lstm_search.train import OnEval

    Evaluation = Callable[[Candidate, OnEval | None], TrialResult]


class Proposer(Protocol):
    """Proposes an Optuna worker's trials from the study's history (ask/tell), under the run's
    ask lock, in place of the space's define-by-run sampling."""

    def waiting(self) -> bool:
        """True while no trial can be proposed yet (the worker sleeps, then asks again)."""
        ...

    def propose(self, trial: Any) -> Proposal:
        """The proposal of the asked ``trial`` (stored with it before the lock is released)."""
        ...

    def context(self) -> Mapping[str, Any]:
        """What the evaluation of the proposal needs from the study (read under the lock)."""
        ...

    def record(self, trial: Any, result: TrialResult) -> None:
        """Keep what later proposals need of ``trial``'s outcome (before it is told)."""
        ...


class Strategy:
    """The plain strategy: a space sampled by the backend's sampler, one evaluation a trial."""

    #: the backends that can run it
    backends: tuple[str, ...] = ("optuna", "ray")
    #: whether ``--retry-failed`` may run a failed trial's point again
    retries_failed: bool = True

    def search_name(self, exp: Experiment, backend: str) -> str:
        """The rows' ``search`` column."""
        return f"{backend}-{exp.search.sampler}"

    def direction(self, exp: Experiment) -> str:
        """The direction of the study's first objective (what its trials are told)."""
        return exp.search.direction

    def task_label(self, exp: Experiment) -> str:
        """The rows' ``task`` column."""
        return exp.task.name

    def row_task_options(self, cand: Candidate) -> dict[str, Any]:
        """The rows' ``task_options`` (part of the identity reuse and grid points match on)."""
        return task_options(cand.task)

    def check_hparams(self, hparams: Mapping[str, Any]) -> None:
        """Raise :class:`lstm_search.config.ConfigError` for sampled hyperparameters this
        strategy cannot apply (checked while a proposal is resolved)."""

    def label(self, exp: Experiment) -> str:
        """How messages name the strategy."""
        return f"search.sampler {exp.search.sampler!r}"

    def check_backend(self, exp: Experiment, backend: str) -> None:
        """Raise :class:`ExperimentError` unless ``backend`` can run this strategy."""
        if backend not in self.backends:
            raise ExperimentError(f"experiment {exp.name!r}: {self.label(exp)} runs on the "
                                  f"{' or '.join(self.backends)} backend (--backend "
                                  f"{self.backends[0]})")

    def proposer(self, exp: Experiment, study: Any, *, seed: int) -> Proposer | None:
        """The Optuna worker's :class:`Proposer` (None: the space samples each trial)."""
        return None

    def evaluate(self, call: Evaluation, exp: Experiment, cand: Candidate, *,
                 on_eval: OnEval | None, context: Mapping[str, Any]) -> TrialResult:
        """The trial's result; ``call(cand, on_eval)`` runs one evaluation of ``cand`` (the
        run's evaluate function, its curves written). ``context``: the proposer's."""
        return call(cand, on_eval)


PLAIN = Strategy()
_REGISTRY: dict[str, Strategy] = {}


def register(sampler: str, strategy: Strategy) -> Strategy:
    """Make ``strategy`` the one of experiments with ``search.sampler == sampler``."""
    _REGISTRY[sampler] = strategy
    return strategy


def strategy_of(exp: Experiment) -> Strategy:
    """The strategy of ``exp``'s sampler (the plain one unless a plug-in registered it)."""
    return _REGISTRY.get(exp.search.sampler, PLAIN)


__all__ = ["PLAIN", "Proposer", "Strategy", "register", "strategy_of"]
