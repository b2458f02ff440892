"""The modern recurrences of the zoo against plain-PyTorch transcriptions of their official code,
weights shared, float64, outputs, final states and every gradient to 1e-10:

* minGRU and minLSTM (BorealisAI/minRNNs ``models/minRNNs.py``, Feng et al. 2024): the
  sequential branch (``seq_len == 1``, stepped) and the log-space parallel scan (the paper's
  ``parallel_scan_log``: cumsum of log-coefficients and logcumsumexp of log-values);
* RG-LRU (google-deepmind/recurrentgemma ``torch/layers.py``, ``RGLRU``, one head, inside a
  segment: no reset);
* HGRN (flash-linear-attention ``HGRNAttention``, one head, no short convolution, the gate
  norm's RMS normalisation left out).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lstm_search import zoo
from lstm_search.genome import n_params
from lstm_search.nn import compile_cell

F64 = torch.float64
TOL = {"rtol": 1e-10, "atol": 1e-10}
T, B = 9, 3

# -- official code, transcribed ---------------------------------------------------------------


def g(x):  # minRNNs models/helpers.py
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x):
    return torch.where(x >= 0, (F.relu(x) + 0.5).log(), -F.softplus(-x))


def scan_log(log_coeffs, log_values):
    """log h_t for h_t = a_t h_{t-1} + b_t, h_0 = 0, from log a_t and log b_t ((B, T, n));
    Feng et al. 2024, appendix (``parallel_scan_log``)."""
    a_star = torch.cumsum(log_coeffs, dim=1)
    return a_star + torch.logcumsumexp(log_values - a_star, dim=1)


def mingru_sequential(x, W, b, h0):
    """minGRU's ``seq_len == 1`` branch, stepped; x (B, T, m), W (2n, m): hidden rows, gate rows."""
    hidden, gate = F.linear(x, W, b).chunk(2, dim=-1)
    prev, outs = h0, []
    for t in range(x.shape[1]):
        tilde_h, z = g(hidden[:, t]), gate[:, t].sigmoid()
        prev = (1 - z) * prev + z * tilde_h if prev is not None else z * tilde_h
        outs.append(prev)
    return torch.stack(outs, 1)


def mingru_parallel(x, W, b, h0):
    """minGRU's parallel branch (log space); h0 > 0 or None."""
    seq_len = x.shape[1]
    hidden, gate = F.linear(x, W, b).chunk(2, dim=-1)
    log_coeffs = -F.softplus(gate)
    log_z = -F.softplus(-gate)
    log_values = log_z + log_g(hidden)
    if h0 is not None:
        log_values = torch.cat((h0.log()[:, None], log_values), dim=1)
        log_coeffs = F.pad(log_coeffs, (0, 0, 1, 0))
    return torch.exp(scan_log(log_coeffs, log_values)[:, -seq_len:])


def minlstm_sequential(x, W, b, h0):
    """minLSTM (use_coeff_norm) ``seq_len == 1`` branch, stepped; rows: hidden, forget, input."""
    hidden, forget_gate, input_gate = F.linear(x, W, b).chunk(3, dim=-1)
    prev, outs = h0, []
    for t in range(x.shape[1]):
        tilde_h = g(hidden[:, t])
        i, f = input_gate[:, t].sigmoid(), forget_gate[:, t].sigmoid()
        norm = f + i
        f, i = f / norm, i / norm
        prev = f * prev + i * tilde_h if prev is not None else i * tilde_h
        outs.append(prev)
    return torch.stack(outs, 1)


def minlstm_parallel(x, W, b, h0):
    seq_len = x.shape[1]
    hidden, forget_gate, input_gate = F.linear(x, W, b).chunk(3, dim=-1)
    diff = F.softplus(-forget_gate) - F.softplus(-input_gate)
    log_coeffs = -F.softplus(diff)
    log_val_coeffs = -F.softplus(-diff)
    log_values = log_val_coeffs + log_g(hidden)
    if h0 is not None:
        log_values = torch.cat((h0.log()[:, None], log_values), dim=1)
        log_coeffs = F.pad(log_coeffs, (0, 0, 1, 0))
    return torch.exp(scan_log(log_coeffs, log_values)[:, -seq_len:])


class SqrtBoundDerivative(torch.autograd.Function):
    """recurrentgemma's √ with its derivative bounded by 1000."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.sqrt(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output / torch.sqrt(torch.clip(4.0 * x, min=1 / (1000.0 ** 2)))


def rglru(x, Wx, bx, Wa, ba, a_param, h0):
    """recurrentgemma's RGLRU.forward with one head inside a segment (reset False), then the
    linear recurrence h_t = a_t h_{t-1} + normalized_x_t from h0; x (B, T, n)."""
    gate_x = torch.sigmoid(F.linear(x, Wx, bx))
    gate_a = torch.sigmoid(F.linear(x, Wa, ba))
    log_a = -8.0 * gate_a * F.softplus(a_param)
    a = torch.exp(log_a)
    a_square = torch.exp(2 * log_a)
    gated_x = x * gate_x
    multiplier = SqrtBoundDerivative.apply(1 - a_square)
    assert (4.0 * (1 - a_square)).min() > 1e-6  # the bound is not reached: √'s own derivative
    normalized_x = gated_x * multiplier
    h, ys = h0, []
    for t in range(x.shape[1]):
        h = a[:, t] * h + normalized_x[:, t]
        ys.append(h)
    return torch.stack(ys, 1)


def hgrn(x, Wi, Wf, Wg, lower_bound, h0):
    """flash-linear-attention's HGRNAttention.forward (no short conv, one head), the
    recurrence of fused_recurrent_hgrn, and g_norm without its RMS normalisation."""
    i, f = F.linear(x, Wi), F.linear(x, Wf)
    f = f.sigmoid()
    f = lower_bound + (1 - lower_bound) * f
    i = F.silu(i) * (1 - f)  # swiglu(i, 1 - f)
    h, os = h0, []
    for t in range(x.shape[1]):
        h = f[:, t] * h + i[:, t]
        os.append(h)
    o = torch.stack(os, 1)
    gate = F.linear(x, Wg)
    return o * gate * torch.sigmoid(gate), h


# -- helpers ----------------------------------------------------------------------------------


def rows(layer, node):
    """(weight, bias or None) of a projection node, as views of the layer's parameters."""
    params = dict(layer.named_parameters(recurse=False))
    out = [params[name][r0:r1] for name, r0, r1 in layer.param_map()[node]]
    return out[0], (out[1] if len(out) > 1 else None)


def diag_param(layer, node):
    (name, _, _), = layer.param_map()[node]
    return dict(layer.named_parameters(recurse=False))[name]


def grads(y, h_last, inputs):
    """Gradients of a loss reading every output and the final state."""
    loss = (y * y.sin()).sum() + (h_last * h_last.cos()).sum()
    return torch.autograd.grad(loss, inputs)


def compare(ours, ref, x, h0):
    """Our layer (T, B, ·) against a reference (B, T, ·) built from the same parameters."""
    xi = x.clone().requires_grad_()
    hi = h0.clone().requires_grad_() if h0 is not None else None
    leaves = [xi, *([hi] if hi is not None else []), *ours.parameters()]
    zeros = torch.zeros(x.shape[0], ours.hidden_size, dtype=F64)
    y, (h_last,) = ours(xi.transpose(0, 1), (hi if hi is not None else zeros,))
    y = y.transpose(0, 1)
    want = ref(xi, hi)
    want_y, want_h = want if isinstance(want, tuple) else (want, want[:, -1])
    torch.testing.assert_close(y, want_y, **TOL)
    torch.testing.assert_close(h_last, want_h, **TOL)
    for a, b in zip(grads(y, h_last, leaves), grads(want_y, want_h, leaves), strict=True):
        torch.testing.assert_close(a, b, **TOL)


def data(m, n, positive_h0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, m, generator=gen, dtype=F64) * 1.5
    h0 = torch.randn(B, n, generator=gen, dtype=F64)
    return x, (g(h0) if positive_h0 else h0)


BACKENDS = [("eager", True), ("script", True), ("script", False)]

# -- minGRU / minLSTM -------------------------------------------------------------------------


@pytest.mark.parametrize("backend,fused", BACKENDS)
@pytest.mark.parametrize("form", ["sequential", "parallel"])
@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
@pytest.mark.parametrize("with_h0", [True, False])
def test_min_rnns_match_the_official_forms(cell, form, backend, fused, with_h0) -> None:
    m, n = 5, 4
    layer = compile_cell(zoo.get(cell), m, n, backend, fused_backward=fused, seed=3).to(F64)
    nodes = ("x_h", "x_z") if cell == "mingru" else ("x_h", "x_f", "x_i")
    fn = {("mingru", "sequential"): mingru_sequential, ("mingru", "parallel"): mingru_parallel,
          ("minlstm", "sequential"): minlstm_sequential,
          ("minlstm", "parallel"): minlstm_parallel}[cell, form]

    def ref(x, h0):
        ws = [rows(layer, k) for k in nodes]  # to_hidden_and_gate: the official row order
        return fn(x, torch.cat([w for w, _ in ws]), torch.cat([b for _, b in ws]), h0)

    x, h0 = data(m, n, positive_h0=True)
    compare(layer, ref, x, h0 if with_h0 else None)


def test_min_rnns_gates_read_only_the_input() -> None:
    for cell in ("mingru", "minlstm", "rglru", "hgrn"):
        genome = zoo.get(cell)
        assert all(n.inputs == ("x",) for n in genome.nodes if n.op in ("linear", "fit"))
        # h enters only the affine update h' = a ⊙ h + b
        readers = [n for n in genome.nodes if "h" in n.inputs]
        assert len(readers) == 1 and readers[0].op in ("blend", "mul")


# -- RG-LRU -----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend,fused", BACKENDS)
def test_rglru_matches_recurrentgemma(backend, fused) -> None:
    n = 6
    layer = compile_cell(zoo.get("rglru"), n, n, backend, fused_backward=fused, seed=4).to(F64)
    assert set(layer.param_map()) == {"x_a", "x_x", "r_softplus_lambda"}  # fit(x) is x

    def ref(x, h0):
        (Wa, ba), (Wx, bx) = rows(layer, "x_a"), rows(layer, "x_x")
        return rglru(x, Wx, bx, Wa, ba, diag_param(layer, "r_softplus_lambda"), h0)

    x, h0 = data(n, n, positive_h0=False)
    compare(layer, ref, x, h0)


# -- HGRN -------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend,fused", BACKENDS)
@pytest.mark.parametrize("m", [4, 6])
def test_hgrn_matches_flash_linear_attention(backend, fused, m) -> None:
    n = 6
    layer = compile_cell(zoo.get("hgrn"), m, n, backend, fused_backward=fused, seed=5).to(F64)

    def ref(x, h0):
        lower_bound = 1 - torch.sigmoid(diag_param(layer, "one_minus_f"))  # γ = 1 − σ(p)
        return hgrn(x, rows(layer, "x_i")[0], rows(layer, "x_f")[0], rows(layer, "x_g")[0],
                    lower_bound, h0)

    x, h0 = data(m, n, positive_h0=False)
    compare(layer, ref, x, h0)


# -- parameter counts -------------------------------------------------------------------------


@pytest.mark.parametrize("m,n", [(7, 7), (3, 5), (128, 64)])
def test_parameter_counts(m, n) -> None:
    fit = 0 if m == n else n * m
    assert n_params(zoo.get("mingru"), m, n) == 2 * n * m + 2 * n
    assert n_params(zoo.get("minlstm"), m, n) == 3 * n * m + 3 * n
    assert n_params(zoo.get("rglru"), m, n) == 2 * n * m + 2 * n + n + fit
    assert n_params(zoo.get("hgrn"), m, n) == 3 * n * m + n
    for cell in zoo.MODERN_CELLS:
        layer = compile_cell(zoo.get(cell), m, n, "script")
        assert sum(p.numel() for p in layer.parameters()) == n_params(zoo.get(cell), m, n)
