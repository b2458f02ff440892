"""Plan structure (hoisting, fusion), parameters (names, counts, init) and input errors."""

from __future__ import annotations

import math

import pytest
import torch

from lstm_search import zoo
from lstm_search.compile import build_plan
from lstm_search.genome import Builder, GenomeError, n_params
from lstm_search.nn import compile_cell, compile_rnn


def test_lstm_plan_hoists_x_and_fuses_h():
    plan = build_plan(zoo.get("lstm"), 7, 5)
    xg = plan.x_group
    assert xg is not None and xg.hoisted and len(xg.members) == 4 and xg.n_bias == 4
    step = plan.step_groups
    assert [g.source for g in step] == ["s0"] and len(step[0].members) == 4
    assert step[0].width == 5 and xg.width == 7
    assert plan.n_states == 2 and not plan.uses_xt


def test_gate_sums_of_x_and_h_projections_are_pre_added():
    lstm = build_plan(zoo.get("lstm"), 7, 5)
    assert lstm.n_pairs == 4 and lstm.groups[lstm.pair_group].source == "s0"
    assert all(s.op != "proj" for s in lstm.steps)  # every projection folded into a pair
    gru = build_plan(zoo.get("gru"), 7, 5)
    assert gru.n_pairs == 2  # r and z; n's h-projection is gated by r first
    assert sum(s.op == "proj" for s in gru.steps) == 2
    # a projection that feeds two nodes is never folded
    b = Builder(states=("h",))
    xh, hh = b.linear("x"), b.linear("h")
    b.set_state("h", b.tanh(b.add(b.add(xh, hh), b.sigmoid(hh))))
    assert build_plan(b.build(), 3, 3).n_pairs == 0


def test_mut1_keeps_projection_of_internal_value_per_step():
    plan = build_plan(zoo.get("mut1"), 6, 4)
    sources = sorted(g.source for g in plan.groups)
    # x (x_z, x_r and the fit matrix), h (h_r), and W_hh (r ⊙ h) on an internal value
    assert sources[0] == "s0" and sources[-1] == "x" and any(s.startswith("v") for s in sources)
    xg = plan.x_group
    assert xg is not None and len(xg.members) == 3 and xg.n_bias == 2
    # with m == n, fit(x) is the raw input: no matrix
    plan_sq = build_plan(zoo.get("mut1"), 4, 4)
    assert plan_sq.uses_xt and len(plan_sq.x_group.members) == 2


@pytest.mark.parametrize("name", zoo.names())
@pytest.mark.parametrize("layers", [1, 3])
def test_n_params_matches_genome_count(name, layers):
    g = zoo.get(name)
    m = compile_rnn(g, 6, 4, num_layers=layers, backend="eager")
    expected = n_params(g, 6, 4) + (layers - 1) * n_params(g, 4, 4)
    assert sum(p.numel() for p in m.parameters()) == expected == m.expected_n_params()


def test_parameter_names_come_from_the_compiler_and_map_to_nodes():
    g = zoo.get("vanilla")
    layer = compile_cell(g, 3, 2, backend="eager")
    names = dict(layer.named_parameters())
    node_names = {n.name for n in g.nodes}
    for pname in names:
        assert pname.split("_", 1)[0] in ("weight", "bias", "diag")
        assert not any(nn in pname.split("_", 1)[1] for nn in node_names if len(nn) > 2)
    pmap = layer.param_map()
    assert set(pmap) == {n.name for n in g.nodes if n.op in ("linear", "diag")}
    pname, r0, r1 = pmap["p_i"][0]
    assert pname.startswith("diag_v") and (r0, r1) == (0, 2)
    covered = sum(r1 - r0 for entries in pmap.values() for _, r0, r1 in entries)
    # every weight row and bias entry is owned by exactly one node
    assert covered == sum(p.shape[0] for p in names.values())


def test_init_bounds_bias_init_and_seed():
    n = 16
    g = zoo.get("lstm_b")
    a = compile_rnn(g, 8, n, seed=3, backend="eager")
    b = compile_rnn(g, 8, n, seed=3, backend="eager")
    c = compile_rnn(g, 8, n, seed=4, backend="eager")
    for (na, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), na
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters(),
                                                      strict=True))
    bound = 1 / math.sqrt(n)
    layer = a.layers[0]
    (wname, _, _), (bname, c0, c1) = layer.param_map()["x_f"]
    assert torch.all(getattr(layer, bname)[c0:c1] == 1.0)  # LSTM-b's forget bias
    others = [getattr(layer, bname)[k * n:(k + 1) * n] for k in range(3)
              if k * n != c0]
    for t in [*others, getattr(layer, wname)]:
        assert t.abs().max() <= bound and t.abs().max() > bound / 2
    big = compile_rnn(g, 8, n, seed=3, backend="eager", init_scale=2.0)
    assert big.layers[0].weight_s0.abs().max() > bound


@pytest.mark.parametrize("backend", ["eager", "script"])
def test_modules_deepcopy_and_pickle(backend):
    import copy
    import io

    m = compile_rnn(zoo.get("gru"), 3, 4, num_layers=2, backend=backend, seed=0)
    x = torch.randn(5, 2, 3)
    twin = copy.deepcopy(m)
    buf = io.BytesIO()
    torch.save(m, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    for other in (twin, loaded):
        assert torch.equal(other(x)[0], m(x)[0])
        other(x)[0].sum().backward()


def test_invalid_genome_and_bad_arguments_are_rejected():
    b = Builder(states=("h",))
    b.set_state("h", b.tanh(b.linear("x")))  # never reads h: no recurrence
    bad = b.build(name="ff")
    with pytest.raises(GenomeError, match=r"unused-state|no-recurrence"):
        compile_rnn(bad, 3, 2)
    with pytest.raises(ValueError, match="unknown backend"):
        compile_rnn(zoo.get("lstm"), 3, 2, backend="fast")
    with pytest.raises(ValueError, match="hidden_size"):
        compile_cell(zoo.get("lstm"), 3, 0)
    m = compile_rnn(zoo.get("lstm"), 3, 2, num_layers=2, backend="eager")
    with pytest.raises(ValueError, match="expected input"):
        m(torch.zeros(4, 2, 5))
    with pytest.raises(ValueError, match="2 state"):
        m(torch.zeros(4, 2, 3), torch.zeros(2, 2, 2))
    with pytest.raises(ValueError, match="num_layers=2"):
        m(torch.zeros(4, 2, 3), (torch.zeros(1, 2, 2), torch.zeros(1, 2, 2)))
