"""Domains: the range of every value of a cell, and the ops whose input may leave their domain.

``log`` needs ``v > 0``, ``sqrt`` needs ``v ≥ 0`` and ``div`` a denominator ``b + eps ≠ 0``
(:mod:`lstm_search.genome._ops`). :func:`domain_problems` proves these from the ops alone, with
interval arithmetic over the real numbers: every value gets a :class:`Range` (bounds that may be
infinite, each open or closed), derived in topological order from the ranges of its inputs
(``σ`` in (0, 1), ``exp`` and ``softplus`` in (0, ∞), ``a + b`` from the bounds of both, ...).
The input ``x`` and every learned projection may be any real; every state starts at 0 (the
layer's default initial state) and its range is closed over the steps: the hull of 0 and of its
new value's range, iterated to a fixed point (a bound still moving after
:data:`_WIDEN_AFTER` rounds is widened to infinity, so the iteration ends).

The analysis is conservative (a value is never given a range narrower than it can take, so a
genome it accepts never computes ``log`` of a non-positive number in exact arithmetic) and
incomplete (a proof that needs correlations between values, such as ``v − v = 0``, is beyond
it). Rounding is not modelled: ``1 − σ(v)`` is positive over the reals but 0 in float32 for
large ``v``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lstm_search.genome._genome import Genome, Node
from lstm_search.genome._ops import X

INF = math.inf
_RESTRICTED = frozenset({"log", "sqrt", "div"})  # the ops with a domain
_WIDEN_AFTER = 12
_MAX_ROUNDS = 40


@dataclass(frozen=True)
class Range:
    """The values ``lo .. hi``; ``lo_open``/``hi_open``: the bound itself is excluded (an
    infinite bound is always open)."""

    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False

    def __post_init__(self) -> None:
        if math.isinf(self.lo):
            object.__setattr__(self, "lo_open", True)
        if math.isinf(self.hi):
            object.__setattr__(self, "hi_open", True)

    def __str__(self) -> str:
        def num(v: float) -> str:
            return "∞" if v == INF else "−∞" if v == -INF else f"{v:g}".replace("-", "−")
        return (f"{'(' if self.lo_open else '['}{num(self.lo)}, {num(self.hi)}"
                f"{')' if self.hi_open else ']'}")

    @property
    def positive(self) -> bool:
        return self.lo > 0 or (self.lo == 0 and self.lo_open)

    @property
    def negative(self) -> bool:
        return self.hi < 0 or (self.hi == 0 and self.hi_open)

    @property
    def nonnegative(self) -> bool:
        return self.lo >= 0


ANY = Range(-INF, INF)
ZERO = Range(0.0, 0.0)


def point(c: float) -> Range:
    return Range(c, c)


def _pick(cands: list[tuple[float, bool]], lowest: bool) -> tuple[float, bool]:
    """The extreme of candidate bounds, open only if every candidate reaching it is open."""
    best = min(v for v, _ in cands) if lowest else max(v for v, _ in cands)
    return best, all(o for v, o in cands if v == best)


def _range(los: list[tuple[float, bool]], his: list[tuple[float, bool]]) -> Range:
    lo, lo_open = _pick(los, lowest=True)
    hi, hi_open = _pick(his, lowest=False)
    return Range(lo, hi, lo_open, hi_open)


def hull(a: Range, b: Range) -> Range:
    return _range([(a.lo, a.lo_open), (b.lo, b.lo_open)], [(a.hi, a.hi_open), (b.hi, b.hi_open)])


def add(a: Range, b: Range) -> Range:
    return Range(a.lo + b.lo, a.hi + b.hi, a.lo_open or b.lo_open, a.hi_open or b.hi_open)


def scale(a: Range, c: float) -> Range:
    if c == 0:
        return ZERO
    if c > 0:
        return Range(a.lo * c, a.hi * c, a.lo_open, a.hi_open)
    return Range(a.hi * c, a.lo * c, a.hi_open, a.lo_open)


def sub(a: Range, b: Range) -> Range:
    return add(a, scale(b, -1.0))


def _corner(x: float, xo: bool, x_is_lo: bool, y: float, yo: bool,
            y_is_lo: bool) -> list[tuple[float, bool]]:
    """Candidate bounds of ``u·v`` near the corner (x, y) of the box of (u, v)."""
    if (x == 0 and not xo) or (y == 0 and not yo):
        return [(0.0, False)]  # an attained zero times anything finite
    if x == 0 or y == 0:  # an open zero bound
        other, other_is_inf = (y, math.isinf(y)) if x == 0 else (x, math.isinf(x))
        if other_is_inf:  # 0·∞: the product can be anything between 0 and ±∞ there
            side = (1.0 if (x_is_lo if x == 0 else y_is_lo) else -1.0) * math.copysign(1, other)
            return [(0.0, True), (side * INF, True)]
        return [(0.0, True)]
    return [(x * y, xo or yo or math.isinf(x) or math.isinf(y))]


def mul(a: Range, b: Range) -> Range:
    cands: list[tuple[float, bool]] = []
    for x, xo, xl in ((a.lo, a.lo_open, True), (a.hi, a.hi_open, False)):
        for y, yo, yl in ((b.lo, b.lo_open, True), (b.hi, b.hi_open, False)):
            cands += _corner(x, xo, xl, y, yo, yl)
    return _range(cands, cands)


def _increasing(a: Range, f: object, lim_lo: float, lim_hi: float) -> Range:
    """The image of ``a`` under a strictly increasing ``f`` with limits at ∓∞."""
    def at(v: float, lim: float) -> float:
        if math.isinf(v):
            return lim
        try:
            return f(v)  # type: ignore[operator]
        except OverflowError:
            return INF
    return Range(at(a.lo, lim_lo), at(a.hi, lim_hi), a.lo_open, a.hi_open)


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


def _softplus(v: float) -> float:
    return v + math.log1p(math.exp(-v)) if v > 0 else math.log1p(math.exp(v))


def reciprocal(a: Range) -> Range:
    """``1 / a`` for a range that excludes 0."""
    def inv(v: float) -> float:
        return 0.0 if math.isinf(v) else (INF if a.positive else -INF) if v == 0 else 1.0 / v
    return Range(inv(a.hi), inv(a.lo), a.hi_open, a.lo_open)


def relu(a: Range) -> Range:
    lo = a if a.positive or a.nonnegative else ZERO
    hi = a if a.hi > 0 else ZERO
    return Range(lo.lo, hi.hi, lo.lo_open, hi.hi_open)


def extreme(a: Range, b: Range, largest: bool) -> Range:
    """``max(a, b)`` (``largest``) or ``min(a, b)``: monotone in both."""
    if largest:  # max(u, v) > L as soon as either exceeds L strictly at the larger bound
        lo = max(a.lo, b.lo)
        lo_open = any(o for v, o in ((a.lo, a.lo_open), (b.lo, b.lo_open)) if v == lo)
        hi, hi_open = _pick([(a.hi, a.hi_open), (b.hi, b.hi_open)], lowest=False)
        return Range(lo, hi, lo_open, hi_open)
    lo, lo_open = _pick([(a.lo, a.lo_open), (b.lo, b.lo_open)], lowest=True)
    hi = min(a.hi, b.hi)
    hi_open = any(o for v, o in ((a.hi, a.hi_open), (b.hi, b.hi_open)) if v == hi)
    return Range(lo, hi, lo_open, hi_open)


_DIAG_WEIGHT = {"free": ANY, "sigmoid": Range(0.0, 1.0, True, True),
                "softplus": Range(0.0, INF, True, True), "exp": Range(0.0, INF, True, True)}


def node_range(node: Node, ins: list[Range]) -> tuple[Range, str | None]:
    """The range of ``node``'s value from its inputs' ranges, and the domain it needs of its
    input when that input's range may leave it (a message), else None."""
    op = node.op
    a = ins[0]
    if op in ("linear",):
        return ANY, None
    if op in ("fit", "identity"):
        return a, None
    if op == "diag":
        return mul(a, _DIAG_WEIGHT[str(node.param("weight"))]), None
    if op in ("add", "mean"):
        out = a
        for b in ins[1:]:
            out = add(out, b)
        return (scale(out, 1.0 / len(ins)) if op == "mean" else out), None
    if op == "mul":
        out = a
        for b in ins[1:]:
            out = mul(out, b)
        return out, None
    if op == "sub":
        return sub(a, ins[1]), None
    if op == "one_minus":
        return sub(point(1.0), a), None
    if op == "blend":
        z, u, v = ins
        if z.lo >= 0 and z.hi <= 1:  # a convex combination stays within the hull
            return hull(u, v), None
        return add(mul(z, u), mul(sub(point(1.0), z), v)), None
    if op == "sigmoid":
        return _increasing(a, _sigmoid, 0.0, 1.0), None
    if op == "tanh":
        return _increasing(a, math.tanh, -1.0, 1.0), None
    if op == "relu":
        return relu(a), None
    if op == "leaky_relu":
        slope = float(node.param("slope"))
        if slope == 0:
            return relu(a), None
        if slope > 0:
            def leaky(v: float) -> float:  # max(v, slope·v), increasing for slope > 0
                return max(v, slope * v)
            return _increasing(a, leaky, -INF, INF), None
        return ANY, None
    # -- ops of the modern recurrences ---------------------------------------------------------
    if op == "exp":
        return _increasing(a, math.exp, 0.0, INF), None
    if op == "softplus":
        return _increasing(a, _softplus, 0.0, INF), None
    if op == "logsigmoid":
        return _increasing(a, lambda v: -_softplus(-v), -INF, 0.0), None
    if op == "log":
        if not a.positive:
            return ANY, f"log needs a value > 0; its input may be in {a}"
        return _increasing(a, lambda v: math.log(v) if v > 0 else -INF, -INF, INF), None
    if op == "sqrt":
        if not a.nonnegative:
            return Range(0.0, INF), f"sqrt needs a value ≥ 0; its input may be in {a}"
        return _increasing(a, math.sqrt, 0.0, INF), None
    if op == "abs":
        if a.nonnegative:
            return a, None
        if a.hi <= 0:
            return scale(a, -1.0), None
        hi, hi_open = _pick([(-a.lo, a.lo_open), (a.hi, a.hi_open)], lowest=False)
        return Range(0.0, hi, False, hi_open), None
    if op in ("max", "min"):
        return extreme(a, ins[1], op == "max"), None
    if op == "clock":  # format 2: per unit either the candidate or the previous value
        return hull(a, ins[1]), None
    if op == "attention":  # format 2: a convex combination of the state's values, or 0
        return hull(point(0.0), ins[1]), None
    if op == "scale":
        by, power = float(node.param("by")), float(node.param("dim_power"))
        if power == 0 or by == 0:
            return scale(a, by), None
        # format 2: times d^p for units per head d ≥ 1 not known here: d^p in [1, ∞) for
        # p > 0, (0, 1] for p < 0
        f = Range(1.0, INF, False, True) if power > 0 else Range(0.0, 1.0, True, False)
        return mul(a, scale(f, by)), None
    if op == "norm":  # |y| ≤ √(n/heads), but the bound needs n: any value
        return ANY, None
    if op == "div":
        eps = float(node.param("eps"))
        d = add(ins[1], point(eps))
        if not (d.positive or d.negative):
            where = f"its denominator{' + eps' if eps else ''} may be in {d}"
            return ANY, f"div needs a denominator{' + eps' if eps else ''} ≠ 0; {where}"
        return mul(a, reciprocal(d)), None
    return ANY, None  # an op without a rule here takes any value


def value_ranges(genome: Genome, order: list[Node]) -> tuple[dict[str, Range], dict[str, str]]:
    """Range of every value (``x``, states' previous values, nodes) at the fixed point, and the
    domain message of each node whose input may leave its domain."""
    states = {s: ZERO for s in genome.states}
    for rounds in range(_MAX_ROUNDS + 1):
        env: dict[str, Range] = {X: ANY, **states}
        msgs: dict[str, str] = {}
        for node in order:
            env[node.name], msg = node_range(node, [env.get(i, ANY) for i in node.inputs])
            if msg:
                msgs[node.name] = msg
        new = {s: hull(r, env.get(genome.new_states.get(s, ""), ANY)) for s, r in states.items()}
        if new == states:
            return env, msgs
        if rounds >= _WIDEN_AFTER:  # widen what still moves
            new = {s: Range(-INF if r.lo < states[s].lo else r.lo,
                            INF if r.hi > states[s].hi else r.hi, r.lo_open, r.hi_open)
                   for s, r in new.items()}
        states = new if rounds < _MAX_ROUNDS else {s: ANY for s in states}
    return env, msgs  # pragma: no cover - widening ends the iteration before


def domain_problems(genome: Genome, order: list[Node]) -> list[tuple[str, str]]:
    """(node name, message) for every node whose input may leave the op's domain."""
    if not any(n.op in _RESTRICTED for n in order):
        return []
    _, msgs = value_ranges(genome, order)
    return [(n.name, msgs[n.name]) for n in order if n.name in msgs]
