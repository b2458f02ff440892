"""Evolutionary search as Jozefowicz, Zaremba & Sutskever 2015 ran it (section 3), on Optuna.

The population is the ``search.population`` best distinct cells found so far (by fitness),
seeded with the GRU (evaluated first: it is the reference) and the LSTM. Each step either
re-evaluates a member with new random hyperparameters (probability ``search.reeval_prob``) or
evaluates a mutant of a member (:func:`lstm_search.genome.mutate`: the paper's six operators, or
``search.mutation_operators``).
A candidate goes through the experiment's ``stages`` (memorisation first, then each task) and
stops as soon as it falls below the stage's fraction of the GRU; its fitness is the minimum over
the tasks it reached of (its result / the GRU's best result) (:func:`staged`).

Everything lives in the Optuna study through ask/tell: each trial stores its genome, cell name,
hyperparameters and step kind as user attributes, and its fitness as the value; so several
workers share one population, a resumed run continues it, and rows go to the same table as every
other strategy.

The paper seeds the population with a *tuned* LSTM and GRU: each seed cell is evaluated at
``search.seed_evals`` random hyperparameter settings before anything else is proposed, and the
GRU's best result over them is the reference (one unlucky setting, a learning rate at the top of
the range that diverges, would otherwise make every fitness meaningless). A seed cell counts
as done once that many of its trials completed; a failed one (a NaN with its random
hyperparameters, a killed worker) is seeded again, with new hyperparameters, giving up after
``SEED_ATTEMPTS`` x ``seed_evals`` failures. Workers propose under the study's ask lock and
the proposal's cell is stored before the lock is released, so two workers never seed the same
cell at once; while the GRU seed runs in another worker and every other seed is taken, a
worker waits (:meth:`Evolution.waiting_for_reference`) instead of evaluating candidates with
no reference.

The strategy plugs into the search through :class:`EvolutionStrategy` (registered for
``search.sampler = "evolution"``, see :mod:`lstm_search.search._strategy`): Optuna backend only,
its own proposals (:class:`Evolution`), staged evaluation, fitness maximised, rows labelled
with every stage's task.

A stage's ``min_fraction`` is its own (``Stage(task, 0.95)``; ``--set stages.min_fraction=F``
sets every stage's); a stage that leaves it unset uses ``search.gru_fraction`` (0.9, the
paper's "within 90 % of the GRU").
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lstm_search.config import ConfigError
from lstm_search.experiment import Experiment
from lstm_search.genome import Genome, genome_id, mutate
from lstm_search.results import MAXIMIZE_PREFIX, STAGE_PREFIX, TrialResult, ratio_to_gru
from lstm_search.search._strategy import Strategy, register
from lstm_search.spaces import Proposal, cell_name, sample_all, values_of

if TYPE_CHECKING:
    from lstm_search.evaluate import Candidate
    from lstm_search.search._strategy import Evaluation
    from lstm_search.train import OnEval

SEED_CELLS = ("gru", "lstm")  # the GRU first: every fitness is relative to it
SEED_ATTEMPTS = 3  # a seed cell whose trials failed this often is given up


def staged(call: Evaluation, exp: Experiment, cand: Candidate, *, on_eval: OnEval | None,
           references: Mapping[str, float]) -> TrialResult:
    """Jozefowicz et al. 2015's staged filtering: each stage's task in turn, stopping as soon as
    the cell falls below the stage's fraction of the GRU; fitness = min ratio to the GRU.

    ``references`` maps a stage's task name to the GRU's best objective on it; a stage without
    a reference yet counts as ratio 1 (the GRU itself is evaluated first).
    """
    stages = [(s.task, exp.search.gru_fraction if s.min_fraction is None else s.min_fraction)
              for s in exp.stages] + [(exp.task, 0.0)]
    fitness: dict[str, float] = {}
    stage_metrics: dict[str, float] = {}
    result: TrialResult | None = None
    for i, (task, min_fraction) in enumerate(stages):
        last = i == len(stages) - 1
        result = call(dataclasses.replace(cand, task=task), on_eval if last else None)
        if result.status != "complete":
            break
        ratio = ratio_to_gru(result.objective, references.get(task.name), result.direction)
        fitness[task.name] = ratio
        stage_metrics[STAGE_PREFIX + task.name] = float(result.objective or 0.0)
        stage_metrics[MAXIMIZE_PREFIX + task.name] = float(result.direction == "maximize")
        if ratio < min_fraction:
            break
    assert result is not None
    metrics = {**result.metrics, **stage_metrics}
    for name, r in fitness.items():
        metrics[f"fitness.{name}"] = r
    if result.status == "complete":
        # a cell stopped early has its failing ratio in the minimum already
        fit = min(fitness.values()) if fitness else 0.0
        metrics["fitness.min"] = fit
        return dataclasses.replace(result, task=EVOLUTION.task_label(exp), task_options={},
                                   metrics=metrics, objective=fit,
                                   objective_name="fitness.min", direction="maximize")
    return dataclasses.replace(result, task=EVOLUTION.task_label(exp), task_options={},
                               metrics=metrics)



class Evolution:
    """Proposes the next candidate of an evolutionary search from the study's history."""

    def __init__(self, exp: Experiment, study: Any, *, seed: int) -> None:
        self.exp = exp
        self.study = study
        n = len(study.get_trials(deepcopy=False))
        self.rng = random.Random(seed * 1_000_003 + n)

    # -- state read from the study ---------------------------------------------------------
    def _trials(self, complete_only: bool) -> list[Any]:
        import optuna

        states = ((optuna.trial.TrialState.COMPLETE,) if complete_only else None)
        return [t for t in self.study.get_trials(deepcopy=False, states=states)
                if "genome" in t.user_attrs]

    def fitness(self, trial: Any, references: dict[str, float] | None = None) -> float:
        """``trial``'s fitness against the GRU's best results so far: the minimum over the
        stages it reached of its result / the GRU's (:func:`ratio_to_gru`, as staged filtering
        scored it). The value a trial was told was relative to the reference of its time; the
        GRU's best only improves (seeds tuned on several settings, re-evaluations), so the
        population is ranked by this, not by the stored values, which the results table keeps
        as they were."""
        stages = json.loads(trial.user_attrs.get("stages", "{}"))
        if not stages:
            return float(trial.values[0])
        refs = self.references() if references is None else references
        return min(ratio_to_gru(value, refs.get(task), "maximize" if maximize else "minimize")
                   for task, (value, maximize) in stages.items())

    def population(self) -> list[tuple[float, str, str]]:
        """The best distinct cells: (fitness, genome JSON, cell name), best first, with
        fitness against the current references (:meth:`fitness`)."""
        best: dict[str, tuple[float, str, str]] = {}
        refs = self.references()
        for t in self._trials(complete_only=True):
            gid = t.user_attrs.get("genome_id", "")
            fit = self.fitness(t, refs)
            if gid not in best or fit > best[gid][0]:
                best[gid] = (fit, t.user_attrs["genome"], t.user_attrs.get("cell", ""))
        ranked = sorted(best.values(), key=lambda m: -m[0])
        return ranked[: self.exp.search.population]

    def pending_seeds(self, trials: list[Any] | None = None) -> list[str]:
        """The seed cells still to propose: fewer than ``search.seed_evals`` of their seed
        trials completed or are running, and fewer than ``SEED_ATTEMPTS`` x ``seed_evals``
        failed."""
        import optuna

        State = optuna.trial.TrialState
        trials = self._trials(complete_only=False) if trials is None else trials
        evals = self.exp.search.seed_evals
        pending = []
        for cell in SEED_CELLS:
            states = [t.state for t in trials if t.user_attrs.get("cell") == cell
                      and t.user_attrs.get("step") == "seed"]
            if sum(st in (State.COMPLETE, State.RUNNING) for st in states) >= evals:
                continue
            if sum(st in (State.FAIL, State.PRUNED) for st in states) < SEED_ATTEMPTS * evals:
                pending.append(cell)
        return pending

    def waiting_for_reference(self) -> bool:
        """True while the GRU seed runs (in another worker), has not completed before, and
        every other seed is taken: any other candidate would have no reference to be judged by.
        """
        import optuna

        State = optuna.trial.TrialState
        trials = self._trials(complete_only=False)
        gru = [t.state for t in trials if t.user_attrs.get("cell") == SEED_CELLS[0]]
        return (State.RUNNING in gru and State.COMPLETE not in gru
                and not self.pending_seeds(trials))

    def waiting(self) -> bool:
        return self.waiting_for_reference()

    def context(self) -> dict[str, Any]:
        """What staged filtering of the proposal needs: the GRU's ``references``."""
        return {"references": self.references()}

    def references(self) -> dict[str, float]:
        """The GRU's best objective on each stage's task so far."""
        refs: dict[str, float] = {}
        for t in self._trials(complete_only=False):
            if t.user_attrs.get("cell") != "gru" or "stages" not in t.user_attrs:
                continue
            for task, (value, maximize) in json.loads(t.user_attrs["stages"]).items():
                if task not in refs or (value > refs[task] if maximize else value < refs[task]):
                    refs[task] = value
        return refs

    # -- one step ---------------------------------------------------------------------------
    def propose(self, trial: Any) -> Proposal:
        """The candidate of ``trial``: a seed cell, a re-evaluation or a mutant."""
        from lstm_search import zoo

        pending = self.pending_seeds()
        sample_all(trial, self.exp.space.dists)  # fresh random hyperparameters every time
        hparams = values_of(trial.params, self.exp.space.dists)
        pop = self.population()
        if pending or not pop:
            name = pending[0] if pending else SEED_CELLS[0]
            genome, cell, kind, parent = zoo.get(name), name, "seed", ""
        else:
            _, parent_json, parent_cell = self.rng.choice(pop)
            parent_genome = Genome.from_json(parent_json)
            parent = genome_id(parent_genome)
            if self.rng.random() < self.exp.search.reeval_prob:
                genome, cell, kind = parent_genome, parent_cell, "reeval"
            else:
                genome = mutate(parent_genome, self.rng,
                                operators=self.exp.search.mutation_operators or None,
                                hidden_size=self._fixed_width(hparams)).genome
                cell, kind = cell_name(genome), "mutate"
        trial.set_user_attr("step", kind)
        trial.set_user_attr("parent_id", parent)
        trial.set_user_attr("genome_id", genome_id(genome))
        # stored now (the caller holds the ask lock): the next proposal sees this one
        trial.set_user_attr("genome", genome.to_json(indent=None))
        trial.set_user_attr("cell", cell)
        return Proposal(genome, cell, hparams)

    def _fixed_width(self, hparams: Mapping[str, Any]) -> int | None:
        """The hidden size a mutant will be built at (the experiment's, or this trial's
        sampled one), so that its heads divide it; None with a parameter budget, which picks
        a width the heads divide itself (:func:`lstm_search.evaluate.hidden_for_budget`)."""
        from lstm_search.evaluate import apply_hparams

        model, _ = apply_hparams(hparams, self.exp.model, self.exp.train)
        return None if model.param_budget is not None else model.hidden_size

    def record(self, trial: Any, result: TrialResult) -> None:
        """Keep the per-task results of ``trial`` (the GRU's become the references)."""
        stages = {k.split(".", 1)[1]: (v, bool(result.metrics.get(
                      "maximize." + k.split(".", 1)[1], 0.0)))
                  for k, v in result.metrics.items() if k.startswith("stage.")}
        trial.set_user_attr("stages", json.dumps(stages))


class EvolutionStrategy(Strategy):
    """The evolutionary strategy as a search plug-in (see the module docstring)."""

    backends = ("optuna",)  # ask/tell on one shared study
    retries_failed = False  # the next proposals depend on each outcome

    def search_name(self, exp: Experiment, backend: str) -> str:
        return "evolution"

    def direction(self, exp: Experiment) -> str:
        return "maximize"  # fitness: a fraction of the GRU

    def label(self, exp: Experiment) -> str:
        return "the evolutionary strategy (search.sampler 'evolution')"

    def task_label(self, exp: Experiment) -> str:
        if exp.stages:
            return "+".join([s.task.name for s in exp.stages] + [exp.task.name])
        return exp.task.name

    def row_task_options(self, cand: Candidate) -> dict[str, Any]:
        return {}  # several tasks: the stages' settings are the experiment's

    def check_hparams(self, hparams: Mapping[str, Any]) -> None:
        if any(k.startswith("task.") for k in hparams):
            raise ConfigError("task.<option> hyperparameters are not supported by the "
                              "evolutionary strategy (its stages fix the tasks)")

    def proposer(self, exp: Experiment, study: Any, *, seed: int) -> Evolution:
        return Evolution(exp, study, seed=seed)

    def evaluate(self, call: Evaluation, exp: Experiment, cand: Candidate, *,
                 on_eval: OnEval | None, context: Mapping[str, Any]) -> TrialResult:
        return staged(call, exp, cand, on_eval=on_eval,
                      references=context.get("references") or {})


EVOLUTION = register("evolution", EvolutionStrategy())

__all__ = ["EVOLUTION", "SEED_ATTEMPTS", "SEED_CELLS", "Evolution", "EvolutionStrategy",
           "ratio_to_gru", "staged"]
