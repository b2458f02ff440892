"""The scan path (lstm_search.compile._scan): which plans get it, and the step loop's numbers."""

from __future__ import annotations

import random

import pytest
import torch

from lstm_search import zoo
from lstm_search.compile import build_plan
from lstm_search.compile._scan import affine_scan, chunk_scan, doubling_scan, scripted_scan
from lstm_search.genome import Builder, Genome, mutate
from lstm_search.nn import compile_rnn


def two_states() -> Genome:
    """Two diagonal recurrences (one with a learned decay on the state itself) and an output
    nonlinear in both new states."""
    b = Builder(states=("h", "c"))
    f = b.sigmoid(b.linear("x", name="x_f"), name="f")
    u = b.tanh(b.linear("x", name="x_u"), name="u")
    c_new = b.add(b.mul(f, "c", name="fc"), b.mul(b.one_minus(f, name="i"), u, name="iu"),
                  name="c_new")
    decay = b.diag("h", weight="sigmoid", name="decay_h")
    h_new = b.sub(b.scale(b.add(decay, b.mean(u, "h", name="mean_uh"), name="sum_h"), 0.5,
                          name="half"), b.linear("x", name="x_s"), name="h_new")
    b.set_state("h", h_new)
    b.set_state("c", c_new)
    out = b.mul(b.tanh(c_new, name="tc"), b.sigmoid(h_new, name="sh"), name="y")
    return b.build(output=out, name="two_states")


def divided() -> Genome:
    """A state divided by an input-only value and blended with the state as the first value."""
    b = Builder(states=("h",))
    g = b.sigmoid(b.linear("x", name="x_g"), name="g")
    d = b.div("h", b.add(g, g, name="gg"), name="h_div", eps=0.5)
    b.set_state("h", b.blend(g, d, b.linear("x", name="x_b"), name="h_new"))
    return b.build(name="divided")


def nonlinear() -> Genome:
    """tanh of the state: the step loop."""
    b = Builder(states=("h",))
    b.set_state("h", b.tanh(b.add("h", b.linear("x", name="x_h"), name="pre"), name="h_new"))
    return b.build(name="nonlinear")


def crossed() -> Genome:
    """c reads h: not a diagonal recurrence of each state in itself."""
    b = Builder(states=("h", "c"))
    b.set_state("h", b.mul("h", b.sigmoid(b.linear("x", name="x_f"), name="f"), name="h_new"))
    b.set_state("c", b.add("c", "h", name="c_new"))
    return b.build(name="crossed")


def attended() -> Genome:
    """A minGRU-like recurrence whose output adds an attention context over the state's earlier
    values (format 2): the recurrence alone is affine, but the attention's memory is loop state,
    so the whole layer runs the step loop."""
    b = Builder(states=("h",))
    z = b.sigmoid(b.linear("x", name="x_z"), name="z")
    h_new = b.blend(z, b.linear("x", name="x_c"), "h", name="h_new")
    b.set_state("h", h_new)
    ctx = b.attention(b.linear("x", name="q", bias=False), "h", window=3, name="ctx")
    return b.build(output=b.add(h_new, ctx, name="y"), name="attended")


SCANNED = {"mingru": zoo.get("mingru"), "minlstm": zoo.get("minlstm"), "rglru": zoo.get("rglru"),
           "hgrn": zoo.get("hgrn"), "two_states": two_states(), "divided": divided()}


@pytest.mark.parametrize("name", sorted(SCANNED))
def test_scannable_plans_say_so(name: str) -> None:
    plan = build_plan(SCANNED[name], 6, 8)
    assert plan.scannable and plan.path.startswith("scan: ")


@pytest.mark.parametrize(("genome", "reason"), [
    (zoo.get("gru"), "step loop: node 'h_r' projects state 'h'"),
    (zoo.get("lstm"), "step loop: node 'h_i' projects state 'h'"),
    (nonlinear(), "applies tanh"),
    (crossed(), "state 'c' reads state 'h'"),
    (zoo.get("clockwork"), "step loop: a clock"),
    (attended(), "step loop: node 'ctx' attends over earlier steps"),
])
def test_other_plans_run_the_loop_and_say_why(genome: Genome, reason: str) -> None:
    plan = build_plan(genome, 6, 8)
    assert not plan.scannable
    assert plan.path.startswith("step loop: ") and reason in plan.path


@pytest.mark.parametrize("T", [1, 5, 32, 33, 100])
def test_affine_scan_is_the_recurrence(T: int) -> None:
    g = torch.Generator().manual_seed(T)
    a = torch.rand(T, 5, generator=g, dtype=torch.float64) * 2 - 1
    a[T // 2] = 0.0  # a zero multiplier: no division anywhere
    b = torch.randn(T, 5, generator=g, dtype=torch.float64)
    s0 = torch.randn(5, generator=g, dtype=torch.float64)
    s, ref = s0, []
    for t in range(T):
        s = a[t] * s + b[t]
        ref.append(s)
    ref = torch.stack(ref)
    for chunk in (0, 4):
        torch.testing.assert_close(chunk_scan(a, b, s0, chunk), ref, rtol=1e-13, atol=1e-13)
        torch.testing.assert_close(doubling_scan(a, b, s0, max(chunk, 1)), ref, rtol=1e-13,
                                   atol=1e-13)
    torch.testing.assert_close(scripted_scan()(a, b, s0), ref, rtol=1e-13, atol=1e-13)


def test_affine_scan_gradients_first_and_second_order() -> None:
    g = torch.Generator().manual_seed(0)
    a = (torch.rand(11, 3, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_()
    b = torch.randn(11, 3, generator=g, dtype=torch.float64).requires_grad_()
    s0 = torch.randn(3, generator=g, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(affine_scan, (a, b, s0))
    assert torch.autograd.gradgradcheck(affine_scan, (a, b, s0))


def _run(genome: Genome, scan: bool, backend: str, dtype: torch.dtype, T: int,
         layers: int = 1, batch_first: bool = False) -> tuple[list[torch.Tensor], list]:
    m = compile_rnn(genome, 5, 6, num_layers=layers, batch_first=batch_first, backend=backend,
                    scan=scan, seed=3).to(dtype)
    g = torch.Generator().manual_seed(T)
    shape = (4, T, 5) if batch_first else (T, 4, 5)
    x = torch.randn(*shape, generator=g, dtype=dtype).requires_grad_()
    s0 = tuple((torch.randn(layers, 4, 6, generator=g, dtype=dtype) * 0.5).requires_grad_()
               for _ in genome.states)
    y, st = m(x, s0 if len(s0) > 1 else s0[0])
    st = st if isinstance(st, tuple) else (st,)
    loss = (y * torch.linspace(-1, 1, y.shape[-1], dtype=dtype)).sum() \
        + sum((s ** 2).sum() for s in st)
    grads = torch.autograd.grad(loss, [x, *s0, *m.parameters()], allow_unused=True)
    return [y, *st], list(grads)


@pytest.mark.parametrize("name", sorted(SCANNED))
@pytest.mark.parametrize("T", [1, 7, 64])
def test_scan_equals_the_loop_float64(name: str, T: int) -> None:
    genome = SCANNED[name]
    loop_out, loop_grads = _run(genome, False, "eager", torch.float64, T)
    for backend in ("eager", "script"):
        out, grads = _run(genome, True, backend, torch.float64, T)
        for a, b in zip(out, loop_out, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
        for a, b in zip(grads, loop_grads, strict=True):
            assert (a is None) == (b is None)
            if a is not None:
                torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", ["mingru", "hgrn", "two_states"])
def test_scan_equals_the_script_loop_float32_two_layers_batch_first(name: str) -> None:
    genome = SCANNED[name]
    loop_out, loop_grads = _run(genome, False, "script", torch.float32, 64, 2, True)
    out, grads = _run(genome, True, "script", torch.float32, 64, 2, True)
    for a, b in zip([*out, *grads], [*loop_out, *loop_grads], strict=True):
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_an_attended_output_runs_the_loop_with_the_default_scan_on() -> None:
    """Regression: the plan once called this layer scannable and the scan then failed on the
    attention (no row-wise rule for a memory over time)."""
    out, _ = _run(attended(), True, "script", torch.float64, 9)
    loop_out, _ = _run(attended(), False, "eager", torch.float64, 9)
    for a, b in zip(out, loop_out, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_the_kernel_is_the_scan_only_for_scannable_plans() -> None:
    assert type(compile_rnn(zoo.get("mingru"), 3, 4).layers[0].kernel).__name__ == "ScanKernel"
    assert type(compile_rnn(zoo.get("mingru"), 3, 4, scan=False).layers[0].kernel).__name__ \
        == "ScriptKernel"
    assert type(compile_rnn(zoo.get("gru"), 3, 4).layers[0].kernel).__name__ == "ScriptKernel"


def test_mutants_agree_with_the_loop_whichever_path_they_get() -> None:
    """Any genome the plan calls scannable, not only the zoo's: mutants of minGRU."""
    rng = random.Random(7)
    seen = {True: 0, False: 0}
    for _ in range(30):
        genome = mutate(zoo.get("mingru"), rng, n_ops=3).genome
        scannable = build_plan(genome, 5, 6).scannable
        seen[scannable] += 1
        loop_out, _ = _run(genome, False, "eager", torch.float64, 5)
        out, _ = _run(genome, True, "eager", torch.float64, 5)
        for a, b in zip(out, loop_out, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    assert seen[True] and seen[False]


def test_show_prints_the_path(capsys) -> None:
    from lstm_search.cli import main

    assert main(["show", "mingru"]) == 0
    assert "# path: scan: " in capsys.readouterr().out
    assert main(["show", "gru"]) == 0
    assert "# path: step loop: node 'h_r' projects state 'h'" in capsys.readouterr().out
