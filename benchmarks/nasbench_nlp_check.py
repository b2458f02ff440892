"""Check the NAS-Bench-NLP importer against the benchmark's own training logs.

For users who have the benchmark's logs (``train_logs_wikitext-2/logs.zip`` or the PTB set,
unzipped: one ``log_stats_model_*.json`` per trained cell), this imports every recipe and, for
each one that imports,

* reproduces the log's ``num_params`` from the recipe
  (:func:`lstm_search.genome.nasbench_model_params`, which counts dead parts as the benchmark
  does); the vocabulary size is solved from the first log and must then fit every other log;
* runs the compiled cell against a plain-PyTorch transcription of the benchmark's interpreter
  (``CustomRNNCell``: tests/genome/nasbench_interpreter.py) with the same float64 weights, and
  records the largest relative difference of outputs and of the input gradient.

    python benchmarks/nasbench_nlp_check.py LOG_DIR [--limit N] [--hidden 16]

Writes ``benchmarks/results/nasbench_nlp_check-<date>.json`` and prints a summary: recipes
read, imported, refused (with the reasons), parameter counts matched, largest differences.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "genome"))
from nasbench_interpreter import copy_into, init_weights, run
from train_common import write_json

from lstm_search.genome import (
    GenomeError,
    from_nasbench_with_names,
    nasbench_cell_params,
    read_recipes,
)
from lstm_search.nn import compile_cell


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def check_outputs(recipe: dict, m: int, n: int, seed: int) -> tuple[float, float]:
    g, names = from_nasbench_with_names(recipe)
    layer = compile_cell(g, m, n, backend="eager").double()
    weights = init_weights(recipe, m, n, torch.Generator().manual_seed(seed))
    copy_into(layer, recipe, names, weights)
    xs = torch.randn(8, 3, m, dtype=torch.float64,
                     generator=torch.Generator().manual_seed(seed)).requires_grad_()
    want, _ = run(recipe, weights, xs, n)
    (gw,) = torch.autograd.grad(want.sum(), xs)
    got, _ = layer(xs)
    (gg,) = torch.autograd.grad(got.sum(), xs)
    return rel(got, want), rel(gg, gw)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log_dir", help="the benchmark's unzipped log folder")
    ap.add_argument("--limit", type=int, default=None, help="check only the first N recipes")
    ap.add_argument("--hidden", type=int, default=16, help="width for the output check")
    args = ap.parse_args()
    if not Path(args.log_dir).is_dir():
        ap.error(f"{args.log_dir}: no such folder (the benchmark's unzipped "
                 "train_logs_wikitext-2 logs)")  # exits 2, writes nothing
    torch.set_num_threads(1)
    sources, unreadable = read_recipes(args.log_dir)
    sources = sources[: args.limit]
    rows, refused, reasons = [], [], Counter()
    vocab: int | None = None
    for k, src in enumerate(sources):
        recipe = json.loads(src.recipe) if isinstance(src.recipe, str) else src.recipe
        row: dict = {"label": src.label, "status": src.log.get("status")}
        try:
            out_rel, grad_rel = check_outputs(recipe, args.hidden, args.hidden, k)
        except GenomeError as e:
            refused.append({"label": src.label, "problems": [str(p) for p in e.problems]})
            reasons.update(p.rule for p in e.problems)
            continue
        row.update(out_rel=out_rel, grad_rel=grad_rel)
        log = src.log
        if {"num_params", "emsize", "nhid", "nlayers"} <= set(log):
            tied = bool(log.get("tied", True))
            cells = sum(nasbench_cell_params(
                recipe, log["emsize"] if j == 0 else log["nhid"],
                (log["emsize"] if tied else log["nhid"]) if j == log["nlayers"] - 1
                else log["nhid"]) for j in range(log["nlayers"]))
            rest = log["num_params"] - cells  # ntokens·(emsize + 1) when tied
            per = log["emsize"] + 1 + (0 if tied else log["nhid"])
            if vocab is None and rest % per == 0:
                vocab = rest // per
            row["params_match"] = vocab is not None and rest == vocab * per
        rows.append(row)
    matched = sum(1 for r in rows if r.get("params_match"))
    counted = sum(1 for r in rows if "params_match" in r)
    summary = {
        "log_dir": args.log_dir, "read": len(sources), "unreadable": unreadable,
        "imported": len(rows), "refused": len(refused), "refused_rules": dict(reasons),
        "vocabulary_from_num_params": vocab, "params_matched": matched, "params_checked": counted,
        "max_out_rel": max((r["out_rel"] for r in rows), default=None),
        "max_grad_rel": max((r["grad_rel"] for r in rows), default=None),
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    for key, value in summary.items():
        print(f"{key:28s} {value}")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    out = write_json(f"nasbench_nlp_check-{stamp}",
                     {"summary": summary, "rows": rows, "refused": refused})
    print(f"wrote {out}")
    return 0 if not refused and matched == counted else 1


if __name__ == "__main__":
    raise SystemExit(main())
