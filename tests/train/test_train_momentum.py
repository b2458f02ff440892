"""Greff et al. 2015's learning-rate rescaling: SGD with momentum m steps with lr * (1 - m)."""

from __future__ import annotations

import pytest
from helpers_train import build, tiny_model, tiny_synthetic, tiny_train

from lstm_search.train import train


def _run(**changes: object) -> dict[str, float]:
    cfg = tiny_train(optimizer="sgd", momentum=0.9, nesterov=True, epochs=2,
                     lr_schedule="step", lr_decay=0.5, decay_start=1, **changes)
    task, net = build(tiny_synthetic(), tiny_model(), cfg, seed=4)
    return train(net, task, cfg, seed=4).metrics


def test_rescaled_rate_equals_the_plain_rate_times_one_minus_momentum() -> None:
    rescaled = _run(lr=2.0, momentum_rescale=True)
    plain = _run(lr=2.0 * (1 - 0.9))
    assert rescaled == pytest.approx(plain, rel=1e-6)
    # and the rescaling does change training (the test can fail)
    assert _run(lr=2.0) != pytest.approx(rescaled, rel=1e-6)
