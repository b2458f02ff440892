"""``lstm-search bench``: time compiled cells against torch.nn.LSTM / GRU / RNN.

Forward + backward of one layer, every backend and the torch reference timed in one process
with interleaved repetitions; prints medians, the ratio to the reference and the compile latency
(compile_rnn + first forward). ``--json`` prints the rows as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cell", default="lstm", help="zoo cell to time (default lstm)")
    parser.add_argument("--all-zoo", action="store_true", help="time every zoo cell")
    parser.add_argument("--hidden", type=int, default=200, help="hidden size (default 200)")
    parser.add_argument("--input", type=int, default=None,
                        help="input size (default: the hidden size)")
    parser.add_argument("--batch", type=int, default=20, help="batch size (default 20)")
    parser.add_argument("--seq", type=int, default=35, help="sequence length (default 35)")
    parser.add_argument("--backends", default="eager,script,compile",
                        help="comma-separated backends among eager, script, compile, native "
                             "(default eager,script,compile; compile takes tens of seconds "
                             "per cell on first call, native about 15 s per cell the first "
                             "time on a machine, then it loads from the cache)")
    parser.add_argument("--repeats", type=int, default=20,
                        help="timed repetitions per implementation (default 20)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's own choice)")
    parser.add_argument("--inference", action="store_true",
                        help="time the forward alone under no_grad (default: forward + "
                             "backward)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where to time (cuda: the GPU, against cuDNN; default cpu)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from lstm_search import zoo
    from lstm_search.compile import BACKENDS

    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    for b in backends:
        if b not in BACKENDS:
            print(f"lstm-search bench: error: unknown backend {b!r}; choose from "
                  f"{', '.join(BACKENDS)}", file=sys.stderr)
            return 2
    cells = zoo.names() if args.all_zoo else (args.cell,)
    for c in cells:
        if c in zoo.names(spatial=True) and c not in zoo.names():
            print(f"lstm-search bench: error: {c!r} is a cell of spatial values; bench "
                  "measures cells of vector values", file=sys.stderr)
            return 2
        if c not in zoo.names():
            print(f"no cell named {c!r} in the zoo; known: {', '.join(zoo.names())}",
                  file=sys.stderr)
            return 2
    for flag in ("hidden", "batch", "seq", "repeats"):
        if getattr(args, flag) < 1:
            print(f"lstm-search bench: error: --{flag} must be >= 1",
                  file=sys.stderr)
            return 2
    import torch

    from lstm_search.bench import bench_cell, format_table, machine

    if args.device == "cuda" and not torch.cuda.is_available():
        print("lstm-search bench: error: --device cuda: no CUDA device here "
              "(torch.cuda.is_available() is False)", file=sys.stderr)
        return 2

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    rows = []
    for c in cells:
        rows += bench_cell(c, hidden=args.hidden, batch=args.batch, seq=args.seq,
                           input_size=args.input, backends=backends, repeats=args.repeats,
                           inference=args.inference, device=args.device)
    if args.json:
        print(json.dumps({"machine": machine(), "rows": [r.to_dict() for r in rows]}, indent=2))
    else:
        info = machine()
        gpu = f", {info['gpu']}" if args.device == "cuda" else ""
        print(f"# {info['cpu']}, {info['cores']} cores{gpu}, torch {info['torch']}, "
              f"{info['threads']} threads, {info['date']}")
        print(format_table(rows))
    return 0
