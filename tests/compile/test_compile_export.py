"""``lstm-search export CELL --torch``: the written file, imported in a fresh interpreter
(without lstm_search), computes what the compiled module computes (float64, 1e-10), and
TorchScript scripts, saves and loads it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import torch

from lstm_search import zoo
from lstm_search.cli import main
from lstm_search.genome import Builder, import_nasbench_nlp
from lstm_search.nn import compile_cell, exported_state_dict

M, N, T, B = 3, 4, 5, 2


def leaky_nasbench():
    return import_nasbench_nlp({
        "a": {"op": "linear", "input": ["x", "h_prev_0", "h_prev_1"]},
        "b": {"op": "activation_leaky_relu", "input": ["a"]},
        "h_new_1": {"op": "blend", "input": ["b", "h_prev_1", "x"]},
        "h_new_0": {"op": "elementwise_prod", "input": ["b", "h_prev_1"]},
    }, name="nb_leaky")


def odd_cell():
    # a steep leaky ReLU, one_minus, sub, a Linear(a, v) diagonal and a set bias
    b = Builder(states=("h",))
    u = b.linear("h", diag=1.0, bias_init=0.5)
    v = b.leaky_relu(b.add(b.linear("x"), u), slope=2.0)
    b.set_state("h", b.sub(b.one_minus(b.sigmoid(v)), b.tanh("h")))
    return b.build(name="odd")


def test_exported_files_match_the_compiled_modules(tmp_path) -> None:
    cells = {name: zoo.get(name) for name in ("lstm", "gru", "vanilla", "mut1", "lstm_b",
                                              "darts_v2", "enas", "mingru", "minlstm",
                                              "rglru", "hgrn", "slstm")}
    cells["nb_leaky"] = leaky_nasbench()
    cells["odd"] = odd_cell()
    cells["slstm_h2"] = zoo.slstm(2)  # head-wise recurrent matrices
    expected = {}
    for k, (name, g) in enumerate(cells.items()):
        assert main(["export", name if name in zoo.names() else _write(tmp_path, g), "--torch",
                     "-o", str(tmp_path / f"{name}_cell.py")]) == 0
        src = (tmp_path / f"{name}_cell.py").read_text()
        assert "lstm_search" not in src and "Equations" in src
        layer = compile_cell(g, M, N, backend="script", seed=k).double()
        gen = torch.Generator().manual_seed(k)
        x = torch.randn(T, B, M, dtype=torch.float64, generator=gen)
        s = [torch.randn(B, N, dtype=torch.float64, generator=gen) for _ in g.states]
        y, new = layer(x, tuple(s))
        torch.save({"state": exported_state_dict(layer), "x": x, "s": s},
                   tmp_path / f"{name}_in.pt")
        expected[name] = (y.detach(), [t.detach() for t in new])
    script = textwrap.dedent(f"""
        import importlib, io, sys
        import torch
        sys.path.insert(0, {str(tmp_path)!r})
        out = {{}}
        for name in {list(cells)!r}:
            mod = importlib.import_module(name + "_cell")
            data = torch.load({str(tmp_path)!r} + "/" + name + "_in.pt")
            layer = mod.Layer({M}, {N}).double()
            layer.load_state_dict(data["state"])
            y, s = layer(data["x"], data["s"])
            scripted = torch.jit.script(layer)
            buf = io.BytesIO()
            torch.jit.save(scripted, buf)
            buf.seek(0)
            y2, _ = torch.jit.load(buf)(data["x"], data["s"])
            out[name] = (y, s, y2)
        assert "lstm_search" not in sys.modules
        torch.save(out, {str(tmp_path)!r} + "/out.pt")
    """)
    subprocess.run([sys.executable, "-I", "-c", script], check=True, timeout=600)
    got = torch.load(tmp_path / "out.pt")
    for name, (y, s) in expected.items():
        gy, gs, gy_script = got[name]
        torch.testing.assert_close(gy, y, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(gy_script, y, rtol=1e-10, atol=1e-10)
        for a, b in zip(gs, s, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def _write(tmp_path, g) -> str:
    path = tmp_path / f"{g.name}.json"
    path.write_text(g.to_json())
    return str(path)


def test_export_to_stdout_and_errors(capsys, tmp_path) -> None:
    assert main(["export", "gru", "--torch"]) == 0
    out = capsys.readouterr().out
    assert out.startswith('"""gru: a recurrent cell') and "class Layer(nn.Module)" in out
    assert "h′     = h_new" in out  # the equations
    assert main(["export", "nope", "--torch"]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert main(["export", str(bad), "--torch"]) == 2
