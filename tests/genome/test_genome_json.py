"""JSON round trip and repr read back as Python, for every zoo cell."""

from __future__ import annotations

import ast
import json
from typing import Any

import pytest

from lstm_search import zoo
from lstm_search.genome import FORMAT, FORMAT_VERSION, Genome, GenomeError, Node


def rebuild(text: str) -> Any:
    """Rebuild a repr from its syntax tree: calls of Genome / Node with literal arguments only
    (no eval: any other expression is refused)."""
    ctors = {"Genome": Genome, "Node": Node}

    def build(node: ast.expr) -> Any:
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name) and node.func.id in ctors, ast.dump(node.func)
            args = [build(a) for a in node.args]
            kwargs = {k.arg: build(k.value) for k in node.keywords}
            return ctors[node.func.id](*args, **kwargs)
        if isinstance(node, ast.Tuple):
            return tuple(build(e) for e in node.elts)
        return ast.literal_eval(node)

    return build(ast.parse(text, mode="eval").body)


@pytest.mark.parametrize("name", zoo.names())
def test_json_round_trip(name: str, tmp_path) -> None:
    g = zoo.get(name)
    text = g.to_json()
    data = json.loads(text)
    # written with the oldest version that holds the cell (format-1 cells stay version 1)
    version = 2 if name in ("depth_gated", "grid_lstm", "clockwork", "lstm_attention",
                            "lstm_attentive_readout", "mlstm") else 1
    assert data["format"] == FORMAT and data["version"] == version <= FORMAT_VERSION
    assert data["name"] == name
    assert Genome.from_json(text) == g
    assert Genome.from_dict(g.to_dict()) == g
    path = tmp_path / f"{name}.json"
    path.write_text(g.to_json(indent=None))
    assert Genome.load(str(path)) == g
    assert hash(Genome.load(str(path))) == hash(g)


@pytest.mark.parametrize("name", zoo.names())
def test_repr_reads_back(name: str) -> None:
    g = zoo.get(name)
    assert rebuild(repr(g)) == g


def test_repr_of_node_with_params_reads_back() -> None:
    n = Node("f", "linear", ("x",), {"bias_init": 1.0, "bias": True})
    assert rebuild(repr(n)) == n
    assert "bias_init" in repr(n)


def test_rebuild_refuses_other_calls() -> None:
    with pytest.raises(AssertionError):
        rebuild("__import__('os').system('true')")


def test_params_written_only_when_given() -> None:
    d = zoo.get("lstm_b").to_dict()
    params = {n["name"]: n.get("params") for n in d["nodes"]}
    assert params["x_f"] == {"bias_init": 1.0}
    assert params["h_f"] == {"bias": False}
    assert params["f_pre"] is None


def test_wrong_format_name_and_unknown_node_key() -> None:
    data = zoo.get("gru").to_dict()
    data["format"] = "keras"
    data["nodes"][0]["colour"] = "red"
    with pytest.raises(GenomeError) as e:
        Genome.from_dict(data)
    assert sorted((p.where, p.rule) for p in e.value.problems) == [
        ("format", "format"), ("node 'x_r'", "format")]


def test_top_level_not_an_object() -> None:
    with pytest.raises(GenomeError) as e:
        Genome.from_json("[1, 2]", source="list.json")
    assert e.value.source == "list.json" and "got list" in str(e.value)
