"""Configuration: presets match the papers' recipes; overrides are parsed and type-checked."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import pytest

from lstm_search.config import (
    ConfigError,
    ModelConfig,
    TaskConfig,
    TrainConfig,
    apply_overrides,
    config_keys,
    parse_assignments,
    preset,
    preset_names,
)


@dataclass(frozen=True)
class Nested:
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def test_zaremba_small_is_the_papers_recipe() -> None:
    model, train = preset("zaremba-small")
    assert (model.hidden_size, model.num_layers, model.dropout, model.init_scale) == (
        200, 2, 0.0, 0.1)
    assert (train.optimizer, train.lr, train.lr_decay, train.decay_start, train.epochs) == (
        "sgd", 1.0, 0.5, 4, 13)
    assert (train.batch_size, train.bptt, train.clip) == (20, 20, 5.0)


def test_presets_exist_and_serialise() -> None:
    assert {"zaremba-small", "zaremba-medium", "zaremba-large", "greff", "jozefowicz",
            "smoke"} <= set(preset_names())
    for name in preset_names():
        model, train = preset(name)
        json.dumps(dataclasses.asdict(model))
        json.dumps(dataclasses.asdict(train))
    assert preset("greff")[1].input_noise > 0 and preset("greff")[1].momentum > 0
    joz = preset("jozefowicz")[1]
    assert (joz.batch_size, joz.bptt, joz.lr_schedule, joz.plateau_patience) == (
        20, 35, "plateau", 3)
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        preset("nope")


def test_overrides_parse_strings_and_values() -> None:
    cfg = apply_overrides(Nested(), {"train.lr": "0.25", "train.clip": "none",
                                     "train.patience": 3, "model.tie_weights": "true",
                                     "task.gap": "50", "task.subset": "0.1"})
    assert cfg.train.lr == 0.25 and cfg.train.clip is None and cfg.train.patience == 3
    assert cfg.model.tie_weights is True and cfg.task.gap == 50 and cfg.task.subset == 0.1
    # the original is untouched (frozen dataclasses are replaced, not mutated)
    assert Nested().train.lr == 1.0


@pytest.mark.parametrize(("overrides", "message"), [
    ({"train.lrr": "1"},
     r"unknown configuration key 'train.lrr'; did you mean 'train.lr'\? known keys: .*train.lr,"),
    ({"nope": "1"}, "unknown configuration key 'nope'"),
    ({"train.lr.x": "1"}, "'lr' has no sub-keys"),
    ({"train": "1"}, "is a section"),
    ({"train.lr": "fast"}, "bad value for 'train.lr': 'fast' is not a number"),
    ({"task.gap": "1.5"}, "bad value for 'task.gap': '1.5'"),
    ({"train.epochs": "none"}, "bad value for 'train.epochs'"),
    ({"train.optimizer": "rmsprop"}, "expected one of sgd, adam"),
    ({"model.backend": "jit"}, "expected one of script, eager, compile, native"),
    ({"model.tie_weights": "maybe"}, "bad value for 'model.tie_weights'"),
])
def test_override_errors_name_key_and_value(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_overrides(Nested(), overrides)


def test_keys_and_assignments() -> None:
    keys = config_keys(Nested())
    assert "train.lr" in keys and "model.hidden_size" in keys and "task.gap" in keys
    assert parse_assignments(["train.lr=0.5", "task.name = ptb"]) == {
        "train.lr": "0.5", "task.name": "ptb"}
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_assignments(["train.lr"])
