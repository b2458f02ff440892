"""DARTS / ENAS cells: the imported genomes against a plain-PyTorch transcription of DARTS'
``DARTSCell`` (rnn/model.py of the DARTS repository, Liu et al. 2019) in evaluation, with the
same float64 weights, on every backend."""

from __future__ import annotations

from collections import namedtuple

import pytest
import torch
import torch.nn.functional as F

from lstm_search import zoo
from lstm_search.genome import (
    DARTS_V1,
    DARTS_V2,
    ENAS,
    GenomeError,
    darts_params,
    import_darts,
    n_params,
    parse_genotype,
)
from lstm_search.nn import compile_cell

Genotype = namedtuple("Genotype", "recurrent concat")  # DARTS' own type
ACT = {"tanh": torch.tanh, "relu": F.relu, "sigmoid": torch.sigmoid, "identity": lambda v: v}


class DARTSCellReference(torch.nn.Module):
    """DARTSCell in evaluation: W0 (m + n, 2n), Ws[i] (n, 2n), no biases, highway nodes, the
    mean of the concat nodes as output and new hidden state."""

    def __init__(self, m: int, n: int, genotype, gen: torch.Generator) -> None:
        super().__init__()
        self.n, self.genotype = n, genotype

        def u(*shape):
            return torch.nn.Parameter(
                (torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 - 1) * 0.5)

        self.W0 = u(m + n, 2 * n)
        self.Ws = torch.nn.ParameterList(u(n, 2 * n) for _ in genotype.recurrent)

    def cell(self, x, h):
        c0, h0 = torch.split(torch.cat([x, h], -1).mm(self.W0), self.n, dim=-1)
        states = [h + c0.sigmoid() * (h0.tanh() - h)]
        for i, (act, pred) in enumerate(self.genotype.recurrent):
            prev = states[pred]
            c, k = torch.split(prev.mm(self.Ws[i]), self.n, dim=-1)
            states.append(prev + c.sigmoid() * (ACT[act](k) - prev))
        return torch.mean(torch.stack([states[i] for i in self.genotype.concat], -1), -1)

    def forward(self, xs, h):
        ys = []
        for x in xs:
            h = self.cell(x, h)
            ys.append(h)
        return torch.stack(ys), h


@torch.no_grad()
def copy_weights(layer, ref: DARTSCellReference, m: int, n: int) -> None:
    pmap, params = layer.param_map(), dict(layer.named_parameters(recurse=False))

    def put(node: str, w: torch.Tensor) -> None:
        (wname, r0, r1), = pmap[node]  # one weight, no bias
        params[wname][r0:r1] = w

    W0 = ref.W0
    put("c0_x", W0[:m, :n].T)
    put("c0_h", W0[m:, :n].T)
    put("h0_x", W0[:m, n:].T)
    put("h0_h", W0[m:, n:].T)
    for i, W in enumerate(ref.Ws, start=1):
        if f"c{i}_w" in pmap:
            put(f"c{i}_w", W[:, :n].T)
            put(f"k{i}_w", W[:, n:].T)


CASES = {"darts_v1": DARTS_V1, "darts_v2": DARTS_V2, "enas": ENAS}


@pytest.mark.parametrize("backend", ["eager", "script"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_dartscell(name: str, backend: str) -> None:
    m, n, T, B = 5, 6, 7, 3
    gt = CASES[name]
    genotype = Genotype(list(gt.recurrent), range(1, 9) if gt.concat == tuple(range(1, 9))
                        else list(gt.concat))
    ref = DARTSCellReference(m, n, genotype, torch.Generator().manual_seed(0))
    g = import_darts(genotype, name=name)
    assert g == zoo.get(name).replace(name=name)
    layer = compile_cell(g, m, n, backend=backend).double()
    copy_weights(layer, ref, m, n)
    assert sum(p.numel() for p in layer.parameters()) == \
        sum(p.numel() for p in ref.parameters()) == darts_params(genotype, m, n)
    gen = torch.Generator().manual_seed(1)
    xs = torch.randn(T, B, m, dtype=torch.float64, generator=gen).requires_grad_()
    h = torch.randn(B, n, dtype=torch.float64, generator=gen)
    want, want_h = ref(xs, h)
    got, (got_h,) = layer(xs, (h,))
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(got_h, want_h, rtol=1e-10, atol=1e-10)
    (gx_want,) = torch.autograd.grad(want.square().sum(), xs)
    (gx_got,) = torch.autograd.grad(got.square().sum(), xs)
    torch.testing.assert_close(gx_got, gx_want, rtol=1e-10, atol=1e-10)


def test_parameter_counts_at_darts_sizes() -> None:
    # DARTS' PTB model: ninp = nhid = 850; 2n(m + n) + 8·2n² = 14.45M (23M with the
    # 10,000 x 850 embedding, as the paper reports)
    assert n_params(zoo.get("darts_v2"), 850, 850) == darts_params(DARTS_V2, 850, 850) \
        == 2 * 850 * 1700 + 16 * 850 * 850 == 14_450_000
    assert n_params(zoo.get("enas"), 850, 850) == darts_params(ENAS, 850, 850) == 18_785_000


def test_genotype_text_is_read_not_evaluated() -> None:
    text = ("Genotype(recurrent=[('sigmoid', 0), ('relu', 1), ('relu', 1), ('identity', 1), "
            "('tanh', 2), ('sigmoid', 5), ('tanh', 3), ('relu', 5)], concat=range(1, 9))")
    assert parse_genotype(text) == DARTS_V2
    assert import_darts(text) == zoo.get("darts_v2").replace(name="")
    with pytest.raises(GenomeError) as e:
        parse_genotype("Genotype(recurrent=__import__('os').system('true'), concat=[1])")
    assert e.value.problems[0].rule == "format"


def test_bad_genotypes_list_every_problem() -> None:
    with pytest.raises(GenomeError) as e:
        import_darts({"recurrent": [("gelu", 0), ("relu", 5)], "concat": [1, 9]})
    got = {(p.where, p.rule) for p in e.value.problems}
    assert got == {("recurrent node 1", "unknown-op"), ("recurrent node 2", "undefined-input"),
                   ("concat", "undefined-input")}


def test_nodes_outside_the_output_are_dropped() -> None:
    # node 2 is neither averaged nor a predecessor of an averaged node
    gt = {"recurrent": [("tanh", 0), ("relu", 1), ("relu", 1)], "concat": [1, 3]}
    g = import_darts(gt)
    assert "s2" not in g.node_map
    m, n = 3, 4
    assert n_params(g, m, n) == darts_params(gt, m, n) - 2 * n * n
