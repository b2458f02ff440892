"""The modern recurrences of the zoo against plain-PyTorch transcriptions of their official code,
weights shared, float64, outputs, final states and every gradient to 1e-10:

* minGRU and minLSTM (BorealisAI/minRNNs ``models/minRNNs.py``, Feng et al. 2024): the
  sequential branch (``seq_len == 1``, stepped) and the log-space parallel scan (the paper's
  ``parallel_scan_log``: cumsum of log-coefficients and logcumsumexp of log-values);
* RG-LRU (google-deepmind/recurrentgemma ``torch/layers.py``, ``RGLRU``, one head, inside a
  segment: no reset);
* HGRN (flash-linear-attention ``HGRNAttention``, one head, no short convolution).
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


def hgrn(x, Wi, Wf, Wg, lower_bound, norm_weight, h0):
    """flash-linear-attention's HGRNAttention.forward (no short conv, one head), the
    recurrence of fused_recurrent_hgrn, and g_norm (FusedRMSNormSwishGate, eps 1e-5)."""
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
    o = o * torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + 1e-5) * norm_weight
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
                    lower_bound, diag_param(layer, "norm_weight"), h0)

    x, h0 = data(m, n, positive_h0=False)
    compare(layer, ref, x, h0)


# -- parameter counts -------------------------------------------------------------------------


@pytest.mark.parametrize("m,n", [(7, 7), (3, 5), (128, 64)])
def test_parameter_counts(m, n) -> None:
    fit = 0 if m == n else n * m
    assert n_params(zoo.get("mingru"), m, n) == 2 * n * m + 2 * n
    assert n_params(zoo.get("minlstm"), m, n) == 3 * n * m + 3 * n
    assert n_params(zoo.get("rglru"), m, n) == 2 * n * m + 2 * n + n + fit
    assert n_params(zoo.get("hgrn"), m, n) == 3 * n * m + 2 * n
    assert n_params(zoo.get("slstm"), m, n) == 4 * (n * m + n) + 4 * n * n
    if n % 4 == 0:  # xLSTM's head-wise R: 4 gates × 4 blocks of (n/4, n/4)
        assert n_params(zoo.slstm(4), m, n) == 4 * (n * m + n) + 4 * 4 * (n // 4) ** 2
        layer = compile_cell(zoo.slstm(4), m, n, "script")
        assert sum(p.numel() for p in layer.parameters()) == n_params(zoo.slstm(4), m, n)
    for cell in zoo.MODERN_CELLS:
        layer = compile_cell(zoo.get(cell), m, n, "script")
        assert sum(p.numel() for p in layer.parameters()) == n_params(zoo.get(cell), m, n)


# -- sLSTM ------------------------------------------------------------------------------------


def slstm_forward_pointwise(Wx, Ry, b, states):
    """NX-AI/xlstm ``vanilla/slstm.py``; states (4, B, H): y, c, n, m; gates i, f, z, o."""
    raw = Wx + Ry + b
    _, c, n, m = torch.unbind(states.view(4, states.shape[1], -1), dim=0)
    iraw, fraw, zraw, oraw = torch.unbind(raw.view(raw.shape[0], 4, -1), dim=1)
    logfplusm = m + F.logsigmoid(fraw)
    mnew = iraw if torch.all(n == 0.0) else torch.max(iraw, logfplusm)
    ogate = torch.sigmoid(oraw)
    igate = torch.exp(iraw - mnew)
    fgate = torch.exp(logfplusm - mnew)
    cnew = fgate * c + igate * torch.tanh(zraw)
    nnew = fgate * n + igate
    ynew = ogate * cnew / nnew
    return torch.stack((ynew, cnew, nnew, mnew), dim=0)


def slstm_forward(x, states, R, b, W):
    """NX-AI/xlstm ``vanilla/__init__.py`` ``slstm_forward`` with Wx = W x; x (T, B, m),
    R (K, 4·hd, hd) for K heads."""
    num_heads, head_dim = R.shape[0], R.shape[2]
    num_gates_r = R.shape[1] // R.shape[2]
    batch_dim = x.shape[1]
    ys = []
    for x_t in x.unbind(0):
        Ry = (states[0].reshape(batch_dim, num_heads, 1, -1)
              .matmul(R.transpose(1, 2).reshape(1, num_heads, head_dim, num_gates_r * head_dim))
              .reshape(batch_dim, num_heads, num_gates_r, -1)
              .transpose(1, 2)
              .reshape(batch_dim, -1))
        states = slstm_forward_pointwise(F.linear(x_t, W), Ry, b, states)
        ys.append(states[0])
    return torch.stack(ys), states


GATES = "ifzo"


def slstm_reference(layer, heads=1):
    """The official forward on the layer's own parameters: W and b from x_i, x_f, x_z, x_o,
    R from y_i ... y_o (head k's block of gate g: rows g·hd .. (g+1)·hd of R[k])."""
    def run(x, states):
        W = torch.cat([rows(layer, f"x_{g}")[0] for g in GATES])
        b = torch.cat([rows(layer, f"x_{g}")[1] for g in GATES])
        if heads == 1:  # R_g (n, n) dense
            R = torch.cat([rows(layer, f"y_{g}")[0] for g in GATES])[None]
        else:  # R_g given by its blocks (1, heads, hd, hd): head k of R is [R_i; R_f; R_z; R_o]
            blocks = [rows(layer, f"y_{g}")[0][0] for g in GATES]
            R = torch.stack([torch.cat([r[k] for r in blocks]) for k in range(heads)])
        return slstm_forward(x, states, R, b, W)
    return run


def slstm_run(layer, x, states):
    y, new = layer(x, tuple(states.unbind(0)))
    return y, torch.stack(new)


@pytest.mark.parametrize("backend,fused", BACKENDS)
@pytest.mark.parametrize("heads", [1, 2, 3])
def test_slstm_matches_xlstm_from_nonzero_states(backend, fused, heads) -> None:
    m, n = 5, 6
    layer = compile_cell(zoo.slstm(heads), m, n, backend, fused_backward=fused, seed=6).to(F64)
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(T, B, m, generator=gen, dtype=F64).requires_grad_()
    s0 = torch.stack([torch.randn(B, n, generator=gen, dtype=F64).tanh(),
                      torch.randn(B, n, generator=gen, dtype=F64),
                      torch.randn(B, n, generator=gen, dtype=F64).exp(),  # n > 0
                      torch.randn(B, n, generator=gen, dtype=F64)]).requires_grad_()
    y, s = slstm_run(layer, x, s0)
    want_y, want_s = slstm_reference(layer, heads)(x, s0)
    torch.testing.assert_close(y, want_y, **TOL)
    torch.testing.assert_close(s, want_s, **TOL)
    leaves = [x, s0, *layer.parameters()]

    def loss(y, s):
        return (y * y.sin()).sum() + (s * s.cos()).sum()

    for a, b in zip(torch.autograd.grad(loss(y, s), leaves),
                    torch.autograd.grad(loss(want_y, want_s), leaves), strict=True):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("backend,fused", BACKENDS)
def test_slstm_matches_xlstm_from_zero_states(backend, fused) -> None:
    # the official first step takes m' = ĩ (n == 0): c, n, m are rescaled together, so the
    # outputs and the unstabilised c·e^m and n·e^m are the same, and so are their gradients
    m, n = 5, 4
    layer = compile_cell(zoo.get("slstm"), m, n, backend, fused_backward=fused, seed=7).to(F64)
    gen = torch.Generator().manual_seed(7)
    x = (3 * torch.randn(T, B, m, generator=gen, dtype=F64)).requires_grad_()
    s0 = torch.zeros(4, B, n, dtype=F64)
    y, s = slstm_run(layer, x, s0)
    want_y, want_s = slstm_reference(layer)(x, s0)
    with torch.no_grad():  # after the first step the stabilisers differ ...
        assert not torch.allclose(slstm_run(layer, x[:1], s0)[1][3],
                                  slstm_reference(layer)(x[:1], s0)[1][3])

    def seen(y, s):  # ... what they stabilise does not
        return y, s[1] * s[3].exp(), s[2] * s[3].exp()

    leaves = [x, *layer.parameters()]
    for a, b in zip(seen(y, s), seen(want_y, want_s), strict=True):
        torch.testing.assert_close(a, b, **TOL)
    got = torch.autograd.grad(sum((v * v.sin()).sum() for v in seen(y, s)), leaves)
    want = torch.autograd.grad(sum((v * v.sin()).sum() for v in seen(want_y, want_s)), leaves)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, **TOL)


def test_slstm_is_safe_in_float32_over_thousands_of_steps() -> None:
    # input gates pushed to ±100: e^ĩ overflows float32 (e^88.7), the stabilised cell does not
    m, n, steps = 3, 8, 2500
    layer = compile_cell(zoo.get("slstm"), m, n, "script", seed=8)
    with torch.no_grad():
        w, _ = rows(layer, "x_i")
        w.mul_(100.0 / w.abs().sum(1, keepdim=True))  # |ĩ| up to 100 for |x| up to 1
    gen = torch.Generator().manual_seed(8)
    x = torch.rand(steps, 2, m, generator=gen) * 2 - 1
    x32 = x.clone().requires_grad_()
    y32, s32 = layer(x32, None)
    (y32.sum() + s32[0].sum()).backward()
    layer64 = compile_cell(zoo.get("slstm"), m, n, "script", seed=8)
    layer64.load_state_dict(layer.state_dict())
    layer64 = layer64.to(F64)
    x64 = x.to(F64).requires_grad_()
    y64, s64 = layer64(x64, None)
    (y64.sum() + s64[0].sum()).backward()
    assert torch.isfinite(y32).all() and torch.isfinite(x32.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())
    assert (y32.double() - y64).abs().max() < 1e-4  # |y| < 1 (o ⊙ a weighted mean of tanh)
    assert (x32.grad.double() - x64.grad).abs().max() < 1e-3 * (1 + x64.grad.abs().max())
    # the same weights without the stabiliser overflow: the test exercises it
    with torch.no_grad():
        W = torch.cat([rows(layer, f"x_{g}")[0] for g in GATES])
        bias = torch.cat([rows(layer, f"x_{g}")[1] for g in GATES])
        R = torch.cat([rows(layer, f"y_{g}")[0] for g in GATES])
        y = c = nn_ = torch.zeros(2, n)
        finite = True
        for xt in x:
            i_raw, f_raw, z_raw, o_raw = (F.linear(xt, W, bias) + F.linear(y, R)).chunk(4, 1)
            i, f = torch.exp(i_raw), torch.sigmoid(f_raw)
            c, nn_ = f * c + i * torch.tanh(z_raw), f * nn_ + i
            y = torch.sigmoid(o_raw) * c / nn_
            finite = finite and bool(torch.isfinite(y).all())
        assert not finite
