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
    """

    def __init__(self, genome: Genome, input_size: int, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0, batch_first: bool = False, backend: str = "script", *,
                 fused_backward: bool = True, init_scale: float = 1.0,
                 scan: bool = True,
                 seed: int | None = None) -> None:
        super().__init__()
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
                           scan=scan, generator=gen)
            for k in range(num_layers))
        self.dropout = nn.Dropout(dropout)
        self.n_states = len(genome.states)

    def expected_n_params(self) -> int:
        """Parameters by the genome's count (layer k > 0 has input n)."""
        return sum(n_params(self.genome, self.input_size if k == 0 else self.hidden_size,
                            self.hidden_size) for k in range(self.num_layers))

    def _split_state(self, state: State | None) -> list[tuple[Tensor, ...] | None]:
        if state is None:
            return [None] * self.num_layers
        parts = (state,) if isinstance(state, Tensor) else tuple(state)
        if len(parts) != self.n_states:
            raise ValueError(f"this cell has {self.n_states} state(s) "
                             f"({', '.join(self.genome.states)}); got {len(parts)} tensor(s)")
        for p in parts:
            if p.dim() != 3 or p.shape[0] != self.num_layers:
                raise ValueError(f"each state must be (num_layers={self.num_layers}, B, "
                                 f"{self.hidden_size}), got {tuple(p.shape)}")
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
        return (f"{self.genome.name or 'genome'}, {self.input_size}, {self.hidden_size}, "
                f"num_layers={self.num_layers}, batch_first={self.batch_first}, "
                f"backend={self.backend!r}")
