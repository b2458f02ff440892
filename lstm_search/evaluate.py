"""``evaluate_candidate``: validate -> compile -> build -> train -> :class:`TrialResult`.

The one door through which ``lstm-search train``, ``lstm-search run``, Optuna and Ray Tune
evaluate a cell. It never raises for a bad trial: an invalid genome gives a row with status
"invalid" (no training), a diverging or crashing run a row with status "failed" and the reason.
"""

from __future__ import annotations

import dataclasses
import math
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lstm_search.config import (
    ConfigError,
    ModelConfig,
    SettingRangeError,
    TaskConfig,
    TrainConfig,
    apply_overrides,
)
from lstm_search.genome import (
    FrozenMap,
    Genome,
    canonical,
    cell_name,
    genome_id,
    hidden_multiple,
    validate,
)
from lstm_search.provenance import trial_provenance
from lstm_search.results import TrialResult, now, task_options

if TYPE_CHECKING:
    from torch import nn

    from lstm_search.results import ResultsWriter
    from lstm_search.tasks import Task
    from lstm_search.train import OnEval

__all__ = [
    "Candidate",
    "StackFactory",
    "apply_hparams",
    "build_model",
    "evaluate_candidate",
    "hidden_for_budget",
    "hidden_multiple",
    "make_rnn",
    "prepare_native",
    "resolve_candidate",
]


@dataclass(frozen=True)
class Candidate:
    """One trial, resolved: the cell and every setting that shapes its training, fixed before
    it starts. Built by :func:`resolve_candidate` (the one place a sampled point becomes
    settings); every backend trains exactly this.

    ``cell``: the zoo name ("": :func:`lstm_search.genome.cell_name`). ``task`` / ``model`` /
    ``train``: the experiment's configs with the trial's hyperparameters applied
    (``model.param_budget`` is turned into a hidden size when the task is built).
    ``hparams``: the sampled values the row records (``seed`` and ``task.<option>`` are
    applied to ``seed`` and ``task`` instead); ``distributions``: the JSON of the distribution
    each sampled value was drawn from. ``problem``: a sampled value out of its setting's range
    (the trial fails without training; the configs are then the experiment's).
    """

    genome: Genome
    cell: str
    task: TaskConfig
    model: ModelConfig
    train: TrainConfig
    seed: int = 0
    hparams: Mapping[str, Any] = field(default_factory=FrozenMap)
    distributions: Mapping[str, Any] = field(default_factory=FrozenMap)
    problem: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "cell", self.cell or cell_name(self.genome))
        object.__setattr__(self, "hparams", FrozenMap(self.hparams))
        object.__setattr__(self, "distributions", FrozenMap(self.distributions))


TASK_PREFIX = "task."


def resolve_candidate(genome: Genome, cell: str, hparams: Mapping[str, Any], *,
                      task: TaskConfig, model: ModelConfig, train: TrainConfig, seed: int = 0,
                      distributions: Mapping[str, Any] | None = None) -> Candidate:
    """The :class:`Candidate` of a sampled point: ``hparams`` applied to the configs.

    - ``seed``: the trial's seed instead of ``seed`` (a space may sample it, to repeat a
      comparison over seeds);
    - ``task.<option>``: applied to ``task`` (a grid over cells x ``task.gap``);
    - any other key: a field of :class:`ModelConfig` or :class:`TrainConfig`
      (:func:`apply_hparams`).

    A non-integer seed or an unknown key raises :class:`ConfigError` (the declaration's fault:
    every trial would fail the same way); a value out of its setting's range gives a candidate
    with ``problem`` set.
    """
    hp = dict(hparams)
    if "seed" in hp:
        value = hp.pop("seed")
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            raise ConfigError(f"hyperparameter 'seed' must be an integer, got {value!r}")
        seed = int(value)
    task_sets = {k[len(TASK_PREFIX):]: v for k, v in hp.items() if k.startswith(TASK_PREFIX)}
    if task_sets:
        hp = {k: v for k, v in hp.items() if not k.startswith(TASK_PREFIX)}
        task = apply_overrides(task, task_sets)
    problem = ""
    try:
        model, train = apply_hparams(hp, model, train)
    except SettingRangeError as e:  # a sampled value out of range: a failed trial, no crash
        problem = str(e)
    return Candidate(genome=genome, cell=cell, task=task, model=model,
                     train=train, seed=seed, hparams=hp, distributions=distributions or {},
                     problem=problem)


_MODEL_KEYS = frozenset(f.name for f in dataclasses.fields(ModelConfig))
_TRAIN_KEYS = frozenset(f.name for f in dataclasses.fields(TrainConfig))


def apply_hparams(hparams: Mapping[str, Any], model: ModelConfig, train: TrainConfig
                  ) -> tuple[ModelConfig, TrainConfig]:
    """Model and train configs with ``hparams`` applied (keys: their field names, optionally
    prefixed "model." / "train."); unknown keys raise :class:`ConfigError`."""
    m: dict[str, Any] = {}
    t: dict[str, Any] = {}
    for key, value in hparams.items():
        name = key.split(".", 1)[1] if key.startswith(("model.", "train.")) else key
        if key.startswith("train.") or (not key.startswith("model.") and name in _TRAIN_KEYS
                                        and name not in _MODEL_KEYS):
            t[name] = value
        elif name in _MODEL_KEYS:
            m[name] = value
        else:
            raise ConfigError(f"unknown hyperparameter {key!r}; known: "
                              f"{', '.join(sorted(_MODEL_KEYS | _TRAIN_KEYS))}")
    return apply_overrides(model, m), apply_overrides(train, t)


def prepare_native(genomes: list[Genome], model: ModelConfig) -> float:
    """With ``model.backend == "native"``, build the native libraries of ``genomes`` at once
    before trials that use them (:func:`lstm_search.nn.prebuild_native`); the seconds it took
    (0.0 for another backend, or when everything was built before)."""
    if model.backend != "native":
        return 0.0
    from lstm_search.nn import prebuild_native

    return prebuild_native(genomes, model.hidden_size)


def make_rnn(genome: Genome, input_size: int, model: ModelConfig, *, seed: int | None = None,
             spatial: tuple[int, int] | None = None) -> nn.Module:
    """The compiled recurrent stack of ``genome`` (time-major, like ``torch.nn.LSTM``).

    ``model.init_scale`` s draws its weights from U(-s, s) (Zaremba et al. 2014), a node's own
    ``bias_init`` (LSTM-b's forget bias) kept; None keeps the compiler's default,
    U(-1/sqrt(n), 1/sqrt(n)) like torch.nn.LSTM. ``model.tie_layers`` shares one parameter
    set across depth. ``spatial`` (H, W): the map size of a spatial cell (genome format 2's
    ``values``; sizes are then channels).
    """

    from lstm_search.nn import compile_rnn

    # the compiler's bound is init_scale / sqrt(n·K²) (K = 1 for vectors): this gives U(-s, s)
    fan = math.sqrt(model.hidden_size) * max(genome.kernel, 1)
    scale = 1.0 if model.init_scale is None else model.init_scale * fan
    tie: bool | str = {None: False, "auto": True}.get(model.tie_layers, model.tie_layers or False)
    return compile_rnn(genome, input_size, model.hidden_size, num_layers=model.num_layers,
                       dropout=model.dropout if model.num_layers > 1 else 0.0,
                       batch_first=False, backend=model.backend, init_scale=scale, seed=seed,
                       tie_layers=tie, spatial=spatial)


class StackFactory:
    """The :data:`~lstm_search.tasks.RNNFactory` a task builds its model around:
    ``factory(input_size)`` is :func:`make_rnn`'s stack of ``genome``; for a spatial cell
    (``spatial`` True) ``factory(channels, spatial=(H, W))``."""

    def __init__(self, genome: Genome, model: ModelConfig, seed: int | None = None) -> None:
        self.genome, self.model, self.seed = genome, model, seed
        self.spatial = bool(genome.kernel)

    def __call__(self, input_size: int, spatial: tuple[int, int] | None = None) -> nn.Module:
        if self.spatial and spatial is None:
            raise ConfigError(f"{self.genome.name or 'this cell'} is a cell of spatial values "
                              "(maps, genome format 2): the task gives its stack vectors; "
                              "train it on a task of frames (moving_shapes)")
        return make_rnn(self.genome, input_size, self.model, seed=self.seed, spatial=spatial)


def build_model(genome: Genome, task: Task, model: ModelConfig, train: TrainConfig, *,
                seed: int) -> nn.Module:
    """The task's model around the compiled cell, initialised reproducibly from ``seed``.

    With ``model.init_scale`` s every parameter outside the cell (embedding, decoder) is drawn
    from U(-s, s) as well (Zaremba et al. 2014).
    """
    import torch

    torch.manual_seed(seed)  # modules' default initialisation draws from the global generator
    net = task.build_model(StackFactory(genome, model, seed), model, train)
    if model.init_scale is not None:
        gen = torch.Generator().manual_seed(seed)
        rnn = getattr(net, "rnn", None)
        skip = {id(p) for p in rnn.parameters()} if rnn is not None else set()
        with torch.no_grad():
            for p in net.parameters():
                if id(p) not in skip:
                    p.uniform_(-model.init_scale, model.init_scale, generator=gen)
    return net


def n_parameters(module: nn.Module) -> int:
    """Distinct parameters (tied weights counted once)."""
    return sum(p.numel() for p in {id(p): p for p in module.parameters()}.values())


def hidden_for_budget(genome: Genome, task: Task, model: ModelConfig, train: TrainConfig,
                      budget: int, *, max_hidden: int = 8192) -> int:
    """The hidden size whose whole model (``task``'s embedding and head around ``genome``'s
    stack) has the number of parameters closest to ``budget`` (the smaller size on a tie),
    among the multiples of the genome's head count (:func:`hidden_multiple`: a head-wise
    projection or cell needs its heads to divide the hidden size).

    Comparing cells at an equal parameter count rather than an equal width is how
    Jozefowicz et al. (2015) and Collins et al. (2017) compare architectures. The count grows
    with the hidden size, so a bisection over sizes finds it; each probe builds the model with
    the eager backend (no compilation).
    """
    if budget < 1:
        raise ConfigError(f"model.param_budget must be >= 1, got {budget}")
    probe = dataclasses.replace(model, backend="eager", init_scale=None, param_budget=None)
    step = hidden_multiple(genome)
    top = max(1, max_hidden // step)  # multiples k of step, hidden = k * step

    def count(k: int) -> int:
        m = dataclasses.replace(probe, hidden_size=k * step)
        net = task.build_model(StackFactory(genome, m), m, train)
        return n_parameters(net)

    lo = 1
    if count(lo) >= budget:
        return lo * step
    hi = min(2, top)  # grow geometrically (no huge probe models), then bisect
    while count(hi) <= budget:
        if hi >= top:
            return top * step
        lo, hi = hi, min(2 * hi, top)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count(mid) <= budget:
            lo = mid
        else:
            hi = mid
    return (lo if budget - count(lo) <= count(hi) - budget else hi) * step


def _summary(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)[-3:]
    where = "; ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}" for f in tb)
    return f"{type(exc).__name__}: {exc} (at {where})"


def evaluate_candidate(
    candidate: Candidate,
    *,
    experiment: str = "",
    run: str = "",
    trial: int = 0,
    on_eval: OnEval | None = None,
    checkpoint_dir: str | None = None,
    writer: ResultsWriter | None = None,
    search: str = "",
    task_obj: Task | None = None,
) -> TrialResult:
    """Train ``candidate`` (its task, model and train settings) and return its row.

    ``on_eval(epoch, metrics, final)`` is called after each epoch's validation (``final``: the
    trainer stops after this epoch anyway); returning True or raising
    :class:`lstm_search.train.StopTrial` stops with status "pruned". With ``writer``
    every epoch's metrics are appended to the run's curves (the row itself is not appended:
    the caller does that, once). ``task_obj`` reuses an already built task (data loaded once
    per process). Configuration errors (an unknown task, missing data, a parameter budget with
    a hidden-size hyperparameter) raise; everything that goes wrong in training gives status
    "failed".
    """
    start, t0 = now(), time.perf_counter()
    genome = candidate.genome
    model_cfg, train_cfg = candidate.model, candidate.train
    problems = validate(genome)
    try:
        canon = canonical(genome).to_json(indent=None) if not problems else genome.to_json(None)
        gid = genome_id(genome) if not problems else ""
    except Exception:  # a broken genome may not canonicalise; the problems say why
        canon, gid = genome.to_json(indent=None), ""
    row: dict[str, Any] = dict(
        experiment=experiment, run=run, trial=trial, cell=candidate.cell, genome_id=gid,
        genome=canon, task=candidate.task.name, task_options=task_options(candidate.task),
        seed=candidate.seed, hparams=dict(candidate.hparams),
        distributions=dict(candidate.distributions), backend=model_cfg.backend, search=search,
        start_time=start, **trial_provenance(threads=train_cfg.threads))
    if problems:
        return TrialResult(**row, status="invalid", error="; ".join(str(p) for p in problems),
                           end_time=now())
    if candidate.problem:
        return TrialResult(**row, status="failed", error=candidate.problem, end_time=now())

    from lstm_search.tasks import make_task
    from lstm_search.train import resolve_device
    from lstm_search.train import train as run_training

    the_task = task_obj if task_obj is not None else make_task(candidate.task)
    if model_cfg.param_budget is not None:
        if "hidden_size" in candidate.hparams:
            raise ConfigError("set either model.param_budget or a hidden_size hyperparameter, "
                              "not both")
        hidden = hidden_for_budget(genome, the_task, model_cfg, train_cfg,
                                   model_cfg.param_budget)
        model_cfg = dataclasses.replace(model_cfg, hidden_size=hidden)
    row.update(hidden_size=model_cfg.hidden_size, objective_name=the_task.objective_name,
               direction=the_task.direction, device=str(resolve_device(train_cfg.device)))

    def report(epoch: int, metrics: dict[str, float], final: bool) -> bool | None:
        if writer is not None:
            writer.append_curve(run, trial, epoch, metrics)
        return on_eval(epoch, metrics, final) if on_eval is not None else None

    try:
        net = build_model(genome, the_task, model_cfg, train_cfg, seed=candidate.seed)
        row["n_params"] = n_parameters(net)
        outcome = run_training(net, the_task, train_cfg, seed=candidate.seed, on_eval=report,
                               checkpoint_dir=checkpoint_dir, genome_json=canon)
    except Exception as e:  # a bad trial never raises: it is recorded as failed
        return TrialResult(**row, status="failed", error=_summary(e),
                           train_seconds=time.perf_counter() - t0, end_time=now())
    row.update(device=outcome.device)
    return TrialResult(**row, status=outcome.status, error=outcome.error,
                       metrics=dict(outcome.metrics), objective=outcome.objective,
                       best_epoch=outcome.best_epoch, epochs=outcome.epochs,
                       train_seconds=outcome.train_seconds,
                       tokens_per_second=outcome.tokens_per_second, end_time=now())
