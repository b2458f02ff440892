"""What the trainer hands back and the callbacks it calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

OnEval = Callable[[int, dict[str, float], bool], "bool | None"]
"""``on_eval(epoch, metrics, final)`` after each epoch's validation. ``final`` is True when the
trainer stops after this epoch whatever the callback says (its last epoch, early stopping, the
time budget spent): a pruner must not stop such an epoch, which would record a trained run as
"pruned" without its test metrics. Returning True (or raising :class:`StopTrial`) stops the run
with status "pruned"."""

OnBatch = Callable[[int, int, float], None]
"""``on_batch(epoch, batch, loss)``: every training batch's mean loss per item."""


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
