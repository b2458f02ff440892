"""Cell diagrams as PNG files: the layered layout and the drawing."""

from __future__ import annotations

import struct
import subprocess
import sys

import pytest

from lstm_search import zoo
from lstm_search.analysis.cell_png import draw_png, layout
from lstm_search.genome import Genome, Node, random_genome

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


def test_malformed_graph_is_refused(tmp_path) -> None:
    g = Genome(("h",), (Node("a", "add", ("b", "h")), Node("b", "tanh", ("a",))),
               {"h": "b"}, "b")
    with pytest.raises(ValueError, match="cycle"):
        draw_png(g, tmp_path / "c.png")


def test_importing_the_png_module_does_not_import_matplotlib() -> None:
    code = "import sys, lstm_search.analysis.cell_png; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
