"""The native backend against torch.nn.LSTM scaled by each cell's share of matrix work.

Reads a ``cells-*.json`` written by ``benchmarks/bench_cells.py`` and, for every zoo cell the
native backend ran (not the ones it hands to the script backend, not the scan path), divides
its ratio to torch.nn.LSTM by its share of the LSTM's matrix products (the entries of its
weight matrices, x's and the states', over the LSTM's at the same sizes: its share of the
multiply-adds of the forward and backward products). A cell whose ratio/share is at most 1.2
spends no more than 1.2x torch.nn.LSTM's time per unit of matrix work. rnn_tanh and gru are
left out of that column: their reference is nn.RNN / nn.GRU, not nn.LSTM.

    python benchmarks/native_share.py benchmarks/results/cells-2026-12-07-t1.json

Writes ``native_share-<stem>.md`` beside the input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lstm_search import zoo
from lstm_search.bench import REFERENCES
from lstm_search.compile import build_plan


def matrix_entries(cell: str, hidden: int) -> int:
    plan = build_plan(zoo.get(cell), hidden, hidden)
    return sum(len(g.members) * hidden * g.width for g in plan.groups)


def main() -> None:
    src = Path(sys.argv[1])
    data = json.loads(src.read_text())
    info = data["machine"]
    lines = [f"# The native backend per unit of matrix work ({src.name})", "",
             f"{info['cpu']}, {info['cores']} cores, torch {info['torch']}, {info['threads']} "
             f"thread(s), {info['date']}. Ratio: native / torch reference, same process, "
             "forward + backward, batch 20, 35 steps, input = hidden. Share: the cell's matrix "
             "entries over the LSTM's at the same hidden size.", "",
             "| cell | hidden | native / torch | reference | share of LSTM's matrix work | "
             "ratio / share | within 1.2x |", "|---|---:|---:|---|---:|---:|---|"]
    for r in data["rows"]:
        if r["impl"] != "native" or "runs script" in r["path"] or r["path"] == "scan":
            continue
        ref = REFERENCES.get(r["cell"], "LSTM")
        share = matrix_entries(r["cell"], r["hidden"]) / matrix_entries("lstm", r["hidden"])
        if ref == "LSTM":
            q = r["ratio"] / share
            verdict = f"{q:.2f} | {'yes' if q <= 1.2 else 'no'}"
        else:
            verdict = "- | (reference nn." + ref + ")"
        lines.append(f"| {r['cell']} | {r['hidden']} | {r['ratio']:.2f} | nn.{ref} | "
                     f"{share:.2f} | {verdict} |")
    text = "\n".join(lines) + "\n"
    out = src.with_name(f"native_share-{src.stem}.md")
    out.write_text(text)
    print(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
