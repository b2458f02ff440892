"""Genomes are values: no part of a (cached) zoo cell can be changed in place, and the read-only
mappings keep equality, hashing, pickling, copying and the JSON form."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from lstm_search import zoo
from lstm_search.genome import OPS, FrozenMap, Genome, Node, genome_id


def _attempts(g: Genome) -> list[tuple[str, Callable[[], Any]]]:
    """Every way of changing a genome in place: its fields, mappings, tuples and nodes."""
    first = g.states[0]
    out: list[tuple[str, Callable[[], Any]]] = [
        ("new_states[s] = v", lambda: g.new_states.__setitem__(first, "other")),
        ("del new_states[s]", lambda: g.new_states.__delitem__(first)),
        ("new_states.update", lambda: g.new_states.update({first: "other"})),  # type: ignore
        ("new_states.pop", lambda: g.new_states.pop(first)),  # type: ignore[attr-defined]
        ("new_states.clear", lambda: g.new_states.clear()),  # type: ignore[attr-defined]
        ("new_states |= ...", lambda: g.new_states.__ior__({first: "other"})),  # type: ignore
        ("new_states._data", lambda: setattr(g.new_states, "_data", {})),
        ("states[0] = v", lambda: g.states.__setitem__(0, "other")),  # type: ignore
        ("nodes[0] = v", lambda: g.nodes.__setitem__(0, g.nodes[-1])),  # type: ignore
        ("genome.output = v", lambda: setattr(g, "output", "other")),
        ("genome.new_states = v", lambda: setattr(g, "new_states", {})),
    ]
    for n in g.nodes:
        out += [
            (f"{n.name}.params[k] = v", lambda n=n: n.params.__setitem__("bias", False)),
            (f"{n.name}.params.setdefault", lambda n=n: n.params.setdefault("diag", 1.0)),
            (f"{n.name}.inputs[0] = v", lambda n=n: n.inputs.__setitem__(0, "x")),
            (f"{n.name}.op = v", lambda n=n: setattr(n, "op", "relu")),
        ]
        if n.params:
            key = next(iter(n.params))
            out.append((f"del {n.name}.params[k]", lambda n=n, k=key: n.params.__delitem__(k)))
    return out


@pytest.mark.parametrize("name", zoo.names())
def test_mutating_a_zoo_cell_raises_and_leaves_it_unchanged(name: str) -> None:
    g = zoo.get(name)
    before_json, before_id, before_repr = g.to_json(), genome_id(g), repr(g)
    for what, attempt in _attempts(g):
        with pytest.raises((TypeError, AttributeError)):
            attempt()
        assert zoo.get(name).to_json() == before_json, f"{name}: {what} changed the cell"
    assert zoo.get(name) is g
    assert genome_id(g) == before_id and repr(g) == before_repr


@pytest.mark.parametrize("name", zoo.names())
def test_values_survive_pickle_and_copy(name: str) -> None:
    g = zoo.get(name)
    for other in (pickle.loads(pickle.dumps(g)), copy.deepcopy(g), copy.copy(g)):
        assert other == g and hash(other) == hash(g)
        assert genome_id(other) == genome_id(g) and other.to_json() == g.to_json()
        assert isinstance(other.new_states, FrozenMap)
        assert all(isinstance(n.params, FrozenMap) for n in other.nodes)


def test_dict_arguments_are_copied_in() -> None:
    params = {"bias": False}
    new_states = {"h": "h_new"}
    n = Node("h_new", "linear", ["x"], params)  # type: ignore[arg-type]
    g = Genome(["h"], [n], new_states, "h_new")  # type: ignore[arg-type]
    params["bias"] = True
    new_states["h"] = "elsewhere"
    assert n.params == {"bias": False} and g.new_states == {"h": "h_new"}
    assert isinstance(g.states, tuple) and isinstance(n.inputs, tuple)
    assert isinstance(g.nodes, tuple)


def test_replace_keeps_mappings_read_only() -> None:
    g = zoo.get("gru")
    r = dataclasses.replace(g, new_states={"h": "h_new"}, name="copy")
    assert isinstance(r.new_states, FrozenMap)
    assert isinstance(g.replace(name="x").new_states, FrozenMap)


def test_op_specs_are_read_only() -> None:
    with pytest.raises(TypeError):
        OPS["linear"].params["bias"] = OPS["linear"].params["diag"]  # type: ignore[index]


def test_frozen_map_equality_and_hash() -> None:
    a = FrozenMap({"h": "x", "c": "y"})
    assert a == {"c": "y", "h": "x"}
    assert {"h": "x", "c": "y"} == a  # noqa: SIM300 (the dict on the left: reflected __eq__)
    assert a != {"h": "x"} and a != [("h", "x"), ("c", "y")]
    assert hash(a) == hash(FrozenMap([("c", "y"), ("h", "x")]))
    assert list(a) == ["h", "c"]  # insertion order kept
    assert pickle.loads(pickle.dumps(a)) == a
    assert repr(a) == "FrozenMap({'h': 'x', 'c': 'y'})"
