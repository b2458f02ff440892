"""One contract for every search space: valid genomes, deterministic for a fixed sampler seed,
only declared hyperparameters, cheap to sample, and usable through Ray Tune's OptunaSearch."""

from __future__ import annotations

import dataclasses
import functools
import time

import optuna
import pytest

from lstm_search.config import ModelConfig, TaskConfig, TrainConfig
from lstm_search.genome import genome_id, validate
from lstm_search.spaces import (
    CellChoiceSpace,
    IntUniform,
    LogUniform,
    OneMinusLogUniform,
    SearchSpace,
    TemplateSpace,
    load_space,
    space_names,
    suggest,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)
TRAINER_FIELDS = ({f.name for f in dataclasses.fields(ModelConfig)}
                  | {f.name for f in dataclasses.fields(TrainConfig)})
# what a proposal may carry: trainer fields, the trial's seed and task.<option> settings
PROPOSAL_KEYS = (TRAINER_FIELDS | {"seed"}
                 | {f"task.{f.name}" for f in dataclasses.fields(TaskConfig)})
SPACES = space_names()


def _draw(space: SearchSpace, seed: int, n: int) -> list:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [suggest(space, study.ask()) for _ in range(n)]


def test_the_named_spaces_exist() -> None:
    assert {"greff", "jozefowicz", "nasbench_nlp", "darts"} <= set(SPACES)


@pytest.mark.parametrize("name", SPACES)
def test_space_contract(name: str) -> None:
    space = load_space(name)
    assert isinstance(space, SearchSpace) and space.name == name
    t0 = time.perf_counter()
    props = _draw(space, seed=11, n=12)
    assert time.perf_counter() - t0 < 5.0, "sampling 12 proposals must be cheap"
    for p in props:
        assert validate(p.genome) == [], (p.cell, validate(p.genome))
        assert set(p.hparams) == set(space.hparam_names())
        assert set(p.hparams) <= PROPOSAL_KEYS
        assert p.cell
    again = _draw(space, seed=11, n=12)
    assert [(genome_id(p.genome), p.hparams) for p in props] == \
        [(genome_id(p.genome), p.hparams) for p in again]


@pytest.mark.parametrize("name", SPACES)
def test_sample_only_suggests_and_build_is_pure(name: str) -> None:
    """Ray's define-by-run function may only sample; the trainable rebuilds from params."""
    space = load_space(name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=5))
    trial = study.ask()
    assert space.sample(trial) is None
    a, b = space.build(dict(trial.params)), space.build(dict(trial.params))
    assert genome_id(a.genome) == genome_id(b.genome) and a.hparams == b.hparams


@pytest.mark.parametrize("name", SPACES)
def test_space_through_ray_optuna_search(name: str) -> None:
    from ray.tune.search.optuna import OptunaSearch

    from lstm_search.search._ray import KEY, _define_by_run, _params

    space = load_space(name)
    searcher = OptunaSearch(space=functools.partial(_define_by_run, space=space,
                                                    constants={"run": "r"}),
                            metric="objective", mode="min", seed=3)
    config = searcher.suggest("trial_1")
    assert config[KEY] == {"run": "r"}
    proposal = space.build(_params(config))
    assert validate(proposal.genome) == []
    assert set(proposal.hparams) == set(space.hparam_names())


def test_greff_ranges() -> None:
    space = load_space("greff")
    assert space.hparams["hidden_size"] == IntUniform(20, 200, log=True)
    assert space.hparams["lr"] == LogUniform(1e-6, 1e-2)
    assert space.hparams["momentum"] == OneMinusLogUniform(0.01, 1.0)
    for p in _draw(space, seed=0, n=30):
        assert 20 <= p.hparams["hidden_size"] <= 200
        assert 1e-6 <= p.hparams["lr"] <= 1e-2
        assert 0.0 <= p.hparams["momentum"] <= 0.99
        assert 0.0 <= p.hparams["input_noise"] <= 1.0
    cells = {p.cell for p in _draw(space, seed=1, n=60)}
    assert {"vanilla", "gru"} <= cells and len(cells) >= 8


def test_darts_template_structure() -> None:
    space = TemplateSpace(name="d", n_nodes=8)
    p = _draw(space, seed=2, n=1)[0]
    g = p.genome
    blends = [n for n in g.nodes if n.op == "blend"]
    assert len(blends) == 9  # s_0 and the 8 nodes
    out = g.node_map[g.new_states["h"]]
    assert out.op == "mean" and len(out.inputs) == 8  # DARTS: the mean of s_1..s_8
    assert all(n.param("bias") is False for n in g.nodes if n.op == "linear")
    # node i reads its chosen predecessor: s_i = blend(c, act(k), s_j)
    assert all(b.inputs[2] in {"h", *(x.name for x in blends)} for b in blends)


def test_bad_space_declarations_fail_clearly() -> None:
    with pytest.raises(ValueError, match="unknown zoo cells"):
        CellChoiceSpace(name="x", cells=("lstm", "nope"))
    with pytest.raises(ValueError, match="log scale"):
        LogUniform(0.0, 1.0)
    with pytest.raises(ValueError, match="n_nodes"):
        TemplateSpace(name="x", n_nodes=9)


def test_fixed_settings_are_the_same_for_every_cell_and_within_their_ranges() -> None:
    from lstm_search.spaces import CellChoiceSpace, IntUniform, LogUniform, OneMinusLogUniform

    dists = {"lr": LogUniform(0.1, 5.0), "hidden_size": IntUniform(20, 200, log=True),
             "momentum": OneMinusLogUniform(0.01, 1.0)}
    space = CellChoiceSpace(name="s", cells=("lstm", "gru"), hparams=dists, settings=20,
                            settings_seed=7)
    assert space.grid() == {"cell": ["lstm", "gru"], "setting": list(range(20))}
    lstm = [space.build({"cell": "lstm", "setting": i}).hparams for i in range(20)]
    gru = [space.build({"cell": "gru", "setting": i}).hparams for i in range(20)]
    assert lstm == gru and len({h["lr"] for h in lstm}) == 20
    assert all(0.1 <= h["lr"] <= 5.0 and 20 <= h["hidden_size"] <= 200
               and 0.0 <= h["momentum"] <= 0.99 for h in lstm)
    # another seed, other settings; the same seed, the same settings (a pure function)
    other = CellChoiceSpace(name="s", cells=("lstm",), hparams=dists, settings=20,
                            settings_seed=8)
    assert other.build({"setting": 0}).hparams != lstm[0]
    assert space.build({"cell": "lstm", "setting": 3}).hparams == lstm[3]


def test_each_distribution_writes_itself_as_json_and_reads_back() -> None:
    """The results table writes distributions through their own ``to_json`` (it imports no
    search-space code); the JSON form reads back as the same distribution."""
    import json

    from lstm_search.results import json_default
    from lstm_search.spaces import Choice, Fixed, Uniform
    from lstm_search.spaces._dist import as_dists

    dists = {"a": Uniform(0.0, 1.0), "b": LogUniform(1e-4, 1e-1), "c": IntUniform(2, 9, log=True),
             "d": OneMinusLogUniform(0.01, 1.0), "e": Choice((1, "x", None)), "f": Fixed(3)}
    text = json.dumps(dists, default=json_default, sort_keys=True)
    data = json.loads(text)
    assert data["e"] == {"__dist__": "Choice", "choices": [1, "x", None]}
    assert {name: d["__dist__"] for name, d in data.items()} == {
        name: type(d).__name__ for name, d in dists.items()}
    assert as_dists(data) == dists
