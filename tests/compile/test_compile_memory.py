"""The chunkwise path (lstm_search.compile._memory): which head-wise plans get it, and the step
loop's numbers (float64 to 1e-10 in outputs, final states and every gradient; float32 as close
to float64 as the loop is) across chunk boundaries, heads and initial states."""

from __future__ import annotations

import random

import pytest
import torch
from torch import Tensor

from lstm_search import zoo
from lstm_search.compile import build_plan
from lstm_search.compile._memory import CHUNK, chunk_memory
from lstm_search.genome import Builder, Genome, mutate
from lstm_search.nn import RecurrentLayer, compile_rnn


def memory_cell(normaliser: bool = True, query_reads_state: bool = False,
                sigmoid_gates: bool = False, second_memory: bool = False,
                reads_memory_directly: bool = False, reads_outer: bool = False,
                squashed_write: bool = False, stabiliser_reads_memory: bool = False
                ) -> Genome:
    """mLSTM-like cells: the zoo's equations, or one change each."""
    states = ("C", "n", "m") if normaliser else ("C", "m")
    if second_memory:
        states = ("C", "D", "n", "m") if normaliser else ("C", "D", "m")
    b = Builder(states=states)
    q = b.linear("x", name="q", bias=False)
    if query_reads_state:
        q = b.add(q, b.scale("m", 1.0, name="m_q"), name="q_m")  # m broadcast: a state read
    k = b.linear("x", name="k", bias=False)
    v = b.linear("x", name="v", bias=False)
    o = b.sigmoid(b.linear("x", name="o_raw"), name="o")
    i_raw = b.head_linear("x", name="i_raw")
    f_raw = b.head_linear("x", name="f_raw", bias_init=3.0)
    if sigmoid_gates:  # no stabiliser: m is left as a free running sum
        f = b.sigmoid(f_raw, name="f")
        i = b.sigmoid(i_raw, name="i")
        m_new = b.add("m", i_raw, name="m_new")
    else:
        a = b.add(b.logsigmoid(f_raw, name="log_f"), "m", name="a")
        m_new = b.maximum(a, i_raw, name="m_new")
        f = b.exp(b.sub(a, m_new, name="f_log"), name="f")
        i = b.exp(b.sub(i_raw, m_new, name="i_log"), name="i")
    vk = b.outer(v, k, name="vk")
    if squashed_write:  # not rank one: tanh of the outer product
        vk = b.tanh(vk, name="tanh_vk")
    c_new = b.add(b.mul(f, "C", name="fC"), b.mul(i, vk, name="ivk"), name="C_new")
    h = b.matvec(c_new, q, name="Cq")
    if second_memory:
        d_new = b.add(b.mul("D", f, name="fD"), b.mul(b.outer(k, v, name="kv"), i, name="ikv"),
                      name="D_new")
        h = b.add(h, b.matvec(d_new, o, name="Do"), name="h2")
        b.set_state("D", d_new)
    if normaliser:
        n_new = b.add(b.mul(f, "n", name="fn"), b.mul(i, k, name="ik"), name="n_new")
        den = b.maximum(b.abs(b.dot(n_new, q, name="nq"), name="abs_nq"),
                        b.exp(b.scale(m_new, -1.0, name="neg_m"), name="exp_neg_m"), name="den")
        h = b.div(h, den, eps=1e-6, name="h_tilde")
        b.set_state("n", n_new)
    if reads_memory_directly:
        h = b.add(h, b.dot(b.matvec(b.mul(f, "C", name="fC2"), q, name="Cq_old"), q,
                           name="qCq"), name="h_old")
    if reads_outer:  # a value of x alone, but one the path never computes
        h = b.add(h, b.matvec(vk, q, name="vkq"), name="h_vk")
    y = b.mul(o, h, name="y")
    b.set_state("C", c_new)
    if stabiliser_reads_memory:  # m' also reads C q: the scalar state is no prelude
        m_new = b.add(m_new, b.dot(b.matvec(c_new, q, name="Cq_m"), q, name="qCq_m"),
                      name="m_mem")
    b.set_state("m", m_new)
    return b.build(output=y, name="memory_cell", values={"kind": "heads", "heads": 2})


def run(layer: RecurrentLayer, x: Tensor, states: list[Tensor]) -> list[Tensor]:
    """Outputs, final states and the gradients of a loss of both (input, states, weights)."""
    xx = x.clone().requires_grad_()
    ss = [s.clone().requires_grad_() for s in states]
    y, new = layer(xx, tuple(ss))
    loss = y.pow(2).sum() + sum((0.3 + 0.1 * j) * (s * s.detach().sign()).sum()
                                for j, s in enumerate(new))
    layer.zero_grad(set_to_none=True)
    loss.backward()
    return [y, *new, xx.grad, *[s.grad for s in ss],
            *[p.grad if p.grad is not None else torch.zeros_like(p) for p in layer.parameters()]]


def pair(genome: Genome, dtype: torch.dtype, backend: str = "script", m: int = 5, n: int = 8
         ) -> tuple[RecurrentLayer, RecurrentLayer]:
    loop = RecurrentLayer(genome, m, n, backend="eager", scan=False).to(dtype)
    fast = RecurrentLayer(genome, m, n, backend=backend).to(dtype)
    fast.load_state_dict(loop.state_dict())
    return loop, fast


def inputs(layer: RecurrentLayer, T: int, B: int, dtype: torch.dtype, seed: int = 0
           ) -> tuple[Tensor, list[Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, layer.input_size, generator=gen, dtype=dtype)
    states = [torch.randn(B, *s, generator=gen, dtype=dtype) for s in layer.plan.state_shapes]
    return x, states


@pytest.mark.parametrize("heads", [1, 2, 4])
@pytest.mark.parametrize("T", [1, 7, CHUNK, CHUNK + 1, 2 * CHUNK + 9])
def test_chunkwise_equals_the_loop_float64(heads: int, T: int) -> None:
    loop, fast = pair(zoo.mlstm(heads), torch.float64)
    assert fast.path == "chunkwise" and loop.path == "step loop"
    x, states = inputs(loop, T, 3, torch.float64)
    states[-1] = states[-1] + 1.5  # a stabiliser carried in from an earlier batch
    for got, want in zip(run(fast, x, states), run(loop, x, states), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kw", [{}, {"normaliser": False}, {"second_memory": True}])
@pytest.mark.parametrize("T", [7, CHUNK + 3])
def test_default_zero_states_skip_the_products_and_keep_the_loop_s_numbers(kw: dict, T: int
                                                                          ) -> None:
    """No states given: the memories start at zero, their reads in the first chunk are
    skipped (chunk_memory checks the zeros), and outputs, final states and the input's and
    weights' gradients are still the loop's; so are those of the same zeros given as states
    that need a gradient (the products then run)."""
    loop, fast = pair(memory_cell(**kw), torch.float64)
    x = torch.randn(T, 3, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    results = []
    for layer in (fast, loop):
        xx = x.clone().requires_grad_()
        y, new = layer(xx)
        layer.zero_grad(set_to_none=True)
        (y.pow(2).sum() + sum(s.sum() for s in new)).backward()
        results.append([y, *new, xx.grad, *[p.grad for p in layer.parameters()]])
    for got, want in zip(*results, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    zeros = [torch.zeros(3, *s, dtype=torch.float64) for s in loop.plan.state_shapes]
    for got, want in zip(run(fast, x, zeros), run(loop, x, zeros), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_a_zero_memory_is_recognised_on_the_cpu_only_without_a_gradient() -> None:
    from lstm_search.compile._memory import _known_zero

    z = torch.zeros(2, 3, 3)
    assert _known_zero(z)
    assert not _known_zero(z.clone().requires_grad_())
    z[1, 2, 0] = 1e-30
    assert not _known_zero(z)


@pytest.mark.parametrize("kw", [{}, {"normaliser": False}, {"second_memory": True}])
def test_variants_of_the_memory_get_the_path_and_the_loop_s_numbers(kw: dict) -> None:
    g = memory_cell(**kw)
    assert build_plan(g, 5, 8).chunkwise, build_plan(g, 5, 8).path
    for backend in ("eager", "script", "compile", "native"):
        loop, fast = pair(g, torch.float64, backend)
        assert fast.path == "chunkwise"
        x, states = inputs(loop, CHUNK + 5, 2, torch.float64, seed=1)
        for got, want in zip(run(fast, x, states), run(loop, x, states), strict=True):
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("T", [35, 700])
def test_float32_is_as_close_to_float64_as_the_loop(T: int) -> None:
    """Norm-wise relative error of every output, state and gradient against float64: the
    chunks' reassociated sums round no worse than the loop (both about 1e-6 here)."""
    loop64, _ = pair(zoo.mlstm(2), torch.float64)
    x, states = inputs(loop64, T, 4, torch.float64, seed=2)
    truth = run(loop64, x, states)
    errs = {}
    for name, kw in (("loop", {"backend": "eager", "scan": False}), ("chunk", {})):
        layer = RecurrentLayer(zoo.mlstm(2), 5, 8, **kw)
        layer.load_state_dict({k: v.float() for k, v in loop64.state_dict().items()})
        got = run(layer, x.float(), [s.float() for s in states])
        errs[name] = max(((a.double() - b).norm() / b.norm().clamp_min(1e-30)).item()
                         for a, b in zip(got, truth, strict=True))
    assert errs["chunk"] < 1e-5, errs
    assert errs["chunk"] < 4 * errs["loop"] + 1e-6, errs


def test_huge_input_gates_over_thousands_of_steps_stay_finite() -> None:
    """Input gate pre-activations of ±200 (exp overflows float32 at 89) over 3,000 steps: the
    weights of the chunks never exceed 1, so nothing overflows, and float32 stays close to
    float64."""
    g = torch.Generator().manual_seed(3)
    B, h, T, d = 2, 2, 3000, 4
    args64 = dict(g=torch.nn.functional.logsigmoid(torch.randn(B, h, T, generator=g) + 3),
                  u=200 * torch.randn(B, h, T, generator=g),
                  v=torch.randn(B, h, T, d, generator=g), k=torch.randn(B, h, T, d, generator=g),
                  q=torch.randn(B, h, T, d, generator=g))
    out = {}
    for dt in (torch.float64, torch.float32):
        a = {k: v.to(dt) for k, v in args64.items()}
        zero_c, zero_n = a["v"].new_zeros(B, h, d, d), a["v"].new_zeros(B, h, d)
        m, reads, final = chunk_memory(a["g"], a["u"], [(a["v"], a["k"], zero_c)],
                                       [(a["k"], zero_n)], a["v"].new_zeros(B, h),
                                       [(0, a["q"]), (1, a["q"])])
        assert all(torch.isfinite(t).all() for t in (m, *reads, *final))
        out[dt] = (m, *reads, *final)
    for a, b in zip(out[torch.float32], out[torch.float64], strict=True):
        assert ((a.double() - b).norm() / b.norm()).item() < 1e-5


def test_the_stabiliser_is_the_loop_s_recursion() -> None:
    """m_t of the chunks equals max(g_t + m_{t-1}, u_t) stepped one by one from m₀."""
    gen = torch.Generator().manual_seed(4)
    g = -torch.rand(2, 3, 150, generator=gen, dtype=torch.float64)
    u = 3 * torch.randn(2, 3, 150, generator=gen, dtype=torch.float64)
    m0 = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    m, _, final = chunk_memory(g, u, [], [], m0, [], chunk=16)
    want, prev = [], m0
    for t in range(150):
        prev = torch.maximum(g[..., t] + prev, u[..., t])
        want.append(prev)
    torch.testing.assert_close(m, torch.stack(want, -1), rtol=0, atol=1e-12)
    torch.testing.assert_close(final[-1], want[-1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("kw", [{"sigmoid_gates": True}, {"query_reads_state": True},
                                {"sigmoid_gates": True, "second_memory": True},
                                {"sigmoid_gates": True, "normaliser": False}])
@pytest.mark.parametrize("T", [1, 9, CHUNK + 5])
def test_gated_memories_get_the_chunkwise_path_and_the_loop_s_numbers(kw: dict, T: int
                                                                     ) -> None:
    """Not the stabilised form, yet a gated memory (lstm_search.compile._gated): sigmoid
    gates with a free-running scalar state, a query reading the scalar state, two memories,
    no normaliser. Every backend, given states and the default zeros, float64 to 1e-9
    (the unstabilised memories reach values of a few hundred here: 1e-10 relative is
    within a few roundings of the loop's order)"""
    g = memory_cell(**kw)
    plan = build_plan(g, 5, 8)
    assert plan.chunkwise and plan.path.startswith("chunkwise: the gated memory"), plan.path
    for backend in ("eager", "script", "native"):
        loop, fast = pair(g, torch.float64, backend)
        assert fast.path == "chunkwise"
        x, states = inputs(loop, T, 2, torch.float64, seed=3)
        for got, want in zip(run(fast, x, states), run(loop, x, states), strict=True):
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
        (y1, s1), (y2, s2) = fast(x), loop(x)
        torch.testing.assert_close(y1, y2, rtol=1e-9, atol=1e-9)
        for a, b in zip(s1, s2, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def odd_memory(kind: str) -> Genome:
    """Gated memories of less usual forms (two heads)."""
    b = Builder(states=("C", "n", "m") if kind == "scalar_feed" else ("C", "m"))
    q = b.linear("x", name="q", bias=False)
    k = b.linear("x", name="k", bias=False)
    v = b.linear("x", name="v", bias=False)
    g = b.sigmoid(b.head_linear("x", name="g_raw"), name="g")
    vk = b.outer(v, k, name="vk")
    if kind == "free_scalar_state":  # m' of x alone; the decay reads m and m'
        m_new = g
        c_new = b.add(b.mul(b.mul(g, "m", name="gm"), "C", name="fC"), vk, name="C_new")
    elif kind == "two_writes":  # C' = C + v kᵀ − 0.5 k vᵀ: a decay of one, two writes
        m_new = b.add("m", g, name="m_new")
        c_new = b.add("C", vk, b.scale(b.outer(k, v, name="kv"), -0.5, name="half_kv"),
                      name="C_new")
    else:  # a constant decay, a subtracted write; (scalar_feed) n' = g n + k + g, g a scalar
        m_new = b.add("m", g, name="m_new")
        c_new = b.sub(b.scale("C", 0.9, name="C09"), b.mul(g, vk, name="gvk"), name="C_new")
    h = b.add(b.matvec(c_new, q, name="Cq"), b.scale("m", 1.0, name="m_read"), name="h")
    if kind == "scalar_feed":
        n_new = b.add(b.mul(g, "n", name="gn"), k, g, name="n_new")
        h = b.mul(h, b.dot(n_new, q, name="nq"), name="h_n")
        b.set_state("n", n_new)
    b.set_state("C", c_new)
    b.set_state("m", m_new)
    return b.build(output=h, name=kind, values={"kind": "heads", "heads": 2})


@pytest.mark.parametrize("kind", ["free_scalar_state", "two_writes", "constant_decay",
                                  "scalar_feed"])
def test_gated_memories_of_unusual_forms_equal_the_loop(kind: str) -> None:
    g = odd_memory(kind)
    assert build_plan(g, 5, 8).path.startswith("chunkwise: the gated memory"), kind
    loop, fast = pair(g, torch.float64)
    for T in (3, CHUNK + 6):
        x, states = inputs(loop, T, 2, torch.float64, seed=T)
        for got, want in zip(run(fast, x, states), run(loop, x, states), strict=True):
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kw, reason", [
    ({"reads_memory_directly": True}, "reads state 'C' itself (only M q and nᵀq"),
    ({"reads_outer": True}, "node 'vkq' reads the memory update 'vk'"),
    ({"squashed_write": True}, "state 'C' is not a M + Σ c v kᵀ"),
    ({"stabiliser_reads_memory": True}, "scalar state 'm' reads a memory"),
])
def test_other_head_wise_cells_run_the_loop_and_say_why(kw: dict, reason: str) -> None:
    g = memory_cell(**kw)
    plan = build_plan(g, 5, 8)
    assert not plan.chunkwise and plan.path.startswith("step loop:")
    assert reason in plan.path, plan.path
    rnn = compile_rnn(g, 5, 8, backend="script")
    assert rnn.layers[0].path == "step loop"
    assert rnn(torch.randn(4, 2, 5))[0].shape == (4, 2, 8)


def test_segment_products_are_the_loop_s_products_with_zeros_and_signs() -> None:
    from lstm_search.compile._gated import _segment_products

    a = torch.tensor([[0.5, -2.0, 0.0, 3.0, -0.25]], dtype=torch.float64)
    P, E = _segment_products(a)
    for t in range(5):
        assert E[0, t] == torch.prod(a[0, :t + 1])
        for i in range(5):
            want = torch.prod(a[0, i + 1:t + 1]) if i <= t else torch.tensor(0.0)
            assert P[0, t, i] == want, (t, i)


def test_gated_float32_over_long_sequences_is_as_close_to_float64_as_the_loop() -> None:
    """Sigmoid gates, no normaliser (whose exp(−m) of a free-running m overflows float32
    in the loop too), 700 steps: six chunks' products round no worse than the loop."""
    g = memory_cell(sigmoid_gates=True, normaliser=False)
    loop64, _ = pair(g, torch.float64)
    x, states = inputs(loop64, 700, 3, torch.float64, seed=2)
    truth = run(loop64, x, states)
    errs = {}
    for name, kw in (("loop", {"backend": "eager", "scan": False}), ("chunk", {})):
        layer = RecurrentLayer(g, 5, 8, **kw)
        layer.load_state_dict({k: v.float() for k, v in loop64.state_dict().items()})
        got = run(layer, x.float(), [s.float() for s in states])
        assert all(torch.isfinite(v).all() for v in got)
        errs[name] = max(((a.double() - b).norm() / b.norm().clamp_min(1e-30)).item()
                         for a, b in zip(got, truth, strict=True))
    assert errs["chunk"] < max(10 * errs["loop"], 1e-5), errs


def test_a_two_layer_stack_batch_first_equals_the_loop() -> None:
    torch.manual_seed(5)
    fast = compile_rnn(zoo.mlstm(2), 5, 8, num_layers=2, batch_first=True).double()
    loop = compile_rnn(zoo.mlstm(2), 5, 8, num_layers=2, batch_first=True, backend="eager",
                       scan=False).double()
    loop.load_state_dict(fast.state_dict())
    x = torch.randn(3, 80, 5, dtype=torch.float64)
    (y1, s1), (y2, s2) = fast(x), loop(x)
    torch.testing.assert_close(y1, y2, rtol=1e-10, atol=1e-10)
    for a, b in zip(s1, s2, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_mutants_agree_with_the_loop_whichever_path_they_get() -> None:
    rng = random.Random(6)
    paths = set()
    for _ in range(12):
        g = mutate(zoo.mlstm(2), rng).genome
        loop, fast = pair(g, torch.float64)
        paths.add(fast.plan.path.split(" (")[0][:30])
        x, states = inputs(loop, 70, 2, torch.float64, seed=7)
        for got, want in zip(run(fast, x, states), run(loop, x, states), strict=True):
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
    assert {"chunkwise: the matrix memory '", "chunkwise: the gated memory 'C"} <= paths, paths


def test_most_mutants_of_the_mlstm_keep_a_chunkwise_path() -> None:
    """Of 100 mutants (fixed seeds) of the two-head mLSTM, the stabilised form alone keeps
    about half on the chunkwise path; with gated memories at least 80 % (measured: 87 of
    100). The rest write a nonlinear function of the memory, or read it otherwise."""
    paths = [build_plan(mutate(zoo.mlstm(2), seed, hidden_size=8).genome, 5, 8)
             for seed in range(100)]
    stabilised = sum(p.path.startswith("chunkwise: the matrix memory") for p in paths)
    chunkwise = sum(p.chunkwise for p in paths)
    assert stabilised < 70 and chunkwise >= 80, (stabilised, chunkwise)
    # most gated ones keep the stabiliser's form for their scalar state: no per-step prelude
    gated = [p for p in paths if p.path.startswith("chunkwise: the gated memory")]
    assert sum(bool(p.memory.closed) for p in gated) >= 0.8 * len(gated) > 0


def test_scalar_states_in_closed_form_say_which() -> None:
    """A free-running m' = m + i (sigmoid gates) is affine: scanned by the scan path's
    affine_scan; xLSTM's stabiliser with a query reading m: chunk_memory's closed form; a
    scalar state of x alone: affine with no decay."""
    def forms(g: Genome) -> list[str]:
        return [f[0] for f in build_plan(g, 5, 8).memory.closed]

    assert forms(memory_cell(sigmoid_gates=True)) == ["affine"]
    assert forms(memory_cell(query_reads_state=True)) == ["max"]
    assert build_plan(odd_memory("free_scalar_state"), 5, 8).memory.closed[0][2] == ((), 0.0)


@pytest.mark.parametrize("seed", [0, 1, 7, 12, 22])
def test_gated_mutants_with_and_without_a_closed_form_stabiliser_equal_the_loop(seed: int
                                                                                ) -> None:
    """Mutants of the mLSTM on the gated path: those whose scalar state is still xLSTM's
    stabiliser m' = max(g + m, u) with g, u of x alone (seeds 0, 1, 7) get it in closed form
    (no per-step prelude), the others (12, 22) step it; both are the loop's numbers across
    chunks (float64 1e-9, every gradient)."""
    g = mutate(zoo.mlstm(2), seed, hidden_size=8).genome
    spec = build_plan(g, 5, 8).memory
    assert bool(spec.closed) == (seed in (0, 1, 7)), spec
    loop, fast = pair(g, torch.float64)
    for T in (3, CHUNK + 6):
        x, states = inputs(loop, T, 2, torch.float64, seed=T)
        for got, want in zip(run(fast, x, states), run(loop, x, states), strict=True):
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def test_show_prints_the_chunkwise_path(capsys: pytest.CaptureFixture[str]) -> None:
    from lstm_search.cli import main
    assert main(["show", "mlstm"]) == 0
    out = capsys.readouterr().out
    assert "# path: chunkwise: the matrix memory 'C' with the stabiliser 'm'" in out


def test_show_prints_the_gated_path(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    from lstm_search.cli import main
    f = tmp_path / "gated.json"
    f.write_text(memory_cell(sigmoid_gates=True).to_json())
    assert main(["show", str(f)]) == 0
    out = capsys.readouterr().out
    assert ("# path: chunkwise: the gated memory 'C', 'n' (decay and writes from x and scalar "
            "states, the scalar states 'm' in closed form)") in out


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_chunkwise_on_cuda_equals_the_loop_on_the_cpu() -> None:
    """The chunkwise path is plain torch ops: on a CUDA device, float64, it gives the CPU
    step loop's outputs, states and gradients (run by scripts/gpu_checks.sh)."""
    loop, fast = pair(zoo.mlstm(2), torch.float64)
    x, states = inputs(loop, 2 * CHUNK + 3, 3, torch.float64)
    want = run(loop, x, states)
    got = run(fast.cuda(), x.cuda(), [s.cuda() for s in states])
    assert fast.path == "chunkwise"
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a.cpu(), b, rtol=1e-9, atol=1e-9)
