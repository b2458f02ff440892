"""A stack of recurrent layers shaped like ``torch.nn.LSTM`` / ``GRU`` / ``RNN``."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lstm_search.genome import Genome, n_params
from lstm_search.nn._layer import RecurrentLayer

State = Tensor | tuple[Tensor, ...]


class RecurrentStack(nn.Module):
    """``num_layers`` layers of one cell; layer k > 0 reads layer k − 1's output (the genome's
    output node), with dropout between layers only (never on recurrent connections; Zaremba et
    al. 2014). A cell reading ``below:<state>`` (genome format 2) also reads layer k − 1's new
    value of that state at the same step (Yao et al. 2015's depth gate; no dropout on it);
    layer 0 reads zeros there. ``t0`` is the step index of x's first step for clocked cells.

    ``forward(x, state=None) -> (output, state)``: ``output`` (T, B, n) of the last layer
    ((B, T, n) with ``batch_first``); ``state`` a (num_layers, B, n) tensor for a one-state cell
    (like ``nn.GRU``), else a tuple of such tensors in the genome's state order (``(h, c)`` for
    LSTM, like ``nn.LSTM``).

    ``tie_layers`` shares one parameter set across depth (the tied Grid LSTM, Kalchbrenner et
    al. 2015, sec. 3; any genome): ``"above_first"`` ties layers 2..L (all of input width n)
    to layer 2's parameters and keeps the first layer's own; ``"all"`` ties every layer to the
    first layer's, which needs ``input_size == hidden_size`` (else ``ValueError``); ``True`` is
    ``"all"`` when the widths are equal, else ``"above_first"``; ``False`` (default) ties
    nothing. A spatial cell (genome format 2's ``values``: ``zoo.get("convlstm")``, Shi et al.
    2015) takes ``spatial=(H, W)``: sizes are channels, x is (T, B, m, H, W), the output
    (T, B, n, H, W) and each state (num_layers, B, n, H, W); ``tie_layers`` and
    :meth:`to_torchscript` are not supported for it (ValueError). A tied layer's parameters are
    the same :class:`~torch.nn.Parameter` objects as its leader's, so gradients of every tied
    layer accumulate into them, ``parameters()`` yields each once, and ``state_dict()`` lists
    each under every layer's name (all keys load back).
    """

    def __init__(self, genome: Genome, input_size: int, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0, batch_first: bool = False, backend: str = "script", *,
                 fused_backward: bool = True, init_scale: float = 1.0,
                 scan: bool = True, seed: int | None = None,
                 tie_layers: bool | str = False,
                 spatial: tuple[int, int] | None = None) -> None:
        super().__init__()
        if spatial is not None and tie_layers is not False:
            raise ValueError("tie_layers is not supported for a spatial (convolutional) cell")
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        self.genome = genome
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.batch_first = batch_first
        self.backend = backend
        self.layers = nn.ModuleList(
            RecurrentLayer(genome, input_size if k == 0 else hidden_size, hidden_size, backend,
                           fused_backward=fused_backward, init_scale=init_scale,
                           scan=scan, generator=gen, spatial=spatial)
            for k in range(num_layers))
        self.spatial = self.layers[0].spatial
        self.dropout = nn.Dropout(dropout)
        self.n_states = len(genome.states)
        self.tie_layers = _tie_mode(tie_layers, input_size, hidden_size)
        tied = self.tied_layers()
        for k in tied[1:]:
            for name, p in self.layers[tied[0]].named_parameters(recurse=False):
                setattr(self.layers[k], name, p)  # the same Parameter object: shared

    def tied_layers(self) -> tuple[int, ...]:
        """Indices of the layers sharing one parameter set (the first owns it); () when
        nothing is tied, or only one layer would be."""
        first = {"all": 0, "above_first": 1}.get(self.tie_layers)
        if first is None or self.num_layers - first < 2:
            return ()
        return tuple(range(first, self.num_layers))

    def to_torchscript(self) -> torch.jit.ScriptModule:
        """This stack as a ``torch.jit.ScriptModule`` (padded tensors, evaluation: no dropout
        between layers): :func:`lstm_search.nn.to_torchscript`."""
        from lstm_search.nn._script import to_torchscript

        if self.spatial is not None:
            raise ValueError("to_torchscript is not supported for a spatial (convolutional) "
                             "cell; its layers' kernels are TorchScript already")
        return to_torchscript(self)

    def __prepare_scriptable__(self) -> nn.Module:
        """What ``torch.jit.script(self)`` scripts: :func:`lstm_search.nn._script.scriptable`,
        the same computation in plain PyTorch with this module's ``forward(x, state)``."""
        from lstm_search.nn._script import scriptable

        return scriptable(self)

    def expected_n_params(self) -> int:
        """Parameters by the genome's count (layer k > 0 has input n; a tied set counted
        once)."""
        tied = self.tied_layers()
        return sum(n_params(self.genome, self.input_size if k == 0 else self.hidden_size,
                            self.hidden_size, self.spatial) for k in range(self.num_layers)
                   if k not in tied[1:])

    def _split_state(self, state: State | None) -> list[tuple[Tensor, ...] | None]:
        if state is None:
            return [None] * self.num_layers
        parts = (state,) if isinstance(state, Tensor) else tuple(state)
        if len(parts) != self.n_states:
            raise ValueError(f"this cell has {self.n_states} state(s) "
                             f"({', '.join(self.genome.states)}); got {len(parts)} tensor(s)")
        for p, shape in zip(parts, self.layers[0].plan.state_shapes, strict=True):
            if p.dim() != 2 + len(shape) or p.shape[0] != self.num_layers:
                raise ValueError(f"each state must be (num_layers={self.num_layers}, B, "
                                 f"{', '.join(map(str, shape))}), got {tuple(p.shape)}")
        return [tuple(p[k] for p in parts) for k in range(self.num_layers)]

    def forward(self, x: Tensor, state: State | None = None, *, t0: int = 0
                ) -> tuple[Tensor, State]:
        if self.batch_first:
            x = x.transpose(0, 1)  # (T, B, m)
        finals: list[tuple[Tensor, ...]] = []
        below: list[Tensor] | None = None  # format 2: the layer below's states (below:<s>)
        for k, (layer, s) in enumerate(zip(self.layers, self._split_state(state),
                                           strict=True)):
            if k > 0:
                x = self.dropout(x)
            x, new, emitted = layer.run(x, s, below, t0=t0)
            below = emitted or None
            finals.append(new)
        out = x.transpose(0, 1) if self.batch_first else x
        stacked = tuple(torch.stack([f[j] for f in finals], 0) for j in range(self.n_states))
        return out, (stacked[0] if self.n_states == 1 else stacked)

    def extra_repr(self) -> str:
        tie = f", tie_layers={self.tie_layers!r}" if self.tie_layers else ""
        return (f"{self.genome.name or 'genome'}, {self.input_size}, {self.hidden_size}, "
                f"num_layers={self.num_layers}, batch_first={self.batch_first}, "
                f"backend={self.backend!r}{tie}"
                + (f", spatial={self.spatial!r}" if self.spatial is not None else ""))


TIE_MODES: tuple[str, ...] = ("all", "above_first")


def _tie_mode(tie: bool | str, input_size: int, hidden_size: int) -> str:
    """``tie_layers`` resolved to "" (nothing tied), "all" or "above_first"."""
    if tie is False:
        return ""
    if tie is True:
        return "all" if input_size == hidden_size else "above_first"
    if not isinstance(tie, str) or tie not in TIE_MODES:
        raise ValueError(f"tie_layers must be False, True, 'all' or 'above_first', got {tie!r}")
    if tie == "all" and input_size != hidden_size:
        raise ValueError(f"tie_layers='all' shares the first layer's parameters with the layers "
                         f"above, so its input must be as wide as theirs: input_size "
                         f"{input_size} != hidden_size {hidden_size} (the first layer's input "
                         f"weights are (K·{hidden_size}, {input_size}), the others' "
                         f"(K·{hidden_size}, {hidden_size})); use tie_layers='above_first' "
                         f"(layers 2..L tied) or project the input to {hidden_size} first")
    return tie
