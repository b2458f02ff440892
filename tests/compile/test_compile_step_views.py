"""The step loop's per-step reads of hoisted tensors (the projections of x, x itself, the
layer below's states, head-wise projections of x) come from one ``unbind``, not from an index
per step: under autograd, ``xp[t]`` in each of T steps writes a zero-filled copy of all of
``xp`` for that slice's gradient (O(T²) memory traffic; the ConvLSTM trained 3.3x slower on
script for it), while unbind's gradient is one stack. Checked on the autograd graph of the
backends that differentiate the generated forward."""

from __future__ import annotations

import pytest
import torch

from lstm_search import compile_rnn, zoo


def _node_types(y: torch.Tensor) -> set[str]:
    seen: set[object] = set()
    out: set[str] = set()
    stack = [y.grad_fn]
    while stack:
        f = stack.pop()
        if f is None or f in seen:
            continue
        seen.add(f)
        out.add(type(f).__name__)
        stack += [g for g, _ in f.next_functions]
    return out


# (cell, input size, options, layers, backend): script differentiates its generated forward
# for spatial, head-wise (its step loop) and attention cells; other cells get a generated
# backward there
CASES = [(c, m, o, 1, b) for c, m, o in [("convlstm", 1, {"spatial": (4, 4)}),
                                         ("mlstm", 3, {"scan": False}),
                                         ("lstm_attention", 3, {})]
         for b in ("eager", "script")] + [("depth_gated", 3, {}, 2, "eager")]


@pytest.mark.parametrize("cell,m,options,layers,backend", CASES)
def test_no_step_indexes_a_hoisted_tensor(cell: str, m: int, options: dict, layers: int,
                                          backend: str) -> None:
    rnn = compile_rnn(zoo.get(cell), m, 4, num_layers=layers, backend=backend, seed=0,
                      **options)
    x = torch.randn(6, 2, m, *options.get("spatial", ()), requires_grad=True)
    y, _ = rnn(x)
    types = _node_types(y)
    assert "UnbindBackward0" in types
    assert not {t for t in types if t.startswith("SelectBackward")}, sorted(types)
