"""DARTS' in-cell variational dropout (genome format 2's ``dropout``/``mask`` on ``linear``):
the imported cells in training against a transcription of ``DARTSCell``'s training forward
(rnn/model.py of the DARTS repository, Liu et al. 2019), masks drawn once per call, identity
in evaluation; validation, canonical form, JSON and text of the construct."""

from __future__ import annotations

from collections import namedtuple

import pytest
import torch
import torch.nn.functional as F

from lstm_search.compile import build_plan
from lstm_search.genome import (
    DARTS_V1,
    DARTS_V2,
    ENAS,
    Builder,
    Genome,
    GenomeError,
    genome_id,
    import_darts,
    n_params,
    validate,
)
from lstm_search.genome.draw import to_equations
from lstm_search.nn import compile_cell, compile_rnn

Genotype = namedtuple("Genotype", "recurrent concat")
ACT = {"tanh": torch.tanh, "relu": F.relu, "sigmoid": torch.sigmoid, "identity": lambda v: v}
P_X, P_H = 0.5, 0.3  # large enough that a 3 × 5 mask has zeros; DARTS' PTB uses 0.75, 0.25


def mask2d(B: int, D: int, keep_prob: float) -> torch.Tensor:
    """DARTS' rnn/utils.py mask2d, drawn in float64 from torch's global generator."""
    return torch.floor(torch.rand(B, D, dtype=torch.float64) + keep_prob) / keep_prob


class DARTSCellTraining(torch.nn.Module):
    """DARTSCell with its dropout: x_mask and h_mask drawn once per forward in training mode
    (x's first), ``[x ⊙ x_mask, h ⊙ h_mask] W0`` and ``(s_pred ⊙ h_mask) W_i``; no masks in
    evaluation."""

    def __init__(self, m: int, n: int, genotype, dropoutx: float, dropouth: float,
                 gen: torch.Generator) -> None:
        super().__init__()
        self.n, self.genotype = n, genotype
        self.dropoutx, self.dropouth = dropoutx, dropouth

        def u(*shape):
            return torch.nn.Parameter(
                (torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 - 1) * 0.5)

        self.W0 = u(m + n, 2 * n)
        self.Ws = torch.nn.ParameterList(u(n, 2 * n) for _ in genotype.recurrent)

    def cell(self, x, h_prev, x_mask, h_mask):
        if self.training:
            xh = torch.cat([x * x_mask, h_prev * h_mask], -1)
        else:
            xh = torch.cat([x, h_prev], -1)
        c0, h0 = torch.split(xh.mm(self.W0), self.n, dim=-1)
        states = [h_prev + c0.sigmoid() * (h0.tanh() - h_prev)]
        for i, (act, pred) in enumerate(self.genotype.recurrent):
            s_prev = states[pred]
            ch = (s_prev * h_mask).mm(self.Ws[i]) if self.training else s_prev.mm(self.Ws[i])
            c, k = torch.split(ch, self.n, dim=-1)
            states.append(s_prev + c.sigmoid() * (ACT[act](k) - s_prev))
        return torch.mean(torch.stack([states[i] for i in self.genotype.concat], -1), -1)

    def forward(self, xs, h):
        B = xs.shape[1]
        if self.training:
            x_mask = mask2d(B, xs.shape[2], 1.0 - self.dropoutx)
            h_mask = mask2d(B, h.shape[1], 1.0 - self.dropouth)
        else:
            x_mask = h_mask = None
        ys = []
        for x in xs:
            h = self.cell(x, h, x_mask, h_mask)
            ys.append(h)
        return torch.stack(ys), h


def _rows(layer, m: int, n: int, steps: int):
    """(node, block of W0 or W_i as the layer's rows) for every projection of the cell."""
    out = [("c0_x", lambda r: r.W0[:m, :n]), ("c0_h", lambda r: r.W0[m:, :n]),
           ("h0_x", lambda r: r.W0[:m, n:]), ("h0_h", lambda r: r.W0[m:, n:])]
    for i in range(1, steps + 1):
        out += [(f"c{i}_w", lambda r, i=i: r.Ws[i - 1][:, :n]),
                (f"k{i}_w", lambda r, i=i: r.Ws[i - 1][:, n:])]
    pmap = layer.param_map()
    return [(node, block) for node, block in out if node in pmap]


@torch.no_grad()
def copy_weights(layer, ref, m: int, n: int) -> None:
    params = dict(layer.named_parameters())
    for node, block in _rows(layer, m, n, len(ref.Ws)):
        (wname, r0, r1), = layer.param_map()[node]
        params[wname][r0:r1] = block(ref).T


def layer_grads_as_ref(layer, ref, m: int, n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(the layer's gradient of each block, the reference's) after both backward passes."""
    params = dict(layer.named_parameters())
    out = []
    for node, block in _rows(layer, m, n, len(ref.Ws)):
        (wname, r0, r1), = layer.param_map()[node]
        out.append((params[wname].grad[r0:r1], block(_Grad(ref)).T))
    return out


class _Grad:
    """The reference's parameters' gradients under the parameters' names."""

    def __init__(self, ref) -> None:
        self.W0 = ref.W0.grad
        self.Ws = [w.grad for w in ref.Ws]


CASES = {"darts_v1": DARTS_V1, "darts_v2": DARTS_V2, "enas": ENAS}
M, N, T, B = 5, 6, 7, 3


def _pair(name: str, backend: str):
    gt = CASES[name]
    genotype = Genotype(list(gt.recurrent), list(gt.concat))
    ref = DARTSCellTraining(M, N, genotype, P_X, P_H, torch.Generator().manual_seed(0))
    g = import_darts(genotype, name=name, dropout_x=P_X, dropout_h=P_H)
    layer = compile_cell(g, M, N, backend=backend).double()
    copy_weights(layer, ref, M, N)
    return ref, layer


def _inputs():
    gen = torch.Generator().manual_seed(1)
    xs = torch.randn(T, B, M, dtype=torch.float64, generator=gen).requires_grad_()
    h = torch.randn(B, N, dtype=torch.float64, generator=gen).requires_grad_()
    return xs, h


@pytest.mark.parametrize(("name", "backend"), [("darts_v2", "eager"), ("darts_v2", "script"),
                                             ("darts_v1", "script"), ("enas", "script")])
def test_training_matches_dartscell(name: str, backend: str) -> None:
    """The same masks: the reference and the layer each draw theirs from torch's global
    generator after ``torch.manual_seed(7)``, x's mask first and then h's, both by DARTS'
    ``mask2d`` formula (``floor(U + keep) / keep``); outputs, final state and the gradients
    of x, h and every weight agree to 1e-10 in float64."""
    ref, layer = _pair(name, backend)
    assert n_params(layer.genome, M, N) == sum(p.numel() for p in layer.parameters())
    assert backend != "script" or layer.kernel.fused_backward  # the generated backward
    ref.train()
    layer.train()
    xs, h = _inputs()
    torch.manual_seed(7)
    want, want_h = ref(xs, h)
    torch.manual_seed(7)
    got, (got_h,) = layer(xs, (h,))
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(got_h, want_h, rtol=1e-10, atol=1e-10)
    (want.square().sum() + want_h.sum()).backward()
    gx_want, gh_want = xs.grad.clone(), h.grad.clone()
    xs.grad, h.grad = None, None
    (got.square().sum() + got_h.sum()).backward()
    torch.testing.assert_close(xs.grad, gx_want, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(h.grad, gh_want, rtol=1e-10, atol=1e-10)
    for g_got, g_want in layer_grads_as_ref(layer, ref, M, N):
        torch.testing.assert_close(g_got, g_want, rtol=1e-10, atol=1e-10)
    # the masks did something: the evaluation forward (no masks) differs, and x's mask
    # drawn after the same seed has zeros
    with torch.no_grad():
        layer.eval()
        assert not torch.allclose(layer(xs, (h,))[0], got)
    torch.manual_seed(7)
    assert (mask2d(B, M, 1.0 - P_X) == 0).any()


@pytest.mark.parametrize("backend", ["eager", "script"])
def test_evaluation_is_the_cell_without_dropout(backend: str) -> None:
    ref, layer = _pair("darts_v2", backend)
    plain = compile_cell(import_darts(DARTS_V2), M, N, backend=backend).double()
    copy_weights(plain, ref, M, N)
    xs, h = _inputs()
    ref.eval()
    layer.eval()
    want, _ = ref(xs, h)
    y_plain, _ = plain(xs, (h,))
    y, _ = layer(xs, (h,))
    torch.testing.assert_close(y, y_plain, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(y, want, rtol=1e-10, atol=1e-10)
    with torch.no_grad():
        y2, _ = layer(xs, (h,))
    torch.testing.assert_close(y2, y, rtol=1e-12, atol=1e-12)
    layer.train()
    with torch.no_grad():  # training mode: masks, with or without a graph
        assert not torch.allclose(layer(xs, (h,))[0], y)


def _probe(backend: str):
    """h' = W_x (x ⊙ mask_x) + U h with W_x = I and U = 0: the output at every step is x's
    mask when x is all ones."""
    b = Builder(states=("h",))
    b.set_state("h", b.add(b.linear("x", bias=False, dropout=0.5, name="wx"),
                           b.linear("h", bias=False, name="uh"), name="h_new"))
    g = b.build(output_state="h", name="probe")
    layer = compile_cell(g, 8, 8, backend=backend).double()
    with torch.no_grad():
        params = dict(layer.named_parameters())
        for node, entries in layer.param_map().items():
            (wname, r0, r1), = entries
            params[wname][r0:r1] = torch.eye(8) if node == "wx" else 0.0
    return layer


@pytest.mark.parametrize("backend", ["eager", "script", "compile"])
def test_masks_are_constant_over_a_call_and_redrawn_per_call(
        backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from lstm_search.compile import _kernels

    # the compile backend with dynamo alone: seconds, not an inductor C++ build
    monkeypatch.setattr(_kernels, "_TORCH_COMPILE_BACKEND", "eager")
    layer = _probe(backend)
    x = torch.ones(5, 16, 8, dtype=torch.float64)
    torch.manual_seed(3)
    y1, _ = layer(x)
    y2, _ = layer(x)
    assert set(y1.unique().tolist()) == {0.0, 2.0}  # dropped, or kept and scaled by 1/(1 − p)
    assert torch.equal(y1, y1[:1].expand_as(y1))  # the same mask at every step of the call
    assert not torch.equal(y1[0], y2[0])  # a new one at the next call
    torch.manual_seed(3)
    torch.testing.assert_close(layer(x)[0], y1, rtol=0, atol=0)  # reproducible by the seed
    layer.eval()
    torch.testing.assert_close(layer(x)[0], x, rtol=0, atol=0)  # identity in evaluation


def test_eager_equals_script_in_training() -> None:
    """The script backend's generated backward (the masked sources' gradients times their
    masks), autograd through its forward (``fused_backward=False``) and a second-order
    gradient (``create_graph=True``) against the eager backend, the same seed for each."""
    g = import_darts(DARTS_V2, dropout_x=P_X, dropout_h=P_H)
    eager = compile_cell(g, M, N, backend="eager", seed=0).double()
    script = compile_cell(g, M, N, backend="script", seed=0).double()
    unfused = compile_cell(g, M, N, backend="script", seed=0, fused_backward=False).double()
    assert script.kernel.fused_backward and "def backward" in script.kernel.source
    script.load_state_dict(eager.state_dict())
    unfused.load_state_dict(eager.state_dict())
    xs, h = _inputs()
    outs = []
    for layer in (eager, script, unfused):
        torch.manual_seed(11)
        y, (hn,) = layer(xs, (h,))
        loss = y.square().sum() + hn.sum()
        grads = torch.autograd.grad(loss, [xs, h, *layer.parameters()], create_graph=True)
        (gg,) = torch.autograd.grad(grads[0].square().sum(), [h])
        outs.append((y, *grads, gg))
    for got in outs[1:]:
        for a, b in zip(outs[0], got, strict=True):
            torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-10)


def test_generated_backward_of_shared_masks_and_diag() -> None:
    """A state read with and without its mask (two groups of one source), an internal value
    masked by a state's mask, Linear(a, ·) of a masked input: the script backend's generated
    backward against the eager backend."""
    b = Builder(states=("h", "c"))
    z = b.sigmoid(b.add(b.linear("x", name="zx", dropout=0.4),
                        b.linear("h", name="zh", dropout=0.2), b.linear("h", name="zu")))
    cand = b.tanh(b.add(b.linear("x", name="gx", dropout=0.4),
                        b.linear(z, name="gz", dropout=0.2, mask="h", diag=0.5)))
    new_c = b.blend(z, cand, "c", name="c_new")
    b.set_state("c", new_c)
    b.set_state("h", b.tanh(b.linear(new_c, name="hc", dropout=0.3, mask="c"), name="h_new"))
    g = b.build(output_state="h")
    assert validate(g) == []
    layers = [compile_cell(g, 4, 5, backend=be, seed=0).double() for be in ("eager", "script")]
    assert layers[1].kernel.fused_backward
    assert [m.owner for m in layers[0].plan.masks] == ["x", "s0", "s1"]
    x = torch.randn(6, 3, 4, dtype=torch.float64, requires_grad=True)
    outs = []
    for layer in layers:
        torch.manual_seed(4)
        y, new = layer(x)
        grads = torch.autograd.grad(y.square().sum() + new[1].sum(), [x, *layer.parameters()])
        outs.append((y, *grads))
    for a, b_ in zip(*outs, strict=True):
        torch.testing.assert_close(b_, a, rtol=1e-10, atol=1e-10)


def test_a_stack_draws_per_layer_and_packed_sequences_keep_one_draw() -> None:
    g = import_darts(DARTS_V2, dropout_x=P_X, dropout_h=P_H)
    rnn = compile_rnn(g, N, N, num_layers=2, backend="eager", seed=0).double()
    x = torch.randn(T, B, N, dtype=torch.float64)
    torch.manual_seed(5)
    y, _ = rnn(x)
    # by hand: layer 0's masks, then layer 1's, each drawn when the layer runs
    torch.manual_seed(5)
    h = x
    for layer in rnn.layers:
        h, _ = layer(h)
    torch.testing.assert_close(y, h, rtol=0, atol=0)


def test_lstm_dropin_packed_sequences_draw_once() -> None:
    from torch.nn.utils.rnn import pack_padded_sequence

    from lstm_search.nn import Recurrent

    b = Builder(states=("h",))
    b.set_state("h", b.add(b.linear("x", bias=False, dropout=0.5, name="wx"),
                           b.linear("h", bias=False, name="uh"), name="h_new"))
    g = b.build(output_state="h", name="probe")
    rnn = Recurrent(g, 8, 8, backend="eager").double()
    with torch.no_grad():
        for name, p in rnn.named_parameters():
            p.copy_(torch.eye(8) if "weight_x" in name else torch.zeros_like(p))
    x = torch.ones(4, 3, 8, dtype=torch.float64)
    torch.manual_seed(2)
    y, _ = rnn(pack_padded_sequence(x, [4, 2, 1]))
    from torch.nn.utils.rnn import pad_packed_sequence

    y, _ = pad_packed_sequence(y)
    assert torch.equal(y[:, 0], y[:1, 0].expand(4, 8))  # one mask over all four steps
    assert torch.equal(y[:2, 1], y[:1, 1].expand(2, 8))


# -- the genome construct --------------------------------------------------------------------------


def test_default_import_is_unchanged_and_dropout_makes_a_format_2_cell() -> None:
    plain = import_darts(DARTS_V2, name="darts_v2")
    assert genome_id(import_darts(DARTS_V2, dropout_x=0.0, dropout_h=0.0)) == genome_id(plain)
    assert plain.to_dict()["version"] == 1
    g = import_darts(DARTS_V2, dropout_x=0.75, dropout_h=0.25)
    assert g.to_dict()["version"] == 2
    assert n_params(g, 850, 850) == n_params(plain, 850, 850)  # parameter-free
    assert genome_id(g) != genome_id(plain)
    assert genome_id(g) != genome_id(import_darts(DARTS_V2, dropout_x=0.75, dropout_h=0.3))
    assert Genome.from_json(g.to_json()) == g
    assert genome_id(Genome.from_json(g.to_json())) == genome_id(g)
    # only x's masked: one mask in the plan
    plan = build_plan(import_darts(DARTS_V2, dropout_x=0.5), M, N)
    assert [(m.owner, m.p, m.width) for m in plan.masks] == [("x", 0.5, M)]
    plan = build_plan(g, M, N)
    assert [(m.owner, m.p, m.width) for m in plan.masks] == [("x", 0.75, M), ("s0", 0.25, N)]
    assert plan.path.startswith("step loop")


def _two_state(mask_state: str, states: tuple[str, str] = ("h", "c"), explicit: bool = False):
    h, c = states
    b = Builder(states=states)
    z = b.sigmoid(b.add(b.linear("x", name="zx"), b.linear(h, name="zh", dropout=0.2,
                                                         **({"mask": h} if explicit else {}))))
    cand = b.tanh(b.add(b.linear("x", name="gx"),
                        b.linear(z, name="gz", dropout=0.2, mask=mask_state)))
    new_c = b.blend(z, cand, c, name="c_new")
    b.set_state(c, new_c)
    b.set_state(h, b.tanh(new_c, name="h_new"))
    return b.build(output_state=h)


def test_canonical_form_renames_masks_with_their_states() -> None:
    g = _two_state("h")
    assert validate(g) == []
    renamed = _two_state("a", states=("a", "b"))
    assert genome_id(renamed) == genome_id(g)
    # the default mask (the input's own) written out is the same cell
    assert genome_id(_two_state("h", explicit=True)) == genome_id(g)
    # sharing c's mask instead is another cell
    assert genome_id(_two_state("c")) != genome_id(g)
    # an explicit dropout of 0 is no dropout
    b = Builder(states=("h",))
    b.set_state("h", b.tanh(b.add(b.linear("x", dropout=0.0), b.linear("h"))))
    b2 = Builder(states=("h",))
    b2.set_state("h", b2.tanh(b2.add(b2.linear("x"), b2.linear("h"))))
    assert genome_id(b.build(output_state="h")) == genome_id(b2.build(output_state="h"))


def _problems(**params) -> set[tuple[str, str]]:
    b = Builder(states=("h",))
    w = b.linear("x", name="wx")
    b.set_state("h", b.tanh(b.add(w, b.linear("h", name="uh", **params), name="pre"),
                            name="h_new"))
    return {(p.where, p.rule) for p in validate(b.build(output_state="h"))}


def test_refusals_name_the_node_and_rule() -> None:
    assert _problems(dropout=1.0) == {("node 'uh'", "param")}
    assert _problems(dropout=-0.1) == {("node 'uh'", "param")}
    assert _problems(dropout="0.5") == {("node 'uh'", "param")}
    assert _problems(dropout=0.5, mask="nope") == {("node 'uh'", "param")}
    assert _problems(dropout=0.5, mask="x") == {("node 'uh'", "width")}
    assert _problems(mask="h") == {("node 'uh'", "param")}  # a mask without dropout
    # an internal value needs the mask it shares; x takes x's mask only; one p per mask
    b = Builder(states=("h",))
    a = b.tanh(b.linear("h", name="uh", dropout=0.5), name="a")
    b.set_state("h", b.tanh(b.add(b.linear("x", name="wx", dropout=0.5, mask="h"),
                                  b.linear(a, name="ua", dropout=0.5),
                                  b.linear(a, name="ub", dropout=0.4, mask="h")), name="h_new"))
    got = {(p.where, p.rule): p.message for p in validate(b.build(output_state="h"))}
    assert set(got) == {("node 'wx'", "width"), ("node 'ua'", "param"), ("node 'ub'", "param")}
    assert "give 'mask'" in got["node 'ua'", "param"]
    assert "same p" in got["node 'ub'", "param"]
    # a file of version 1 may not use it
    text = import_darts(DARTS_V2, dropout_h=0.25).to_json().replace('"version": 2',
                                                                      '"version": 1')
    with pytest.raises(GenomeError, match="needs genome format version 2"):
        Genome.from_json(text)
    with pytest.raises(GenomeError) as e:
        import_darts(DARTS_V2, dropout_x=1.0, dropout_h=True)
    assert {p.where for p in e.value.problems} == {"dropout_x", "dropout_h"}


def test_mixed_masks_on_x_and_spatial_cells_are_refused() -> None:
    b = Builder(states=("h",))
    b.set_state("h", b.tanh(b.add(b.linear("x", name="wx", dropout=0.5),
                                  b.linear("x", name="vx"), b.linear("h")), name="h_new"))
    g = b.build(output_state="h")
    assert validate(g) == []
    with pytest.raises(ValueError, match=r"x's dropout mask or none.*'wx' takes it.*'vx' does"):
        build_plan(g, 3, 4)
    b = Builder(states=("h",))
    b.set_state("h", b.tanh(b.add(b.linear("x"), b.linear("h", name="uh", dropout=0.5)),
                            name="h_new"))
    spatial = b.build(output_state="h", values={"kind": "spatial", "kernel": 3})
    assert ("node 'uh'", "values") in {(p.where, p.rule) for p in validate(spatial)}


def test_equations_show_the_masks() -> None:
    text = to_equations(import_darts(DARTS_V2, dropout_x=0.75, dropout_h=0.25))
    lines = {line.split("=", 1)[0].strip(): line.split("=", 1)[1].strip()
             for line in text.splitlines() if not line.startswith("#")}
    assert lines["c0_x"] == "W·(x ⊙ mask_x[p=0.75])"
    assert lines["c0_h"] == "W·(h ⊙ mask_h[p=0.25])"
    assert lines["c1_w"] == "W·(s0 ⊙ mask_h[p=0.25])"
    assert "drawn once per sequence" in text


def test_cli_imports_with_dropout_and_shows_the_masks(tmp_path, capsys) -> None:
    from lstm_search.cli import main

    text = ("Genotype(recurrent=[('sigmoid', 0), ('relu', 1), ('relu', 1), ('identity', 1), "
            "('tanh', 2), ('sigmoid', 5), ('tanh', 3), ('relu', 5)], concat=range(1, 9))")
    assert main(["import", "darts", text, "--out", str(tmp_path), "--name", "v2",
                 "--dropout-x", "0.75", "--dropout-h", "0.25"]) == 0
    g = Genome.from_json((tmp_path / "v2.json").read_text())
    assert g == import_darts(DARTS_V2, name="v2", dropout_x=0.75, dropout_h=0.25)
    capsys.readouterr()
    assert main(["show", str(tmp_path / "v2.json")]) == 0
    out = capsys.readouterr().out
    assert "W·(s0 ⊙ mask_h[p=0.25])" in out
    assert "# path: step loop: variational dropout masks" not in out  # DARTS reads h by W
    assert "# path: step loop" in out
    assert main(["import", "darts", text, "--out", str(tmp_path), "--dropout-h", "1"]) == 2
    assert "dropout_h" in capsys.readouterr().err
