"""``lstm-search bench``: time compiled cells against torch.nn.LSTM / GRU / RNN.

Forward + backward of one layer, every backend and the torch reference timed in one process
with interleaved repetitions; prints medians, the ratio to the reference and the compile latency
(compile_rnn + first forward). ``--json`` prints the rows as JSON. A cell of spatial values
(``convlstm``) is timed on maps of ``--spatial H W`` (default 16 16) with channels as sizes
(default 1 input, 20 hidden: the ``seed_convlstm`` experiment's), against the FC-LSTM of the
same parameter count (torch.nn.LSTM over the flattened frames) and a hand-written ConvLSTM.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cell", default="lstm", help="zoo cell to time (default lstm)")
    parser.add_argument("--all-zoo", action="store_true",
                        help="time every zoo cell of vector values")
    parser.add_argument("--hidden", type=int, default=None,
                        help="hidden size (default 200; a spatial cell: hidden channels, "
                             "default 20)")
    parser.add_argument("--input", type=int, default=None,
                        help="input size (default: the hidden size; a spatial cell: input "
                             "channels, default 1)")
    parser.add_argument("--spatial", type=int, nargs=2, default=(16, 16), metavar=("H", "W"),
                        help="map size of a spatial cell (default 16 16)")
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
        try:
            zoo.get(c)
        except KeyError as e:  # the zoo's message: the close match, then every name
            print(f"lstm-search bench: error: --cell: {e.args[0]}", file=sys.stderr)
            return 2
    spatial_cell = any(c not in zoo.names() for c in cells)
    hidden = args.hidden if args.hidden is not None else (20 if spatial_cell else 200)
    sizes = {"hidden": hidden, "batch": args.batch, "seq": args.seq, "repeats": args.repeats,
             "input": args.input if args.input is not None else 1,
             "spatial": min(args.spatial)}
    for flag, value in sizes.items():
        if value < 1:
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
        rows += bench_cell(c, hidden=hidden, batch=args.batch, seq=args.seq,
                           input_size=args.input, backends=backends, repeats=args.repeats,
                           inference=args.inference, device=args.device,
                           spatial=tuple(args.spatial) if spatial_cell else None)
    if args.json:
        print(json.dumps({"machine": machine(), "rows": [r.to_dict() for r in rows]}, indent=2))
    else:
        info = machine()
        gpu = f", {info['gpu']}" if args.device == "cuda" else ""
        print(f"# {info['cpu']}, {info['cores']} cores{gpu}, torch {info['torch']}, "
              f"{info['threads']} threads, {info['date']}")
        print(format_table(rows))
    return 0
