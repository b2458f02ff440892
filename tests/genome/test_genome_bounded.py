"""Genome files that would exhaust the machine or the terminal: a node with 100,000 inputs,
thousands of nodes, long names, deep JSON, integers past Python's limits, names with control
characters. Each is a GenomeError (or a problem of ``check``) naming what is wrong, and
validation stays linear in the size of the genome."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lstm_search.cli import main
from lstm_search.genome import Genome, GenomeError, validate, validate_json
from lstm_search.genome import _genome as genome_module
from lstm_search.genome import _validate as validate_module
from lstm_search.genome._genome import Node


def _doc(nodes: list[dict[str, Any]], *, name: str = "g", output: str | None = None
         ) -> dict[str, Any]:
    last = output or nodes[-1]["name"]
    return {"format": "lstm-search-genome", "version": 1, "name": name, "states": ["h"],
            "nodes": nodes, "new_states": {"h": last}, "output": last}


def _chain(n: int) -> dict[str, Any]:
    """A legal genome of ``n`` + 2 nodes: every node live, x and h both reach the output."""
    nodes = [{"name": "a", "op": "linear", "inputs": ["x"]},
             {"name": "b", "op": "linear", "inputs": ["h"]},
             {"name": "n0", "op": "add", "inputs": ["a", "b"]}]
    nodes += [{"name": f"n{i}", "op": "tanh", "inputs": [f"n{i - 1}"]} for i in range(1, n)]
    return _doc(nodes)


def _lines_run(fn: Callable[[], Any]) -> int:
    """How many lines of the genome package's reading and validation code ``fn`` executes: a
    count of work done, independent of the machine's speed."""
    files = (validate_module.__file__, genome_module.__file__)
    count = 0

    def local(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return local

    def calls(frame: Any, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename in files else None

    sys.settrace(calls)
    try:
        fn()
    finally:
        sys.settrace(None)
    return count


def test_a_node_with_100k_inputs_is_refused_by_the_cap(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    doc = _doc([{"name": "a", "op": "linear", "inputs": ["x"]},
                {"name": "b", "op": "add", "inputs": ["a"] * 100_000 + ["h"]},
                {"name": "h_new", "op": "tanh", "inputs": ["b"]}])
    text = json.dumps(doc)
    _, problems = validate_json(text)
    assert [(p.where, p.rule) for p in problems] == [("node 'b'", "arity")]
    assert "100,001 inputs" in problems[0].message and "at most 64" in problems[0].message
    # the whole check reads the list once: a few lines per input at most, not per pair
    assert _lines_run(lambda: validate_json(text)) < 10_000
    path = tmp_path / "wide.json"
    path.write_text(text)
    assert main(["check", str(path)]) == 2
    assert "100,001 inputs" in capsys.readouterr().out


def test_cycle_check_is_linear_in_the_inputs_of_a_node() -> None:
    """A genome built in code skips the file's caps; the arity rule reports the wide node and
    the cycle search must still read each of its inputs once (it was quadratic)."""
    def wide(k: int) -> Genome:
        return Genome(("h",), (Node("a", "linear", ("x",)),
                               Node("b", "add", ("a",) * k + ("h",)),
                               Node("h_new", "tanh", ("b",))), {"h": "h_new"}, "h_new", "w")

    small, large = wide(2_000), wide(4_000)
    assert [p.rule for p in validate(large)] == ["arity"]
    ratio = _lines_run(lambda: validate(large)) / _lines_run(lambda: validate(small))
    assert ratio < 2.3  # doubling the inputs doubles the work (quadratic would be 4)


def test_validation_of_a_large_legal_genome_is_linear() -> None:
    small, large = json.dumps(_chain(1_000)), json.dumps(_chain(2_000))
    genome, problems = validate_json(large, max_nodes=5_000)
    assert genome is not None and problems == []
    ratio = (_lines_run(lambda: validate_json(large, max_nodes=5_000))
             / _lines_run(lambda: validate_json(small, max_nodes=5_000)))
    assert 1.8 < ratio < 2.3


def test_file_caps_on_nodes_and_name_length() -> None:
    many = _chain(validate_module.MAX_FILE_NODES + 1)
    _, problems = validate_json(json.dumps(many), max_nodes=10**6)
    assert [(p.where, p.rule) for p in problems] == [("nodes", "budget")]
    long_name = "n" * 10_000
    doc = _doc([{"name": "a", "op": "linear", "inputs": ["x"]},
                {"name": long_name, "op": "tanh", "inputs": ["a"]}], output="a")
    _, problems = validate_json(json.dumps(doc))
    texts = [str(p) for p in problems]
    assert any("more than 256 characters" in t for t in texts)
    assert all(len(t) < 300 for t in texts)  # the name is shown cut, not in full


@pytest.mark.parametrize(("text", "message"), [
    ("[" * 100_000, "nested too deeply"),
    ('{"nodes": ' + "9" * 5_000 + "}", "integer string conversion"),
])
def test_deep_json_and_huge_integer_literals_are_genome_errors(text: str,
                                                                message: str) -> None:
    with pytest.raises(GenomeError, match=message):
        Genome.from_json(text, source="bad.json")
    genome, problems = validate_json(text)
    assert genome is None and [p.rule for p in problems] == ["json"]


def test_a_401_digit_parameter_is_not_a_finite_number() -> None:
    doc = _doc([{"name": "a", "op": "linear", "inputs": ["x"], "params": {"bias_init": 0}},
                {"name": "b", "op": "linear", "inputs": ["h"]},
                {"name": "s", "op": "add", "inputs": ["a", "b"]},
                {"name": "h_new", "op": "tanh", "inputs": ["s"]}])
    text = json.dumps(doc).replace('"bias_init": 0', '"bias_init": ' + "9" * 401)
    _, problems = validate_json(text)
    assert [(p.where, p.rule) for p in problems] == [("node 'a'", "param")]
    assert "finite number" in problems[0].message and len(problems[0].message) < 200


@pytest.mark.parametrize("bad", ["h\n", "h\x00", "h\x1b[31m"])
def test_names_with_control_characters_fail_validation(bad: str) -> None:
    doc = _doc([{"name": "a", "op": "linear", "inputs": ["x"]},
                {"name": bad, "op": "tanh", "inputs": ["a"]}], output=bad)
    doc["states"] = [bad]
    doc["new_states"] = {bad: bad}
    _, problems = validate_json(json.dumps(doc))
    assert {p.rule for p in problems} >= {"name"}
    assert any(p.where == f"node {bad!r}" for p in problems)
    assert any(p.where == f"state {bad!r}" for p in problems)


def test_ansi_escapes_in_a_genome_name_never_reach_the_terminal(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = "evil\x1b[31mRED\x1b[0m\n"
    doc = _doc([{"name": "a", "op": "linear", "inputs": ["x"]},
                {"name": "b", "op": "linear", "inputs": ["h"]},
                {"name": "s", "op": "add", "inputs": ["a", "b"]},
                {"name": "h_new", "op": "tanh", "inputs": ["s"]}], name=name)
    path = tmp_path / "ansi.json"
    path.write_text(json.dumps(doc))
    assert main(["check", str(path)]) == 2
    out = capsys.readouterr()
    assert "\x1b" not in out.out + out.err and "\\x1b[31m" in out.out
    assert main(["show", str(path), "--dot"]) == 0
    out = capsys.readouterr()
    assert "\x1b" not in out.out + out.err and "\\x1b[31m" in out.out
