"""Code generation: TorchScript source for one layer's time loop, forward and backward.

Every identifier in the generated source is made here from plan positions (``x``, ``s0``,
``v3``, ``w1``, ``q1_0``, ``d3`` ...); numbers are written with ``repr(float(...))``. Nothing from
the genome's strings (node names, the genome's name) reaches the source, so a genome cannot
inject code; :func:`program_source` is a pure function of the :class:`~._plan.Plan`'s structure.

Three functions are generated:

``forward(x, s0.., weights.., packed)``
    the whole sequence: the hoisted product of ``x`` with every x-projection, then the time
    loop with one fused product per recurrent source per step and the pointwise graph. Used as
    is for inference and (``fused_backward=False``) with autograd through TorchScript.
``forward_save(...)``
    the same, also returning, stacked over time, the values the backward needs.
``backward(dy, ds0.., saved.., weights^T.., packed)``
    the reverse time loop generated from the derivative of each op: it returns the gradient
    of the hoisted product, of the raw input (``fit`` of x when m == n), of the initial states,
    of every per-step product (stacked, so each weight gradient is then one matrix product over
    the whole sequence) and of the diagonal weights.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lstm_search.compile._plan import Group, Plan, Step

_MM_ONEDNN = '''def _mm(a: Tensor, w: Tensor, b: Optional[Tensor], packed: bool) -> Tensor:
    # a (R, in) times w (out, in)^T [+ b]: oneDNN with a weight packed once, else F.linear
    if packed:
        scalars: List[Optional[number]] = []
        return torch.ops.mkldnn._linear_pointwise(a, w, b, "none", scalars, "")
    return torch.nn.functional.linear(a, w, b)
'''

_MM_PLAIN = '''def _mm(a: Tensor, w: Tensor, b: Optional[Tensor], packed: bool) -> Tensor:
    # a (R, in) times w (out, in)^T [+ b]
    return torch.nn.functional.linear(a, w, b)
'''

_MM_ADD_ONEDNN = '''def _mm_add(a: Tensor, w: Tensor, b: Optional[Tensor], other: Tensor,
            packed: bool) -> Tensor:
    # a w^T [+ b] + other, the sum fused into oneDNN's product when packed
    if packed:
        return torch.ops.mkldnn._linear_pointwise(a, other, w, b, "add")
    return torch.nn.functional.linear(a, w, b) + other
'''

_MM_ADD_PLAIN = '''def _mm_add(a: Tensor, w: Tensor, b: Optional[Tensor], other: Tensor,
            packed: bool) -> Tensor:
    # a w^T [+ b] + other
    return torch.nn.functional.linear(a, w, b) + other
'''


_NORM = '''def _norm(v: Tensor, heads: int, eps: float, center: bool) -> Tensor:
    # (B, n) normalised over each of heads groups of units (layer norm when centred, else RMS)
    g = v.reshape(v.size(0), heads, -1)
    if center:
        g = g - g.mean(-1, keepdim=True)
    return (g * torch.rsqrt(g.square().mean(-1, keepdim=True) + eps)).reshape(v.size())


def _norm_back(d: Tensor, v: Tensor, y: Tensor, heads: int, eps: float,
               center: bool) -> Tensor:
    # r (d - mean(d) - y mean(d y)) per group (RMS: without mean(d)), r = 1 / √(var + eps)
    B = d.size(0)
    dg = d.reshape(B, heads, -1)
    yg = y.reshape(B, heads, -1)
    g = v.reshape(B, heads, -1)
    if center:
        g = g - g.mean(-1, keepdim=True)
        dg = dg - dg.mean(-1, keepdim=True)
    r = torch.rsqrt(g.square().mean(-1, keepdim=True) + eps)
    return (r * (dg - yg * (d.reshape(B, heads, -1) * yg).mean(-1, keepdim=True))).reshape(B, -1)
'''


_ATTEND = '''def _attend(q: Tensor, mem: Tensor, key: Tensor, v: Tensor) -> Tensor:
    # additive attention (format 2): sum_i softmax_i(v^T tanh(key_i + q)) mem_i over the
    # memory (B, c, n) of the state's earlier values; zeros when it is empty (the first step)
    if mem.size(1) == 0:
        return torch.zeros_like(q)
    a = torch.softmax(torch.matmul(torch.tanh(key + q.unsqueeze(1)), v), 1)
    return torch.bmm(a.unsqueeze(1), mem).squeeze(1)


def _push(buf: Tensor, v: Tensor, window: int) -> Tensor:
    # v (B, n) appended to the memory (B, c, n), the oldest entry dropped past window (0: never)
    buf = torch.cat([buf, v.unsqueeze(1)], 1)
    if window > 0 and buf.size(1) > window:
        buf = buf.narrow(1, 1, window)
    return buf
'''


_HEADWISE = '''def _outer(a: Tensor, b: Tensor, heads: int) -> Tensor:
    # a b^T per head (format 2, head-wise values): (B, n) x (B, n) -> (B, h, d, d)
    return a.reshape(a.size(0), heads, -1, 1) * b.reshape(b.size(0), heads, 1, -1)


def _matvec(c: Tensor, q: Tensor) -> Tensor:
    # C q per head: (B, h, d, d) x (B, n) -> (B, n)
    return torch.matmul(c, q.reshape(c.size(0), c.size(1), c.size(2), 1)).reshape(
        c.size(0), -1)


def _dot(a: Tensor, b: Tensor, heads: int) -> Tensor:
    # a^T b per head: (B, n) x (B, n) -> (B, h)
    return (a.reshape(a.size(0), heads, -1) * b.reshape(b.size(0), heads, -1)).sum(-1)
'''


def _broadcast(ref: str, arg_shape: str, shape: str, head_dim: int) -> str:
    """A per-head scalar (B, h) spread over its head's units, as the eager backend does."""
    if arg_shape != "scalar" or shape == "scalar":
        return ref
    if shape == "matrix":
        return f"{ref}.unsqueeze(-1).unsqueeze(-1)"
    return f"{ref}.repeat_interleave({head_dim}, 1)"


def _mm_conv(kernel: int) -> str:
    """``_mm`` and ``_mm_add`` of a spatial plan: 'same'-padded K×K convolutions."""
    p = kernel // 2
    return f'''def _mm(a: Tensor, w: Tensor, b: Optional[Tensor], packed: bool) -> Tensor:
    # a (R, in, H, W) convolved with w (out, in, {kernel}, {kernel}) [+ b], 'same' zero padding
    return torch.nn.functional.conv2d(a, w, b, [1, 1], [{p}, {p}])


def _mm_add(a: Tensor, w: Tensor, b: Optional[Tensor], other: Tensor,
            packed: bool) -> Tensor:
    # the convolution of a with w [+ b], plus other
    return torch.nn.functional.conv2d(a, w, b, [1, 1], [{p}, {p}]) + other
'''


def _f(v: float) -> str:
    return repr(float(v))


@dataclass(frozen=True)
class Layout:
    """Argument and result order shared by the generated code and its Python caller."""

    weights: tuple[str, ...]  # w{gid}, b{gid} (groups with a bias), p{k} (diag nodes)
    saved: tuple[str, ...]  # refs saved per step by forward_save, in order
    step_groups: tuple[int, ...]  # gids of the per-step groups, order of dq results
    # native, time-inside plans: the x group's bias is added where the step's loop reads the
    # products, not by the product; the backward takes it after the diagonal weights and
    # returns its gradient, summed in its loop, after theirs
    loop_bias: bool = False
    # native, time-inside plans: saved refs whose values are the raw input itself (x, or a
    # copy of it such as RG-LRU's u = x): forward_save returns an empty tensor in their place
    # and the caller hands the backward the input
    from_input: tuple[str, ...] = ()


def layout(plan: Plan) -> Layout:
    weights: list[str] = []
    for g in plan.groups:
        weights.append(f"w{g.gid}")
        if g.n_bias:
            weights.append(f"b{g.gid}")
    weights += [f"p{k}" for k in plan.diags]
    for st in plan.attentions:  # format 2: the key projection W_k and the score vector v
        weights += [f"wk{st.pos}", f"va{st.pos}"]
    for st in plan.steps:  # format 2, head-wise values: a head_linear's (h, width) rows, bias
        if st.op == "hproj":
            weights += [f"hw{st.pos}"] + ([f"hb{st.pos}"] if st.bias else [])
    need: set[str] = set()
    for g in plan.step_groups:
        need.add(g.source)
    for s in plan.steps:
        if s.op in ("sigmoid", "tanh", "relu"):
            need.add(s.out)
        elif s.op in ("leaky_relu", "mul", "blend", "diag"):
            need.update(s.args)
        # -- ops of the modern recurrences: what each derivative reads --------------------------
        elif s.op in ("exp", "sqrt"):
            need.add(s.out)
        elif s.op in ("log", "softplus", "logsigmoid", "abs", "max", "min"):
            need.update(s.args)
        elif s.op == "div":
            need.update((s.out, s.args[1]))
        elif s.op == "norm":
            need.update((s.out, s.args[0]))
    need.discard("x")

    def key(r: str) -> tuple[int, int]:
        return ({"s": 0, "x": 1, "u": 2, "v": 3}[r[0]], int(r[1:]) if r[1:].isdigit() else 0)

    return Layout(tuple(weights), tuple(sorted(need, key=key)),
                  tuple(g.gid for g in plan.step_groups))


def _signature(plan: Plan, lay: Layout) -> str:
    states = ", ".join(f"s{j}: Tensor" for j in range(plan.n_states))
    # format 2: the layer below's values (T, B, n) and each clock's schedule (T, 1, n) bool
    extra = "".join(f", ul{j}: Tensor" for j in plan.below)
    extra += "".join(f", mk{c.pos}: Tensor" for c in plan.clocks)
    extra += "".join(f", ra{pos}: List[int], ia{pos}: List[int]" for pos in _sleepy_clocks(plan))
    # format 2: each dropout mask (B, width), the same at every step (ones in evaluation)
    extra += "".join(f", dm{i}: Tensor" for i in range(len(plan.masks)))
    extra += "".join(f", wl{gid}: List[Tensor]" for gid, _ in plan.sleepy)
    weights = "".join(f", {w}: Tensor" for w in lay.weights)
    return f"x: Tensor, {states}{extra}{weights}, packed: bool"


def _sleepy_clocks(plan: Plan) -> list[int]:
    """Positions of the clocks whose active-row counts ``ra{k}`` and active-module counts
    less one ``ia{k}`` (one int per step each) the generated code takes: those of
    :attr:`Plan.sleepy`. A sleepy group's weight also comes as ``wl{gid}``: its first rows for
    1, 2, ... g active modules (packed once per call for oneDNN), picked by ``ia{k}[t]``; the
    backward takes their transposes ``wtl{gid}``."""
    return sorted({pos for _, pos in plan.sleepy})


def _masked(g: Group) -> str:
    """`` * dm{i}`` for a group whose source its dropout mask multiplies, else nothing: the
    factor of the source's gradient (the mask is constant)."""
    return f" * dm{g.mask}" if g.mask >= 0 else ""


def _src(g: Group) -> str:
    """A group's input: its source, times its dropout mask ``dm{i}`` (format 2) if any."""
    return g.source if g.mask < 0 else f"({g.source} * dm{g.mask})"


def _product(plan: Plan, g: Group) -> str:
    """The per-step product of group ``g``, (B, K·n). For a sleepy group (:attr:`Plan.sleepy`)
    only the rows of the modules active at step t (the first ``ra{k}[t]`` units) are
    multiplied, the rest left zero: the clock never reads them (Koutník et al. 2014)."""
    clock = dict(plan.sleepy).get(g.gid)
    if clock is None:
        return f"_mm({_src(g)}, w{g.gid}, {_bias(g)}, packed)"
    r = f"ra{clock}[t]"
    bias = f"b{g.gid}.narrow(0, 0, {r})" if g.n_bias else "None"
    return (f"torch.nn.functional.pad(_mm({_src(g)}, wl{g.gid}[ia{clock}[t]], {bias}, "
            f"packed), [0, w{g.gid}.size(0) - {r}])")


def _slots(g: Group, prod: str) -> list[str]:
    names = [f"q{g.gid}_{i}" for i in range(len(g.members))]
    if len(names) == 1:
        return [f"{names[0]} = {prod}"]
    return [f"{', '.join(names)} = {prod}.chunk({len(names)}, 1)"]


def _bias(g: Group) -> str:
    return f"b{g.gid}" if g.n_bias else "None"


def _expr(step: Step, plan: Plan) -> str:
    a = step.args
    op = step.op
    # -- head-wise values (format 2) -------------------------------------------------------------
    if op == "hproj":  # x's are hoisted (hx{k}); another vector's, one product per step
        if a[0] == "x":
            return f"hx{step.pos}_t[t]"
        return f"torch.nn.functional.linear({a[0]}, hw{step.pos}, {_hbias(step)})"
    if op in ("outer", "dot"):
        return f"_{op}({a[0]}, {a[1]}, {plan.heads})"
    if op == "matvec":
        return f"_matvec({a[0]}, {a[1]})"
    if step.arg_shapes and "scalar" in step.arg_shapes and step.shape != "scalar":
        hd = plan.hidden_size // plan.heads
        a = tuple(_broadcast(r, k, step.shape, hd)
                  for r, k in zip(a, step.arg_shapes, strict=True))
        step = replace(step, args=a)
    if op == "proj":
        g = plan.groups[step.group]
        e = f"q{g.gid}_{step.slot}"
        return f"{e} + {_f(step.diag_add)} * {_src(g)}" if step.diag_add else e
    if op == "add":
        return " + ".join(a)
    if op == "mean":
        return f"({' + '.join(a)}) / {_f(float(len(a)))}"
    if op == "mul":
        return " * ".join(a)
    if op == "sub":
        return f"{a[0]} - {a[1]}"
    if op == "blend":  # z ⊙ a + (1 − z) ⊙ b = b + z ⊙ (a − b), one kernel
        return f"torch.lerp({a[2]}, {a[1]}, {a[0]})"
    if op == "one_minus":
        return f"1.0 - {a[0]}"
    if op in ("sigmoid", "tanh", "relu"):
        return f"torch.{op}({a[0]})"
    if op == "leaky_relu":
        if step.slope <= 1.0:
            return f"torch.nn.functional.leaky_relu({a[0]}, {_f(step.slope)})"
        return f"torch.where({a[0]} > 0.0, {a[0]} * {_f(step.slope)}, {a[0]})"
    if op == "diag":
        return f"p{step.pos} * {a[0]}"
    if op == "copy":
        return a[0]
    if op == "clock":  # cand where the unit's module is active at step t, else prev
        return f"torch.where(mk{step.pos}[t], {a[0]}, {a[1]})"
    if op == "attention":  # over the memory of the state's values before step t
        return f"_attend({a[0]}, mem{step.pos}, key{step.pos}, va{step.pos})"
    # -- ops of the modern recurrences -----------------------------------------------------------
    if op in ("exp", "log", "sqrt", "abs"):
        return f"torch.{op}({a[0]})"
    if op in ("softplus", "logsigmoid"):
        return f"torch.nn.functional.{op}({a[0]})"
    if op in ("max", "min"):
        return f"torch.{op}imum({a[0]}, {a[1]})"
    if op == "div":
        return f"{a[0]} / {_denominator(step)}"
    if op == "scale":
        return f"{a[0]} * {_f(step.const)}"
    if op == "norm":
        return f"_norm({a[0]}, {step.heads}, {_f(step.const)}, {step.weight == 'layer'})"
    raise ValueError(f"no code rule for op {op!r}")  # pragma: no cover


def _hbias(step: Step) -> str:
    return f"hb{step.pos}" if step.bias else "None"


def _denominator(step: Step) -> str:
    """div's denominator ``b + eps`` (``b`` alone when eps is 0)."""
    b = step.args[1]
    return f"({b} + {_f(step.const)})" if step.const else b


def _forward(plan: Plan, lay: Layout, save: bool) -> list[str]:
    name = "forward_save" if save else "forward"
    n_ret = 1 + plan.n_states + len(plan.below) + (len(lay.saved) if save else 0)
    ret_t = ", ".join(["Tensor"] * n_ret)
    out = [f"def {name}({_signature(plan, lay)}) -> Tuple[{ret_t}]:",
           "    T = x.size(0)", "    B = x.size(1)"]
    if plan.below:
        out.append("    # ul{j}: the layer below's new s{j} at every step (T, B, n), zeros in the "
                   "first layer; em{j} returns this layer's for the layer above")
    if plan.clocks:
        out.append("    # mk{k}: clock k's schedule (T, 1, n), true where the unit's module is "
                   "active at step t (Koutník et al. 2014)")
    xg = plan.x_group
    if xg is not None:
        out.append(f"    # hoisted: every projection of x for the whole sequence, (T, B, "
                   f"{len(xg.members)}·n)")
        if plan.kernel:  # spatial: one convolution over the T·B input maps
            out.append(f"    xp = _mm(x.reshape(T * B, x.size(2), x.size(3), x.size(4)), "
                       f"w{xg.gid}, {_bias(xg)}, packed).reshape(T, B, -1, x.size(3), "
                       "x.size(4))")
        else:
            out.append(f"    xp = _mm({_src(xg)}.reshape(T * B, x.size(2)), w{xg.gid}, "
                       f"{_bias(xg)}, packed).reshape(T, B, -1)")
    for st in plan.steps:
        if st.op == "hproj" and st.args[0] == "x":
            out.append(f"    hx{st.pos} = torch.nn.functional.linear(x, hw{st.pos}, "
                       f"{_hbias(st)})  # head_linear of x: (T, B, h), hoisted")
    for st in plan.attentions:
        out.append(f"    # attention {st.pos}: the memory of {st.args[1]}'s earlier values "
                   f"and their keys W_k {st.args[1]}, (B, steps held, n)")
        out += [f"    {b}{st.pos} = torch.zeros([B, 0, {plan.hidden_size}], dtype=x.dtype, "
                "device=x.device)" for b in ("mem", "key")]
    # the step loop reads per-step views made once: indexing a (T, ...) tensor at t in each
    # step would, under autograd, write a zero-filled copy of the whole tensor per step for
    # that slice's gradient (O(T²) memory traffic); unbind's gradient is one stack
    views = (["xp"] if xg is not None else []) + (["x"] if plan.uses_xt else [])
    views += [f"ul{j}" for j in plan.below]
    views += [f"hx{st.pos}" for st in plan.steps if st.op == "hproj" and st.args[0] == "x"]
    out += [f"    {v}_t = {v}.unbind(0)" for v in views]
    out.append("    ys: List[Tensor] = []")
    out += [f"    em{j}: List[Tensor] = []" for j in plan.below]
    for r in lay.saved if save else ():
        out.append(f"    sv_{r}: List[Tensor] = []")
    out.append("    for t in range(T):")
    body: list[str] = []
    pg = plan.groups[plan.pair_group] if plan.n_pairs else None
    full_pairs = pg is not None and xg is not None and (
        plan.n_pairs == len(pg.members) == len(xg.members))
    if xg is not None:
        body.append("xpt = xp_t[t]")
        if not full_pairs:
            body += _slots(xg, "xpt")
    if plan.uses_xt:
        body.append("xt = x_t[t]")
    body += [f"u{j} = ul{j}_t[t]" for j in plan.below]
    for g in plan.step_groups:
        if g.source[0] == "u":  # a product of the layer below's value, (B, K·n)
            body += _slots(g, _product(plan, g))
        if g.source[0] == "s" and not (full_pairs and g is pg):
            # one fused product per previous state, (B, K·n)
            body.append(f"g{g.gid} = {_product(plan, g)}")
            body += _slots(g, f"g{g.gid}")
    if pg is not None:
        k = plan.n_pairs
        body.append(f"# pre-added pairs: x-projections plus {pg.source}-projections, (B, {k}·n)")
        if full_pairs:  # one sum over the whole product, fused into it with oneDNN
            if pg.gid in dict(plan.sleepy):  # the active modules' rows only
                body.append(f"rr = xpt + {_product(plan, pg)}")
            else:
                body.append(f"rr = _mm_add({_src(pg)}, w{pg.gid}, {_bias(pg)}, xpt, packed)")
            names = [f"r{i}" for i in range(k)]
            body.append(f"{names[0]} = rr" if k == 1
                        else f"{', '.join(names)} = rr.chunk({k}, 1)")
        else:  # slot by slot (slicing the products trips TorchScript's autodiff)
            assert xg is not None
            body += [f"r{i} = q{xg.gid}_{i} + q{pg.gid}_{i}" for i in range(k)]
    for s in plan.steps:
        body.append(f"{s.out} = {_expr(s, plan)}")
        for g in plan.step_groups:
            if g.source == s.out:
                body += _slots(g, _product(plan, g))
    if save:
        body += [f"sv_{r}.append({r})" for r in lay.saved]
    body.append(f"ys.append({plan.output})")
    for j, r in enumerate(plan.new_states):
        body.append(f"s{j} = {r}")
    body += [f"em{j}.append(s{j})" for j in plan.below]
    for st in plan.attentions:  # this step's new value enters the memory
        j, k = st.args[1], st.window
        body.append(f"mem{st.pos} = _push(mem{st.pos}, {j}, {k})")
        body.append(f"key{st.pos} = _push(key{st.pos}, torch.nn.functional.linear({j}, "
                    f"wk{st.pos}), {k})")
    out += ["        " + line for line in body]
    rets = ["torch.stack(ys, 0)", *(f"s{j}" for j in range(plan.n_states))]
    rets += [f"torch.stack(em{j}, 0)" for j in plan.below]
    if save:
        rets += [f"torch.stack(sv_{r}, 0)" for r in lay.saved]
    out.append(f"    return {', '.join(rets)}")
    return out


class _Grads:
    """Contributions to the gradient of each value within one backward step."""

    def __init__(self) -> None:
        self.terms: dict[str, list[tuple[int, str]]] = {}

    def add(self, ref: str, expr: str, sign: int = 1) -> None:
        self.terms.setdefault(ref, []).append((sign, expr))

    def total(self, ref: str) -> str | None:
        terms = self.terms.get(ref)
        if not terms:
            return None
        parts: list[str] = []
        for sign, e in terms:
            wrapped = f"({e})" if " " in e else e
            if not parts:
                parts.append(e if sign > 0 else f"-{wrapped}")
            else:
                parts.append(f"+ {e}" if sign > 0 else f"- {wrapped}")
        return " ".join(parts)


def _backward(plan: Plan, lay: Layout) -> list[str]:
    ns = plan.n_states
    xg = plan.x_group
    node_groups: dict[str, list[Group]] = {}  # a value may feed a dense and a head-wise group
    for g in plan.step_groups:
        if g.source[0] == "v":
            node_groups.setdefault(g.source, []).append(g)
    # format 2: dem{j} the gradient of the values emitted for the layer above (T, B, n), mk{k}
    # each clock's schedule; dul{j} (returned last) the gradient of the layer below's values
    args = ["dy: Tensor", *(f"ds{j}: Tensor" for j in range(ns)),
            *(f"dem{j}: Tensor" for j in plan.below),
            *(f"sv_{r}: Tensor" for r in lay.saved),
            *(f"wt{gid}: Tensor" for gid in lay.step_groups),
            *(f"p{k}: Tensor" for k in plan.diags),
            *(f"mk{c.pos}: Tensor" for c in plan.clocks),
            *(f"ra{pos}: List[int], ia{pos}: List[int]" for pos in _sleepy_clocks(plan)),
            *(f"dm{i}: Tensor" for i in range(len(plan.masks))),
            *(f"wtl{gid}: List[Tensor]" for gid, _ in plan.sleepy), "packed: bool"]
    n_ret = 2 + ns + len(lay.step_groups) + len(plan.diags) + len(plan.below)
    out = [f"def backward({', '.join(args)}) -> Tuple[{', '.join(['Tensor'] * n_ret)}]:",
           "    T = dy.size(0)",
           "    dxps: List[Tensor] = []", "    dxts: List[Tensor] = []"]
    out += [f"    dqs{gid}: List[Tensor] = []" for gid in lay.step_groups]
    out += [f"    dp{k} = torch.zeros_like(p{k})" for k in plan.diags]
    out += [f"    duls{j}: List[Tensor] = []" for j in plan.below]
    out.append("    for i in range(T):")
    out.append("        t = T - 1 - i")
    body: list[str] = ["dyt = dy[t]"]
    body += [f"{r} = sv_{r}[t]" for r in lay.saved]
    gr = _Grads()
    gr.add(plan.output, "dyt")
    for j, r in enumerate(plan.new_states):
        gr.add(r, f"ds{j}")
    for j in plan.below:  # the layer above read this step's new s{j}
        gr.add(plan.new_states[j], f"dem{j}[t]")

    pair_of = {}
    if plan.n_pairs:
        pg = plan.groups[plan.pair_group]
        for i in range(plan.n_pairs):
            pair_of[pg.members[i]] = i
            pair_of[xg.members[i]] = i

    shared: set[int] = set()  # groups whose product gradient is x's (stacked once)

    def slot_grads(g: Group) -> list[str]:
        return [f"dr{pair_of[k]}" if k in pair_of else f"d{k}" for k in g.members]

    def cat(slots: list[str]) -> str:
        return slots[0] if len(slots) == 1 else f"torch.cat([{', '.join(slots)}], 1)"

    def group_back(g: Group) -> None:
        # gradient of the fused product (B, K·n): slot gradients side by side
        slots = slot_grads(g)
        if xg is not None and plan.n_pairs and slots == slot_grads(xg):
            body.append(f"dq{g.gid} = dxq")  # fully pre-added: the same gradient as x's
            shared.add(g.gid)
        else:
            body.append(f"dq{g.gid} = {cat(slots)}")
            body.append(f"dqs{g.gid}.append(dq{g.gid})")
        clock = dict(plan.sleepy).get(g.gid)
        m = _masked(g)
        if clock is None:
            gr.add(g.source, f"_mm(dq{g.gid}, wt{g.gid}, None, packed){m}")
        else:  # the sleeping modules' rows of dq are zero: the active ones only
            r = f"ra{clock}[t]"
            gr.add(g.source, f"_mm(dq{g.gid}.narrow(1, 0, {r}), wtl{g.gid}[ia{clock}[t]], "
                   f"None, packed){m}")

    for step in reversed(plan.steps):
        for g in node_groups.get(step.out, ()):
            group_back(g)
        total = gr.total(step.out)
        d = f"d{step.pos}"
        if total is None:  # pragma: no cover - every planned node is live
            body.append(f"{d} = torch.zeros_like(dyt)")
        else:
            body.append(f"{d} = {total}")
        a, op, v = step.args, step.op, step.out
        if op == "proj":
            g = plan.groups[step.group]
            if step.diag_add:
                gr.add(g.source, f"{_f(step.diag_add)} * {d}{_masked(g)}")
        elif op in ("add", "copy"):
            for r in a:
                gr.add(r, d)
        elif op == "mean":
            for r in a:
                gr.add(r, f"{d} / {_f(float(len(a)))}")
        elif op == "sub":
            gr.add(a[0], d)
            gr.add(a[1], d, -1)
        elif op == "one_minus":
            gr.add(a[0], d, -1)
        elif op == "mul":
            for i in range(len(a)):
                others = [a[j] for j in range(len(a)) if j != i]
                gr.add(a[i], " * ".join([d, *others]))
        elif op == "blend":  # z ⊙ a + (1 − z) ⊙ b
            body.append(f"e{step.pos} = {d} * {a[0]}")
            gr.add(a[0], f"{d} * ({a[1]} - {a[2]})")
            gr.add(a[1], f"e{step.pos}")
            gr.add(a[2], d)
            gr.add(a[2], f"e{step.pos}", -1)
        elif op == "sigmoid":  # d ⊙ y ⊙ (1 − y), one kernel
            gr.add(a[0], f"torch.ops.aten.sigmoid_backward({d}, {v})")
        elif op == "tanh":  # d ⊙ (1 − y²)
            gr.add(a[0], f"torch.ops.aten.tanh_backward({d}, {v})")
        elif op == "relu":  # d where y > 0
            gr.add(a[0], f"torch.ops.aten.threshold_backward({d}, {v}, 0.0)")
        elif op == "leaky_relu":
            hi, lo = max(1.0, step.slope), min(1.0, step.slope)
            gr.add(a[0], f"torch.where({a[0]} > 0.0, {d} * {_f(hi)}, {d} * {_f(lo)})")
        elif op == "diag":
            gr.add(a[0], f"{d} * p{step.pos}")
            body.append(f"dp{step.pos} = dp{step.pos} + ({d} * {a[0]}).sum(0)")
        elif op == "clock":  # cand's gradient where the module is active, prev's elsewhere
            body.append(f"c{step.pos} = {d} * mk{step.pos}[t].to({d}.dtype)")
            gr.add(a[0], f"c{step.pos}")
            gr.add(a[1], d)
            gr.add(a[1], f"c{step.pos}", -1)
        # -- ops of the modern recurrences -------------------------------------------------------
        elif op == "exp":  # d ⊙ y
            gr.add(a[0], f"{d} * {v}")
        elif op == "log":  # d / v
            gr.add(a[0], f"{d} / {a[0]}")
        elif op == "softplus":  # d ⊙ σ(v), with PyTorch's threshold (v > 20: d)
            gr.add(a[0], f"torch.ops.aten.softplus_backward({d}, {a[0]}, 1.0, 20.0)")
        elif op == "logsigmoid":  # d ⊙ σ(−v)
            gr.add(a[0], f"{d} * torch.sigmoid(-{a[0]})")
        elif op in ("max", "min"):  # to the larger (smaller) input; half each at a tie
            cmp = ">" if op == "max" else "<"
            for i, j in ((0, 1), (1, 0)):
                gr.add(a[i], f"torch.where({a[i]} {cmp} {a[j]}, {d}, torch.where({a[i]} == "
                       f"{a[j]}, {d} * 0.5, torch.zeros_like({d})))")
        elif op == "div":  # y = a / b': da = d / b', db' = −d ⊙ y / b'
            body.append(f"e{step.pos} = {d} / {_denominator(step)}")
            gr.add(a[0], f"e{step.pos}")
            gr.add(a[1], f"e{step.pos} * {v}", -1)
        elif op == "sqrt":  # d / (2 y)
            gr.add(a[0], f"{d} / (2.0 * {v})")
        elif op == "abs":  # d ⊙ sign(v)
            gr.add(a[0], f"{d} * torch.sign({a[0]})")
        elif op == "scale":
            gr.add(a[0], f"{d} * {_f(step.const)}")
        elif op == "norm":
            gr.add(a[0], f"_norm_back({d}, {a[0]}, {v}, {step.heads}, {_f(step.const)}, "
                   f"{step.weight == 'layer'})")
        # -- end of the modern recurrences' ops --------------------------------------------------
        else:  # pragma: no cover
            raise ValueError(f"no derivative rule for op {op!r}")
    # end of the step: products of x and of the previous states
    for i in range(plan.n_pairs):
        body.append(f"dr{i} = {gr.total(f'r{i}')}")
    if xg is not None:
        body.append(f"dxq = {cat(slot_grads(xg))}")
        body.append("dxps.append(dxq)")
    if plan.uses_xt:
        body.append(f"dxts.append({gr.total('xt')})")
    for g in plan.step_groups:
        if g.source[0] in "su":
            group_back(g)
    for j in plan.below:
        total = gr.total(f"u{j}")
        body.append(f"duls{j}.append({total if total is not None else 'torch.zeros_like(dyt)'})")
    for j in range(ns):
        total = gr.total(f"s{j}")
        body.append(f"ds{j} = {total if total is not None else f'torch.zeros_like(ds{j})'}")
    out += ["        " + line for line in body]
    empty = "torch.zeros(0, dtype=dy.dtype, device=dy.device)"
    # lists were filled from the last step to the first
    out += ["    dxps.reverse()", "    dxts.reverse()"]
    out = [line for line in out
           if not any(line == f"    dqs{gid}: List[Tensor] = []" for gid in shared)]
    out += [f"    dqs{gid}.reverse()" for gid in lay.step_groups if gid not in shared]
    out += [f"    duls{j}.reverse()" for j in plan.below]
    if xg is not None:
        out.append("    dxp = torch.stack(dxps, 0)")
    rets = ["dxp" if xg is not None else empty,
            "torch.stack(dxts, 0)" if plan.uses_xt else empty,
            *(f"ds{j}" for j in range(ns)),
            *("dxp" if gid in shared else f"torch.stack(dqs{gid}, 0)"
              for gid in lay.step_groups),
            *(f"dp{k}" for k in plan.diags),
            *(f"torch.stack(duls{j}, 0)" for j in plan.below)]
    out.append(f"    return {', '.join(rets)}")
    return out


def program_source(plan: Plan, *, onednn: bool = False, backward: bool = True) -> str:
    """TorchScript source of one layer: ``_mm``, ``forward`` and (``backward``) the fused
    ``forward_save`` / ``backward`` pair. With genome format 2 (below:, clock, blocks) the
    forward functions also take the layer below's values ``ul{j}`` and the clocks'
    schedules ``mk{k}`` and return the values ``em{j}`` for the layer above; the backward
    takes their gradients ``dem{j}`` and returns those of ``ul{j}`` last. A spatial plan
    (:attr:`Plan.kernel`) gets convolutions for ``_mm`` and no generated backward. Format 2's
    dropout masks (:attr:`Plan.masks`) come as ``dm{i}`` (B, width), after the clocks'
    arguments; the backward takes them too (a masked source's gradient is the product's
    times the mask), and its caller multiplies x and the saved sources by them for the weight
    gradients."""
    lay = layout(plan)
    if plan.kernel:  # spatial values: convolutions, autograd through the forward
        parts = [_mm_conv(plan.kernel)]
        backward = False
    else:
        parts = [_MM_ONEDNN if onednn else _MM_PLAIN,
                 _MM_ADD_ONEDNN if onednn else _MM_ADD_PLAIN]
    if any(s.op == "norm" for s in plan.steps):  # helpers of the modern recurrences' norm
        parts.append(_NORM)
    if plan.attentions:  # format 2's attention: no generated backward (autograd runs through
        parts.append(_ATTEND)  # the TorchScript forward, see ScriptKernel)
        backward = False
    if plan.heads:  # format 2's head-wise values: the same (see ScriptKernel)
        parts.append(_HEADWISE)
        backward = False
    parts.append("\n".join(_forward(plan, lay, save=False)))
    if backward:
        parts.append("\n".join(_forward(plan, lay, save=True)))
        parts.append("\n".join(_backward(plan, lay)))
    return "\n\n".join(parts) + "\n"
