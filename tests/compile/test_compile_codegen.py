"""Generated source: identifiers only from the compiler, never from genome strings."""

from __future__ import annotations

import re

import pytest
import torch

from lstm_search import zoo
from lstm_search.compile import generated_source
from lstm_search.genome import Genome, GenomeError, Node, genome_id
from lstm_search.nn import compile_rnn

# Python and torch names, and the compiler's fixed names, that generated code may contain
FIXED_IDENTIFIERS = {
    "B", "List", "None", "Optional", "T", "Tensor", "Tuple", "_linear_pointwise", "_mm", "a",
    "append", "b", "backward", "bool", "cat", "chunk", "def", "device", "dtype", "dxps", "dxts",
    "dy", "dyt", "else", "for", "forward", "forward_save", "functional", "i", "if", "in",
    "linear", "mkldnn", "nn", "none", "number", "ops", "packed", "range", "reshape", "return",
    "reverse", "scalars", "sigmoid", "size", "stack", "sum", "t", "tanh", "torch", "w", "x",
    "xp", "ys", "zeros", "zeros_like", "where", "relu", "leaky_relu", "xt", "xpt", "_mm_add",
    "other", "rr", "dxq", "lerp", "aten", "sigmoid_backward", "tanh_backward",
    "threshold_backward", "dxp", "unbind", "xp_t", "x_t",
}
EVIL = 'a"); import os; os.system("touch pwned"); ("'


def _rename(genome: Genome, names: dict[str, str], states: dict[str, str]) -> Genome:
    def r(v: str) -> str:
        return states.get(v, names.get(v, v))

    nodes = tuple(Node(names[n.name], n.op, tuple(r(i) for i in n.inputs), n.params)
                  for n in genome.nodes)
    return Genome(tuple(states.get(s, s) for s in genome.states), nodes,
                  {states.get(s, s): names[v] for s, v in genome.new_states.items()},
                  names[genome.output], name=genome.name)


def _evil_gru() -> Genome:
    g = zoo.get("gru")
    names = {n.name: n.name for n in g.nodes}
    names["h_new"] = EVIL
    names["r"] = 'r"]; __import__("os").system("touch pwned") #'
    return _rename(g, names, {"h": 'h = __import__("os")'})


def test_validation_rejects_code_in_names():
    with pytest.raises(GenomeError) as err:
        compile_rnn(_evil_gru(), 3, 2)
    assert any(p.rule == "name" for p in err.value.problems)


def test_compiler_never_puts_genome_strings_in_source(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    evil = _evil_gru()
    # bypass validation entirely: the compiler must still not emit any genome string
    monkeypatch.setattr(Genome, "check", lambda self, **_: self)
    src = generated_source(evil, "script")
    for text in (EVIL, "pwned", "import", "os.system", "__import__"):
        assert text not in src
    m = compile_rnn(evil, 3, 2, backend="script")
    y, _ = m(torch.randn(4, 2, 3, requires_grad=True))
    y.sum().backward()
    assert not (tmp_path / "pwned").exists()
    assert src == generated_source(zoo.get("gru"), "script")


@pytest.mark.parametrize("name", ["lstm", "mut3", "fgr", "cifg"])
def test_source_is_independent_of_names_and_uses_compiler_identifiers(name):
    g = zoo.get(name)
    # weird but valid names that shadow the compiler's own identifiers and Python keywords
    weird = ["torch", "return", "_mm", "v0", "s0", "q0_0", "xp", "forward", "T", "None",
             "ys", "d1", "t", "packed", "dy", "dq0", "e3", "sv_s0", "backward", "List"]
    names = {n.name: (weird[i] if i < len(weird) else f"n{i}_w")
             for i, n in enumerate(g.nodes)}
    states = {s: f"st_{k}_{s}" for k, s in enumerate(g.states)}
    renamed = _rename(g, names, states)
    assert genome_id(renamed) == genome_id(g)
    src = generated_source(g, "script")
    assert src == generated_source(renamed, "script")
    for n in g.nodes:
        if len(n.name) > 3 and not re.fullmatch(r"[vsqdew]\d+(_\d+)?", n.name):
            assert not re.search(rf"\b{re.escape(n.name)}\b", src), n.name
    code = "\n".join(line.split("#")[0] for line in src.splitlines())  # comments aside
    idents = set(re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b", code))
    compiler = re.compile(r"^([vsqdegr]\d+|[wbp]\d+|wt\d+|ds\d+|dp\d+|dr\d+|dqs?\d+|"
                          r"sv_[sv]\d+|q\d+_\d+)$")
    assert not {i for i in idents if not compiler.match(i)} - FIXED_IDENTIFIERS
    # compiles and agrees with eager after renaming
    torch.manual_seed(0)
    a = compile_rnn(renamed, 3, 4, backend="script", seed=1).double()
    b = compile_rnn(g, 3, 4, backend="eager", seed=1).double()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    assert torch.allclose(a(x)[0], b(x)[0], atol=1e-12)


def test_generated_source_shape():
    src = generated_source(zoo.get("lstm"), "script")
    assert "def forward(" in src and "def backward(" in src and "def forward_save(" in src
    # one fused product of h per step, one hoisted product of x
    fwd = src.split("def forward_save")[0]
    assert len(re.findall(r"_mm(_add)?\(s0,", fwd)) == 1 and fwd.count("_mm(x.reshape") == 1
    assert "_mm_add(s0, w1, b1, xpt, packed)" in fwd  # W x + U h pre-added in the product
    assert "_mm(s1" not in fwd  # c is never projected
    assert "mkldnn" in generated_source(zoo.get("lstm"), onednn=True)
    plain = generated_source(zoo.get("lstm"), "eager", fused_backward=False)
    assert "def backward(" not in plain
