"""Hyperparameter distributions sampled define-by-run through an Optuna trial.

Each distribution names the Optuna parameter it samples and maps the sampled value to the value
the trainer receives. Greff et al. 2015 (section 4) sample the momentum as ``1 - m`` with ``m``
log-uniform in [0.01, 1]: :class:`OneMinusLogUniform` samples ``m`` (parameter ``1-momentum``)
and returns ``1 - m``, so the sampler models the quantity the paper drew.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Dist(Protocol):
    """A distribution over one hyperparameter."""

    def sample(self, trial: Any, name: str) -> Any:
        """Call ``trial.suggest_*`` for the parameter(s) of ``name``; return nothing heavy."""
        ...

    def value(self, params: Mapping[str, Any], name: str) -> Any:
        """The hyperparameter's value from the trial's sampled ``params``."""
        ...

    def draw(self, rng: random.Random) -> Any:
        """One value drawn with ``rng`` (fixed hyperparameter settings, see
        :class:`lstm_search.spaces.CellChoiceSpace`'s ``settings``)."""
        ...


class _Serialised:
    """What every distribution here shares: its JSON form (:func:`dist_to_json`), which the
    results table and ``run.json`` write without knowing the distribution classes."""

    def to_json(self) -> dict[str, Any]:
        """``{"__dist__": "<class>", <fields>...}``; :func:`as_dists` reads it back."""
        return dist_to_json(self)


def _check_range(kind: str, low: float, high: float, positive: bool = False) -> None:
    if not low <= high:
        raise ValueError(f"{kind}: low must be <= high, got low={low!r}, high={high!r}")
    if positive and low <= 0:
        raise ValueError(f"{kind}: log scale needs low > 0, got low={low!r}")


@dataclass(frozen=True)
class Uniform(_Serialised):
    """``U[low, high]`` (float)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        _check_range("Uniform", self.low, self.high)

    def sample(self, trial: Any, name: str) -> Any:
        return trial.suggest_float(name, self.low, self.high)

    def draw(self, rng: random.Random) -> Any:
        return rng.uniform(self.low, self.high)

    def value(self, params: Mapping[str, Any], name: str) -> Any:
        return float(params[name])


@dataclass(frozen=True)
class LogUniform(_Serialised):
    """Log-uniform on ``[low, high]`` (float), e.g. Greff's learning rate in [1e-6, 1e-2]."""

    low: float
    high: float

    def __post_init__(self) -> None:
        _check_range("LogUniform", self.low, self.high, positive=True)

    def sample(self, trial: Any, name: str) -> Any:
        return trial.suggest_float(name, self.low, self.high, log=True)

    def draw(self, rng: random.Random) -> Any:
        return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))

    def value(self, params: Mapping[str, Any], name: str) -> Any:
        return float(params[name])


@dataclass(frozen=True)
class IntUniform(_Serialised):
    """An integer in ``[low, high]``, log-spaced when ``log`` (Greff's hidden size in [20, 200])."""

    low: int
    high: int
    log: bool = False

    def __post_init__(self) -> None:
        _check_range("IntUniform", self.low, self.high, positive=self.log)

    def sample(self, trial: Any, name: str) -> Any:
        return trial.suggest_int(name, self.low, self.high, log=self.log)

    def draw(self, rng: random.Random) -> Any:
        if not self.log:
            return rng.randint(self.low, self.high)
        value = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
        return min(self.high, int(value))

    def value(self, params: Mapping[str, Any], name: str) -> Any:
        return int(params[name])


@dataclass(frozen=True)
class OneMinusLogUniform(_Serialised):
    """``1 - m`` with ``m`` log-uniform in ``[low, high]`` (Greff et al. 2015's momentum)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        _check_range("OneMinusLogUniform", self.low, self.high, positive=True)

    def _param(self, name: str) -> str:
        return f"1-{name}"

    def sample(self, trial: Any, name: str) -> Any:
        return trial.suggest_float(self._param(name), self.low, self.high, log=True)

    def draw(self, rng: random.Random) -> Any:
        return 1.0 - math.exp(rng.uniform(math.log(self.low), math.log(self.high)))

    def value(self, params: Mapping[str, Any], name: str) -> Any:
        return 1.0 - float(params[self._param(name)])


@dataclass(frozen=True)
class Choice(_Serialised):
    """One of a fixed list of values (JSON scalars)."""

    choices: tuple[Any, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(self.choices))
        if not self.choices:
            raise ValueError("Choice needs at least one value")

    def sample(self, trial: Any, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.choices))

    def draw(self, rng: random.Random) -> Any:
        return rng.choice(self.choices)

    def value(self, params: Mapping[str, Any], name: str) -> Any:
        return params[name]


@dataclass(frozen=True)
class Fixed(_Serialised):
    """A constant: recorded with the hyperparameters, never sampled."""

    value_: Any

    def sample(self, trial: Any, name: str) -> Any:
        return self.value_

    def draw(self, rng: random.Random) -> Any:
        return self.value_

    def value(self, params: Mapping[str, Any], name: str) -> Any:
        return self.value_


def sample_all(trial: Any, dists: Mapping[str, Dist]) -> None:
    """Sample every distribution (sorted by name so the order is stable)."""
    for name in sorted(dists):
        dists[name].sample(trial, name)


def values_of(params: Mapping[str, Any], dists: Mapping[str, Dist]) -> dict[str, Any]:
    """The hyperparameters (trainer field name -> value) from sampled ``params``."""
    return {name: dists[name].value(params, name) for name in sorted(dists)}


def draw_setting(dists: Mapping[str, Dist], seed: int, index: int) -> dict[str, Any]:
    """Hyperparameter setting number ``index`` of a fixed list drawn from ``dists`` with
    ``seed``: the same numbers for every cell and on every machine (sorted names, a
    ``random.Random`` seeded from ``(seed, index)``)."""
    rng = random.Random(f"lstm-search-setting:{seed}:{index}")
    return {name: dists[name].draw(rng) for name in sorted(dists)}


DIST_KEY = "__dist__"


def dist_to_json(dist: Any) -> dict[str, Any]:
    """A distribution as JSON (``{"__dist__": "Choice", "choices": [...]}``), so that a run's
    overrides in run.json read back as the same distributions on ``--resume``."""
    import dataclasses

    return {DIST_KEY: type(dist).__name__, **dataclasses.asdict(dist)}


def _dist_from_json(data: Mapping[str, Any]) -> Dist:
    kinds = {c.__name__: c for c in (Uniform, LogUniform, IntUniform, OneMinusLogUniform, Choice,
                                     Fixed)}
    fields = {k: v for k, v in data.items() if k != DIST_KEY}
    kind = kinds.get(str(data[DIST_KEY]))
    if kind is None:
        raise ValueError(f"unknown distribution {data[DIST_KEY]!r}; known: {', '.join(kinds)}")
    if kind is Choice:
        return Choice(tuple(fields["choices"]))
    return kind(**fields)


def as_dists(spec: Mapping[str, Any]) -> dict[str, Dist]:
    """Accept distributions, their JSON form (:func:`dist_to_json`) or plain constants
    (wrapped in :class:`Fixed`)."""
    out: dict[str, Dist] = {}
    for k, v in spec.items():
        if isinstance(v, Mapping) and DIST_KEY in v:
            out[k] = _dist_from_json(v)
        else:
            out[k] = v if isinstance(v, Dist) and not isinstance(v, type) else Fixed(v)
    return out


__all__: Sequence[str] = [
    "Choice",
    "Dist",
    "Fixed",
    "IntUniform",
    "LogUniform",
    "OneMinusLogUniform",
    "Uniform",
    "as_dists",
    "dist_to_json",
    "draw_setting",
    "sample_all",
    "values_of",
]
