"""The trainer: epochs of (truncated) backpropagation through time, validation, early stopping.

It knows nothing of Optuna or Ray: the one coupling to search code is ``on_eval(epoch,
metrics)``, called after each epoch's validation; returning True (or raising :class:`StopTrial`)
stops the run with status "pruned".

- Truncated BPTT (Williams & Peng 1990) for language models: the state is carried from one
  window to the next, detached, and reset at the start of every epoch (Zaremba et al. 2014).
- Gradient clipping by global norm (Pascanu et al. 2013), SGD with (Nesterov) momentum and step
  or plateau decay, or Adam (Kingma & Ba 2015).
- Early stopping on the validation objective; test metrics are computed once, with the weights
  of the best validation epoch.
- A non-finite loss ends the run with status "failed" and the reason; it is never raised.
- A checkpoint after every epoch (:mod:`lstm_search.checkpoint`); a run resumed from it ends
  with the same metrics as one never interrupted.
- A time budget (``train.max_seconds``, wall time of training and validation summed over every
  call on the same checkpoint) is checked after each training batch. When it runs out
  mid-epoch, the checkpoint keeps the position: the batch reached, the epoch's running loss
  and item count, the carried recurrent state and the random states, so a later call with more
  budget (or none) finishes that same epoch from the next batch and ends exactly as a run never
  stopped. The partial epoch is validated for the outcome only: it appears last in
  ``history`` marked ``partial`` (with its ``batches``), ``TrainOutcome.partial_epoch`` names
  it, and it competes for the best epoch of that outcome (test metrics are then those of the
  weights at the stop), but it leaves no trace in the checkpoint's best epoch, patience or
  schedule. A call whose budget is already spent trains nothing and reports the same outcome.
- A pruned run's checkpoint says so: resuming it returns status "pruned" without training.
"""

from __future__ import annotations

import dataclasses
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from lstm_search.checkpoint import capture_rng, load_checkpoint, restore_rng, save_checkpoint
from lstm_search.config import TrainConfig
from lstm_search.nn import detach_state
from lstm_search.tasks import Task

__all__ = [
    "OnEval",
    "StopTrial",
    "TrainOutcome",
    "evaluate_split",
    "resolve_device",
    "seed_everything",
    "train",
]

OnEval = Callable[[int, dict[str, float]], "bool | None"]

# the clock of the time budget and of the seconds reported (tests replace it)
_clock: Callable[[], float] = time.perf_counter

# settings that may differ between a run and its resumption
_RESUMABLE_CHANGES = ("epochs", "max_seconds", "progress", "device", "threads", "patience")


class StopTrial(Exception):
    """Raised by an ``on_eval`` callback to stop the run (status "pruned")."""


class NonFiniteLoss(Exception):
    """A loss became NaN or infinite (internal: the run ends as "failed")."""


@dataclass
class TrainOutcome:
    """What a training run produced.

    ``metrics`` holds the best epoch's ``train.loss`` and ``valid.*`` values and, when the run
    completed, ``test.*`` computed with the best epoch's weights. ``history`` has one dict per
    epoch (``epoch``, ``lr``, ``train.loss``, ``valid.*``, ``seconds``). ``epochs`` counts the
    epochs trained, a partial one included; ``partial_epoch`` is the number of the last epoch
    when the time budget stopped it mid-way (its history entry has ``partial`` 1.0 and the
    ``batches`` done), else None.
    """

    status: Literal["complete", "pruned", "failed"]
    error: str | None = None
    stop_reason: str = ""
    best_epoch: int | None = None
    epochs: int = 0
    objective: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0
    tokens_per_second: float | None = None
    device: str = ""
    resumed_from_epoch: int | None = None
    partial_epoch: int | None = None


def resolve_device(name: str) -> torch.device:
    """"auto" picks CUDA when present, else the CPU; anything else is passed to torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"train.device: bad device {name!r} ({e})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device is {name!r} but CUDA is not available")
    return device


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy's legacy global generator and Python's ``random``.

    Dropout and input noise draw from torch's global generator, so a trial seeds it at its
    start (and a checkpoint saves and restores it) rather than relying on whatever state
    earlier code left behind.
    """
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _dtype(name: str) -> torch.dtype:
    return {"float32": torch.float32, "float64": torch.float64}[name]


def _is_better(value: float, best: float | None, direction: str) -> bool:
    if best is None:
        return True
    return value < best if direction == "minimize" else value > best


@torch.no_grad()
def evaluate_split(model: nn.Module, task: Task, split: str, *, batch_size: int, bptt: int,
                   device: torch.device, dtype: torch.dtype = torch.float32
                   ) -> dict[str, float]:
    """Metrics of ``model`` on ``split`` (eval mode: no dropout, no noise)."""
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    state = None
    try:
        for batch in task.batches(split, batch_size, bptt):
            batch = batch.to(device, dtype)
            out, state = model(batch.x, state if task.carry_state else None)
            for k, v in task.score(out, batch).items():
                sums[k] = sums.get(k, 0.0) + v
    finally:
        model.train(was_training)
    return task.summarize(sums)


def _lr_scale(cfg: TrainConfig) -> float:
    """The factor between the schedule's learning rate and the optimizer's step size:
    ``1 - momentum`` with ``momentum_rescale`` (Greff et al. 2015, section IV: "the learning
    rate was rescaled by a factor of (1 - momentum)"), so that the steady-state step of SGD
    with momentum is the learning rate times the gradient; 1 otherwise."""
    if cfg.optimizer == "sgd" and cfg.momentum_rescale:
        return 1.0 - cfg.momentum
    return 1.0


def _make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr * _lr_scale(cfg), momentum=cfg.momentum,
                               nesterov=cfg.nesterov and cfg.momentum > 0,
                               weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"train.optimizer: unknown optimizer {cfg.optimizer!r}; use 'sgd' or 'adam'")


def _progress(total: int, epoch: int, unit: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=f"epoch {epoch}", unit="batch", file=sys.stderr, leave=False,
                disable=not (enabled and sys.stderr.isatty()), dynamic_ncols=True)


def _config_dict(cfg: TrainConfig) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _RESUMABLE_CHANGES}


def _clone_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class _Run:
    """The mutable state of one training run (what a checkpoint holds besides weights)."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.epoch = 0  # epochs finished
        self.lr = cfg.lr
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0  # epochs since the last improvement
        self.decaying = False  # plateau schedule: decay started
        self.history: list[dict[str, float]] = []
        self.seconds = 0.0  # wall time, all epochs (training and validation)
        self.train_seconds = 0.0  # wall time in training batches only
        self.items = 0  # training items (tokens, frames, sequences) processed
        self.stop_reason = ""
        self.finished = False  # for good: epochs done, early stopping or pruned
        self.pruned = False  # on_eval stopped the run
        self.out_of_time = False  # the time budget stopped the last call (resumable)
        # mid-epoch position of a time-budget stop: batch (done), loss_sum, items, seconds,
        # train_seconds of the epoch so far; None between epochs
        self.position: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    def load(self, data: dict[str, Any]) -> None:
        for k, v in data.items():
            if hasattr(self, k):
                setattr(self, k, v)
        if self.finished and "out_of_time" not in data and \
                self.stop_reason.startswith("time budget"):
            self.finished = False  # written before time stops were resumable


def _lr_for_epoch(run: _Run, cfg: TrainConfig, epoch: int) -> float:
    """The learning rate of 1-based ``epoch``."""
    if cfg.lr_schedule == "step":
        # Zaremba et al. 2014 / TF ptb_word_lm: lr * decay ** max(epoch - decay_start, 0)
        return cfg.lr * cfg.lr_decay ** max(epoch - cfg.decay_start, 0)
    if cfg.lr_schedule == "plateau":
        # Jozefowicz et al. 2015: once `plateau_patience` epochs bring no improvement, the rate
        # is multiplied by lr_decay at every following epoch
        if run.decaying or run.bad_epochs >= cfg.plateau_patience:
            run.decaying = True
            return run.lr * cfg.lr_decay
        return run.lr
    return cfg.lr


def train(
    model: nn.Module,
    task: Task,
    config: TrainConfig,
    *,
    seed: int,
    on_eval: OnEval | None = None,
    checkpoint_dir: str | None = None,
    genome_json: str = "",
    evaluate_test: bool = True,
    on_batch: Callable[[int, int, float], None] | None = None,
) -> TrainOutcome:
    """Train ``model`` on ``task``; return a :class:`TrainOutcome` (never raises for a diverging
    run: a non-finite loss gives status "failed").

    With ``checkpoint_dir`` a checkpoint is written after every epoch (and at a time-budget or
    pruning stop) and, when one is already there, the run continues from it (same weights,
    optimizer, schedule, random states and, after a mid-epoch time stop, position in the
    epoch), so the final metrics equal those of an uninterrupted run; a run the checkpoint
    records as pruned returns status "pruned" at once. ``on_batch(epoch, batch, loss)``
    sees every training batch's mean loss per item (loss curves, parity tests). Exceptions
    other than a non-finite loss or :class:`StopTrial` (bad configuration, a bug) propagate.
    """
    threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        return _train(model, task, config, seed=seed, on_eval=on_eval,
                      checkpoint_dir=checkpoint_dir, genome_json=genome_json,
                      evaluate_test=evaluate_test, on_batch=on_batch)
    finally:
        torch.set_num_threads(threads)  # leave the process as it was


def _train(model: nn.Module, task: Task, cfg: TrainConfig, *, seed: int,
           on_eval: OnEval | None, checkpoint_dir: str | None, genome_json: str,
           evaluate_test: bool, on_batch: Callable[[int, int, float], None] | None
           ) -> TrainOutcome:
    device = resolve_device(cfg.device)
    dtype = _dtype(cfg.dtype)
    if cfg.epochs < 0 or cfg.batch_size < 1 or cfg.bptt < 1:
        raise ValueError(f"train: epochs >= 0, batch_size >= 1 and bptt >= 1 are required "
                         f"(got {cfg.epochs}, {cfg.batch_size}, {cfg.bptt})")
    model.to(device=device, dtype=dtype)
    optimizer = _make_optimizer(model, cfg)
    run = _Run(cfg)
    best_state: dict[str, torch.Tensor] | None = None
    eval_bs = cfg.eval_batch_size or cfg.batch_size
    outcome = TrainOutcome(status="complete", device=str(device))

    payload = load_checkpoint(checkpoint_dir, map_location=device) if checkpoint_dir else None
    carried: Any = None  # recurrent state at a mid-epoch stop
    if payload is not None:
        saved_cfg = payload.get("config", {})
        if saved_cfg != _config_dict(cfg) or payload.get("genome", "") != genome_json:
            changed = sorted(k for k in set(saved_cfg) | set(_config_dict(cfg))
                             if saved_cfg.get(k) != _config_dict(cfg).get(k))
            raise ValueError(f"checkpoint in {checkpoint_dir} belongs to another run "
                             f"(differs in: {', '.join(changed) or 'genome'}); "
                             "use another checkpoint folder")
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        run.load(payload["trainer"])
        best_state = payload.get("best_model")
        carried = payload.get("carried_state")
        restore_rng(payload["rng"])
        outcome.resumed_from_epoch = run.epoch
    else:
        seed_everything(seed)

    def checkpoint() -> None:
        if checkpoint_dir:
            save_checkpoint(checkpoint_dir, {
                "genome": genome_json, "config": _config_dict(cfg), "model": model.state_dict(),
                "best_model": best_state, "optimizer": optimizer.state_dict(),
                "trainer": run.to_dict(), "rng": capture_rng(),
                "carried_state": carried if run.position is not None else None})

    def over_budget() -> bool:
        return cfg.max_seconds is not None and run.seconds > cfg.max_seconds

    total = task.n_batches("train", cfg.batch_size, cfg.bptt)
    try:
        while not run.finished and run.epoch < cfg.epochs:
            if over_budget():
                if not run.out_of_time:  # the budget ran out with the epoch just finished
                    run.out_of_time = True
                    run.stop_reason = f"time budget of {cfg.max_seconds}s spent"
                    checkpoint()
                break
            run.out_of_time, run.stop_reason = False, ""
            epoch = run.epoch + 1
            if run.position is None:  # a mid-epoch resume keeps the epoch's rate
                run.lr = _lr_for_epoch(run, cfg, epoch)
            for group in optimizer.param_groups:
                group["lr"] = run.lr * _lr_scale(cfg)
            pos = dict(run.position or {"batch": 0, "loss_sum": 0.0, "items": 0,
                                        "seconds": 0.0, "train_seconds": 0.0})
            t0 = _clock()
            done, loss_sum, items, carried, stopped = _train_epoch(
                model, task, optimizer, cfg, run, epoch, seed, device, dtype, on_batch,
                start=int(pos["batch"]), loss_sum=float(pos["loss_sum"]),
                items=int(pos["items"]), state=carried)
            t_train = _clock() - t0
            run.train_seconds += t_train
            run.items += items - int(pos["items"])
            if stopped:  # out of time mid-epoch: keep the position, validate for show
                run.seconds += t_train
                run.position = {"batch": done, "loss_sum": loss_sum, "items": items,
                                "seconds": float(pos["seconds"]) + t_train,
                                "train_seconds": float(pos["train_seconds"]) + t_train}
                run.out_of_time = True
                run.stop_reason = (f"time budget of {cfg.max_seconds}s spent (epoch {epoch} "
                                   f"stopped after batch {done} of {total})")
                carried = detach_state(carried) if task.carry_state else None
                checkpoint()
                break
            carried = None
            valid = evaluate_split(model, task, "valid", batch_size=eval_bs, bptt=cfg.bptt,
                                   device=device, dtype=dtype)
            run.seconds += _clock() - t0
            epoch_train = float(pos["train_seconds"]) + t_train
            metrics = {"epoch": float(epoch), "lr": run.lr, "train.loss": loss_sum / max(items, 1),
                       **{f"valid.{k}": v for k, v in valid.items()},
                       "seconds": float(pos["seconds"]) + _clock() - t0,
                       f"train.{task.unit}": float(items),
                       f"train.{task.unit}_per_second": items / max(epoch_train, 1e-9)}
            run.position = None
            run.history.append(metrics)
            run.epoch = epoch
            value = valid[task.objective]
            if not math.isfinite(value):
                raise NonFiniteLoss(f"validation {task.objective} is {value} after epoch {epoch}")
            if _is_better(value, run.best_value, task.direction):
                run.best_value, run.best_epoch, run.bad_epochs = value, epoch, 0
                best_state = _clone_state(model)
            else:
                run.bad_epochs += 1
            if cfg.patience is not None and run.bad_epochs >= cfg.patience:
                run.finished, run.stop_reason = True, f"early stopping after epoch {epoch}"
            checkpoint()  # before on_eval: a callback that raises leaves this epoch saved
            if on_eval is not None:
                try:
                    stop = on_eval(epoch, dict(metrics))
                except StopTrial as e:
                    stop, run.stop_reason = True, str(e) or "stopped by on_eval"
                if stop:
                    run.finished, run.pruned = True, True
                    run.stop_reason = run.stop_reason or f"pruned after epoch {epoch}"
                    checkpoint()  # so that a resumed run is pruned too
                    break
        if not run.stop_reason:
            run.stop_reason = f"{run.epoch} epochs"
        if run.pruned:
            outcome.status = "pruned"
        partial = _partial_entry(model, task, cfg, run, eval_bs, device, dtype)
    except NonFiniteLoss as e:
        outcome.status, outcome.error = "failed", str(e)
        run.stop_reason = "non-finite loss"
        partial = None

    outcome.stop_reason = run.stop_reason
    outcome.history = list(run.history)
    outcome.best_epoch = run.best_epoch
    outcome.objective = run.best_value
    outcome.train_seconds = run.seconds
    outcome.tokens_per_second = run.items / run.train_seconds if run.train_seconds else None
    best = run.history[run.best_epoch - 1] if run.best_epoch is not None else None
    if partial is not None:
        outcome.history.append(partial)
        outcome.partial_epoch = int(partial["epoch"])
        value = partial[f"valid.{task.objective}"]
        if _is_better(value, run.best_value, task.direction):
            # the weights at the stop are the best of this outcome (not of the checkpoint)
            best, best_state = partial, _clone_state(model)
            outcome.best_epoch, outcome.objective = outcome.partial_epoch, value
    outcome.epochs = len(outcome.history)
    if best is not None:
        outcome.metrics = {k: v for k, v in best.items()
                           if k.startswith(("train.loss", "valid."))}
        if evaluate_test and outcome.status == "complete" and best_state is not None:
            model.load_state_dict(best_state)
            test = evaluate_split(model, task, "test", batch_size=eval_bs, bptt=cfg.bptt,
                                  device=device, dtype=dtype)
            outcome.metrics.update({f"test.{k}": v for k, v in test.items()})
    return outcome


def _partial_entry(model: nn.Module, task: Task, cfg: TrainConfig, run: _Run, eval_bs: int,
                   device: torch.device, dtype: torch.dtype) -> dict[str, float] | None:
    """The history entry of an epoch stopped mid-way by the time budget (validated now, with
    the weights at the stop), or None when the run stands between epochs."""
    pos = run.position
    if pos is None:
        return None
    valid = evaluate_split(model, task, "valid", batch_size=eval_bs, bptt=cfg.bptt,
                           device=device, dtype=dtype)
    value = valid[task.objective]
    if not math.isfinite(value):
        raise NonFiniteLoss(f"validation {task.objective} is {value} in epoch {run.epoch + 1} "
                            f"(stopped after batch {int(pos['batch'])})")
    items = int(pos["items"])
    return {"epoch": float(run.epoch + 1), "lr": run.lr,
            "train.loss": float(pos["loss_sum"]) / max(items, 1),
            **{f"valid.{k}": v for k, v in valid.items()},
            "seconds": float(pos["seconds"]), f"train.{task.unit}": float(items),
            f"train.{task.unit}_per_second": items / max(float(pos["train_seconds"]), 1e-9),
            "partial": 1.0, "batches": float(pos["batch"])}


def _train_epoch(model: nn.Module, task: Task, optimizer: torch.optim.Optimizer,
                 cfg: TrainConfig, run: _Run, epoch: int, seed: int, device: torch.device,
                 dtype: torch.dtype, on_batch: Callable[[int, int, float], None] | None = None,
                 *, start: int = 0, loss_sum: float = 0.0, items: int = 0, state: Any = None
                 ) -> tuple[int, float, int, Any, bool]:
    """Train on the training split from batch ``start`` (0: the epoch's start; later: resuming
    a time-budget stop with the epoch's running ``loss_sum``, ``items`` and carried ``state``).

    Returns (batches done in the epoch, summed loss, items, recurrent state, stopped):
    ``stopped`` when the time budget ran out with batches left (checked after every batch, so
    each call trains at least one).
    """
    model.train()
    params = [p for g in optimizer.param_groups for p in g["params"]]
    if start == 0:
        state = None  # reset at each epoch start (Zaremba et al. 2014)
    done, stopped = start, False
    t_start = _clock()
    total = task.n_batches("train", cfg.batch_size, cfg.bptt)
    # a different, reproducible shuffle per epoch (tasks that keep text order ignore it)
    shuffle_seed = (seed * 1_000_003 + epoch) % 2**63
    bar = _progress(total, epoch, task.unit, cfg.progress)
    if bar is not None and start:
        bar.update(start)
    try:
        for i, batch in enumerate(task.batches("train", cfg.batch_size, cfg.bptt,
                                               seed=shuffle_seed)):
            if i < start:
                continue  # done before the stop this call resumes
            batch = batch.to(device, dtype)
            state = detach_state(state) if task.carry_state else None
            out, state = model(batch.x, state)
            total_loss = task.loss(out, batch)  # summed over batch.n items
            value = float(total_loss.detach())
            if not math.isfinite(value):
                raise NonFiniteLoss(f"training loss is {value} at epoch {epoch}, batch {i + 1} "
                                    f"(learning rate {run.lr:g})")
            loss = total_loss / batch.n
            if cfg.loss_reduction == "sum_time":
                loss = loss * batch.x.shape[0]  # summed over the window's steps (Zaremba)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip is not None and cfg.clip > 0:
                norm = nn.utils.clip_grad_norm_(params, cfg.clip)
                if not math.isfinite(float(norm)):
                    raise NonFiniteLoss(f"gradient norm is {float(norm)} at epoch {epoch}, "
                                        f"batch {i + 1} (learning rate {run.lr:g})")
            optimizer.step()
            loss_sum += value
            items += batch.n
            done = i + 1
            if on_batch is not None:
                on_batch(epoch, i + 1, value / batch.n)
            if bar is not None and (i % 10 == 0 or i + 1 == total):
                elapsed = _clock() - t_start
                bar.set_postfix(loss=f"{loss_sum / max(items, 1):.3f}",
                                **{f"{task.unit}/s": f"{items / max(elapsed, 1e-9):,.0f}"},
                                refresh=False)
            if bar is not None:
                bar.update(1)
            if cfg.max_seconds is not None and done < total and \
                    run.seconds + (_clock() - t_start) > cfg.max_seconds:
                stopped = True  # out of time mid-epoch
                break
    finally:
        if bar is not None:
            bar.close()
    return done, loss_sum, items, state, stopped
