"""The native backend's CUDA kernels (:mod:`lstm_search.compile._native`, target ``cuda``: each
fused loop of a step one kernel, a thread per row and unit).

Without a GPU the same source is compiled by the C++ compiler with a shim that runs each
kernel's threads one after the other on the CPU (target ``cuda-emulated``): the kernels' own
code then agrees with the eager reference as the CPU library does (float64 to 1e-10, float32
to 1e-5; outputs, final states, every gradient; a cell of each structure). The source is
checked for what nvcc needs: one ``__global__`` kernel per loop, each launched once, with
every host value it reads passed as an argument; no OpenMP loop or CPU-only pragma left. On a
machine with a CUDA device and nvcc the real kernels are compared with eager on the device.
"""

from __future__ import annotations

import os
import re

import pytest
import torch
from test_compile_backends import _close, _run

from lstm_search import zoo
from lstm_search.compile import _native_build, build_plan
from lstm_search.compile._kernels import NativeKernel
from lstm_search.compile._native import native_refusal, native_source
from lstm_search.nn import compile_cell, compile_rnn

pytestmark = pytest.mark.skipif(_native_build.toolchain_problem() is not None,
                                reason=f"{_native_build.toolchain_problem()}")

# LSTM pairs, GRU's half pairs, a product of an internal value (two kernels per step),
# peephole diagonals, the raw input with log-space ops, exp / logsigmoid / max / div (sLSTM)
CELLS = ["lstm", "gru", "mut3", "vanilla", "rglru", "slstm"]
SIZES = [(5, 4), (4, 4)]


@pytest.fixture(scope="module")
def emulated_cache(tmp_path_factory):
    """A cache of this module's own, every emulated layer it runs built as one library."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    old = os.environ.get("LSTM_SEARCH_CACHE")
    os.environ["LSTM_SEARCH_CACHE"] = str(base / "native-cuda-cache")
    plans = [build_plan(zoo.get(c), m, n) for c in CELLS for m, n in SIZES]
    plans += [build_plan(zoo.get("depth_gated"), m, 5) for m in (3, 5)]  # a stack's layers
    _native_build.prebuild(plans, "cuda-emulated")
    yield
    if old is None:
        os.environ.pop("LSTM_SEARCH_CACHE", None)
    else:
        os.environ["LSTM_SEARCH_CACHE"] = old


def _layer(name: str, m: int, n: int, seed: int, target: str):
    """The cell's layer with the native kernel of ``target`` in place of the script one."""
    layer = compile_cell(zoo.get(name), m, n, "script", seed=seed, scan=False)
    layer.kernel = NativeKernel(layer.plan, target)
    return layer


@pytest.mark.integration  # one library build of about 30 s on two cores
@pytest.mark.usefixtures("emulated_cache")
@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_emulated_cuda_kernels_agree_with_eager(name: str, dtype: torch.dtype,
                                                rtol: float) -> None:
    for seed, (m, n) in enumerate(SIZES):
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(6, 3, m, generator=gen, dtype=dtype)
        eager = compile_cell(zoo.get(name), m, n, "eager", seed=seed, scan=False).to(dtype)
        states = [torch.randn(3, *shape, generator=gen, dtype=dtype)
                  for shape in eager.plan.state_shapes]
        layer = _layer(name, m, n, seed, "cuda-emulated").to(dtype)
        assert layer.kernel.library.startswith("lsemu_")
        ref = _run(eager, x, states)
        _close(ref, _run(layer, x, states), rtol)
        with torch.no_grad():  # the inference path (forward without saved values)
            y, new = layer(x, states)
        _close(ref[:1 + len(states)], [y, *new], rtol)


@pytest.mark.integration
@pytest.mark.usefixtures("emulated_cache")
def test_emulated_cuda_kernels_of_a_depth_gated_stack_agree_with_eager() -> None:
    """Each layer reads the layer below's new memory (below:c) and sends its gradient back:
    the kernels' extra arguments (the values below, the values for the layer above, their
    gradients) in a 3-layer stack, float64."""
    g = zoo.get("depth_gated")
    eager = compile_rnn(g, 3, 5, num_layers=3, backend="eager", seed=4).double()
    stack = compile_rnn(g, 3, 5, num_layers=3, backend="script", seed=4).double()
    for layer in stack.layers:
        layer.kernel = NativeKernel(layer.plan, "cuda-emulated")
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(6, 3, 3, generator=gen, dtype=torch.float64)
    s0 = [torch.randn(3, 3, 5, generator=gen, dtype=torch.float64) for _ in g.states]
    got = []
    for module in (eager, stack):
        xi, si = x.clone().requires_grad_(True), [s.clone().requires_grad_(True) for s in s0]
        y, finals = module(xi, tuple(si))
        ((y * y).sum() + sum((f * f).sum() for f in finals)).backward()
        got.append([y, *finals, xi.grad, *(s.grad for s in si),
                    *(p.grad for p in module.parameters())])
    for k, (a, b) in enumerate(zip(*got, strict=True)):
        assert (a - b).abs().max().item() <= 1e-10 * max(1.0, b.abs().max().item()), k


def _kernels(source: str) -> dict[str, tuple[str, str]]:
    """name -> (parameter list, body) of each ``__global__`` kernel of ``source``."""
    found = {}
    for m in re.finditer(r"__global__ void (\w+)\((.*?)\) \{\n(.*?)\n\}\n", source, re.S):
        found[m.group(1)] = (m.group(2), m.group(3))
    return found


@pytest.mark.parametrize("name", [n for n in zoo.names() if not zoo.get(n).kernel])
def test_cuda_source_has_one_launched_kernel_per_loop(name: str) -> None:
    plan = build_plan(zoo.get(name), 5, 4)
    if native_refusal(plan) is not None:
        pytest.skip(f"not covered: {native_refusal(plan)}")
    cpu = native_source(plan, "lsnat_x")
    src = native_source(plan, "lscuda_x", "cuda")
    kernels = _kernels(src)
    body_start = src.index("namespace lscuda_x {")
    host = re.sub(r"__global__ void .*?\n\}\n", "", src[body_start:], flags=re.S)
    # one kernel per fused CPU loop (not the loops over blocks of batch rows), each launched
    # exactly once, nothing of OpenMP left
    loops = cpu.count("at::parallel_for(") - cpu.count("at::parallel_for(0, nblk, 1,")
    assert len(kernels) == loops > 0
    for k in kernels:
        assert host.count(f"LS_LAUNCH({k}<T>, B * n, ") == 1, k
    assert "parallel_for" not in src and "#pragma GCC" not in src and "@@launch" not in src
    for k, (params, body) in kernels.items():
        declared = {p.split()[-1] for p in params.split(", ")}
        local = set(re.findall(r"(?:const T\*? |T\* )(\w+) = ", body)) | {"idx", "b", "j"}
        words = set(re.findall(r"\b[a-z_]\w*\b", body))
        # every name a kernel reads is its parameter, its own local, or a device helper
        helpers = {"sig", "th", "ex", "rl", "mx", "mn", "sp", "lsg", "sgn", "log", "sqrt",
                   "fabs", "return", "static_cast", "int64_t", "const", "blockIdx",
                   "threadIdx", "blockDim", "x", "if"}
        unknown = words - declared - local - helpers
        assert not unknown, (k, unknown)
        assert "std::" not in body, k


@pytest.mark.integration
@pytest.mark.usefixtures("emulated_cache")
def test_a_cpu_kernel_runs_cuda_tensors_through_the_cuda_kernels_or_says_why() -> None:
    plan = build_plan(zoo.get("gru"), 5, 4)
    kernel = NativeKernel(plan, "cuda-emulated")
    if _native_build.cuda_toolchain_problem() is None:
        assert kernel.cuda_kernel() is not None
    else:
        assert kernel.cuda_kernel() is None
        assert kernel.cuda_problem == _native_build.cuda_toolchain_problem()


@pytest.mark.skipif(_native_build.cuda_toolchain_problem() is not None,
                    reason=f"{_native_build.cuda_toolchain_problem()}")
@pytest.mark.usefixtures("emulated_cache")
@pytest.mark.parametrize("name", CELLS)
def test_cuda_kernels_agree_with_eager_on_the_device(name: str) -> None:
    dev = torch.device("cuda")
    for seed, (m, n) in enumerate(SIZES):
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(6, 3, m, generator=gen, dtype=torch.float64)
        eager = compile_cell(zoo.get(name), m, n, "eager", seed=seed, scan=False).double()
        states = [torch.randn(3, *shape, generator=gen, dtype=torch.float64)
                  for shape in eager.plan.state_shapes]
        layer = _layer(name, m, n, seed, "cuda").double().to(dev)
        ref = _run(eager, x, states)
        got = _run(layer, x.to(dev), [s.to(dev) for s in states])
        _close(ref, [g.cpu() for g in got], 1e-10)


def test_show_prints_the_cuda_source(capsys) -> None:
    from lstm_search.cli import main

    assert main(["show", "gru", "--code", "--backend", "native-cuda"]) == 0
    out = capsys.readouterr().out
    assert out.count("__global__ void ") == 3 and "LS_LAUNCH(backward_k0<T>" in out
    assert main(["show", "gru", "--code", "--backend", "native"]) == 0
    assert "__global__" not in capsys.readouterr().out
