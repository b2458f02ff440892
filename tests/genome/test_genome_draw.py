"""Pictures as text: equations and Graphviz source (PNG files: test_analysis_cell_png.py)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from lstm_search import zoo
from lstm_search.genome import Genome, Node
from lstm_search.genome.draw import to_dot, to_equations, vertices


@pytest.mark.parametrize("name", zoo.names())
def test_dot_mentions_every_node_and_edge(name: str) -> None:
    g = zoo.get(name)
    dot = to_dot(g)
    assert dot.startswith("digraph ") and dot.rstrip().endswith("}")
    for n in g.nodes:
        assert f'"{n.name}" [label=' in dot
        for i in n.inputs:
            src = f"in:{i}" if i in g.inputs or i.startswith("below:") else i
            assert f'"{src}" -> "{n.name}"' in dot
    for s, v in g.new_states.items():
        assert f'"{v}" -> "out:{s}"' in dot
    assert dot.count("{") == dot.count("}")


def test_dot_escapes_quotes_and_backslashes() -> None:
    # Not valid (the name is no identifier), but to_dot must still emit well-formed strings.
    evil = 'a"b\\c'
    g = Genome(("h",), (Node("xh", "linear", ("x",)), Node(evil, "add", ("xh", "h"))),
               {"h": evil}, evil, name='say "hi"')
    dot = to_dot(g)
    assert '"a\\"b\\\\c"' in dot
    assert 'digraph "say \\"hi\\""' in dot
    # every double quote in the text is either escaped or delimits a string
    for line in dot.splitlines():
        unescaped = re.sub(r'\\.', "", line)
        assert unescaped.count('"') % 2 == 0, line


def test_equations_list_every_node() -> None:
    g = zoo.get("gru")
    text = to_equations(g)
    for n in g.nodes:
        assert re.search(rf"^{n.name}\s+= ", text, re.M)
    assert "h_new  = z ⊙ h + (1 − z) ⊙ n" in text
    assert "σ(r_pre)" in text
    lstm_b = to_equations(zoo.get("lstm_b"))
    assert "W·x + b (b₀ = 1)" in lstm_b and "W·h\n" in lstm_b


def test_importing_draw_does_not_import_matplotlib() -> None:
    code = ("import sys, lstm_search.genome.draw, lstm_search.genome; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_a_spatial_cells_projections_are_drawn_as_convolutions() -> None:
    """ConvLSTM (Shi et al. 2015, eq. 3): its W are K×K convolutions, its peepholes Hadamard
    weights of the map; the picture says so, a vector cell's W stay plain."""
    labels = {v.key: v.label for v in vertices(zoo.convlstm(5))[0]}
    assert labels["x_i"] == "W∗5×5" and labels["h_i"] == "W∗5×5" and labels["p_i"] == "p⊙"
    assert {v.label for v in vertices(zoo.get("vanilla"))[0] if v.key == "x_i"} == {"W"}
