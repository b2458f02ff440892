"""Every backend agrees with the eager reference on every zoo cell and on random genomes; the
generated backward passes gradcheck; the oneDNN product path and its fallback agree."""

from __future__ import annotations

import random

import pytest
import torch
from torch.func import functional_call

from lstm_search import zoo
from lstm_search.compile import _gemm
from lstm_search.genome import Genome, Node, random_genome
from lstm_search.genome._random import DEFAULT_OP_WEIGHTS
from lstm_search.nn import compile_cell, compile_rnn

# the whole vocabulary, including ops the default sampler leaves out
OP_WEIGHTS = {**DEFAULT_OP_WEIGHTS, "diag": 0.05, "fit": 0.05, "identity": 0.03}


def varied_random_genome(seed: int) -> Genome:
    """A random valid genome with node parameters varied too (no bias, bias_init, Linear(a, ·),
    leaky slopes below 0, between 0 and 1, above 1)."""
    g = random_genome(seed, n_states=(1, 3), op_weights=OP_WEIGHTS)
    rng = random.Random(seed)
    nodes = []
    for n in g.nodes:
        p = dict(n.params)
        if n.op == "linear":
            if rng.random() < 0.25:
                p["bias"] = False
            elif rng.random() < 0.2:
                p["bias_init"] = rng.choice([1.0, -0.5])
            if n.inputs[0] != "x" and rng.random() < 0.25:
                p["diag"] = rng.choice([1.0, 0.9, 1.1])
        if n.op == "leaky_relu":
            p["slope"] = rng.choice([0.01, 0.3, 1.5, -0.2])
        nodes.append(Node(n.name, n.op, n.inputs, p))
    return g.replace(nodes=tuple(nodes)).check()


def _run(layer, x, states):
    xi = x.clone().requires_grad_(True)
    si = tuple(s.clone().requires_grad_(True) for s in states)
    y, new = layer(xi, si)
    loss = (y * y.sin()).sum() + sum((s * s.cos()).sum() for s in new)
    wrt = [xi, *si, *layer.parameters()]
    # a state read only by the layer above (below:<state>, the Grid LSTM's depth memory)
    # never reaches this layer's loss: its initial value has no gradient (zero)
    grads = torch.autograd.grad(loss, wrt, allow_unused=True)
    return [y, *new, *(torch.zeros_like(v) if g is None else g
                       for g, v in zip(grads, wrt, strict=True))]


def _close(ref, got, rtol):
    assert len(ref) == len(got)
    for a, b in zip(ref, got, strict=True):
        assert a.shape == b.shape
        # relative to the size of the values: random cells may grow fast over steps
        assert (a - b).abs().max() <= rtol * (1 + a.abs().max()), (a - b).abs().max()


def _agree(genome, m_in, n, variants, seed=0, dtype=torch.float64, rtol=1e-10, T=4,
           B=2, scan=True) -> bool:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, m_in, generator=gen, dtype=dtype)
    eager = compile_cell(genome, m_in, n, "eager", seed=seed).to(dtype)
    # each state by its shape: (B, n), or a head-wise cell's (B, h) and (B, h, d, d)
    states = [torch.randn(B, *shape, generator=gen, dtype=dtype)
              for shape in eager.plan.state_shapes]
    ref = _run(eager, x, states)
    if not all(torch.isfinite(t).all() and t.abs().max() < 1e6 for t in ref):
        # a cell whose values explode within a few steps is too ill-conditioned to compare
        # two correct implementations at a tight tolerance (rounding order is amplified)
        return False
    for backend, fused in variants:
        layer = compile_cell(genome, m_in, n, backend, fused_backward=fused, seed=seed,
                             scan=scan)
        _close(ref, _run(layer.to(dtype), x, states), rtol)
        with torch.no_grad():  # the inference path (no saved values, packed products)
            y, new = layer(x, states)
        _close(ref[:1 + len(states)], [y, *new], rtol)
    return True


SCRIPT = [("script", True), ("script", False)]


@pytest.mark.parametrize("name", zoo.names())
def test_script_agrees_with_eager_on_zoo(name):
    assert _agree(zoo.get(name), 5, 4, SCRIPT)
    assert _agree(zoo.get(name), 4, 4, SCRIPT, seed=1)  # m == n: fit of x is the raw input


def test_script_agrees_with_eager_on_random_genomes():
    compared = 0
    for seed in range(240):
        g = varied_random_genome(seed)
        compared += _agree(g, 3 if seed % 2 else 4, 4, SCRIPT[:1] if seed % 3 else SCRIPT,
                           seed=seed)
    assert compared >= 200


class CountingBackend:
    """A torch.compile backend that counts the graphs handed to it, then compiles them with
    ``inner`` (so a kernel that silently runs uncompiled shows as a missing count)."""

    def __init__(self, inner: str) -> None:
        self.inner = torch._dynamo.lookup_backend(inner)
        self.graphs = 0

    def __call__(self, gm, example_inputs):
        self.graphs += 1
        return self.inner(gm, example_inputs)


@pytest.mark.integration
def test_every_compile_kernel_is_compiled_however_many_cells(monkeypatch):
    # dynamo keeps 8 graphs per code object: kernels sharing one function stopped compiling
    # after the eighth cell of a process (a search) and ran eager without a word. Dynamo
    # alone ("eager" backend) is enough to see it, in seconds
    from lstm_search.compile import _kernels

    counting = CountingBackend("eager")
    monkeypatch.setattr(_kernels, "_TORCH_COMPILE_BACKEND", counting)
    for seed in range(11):
        g = varied_random_genome(seed)
        layer = compile_cell(g, 3, 4, "compile", seed=seed).double()
        x = torch.randn(2, 2, 3, dtype=torch.float64)
        states = [torch.randn(2, 4, dtype=torch.float64) for _ in g.states]
        with torch.no_grad():
            y, _ = layer(x, states)
            ref, _ = compile_cell(g, 3, 4, "eager", seed=seed).double()(x, states)
        assert torch.allclose(y, ref, rtol=1e-12, atol=1e-12)
        assert counting.graphs == seed + 1, f"cell {seed + 1} ran uncompiled"


# every zoo cell and a batch of random genomes through inductor, forward and backward and the
# inference path: small sizes, 3 steps (dynamic=False unrolls the loop), one process so that
# inductor's header and graph caches are shared; a cell is compiled once per path
COMPILE_RANDOM_SEEDS = list(range(12))


@pytest.fixture
def counted_inductor(monkeypatch):
    from lstm_search.compile import _kernels

    counting = CountingBackend("inductor")
    monkeypatch.setattr(_kernels, "_TORCH_COMPILE_BACKEND", counting)
    return counting


@pytest.mark.slow
@pytest.mark.parametrize("name", zoo.names())
def test_compile_backend_agrees_with_eager_on_every_zoo_cell(name, counted_inductor):
    g = zoo.get(name)
    assert _agree(g, 3, 4, [("compile", True)], T=3)
    assert counted_inductor.graphs >= 2  # training and inference graphs, none left eager


@pytest.mark.slow
@pytest.mark.parametrize("seed", COMPILE_RANDOM_SEEDS)
def test_compile_backend_agrees_with_eager_on_random_genomes(seed, counted_inductor):
    g = varied_random_genome(seed)
    if not _agree(g, 3 if seed % 2 else 4, 4, [("compile", True)], seed=seed, T=3):
        pytest.skip("values explode within 3 steps: too ill-conditioned to compare")
    assert counted_inductor.graphs >= 2


def _gradcheck(genome, m_in=3, n=2, seed=0):
    layer = compile_cell(genome, m_in, n, "script", seed=seed).double()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 2, m_in, generator=gen, dtype=torch.float64, requires_grad=True)
    states = [torch.randn(2, n, generator=gen, dtype=torch.float64, requires_grad=True)
              for _ in genome.states]
    names = [k for k, _ in layer.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for p in layer.parameters()]
    k = len(states)

    def fn(x, *rest):
        y, new = functional_call(layer, dict(zip(names, rest[k:], strict=True)),
                                 (x, rest[:k]))
        return (y, *new)

    assert torch.autograd.gradcheck(fn, (x, *states, *params))


@pytest.mark.parametrize("name", ["lstm", "gru", "vanilla", "cifg", "fgr", "mut1", "mut3",
                                  "nfg", "lstm_f"])
def test_generated_backward_gradcheck_zoo(name):
    _gradcheck(zoo.get(name))


def test_generated_backward_gradcheck_random():
    for seed in range(12):
        _gradcheck(varied_random_genome(1000 + seed), m_in=2 + seed % 2, seed=seed)


def test_fused_backward_is_used_for_training(monkeypatch):
    from lstm_search.compile import _kernels

    calls = []
    original = _kernels._FusedLayer.apply
    monkeypatch.setattr(_kernels._FusedLayer, "apply",
                        lambda *a: calls.append(1) or original(*a))
    m = compile_rnn(zoo.get("lstm"), 3, 4, backend="script")
    m(torch.randn(2, 1, 3))[0].sum().backward()
    assert calls == [1]
    with torch.no_grad():
        m(torch.randn(2, 1, 3))
    assert calls == [1]


@pytest.mark.skipif(not _gemm.onednn_supported(), reason="this torch build has no oneDNN ops")
def test_onednn_packed_product_matches_f_linear(monkeypatch):
    monkeypatch.setenv("LSTM_SEARCH_ONEDNN", "1")
    gen = torch.Generator().manual_seed(0)
    a, w, b = (torch.randn(s, generator=gen) for s in ((20, 30), (40, 30), (40,)))
    ref = torch.nn.functional.linear(a, w, b)
    assert torch.allclose(_gemm.linear(a, _gemm.pack(w, 20), b, True), ref, atol=1e-5)
    assert torch.equal(_gemm.linear(a, w, b, False), ref)
    assert _gemm.can_pack(a) and not _gemm.can_pack(a.double())


@pytest.mark.skipif(not _gemm.onednn_supported(), reason="this torch build has no oneDNN ops")
@pytest.mark.parametrize("name", ["lstm", "mut2", "vanilla"])
def test_onednn_and_fallback_paths_agree_in_float32(name, monkeypatch):
    monkeypatch.setenv("LSTM_SEARCH_ONEDNN", "1")
    packs = []
    original = _gemm.pack
    monkeypatch.setattr(_gemm, "pack", lambda w, b: packs.append(b) or original(w, b))
    g = zoo.get(name)
    layer = compile_cell(g, 5, 8, "script", seed=0)
    assert "mkldnn" in layer.kernel.source
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, 5, generator=gen)
    states = [torch.randn(3, 8, generator=gen) for _ in g.states]
    packed = _run(layer, x, states)
    assert packs  # the oneDNN path ran (forward and backward products)
    ref = _run(compile_cell(g, 5, 8, "eager", seed=0), x, states)
    _close(ref, packed, 1e-5)
    # the same genome without the operators: generated code falls back to F.linear
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert not _gemm.onednn_available()
    plain = compile_cell(g, 5, 8, "script", seed=0)
    assert "mkldnn" not in plain.kernel.source
    n_packs = len(packs)
    _close(ref, _run(plain, x, states), 1e-5)
    assert len(packs) == n_packs


@pytest.mark.skipif(not _gemm.onednn_supported(), reason="this torch build has no oneDNN ops")
@pytest.mark.parametrize(("setting", "vendor", "packed"), [
    ("", "AuthenticAMD", True), ("", "GenuineIntel", False), ("", "", True),
    ("1", "GenuineIntel", True), ("0", "AuthenticAMD", False)])
def test_packed_path_by_cpu_vendor_unless_forced(setting, vendor, packed, monkeypatch):
    monkeypatch.setenv("LSTM_SEARCH_ONEDNN", setting)
    monkeypatch.setattr(_gemm, "cpu_vendor", lambda: vendor)
    assert _gemm.onednn_available() is packed
    layer = compile_cell(zoo.get("lstm"), 5, 8, "script", seed=0)
    assert ("mkldnn" in layer.kernel.source) is packed


def test_float32_script_on_random_genomes_matches_float64_eager():
    # float32 on CPU takes the oneDNN products (strided state views included)
    compared = 0
    for seed in range(40):
        g = varied_random_genome(seed)
        m_in = 3 if seed % 2 else 6
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(4, 3, m_in, generator=gen)
        states = [torch.randn(3, 6, generator=gen) for _ in g.states]
        ref = _run(compile_cell(g, m_in, 6, "eager", seed=seed).double(), x.double(),
                   [s.double() for s in states])
        if not all(torch.isfinite(t).all() and t.abs().max() < 1e3 for t in ref):
            continue
        got = _run(compile_cell(g, m_in, 6, "script", seed=seed), x, states)
        _close(ref, [t.double() for t in got], 1e-4)
        compared += 1
    assert compared >= 30


ALL_BACKENDS = [("eager", True), ("script", True), ("script", False), ("compile", True)]
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.fixture
def exact_cuda_matmuls():
    """No TF32 in cuBLAS or cuDNN (cuDNN allows it by default): products in full float32, as
    the tolerances of shared/reference/cells.md assume."""
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    old = (matmul.allow_tf32, cudnn.allow_tf32)
    matmul.allow_tf32 = cudnn.allow_tf32 = False
    try:
        yield
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = old


def _run_stack(module, x, s0, loss_weights):
    """[output, final states..., d/dx, d/ds0..., d/dparams...] of a loss touching the output
    and every final state; ``s0`` a tuple of (layers, B, n) tensors (or None)."""
    xi = x.clone().requires_grad_(True)
    si = tuple(s.clone().requires_grad_(True) for s in s0) if s0 is not None else None
    arg = None if si is None else (si if len(si) > 1 else si[0])
    y, state = module(xi, arg)
    state = state if isinstance(state, tuple) else (state,)
    loss = (y * y.sin()).sum() + sum((s * w).sum() for s, w in zip(state, loss_weights,
                                                                      strict=True))
    grads = torch.autograd.grad(loss, [xi, *(si or ()), *module.parameters()])
    return [y, *state, *grads]


def _max_error(a, b):
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a.detach().cpu() - b.detach().cpu()).abs().max())


@CUDA
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("backend,fused", ALL_BACKENDS)
@pytest.mark.parametrize("cell", ["lstm", "gru", "vanilla"])
def test_same_code_runs_on_cuda(cell, backend, fused, dtype, exact_cuda_matmuls):
    # every backend on CUDA against the CPU reference (eager) and, for lstm and gru, against
    # torch.nn.LSTM / GRU on CUDA (cuDNN): outputs, final states and every gradient, within
    # shared/reference/cells.md's tolerance (1e-5 in float32, 1e-10 in float64)
    from test_compile_parity import TOL, TORCH, _torch_layout_grads

    from lstm_search.nn import load_torch_weights

    m_in, n, layers, T, B = 5, 4, 2, 5, 3
    g = zoo.get(cell)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(T, B, m_in, generator=gen, dtype=dtype)
    s0 = tuple(torch.randn(layers, B, n, generator=gen, dtype=dtype) for _ in g.states)
    w = [torch.randn(layers, B, n, generator=gen, dtype=dtype) for _ in g.states]
    cpu = compile_rnn(g, m_in, n, layers, backend="eager", seed=0).to(dtype)
    ref = None
    if cell in TORCH:
        torch.manual_seed(0)
        ref = TORCH[cell](m_in, n, num_layers=layers).to(dtype)
        load_torch_weights(cpu, ref)
    gpu = compile_rnn(g, m_in, n, layers, backend=backend, fused_backward=fused,
                      seed=1).to(dtype)
    gpu.load_state_dict(cpu.state_dict())
    gpu = gpu.cuda()
    assert next(gpu.parameters()).is_cuda
    tol = TOL[dtype]

    want = _run_stack(cpu, x, s0, w)
    got = _run_stack(gpu, x.cuda(), tuple(s.cuda() for s in s0), [t.cuda() for t in w])
    assert all(t.is_cuda for t in got)
    for i, (a, b) in enumerate(zip(want, got, strict=True)):
        assert _max_error(a, b) <= tol, (i, _max_error(a, b))
    with torch.no_grad():  # the inference path
        y, _ = gpu(x.cuda(), tuple(s.cuda() for s in s0) if len(s0) > 1 else s0[0].cuda())
    assert _max_error(want[0], y) <= tol

    if ref is None:
        return
    ref = ref.cuda()
    theirs = _run_stack(ref, x.cuda(), tuple(s.cuda() for s in s0), [t.cuda() for t in w])
    k = 1 + 2 * len(s0) + 1  # output, states, d/dx, d/ds0: the same layout on both sides
    for i, (a, b) in enumerate(zip(theirs[:k], got[:k], strict=True)):
        assert _max_error(a, b) <= tol, (i, _max_error(a, b))
    grads = dict(zip([name for name, _ in gpu.named_parameters()], got[k:], strict=True))
    mapped = _torch_layout_grads(gpu, grads, cell)
    for (name, _), a in zip(ref.named_parameters(), theirs[k:], strict=True):
        assert _max_error(a, mapped[name]) <= tol, name
