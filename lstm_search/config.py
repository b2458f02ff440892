"""Configuration of one training run: task, model and training settings as frozen dataclasses.

Every field has a default, every dataclass converts to JSON with :func:`dataclasses.asdict`, and
:func:`apply_overrides` changes fields from dotted ``key=value`` strings (``--set train.lr=0.5``)
with the value parsed and type-checked against the field's annotation.

Presets reproduce the published training recipes:

- ``zaremba-small`` / ``-medium`` / ``-large``: Zaremba, Sutskever & Vinyals (2014), "Recurrent
  Neural Network Regularization", section 4.1 (PTB word level).
- ``greff``: Greff et al. (2015), "LSTM: A Search Space Odyssey", section 4: SGD with
  Nesterov-style momentum, Gaussian input noise, early stopping on validation.
- ``jozefowicz``: Jozefowicz, Zaremba & Sutskever (2015), section 3: batch 20, unroll 35, the
  learning rate halved each epoch once 3 epochs bring no improvement.
- ``smoke``: a tiny configuration for tests and smoke runs.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

__all__ = [
    "PRESETS",
    "ConfigError",
    "ModelConfig",
    "SettingRangeError",
    "TaskConfig",
    "TrainConfig",
    "apply_overrides",
    "check_path_name",
    "config_keys",
    "parse_assignments",
    "preset",
    "preset_names",
]

T = TypeVar("T")


class ConfigError(ValueError):
    """An unknown configuration key or a value of the wrong type; the message names both."""


class SettingRangeError(ConfigError):
    """A setting of the right type but out of its range (``train.lr=-1``, ``task.gap=0``)."""


def check_path_name(value: str, option: str) -> str:
    """``value`` unchanged if it can name one folder: one non-empty path component, not ``.``
    or ``..``, without separators, NUL or other control characters (a newline, an ANSI escape).

    ``option`` names the setting in the error (``--run``, ``name``). Names that become folders
    (run names, experiment names) pass here so that everything a run writes stays under its
    results root.
    """
    bad = ""
    if not isinstance(value, str) or not value.strip():
        bad = "must be a non-empty name"
    elif value in (".", ".."):
        bad = "must not be '.' or '..'"
    elif "/" in value or "\\" in value:
        bad = "must be one folder name, without '/' or '\\'"
    elif any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        bad = "must not contain control characters (NUL, newline, escape ...)"
    elif value != value.strip():
        bad = "must not start or end with white space"
    if bad:
        raise ConfigError(f"{option} {value!r} {bad}")
    return value


def _problems(obj: Any, rules: Mapping[str, tuple[str, Any]]) -> None:
    """Check the fields of a config dataclass against ``rules`` (field -> (kind, bound)); raise
    one :class:`ConfigError` naming every field out of range.

    Kinds: ``"int>="`` (an integer at least ``bound``), ``"pos"`` (a finite number > 0),
    ``"nonneg"`` (finite, >= 0), ``"prob"`` (in [0, 1]), ``"frac"`` (in (0, 1]), ``"unit_open"``
    (in [0, 1)). A None value is allowed wherever the field's type allows it.
    """
    problems = []
    for name, (kind, bound) in rules.items():
        v = getattr(obj, name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int | float):
            continue  # a type error: reported by the override parser
        finite = math.isfinite(v)
        if kind == "int>=" and not (finite and v >= bound):
            problems.append(f"{name} must be >= {bound}, got {v}")
        elif kind == "pos" and not (finite and v > 0):
            problems.append(f"{name} must be a finite number > 0, got {v}")
        elif kind == "nonneg" and not (finite and v >= 0):
            problems.append(f"{name} must be a finite number >= 0, got {v}")
        elif kind == "prob" and not (finite and 0 <= v <= 1):
            problems.append(f"{name} must be in [0, 1], got {v}")
        elif kind == "frac" and not (finite and 0 < v <= 1):
            problems.append(f"{name} must be in (0, 1], got {v}")
        elif kind == "unit_open" and not (finite and 0 <= v < 1):
            problems.append(f"{name} must be in [0, 1), got {v}")
    if problems:
        raise SettingRangeError(f"{type(obj).__name__}: " + "; ".join(problems))


@dataclass(frozen=True)
class TaskConfig:
    """Which task to train on and its options.

    ``name`` is a key of :data:`lstm_search.tasks.TASKS`: ``ptb``, ``ptb_char``, ``wikitext2``,
    ``jsb``, ``nottingham``, ``musedata``, ``piano_midi``, ``arithmetic``, ``xml``, ``memorize``,
    ``adding``, ``recall``, ``mqar``, ``selective_copy``, ``parity``, ``waveform``,
    ``moving_shapes``. ``data_dir``
    is the folder holding ``ptb/``, ``music/`` ... (None: the environment variable
    ``LSTM_SEARCH_DATA``, else ``./data``). ``subset`` keeps a fraction of the training split
    (smoke runs). The remaining fields are options of the synthetic tasks; None means the
    task's own default, and setting one a task does not take is an error when the task is
    built (:mod:`lstm_search.tasks._synthetic` lists which task takes which).
    """

    name: str = "ptb"
    data_dir: str | None = None
    subset: float | None = None
    eval_subset: float | None = None  # fraction of the valid and test splits (smoke runs only)
    seq_len: int | None = None  # synthetic tasks: sequence length (adding, recall, xml ...)
    gap: int | None = None  # recall: distance between the cue and the query
    vocab_size: int | None = None  # mqar (keys + values), selective_copy (data symbols)
    n_pairs: int | None = None  # mqar: key-value pairs in the context
    n_queries: int | None = None  # mqar: keys asked for (None: every pair)
    n_copy: int | None = None  # selective_copy: data tokens to remember and copy
    modulus: int | None = None  # parity: the count of ones modulo this (2: parity)
    test_len: int | None = None  # parity: longest valid/test string (training: up to seq_len)
    n_train: int | None = None  # synthetic tasks: number of training sequences
    n_valid: int | None = None
    n_test: int | None = None
    data_seed: int = 1234  # synthetic tasks: the data set is fixed by this seed, not the trial's

    def __post_init__(self) -> None:
        _problems(self, {"subset": ("frac", 0), "eval_subset": ("frac", 0),
                         "seq_len": ("int>=", 1), "gap": ("int>=", 1), "n_train": ("int>=", 1),
                         "n_valid": ("int>=", 1), "n_test": ("int>=", 1),
                         "data_seed": ("int>=", 0), "vocab_size": ("int>=", 2),
                         "n_pairs": ("int>=", 1), "n_queries": ("int>=", 1),
                         "n_copy": ("int>=", 1), "modulus": ("int>=", 2),
                         "test_len": ("int>=", 2)})


TIE_LAYERS: tuple[str | None, ...] = (None, "above_first", "all", "auto")


@dataclass(frozen=True)
class ModelConfig:
    """The recurrent stack and the task head around it.

    ``dropout`` is applied to non-recurrent connections only (Zaremba et al. 2014): the embedding
    output, between layers and before the decoder. ``init_scale``: parameters drawn from
    U(-s, s) (Zaremba); None keeps the modules' own initialisation. ``param_budget``: compare
    cells at an equal number of parameters (Jozefowicz et al. 2015; Collins et al. 2017): the
    hidden size of each cell is chosen so that the whole model (embedding, cell, head) has
    the number of parameters closest to the budget; ``hidden_size`` is then ignored.
    ``tie_layers`` shares one parameter set across the stack's depth (the tied Grid LSTM,
    Kalchbrenner et al. 2015, sec. 3): None ties nothing, ``"above_first"`` ties layers 2..L,
    ``"all"`` every layer (needs the input width equal to ``hidden_size``), ``"auto"`` all
    layers where the widths agree, else layers 2..L (see :func:`lstm_search.nn.compile_rnn`).
    """

    hidden_size: int = 200
    num_layers: int = 2
    dropout: float = 0.0
    embed_size: int | None = None  # None: equal to hidden_size
    tie_weights: bool = False  # share the embedding and decoder matrices (needs embed == hidden)
    backend: str = "script"  # "script" | "eager" | "compile" | "native"
    init_scale: float | None = 0.1
    param_budget: int | None = None  # None: use hidden_size as given
    tie_layers: str | None = None  # None | "above_first" | "all" | "auto"

    def __post_init__(self) -> None:
        _problems(self, {"hidden_size": ("int>=", 1), "num_layers": ("int>=", 1),
                         "dropout": ("unit_open", 0), "embed_size": ("int>=", 1),
                         "init_scale": ("pos", 0), "param_budget": ("int>=", 1)})
        if self.tie_layers not in TIE_LAYERS:
            raise ConfigError(f"model.tie_layers must be one of none, "
                              f"{', '.join(str(t) for t in TIE_LAYERS if t)}; "
                              f"got {self.tie_layers!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, schedule and run settings.

    Learning-rate schedules: ``lr_schedule="step"`` multiplies the rate by ``lr_decay`` at the
    start of every epoch after ``decay_start`` (Zaremba: epochs are counted from 1, decay from
    epoch ``decay_start + 1`` on); ``"plateau"`` multiplies it by ``lr_decay`` each epoch once
    ``plateau_patience`` epochs brought no validation improvement (Jozefowicz); ``"none"`` keeps
    it constant. ``patience`` stops training after that many epochs without improvement (None:
    never). ``max_seconds`` stops as soon as the time budget is spent, mid-epoch if need be (the
    checkpoint keeps the position: a resumed run with more budget finishes that epoch).
    """

    optimizer: str = "sgd"  # "sgd" | "adam"
    lr: float = 1.0
    momentum: float = 0.0
    nesterov: bool = False
    momentum_rescale: bool = False  # SGD steps with lr * (1 - momentum) (Greff et al. 2015)
    weight_decay: float = 0.0
    lr_schedule: str = "step"  # "step" | "plateau" | "none"
    lr_decay: float = 0.5
    decay_start: int = 4
    plateau_patience: int = 3
    epochs: int = 13
    batch_size: int = 20
    bptt: int = 20
    clip: float | None = 5.0
    # "mean": loss averaged over every scored item; "sum_time": summed over the time steps of a
    # window and averaged over the batch, as Zaremba's (and Jozefowicz's) code does: with lr 1,
    # the recipes of both papers assume this scale
    loss_reduction: str = "mean"
    input_noise: float = 0.0  # std of Gaussian noise added to real-valued inputs (Greff 2015)
    patience: int | None = None
    eval_batch_size: int | None = None  # None: same as batch_size
    max_seconds: float | None = None
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    threads: int | None = None
    dtype: str = "float32"  # "float32" | "float64"
    progress: bool = True  # tqdm bar on stderr (shown only when stderr is a terminal)

    def __post_init__(self) -> None:
        _problems(self, {"lr": ("pos", 0), "momentum": ("unit_open", 0),
                         "weight_decay": ("nonneg", 0), "lr_decay": ("pos", 0),
                         "decay_start": ("int>=", 0), "plateau_patience": ("int>=", 0),
                         "epochs": ("int>=", 1), "batch_size": ("int>=", 1),
                         "bptt": ("int>=", 1), "clip": ("pos", 0), "input_noise": ("nonneg", 0),
                         "patience": ("int>=", 1), "eval_batch_size": ("int>=", 1),
                         "max_seconds": ("pos", 0), "threads": ("int>=", 1)})


_CHOICES: dict[tuple[type, str], tuple[str, ...]] = {
    (ModelConfig, "backend"): ("script", "eager", "compile", "native"),
    (TrainConfig, "optimizer"): ("sgd", "adam"),
    (TrainConfig, "lr_schedule"): ("step", "plateau", "none"),
    (TrainConfig, "dtype"): ("float32", "float64"),
    (TrainConfig, "loss_reduction"): ("mean", "sum_time"),
}


# -- presets ---------------------------------------------------------------------------------

def _zaremba(hidden: int, dropout: float, init: float, decay: float, decay_start: int,
             epochs: int, clip: float) -> tuple[ModelConfig, TrainConfig]:
    # Zaremba et al. 2014, section 4.1: "unrolled for 35 steps" (medium, large), 20 (small)
    return (
        ModelConfig(hidden_size=hidden, num_layers=2, dropout=dropout, init_scale=init),
        TrainConfig(optimizer="sgd", lr=1.0, lr_schedule="step", lr_decay=decay,
                    decay_start=decay_start, epochs=epochs, batch_size=20,
                    bptt=20 if hidden == 200 else 35, clip=clip, loss_reduction="sum_time"),
    )


PRESETS: dict[str, tuple[ModelConfig, TrainConfig]] = {
    # small: 2x200, no dropout, U(-0.1, 0.1), lr 1 halved each epoch after epoch 4, 13 epochs,
    # batch 20, unroll 20, gradient norm clipped at 5 -> test perplexity 114.5
    "zaremba-small": _zaremba(200, 0.0, 0.1, 0.5, 4, 13, 5.0),
    # medium: 2x650, dropout 0.5, U(-0.05, 0.05), decay 1/1.2 after epoch 6, 39 epochs -> 82.7
    "zaremba-medium": _zaremba(650, 0.5, 0.05, 1 / 1.2, 6, 39, 5.0),
    # large: 2x1500, dropout 0.65, U(-0.04, 0.04), decay 1/1.15 after epoch 14, 55 epochs,
    # clip 10 -> 78.4
    "zaremba-large": _zaremba(1500, 0.65, 0.04, 1 / 1.15, 14, 55, 10.0),
    # Greff et al. 2015: one hidden layer, SGD with Nesterov momentum, Gaussian input noise,
    # early stopping (no improvement for 15 epochs; at most 150 epochs); lr, momentum, hidden
    # size and noise std are what their random search varies (see cells.md for the ranges).
    "greff": (
        ModelConfig(hidden_size=100, num_layers=1, dropout=0.0, init_scale=0.1),
        # Updates after each sequence on its loss summed over time steps, the learning rate
        # rescaled by (1 - momentum) (section IV)
        TrainConfig(optimizer="sgd", lr=1e-3, momentum=0.9, nesterov=True,
                    momentum_rescale=True, lr_schedule="none", epochs=150, batch_size=1,
                    bptt=100, clip=None, input_noise=0.1, patience=15,
                    loss_reduction="sum_time"),
    ),
    # Jozefowicz et al. 2015: batch 20, unroll 35, state carried across batches; after 3
    # epochs without improvement the learning rate is halved every epoch (4 times, then stop).
    "jozefowicz": (
        ModelConfig(hidden_size=200, num_layers=1, dropout=0.0, init_scale=0.1),
        TrainConfig(optimizer="sgd", lr=1.0, lr_schedule="plateau", lr_decay=0.5,
                    plateau_patience=3, epochs=40, batch_size=20, bptt=35, clip=5.0,
                    patience=7, loss_reduction="sum_time"),
    ),
    # tiny and fast: for tests and smoke runs
    "smoke": (
        ModelConfig(hidden_size=16, num_layers=1, dropout=0.0, init_scale=0.1),
        TrainConfig(optimizer="sgd", lr=1.0, lr_schedule="none", epochs=1, batch_size=8,
                    bptt=10, clip=5.0, progress=False),
    ),
}


def preset_names() -> tuple[str, ...]:
    return tuple(PRESETS)


def preset(name: str) -> tuple[ModelConfig, TrainConfig]:
    """The (model, train) configurations of a named preset."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None


# -- overrides -------------------------------------------------------------------------------

def config_keys(obj: Any, prefix: str = "") -> list[str]:
    """Every dotted key that :func:`apply_overrides` accepts on ``obj``."""
    keys: list[str] = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            keys.extend(config_keys(value, f"{prefix}{f.name}."))
        else:
            keys.append(prefix + f.name)
    return keys


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


_PHRASES = {"int": "an integer", "float": "a number", "bool": "true or false",
            "str": "a string"}


def _type_phrase(tp: Any) -> str:
    """``an integer``, ``a number``, ``true or false`` ... for messages; other types by name."""
    name = _type_name(tp)
    for base, phrase in _PHRASES.items():
        if name == base:
            return phrase
        if name in (f"{base} | None", f"Optional[{base}]"):
            return f"{phrase} (or none)"
    return f"a value of type {name}"


def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise ValueError(text)


def _coerce(value: Any, tp: Any) -> Any:
    """``value`` (a string from the command line, or a Python value) as type ``tp``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        is_none = value is None or (isinstance(value, str)
                                    and value.strip().lower() in ("none", "null"))
        if type(None) in args and is_none:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg)
            except (TypeError, ValueError):
                continue
        raise ValueError(value)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value in allowed:
            return value
        raise ValueError(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            return _parse_bool(value)
        raise TypeError(value)
    if tp is int:
        if isinstance(value, bool):
            raise TypeError(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            return int(value.strip())
        raise TypeError(value)
    if tp is float:
        if isinstance(value, bool):
            raise TypeError(value)
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            return float(value.strip())
        raise TypeError(value)
    if tp is str:
        if isinstance(value, str):
            return value
        raise TypeError(value)
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if isinstance(value, str):
            value = json.loads(value)
        if not isinstance(value, Mapping):
            raise TypeError(value)
        return dict(value)
    if origin in (tuple, list) or tp in (tuple, list):
        if isinstance(value, str):
            value = json.loads(value)
        if not isinstance(value, list | tuple):
            raise TypeError(value)
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        items = [_coerce(v, args[0]) for v in value] if args else list(value)
        return tuple(items) if (origin or tp) is tuple else items
    if tp is Any:
        return value
    raise TypeError(f"cannot set a field of type {_type_name(tp)}")


def _set(obj: T, path: list[str], value: Any, full_key: str, root: Any) -> T:
    hints = typing.get_type_hints(type(obj))
    names = [f.name for f in dataclasses.fields(obj)]
    head = path[0]
    if head not in names:
        import difflib

        close = difflib.get_close_matches(full_key, config_keys(root), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"unknown configuration key {full_key!r}; {hint}known keys: "
                          f"{', '.join(config_keys(root))}")
    current = getattr(obj, head)
    if len(path) > 1:
        if not (dataclasses.is_dataclass(current) and not isinstance(current, type)):
            raise ConfigError(f"unknown configuration key {full_key!r}: {head!r} has no "
                              f"sub-keys; known keys: {', '.join(config_keys(root))}")
        return dataclasses.replace(obj, **{head: _set(current, path[1:], value, full_key, root)})
    if dataclasses.is_dataclass(current) and not isinstance(current, type):
        raise ConfigError(f"configuration key {full_key!r} is a section; set one of its "
                          f"fields: {', '.join(config_keys(current, full_key + '.'))}")
    tp = hints[head]
    try:
        parsed = _coerce(value, tp)
    except json.JSONDecodeError as e:  # before ValueError, its base class
        raise ConfigError(f"bad value for {full_key!r}: {value!r} is not valid JSON ({e.msg} "
                          f"at character {e.pos}); expected {_type_phrase(tp)}") from None
    except (TypeError, ValueError):
        raise ConfigError(f"bad value for {full_key!r}: {value!r} is not "
                          f"{_type_phrase(tp)}") from None
    choices = _CHOICES.get((type(obj), head))
    if choices is not None and parsed not in choices:
        raise ConfigError(f"bad value for {full_key!r}: {value!r}; expected one of "
                          f"{', '.join(choices)}")
    try:  # the dataclass's own range checks (__post_init__) run on the new value
        return dataclasses.replace(obj, **{head: parsed})
    except SettingRangeError as e:
        raise SettingRangeError(f"bad value for {full_key!r}: {value!r} ({e})") from None
    except (ConfigError, ValueError) as e:
        raise ConfigError(f"bad value for {full_key!r}: {value!r} ({e})") from None


def apply_overrides(obj: T, overrides: Mapping[str, Any]) -> T:
    """A copy of the frozen dataclass ``obj`` with dotted keys set.

    >>> cfg = apply_overrides(TrainConfig(), {"lr": "0.5", "clip": "none"})
    >>> cfg.lr, cfg.clip
    (0.5, None)

    Keys are dotted paths through nested dataclasses (``"train.lr"`` on an object whose field
    ``train`` is a :class:`TrainConfig`). Values are strings to parse or Python values; both are
    checked against the field's type. An unknown key raises :class:`ConfigError` naming the key
    and listing the known ones; a bad value raises it naming key, value and expected type.
    """
    if not (dataclasses.is_dataclass(obj) and not isinstance(obj, type)):
        raise TypeError(f"apply_overrides needs a dataclass instance, got {type(obj).__name__}")
    for key, value in overrides.items():
        if not isinstance(key, str) or not key or any(not p for p in key.split(".")):
            raise ConfigError(f"bad configuration key {key!r}")
        obj = _set(obj, key.split("."), value, key, obj)
    return obj


def parse_assignments(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["train.lr=0.5", ...]`` as ``{"train.lr": "0.5"}``; an item without ``=`` is an error."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"bad --set item {item!r}: expected KEY=VALUE, e.g. train.lr=0.5")
        out[key.strip()] = value.strip()
    return out
