"""The native backend against torch.nn.LSTM scaled by each cell's share of matrix work.

Reads a ``cells-*.json`` written by ``benchmarks/bench_cells.py`` and, for every zoo cell the
native backend ran (not the ones it hands to the script backend, not the scan path), divides
its ratio to torch.nn.LSTM by its share of the LSTM's matrix products: the floating-point
operations of every matrix product (``mm``, ``addmm``, ``bmm``) in one forward + backward at
the run's batch, length and sizes, counted by ``torch.utils.flop_counter.FlopCounterMode`` on
the eager backend (the same arithmetic in torch operations), over the LSTM's. For a cell whose
products are all of its weights this is the entries of its weight matrices over the LSTM's
(also shown); a cell with a matrix memory (the mLSTM) adds the memory's own products (its
chunkwise scores and state updates), which the weights leave out. A cell whose ratio/share is
at most 1.2 spends no more than 1.2x torch.nn.LSTM's time per unit of matrix work. rnn_tanh
and gru are left out of that column: their reference is nn.RNN / nn.GRU, not nn.LSTM.

    python benchmarks/native_share.py benchmarks/results/cells-2026-12-07-t1.json

Writes ``native_share-<stem>.md`` beside the input.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from lstm_search import zoo
from lstm_search.bench import REFERENCES
from lstm_search.compile import build_plan
from lstm_search.nn import compile_rnn


def matrix_entries(cell: str, hidden: int) -> int:
    plan = build_plan(zoo.get(cell), hidden, hidden)
    return sum(len(g.members) * hidden * g.width for g in plan.groups)


@functools.cache
def matmul_flops(cell: str, hidden: int, batch: int, seq: int) -> int:
    """Floating-point operations of the matrix products of one forward + backward of ``cell``
    (input = hidden) on the eager backend, its default path, counted by torch."""
    layer = compile_rnn(zoo.get(cell), hidden, hidden, backend="eager", seed=0)
    x = torch.randn(seq, batch, hidden, generator=torch.Generator().manual_seed(0),
                    requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        y, _ = layer(x)
        y.sum().backward()
    return int(counter.get_total_flops())


def main() -> None:
    src = Path(sys.argv[1])
    data = json.loads(src.read_text())
    info = data["machine"]
    lines = [f"# The native backend per unit of matrix work ({src.name})", "",
             f"{info['cpu']}, {info['cores']} cores, torch {info['torch']}, {info['threads']} "
             f"thread(s), {info['date']}. Ratio: native / torch reference, same process, "
             "forward + backward, batch 20, 35 steps, input = hidden. Share: the matrix "
             "products' floating-point operations in one forward + backward (eager backend, "
             "counted by torch's FlopCounterMode) over the LSTM's at the same sizes; beside it "
             "the cell's weight entries over the LSTM's.", "",
             "| cell | hidden | native / torch | reference | share of LSTM's weight entries | "
             "share of LSTM's matrix FLOPs | ratio / share | within 1.2x |",
             "|---|---:|---:|---|---:|---:|---:|---|"]
    for r in data["rows"]:
        if r["impl"] != "native" or "runs script" in r["path"] or r["path"] == "scan":
            continue
        ref = REFERENCES.get(r["cell"], "LSTM")
        n, sizes = r["hidden"], (r["hidden"], r["batch"], r["seq"])
        entries = matrix_entries(r["cell"], n) / matrix_entries("lstm", n)
        share = matmul_flops(r["cell"], *sizes) / matmul_flops("lstm", *sizes)
        if ref == "LSTM":
            q = r["ratio"] / share
            verdict = f"{q:.2f} | {'yes' if q <= 1.2 else 'no'}"
        else:
            verdict = "- | (reference nn." + ref + ")"
        lines.append(f"| {r['cell']} | {n} | {r['ratio']:.2f} | nn.{ref} | {entries:.2f} | "
                     f"{share:.2f} | {verdict} |")
    text = "\n".join(lines) + "\n"
    out = src.with_name(f"native_share-{src.stem}.md")
    out.write_text(text)
    print(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
