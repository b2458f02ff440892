"""The closed op vocabulary of a genome.

Every node of a cell applies one op to one or more values. All values in a cell are vectors of
the hidden width ``n`` except the input ``x`` (width ``m``); only ``linear`` and ``fit`` may read
``x`` and they produce ``n``-wide values.

Learned parameters (per layer, with ``m`` the input width and ``n`` the hidden width):

========== ========================================================== ======================
op         value                                                      parameters
========== ========================================================== ======================
linear     ``W v + b`` (``bias=False`` drops b; ``bias_init``, when   ``n·width(v) [+ n]``
           given, is the constant every entry of b starts at, else b    (``n²/k [+ n]`` with
           starts uniform like W; ``diag=a`` adds ``a·I`` to W: this    ``heads=k``)
           is Jozefowicz et al. 2015's Linear(a, ·); ``heads=k``: W is
           block diagonal, k blocks of (n/k, n/k), xLSTM's head-wise
           recurrent matrix)
fit        ``v`` when ``width(v) == n``, else ``W v`` (no bias): how  ``0`` or ``n·m``
           Jozefowicz et al. 2015 add x to an n-wide vector
diag       ``p ⊙ v``: a learned diagonal weight (peepholes, Gers &    ``n``
           Schmidhuber 2000; Greff et al. 2015 eq. 2-4)
add, mul   sum / elementwise product of 2-8 values (commutative)     ``0``
sub        ``a − b``                                                   ``0``
one_minus  ``1 − v`` (coupled gates, GRU)                              ``0``
blend      ``z ⊙ a + (1 − z) ⊙ b`` (NAS-Bench-NLP's blend)            ``0``
sigmoid, tanh, relu, identity   activations                          ``0``
leaky_relu ``max(v, slope·v)`` (``slope`` default 0.01)               ``0``
========== ========================================================== ======================

Format version 2 adds (a genome using none of them is still written, and hashed, as version 1):

* ``below:<state>`` as an input: the layer below's *new* value of ``<state>`` at the same step
  (n wide), so that a stack of the cell can gate depth (Depth-Gated LSTM, Yao et al. 2015). The
  first layer has no layer below: there ``below:<state>`` is zeros (with Yao et al.'s depth gate
  the first layer is then a peephole LSTM). A state read only as ``below:<state>``, never
  by its own layer's nodes, carries its value up, not across steps (the Grid LSTM's depth
  memory, Kalchbrenner et al. 2015).
* ``clock(cand, prev)`` with ``modules = g`` and ``base`` (default 2): the n units form g
  modules (:func:`module_sizes`: n/g units each when g divides n, else the first n mod g
  modules take one unit more; with n < g the last modules are empty); module i (0-based,
  sorted by increasing period) has period ``T_i = base^i`` and at step t takes ``cand`` when
  ``t mod T_i == 0``, else keeps ``prev`` (Clockwork RNN, Koutník et al. 2014). Steps t
  count from 0 at the first step of a sequence (a layer's ``t0`` argument continues a
  sequence split into pieces).
* ``blocks = g`` on a ``linear`` of an n-wide value: W is block upper triangular over the g
  modules of :func:`module_sizes` (block row i reads blocks j ≥ i: with modules sorted by
  increasing period, each module reads itself and the slower ones, Koutník et al. 2014,
  section 2); ``Σ_{i≤j} k_i k_j [+ n]`` parameters, ``(n/g)²·g(g+1)/2 [+ n]`` when g divides n.
* ``attention(q, s)`` with ``window = K`` (default 0: every earlier step): additive attention
  over the layer's own earlier values of state ``s`` (the second input must name a state).
  The memory at step t holds the new values ``s_i`` of the steps i = t − K .. t − 1 of this
  sequence (i ≥ 0; every earlier step with K = 0). With keys ``k_i = W_k s_i`` (computed once,
  when ``s_i`` enters the memory) the scores are ``a_i = vᵀ tanh(k_i + q)``, the weights
  ``α = softmax(a)`` over the memory, and the value is the context ``Σ_i α_i s_i`` (n wide).
  This is the attention of the LSTMN (Cheng, Dong & Lapata 2016, eq. 3-5, over the tape of
  earlier hidden states) with its query ``W_x x_t + W_h̃ h̃_{t−1}`` written by the cell itself:
  ``q`` enters the score as given, so project it with ``linear`` nodes. Parameters: ``W_k``
  (n, n) and ``v`` (n), ``n² + n``. At t = 0 the memory is empty and the context is zeros. The
  memory is causal (never step t or later) and is not part of the layer's state: every call
  starts with an empty memory, so a sequence split into pieces (``t0``, truncated
  backpropagation through time) attends within each piece only; each layer of a stack
  attends over its own earlier values.

Format version 2 also adds the genome's *value shape*, a top-level ``"values"`` object
(absent: every value is a vector, as in format 1, so no earlier file or id changes):

* ``{"kind": "spatial", "kernel": K}``: every value and state of the cell is a map of shape
  (C, H, W) with C = n hidden channels (the input ``x``: (m, H, W), m input channels), as in
  the convolutional LSTM (Shi et al. 2015, "Convolutional LSTM Network", NeurIPS, eq. 3).
  ``linear`` (and ``fit`` of x when m ≠ n) is then a K×K convolution with 'same' zero padding
  (K odd, at most :data:`MAX_KERNEL`): ``W * v + b`` with W (n, width(v), K, K) and one bias
  per output channel, ``n·width(v)·K² [+ n]`` parameters; ``diag`` is a Hadamard weight of the
  whole map, ``W ∘ v`` with W (n, H, W), ``n·H·W`` parameters (Shi et al.'s peepholes
  ``W_ci ∘ c_{t−1}``); every other op acts pointwise as on vectors (``norm`` over each group of
  ``n/heads`` channels and every position). Not allowed in a spatial cell (rule ``values``):
  ``clock``, ``attention``, ``below:`` inputs, ``linear``'s ``blocks``, ``heads`` and ``diag``.
  The map size (H, W) is not part of the genome: the compiler takes it (``spatial=(H, W)``),
  and parameter counts of cells with ``diag`` depend on it.

* ``dropout = p`` (and ``mask``) on a ``linear``: variational dropout of its input
  (Gal & Ghahramani 2016, "A Theoretically Grounded Application of Dropout in Recurrent
  Neural Networks", section 4; DARTS' cell, Liu et al. 2019, rnn/model.py): while training
  the value is ``W (v ⊙ mask) + b``, where ``mask`` (B, width) is drawn once per sequence
  (per call of a layer) for each sequence of the batch, every entry 0 with probability p,
  else ``1/(1 − p)``, and is the same at every step; in evaluation the mask is 1 (the
  genome is then the cell without dropout). A mask belongs to ``x`` or to a state and has
  its width (m for x, n for a state); ``mask`` names it (default: the input itself, which
  must then be x or a state), so several projections can share one mask, as DARTS' h mask
  multiplies h and every node's input: the value masked must have the mask's width (only
  x is m wide), and every projection naming one mask gives the same p. No parameters.
  Masks are drawn from torch's global generator, x's first, then the states' in their
  order (``torch.manual_seed`` makes them reproducible). Not allowed in a spatial cell.

* ``{"kind": "heads", "heads": h}``: head-wise values for a matrix memory (xLSTM's mLSTM,
  Beck et al. 2024, section 2.3, eq. 19-27). Every n-wide vector is read as h heads of
  d = n/h units (h must divide n), and a value has one of three shapes (:mod:`._shapes`):
  ``vector`` (n = h·d units, as everywhere else), ``scalar`` (one number per head, h) or
  ``matrix`` (a d×d matrix per head, (h, d, d)). The ops of the head-wise values make them:

  ============ ===================================================== ====================
  op           value                                                 shapes
  ============ ===================================================== ====================
  head_linear  ``w_hᵀ v + b_h`` per head h: one scalar per head       vector → scalar,
               (``bias``, ``bias_init`` as ``linear``); W (h, width)   ``h·width [+ h]``
               params
  outer        ``a bᵀ`` per head (xLSTM's ``v_t k_tᵀ``)               vector, vector → matrix
  matvec       ``C q`` per head (xLSTM's ``C_t q_t``)                  matrix, vector → vector
  dot          ``aᵀ b`` per head (xLSTM's ``n_tᵀ q_t``; commutative)   vector, vector → scalar
  ============ ===================================================== ====================

  Every other op keeps its inputs' shape; a ``scalar`` input of a pointwise op with ``vector``
  or ``matrix`` inputs is broadcast over its head's units (xLSTM's ``f_t C_{t−1}``).
  ``linear``, ``fit``, ``diag`` and ``norm`` take vectors only; ``scale``'s ``dim_power`` p
  multiplies by d^p as well (``dim_power=-0.5``: xLSTM's key scaling 1/√d). A state's shape is
  that of its new value (derived, never declared: the graph says it already), and every state
  starts at zero. The output must be a vector. Not allowed in a head-wise cell (rule
  ``values``): ``clock``, ``attention``, ``below:`` inputs, ``linear``'s ``blocks``. The ops
  above are refused outside a head-wise cell.

The value shape is declared once for the genome, so that each shape plugs into the same field
and the same checks: the compiler allocates each state by its shape, (B, C, H, W) for a
spatial cell, (B, h, d, d) / (B, h) / (B, n) for a head-wise one. Every other kind is refused
with rule ``values``.

Ops of the modern recurrences (xLSTM, minGRU/minLSTM, RG-LRU, HGRN; all parameter-free):

=========== ========================================================= ======================
op          value                                                     domain of the inputs
=========== ========================================================= ======================
exp         ``e^v``                                                   any
log         ``ln v``                                                  ``v > 0``
softplus    ``ln(1 + e^v)`` (PyTorch's, linear above v = 20)          any
logsigmoid  ``ln σ(v) = −softplus(−v)``                               any
max, min    elementwise maximum / minimum of 2 values (commutative;   any
            at a tie each input gets half the gradient, as PyTorch)
div         ``a / (b + eps)``: ``eps`` (default 0, must be ≥ 0) is    ``b + eps ≠ 0``
            added to the denominator, never anything else
sqrt        ``√v`` (gradient ``1 / (2√v)``)                           ``v ≥ 0``
abs         ``|v|`` (gradient ``sign(v)``, 0 at 0)                    any
scale       ``by · v`` for a constant ``by`` (default 1)              any
norm        over each of ``heads`` equal groups of units (default 1:  any
            all n): ``kind=layer``: ``(v − mean) / √(var + eps)``
            (layer norm, or group norm with heads > 1); ``kind=rms``:
            ``v / √(mean(v²) + eps)``; eps default 1e-5, > 0; no
            learned scale (follow it with ``diag`` for one)
=========== ========================================================= ======================

``diag``'s ``weight`` says how its learned vector ``p`` becomes the diagonal: ``free`` (``p``
itself, the default), ``sigmoid`` (``σ(p)``, in (0, 1): HGRN's lower bound), ``softplus``
(``softplus(p)`` > 0: RG-LRU's ``−log a``) or ``exp`` (``e^p`` > 0).

Domains are checked by :func:`lstm_search.genome.validate` (rule ``domain``) from the range of
every value, derived over the real numbers from the ops (``σ`` in (0, 1), ``exp`` > 0 ...),
with every state starting at 0 and the states' ranges closed over the steps: ``log`` of a
value that may be ≤ 0, ``sqrt`` of a value that may be < 0 or ``div`` by a value that may be 0
is a problem. Rounding is not modelled (``1 − σ(v)`` is 0 in float32 once v > 17: write
``logsigmoid(−v)`` rather than ``log(1 − σ(v))``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lstm_search.genome._frozen import FrozenMap

FORMAT = "lstm-search-genome"
FORMAT_VERSION = 2  # the newest version read and written; see :func:`format_version`
# how ``diag``'s learned vector p becomes its diagonal (see the module docstring)
DIAG_WEIGHTS: tuple[str, ...] = ("free", "sigmoid", "softplus", "exp")
NORM_KINDS: tuple[str, ...] = ("layer", "rms")  # what ``norm`` subtracts and divides by


@dataclass(frozen=True)
class Param:
    """A node parameter: its type and default (None: unset, the parameter has no value of its
    own and the op's documented behaviour applies, e.g. ``bias_init``)."""

    kind: type
    default: Any
    doc: str = ""
    choices: tuple[Any, ...] = ()  # the allowed values, when the parameter is an enumeration


@dataclass(frozen=True)
class OpSpec:
    name: str
    min_arity: int
    max_arity: int
    commutative: bool = False
    params: Mapping[str, Param] = field(default_factory=FrozenMap)
    reads_x: bool = False  # may take the n- or m-wide input x
    learned: bool = False  # has weights
    doc: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", FrozenMap(self.params))


def _unary(name: str, doc: str, **params: Param) -> OpSpec:
    return OpSpec(name, 1, 1, params=params, doc=doc)


OPS: dict[str, OpSpec] = {
    spec.name: spec
    for spec in (
        OpSpec(
            "linear", 1, 1, reads_x=True, learned=True,
            params={
                "bias": Param(bool, True, "learn a bias vector"),
                "bias_init": Param(float, None,
                                   "constant every bias entry starts at (LSTM-b's forget bias "
                                   "of 1, Jozefowicz et al. 2015); unset (None): uniform in "
                                   "±init_scale/sqrt(n) like the weights; ignored with "
                                   "bias=False"),
                "diag": Param(float, 0.0, "constant added to W's diagonal (Linear(a, v))"),
                "blocks": Param(int, 0, "format 2: W block upper triangular over this many "
                                "blocks (Clockwork RNN's recurrent matrix); 0: a full matrix"),
                "heads": Param(int, 1, "k > 1: W is block diagonal, k blocks of (n/k, n/k) "
                                       "(xLSTM's head-wise recurrent matrix); n-wide inputs "
                                       "only, n divisible by k"),
                "dropout": Param(float, 0.0, "format 2: p in [0, 1), variational dropout of "
                                 "the input while training: W (v ⊙ mask) + b, the mask drawn "
                                 "once per sequence (keep probability 1 − p, scaled by "
                                 "1/(1 − p)); identity in evaluation"),
                "mask": Param(str, None, "format 2: whose dropout mask multiplies the input: "
                              "'x' or a state (the mask has its width); unset: the input's "
                              "own, which must then be x or a state. Projections naming the "
                              "same mask share it (DARTS' h mask on h and every node)"),
            },
            doc="learned projection W v + b",
        ),
        OpSpec("fit", 1, 1, reads_x=True, learned=True,
               doc="v if it is n-wide already, else a learned projection W v (no bias)"),
        OpSpec("diag", 1, 1, learned=True, doc="learned diagonal weight p ⊙ v (peephole)",
               params={"weight": Param(str, "free", "how the learned vector p becomes the "
                                       "diagonal: free (p), sigmoid (σ(p)), softplus "
                                       "(softplus(p)) or exp (e^p)",
                                       choices=DIAG_WEIGHTS)}),
        OpSpec("add", 2, 8, commutative=True, doc="elementwise sum"),
        OpSpec("mul", 2, 8, commutative=True, doc="elementwise product"),
        OpSpec("mean", 2, 8, commutative=True,
               doc="elementwise mean (v1 + ... + vk) / k (DARTS' cell output, Liu et al. 2019)"),
        OpSpec("sub", 2, 2, doc="a − b"),
        OpSpec("blend", 3, 3, doc="z ⊙ a + (1 − z) ⊙ b"),
        _unary("one_minus", "1 − v"),
        _unary("sigmoid", "logistic sigmoid"),
        _unary("tanh", "hyperbolic tangent"),
        _unary("relu", "max(v, 0)"),
        _unary("leaky_relu", "max(v, slope·v)",
               slope=Param(float, 0.01, "negative-side slope")),
        _unary("identity", "v"),
        OpSpec("clock", 2, 2,
               params={
                   "modules": Param(int, None, "number of modules g (required)"),
                   "base": Param(int, 2, "module i has period base^i"),
               },
               doc="format 2: per module, cand at the module's active steps, else prev "
                   "(Clockwork RNN, Koutník et al. 2014)"),
        OpSpec("attention", 2, 2, learned=True,
               params={"window": Param(int, 0, "K ≥ 1: attend over the last K steps' values "
                                       "of the state; 0: over every earlier step")},
               doc="format 2: additive attention of query q over the earlier values of a "
                   "state (LSTMN, Cheng et al. 2016): Σ softmax(vᵀ tanh(W_k s_i + q)) s_i"),
        # -- ops of the modern recurrences (xLSTM, minGRU/minLSTM, RG-LRU, HGRN) -------------
        _unary("exp", "e^v (xLSTM's exponential gate)"),
        _unary("log", "ln v, for v > 0 (domain checked by validate)"),
        _unary("softplus", "ln(1 + e^v)"),
        _unary("logsigmoid", "ln σ(v) = −softplus(−v)"),
        OpSpec("max", 2, 2, commutative=True, doc="elementwise maximum (xLSTM's stabiliser)"),
        OpSpec("min", 2, 2, commutative=True, doc="elementwise minimum"),
        OpSpec("div", 2, 2, params={"eps": Param(float, 0.0, "≥ 0, added to the denominator: "
                                                 "a / (b + eps)")},
               doc="a / (b + eps), for b + eps ≠ 0 (domain checked by validate)"),
        _unary("sqrt", "√v, for v ≥ 0 (domain checked by validate)"),
        _unary("abs", "|v|"),
        _unary("scale", "by · v", by=Param(float, 1.0, "the constant factor"),
               dim_power=Param(float, 0.0, "format 2: also multiply by d^p, d the units per "
                               "head of a head-wise cell (n otherwise); -0.5: 1/√d")),
        _unary("norm", "layer / group / RMS normalisation over groups of units",
               kind=Param(str, "layer", "layer: (v − mean) / √(var + eps); rms: "
                          "v / √(mean(v²) + eps)", choices=NORM_KINDS),
               heads=Param(int, 1, "groups of n/heads units normalised separately"),
               eps=Param(float, 1e-5, "> 0, added to the variance (mean square)")),
        # -- end of the modern recurrences' ops ----------------------------------------------
        # -- head-wise values (format 2's "values": {"kind": "heads"}; xLSTM's mLSTM) ---------
        OpSpec("head_linear", 1, 1, reads_x=True, learned=True,
               params={
                   "bias": Param(bool, True, "learn a bias per head"),
                   "bias_init": Param(float, None, "constant every bias entry starts at; "
                                      "unset: uniform like the weights"),
               },
               doc="format 2, head-wise cells: one learned scalar per head, w_hᵀ v + b_h"),
        OpSpec("outer", 2, 2, doc="format 2, head-wise cells: a bᵀ per head (a matrix)"),
        OpSpec("matvec", 2, 2, doc="format 2, head-wise cells: C q per head (a vector)"),
        OpSpec("dot", 2, 2, commutative=True,
               doc="format 2, head-wise cells: aᵀ b per head (a scalar per head)"),
    )
}
HEAD_OPS: tuple[str, ...] = ("head_linear", "outer", "matvec", "dot")  # head-wise cells only

ACTIVATIONS: tuple[str, ...] = ("sigmoid", "tanh", "relu", "leaky_relu", "identity")
ELEMENTWISE: tuple[str, ...] = ("add", "mul", "sub")

# Names kept for later format versions so that files written for them fail clearly here.
RESERVED_OPS: dict[str, str] = {
    "conv": "a convolution op of its own; a ConvLSTM (Shi et al. 2015) is written with "
            "format 2's \"values\": {\"kind\": \"spatial\"}, where every linear convolves",
}
# Input references of the form "<prefix>:<state>" are reserved the same way.
RESERVED_INPUT_PREFIXES: dict[str, str] = {
    "above": "the layer above's previous state (Grid LSTM, Kalchbrenner et al. 2015)",
}

X = "x"  # the name of the cell input
BELOW = "below:"  # format 2: "below:<state>" is the layer below's new value of <state>
MAX_MODULES = 1024  # bound on clock's modules and linear's blocks
MAX_BASE = 1024  # bound on clock's base
VALUE_KINDS: tuple[str, ...] = ("spatial", "heads")  # format 2's "values" kinds (see the docstring)
MAX_KERNEL = 15  # bound on a spatial cell's convolution kernel K


def below_state(ref: str) -> str | None:
    """The state named by a ``below:<state>`` input reference, else None."""
    return ref[len(BELOW):] if ref.startswith(BELOW) else None


def format_version(nodes: Iterable[Any], values: Mapping[str, Any] | None = None) -> int:
    """The oldest format version that can hold these nodes (and value shape): 2 when one uses
    a format-2 construct (see :func:`format_2_uses`) or ``values`` declares a shape, else 1
    (so format-1 files and ids never change)."""
    if values:
        return 2
    return 2 if any(True for _ in format_2_uses(nodes)) else 1


def spatial_kernel(values: Mapping[str, Any]) -> int:
    """The convolution kernel K of a spatial value shape, 0 for vectors (no ``values``) and
    for a kernel that is not an int (refused by validation, rule ``values``)."""
    k = values.get("kernel") if values and values.get("kind") == "spatial" else None
    return k if isinstance(k, int) and not isinstance(k, bool) else 0


def value_heads(values: Mapping[str, Any]) -> int:
    """The heads h of a head-wise value shape (``values`` kind ``heads``), 0 otherwise (and for
    a count that is not an int, refused by validation, rule ``values``)."""
    h = values.get("heads") if values and values.get("kind") == "heads" else None
    return h if isinstance(h, int) and not isinstance(h, bool) else 0


def conv_param_count(in_channels: int, hidden: int, kernel: int, bias: bool) -> int:
    """Parameters of a ``linear`` of a spatial cell: a (hidden, in_channels, K, K) kernel and
    one bias per output channel."""
    return hidden * in_channels * kernel * kernel + (hidden if bias else 0)


def format_2_uses(nodes: Iterable[Any]) -> Iterator[tuple[str, str]]:
    """(node name, what) for every use of a format-2 construct among ``nodes``."""
    for n in nodes:
        if n.op == "clock":
            yield n.name, "op 'clock'"
        if n.op == "attention":
            yield n.name, "op 'attention'"
        if n.op == "linear" and "blocks" in n.params:
            yield n.name, "parameter 'blocks'"
        if n.op == "linear" and ("dropout" in n.params or "mask" in n.params):
            yield n.name, "parameter " + ("'dropout'" if "dropout" in n.params else "'mask'")
        if n.op in HEAD_OPS:
            yield n.name, f"op {n.op!r}"
        if n.op == "scale" and "dim_power" in n.params:
            yield n.name, "parameter 'dim_power'"
        for i in n.inputs:
            if isinstance(i, str) and i.startswith(BELOW):
                yield n.name, f"input {i!r}"


def attention_param_count(hidden: int) -> int:
    """Parameters of one ``attention`` node: the key projection W_k (n, n) and the score
    vector v (n)."""
    return hidden * hidden + hidden


def module_sizes(hidden: int, modules: int) -> tuple[int, ...]:
    """Units of each of ``modules`` modules over ``hidden`` units, fastest module first: equal
    when ``modules`` divides ``hidden``, else the first ``hidden mod modules`` take one more."""
    k, extra = divmod(hidden, modules)
    return tuple(k + (1 if i < extra else 0) for i in range(modules))


def linear_param_count(in_width: int, hidden: int, bias: bool, blocks: int = 0,
                       heads: int = 1) -> int:
    """Parameters of a ``linear``: a full (hidden, in_width) W, ``heads`` diagonal blocks of it
    (n²/k), or with ``blocks`` its block upper triangle only; plus the bias."""
    if blocks:  # block upper triangular: Σ_{i≤j} k_i k_j = (n² + Σ k_i²) / 2 entries
        ks = module_sizes(hidden, blocks)
        return (hidden * hidden + sum(k * k for k in ks)) // 2 + (hidden if bias else 0)
    return hidden * in_width // max(heads, 1) + (hidden if bias else 0)


def dropout_mask(node: Any) -> tuple[str, float] | None:
    """(the mask's owner, ``x`` or a state; p) of a ``linear`` with variational dropout
    (format 2: ``dropout`` > 0; the owner is ``mask`` when given, else the linear's input),
    None for any other node. Assumes the node's parameters are of the right types."""
    if node.op != "linear":
        return None
    p = node.params.get("dropout", 0.0)
    if isinstance(p, bool) or not isinstance(p, int | float) or not p:
        return None
    owner = node.params.get("mask")
    if owner is None:
        owner = node.inputs[0] if node.inputs else ""
    return str(owner), float(p)
