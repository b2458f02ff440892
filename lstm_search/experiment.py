"""Experiments: one declaration of what to search, on which task, how long, with which budget.

An experiment file is a short Python module that builds a frozen :class:`Experiment` and binds
it to the name ``EXPERIMENT``::

    from lstm_search.config import ModelConfig, TaskConfig, TrainConfig
    from lstm_search.experiment import Experiment, SearchConfig
    from lstm_search.spaces import load_space

    EXPERIMENT = Experiment(
        name="quickstart",
        space=load_space("quickstart"),
        task=TaskConfig(name="recall", ...),
        model=ModelConfig(hidden_size=32, num_layers=1),
        train=TrainConfig(epochs=4),
        search=SearchConfig(trials=24, sampler="tpe"),
        smoke={"search.trials": 4, "train.epochs": 1},
    )

Experiment files are the user's own code, like a configuration file written in Python: they are
imported from their path (never evaluated from strings; :mod:`lstm_search.declarations`). A name
is looked up in the shipped catalogue (the top-level ``experiments/`` folder, installed as
``lstm_search.catalogue.experiments``). ``smoke`` holds the dotted overrides of
the smoke mode, ``paper`` those of the published scale (``--paper``: a cluster's worth of
trials and epochs where the defaults fit a laptop); ``--set key=value`` overrides are applied
after them, type-checked, and an unknown key is an error
(:class:`lstm_search.config.ConfigError`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lstm_search.config import ConfigError, ModelConfig, TaskConfig, TrainConfig, apply_overrides
from lstm_search.declarations import (
    EXPERIMENTS,
    DeclarationError,
    binds,
    catalogue_dir,
    find_declaration,
    import_declaration,
)
from lstm_search.genome import OPERATORS, FrozenMap
from lstm_search.results import json_ready

SAMPLERS = ("tpe", "random", "grid", "nsga2", "evolution")
PRUNERS = ("none", "median", "halving")
SECOND_OBJECTIVES = ("", "n_params", "step_time")


# An experiment (or a space it loads) that cannot be loaded or is malformed; the message says
# where. The same class as the declaration loader's error, so one ``except`` catches both.
ExperimentError = DeclarationError


@dataclass(frozen=True)
class SearchConfig:
    """How the search runs.

    ``sampler``: ``tpe`` (Optuna's TPE), ``random``, ``grid`` (every point of a space of
    cells and :class:`~lstm_search.spaces.Choice` hyperparameters once, e.g. cells x seeds;
    ``trials`` at most the grid's size), ``nsga2`` (multi-objective: the task's
    objective and ``second_objective``, both minimised or the task's direction, giving a Pareto
    front) or ``evolution`` (Jozefowicz et al. 2015, :mod:`lstm_search.search.evolution`).
    ``pruner``: ``none``, ``median`` (Optuna's MedianPruner) or ``halving`` (successive halving;
    ASHA under Ray). ``max_retries``: how often a trial that crashed its worker is retried (Ray).
    """

    trials: int = 20
    sampler: str = "tpe"
    pruner: str = "none"
    second_objective: str = ""
    workers: int = 1
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_retries: int = 1
    metric: str = ""  # metric fed to pruners; "": the first validation loss reported
    direction: str = "minimize"  # of the task's objective ("maximize" for accuracies)
    # evolution (Jozefowicz et al. 2015, section 3)
    population: int = 10
    reeval_prob: float = 0.3
    gru_fraction: float = 0.9
    seed_evals: int = 1  # random settings each seed cell (GRU, LSTM) is tuned on first
    # the mutation operators drawn from (lstm_search.genome.OPERATORS); empty: the paper's six
    mutation_operators: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "mutation_operators", tuple(self.mutation_operators))
        problems = []
        if self.trials < 1:
            problems.append(f"search.trials must be >= 1, got {self.trials}")
        if self.workers < 1:
            problems.append(f"search.workers must be >= 1, got {self.workers}")
        if self.sampler not in SAMPLERS:
            problems.append(f"search.sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        if self.pruner not in PRUNERS:
            problems.append(f"search.pruner must be one of {PRUNERS}, got {self.pruner!r}")
        if self.second_objective not in SECOND_OBJECTIVES:
            problems.append(f"search.second_objective must be one of {SECOND_OBJECTIVES}, "
                            f"got {self.second_objective!r}")
        if self.sampler == "nsga2" and not self.second_objective:
            problems.append("search.sampler 'nsga2' needs search.second_objective "
                            "('n_params' or 'step_time')")
        if self.direction not in ("minimize", "maximize"):
            problems.append(f"search.direction must be 'minimize' or 'maximize', "
                            f"got {self.direction!r}")
        if not 0.0 <= self.reeval_prob <= 1.0:
            problems.append(f"search.reeval_prob must be in [0, 1], got {self.reeval_prob}")
        if self.population < 2:
            problems.append(f"search.population must be >= 2, got {self.population}")
        if self.seed_evals < 1:
            problems.append(f"search.seed_evals must be >= 1, got {self.seed_evals}")
        if not (math.isfinite(self.cpus_per_trial) and self.cpus_per_trial > 0):
            problems.append(f"search.cpus_per_trial must be a finite number > 0, "
                            f"got {self.cpus_per_trial}")
        if not (math.isfinite(self.gpus_per_trial) and self.gpus_per_trial >= 0):
            problems.append(f"search.gpus_per_trial must be a finite number >= 0, "
                            f"got {self.gpus_per_trial}")
        if self.max_retries < 0:
            problems.append(f"search.max_retries must be >= 0, got {self.max_retries}")
        unknown = [o for o in self.mutation_operators if o not in OPERATORS]
        if unknown:
            problems.append(f"search.mutation_operators: unknown {', '.join(map(repr, unknown))}"
                            f" (known: {', '.join(OPERATORS)})")
        if not 0.0 <= self.gru_fraction <= 1.0:
            problems.append(f"search.gru_fraction must be in [0, 1], got {self.gru_fraction}")
        if problems:
            raise ConfigError("; ".join(problems))


@dataclass(frozen=True)
class Stage:
    """One stage of staged filtering (Jozefowicz et al. 2015): a task and the fraction of the
    GRU's fitness a candidate must reach on it to go on to the next stage (None: the
    experiment's ``search.gru_fraction``, the paper's 90 %)."""

    task: TaskConfig
    min_fraction: float | None = None


@dataclass(frozen=True)
class Experiment:
    """A search: a space of cells and hyperparameters, a task, training settings, a budget.

    ``stages`` (evolution only) are the filtering tasks run before ``task``, cheapest first.
    """

    name: str
    space: Any  # a lstm_search.spaces.SearchSpace
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    stages: tuple[Stage, ...] = ()
    smoke: Mapping[str, Any] = field(default_factory=dict)
    # the published scale (``lstm-search run NAME --paper``) where the defaults are cut down to
    # what a 2-core machine finishes: dotted overrides like ``smoke``
    paper: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", tuple(self.stages))
        # read-only (FrozenMap pickles, for workers and Ray trials): a loaded experiment is shared
        object.__setattr__(self, "smoke", FrozenMap(self.smoke))
        object.__setattr__(self, "paper", FrozenMap(self.paper))
        from lstm_search.spaces import SearchSpace

        problems = []
        if (not self.name or self.name in (".", "..")
                or not all(ch.isalnum() or ch in "_-." for ch in self.name)):
            problems.append(f"name must be a non-empty word of letters, digits, _ - . "
                            f"(not . or ..), got {self.name!r}")
        if not isinstance(self.space, SearchSpace):
            problems.append(f"space must be a SearchSpace (with name, hparam_names, sample, "
                            f"build), got {type(self.space).__name__}")
        for fname, tp in (("task", TaskConfig), ("model", ModelConfig), ("train", TrainConfig),
                          ("search", SearchConfig)):
            if not isinstance(getattr(self, fname), tp):
                problems.append(f"{fname} must be a {tp.__name__}, "
                                f"got {type(getattr(self, fname)).__name__}")
        if problems:
            raise ExperimentError(f"experiment {self.name!r}: " + "; ".join(problems))

    def with_overrides(self, overrides: Mapping[str, Any]) -> Experiment:
        """A copy with dotted ``section.field`` overrides applied (type-checked).

        Keys ``stages.<field>`` (e.g. ``stages.task.n_train``) apply to every stage.
        """
        overrides = dict(overrides)
        per_stage = {k[len("stages."):]: v for k, v in overrides.items()
                     if k.startswith("stages.")}
        rest = {k: v for k, v in overrides.items() if not k.startswith("stages.")}
        exp = apply_overrides(self, rest) if rest else self
        if per_stage:
            if not exp.stages:
                raise ConfigError(f"unknown configuration key {next(iter(per_stage))!r}: "
                                  f"experiment {exp.name!r} has no stages")
            try:
                stages = tuple(apply_overrides(s, per_stage) for s in exp.stages)
            except ConfigError as e:
                raise ConfigError(f"stages.{e}") from None
            exp = dataclasses.replace(exp, stages=stages)
        return exp

    def resolved(self, *, smoke: bool = False, overrides: Mapping[str, Any] = ()) -> Experiment:
        """The smoke overrides (if ``smoke``) then ``overrides`` applied."""
        exp = self
        if smoke:
            exp = exp.with_overrides(self.smoke)
        exp = exp.with_overrides(dict(overrides))
        # checked once every override is in (they are applied one key at a time)
        if exp.search.sampler == "grid":
            problems = _grid_problems(exp.space, exp.search.trials)
            if problems:
                raise ExperimentError(f"experiment {exp.name!r}: " + "; ".join(problems))
        return exp

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description: every setting, and the space as data
        (:func:`lstm_search.spaces.space_to_json`; None for a space class of the user's own,
        which only its ``repr`` describes). :meth:`from_dict` reads it back."""
        from lstm_search.spaces import space_to_json

        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "space":
                out[f.name] = {"name": getattr(value, "name", ""), "repr": repr(value),
                               "data": space_to_json(value)}
            elif dataclasses.is_dataclass(value):
                out[f.name] = dataclasses.asdict(value)
            elif f.name == "stages":
                out[f.name] = [dataclasses.asdict(s) for s in value]
            elif f.name in ("smoke", "paper"):
                out[f.name] = json_ready(dict(value))
            else:
                out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "the record") -> Experiment:
        """The experiment :meth:`to_dict` described (a run's ``run.json``), rebuilt from the
        data alone: no declaration file is executed. Raises :class:`ExperimentError` naming
        ``where`` when the data is incomplete (a space without its data form)."""
        from lstm_search.spaces import space_from_json

        space = dict(data.get("space") or {}).get("data")
        if not space:
            raise ExperimentError(f"{where}: the space of experiment {data.get('name')!r} is "
                                  f"recorded only by its repr (not one of the shipped space "
                                  f"kinds); it cannot be rebuilt from the record")
        try:
            return cls(
                name=data["name"], space=space_from_json(space),
                task=apply_overrides(TaskConfig(), dict(data["task"])),
                model=apply_overrides(ModelConfig(), dict(data["model"])),
                train=apply_overrides(TrainConfig(), dict(data["train"])),
                search=SearchConfig(**dict(data["search"])),  # checks fields together
                stages=tuple(Stage(apply_overrides(TaskConfig(), dict(st["task"])),
                                   st.get("min_fraction")) for st in data.get("stages", ())),
                smoke=dict(data.get("smoke") or {}), paper=dict(data.get("paper") or {}),
                seed=int(data.get("seed", 0)), description=str(data.get("description", "")))
        except (KeyError, TypeError, ValueError) as e:  # ConfigError is a ValueError
            raise ExperimentError(f"{where}: experiment {data.get('name')!r} cannot be rebuilt "
                                  f"from its record: {type(e).__name__}: {e}") from None


def _grid_problems(space: Any, trials: int) -> list[str]:
    grid = getattr(space, "grid", None)
    if grid is None:
        return [f"search.sampler 'grid' needs a space that can be enumerated; "
                f"{type(space).__name__} {space.name!r} cannot"]
    try:
        points = grid()
    except ValueError as e:
        return [str(e)]
    size = 1
    for values in points.values():
        size *= len(values)
    if trials > size:
        return [f"search.trials is {trials} but the grid of space {space.name!r} has {size} "
                f"point(s): set search.trials <= {size}"]
    return []


def experiments_dir() -> Path:
    """The folder of the shipped experiments (``lstm_search.catalogue.experiments``)."""
    return catalogue_dir(EXPERIMENTS)


def experiment_names(folder: str | Path | None = None) -> list[str]:
    """Names of the experiment files in ``folder`` (default: the shipped catalogue's); the
    suite files there (binding ``SUITE``: :mod:`lstm_search.suite`) are not experiments."""
    where = catalogue_dir(EXPERIMENTS) if folder is None else Path(folder)
    return sorted(p.stem for p in where.glob("*.py")
                  if not p.name.startswith("_") and not binds(p, "SUITE"))


def find_experiment(name_or_path: str | Path) -> Path:
    """The file of an experiment: a path to a ``.py`` file (the user's own, run by path), or a
    name in the shipped catalogue."""
    return find_declaration(name_or_path, EXPERIMENTS, "experiment")


def load_experiment(name_or_path: str | Path, *, smoke: bool = False,
                    overrides: Mapping[str, Any] = ()) -> Experiment:
    """Load ``EXPERIMENT`` from a file (or a name in ``experiments/``), resolved.

    Raises :class:`ExperimentError` for a missing or malformed file and
    :class:`lstm_search.config.ConfigError` for an unknown or mistyped override key.
    """
    path = find_experiment(name_or_path)
    if binds(path, "SUITE") and not binds(path, "EXPERIMENT"):
        raise ExperimentError(f"{path} is a suite (it binds SUITE): run it with `lstm-search "
                              "run`, which runs each of its experiments, or load it with "
                              "lstm_search.suite.load_suite")
    exp = import_declaration(path, "EXPERIMENT", "experiment")
    if not isinstance(exp, Experiment):
        raise ExperimentError(f"{path}: EXPERIMENT must be a lstm_search.experiment.Experiment, "
                              f"got {type(exp).__name__}")
    return exp.resolved(smoke=smoke, overrides=overrides)


__all__ = [
    "Experiment",
    "ExperimentError",
    "SearchConfig",
    "Stage",
    "experiment_names",
    "experiments_dir",
    "find_experiment",
    "import_declaration",
    "load_experiment",
]
