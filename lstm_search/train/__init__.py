"""The trainer: epochs of (truncated) backpropagation through time, validation, early stopping.

It knows nothing of Optuna or Ray: the one coupling to search code is ``on_eval(epoch,
metrics, final)``, called after each epoch's validation; returning True (or raising
:class:`StopTrial`) stops the run with status "pruned", and ``final`` says that the trainer
stops after this epoch anyway (a pruner must leave such an epoch alone).

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
  mid-epoch, the checkpoint keeps the position (:class:`~lstm_search.train._state.Position`):
  the batch reached, the epoch's running loss and item count, the carried recurrent state and
  the random states, so a later call with more budget (or none) finishes that same epoch from
  the next batch and ends exactly as a run never stopped. The partial epoch is validated for
  the outcome only: it appears last in ``history`` marked ``partial`` (with its ``batches``),
  ``TrainOutcome.partial_epoch`` names it, and it competes for the best epoch of that outcome
  (test metrics are then those of the weights at the stop), but it leaves no trace in the
  checkpoint's best epoch, patience or schedule. A call whose budget is already spent trains
  nothing and reports the same outcome.
- A pruned run's checkpoint says so: resuming it returns status "pruned" without training.

Modules: ``_loop`` (the loop and its checkpoints), ``_epoch`` (one epoch, evaluating a split),
``_state`` (what a checkpoint holds besides weights), ``_optim`` (optimizers, schedules),
``_types`` (outcome and callbacks), ``_clock`` (the clock tests replace), ``_estimate`` (an
epoch's time, measured on one batch before training).
"""

from __future__ import annotations

from lstm_search.train._epoch import evaluate_split
from lstm_search.train._estimate import estimate_epoch_seconds
from lstm_search.train._loop import resolve_device, seed_everything, train
from lstm_search.train._types import OnBatch, OnEval, StopTrial, TrainOutcome

__all__ = [
    "OnBatch",
    "OnEval",
    "StopTrial",
    "TrainOutcome",
    "estimate_epoch_seconds",
    "evaluate_split",
    "resolve_device",
    "seed_everything",
    "train",
]
