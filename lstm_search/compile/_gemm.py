"""Matrix products through oneDNN with a weight packed once, with a fallback to ``F.linear``.

On AMD CPUs MKL's GEMM (behind ``F.linear``) runs at less than half of oneDNN's rate
(shared/reference/performance.md); ``torch.nn.LSTM`` already uses oneDNN. On Intel CPUs MKL is
fast and packing costs more than it saves: on a 2-core Xeon the compiled lstm measured
0.98-1.38x torch.nn.LSTM with ``F.linear`` against 1.59-1.62x packed (hidden 200, 1 thread) and
0.97-1.00x against 1.14-1.16x (hidden 650) (benchmarks/gemm_path.py).
So the packed path is the default except on Intel CPUs; ``LSTM_SEARCH_ONEDNN=1`` forces it,
``LSTM_SEARCH_ONEDNN=0`` forces ``F.linear`` (for comparisons and tests).

The packed path uses PyTorch's private operators ``mkldnn._reorder_linear_weight`` (pack once per
sequence) and ``mkldnn._linear_pointwise`` (one product), the ones inductor uses. They exist only
in CPU builds with oneDNN and take float32 only: everything else (CUDA, float64, a build without
them) takes ``F.linear``. :func:`linear` here and the generated ``_mm`` are the only callers.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

_ENV = "LSTM_SEARCH_ONEDNN"  # "1": always pack, "0": never, unset: by CPU vendor


def onednn_supported() -> bool:
    """Whether this build has the oneDNN linear operators."""
    try:
        ops = torch.ops.mkldnn
        return (torch.backends.mkldnn.is_available()
                and hasattr(ops, "_reorder_linear_weight")
                and hasattr(ops, "_linear_pointwise"))
    except (AttributeError, RuntimeError):
        return False


@functools.lru_cache(maxsize=1)
def cpu_vendor() -> str:
    """The CPU's vendor id (``GenuineIntel``, ``AuthenticAMD``; "" where unknown)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("vendor_id"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def onednn_available() -> bool:
    """Whether products take the packed oneDNN path: the build has the operators and either
    ``LSTM_SEARCH_ONEDNN=1`` or, unset, the CPU is not an Intel one (where MKL is as fast)."""
    setting = os.environ.get(_ENV, "")
    if setting == "0" or not onednn_supported():
        return False
    return setting == "1" or cpu_vendor() != "GenuineIntel"


def can_pack(like: Tensor) -> bool:
    """Whether products with a weight like ``like`` may use the packed oneDNN path."""
    return like.device.type == "cpu" and like.dtype == torch.float32 and onednn_available()


def pack(weight: Tensor, batch: int) -> Tensor:
    """``weight`` (out, in) packed for products with ``batch`` rows (no autograd)."""
    return torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous(), batch)


def linear(a: Tensor, weight: Tensor, bias: Tensor | None, packed: bool) -> Tensor:
    """``a @ weight.T + bias``; ``weight`` is packed (from :func:`pack`) when ``packed``."""
    if packed:
        return torch.ops.mkldnn._linear_pointwise(a, weight, bias, "none", [], "")
    return F.linear(a, weight, bias)

