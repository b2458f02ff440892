"""Drawing: equations, Graphviz source and PNG files."""

from __future__ import annotations

import re
import struct
import subprocess
import sys

import pytest

from lstm_search import zoo
from lstm_search.genome import Genome, Node, random_genome
from lstm_search.genome.draw import draw_png, layout, to_dot, to_equations

pytest.importorskip("matplotlib")


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("name", ["lstm", "gru", "fgr"])
def test_png_is_written(name: str, tmp_path) -> None:
    out = draw_png(zoo.get(name), tmp_path / f"{name}.png")
    assert out.exists() and out.stat().st_size > 20_000
    w, h = png_size(out)
    assert w > 500 and h > 300


def test_png_of_random_genome(tmp_path) -> None:
    g = random_genome(11, n_states=2, n_nodes=(12, 16))
    out = draw_png(g, tmp_path / "r.png", title="random")
    assert out.stat().st_size > 10_000


@pytest.mark.parametrize("name", zoo.names())
def test_dot_mentions_every_node_and_edge(name: str) -> None:
    g = zoo.get(name)
    dot = to_dot(g)
    assert dot.startswith("digraph ") and dot.rstrip().endswith("}")
    for n in g.nodes:
        assert f'"{n.name}" [label=' in dot
        for i in n.inputs:
            src = f"in:{i}" if i in g.inputs else i
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


def test_layout_layers_follow_edges() -> None:
    for g in (zoo.get("vanilla"), zoo.get("fgr"), random_genome(3, n_nodes=(10, 14))):
        lay = layout(g)
        for a, b, _ in lay.edges:
            assert lay.pos[a][0] < lay.pos[b][0]  # left to right
        xs = [lay.pos[f"in:{s}"][0] for s in g.inputs]
        assert xs == [0.0] * len(xs)
        last = lay.n_layers - 1
        assert all(lay.pos[f"out:{s}"][0] == last for s in g.states)
        # no two vertices on the same spot
        spots = [lay.pos[v.key] for v in lay.verts]
        assert len(set(spots)) == len(spots)


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


def test_malformed_graph_is_refused(tmp_path) -> None:
    g = Genome(("h",), (Node("a", "add", ("b", "h")), Node("b", "tanh", ("a",))),
               {"h": "b"}, "b")
    with pytest.raises(ValueError, match="cycle"):
        draw_png(g, tmp_path / "c.png")
