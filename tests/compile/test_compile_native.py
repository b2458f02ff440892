"""The native backend (generated C++, :mod:`lstm_search.compile._native`) agrees with the eager
reference: outputs, final states and every gradient, float64 to 1e-10 and float32 to 1e-5, on
the inference path too; it falls back to the script backend, with one warning naming why,
where it cannot run; its libraries are cached on disk and found by later processes.

Each test module builds the layers it uses as one library first (:func:`prebuild`: torch's
headers are parsed once), in a cache of its own under pytest's temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from test_compile_backends import _agree, varied_random_genome
from test_compile_modern_ops import ALL as MODERN_OPS
from test_compile_modern_ops import op_cell

from lstm_search import zoo
from lstm_search.compile import _native_build, build_plan
from lstm_search.compile._codegen import layout
from lstm_search.compile._native import native_refusal, native_source
from lstm_search.genome import Builder
from lstm_search.nn import compile_cell, compile_rnn

pytestmark = pytest.mark.skipif(_native_build.toolchain_problem() is not None,
                                reason=f"{_native_build.toolchain_problem()}")

NATIVE = [("native", True)]
# a cell of each structure: LSTM pairs, GRU's half pairs, a product of an internal value
# (two fused loops per step), peephole diagonals, and the raw input with exp and log-space ops
QUICK = ["lstm", "gru", "mut3", "vanilla", "rglru"]


def exp_cell():
    """``h' = max(exp(W x), h)``: from h = 0 in one step, the float32 exponential of the fused
    loop alone."""
    b = Builder(["h"])
    b.set_state("h", b.maximum(b.exp(b.linear("x", name="w", bias=False)), "h"))
    return b.build(name="exp_only")


def log_cell(op: str):
    """``h' = max(softplus(W x), h)`` or ``h' = min(logsigmoid(W x), h)``: from h = 0 in one
    step, the float32 softplus / logsigmoid (their log1p) of the fused loop alone."""
    b = Builder(["h"])
    wx = b.linear("x", name="w", bias=False)
    if op == "softplus":
        b.set_state("h", b.maximum(b.softplus(wx), "h"))
    else:
        b.set_state("h", b.minimum(b.logsigmoid(wx), "h"))
    return b.build(name=f"{op}_only")


def covered_zoo() -> list[str]:
    return [n for n in zoo.names() if not zoo.get(n).kernel
            and native_refusal(build_plan(zoo.get(n), 5, 4)) is None]


@pytest.fixture(scope="module", autouse=True)
def native_cache(tmp_path_factory):
    """A cache of this module's own, with every layer it compiles built in one library."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # one cache for all of xdist's workers
        base = base.parent
    root = base / "native-cache"
    old = os.environ.get("LSTM_SEARCH_CACHE")
    os.environ["LSTM_SEARCH_CACHE"] = str(root)
    genomes = [zoo.get(n) for n in QUICK]
    plans = [build_plan(g, m, 4) for g in genomes for m in (5, 4)]
    plans.append(build_plan(exp_cell(), 4, 4))
    plans += [build_plan(log_cell(op), 4, 4) for op in ("softplus", "logsigmoid")]
    plans.append(build_plan(zoo.get("minlstm"), 5, 4))
    _native_build.prebuild(plans)
    yield root
    if old is None:
        os.environ.pop("LSTM_SEARCH_CACHE", None)
    else:
        os.environ["LSTM_SEARCH_CACHE"] = old


def native_layer(genome, m, n, **kw):
    """A native layer, failing (not falling back) if the native kernel did not build."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        layer = compile_cell(genome, m, n, "native", **kw)
    assert type(layer.kernel).__name__ == "NativeKernel"
    return layer


@pytest.mark.parametrize("name", QUICK)
def test_native_agrees_with_eager(name):
    native_layer(zoo.get(name), 5, 4, scan=False)
    assert _agree(zoo.get(name), 5, 4, NATIVE, scan=False)
    # m == n: fit of x is the raw input
    assert _agree(zoo.get(name), 4, 4, NATIVE, seed=1, scan=False)
    assert _agree(zoo.get(name), 5, 4, NATIVE, seed=2, T=1, B=1, scan=False)


@pytest.mark.parametrize("name", ["lstm", "mut3"])
def test_native_float32_within_1e_5(name):
    # float32: the fused loop's exp and sigmoid are polynomials (Cephes), its tanh a rational
    # function (Eigen's), not libm's
    assert _agree(zoo.get(name), 5, 4, NATIVE, dtype=torch.float32, rtol=1e-5, T=20, B=3,
                  scan=False)


def test_native_float32_saturates_like_torch():
    # the exp polynomial's range: gates at ±100, ±1e4 and inf saturate exactly as torch's
    layer = native_layer(zoo.get("lstm"), 4, 4, scan=False)
    ref = compile_cell(zoo.get("lstm"), 4, 4, "eager")
    ref.load_state_dict(layer.state_dict())
    x = torch.tensor([0.0, 30.0, -30.0, 1e4, -1e4, float("inf"), -float("inf"), 1e-3])
    x = x.reshape(2, 1, 4).repeat(1, 3, 1)
    with torch.no_grad():
        y, _ = layer(x)
        y_ref, _ = ref(x)
    assert torch.equal(torch.isnan(y), torch.isnan(y_ref))
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_native_float32_exp_over_its_whole_range():
    # the polynomial exp against torch.exp from denormal results to overflow (2^128 needs its
    # two factors), at the edges of the range reduction and for inf and NaN
    layer = native_layer(exp_cell(), 4, 4, seed=0)
    with torch.no_grad():
        layer.weight_x.copy_(torch.eye(4))
    v = torch.cat([torch.linspace(-86.9, 88.7, 4001), torch.tensor(
        [88.72, 88.73, 89.0, 100.0, -87.5, -88.0, -100.0, 0.0, -0.0, 1e-8, 0.3466, -0.3466,
         float("inf"), -float("inf"), float("nan"), 44.36, 88.0, 88.5])])
    v = torch.cat([v, v.new_zeros((-len(v)) % 4)]).reshape(1, -1, 4)  # one step, h = 0
    with torch.no_grad():
        got, _ = layer(v)
        # W x as the product computes it (0 · inf is NaN in the rows holding an inf)
        want = torch.exp(torch.nn.functional.linear(v, layer.weight_x)).clamp(min=0.0)
    tiny = want < 1.7e-38  # ours is 0 below e^-87 = 1.65e-38 (torch: denormals)
    assert ((got[tiny] - want[tiny]).abs() <= 1.7e-38).all()
    torch.testing.assert_close(got[~tiny], want[~tiny], rtol=1e-6, atol=0, equal_nan=True)
    assert torch.isinf(got[v == 100.0]).all()  # e^100 overflows to inf, as torch's does


@pytest.mark.parametrize("op", ["softplus", "logsigmoid"])
def test_native_float32_softplus_and_logsigmoid_over_their_whole_range(op):
    # the vectorised log1p (a polynomial log with Goldberg's correction) against torch: where
    # e^-|x| is tiny (log1p's correction), at softplus's threshold 20, for inf and NaN
    layer = native_layer(log_cell(op), 4, 4, seed=0)
    with torch.no_grad():
        layer.weight_x.copy_(torch.eye(4))
    v = torch.cat([torch.linspace(-100.0, 100.0, 8001), torch.tensor(
        [0.0, -0.0, 1e-8, -1e-8, 1e-30, 19.99, 20.0, 20.01, -20.0, 87.0, -87.0, 88.5, -88.5,
         200.0, -200.0, float("inf"), -float("inf"), float("nan")])])
    v = torch.cat([v, v.new_zeros((-len(v)) % 4)]).reshape(1, -1, 4)  # one step, h = 0
    with torch.no_grad():
        got, _ = layer(v)
        wx = torch.nn.functional.linear(v, layer.weight_x)
        f = getattr(torch.nn.functional, op)
        want = f(wx).clamp(min=0.0) if op == "softplus" else f(wx).clamp(max=0.0)
    torch.testing.assert_close(got, want, rtol=2e-6, atol=1e-30, equal_nan=True)
    grad_in = torch.linspace(-30.0, 30.0, 64).reshape(1, 16, 4).requires_grad_(True)
    ref = compile_cell(log_cell(op), 4, 4, "eager")
    ref.load_state_dict(layer.state_dict())
    (g,) = torch.autograd.grad(layer(grad_in)[0].sum(), grad_in)
    (g_ref,) = torch.autograd.grad(ref(grad_in)[0].sum(), grad_in)
    torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=1e-7)


def tanh_cell():
    """``h' = tanh(W x) + h``: from h = 0 in one step, the float32 tanh of the fused loop
    alone."""
    b = Builder(["h"])
    b.set_state("h", b.add(b.tanh(b.linear("x", name="w", bias=False)), "h"))
    return b.build(name="tanh_only")


def test_native_float32_tanh_over_its_whole_range():
    # the rational tanh (no exponential): within 3e-7 of float64's tanh everywhere, exactly
    # ±1 where its clamp holds, x itself where tanh(x) rounds to x, NaN kept; its gradient
    # (from the saved value) as eager's
    layer = native_layer(tanh_cell(), 4, 4, seed=0)
    with torch.no_grad():
        layer.weight_x.copy_(torch.eye(4))
    v = torch.cat([torch.linspace(-12.0, 12.0, 24001), torch.tensor(
        [7.9, 7.9053, 7.9054, 7.91, 9.0, 20.0, -7.91, -20.0, 1e30, -1e30, 1e-6, -1e-6, 3.999e-4,
         4.001e-4, 1e-30, 0.5, 0.625, -0.625, float("nan")])])
    v = torch.cat([v, v.new_zeros((-len(v)) % 4)]).reshape(1, -1, 4)  # one step, h = 0
    with torch.no_grad():
        got, _ = layer(v)
        want = torch.tanh(torch.nn.functional.linear(v, layer.weight_x).double())
    torch.testing.assert_close(got.double(), want, rtol=3e-7, atol=0, equal_nan=True)
    assert (got[v.abs() >= 7.9054].abs() == 1.0).all()
    grad_in = torch.linspace(-10.0, 10.0, 64).reshape(1, 16, 4).requires_grad_(True)
    ref = compile_cell(tanh_cell(), 4, 4, "eager")
    ref.load_state_dict(layer.state_dict())
    (g,) = torch.autograd.grad(layer(grad_in)[0].sum(), grad_in)
    (g_ref,) = torch.autograd.grad(ref(grad_in)[0].sum(), grad_in)
    torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=1e-6)


def test_native_stack_and_gradcheck():
    g = zoo.get("gru")
    nat = compile_rnn(g, 5, 4, 2, backend="native", seed=0).double()
    eag = compile_rnn(g, 5, 4, 2, backend="eager", seed=0).double()
    x = torch.randn(6, 3, 5, dtype=torch.float64, requires_grad=True)
    y1, h1 = nat(x)
    y2, h2 = eag(x)
    torch.testing.assert_close(y1, y2, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(h1, h2, rtol=1e-10, atol=1e-12)
    layer = native_layer(zoo.get("lstm"), 2, 3, seed=0).double()
    h = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    c = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    xs = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, d: layer(a, (b, d))[0], (xs, h, c))


def test_native_double_backward_recomputes_through_script():
    layer = native_layer(zoo.get("lstm"), 3, 4, seed=1).double()
    ref = compile_cell(zoo.get("lstm"), 3, 4, "eager", seed=1).double()
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    out = []
    for mod in (layer, ref):
        y, s = mod(x)
        (g,) = torch.autograd.grad(y.square().sum() + s[0].sin().sum(), x, create_graph=True)
        out.append(torch.autograd.grad(g.square().sum(), [x, *mod.parameters()]))
    for a, b in zip(*out, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_native_falls_back_to_script_with_one_warning(monkeypatch):
    # a plan the generator does not cover (a clock), then a machine without a compiler
    with pytest.warns(RuntimeWarning, match="does not cover a clock.*script backend"):
        layer = compile_cell(zoo.get("clockwork"), 3, 6, "native", seed=0)
    assert type(layer.kernel).__name__ == "ScriptKernel"
    assert _agree(zoo.get("clockwork"), 3, 6, NATIVE)
    monkeypatch.setattr(_native_build, "toolchain_problem",
                        lambda: "no C++ compiler ('c++' is not on PATH)")
    monkeypatch.setattr(_native_build, "_LOADED", {})
    with pytest.warns(RuntimeWarning, match="no C.. compiler.*runs the script backend"):
        layer = compile_cell(zoo.get("np"), 3, 4, "native", seed=0)
    assert type(layer.kernel).__name__ == "ScriptKernel"


def test_a_scannable_cell_runs_the_native_loop_and_falls_back_to_the_scan():
    # rglru scans on script; on native its fused step loop is the faster path. HGRN's norm is
    # not covered: it falls back to the script backend's scan
    layer = native_layer(zoo.get("rglru"), 4, 4, seed=0)  # scan=True, the default
    assert layer.path == "step loop"
    assert compile_cell(zoo.get("rglru"), 4, 4, "script", seed=0).path == "scan"
    assert _agree(zoo.get("rglru"), 4, 4, NATIVE, seed=4)
    with pytest.warns(RuntimeWarning, match="does not cover op 'norm'"):
        hgrn = compile_cell(zoo.get("hgrn"), 4, 4, "native", seed=0)
    assert type(hgrn.kernel).__name__ == "ScanKernel" and hgrn.path == "scan"


def test_native_refuses_what_it_does_not_cover():
    covered = set(covered_zoo())
    assert {"lstm", "gru", "vanilla", "darts_v1", "slstm", "mingru"} <= covered
    assert {"depth_gated", "grid_lstm"} <= covered  # below: read pointwise
    for name, why in [("clockwork", "clock"), ("mlstm", "head-wise"), ("hgrn", "norm"),
                      ("lstm_attention", "attention")]:
        assert why in native_refusal(build_plan(zoo.get(name), 5, 4))
    b = Builder(states=("h",))  # a product of the layer below's value: not covered
    b.set_state("h", b.tanh(b.add(b.linear("x", name="a"), b.linear(b.below("h"), name="u"),
                                  b.linear("h", name="w"), name="p"), name="t"))
    assert "product of the layer below" in native_refusal(build_plan(b.build(name="pb"), 4, 4))


@pytest.mark.integration
@pytest.mark.parametrize("name,tie", [("depth_gated", False), ("grid_lstm", False),
                                      ("grid_lstm", True)])
def test_native_stacks_that_read_the_layer_below_agree_with_eager(name: str, tie: bool):
    """Depth-Gated and Grid LSTM stacks (genome format 2's below:, read pointwise): each layer
    takes the layer below's new memory at the same step and sends its gradient back down.
    Outputs, final states and every gradient agree with the eager backend (itself checked
    against the papers' equations, test_compile_seed_systems.py, test_grid_lstm.py) to 1e-10
    in float64 and 1e-5 in float32, with and without gradients."""
    g = zoo.get(name)
    _native_build.prebuild([build_plan(g, m, n) for m, n in ((3, 5), (5, 5), (4, 4))])
    for layers, m, n in ((1, 3, 5), (3, 3, 5), (2, 4, 4)):
        kw = {"num_layers": layers, "seed": layers, "tie_layers": tie and m == n}
        ref = compile_rnn(g, m, n, backend="eager", **kw)
        mod = compile_rnn(g, m, n, backend="native", **kw)
        assert all(type(la.kernel).__name__ == "NativeKernel" for la in mod.layers)
        for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-5)):
            ref, mod = ref.to(dtype), mod.to(dtype)
            gen = torch.Generator().manual_seed(layers)
            x = torch.randn(7, 3, m, generator=gen, dtype=dtype)
            s0 = [torch.randn(layers, 3, n, generator=gen, dtype=dtype) * 0.5
                  for _ in g.states]
            probe = torch.randn(7, 3, n, generator=gen, dtype=dtype)
            got = []
            for module in (ref, mod):
                module.zero_grad()
                xi, si = x.clone().requires_grad_(True), [s.clone().requires_grad_(True)
                                                          for s in s0]
                y, finals = module(xi, tuple(si))
                ((y * probe).sum() + sum((f * f).sum() for f in finals)).backward()
                with torch.no_grad():
                    y_inf, _ = module(x, tuple(s0))
                got.append([y, *finals, y_inf, xi.grad, *(s.grad for s in si),
                            *(p.grad for p in module.parameters())])
            for k, (a, b) in enumerate(zip(*got, strict=True)):
                if a is None or b is None:  # an initial state the cell never reads
                    assert (a if b is None else b) is None or (
                        (a if b is None else b).abs().max() == 0), (layers, k)
                    continue
                scale = max(1.0, b.abs().max().item())
                assert (a - b).abs().max().item() <= tol * scale, (layers, dtype, k)


@pytest.mark.integration
def test_native_agrees_with_eager_on_every_covered_zoo_cell_modern_op_and_random_genome():
    names = covered_zoo()
    genomes = [varied_random_genome(seed) for seed in range(12)]
    plans = [build_plan(zoo.get(n), m, 4) for n in names for m in (5, 4)]
    plans += [build_plan(op_cell(c), 4, 5) for c in MODERN_OPS]
    plans += [build_plan(g, 3 if i % 2 else 4, 4) for i, g in enumerate(genomes)
              if native_refusal(build_plan(g, 3 if i % 2 else 4, 4)) is None]
    _native_build.prebuild(plans)  # one library for all of them
    for i, name in enumerate(names):
        assert _agree(zoo.get(name), 5, 4, NATIVE, scan=False), name
        assert _agree(zoo.get(name), 4, 4, NATIVE, seed=1, scan=False), name
        if i % 3 == 0:  # float32 on a third of them (the default tier has lstm and mut3)
            assert _agree(zoo.get(name), 5, 4, NATIVE, dtype=torch.float32, rtol=1e-5,
                          seed=3, scan=False), name
    for case in MODERN_OPS:  # every op of the modern recurrences, and diag's weights
        assert _agree(op_cell(case), 4, 5, NATIVE, T=6, B=3), case
    compared = 0
    for i, g in enumerate(genomes):
        compared += _agree(g, 3 if i % 2 else 4, 4, NATIVE, seed=i, scan=False)
    assert compared >= 8


@pytest.mark.integration
def test_native_library_is_cached_and_a_stale_lock_does_not_block(native_cache):
    # a fresh process finds the library built here (no build: 0 s); a lock file left by a
    # build killed midway is removed before the next build instead of waiting forever
    g = varied_random_genome(1000)
    plan = build_plan(g, 3, 4)
    name = _native_build.library_name(plan)
    folder = Path(native_cache) / "native" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lock").write_text("")
    _native_build.load(plan)
    assert _native_build.BUILD_SECONDS[name] > 0
    code = ("import json, sys\n"
            "from lstm_search.compile import _native_build, build_plan\n"
            "from test_compile_backends import varied_random_genome\n"
            "plan = build_plan(varied_random_genome(1000), 3, 4)\n"
            "name, _ = _native_build.load(plan)\n"
            "print(json.dumps([name, _native_build.BUILD_SECONDS[name]]))\n")
    env = {**os.environ, "LSTM_SEARCH_CACHE": str(native_cache),
           "PYTHONPATH": str(Path(__file__).parent)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=300, check=True)
    got_name, seconds = __import__("json").loads(out.stdout.strip().splitlines()[-1])
    assert got_name == name and seconds == 0.0



def test_a_step_without_products_runs_every_step_inside_one_parallel_loop():
    """minGRU, minLSTM, RG-LRU: no matrix product in the step, so rows never mix and one
    parallel loop per operator runs the whole time loop, with no tensor operation per step."""
    from lstm_search.compile._native import _Gen, native_source

    for name, inside in (("mingru", True), ("minlstm", True), ("rglru", True),
                         ("lstm", False), ("gru", False)):
        plan = build_plan(zoo.get(name), 5, 4)
        assert _Gen(plan).time_inside is inside, name
        src = native_source(plan, "lsnat_x")
        if inside:
            assert src.count("at::parallel_for(") == 3  # forward, forward_save, backward
            loops = src.split("at::parallel_for(")[1:]
            assert all("for (int64_t t = " in body.split("});")[0] for body in loops)
            assert ".select(0, t)" not in src
    assert _agree(zoo.get("minlstm"), 5, 4, NATIVE, T=7, B=3)


def test_a_time_inside_backward_recomputes_the_values_unless_they_are_costly():
    """minGRU and minLSTM save the states and the input's products and recompute the rest in
    the backward (same gradients, float64 and float32); RG-LRU (exp, sqrt) saves its values."""
    from lstm_search.compile._native import native_layout

    assert native_layout(build_plan(zoo.get("mingru"), 5, 4)).saved == ("s0", "xp")
    assert native_layout(build_plan(zoo.get("minlstm"), 5, 4)).saved == ("s0", "xp")
    rglru = build_plan(zoo.get("rglru"), 4, 4)
    assert native_layout(rglru).saved == layout(rglru).saved
    lstm = build_plan(zoo.get("lstm"), 5, 4)
    assert native_layout(lstm).saved == layout(lstm).saved
    src = native_source(build_plan(zoo.get("minlstm"), 5, 4), "lsnat_x")
    backward = src[src.index("backward_impl("):]
    assert "const T v1 = sig(v0);" in backward  # the forward's value, recomputed
    for name in ("mingru", "minlstm"):
        assert _agree(zoo.get(name), 5, 4, NATIVE, T=9, B=3, seed=4)
        assert _agree(zoo.get(name), 5, 4, NATIVE, dtype=torch.float32, rtol=1e-5, T=30, B=3,
                      seed=5)


def mix_cell():
    """``h' = z ⊙ h + (1 − z) ⊙ fit(x)`` with ``z = σ(W x + b)``: a time-inside cell without costly
    functions (its backward recomputes) that reads the raw input."""
    b = Builder(["h"])
    z = b.sigmoid(b.linear("x", name="wz"), name="z")
    b.set_state("h", b.add(b.mul(z, "h"), b.mul(b.one_minus(z), b.fit("x"))))
    return b.build(name="mix")


def test_a_time_inside_loop_adds_the_input_bias_and_sums_its_gradient():
    """A time-inside plan's product of x runs without its bias (no copy of the bias into every
    row, no second pass summing the gradient): the loop adds the bias where it reads the
    products and sums its gradient where it writes theirs; its forward saves no copy of the
    raw input (the backward is handed x). The same numbers as eager with every bias nonzero
    (float64, 1e-10), raw-input reads included (RG-LRU's u = x, saved values; a recomputing
    cell)."""
    from lstm_search.compile._native import native_layout

    for genome, fused, raw in ((zoo.get("mingru"), True, ()), (zoo.get("minlstm"), True, ()),
                               (zoo.get("rglru"), True, ("v0",)), (mix_cell(), True, ("xt",)),
                               (zoo.get("lstm"), False, ()), (zoo.get("gru"), False, ())):
        name = genome.name
        plan = build_plan(genome, 4, 4)
        assert native_layout(plan).loop_bias is fused, name
        assert native_layout(plan).from_input == raw, name
        src = native_source(plan, "lsnat_x")
        assert ("+ bx_p[" in src and "dbx_row[" in src) is fused, name
        assert "sv_xt.copy_" not in src and "sv_v0_p[b * n + j] = " not in src
        if not fused:
            continue
        assert "std::optional<at::Tensor>(w[" not in src  # the products run without it
        gen = torch.Generator().manual_seed(3)
        x = torch.randn(11, 3, 4, generator=gen, dtype=torch.float64)
        s = [torch.randn(3, 4, generator=gen, dtype=torch.float64) for _ in plan.state_shapes]
        eager = compile_cell(genome, 4, 4, "eager", seed=0).double()
        with torch.no_grad():
            for p in eager.parameters():
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
        native = compile_cell(genome, 4, 4, "native", seed=0).double()
        native.load_state_dict(eager.state_dict())
        assert native.kernel.name == "native"
        biases = [k for k, p in native.named_parameters() if k.startswith("bias")]
        assert biases, name
        outs = []
        for layer in (eager, native):
            xi = x.clone().requires_grad_(True)
            y, new = layer(xi, [t.clone() for t in s])
            loss = (y * y.sin()).sum() + sum((t * t.cos()).sum() for t in new)
            grads = torch.autograd.grad(loss, [xi, *layer.parameters()])
            with torch.no_grad():
                y0, _ = layer(x, [t.clone() for t in s])
            outs.append([y, *new, *grads, y0])
        for a, b in zip(*outs, strict=True):
            assert (a - b).abs().max() <= 1e-10 * (1 + a.abs().max()), name


def square_cell():
    """``a = exp(−σ(W x + U h))``, ``h' = a ⊙ h + (1 − exp(2 log a)) ⊙ tanh(V x)``: RG-LRU's
    ``a`` and ``a²`` in a cell with a product of its state each step (not time-inside)."""
    b = Builder(["h"])
    log_a = b.scale(b.sigmoid(b.add(b.linear("x", name="wa"), b.linear("h", name="ua"))), -1.0)
    a = b.exp(log_a)
    a2 = b.exp(b.scale(log_a, 2.0))
    b.set_state("h", b.add(b.mul(a, "h"),
                           b.mul(b.one_minus(a2), b.tanh(b.linear("x", name="v")))))
    return b.build(name="square")


def test_exp_of_twice_a_value_is_the_square_of_its_exp():
    """``exp(2·y)`` beside ``exp(y)`` in the same loop is emitted as the square of the latter (one
    exponential less per element), and a time-inside plan saves only the latter (the backward
    squares it): RG-LRU's ``a²``. The same numbers as eager in float64 (1e-10, values and
    gradients); in float32 as close to the float64 result as eager's own float32 numbers are,
    also with the gates driven to saturation (inputs times 30: ``a²`` near 1, where
    ``sqrt(1 − a²)``'s gradient is ill-conditioned and eager itself is off by 1.5e-5)."""
    cases = ((zoo.get("rglru"), "v9", "v7", True), (square_cell(), "", "", False))
    for genome, sq, twin, inside in cases:
        plan = build_plan(genome, 4, 4)
        src = native_source(plan, "lsnat_x")
        exps = [st for st in plan.steps if st.op == "exp"]
        squared = [st for st in exps if " * v" in
                   src.split(f"const T v{st.pos} = ", 1)[1].split(";", 1)[0]]
        assert len(exps) == 2 and len(squared) == 1, genome.name
        if inside:  # not stored; read back as the square of the saved twin
            assert f"const T {sq} = {twin} * {twin};" in src
            assert f"const T {sq}_v = {twin}_v * {twin}_v;" in src
            assert f"sv_{sq}_p[b * n + j] =" not in src and f"sv_{twin}_p[b * n + j] =" in src
        for scale in (1.0, 30.0):
            gen = torch.Generator().manual_seed(5)
            x = scale * torch.randn(9, 3, 4, generator=gen, dtype=torch.float64)
            s = [torch.randn(3, 4, generator=gen, dtype=torch.float64) for _ in plan.state_shapes]
            results = {}
            for backend, dtype in (("eager", torch.float64), ("native", torch.float64),
                                   ("eager", torch.float32), ("native", torch.float32)):
                layer = compile_cell(genome, 4, 4, backend, seed=0).to(dtype)
                assert layer.kernel.name == backend
                xi = x.to(dtype).requires_grad_(True)
                y, new = layer(xi, [t.to(dtype) for t in s])
                loss = (y * y.sin()).sum() + sum((t * t.cos()).sum() for t in new)
                grads = torch.autograd.grad(loss, [xi, *layer.parameters()])
                results[backend, dtype] = [t.detach().double() for t in (y, *new, *grads)]
            err = {key: max(float((a - t).abs().max() / (1 + t.abs().max())) for a, t in
                            zip(got, results["eager", torch.float64], strict=True))
                   for key, got in results.items()}
            assert err["native", torch.float64] <= 1e-10, genome.name
            assert err["native", torch.float32] <= 2 * err["eager", torch.float32] + 1e-6, (
                genome.name, scale, err)


THREADS_SEEN = r"""
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <mutex>
#include <set>
#include <thread>
int64_t threads_seen(int64_t rows) {
  std::mutex mu;
  std::set<std::thread::id> ids;
  at::parallel_for(0, rows, 1, [&](int64_t, int64_t) {
    std::lock_guard<std::mutex> g(mu);
    ids.insert(std::this_thread::get_id());
  });
  return static_cast<int64_t>(ids.size());
}
TORCH_LIBRARY(lstm_search_threads_seen, lib) { lib.def("seen(int rows) -> int", threads_seen); }
"""


@pytest.mark.skipif(not torch._C.has_openmp, reason="torch runs its parallel loops without "
                    "OpenMP here")
def test_native_parallel_loops_run_on_several_threads(tmp_path):
    """``at::parallel_for`` is a header template whose ``#pragma omp parallel`` a library built
    without -fopenmp runs on one thread: one built with the backend's flags and build path
    uses torch's threads (and, set to one, only one)."""
    _native_build._build(tmp_path, "lstm_search_threads_seen", [THREADS_SEEN])
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert torch.ops.lstm_search_threads_seen.seen(64) == 2
        torch.set_num_threads(1)
        assert torch.ops.lstm_search_threads_seen.seen(64) == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("name", ["lstm", "gru", "vanilla", "mingru", "rglru"])
def test_native_agrees_with_eager_when_its_loops_split_over_threads(name):
    """Rows split over two threads (each step's loop, B·n above the grain; the time-inside
    loop of minGRU and RG-LRU, B·n·T above it): the same numbers as eager, every gradient,
    float64 to 1e-10."""
    from lstm_search.compile._native import GRAIN, _Gen

    n, T = 16, 40
    per_row = n * T if _Gen(build_plan(zoo.get(name), 5, n)).time_inside else n
    B = 2 * (max(1, GRAIN // per_row) + 1)  # at least two grains of rows
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert _agree(zoo.get(name), 5, n, NATIVE, T=T, B=B, seed=3)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("name", ["mut1", "mut2", "mut3", "darts_v1", "lstm", "gru"])
@pytest.mark.parametrize("B", [16, 17, 41])
def test_native_agrees_with_eager_when_the_batch_runs_in_blocks_of_rows(name, B):
    """At 2 threads the step loop of a cell that chains two products in a step, over 16 rows
    or more, runs in blocks of rows, one per thread (the prelude's row_blocks: every step of a
    block on one thread, its products over the block's rows): even and uneven blocks (17 = 8
    + 9, 41 = 20 + 21), states and values read by products, a product's gradient carried to
    the next step: eager's numbers, float64 to 1e-10, every gradient, the inference path
    too. The LSTM and the GRU (one product a step) and DARTS (nine) keep the whole batch in
    each product."""
    from lstm_search.compile._native import native_source

    plan = build_plan(zoo.get(name), 5, 6)
    chained = name in ("mut1", "mut2")
    assert ("row_blocks(B, packed)" in native_source(plan, "lsnat_x")) == chained
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert _agree(zoo.get(name), 5, 6, NATIVE, T=9, B=B, seed=2, scan=False)
    finally:
        torch.set_num_threads(before)


def test_a_change_to_the_shared_prelude_names_a_new_library(monkeypatch):
    """The cache key is the whole source: a fixed helper in the prelude (every layer's
    ``ex``, ``mm``...) builds new libraries instead of loading ones built from the old code."""
    from lstm_search.compile import _native

    plan = build_plan(zoo.get("lstm"), 5, 4)
    before = _native_build.library_name(plan)
    monkeypatch.setattr(_native, "_PRELUDE", _native._PRELUDE + "\n// changed\n")
    assert _native_build.library_name(plan) != before
    monkeypatch.setattr(_native, "_CUDA_PRELUDE", _native._CUDA_PRELUDE + "\n// changed\n")
    for target in ("cuda", "cuda-emulated"):
        monkeypatch.undo()
        old = _native_build.library_name(plan, target)
        monkeypatch.setattr(_native, "_CUDA_PRELUDE", _native._CUDA_PRELUDE + "\n// x\n")
        assert _native_build.library_name(plan, target) != old


@pytest.mark.parametrize("name", [*QUICK, "mut1"])
def test_native_agrees_with_eager_when_its_step_weights_are_transposed_once(name):
    """From 8 steps on, each step's weight is copied once into its transpose (the gemm then
    reads it untransposed); below, the view is kept: both agree with eager, float64 to 1e-10
    and float32 to 1e-5, every gradient, states and values read by products (mut1) too."""
    from lstm_search.compile._native import _Gen, native_source

    plan = build_plan(zoo.get(name), 5, 4)
    src = native_source(plan, "lsnat_x")
    # a step loop with products transposes; a time-inside loop (RG-LRU) has no products
    assert ("const bool tq = !packed && TT >= 8;" in src) == (not _Gen(plan).time_inside)
    for T in (7, 12):
        assert _agree(zoo.get(name), 5, 4, NATIVE, T=T, B=3, seed=6)
    assert _agree(zoo.get(name), 5, 4, NATIVE, dtype=torch.float32, rtol=1e-5, T=12, B=3,
                  seed=7)
